//! Remedies, end to end (issue 28, "Remedies"): each exposure finding
//! carries the exact commands that remove only its untrusted grantees. The
//! test runs them with the real AWS CLI (installed beside moto by
//! scripts/setup-emulator) against moto behind the proxy, and the next scan
//! shows the untrusted grantees gone, the trusted one kept, and the removal
//! attributed.

use std::path::PathBuf;
use std::process::Command;

use crate::common;

use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications};
use common::proxy::Proxy;
use common::{ACCOUNT, Moto, Run, TempDir, create_db_instance, ec2, rds, runtime, seed_snapshots, share, snapaudit};
use serde_json::Value;

const OUTSIDER: &str = "999999999999";
const PARTNER: &str = "222222222222";

fn aws_cli() -> PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/aws");
    assert!(path.exists(), "the AWS CLI is not at {}: run scripts/setup-emulator", path.display());
    path
}

/// Run one remedy command, as printed, against `endpoint`.
fn run_remedy(command: &str, endpoint: &str) {
    let words: Vec<String> = shell_words(command);
    assert_eq!(words[0], "aws", "{command}");
    let out = Command::new(aws_cli())
        .args(&words[1..])
        .args(["--endpoint-url", endpoint])
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", "AKIDREMEDY")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("running the AWS CLI");
    assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Split a command line as a POSIX shell does for the quoting the remedies
/// use (plain words, single quotes).
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

fn findings(run: &Run, rule: &str) -> Vec<Value> {
    run.records("finding").into_iter().filter(|f| f["rule"] == rule && f["status"] != "resolved").collect()
}

fn commands(f: &Value) -> Vec<String> {
    f["remedy"]["commands"]
        .as_array()
        .unwrap_or_else(|| panic!("no remedy: {f}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn each_remedy_removes_only_the_untrusted_grantees_and_the_next_scan_shows_it() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&proxy.url, "us-east-1");
    let database = rds(&proxy.url, "us-east-1");
    let (snapshot, image) = rt.block_on(async {
        let snapshot = seed_snapshots(&client, 1, "orders volume").await.remove(0);
        share(&client, &snapshot, Some(PARTNER)).await;
        share(&client, &snapshot, Some(OUTSIDER)).await;
        create_db_instance(&database, "orders").await;
        let db = database.create_db_snapshot().db_instance_identifier("orders").db_snapshot_identifier("orders-manual");
        db.send().await.expect("CreateDBSnapshot");
        let share =
            database.modify_db_snapshot_attribute().db_snapshot_identifier("orders-manual").attribute_name("restore");
        share.values_to_add(OUTSIDER).values_to_add("all").send().await.expect("ModifyDBSnapshotAttribute");
        let image = client.register_image().name("golden").send().await.expect("RegisterImage").image_id.unwrap();
        let grant = LaunchPermissionModifications::builder().add(LaunchPermission::builder().user_id(OUTSIDER).build());
        client
            .modify_image_attribute()
            .image_id(&image)
            .launch_permission(grant.build())
            .send()
            .await
            .expect("ModifyImageAttribute");
        (snapshot, image)
    });
    std::fs::write(dir.path().join("policy.yaml"), format!("version: 1\ntrusted_accounts: [\"{PARTNER}\"]\n")).unwrap();
    let scan = || {
        let args =
            ["scan", "--format", "jsonl", "--region", "us-east-1", "--policy", "policy.yaml", "--fail-on", "none"];
        snapaudit(dir.path(), Some(&proxy.url), &args)
    };
    let first = scan();

    let external = findings(&first, "external-share");
    let on = |id: &str| external.iter().find(|f| f["snapshot_id"] == id).unwrap_or_else(|| panic!("{id}: {first:?}"));
    assert_eq!(
        commands(on(&snapshot)),
        [format!(
            "aws ec2 modify-snapshot-attribute --region us-east-1 --snapshot-id {snapshot} --attribute createVolumePermission --operation-type remove --user-ids {OUTSIDER}"
        )],
        "the trusted partner is not removed"
    );
    assert!(on(&snapshot)["remedy"]["console"].as_str().unwrap().contains(&snapshot));
    assert_eq!(
        commands(on("orders-manual")),
        [format!(
            "aws rds modify-db-snapshot-attribute --region us-east-1 --db-snapshot-identifier orders-manual --attribute-name restore --values-to-remove {OUTSIDER}"
        )]
    );
    assert_eq!(
        commands(on(&image)),
        [format!(
            "aws ec2 modify-image-attribute --region us-east-1 --image-id {image} --launch-permission 'Remove=[{{UserId={OUTSIDER}}}]'"
        )]
    );
    let public = findings(&first, "public-share");
    assert_eq!(public.len(), 1, "{first:?}");
    assert!(commands(&public[0])[0].ends_with("--values-to-remove all"), "{}", public[0]);

    // Every distinct command, as printed, through the real AWS CLI.
    let mut all: Vec<String> =
        first.records("finding").iter().filter(|f| !f["remedy"].is_null()).flat_map(commands).collect();
    all.sort();
    all.dedup();
    for command in &all {
        run_remedy(command, &proxy.url);
    }

    common::next_second();
    let second = scan();
    for rule in ["external-share", "public-share"] {
        assert!(findings(&second, rule).is_empty(), "{rule} after the remedies: {second:?}");
    }
    let removed: Vec<Value> = second.records("change").into_iter().filter(|c| c["kind"] == "share-removed").collect();
    let mut gone: Vec<(String, String)> = removed
        .iter()
        .map(|c| (c["snapshot_id"].as_str().unwrap().to_owned(), c["grantee"].as_str().unwrap().to_owned()))
        .collect();
    gone.sort();
    let mut expected = vec![
        (snapshot.clone(), OUTSIDER.to_owned()),
        ("orders-manual".to_owned(), OUTSIDER.to_owned()),
        ("orders-manual".to_owned(), "all".to_owned()),
        (image.clone(), OUTSIDER.to_owned()),
    ];
    expected.sort();
    assert_eq!(gone, expected, "only the untrusted grantees went: {second:?}");
    for c in &removed {
        assert_eq!(c["actor"]["principal"], format!("arn:aws:iam::{ACCOUNT}:user/AKIDREMEDY"), "{c}");
    }
    // The trusted partner keeps its share (of an unencrypted snapshot: the
    // trusted share's lower score).
    let unencrypted = findings(&second, "unencrypted-share");
    let kept = unencrypted.iter().find(|f| f["snapshot_id"] == snapshot.as_str()).expect("still shared");
    assert_eq!(kept["grantees"], serde_json::json!([PARTNER]));
    assert!(kept["remedy"].is_null(), "nothing untrusted left to remove: {kept}");
}

#[test]
fn shell_words_split_as_the_shell_does() {
    assert_eq!(
        shell_words("aws ec2 x --launch-permission 'Remove=[{UserId=1}]'"),
        ["aws", "ec2", "x", "--launch-permission", "Remove=[{UserId=1}]"]
    );
}
