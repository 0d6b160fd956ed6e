//! Scan progress for people at a terminal: a single status line on stderr,
//! redrawn a few times a second; nothing at all when stderr is not a TTY.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Progress {
    scopes_total: AtomicUsize,
    scopes_done: AtomicUsize,
    listed: AtomicUsize,
    shares_checked: AtomicUsize,
}

impl Progress {
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

    pub fn line(&self) -> String {
        format!(
            "scopes {}/{} · snapshots listed {} · share lists read {}",
            self.scopes_done.load(Ordering::Relaxed),
            self.scopes_total.load(Ordering::Relaxed),
            self.listed.load(Ordering::Relaxed),
            self.shares_checked.load(Ordering::Relaxed),
        )
    }
}

/// Redraw the status line until the returned handle is aborted; `None` when
/// stderr is not a terminal (cron, pipes, CI).
pub fn show(progress: Arc<Progress>) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            eprint!("\r\x1b[K{}", progress.line());
            let _ = std::io::stderr().flush();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }))
}

/// Erase the status line.
pub fn clear() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}
