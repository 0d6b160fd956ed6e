//! The binary's contract on bad input and bad state: exit 2, a message that
//! names the input, and nothing written. No emulator needed: each case fails
//! before any cloud call.

use crate::common;

use std::os::unix::fs::PermissionsExt;

use common::{TempDir, free_port, snapaudit, snapaudit_with};

/// An endpoint where nothing listens: reaching it would be a bug in these tests.
fn nowhere() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

#[test]
fn a_malformed_policy_is_exit_2_naming_file_line_and_key_and_writes_nothing() {
    let dir = TempDir::new();
    std::fs::write(dir.path().join("bad.yaml"), "version: 1\ntrusted_accounts: []\ntrusted_acount: []\n").unwrap();
    let run = snapaudit(dir.path(), Some(&nowhere()), &["scan", "--policy", "bad.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("bad.yaml:3:"), "{}", run.stderr);
    assert!(run.stderr.contains("trusted_acount"), "{}", run.stderr);
    assert!(!dir.db().exists(), "nothing may be written for a bad policy");
}

#[test]
fn validate_reports_every_problem_and_accepts_good_files() {
    let dir = TempDir::new();
    std::fs::write(dir.path().join("bad.yaml"), "version: 3\ntrusted_accounts: [\"12\"]\n").unwrap();
    let run = snapaudit(dir.path(), None, &["validate", "--policy", "bad.yaml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bad.yaml:1: key `version`"), "{}", run.stderr);
    assert!(run.stderr.contains("bad.yaml:2: key `trusted_accounts`"), "{}", run.stderr);
    std::fs::write(dir.path().join("good.yaml"), "version: 1\n").unwrap();
    let ok = snapaudit(dir.path(), None, &["validate", "--policy", "good.yaml"]);
    assert_eq!(ok.code, 0, "{ok:?}");
}

#[test]
fn every_policy_in_the_repository_is_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut files: Vec<String> = Vec::new();
    let mut pending = vec![std::path::PathBuf::from(root).join("policies")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path.display().to_string());
            }
        }
    }
    assert!(!files.is_empty());
    for file in files {
        let run = snapaudit(std::path::Path::new(root), None, &["validate", "--policy", &file]);
        assert_eq!(run.code, 0, "{file}: {run:?}");
    }
}

/// The README, CONTRIBUTING.md and every page under docs/.
fn documentation() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md"), root.join("CONTRIBUTING.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs")).unwrap().map(|e| e.unwrap().path()).collect();
    docs.sort();
    pages.extend(docs.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")));
    pages
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.strip_prefix(root).unwrap().display().to_string(), text)
        })
        .collect()
}

#[test]
fn every_policy_example_in_the_documentation_is_valid() {
    let dir = TempDir::new();
    let mut checked = 0;
    for (page, text) in documentation() {
        let blocks: Vec<&str> = text.split("```yaml\n").skip(1).map(|rest| rest.split("```").next().unwrap()).collect();
        for (i, block) in blocks.iter().enumerate() {
            let path = dir.path().join(format!("{}-{i}.yaml", page.replace('/', "-")));
            std::fs::write(&path, block).unwrap();
            let run = snapaudit(dir.path(), None, &["validate", "--policy", path.to_str().unwrap()]);
            assert_eq!(run.code, 0, "{page} yaml block {i}:\n{block}\n{run:?}");
            checked += 1;
        }
    }
    assert!(checked >= 2, "docs/policy.md and CONTRIBUTING.md show policies; {checked} checked");
}

#[test]
fn every_relative_link_in_the_documentation_resolves() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (page, text) in documentation() {
        let folder = root.join(&page).parent().unwrap().to_owned();
        for target in text.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
            let path = target.split('#').next().unwrap();
            if path.is_empty() || path.contains("://") {
                continue;
            }
            assert!(folder.join(path).exists(), "{page}: link to {target} leads nowhere");
        }
    }
}

