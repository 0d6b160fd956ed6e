//! Faults of the process and the database: `kill -9` mid-scan, and two scans
//! of one database at once. The baseline must survive both intact.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{Moto, TempDir, command, ec2, runtime, seed_snapshots, snapaudit};

/// The scan command, started in the background like cron would.
fn spawn_scan(dir: &std::path::Path, endpoint: &str, extra: &[&str]) -> std::process::Child {
    command(dir, Some(endpoint), &["scan", "--format", "jsonl", "--region", "us-east-1", "--fail-on", "none"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting snapaudit")
}

/// (scans, integrity_check result) read straight from the file.
fn inspect(db: &std::path::Path) -> (Vec<(i64, i64)>, String) {
    let conn = rusqlite::Connection::open(db).expect("the database opens");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    let mut stmt = conn.prepare("SELECT id, snapshot_count FROM scans ORDER BY id").unwrap();
    let scans = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
    (scans, check)
}

#[test]
fn kill_9_at_twenty_points_of_a_scan_never_damages_the_baseline() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    // 5 ms per request spreads the scan over the window the kills sample.
    proxy.state.set(|f| f.latency = Duration::from_millis(5));
    rt.block_on(seed_snapshots(&ec2(&moto.url, "us-east-1"), 120, "kill"));

    let started = Instant::now();
    let first = spawn_scan(dir.path(), &proxy.url, &[]).wait_with_output().unwrap();
    let full = started.elapsed();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let (scans, check) = inspect(&dir.db());
    assert_eq!((scans.clone(), check.as_str()), (vec![(1, 120)], "ok"));

    // Deterministic "random" kill points over 0..120% of a full scan, so the
    // write at the end is hit too; the seed is printed to reproduce a failure.
    let mut seed: u64 = 0x5eed_2026_1124;
    let mut completed = 0;
    for round in 0..20 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = full.mul_f64((seed >> 33) as f64 / (1u64 << 31) as f64 * 1.2);
        let mut child = spawn_scan(dir.path(), &proxy.url, &[]);
        std::thread::sleep(delay);
        let finished_first = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        completed += usize::from(finished_first);

        let (scans, check) = inspect(&dir.db());
        assert_eq!(check, "ok", "round {round} (seed {seed:#x}, kill after {delay:?})");
        assert_eq!(scans[0], (1, 120), "round {round}: the first scan is intact");
        assert!(scans.iter().all(|(_, n)| *n == 120), "round {round}: no half-written scan: {scans:?}");
    }
    eprintln!("20 kills over {full:?}: {completed} scans had already finished");

    let after = snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl", "--region", "us-east-1"]);
    assert_eq!(after.code, 0, "the next scan succeeds: {after:?}");
    assert!(after.changes().is_empty(), "and sees nothing changed: {after:?}");
    assert_eq!(after.summary()["snapshots"], 120);
}

#[test]
fn a_second_scan_of_one_database_exits_clearly_or_waits_with_wait() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    proxy.state.set(|f| f.latency = Duration::from_millis(20));
    rt.block_on(seed_snapshots(&ec2(&moto.url, "us-east-1"), 40, "lock"));

    let slow = spawn_scan(dir.path(), &proxy.url, &[]);
    // Wait until the first scan holds the lock (it takes it before any call).
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.state.requests() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let refused = snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl", "--region", "us-east-1"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("another snapaudit scan is running"), "{refused:?}");
    assert!(refused.stderr.contains("--wait"), "says what to do: {refused:?}");

    let waiting = snapaudit(
        dir.path(),
        Some(&proxy.url),
        &["scan", "--format", "jsonl", "--region", "us-east-1", "--wait", "--fail-on", "none"],
    );
    assert_eq!(waiting.code, 0, "{waiting:?}");
    assert!(waiting.stderr.contains("waiting for another snapaudit scan"), "{waiting:?}");
    let slow = slow.wait_with_output().unwrap();
    assert!(slow.status.success(), "{}", String::from_utf8_lossy(&slow.stderr));
    let (scans, check) = inspect(&dir.db());
    assert_eq!(check, "ok");
    assert_eq!(scans, vec![(1, 40), (2, 40)], "one after the other, never interleaved");
}

/// A tmpfs of `size` mounted at `dir` for the test, unmounted on drop. Needs
/// root (CI runs as root); elsewhere the test says so and skips.
struct TinyDisk(std::path::PathBuf);

impl TinyDisk {
    fn mount(dir: &std::path::Path, size: &str) -> Option<TinyDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TinyDisk(dir.to_owned()))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_the_baseline_survives() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let disk = dir.path().join("state");
    let Some(_mounted) = TinyDisk::mount(&disk, "1m") else {
        eprintln!("SKIPPED a_full_disk_is_a_clear_error_and_the_baseline_survives: cannot mount a tmpfs (needs root)");
        return;
    };
    let client = ec2(&moto.url, "us-east-1");
    rt.block_on(seed_snapshots(&client, 20, "full-disk"));
    let scan = || snapaudit(dir.path(), Some(&moto.url), &["scan", "--format", "jsonl", "--region", "us-east-1"]);
    assert_eq!(scan().code, 0, "the first scan fits");

    // Fill the disk to the last byte, then give the next scan work to write.
    let filler = disk.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.flush();
    }
    rt.block_on(seed_snapshots(&client, 200, "full-disk-more"));
    let full = scan();
    assert_eq!(full.code, 2, "{full:?}");
    assert!(full.stderr.contains("snapaudit.db"), "names the file: {}", full.stderr);
    assert!(full.stderr.to_lowercase().contains("full"), "says why: {}", full.stderr);

    std::fs::remove_file(&filler).unwrap();
    let (scans, check) = inspect(&dir.db());
    assert_eq!((scans, check.as_str()), (vec![(1, 20)], "ok"), "the baseline is intact, no half scan");
    let after = scan();
    assert_eq!(after.code, 0, "with space again the next scan succeeds: {after:?}");
    assert_eq!(after.summary()["snapshots"], 220);
    assert_eq!(after.changes().len(), 200, "the 200 new snapshots, once");
}
