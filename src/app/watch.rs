//! `watch`: `scan` on an interval, for containers.

use std::time::Duration;

use anyhow::{Context as _, Result};

use super::exit;
use super::scan::scan;
use crate::cli::WatchArgs;
use crate::log;

/// `scan` in a loop for containers: errors of one round are reported and
/// the loop goes on, except bad input (exit 2 before any cloud call would
/// fail the same way every time).
pub(super) fn watch(args: WatchArgs) -> Result<u8> {
    let every = Duration::try_from(args.every).context("--every")?;
    let jitter = match args.jitter {
        Some(j) => Duration::try_from(j).context("--jitter")?,
        None => every / 10,
    };
    let mut round: u32 = 0;
    let mut last: u8;
    loop {
        round += 1;
        match scan(args.scan.clone()) {
            Ok(code) => last = code,
            Err(e) if round == 1 => return Err(e),
            Err(e) => {
                log::error(&format!("scan {round} failed: {e:#}; trying again at the next interval"));
                last = exit::ERROR;
            }
        }
        if last == exit::INTERRUPTED || args.times.is_some_and(|t| round >= t) {
            return Ok(last);
        }
        let wait = every + jitter.mul_f64(random_fraction());
        if wait_or_interrupt(wait) {
            return Ok(exit::INTERRUPTED);
        }
    }
}

/// A fraction in [0, 1) from the clock; jitter needs no better randomness.
fn random_fraction() -> f64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

/// Sleep for `wait`; true when Ctrl-C came first.
fn wait_or_interrupt(wait: Duration) -> bool {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        std::thread::sleep(wait);
        return false;
    };
    rt.block_on(async {
        tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = tokio::signal::ctrl_c() => true,
        }
    })
}