#[test]
fn validate_warns_of_expired_allow_entries() {
    let dir = TempDir::new();
    let path = dir.path().join("p.yaml");
    std::fs::write(
        &path,
        "version: 1\nallow:\n  - reason: old change\n    tag: change-ticket\n    expires: 2020-01-31\n",
    )
    .unwrap();
    let run = snapaudit(dir.path(), None, &["validate", "--policy", "p.yaml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("\"old change\" expired on 2020-01-31"), "{run:?}");
}

#[test]
fn a_corrupt_database_is_reported_and_never_overwritten() {
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.db().parent().unwrap()).unwrap();
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.db(), &garbage).unwrap();
    let run = snapaudit(dir.path(), Some(&nowhere()), &["scan"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("snapaudit.db") && run.stderr.contains("not a snapaudit database"), "{}", run.stderr);
    assert_eq!(std::fs::read(dir.db()).unwrap(), garbage, "the file must be untouched");

    // Truncated to a partial SQLite header: the same.
    let mut header = b"SQLite format 3\0".to_vec();
    header.extend_from_slice(&[0x10, 0x00, 0x01, 0x01]);
    std::fs::write(dir.db(), &header).unwrap();
    let run = snapaudit(dir.path(), Some(&nowhere()), &["scan"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(std::fs::read(dir.db()).unwrap(), header);

    // A real baseline cut in half (a copy interrupted, a full disk): the same.
    std::fs::remove_file(dir.db()).unwrap();
    let server = common::arm::ArmServer::start();
    server.state.add_examples(common::arm::SUB_A);
    server.state.private_network(common::arm::SUB_A);
    let first = server.run(&dir, &["scan"], &[], &[]);
    assert_eq!(first.code, 0, "{first:?}");
    let whole = std::fs::read(dir.db()).unwrap();
    assert!(whole.len() > 8192);
    let half = whole[..whole.len() / 2].to_vec();
    std::fs::write(dir.db(), &half).unwrap();
    for extra in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{extra}", dir.db().display()));
    }
    let run = server.run(&dir, &["scan"], &[], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("truncated"), "{}", run.stderr);
    assert_eq!(std::fs::read(dir.db()).unwrap(), half, "the file must be untouched");
}

#[test]
fn a_database_from_a_newer_snapaudit_or_another_program_is_left_alone() {
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.db().parent().unwrap()).unwrap();
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL);
             INSERT INTO schema_migrations VALUES ('29991231000000_future', 'later');",
        )
        .unwrap();
    }
    let run = snapaudit(dir.path(), Some(&nowhere()), &["scan"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("newer snapaudit") && run.stderr.contains("29991231000000_future"), "{}", run.stderr);

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE invoices (id INTEGER);").unwrap();
    let run = snapaudit(dir.path(), Some(&nowhere()), &["scan", "--db", "other.db"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("another program"), "{}", run.stderr);
}

#[test]
fn a_read_only_database_is_a_clear_error() {
    let dir = TempDir::new();
    let db = dir.db();
    drop(snapaudit::store::Store::open(&db).expect("creating a baseline"));
    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600, "created owner-only");
    if is_root() {
        return; // root writes through read-only modes; the mode check above still ran.
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o400)).unwrap();
    let run = snapaudit(dir.path(), Some(&nowhere()), &["scan"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("read-only"), "{}", run.stderr);
}

/// Whether this process runs as root (no libc dependency: read /proc).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

#[test]
fn missing_credentials_say_what_to_do() {
    let dir = TempDir::new();
    let run = snapaudit_with(
        dir.path(),
        Some(&nowhere()),
        &["scan"],
        &[("AWS_ACCESS_KEY_ID", None), ("AWS_SECRET_ACCESS_KEY", None)],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("AWS credentials"), "{}", run.stderr);
    assert!(run.stderr.contains("scripts/demo"), "{}", run.stderr);
}

