//! Reports: golden outputs of every scan format (timestamps redacted),
//! `--output` files (atomic, owner-only), and `snapaudit report` read from
//! the baseline, its HTML checked in headless Chromium.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::arm::{ArmServer, SUB_A};
use common::{Moto, Run, TempDir, ec2, runtime, seed_snapshots, share, snapaudit};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// Replace what changes from run to run: times, durations, the server port.
fn redact(text: &str, server_url: &str) -> String {
    let mut out = text.replace(server_url, "http://127.0.0.1:PORT");
    // RFC 3339 times, e.g. 2026-11-24T11:02:09Z or with fractions.
    let bytes: Vec<char> = out.chars().collect();
    let mut result = String::with_capacity(out.len());
    let mut i = 0;
    while i < bytes.len() {
        let window: String = bytes[i..bytes.len().min(i + 20)].iter().collect();
        if window.len() == 20
            && window.as_bytes()[4] == b'-'
            && window.as_bytes()[10] == b'T'
            && window.as_bytes()[19] == b'Z'
            && window[..4].chars().all(|c| c.is_ascii_digit())
        {
            result.push_str("<TIME>");
            i += 20;
        } else {
            result.push(bytes[i]);
            i += 1;
        }
    }
    out = result;
    for key in ["\"duration_ms\":", "\"time\":", "\"first_seen_time\":"] {
        let mut rest = out.as_str();
        let mut rebuilt = String::new();
        while let Some(at) = rest.find(key) {
            rebuilt.push_str(&rest[..at + key.len()]);
            rest = &rest[at + key.len()..];
            let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
            if digits > 0 {
                rebuilt.push('0');
            }
            rest = &rest[digits..];
        }
        rebuilt.push_str(rest);
        out = rebuilt;
    }
    // The table's summary line carries the duration.
    out.lines()
        .map(|l| match l.rfind(" in ").filter(|_| l.starts_with("scan ")) {
            Some(at) => format!("{} in <DURATION>", &l[..at]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compare with tests/golden/NAME, or write it with SNAPAUDIT_UPDATE_GOLDEN=1.
fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(GOLDEN).join(name);
    if std::env::var_os("SNAPAUDIT_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(GOLDEN).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("no golden file {}: run with SNAPAUDIT_UPDATE_GOLDEN=1", path.display()));
    assert!(expected == actual, "{name} differs from the golden file; actual:\n{actual}");
}

#[test]
fn every_scan_format_matches_its_golden_output() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.private_network(SUB_A);
    server.state.set_property(SUB_A, "mySnapshot", "diskState", Some("ActiveSAS"));
    server.state.set_property(SUB_A, "mySnapshot1", "networkAccessPolicy", Some("AllowAll"));
    server.state.set_property(SUB_A, "mySnapshot1", "dataAccessAuthMode", Some("AzureActiveDirectory"));
    let dir = TempDir::new();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let path = |name: &str| out.join(name).to_str().unwrap().to_owned();
    let outputs = [
        format!("table={}", path("scan.txt")),
        path("scan.jsonl"),
        path("scan.csv"),
        path("scan.ocsf.json"),
        path("scan.html"),
    ];
    let mut args: Vec<&str> = vec!["--subscription", SUB_A, "--quiet"];
    for o in &outputs {
        args.extend(["--output", o.as_str()]);
    }
    let run = server.run(&dir, &["scan"], &args, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty(), "--quiet prints nothing: {}", run.stdout);

    for name in ["scan.txt", "scan.jsonl", "scan.csv", "scan.ocsf.json", "scan.html"] {
        let file = out.join(name);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} is owner-only");
        let text = std::fs::read_to_string(&file).unwrap();
        assert_golden(name, &redact(&text, &server.url));
    }
    // No temporary file is left beside the reports.
    let left: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(left.len(), 5, "{left:?}");

    // The OCSF records are Detection Findings with MITRE ids and the snapshot.
    let ocsf = std::fs::read_to_string(out.join("scan.ocsf.json")).unwrap();
    let first: serde_json::Value = serde_json::from_str(ocsf.lines().next().unwrap()).unwrap();
    assert_eq!((first["class_uid"].as_u64(), first["type_uid"].as_u64()), (Some(2004), Some(200401)));
    assert_eq!(first["finding_info"]["attacks"][0]["technique"]["uid"], "T1537");
    assert_eq!(first["resources"][0]["type"], "Microsoft.Compute/snapshots");
}

/// An AWS account with one public snapshot, one shared with a trusted
/// partner and one with an unknown account, scanned twice.
fn shared_account() -> (Moto, TempDir) {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let client = ec2(&moto.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 4, "report"));
    std::fs::write(
        dir.path().join("policy.yaml"),
        "version: 1\ntrusted_accounts: [\"222222222222\"]\nallow:\n  - reason: sanctioned partner copy\n    snapshot_id: PLACEHOLDER\n    rules: [external-share, unencrypted-share, share-added]\n"
            .replace("PLACEHOLDER", &ids[3]),
    )
    .unwrap();
    let scan = |dir: &TempDir| {
        snapaudit(
            dir.path(),
            Some(&moto.url),
            &["scan", "--region", "us-east-1", "--policy", "policy.yaml", "--fail-on", "none"],
        )
    };
    assert_eq!(scan(&dir).code, 0);
    rt.block_on(share(&client, &ids[0], None));
    rt.block_on(share(&client, &ids[1], Some("222222222222")));
    rt.block_on(share(&client, &ids[2], Some("999999999999")));
    rt.block_on(share(&client, &ids[3], Some("888888888888")));
    let second = scan(&dir);
    assert_eq!(second.code, 0, "{second:?}");
    (moto, dir)
}

fn report(dir: &TempDir, args: &[&str]) -> Run {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    snapaudit(dir.path(), None, &all)
}

#[test]
fn the_shared_report_marks_every_grantee_and_reads_only_the_baseline() {
    let (moto, dir) = shared_account();
    drop(moto); // the report makes no cloud call
    let run = report(&dir, &["shared", "--policy", "policy.yaml", "--format", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let mut grantees: Vec<String> = run
        .records("shared_snapshot")
        .iter()
        .flat_map(|r| r["grantees"].as_array().unwrap().clone())
        .map(|g| format!("{} {}", g["id"].as_str().unwrap(), g["kind"].as_str().unwrap()))
        .collect();
    grantees.sort();
    assert_eq!(grantees, ["222222222222 trusted", "888888888888 external", "999999999999 external", "all public"]);
    let suppressed: Vec<String> =
        run.records("shared_snapshot").iter().filter_map(|r| r["suppressed_by"].as_str().map(str::to_owned)).collect();
    assert_eq!(suppressed.len(), 1);
    assert!(suppressed[0].starts_with("sanctioned partner copy"), "{suppressed:?}");
    let summary = run.summary();
    assert_eq!((summary["shared snapshots"].as_str(), summary["public"].as_str()), (Some("4"), Some("1")));

    // As of the first scan nothing was shared.
    let before = report(&dir, &["shared", "--as-of", "1", "--format", "json"]);
    assert!(before.records("shared_snapshot").is_empty(), "{before:?}");
    // CSV for spreadsheets: a header and one row per shared snapshot.
    let csv = report(&dir, &["shared", "--policy", "policy.yaml", "--format", "csv"]);
    assert_eq!(csv.stdout.lines().count(), 5, "{}", csv.stdout);
    assert!(csv.stdout.starts_with("PROVIDER,SERVICE,ACCOUNT,REGION,SNAPSHOT,GRANTEES"), "{}", csv.stdout);
    // A scan that does not exist is a clear error.
    let missing = report(&dir, &["shared", "--as-of", "99"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("scan 99 is not in"), "{}", missing.stderr);
}

#[test]
fn changes_and_findings_reports_filter_by_period_and_status() {
    let (_moto, dir) = shared_account();
    let changes = report(&dir, &["changes", "--since", "1h", "--format", "json"]);
    let kinds: Vec<String> = changes.records("change").iter().map(|c| c["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["share-added"; 4], "{changes:?}");
    let findings = report(&dir, &["findings", "--status", "new", "--format", "json"]);
    let rules: std::collections::BTreeSet<String> =
        findings.records("finding").iter().map(|f| f["rule"].as_str().unwrap().to_owned()).collect();
    assert!(rules.contains("public-share") && rules.contains("external-share"), "{rules:?}");
    assert!(findings.records("finding").iter().all(|f| f["status"] == "new"));
    let suppressed = report(&dir, &["findings", "--status", "suppressed", "--format", "json"]);
    assert!(!suppressed.records("finding").is_empty());
    assert!(suppressed.records("finding").iter().all(|f| f["status"] == "suppressed"));
    // Regression (issue 28): `report findings --format ocsf` was refused
    // though the help listed it. One Detection Finding per line, remedies in
    // `remediation`.
    let ocsf = report(&dir, &["findings", "--status", "new", "--format", "ocsf"]);
    assert_eq!(ocsf.code, 0, "{ocsf:?}");
    let events: Vec<serde_json::Value> = ocsf.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), findings.records("finding").len(), "{ocsf:?}");
    assert!(events.iter().all(|e| e["class_uid"] == 2004 && e["activity_id"] == 1), "{ocsf:?}");
    let public = events.iter().find(|e| e["finding_info"]["title"] == "public-share").expect("public-share");
    assert!(public["remediation"]["desc"].as_str().unwrap().contains("--group-names all"), "{public}");
    let history = report(&dir, &["changes", "--since", "1h", "--format", "ocsf"]);
    assert_eq!(history.code, 2, "OCSF has no class for a list of changes: {history:?}");
    let bad = report(&dir, &["findings", "--status", "closed"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("not a status"), "{}", bad.stderr);
}

/// Headless Chromium, where installed (`.ci/run` installs Debian's).
fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

#[test]
fn the_html_report_renders_in_chromium_with_its_rows_and_summary() {
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("CI_REQUIRE_CHROMIUM").is_none(), "Chromium is required in CI");
        eprintln!("SKIPPED the_html_report_renders_in_chromium: no Chromium (apt-get install chromium)");
        return;
    };
    let (_moto, dir) = shared_account();
    let html = dir.path().join("shared.html");
    let run = report(&dir, &["shared", "--policy", "policy.yaml", "--output", html.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(std::fs::metadata(&html).unwrap().permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(!text.contains("http://") && !text.contains("https://"), "self-contained: no fetches");

    let url = format!("file://{}", html.display());
    let common_flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"];
    let profile = format!("--user-data-dir={}", dir.path().join("chromium-profile").display());
    let dom = std::process::Command::new(browser)
        .args(common_flags)
        .arg(&profile)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("running chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The rendered DOM: one table row per shared snapshot, the summary
    // figures, and the trend chart with one bar group per scan.
    let body = &dom[dom.find("<tbody>").expect("a table body")..];
    assert_eq!(body.matches("<tr>").count(), 4, "{dom}");
    assert!(dom.contains("data-summary=\"shared snapshots\">4<"), "{dom}");
    assert!(dom.contains("data-summary=\"public\">1<"), "{dom}");
    assert_eq!(dom.matches("<g><title>scan ").count(), 2, "two scans in the chart");
    assert!(dom.contains("999999999999 (external)") && dom.contains("all (public)"), "{dom}");

    // A screenshot as a test artifact (target/test-artifacts/).
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let png = artifacts.join("shared-report.png");
    let _ = std::fs::remove_file(&png);
    let shot = std::process::Command::new(browser)
        .args(common_flags)
        .arg(&profile)
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,900")
        .arg(&url)
        .output()
        .expect("running chromium");
    assert!(png.exists(), "screenshot: {}", String::from_utf8_lossy(&shot.stderr));
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000, "a real picture");
}

#[test]
fn new_findings_reach_the_webhook_once_with_retries_and_the_url_stays_secret() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.private_network(SUB_A);
    server.state.set_property(SUB_A, "mySnapshot", "diskState", Some("ActiveSAS"));
    // Two failures (500, then 503) before the receiver takes the message.
    let receiver = common::receiver::Receiver::start(&[500, 503]);
    let hook = format!("{}/hooks/T0001/B0002/hook-secret-Kq3", receiver.url);
    let dir = TempDir::new();
    let db = dir.db();
    let scan = |dir: &TempDir| {
        server.run(
            dir,
            &["scan"],
            &["--subscription", SUB_A, "--format", "jsonl"],
            &[("SNAPAUDIT_NOTIFY_URL", Some(&hook))],
        )
    };
    let first = scan(&dir);
    assert_eq!(first.code, 1, "{first:?}");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3, "two retries, then delivered: {requests:?}");
    let body: serde_json::Value = serde_json::from_str(&requests[2].1).unwrap();
    assert!(body["text"].as_str().unwrap().contains("1 new finding(s)"), "{body}");
    assert!(body["text"].as_str().unwrap().contains("azure-sas-export"), "{body}");
    assert_eq!(body["findings"].as_array().unwrap().len(), 1);
    assert_eq!(body["findings"][0]["status"], "new");

    // The same findings, now open: nothing new, nothing sent.
    let second = scan(&dir);
    assert_eq!(second.code, 1);
    assert_eq!(receiver.requests().len(), 3, "open findings are not sent again");

    // A webhook that keeps failing is a warning; the scan is still saved.
    server.state.set_property(SUB_A, "mySnapshot1", "diskState", Some("ActiveSAS"));
    receiver.received.script.lock().unwrap().extend([500, 500, 500, 500]);
    let failing = scan(&dir);
    assert_eq!(failing.code, 1, "{failing:?}");
    assert!(failing.stderr.contains("was not reached after 4 attempt(s): HTTP 500"), "{}", failing.stderr);
    assert_eq!(receiver.requests().len(), 7);

    for run in [&first, &second, &failing] {
        assert!(!run.stdout.contains("hook-secret") && !run.stderr.contains("hook-secret"), "{run:?}");
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let leaked: i64 =
        conn.query_row("SELECT count(*) FROM scans WHERE command LIKE '%hook-secret%'", [], |r| r.get(0)).unwrap();
    assert_eq!(leaked, 0);
}

fn rule_subject_severity(f: &serde_json::Value) -> (String, String, String) {
    let field = |k: &str| f[k].as_str().unwrap().to_owned();
    (field("rule"), field("subject"), field("severity"))
}

/// `notify:` in the policy: the URL comes from the file it names (relative to
/// the policy), only new findings at or above `min_severity` are posted, and
/// neither the URL nor a refused `notify.url` is ever printed.
#[test]
fn the_policy_names_the_webhook_file_and_a_severity_floor() {
    use std::os::unix::fs::PermissionsExt;
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.private_network(SUB_A);
    server.state.set_property(SUB_A, "mySnapshot", "diskState", Some("ActiveSAS"));
    let receiver = common::receiver::Receiver::start(&[]);
    let dir = TempDir::new();
    let url_file = dir.path().join("webhook.url");
    std::fs::write(&url_file, format!("{}/hooks/T9/policy-secret-Zx\n", receiver.url)).unwrap();
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let policy = dir.path().join("notify.yaml");
    let scan = |dir: &TempDir, floor: &str| {
        std::fs::write(&policy, format!("version: 1\nnotify:\n  url_file: webhook.url\n  min_severity: {floor}\n"))
            .unwrap();
        server.run(dir, &["scan"], &["--subscription", SUB_A, "--format", "jsonl", "--policy", "notify.yaml"], &[])
    };

    // Each scan posts exactly its new findings at or above the floor.
    let mut filtered_out = 0;
    let mut check = |run: &common::Run, floor: &str| {
        let rank = |s: &str| ["info", "low", "medium", "high", "critical"].iter().position(|r| *r == s).unwrap();
        let new: Vec<(String, String, String)> =
            run.records("finding").iter().filter(|f| f["status"] == "new").map(rule_subject_severity).collect();
        assert!(!new.is_empty(), "{run:?}");
        let expected: Vec<_> = new.iter().filter(|(_, _, sev)| rank(sev) >= rank(floor)).cloned().collect();
        filtered_out += new.len() - expected.len();
        let posted = receiver.requests();
        if expected.is_empty() {
            return posted.len();
        }
        let (path, body) = posted.last().unwrap();
        assert_eq!(path, "/hooks/T9/policy-secret-Zx", "the URL from the file, trimmed");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        let mut sent: Vec<_> = body["findings"].as_array().unwrap().iter().map(rule_subject_severity).collect();
        let mut expected = expected;
        sent.sort();
        expected.sort();
        assert_eq!(sent, expected, "floor {floor}");
        posted.len()
    };
    let first = scan(&dir, "critical");
    assert_eq!(check(&first, "critical"), 1, "{first:?}");
    assert!(!first.stderr.contains("others may read"), "{}", first.stderr);
    // Exportable from any network: a new finding below critical.
    server.state.set_property(SUB_A, "mySnapshot1", "networkAccessPolicy", Some("AllowAll"));
    let second = scan(&dir, "critical");
    assert_eq!(check(&second, "critical"), 1, "nothing new at or above critical: {second:?}");
    server.state.set_property(SUB_A, "mySnapshot2", "networkAccessPolicy", Some("AllowAll"));
    let third = scan(&dir, "medium");
    assert_eq!(check(&third, "medium"), 2, "{third:?}");
    assert!(filtered_out > 0, "a floor left something out");

    // A file others may read is used, with a warning; a URL written into
    // the policy itself is refused before any API call.
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let loose = scan(&dir, "high");
    assert!(loose.stderr.contains("others may read or change it; run `chmod 600"), "{}", loose.stderr);
    std::fs::write(&policy, "version: 1\nnotify:\n  url: https://hooks.example/T1/inline-secret-Qw\n").unwrap();
    let inline =
        server.run(&dir, &["scan"], &["--subscription", SUB_A, "--format", "jsonl", "--policy", "notify.yaml"], &[]);
    assert_eq!(inline.code, 2, "{inline:?}");
    assert!(inline.stderr.contains("notify.url") && inline.stderr.contains("url_file"), "{}", inline.stderr);
    std::fs::write(&policy, "version: 1\nnotify:\n  url_file: missing.url\n").unwrap();
    let missing =
        server.run(&dir, &["scan"], &["--subscription", SUB_A, "--format", "jsonl", "--policy", "notify.yaml"], &[]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("missing.url"), "{}", missing.stderr);
    for run in [&first, &second, &third, &loose, &inline, &missing] {
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(!all.contains("policy-secret") && !all.contains("inline-secret"), "{run:?}");
    }
}
