//! Scan progress for people at a terminal: one bar per provider (scopes done
//! of scopes planned, with an ETA, accounts done, snapshots listed and share
//! lists read),
//! and an overall bar when several providers are scanned. Nothing at all
//! when stderr is not a terminal (cron, pipes, CI).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One provider's counters, updated by its collectors.
#[derive(Debug, Default)]
pub struct Progress {
    accounts_total: AtomicUsize,
    accounts_done: AtomicUsize,
    scopes_total: AtomicUsize,
    scopes_done: AtomicUsize,
    listed: AtomicUsize,
    shares_checked: AtomicUsize,
}

impl Progress {
    /// Accounts (subscriptions, projects) to scan.
    pub fn add_accounts(&self, n: usize) {
        self.accounts_total.fetch_add(n, Ordering::Relaxed);
    }

    /// One account's every scope is done.
    pub fn account_done(&self) {
        self.accounts_done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_scopes(&self, n: usize) {
        self.scopes_total.fetch_add(n, Ordering::Relaxed);
    }

    pub fn scopes_done(&self, n: usize) {
        self.scopes_done.fetch_add(n, Ordering::Relaxed);
    }

    pub fn listed(&self, n: usize) {
        self.listed.fetch_add(n, Ordering::Relaxed);
    }

    pub fn share_checked(&self) {
        self.shares_checked.fetch_add(1, Ordering::Relaxed);
    }

    /// (scopes done, scopes planned).
    fn scopes(&self) -> (u64, u64) {
        (self.scopes_done.load(Ordering::Relaxed) as u64, self.scopes_total.load(Ordering::Relaxed) as u64)
    }

    fn message(&self) -> String {
        format!(
            "accounts {}/{} · snapshots listed {} · share lists read {}",
            self.accounts_done.load(Ordering::Relaxed),
            self.accounts_total.load(Ordering::Relaxed),
            self.listed.load(Ordering::Relaxed),
            self.shares_checked.load(Ordering::Relaxed)
        )
    }
}

/// The bars on screen, redrawn until [`Display::finish`].
pub struct Display {
    bars: MultiProgress,
    ticker: tokio::task::JoinHandle<()>,
}

impl Display {
    /// Stop redrawing and erase the bars.
    pub fn finish(self) {
        self.ticker.abort();
        self.bars.clear().ok();
    }
}

/// Draw a bar per `(name, progress)`; `None` when stderr is not a terminal.
pub fn show(providers: Vec<(&'static str, Arc<Progress>)>) -> Option<Display> {
    if !std::io::stderr().is_terminal() || providers.is_empty() {
        return None;
    }
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    let style = ProgressStyle::with_template("{prefix:>6} [{bar:24}] {pos}/{len} scopes · {msg} · ETA {eta}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let add = |name: &str| {
        let bar = bars.add(ProgressBar::new(0).with_style(style.clone()));
        bar.set_prefix(name.to_owned());
        bar
    };
    let each: Vec<(ProgressBar, Arc<Progress>)> = providers
        .into_iter()
        .map(|(name, p)| {
            let bar = add(name);
            bar.set_message(p.message());
            (bar, p)
        })
        .collect();
    let overall = (each.len() > 1).then(|| add("all"));
    let ticker = tokio::spawn(async move {
        loop {
            let (mut done, mut total) = (0, 0);
            for (bar, progress) in &each {
                let (d, t) = progress.scopes();
                bar.set_length(t);
                bar.set_position(d);
                bar.set_message(progress.message());
                (done, total) = (done + d, total + t);
            }
            if let Some(bar) = &overall {
                bar.set_length(total);
                bar.set_position(done);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    Some(Display { bars, ticker })
}

/// Counts down each account's scopes and reports the account done with its
/// last one (accounts are listed region by region, in any order).
#[derive(Debug, Default)]
pub struct AccountCountdown {
    /// Units left per account, in the order the accounts were added.
    remaining: std::sync::Mutex<Vec<usize>>,
}

impl AccountCountdown {
    /// `accounts` accounts of `scopes_each` units each, added to `progress`.
    pub fn new(progress: &Progress, accounts: usize, scopes_each: usize) -> Self {
        let countdown = AccountCountdown::default();
        countdown.add(progress, accounts, scopes_each);
        countdown
    }

    /// `accounts` more accounts of `scopes_each` units each, added to
    /// `progress` (an organization's accounts are added as its list is read).
    pub fn add(&self, progress: &Progress, accounts: usize, scopes_each: usize) {
        progress.add_accounts(accounts);
        self.remaining.lock().unwrap_or_else(|e| e.into_inner()).extend(std::iter::repeat_n(scopes_each, accounts));
    }

    /// One unit of account `index` is done.
    pub fn done(&self, progress: &Progress, index: usize) {
        let mut remaining = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(left) = remaining.get_mut(index).filter(|left| **left > 0) {
            *left -= 1;
            if *left == 0 {
                progress.account_done();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up() {
        let p = Progress::default();
        p.add_scopes(3);
        p.scopes_done(2);
        p.listed(1000);
        p.share_checked();
        p.add_accounts(2);
        p.account_done();
        assert_eq!(p.scopes(), (2, 3));
        assert_eq!(p.message(), "accounts 1/2 · snapshots listed 1000 · share lists read 1");
    }

    #[test]
    fn an_account_is_done_with_its_last_unit() {
        let progress = Progress::default();
        let countdown = AccountCountdown::default();
        countdown.add(&progress, 1, 3);
        countdown.add(&progress, 1, 3);
        for _ in 0..2 {
            countdown.done(&progress, 0);
        }
        countdown.done(&progress, 1);
        assert_eq!(progress.accounts_done.load(Ordering::Relaxed), 0);
        countdown.done(&progress, 0);
        assert_eq!(progress.accounts_done.load(Ordering::Relaxed), 1);
        assert!(progress.message().starts_with("accounts 1/2"), "{}", progress.message());
    }
}