#[test]
fn the_readme_lists_exactly_the_permissions_the_collectors_declare() {
    let dir = TempDir::new();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let listed = |marker: &str| -> Vec<String> {
        let start = readme.find(&format!("<!-- {marker}:start -->")).expect("permissions block in README");
        let end = readme.find(&format!("<!-- {marker}:end -->")).unwrap();
        let mut listed: Vec<String> = readme[start..end]
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- `").and_then(|l| l.split('`').next()))
            .map(str::to_owned)
            .collect();
        listed.sort();
        listed
    };
    let strings = |v: &serde_json::Value| -> Vec<String> {
        let mut out: Vec<String> = v.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect();
        out.sort();
        out
    };

    let run = snapaudit(dir.path(), None, &["permissions"]);
    assert_eq!(run.code, 0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let declared = strings(&doc["Statement"][0]["Action"]);
    for action in &declared {
        let verb = action.split(':').nth(1).unwrap();
        assert!(
            ["Describe", "Get", "List", "Lookup"].iter().any(|p| verb.starts_with(p)),
            "{action} is not a read-only action"
        );
    }
    assert_eq!(listed("permissions"), declared, "README permission list and AWS collectors disagree");

    let run = snapaudit(dir.path(), None, &["permissions", "--provider", "azure"]);
    assert_eq!(run.code, 0);
    let role: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let declared = strings(&role["Actions"]);
    assert!(declared.iter().all(|a| a.ends_with("/read")), "Azure actions must be read-only: {declared:?}");
    assert_eq!(listed("azure-permissions"), declared, "README permission list and Azure collector disagree");

    let run = snapaudit(dir.path(), None, &["permissions", "--provider", "gcp"]);
    assert_eq!(run.code, 0);
    let role: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let declared = strings(&role["includedPermissions"]);
    let read_only = |p: &String| ["list", "get", "getIamPolicy"].contains(&p.rsplit('.').next().unwrap_or_default());
    assert!(declared.iter().all(read_only), "Google Cloud permissions must be read-only: {declared:?}");
    assert_eq!(listed("gcp-permissions"), declared, "README permission list and Google Cloud collector disagree");
}

/// Every file in tests/policies/bad/ names what its error must say on its
/// first line (`# expect: ...`): exit 2, that text, and no database.
#[test]
fn the_bad_policy_corpus_is_refused_with_file_line_and_key() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/policies/bad");
    let mut checked = 0;
    for entry in std::fs::read_dir(corpus).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text.lines().next().and_then(|l| l.strip_prefix("# expect: ")).expect("an # expect: line");
        let name = path.file_name().unwrap().to_str().unwrap();
        let run = snapaudit(std::path::Path::new(corpus), None, &["validate", "--policy", name]);
        assert_eq!(run.code, 2, "{name}: {run:?}");
        assert!(run.stderr.contains(expect), "{name}: expected {expect:?} in {}", run.stderr);
        checked += 1;
    }
    assert!(checked >= 12, "corpus has {checked} files");

    // Generated: too large, too deep (unclosed `[` made the YAML scanner
    // quadratic: 14 s for 50,000 before the depth check), not text.
    let dir = TempDir::new();
    let huge = format!("version: 1\ntrusted_accounts:\n{}", "  - \"111111111111\"\n".repeat(60_000));
    let deep = format!("version: 1\nallow:\n  - reason: x\n    tag: {}\n", "[".repeat(200_000));
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("huge.yaml", huge.into_bytes(), "over the 1048576-byte limit"),
        ("deep.yaml", deep.into_bytes(), "deep.yaml:4: nested more than 32 levels"),
        ("binary.yaml", vec![0xff, 0xfe, 0x00, 0x41], "not UTF-8"),
    ];
    for (name, bytes, expect) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let started = std::time::Instant::now();
        let run = snapaudit(dir.path(), Some(&nowhere()), &["scan", "--policy", name]);
        assert_eq!(run.code, 2, "{name}: {run:?}");
        assert!(run.stderr.contains(expect), "{name}: {}", run.stderr);
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{name} took {:?}", started.elapsed());
    }
    assert!(!dir.db().exists(), "a bad policy writes nothing");
}

