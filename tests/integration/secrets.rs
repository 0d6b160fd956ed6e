//! Planted secrets (AWS secret key and session token, role external id,
//! Azure token, client secret and certificate key) never reach any output,
//! error, or file a full run leaves behind: the database, its WAL and the
//! lock file.

use crate::common;

use std::path::Path;

use common::arm::{ArmServer, SUB_A, TOKEN};
use common::{Moto, TEST_SECRET, TempDir, ec2, runtime, seed_snapshots, share, snapaudit_with};

const SESSION_TOKEN: &str = "planted-session-token-Hq41";
const EXTERNAL_ID: &str = "planted-external-id-Pz07";
const AZURE_CLIENT_SECRET: &str = "planted-azure-client-secret-Mv55";

fn every_file_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(every_file_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn planted_secrets_never_reach_output_or_any_file() {
    let moto = Moto::start();
    let rt = runtime();
    let client = ec2(&moto.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 3, "secrets"));
    rt.block_on(share(&client, &ids[0], Some("999999999999")));
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.set_property(SUB_A, "mySnapshot", "diskState", Some("ActiveSAS"));

    let dir = TempDir::new();
    let db = dir.db();
    let env: &[(&str, Option<&str>)] = &[
        ("AWS_SESSION_TOKEN", Some(SESSION_TOKEN)),
        ("SNAPAUDIT_AZURE_TOKEN", Some(TOKEN)),
        ("AZURE_CLIENT_SECRET", Some(AZURE_CLIENT_SECRET)),
    ];
    let scan = [
        "scan",
        "--aws",
        "--azure",
        "--region",
        "us-east-1",
        "--assume-role",
        "Audit",
        "--account",
        "123456789012",
        "--external-id",
        EXTERNAL_ID,
        "--azure-endpoint",
        &server.url,
        "--subscription",
        SUB_A,
        "--db",
        db.to_str().unwrap(),
    ];
    let mut outputs = Vec::new();
    for format in ["jsonl", "table"] {
        let mut args = scan.to_vec();
        args.extend(["--format", format]);
        let run = snapaudit_with(dir.path(), Some(&moto.url), &args, env);
        assert_eq!(run.code, 1, "findings expected: {run:?}");
        outputs.push(run);
    }
    // An Azure token refused mid-run, and a failing AWS endpoint: error paths.
    let refused = snapaudit_with(
        dir.path(),
        Some(&moto.url),
        &["scan", "--azure", "--azure-endpoint", &server.url, "--db", db.to_str().unwrap()],
        &[("SNAPAUDIT_AZURE_TOKEN", Some(AZURE_CLIENT_SECRET))],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    outputs.push(refused);
    outputs.push(snapaudit_with(dir.path(), None, &["history", "--db", db.to_str().unwrap()], env));
    // A client certificate whose key does not match: refused before any
    // sign-in request, naming the file, never showing the key.
    let certificate = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/azure-certificate/mismatched.pem");
    let key_line = std::fs::read_to_string(certificate).unwrap().lines().nth(1).unwrap().to_owned();
    let refused_certificate = snapaudit_with(
        dir.path(),
        None,
        &["scan", "--azure", "--azure-credential", "environment", "--db", db.to_str().unwrap()],
        &[
            ("AZURE_TENANT_ID", Some("72f988bf-86f1-41af-91ab-2d7cd011db47")),
            ("AZURE_CLIENT_ID", Some("00000000-0000-0000-0000-00000000c11d")),
            ("AZURE_CLIENT_CERTIFICATE_PATH", Some(certificate)),
        ],
    );
    assert_eq!(refused_certificate.code, 2, "{refused_certificate:?}");
    assert!(refused_certificate.stderr.contains("mismatched.pem"), "{}", refused_certificate.stderr);
    assert!(refused_certificate.stderr.contains("matches its private key"), "{}", refused_certificate.stderr);
    let shown = format!("{}{}", refused_certificate.stdout, refused_certificate.stderr);
    assert!(!shown.contains(&key_line[..32]), "key material in {shown}");
    outputs.push(refused_certificate);

    let secrets = [TEST_SECRET, SESSION_TOKEN, EXTERNAL_ID, TOKEN, AZURE_CLIENT_SECRET];
    for run in &outputs {
        for secret in secrets {
            assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "{secret} in output: {run:?}");
        }
    }
    let files = every_file_under(dir.path());
    assert!(files.iter().any(|f| f.ends_with("snapaudit.db")), "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for secret in secrets {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret} written to {}", file.display());
        }
    }
    // The command line is stored, with the external id redacted.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let command: String = conn.query_row("SELECT command FROM scans ORDER BY id LIMIT 1", [], |r| r.get(0)).unwrap();
    assert!(command.contains("--external-id <redacted>"), "{command}");
}