/// Bad command lines: exit 2, a message naming the input, nothing written.
#[test]
fn bad_command_lines_name_the_problem_and_write_nothing() {
    let dir = TempDir::new();
    let cases: &[(&[&str], &str)] = &[
        (&["scan", "--no-such-flag"], "--no-such-flag"),
        (&["scan", "--region", "us-east-1", "--all-regions"], "cannot be used with"),
        (&["scan", "--assume-role", "Audit", "--account", "12345"], "not an AWS account id"),
        (&["scan", "--account", "123456789012"], "--assume-role"),
        (&["scan", "--endpoint-url", "not a url"], "invalid endpoint URL"),
        (&["scan", "--endpoint-url", "ftp://127.0.0.1:21"], "scheme must be http or https"),
        (&["scan", "--region", "mars-north-1; rm -rf /"], "not an AWS region name"),
        (&["scan", "--max-rps-per-action=-3"], "not a positive number"),
        (&["scan", "--subscription", "00000000-0000-0000-0000-000000000001"], "--azure"),
        (&["scan", "--azure", "--azure-endpoint", "localhost:8080"], "invalid endpoint URL"),
        (&["permissions", "--provider", "oracle"], "oracle"),
        (&["scan", "--project", "my-project-123"], "--gcp"),
        (&["scan", "--gcp", "--project", "My_Project"], "not a project id"),
        (&["scan", "--gcp", "--gcp-organization", "o-abc123"], "not an organization id"),
        (&["scan", "--fail-on", "severe"], "severe"),
        (&["scan", "--max-concurrency", "0"], "--max-concurrency"),
        (&["scan", "--endpoint-url", "http://10.1.2.3:5000"], "--allow-insecure-endpoint"),
        (&["scan", "--output", "no-such-folder/r.html"], "does not exist"),
        (&["scan", "--output", "report"], "html=report"),
        (&["scan", "--notify", "http://10.9.9.9/hooks/secret-path"], "--notify"),
    ];
    for (args, expect) in cases {
        let run = snapaudit(dir.path(), Some(&nowhere()), args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(expect), "{args:?}: expected {expect:?} in {}", run.stderr);
        assert!(!run.stderr.contains("secret-path"), "a webhook URL is a secret: {}", run.stderr);
    }
    assert!(!dir.db().exists(), "nothing written");
}

/// SQL is parameterized only: no statement text is built with `format!`.
#[test]
fn sql_is_never_built_from_strings() {
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    rust_files(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")), &mut files);
    assert!(files.len() > 20);
    let verbs = ["SELECT ", "INSERT ", "UPDATE ", "DELETE ", "CREATE ", "ALTER ", "DROP ", "PRAGMA "];
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, chunk) in text.split("format!(").skip(1).enumerate() {
            let literal = chunk.trim_start().trim_start_matches(['r', '#', '"']).trim_start();
            assert!(
                !verbs.iter().any(|v| literal.to_ascii_uppercase().starts_with(v)),
                "{}: format! #{i} builds SQL: {}",
                file.display(),
                &literal[..literal.len().min(60)]
            );
        }
    }
}

/// Regression (issue 28): `snapaudit history | head -1` ended with "error:
/// Broken pipe" and exit 2. A reader that stops early gets what it read,
/// and the command ends quietly with 0.
#[test]
fn a_reader_that_closes_the_pipe_early_ends_the_command_quietly() {
    let server = common::arm::ArmServer::start();
    server.state.add_examples(common::arm::SUB_A);
    let dir = TempDir::new();
    let scan = server.run(&dir, &["scan"], &["--subscription", common::arm::SUB_A, "--fail-on", "none"], &[]);
    assert!(scan.code == 0 || scan.code == 3, "{scan:?}");
    let mut child = common::command(dir.path(), None, &["history", "--format", "jsonl"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before anything is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// Regression (issue 28): `history --db FOLDER` said the folder was
/// "read-only". It names the mistake and the fix, for every command.
#[test]
fn a_database_path_that_is_a_folder_is_named_as_one() {
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.path().join("baselines")).unwrap();
    for args in [&["history", "--db", "baselines"][..], &["report", "findings", "--db", "baselines"][..]] {
        let run = snapaudit(dir.path(), Some(&nowhere()), args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains("baselines is a folder, not a database file"), "{}", run.stderr);
        assert!(run.stderr.contains("--db baselines/snapaudit.db"), "{}", run.stderr);
    }
}
