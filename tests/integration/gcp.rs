//! Google Cloud, end to end: the real binary and collector against the local
//! Compute Engine / Resource Manager test server (tests/integration/common/gcp.rs).

use crate::common;

use common::gcp::{COLLECTIONS, GcpServer, image, machine_image, snapshot};
use common::{Run, TempDir};
use serde_json::{Value, json};

const PROD: &str = "prod-app-123";
const TOOLS: &str = "build-tools-456";
const DENIED: &str = "denied-proj-789";
const NO_COMPUTE: &str = "nocompute-proj";
const ORG: &str = "555000111222";

fn scan(server: &GcpServer, dir: &TempDir, extra: &[&str]) -> Run {
    let mut args = vec!["--format", "jsonl", "--fail-on", "none"];
    args.extend_from_slice(extra);
    server.run(dir, &["scan"], &args)
}

/// (rule, subject, status) of the findings of these rules, sorted.
fn findings(run: &Run, rules: &[&str]) -> Vec<(String, String, String)> {
    run.all_findings().into_iter().filter(|(rule, _, _)| rules.contains(&rule.as_str())).collect()
}

fn finding(rule: &str, subject: &str, status: &str) -> (String, String, String) {
    (rule.to_owned(), subject.to_owned(), status.to_owned())
}

fn coverage(run: &Run, account: &str, service: &str) -> Value {
    run.records("coverage")
        .into_iter()
        .find(|c| c["account"] == account && c["service"] == service)
        .unwrap_or_else(|| panic!("no coverage for {account} {service}: {run:?}"))
}

fn binding(role: &str, members: &[&str]) -> Value {
    json!({"role": role, "members": members})
}

/// Two projects of one organization, one denied, one without Compute Engine.
fn estate(server: &GcpServer) {
    let s = &server.state;
    s.add_project(PROD, "100000000001", Some(ORG));
    s.add_project(TOOLS, "100000000002", Some(ORG));
    s.add_project(DENIED, "100000000003", None);
    s.add_project(NO_COMPUTE, "100000000004", None);
    s.set(|f| {
        f.denied.insert(DENIED.into());
        f.disabled.insert(NO_COMPUTE.into());
    });
    for name in ["db-public", "db-outsider", "db-partner", "db-private"] {
        s.add(PROD, "snapshots", snapshot(PROD, name));
    }
    s.set_bindings(PROD, "snapshots", "db-public", json!([binding("roles/compute.storageAdmin", &["allUsers"])]));
    s.set_bindings(
        PROD,
        "snapshots",
        "db-outsider",
        json!([binding("roles/compute.storageAdmin", &["user:eve@evil.example"])]),
    );
    s.set_bindings(
        PROD,
        "snapshots",
        "db-partner",
        json!([binding("roles/compute.storageAdmin", &["user:bob@partner.example"])]),
    );
    // A role that cannot read the data is no share.
    s.set_bindings(
        PROD,
        "snapshots",
        "db-private",
        json!([binding("roles/compute.viewer", &["user:eve@evil.example"])]),
    );
    s.add(PROD, "images", image(PROD, "app-image"));
    s.set_bindings(
        PROD,
        "images",
        "app-image",
        json!([binding(
            "roles/compute.imageUser",
            &[
                "serviceAccount:deployer@other-proj-1.iam.gserviceaccount.com",
                "serviceAccount:ci@build-tools-456.iam.gserviceaccount.com"
            ]
        )]),
    );
    s.add(PROD, "machineImages", machine_image(PROD, "vm-backup"));
    s.set_bindings(
        PROD,
        "machineImages",
        "vm-backup",
        json!([{"role": "roles/compute.admin", "members": ["user:contractor@gmail.com"],
                "condition": {"title": "until Friday", "expression": "request.time < timestamp('2026-12-04T00:00:00Z')"}}]),
    );
}

#[test]
fn shares_of_snapshots_images_and_machine_images_are_found_and_an_unshare_resolves() {
    let (server, dir) = (GcpServer::start(), TempDir::new());
    estate(&server);
    std::fs::write(dir.path().join("policy.yaml"), "version: 1\ntrusted_gcp_domains: [partner.example]\n").unwrap();
    let projects = ["--project", PROD, "--project", DENIED, "--project", NO_COMPUTE, "--policy", "policy.yaml"];
    let first = scan(&server, &dir, &projects);
    assert_eq!(first.code, 3, "no finding fails the scan (--fail-on none), the denied project is a gap: {first:?}");
    let exposure = ["public-share", "external-share"];
    assert_eq!(
        findings(&first, &exposure),
        [
            finding("external-share", "app-image", "new"),
            finding("external-share", "db-outsider", "new"),
            finding("external-share", "vm-backup", "new"),
            finding("public-share", "db-public", "new"),
        ],
        "{first:?}"
    );
    // Without --gcp-organization, another project's service account is
    // external, whoever owns it (the organization test trusts build-tools).
    let image = first.records("finding").into_iter().find(|f| f["subject"] == "app-image").unwrap();
    assert_eq!(
        image["grantees"],
        json!([
            "serviceAccount:ci@build-tools-456.iam.gserviceaccount.com",
            "serviceAccount:deployer@other-proj-1.iam.gserviceaccount.com"
        ]),
        "{image}"
    );
    assert_eq!(image["service"], "gcp-image");
    // A conditional grant is still reported, its condition shown.
    let backup = first.records("finding").into_iter().find(|f| f["subject"] == "vm-backup").unwrap();
    assert!(backup["message"].as_str().unwrap().contains("if until Friday"), "{backup}");
    assert_eq!(backup["service"], "gcp-machine-image");
    // A denied project is a gap; a project without Compute Engine is complete and empty.
    for collection_service in ["gcp-snapshot", "gcp-image", "gcp-machine-image"] {
        let denied = coverage(&first, DENIED, collection_service);
        assert_eq!(denied["status"], "failed", "{denied}");
        assert!(denied["error"].as_str().unwrap().contains("permission"), "{denied}");
        let off = coverage(&first, NO_COMPUTE, collection_service);
        assert_eq!(
            (off["status"].as_str(), off["error_code"].as_str()),
            (Some("complete"), Some("SERVICE_DISABLED")),
            "{off}"
        );
    }
    assert_eq!(coverage(&first, PROD, "gcp-snapshot")["region"], "global");
    // Only the declared read-only permissions were used; one list per
    // collection and project, one getIamPolicy per resource.
    let declared: std::collections::BTreeSet<String> = {
        let run = common::snapaudit(dir.path(), None, &["permissions", "--provider", "gcp"]);
        let role: Value = serde_json::from_str(&run.stdout).unwrap();
        role["includedPermissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect()
    };
    let used = server.state.permissions();
    assert!(used.iter().all(|p| declared.contains(*p)), "used {used:?}, declared {declared:?}");
    assert_eq!(server.state.count("compute.snapshots.getIamPolicy"), 4);
    assert_eq!(server.state.count("compute.images.list"), 3, "one per project");

    // Unshared, and the image shared with one more outsider.
    server.state.set_bindings(PROD, "snapshots", "db-public", json!([]));
    server.state.set_bindings(
        PROD,
        "images",
        "app-image",
        json!([binding(
            "roles/compute.imageUser",
            &["serviceAccount:deployer@other-proj-1.iam.gserviceaccount.com", "group:partners@evil.example"]
        )]),
    );
    server.state.remove(PROD, "machineImages", "vm-backup");
    let second = scan(&server, &dir, &projects);
    assert_eq!(
        findings(&second, &exposure),
        [
            finding("external-share", "app-image", "open"),
            finding("external-share", "db-outsider", "open"),
            finding("external-share", "vm-backup", "resolved"),
            finding("public-share", "db-public", "resolved"),
        ],
        "{second:?}"
    );
    let mut changes = second.changes();
    changes.retain(|(kind, _)| kind != "modified");
    assert_eq!(
        changes,
        [
            ("deleted".to_owned(), "vm-backup".to_owned()),
            ("share-added".to_owned(), "app-image".to_owned()),
            ("share-removed".to_owned(), "app-image".to_owned()),
            ("share-removed".to_owned(), "db-public".to_owned()),
        ],
        "{second:?}"
    );
    assert!(
        second
            .records("finding")
            .iter()
            .any(|f| f["rule"] == "share-added"
                && f["subject"].as_str().unwrap().contains("group:partners@evil.example")),
        "{second:?}"
    );

    // `report shared` lists the Google Cloud resources still shared.
    let db = dir.db();
    let shared = common::snapaudit(
        dir.path(),
        None,
        &["report", "shared", "--format", "jsonl", "--policy", "policy.yaml", "--db", db.to_str().unwrap()],
    );
    let listed: Vec<String> = shared
        .records("shared_snapshot")
        .iter()
        .map(|s| s["snapshot_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(listed.contains(&"app-image".to_owned()) && listed.contains(&"db-outsider".to_owned()), "{shared:?}");
}

#[test]
fn every_active_project_is_found_and_paging_and_quota_errors_are_outlasted() {
    let (server, dir) = (GcpServer::start(), TempDir::new());
    let s = &server.state;
    s.add_project(PROD, "100000000001", None);
    s.add_project("steady-proj-1", "100000000008", None);
    s.add_project("leaving-proj-1", "100000000009", None);
    s.delete_project("leaving-proj-1");
    for i in 0..7 {
        s.add(PROD, "snapshots", snapshot(PROD, &format!("snap-{i}")));
    }
    s.set(|f| {
        f.page_size = Some(2);
        f.rate_limit_next = 2;
        f.too_many_next = 1;
        f.fail_next = 1;
    });
    let run = scan(&server, &dir, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary()["snapshots"], 7, "{run:?}");
    assert_eq!(server.state.faulted(), 4, "every injected fault was met and outlasted");
    let accounts: std::collections::BTreeSet<String> =
        run.records("coverage").iter().map(|c| c["account"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        accounts.into_iter().collect::<Vec<_>>(),
        [PROD, "steady-proj-1"],
        "a project being deleted is not ACTIVE"
    );
    assert_eq!(server.state.count("compute.snapshots.list"), 4 + 1, "7 snapshots in pages of 2, and an empty project");

    // A project the credential no longer sees vanished: missing, never deleted.
    server.state.delete_project(PROD);
    let gone = scan(&server, &dir, &[]);
    assert_eq!(gone.code, 3, "{gone:?}");
    let missing: Vec<Value> = gone.records("coverage").into_iter().filter(|c| c["account"] == PROD).collect();
    assert_eq!(missing.len(), 3, "{gone:?}");
    assert!(missing.iter().all(|c| c["status"] == "missing" && c["error_code"] == "not-visible"), "{gone:?}");

    // No project visible at all is an error, never a clean empty scan.
    server.state.delete_project("steady-proj-1");
    let none = scan(&server, &dir, &[]);
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.stderr.contains("no ACTIVE project"), "{}", none.stderr);
    assert!(gone.changes().is_empty(), "nothing is reported deleted: {:?}", gone.changes());
    assert!(gone.all_findings().iter().any(|(rule, _, _)| rule == "scope-missing"), "{gone:?}");
}

#[test]
fn an_organizations_own_projects_are_trusted_and_others_are_not() {
    let (server, dir) = (GcpServer::start(), TempDir::new());
    estate(&server);
    server.state.set(|f| {
        f.denied.clear();
    });
    let run = scan(&server, &dir, &["--gcp-organization", ORG]);
    // The organization's projects only: not the denied one, nor the one without an organization.
    let accounts: std::collections::BTreeSet<String> =
        run.records("coverage").iter().map(|c| c["account"].as_str().unwrap().to_owned()).collect();
    assert_eq!(accounts.into_iter().collect::<Vec<_>>(), [TOOLS, PROD], "{run:?}");
    let image = run
        .records("finding")
        .into_iter()
        .find(|f| f["rule"] == "external-share" && f["subject"] == "app-image")
        .unwrap_or_else(|| panic!("{run:?}"));
    assert_eq!(
        image["grantees"],
        json!(["serviceAccount:deployer@other-proj-1.iam.gserviceaccount.com"]),
        "the organization's build-tools service account is trusted: {image}"
    );
    assert!(COLLECTIONS.len() == 3);
}

/// Application Default Credentials from a service-account key file, through
/// google-cloud-auth: the scan authenticates with the self-signed JWT it
/// makes, and neither the key nor any token reaches an output or the
/// database.
#[test]
fn a_key_file_authenticates_and_nothing_of_it_leaks() {
    let (server, dir) = (GcpServer::start(), TempDir::new());
    server.state.add_project(PROD, "100000000001", None);
    server.state.add(PROD, "snapshots", snapshot(PROD, "db-private"));
    let key_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gcp/service-account-key.json");
    let key: Value = serde_json::from_str(&std::fs::read_to_string(key_path).unwrap()).unwrap();
    server.state.accept_service_account(key["client_email"].as_str().unwrap());
    let env = [("GOOGLE_APPLICATION_CREDENTIALS", Some(key_path)), ("SNAPAUDIT_GCP_TOKEN", None)];
    let run = server.run_with(&dir, &["scan"], &["--format", "jsonl", "--project", PROD, "-v"], &env);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary()["snapshots"], 1);

    let private_key = key["private_key"].as_str().unwrap();
    let key_body: String = private_key.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut secrets: Vec<String> = server.state.bearers().into_iter().collect();
    assert!(!secrets.is_empty(), "the server saw the bearer JWT");
    secrets.push(key_body[..40].to_owned());
    secrets.push(key["private_key_id"].as_str().unwrap().to_owned());
    let db = std::fs::read(dir.db()).unwrap();
    let db = String::from_utf8_lossy(&db);
    for secret in &secrets {
        assert!(!run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()), "leaked in output");
        assert!(!db.contains(secret.as_str()), "leaked into the database");
    }

    // A key the server does not accept: a clear credentials error, no secret.
    let other = TempDir::new();
    let denied = GcpServer::start();
    denied.state.add_project(PROD, "100000000001", None);
    let run = denied.run_with(&other, &["scan"], &["--format", "jsonl", "--project", PROD], &env);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains(&key_body[..40]), "{run:?}");
}

/// Regression (issue 25): a project's own service agent
/// (`service-NUMBER@compute-system.iam.gserviceaccount.com`) was read as a
/// member of a project named `compute-system`, so external; another
/// project's agent is external. And a conditional `allAuthenticatedUsers`
/// grant said only "any account can restore it": the public-share finding
/// names the member, its role and the condition, and its remedy removes
/// that binding. With `--project`, the project's number comes from
/// Resource Manager's `projects.get`.
#[test]
fn a_projects_own_service_agent_is_not_external_and_a_conditional_public_grant_shows_its_condition() {
    let server = GcpServer::start();
    let s = &server.state;
    s.add_project(PROD, "100000000001", None);
    s.add(PROD, "images", image(PROD, "golden"));
    s.set_bindings(
        PROD,
        "images",
        "golden",
        json!([binding(
            "roles/compute.imageUser",
            &["serviceAccount:service-100000000001@compute-system.iam.gserviceaccount.com"]
        )]),
    );
    s.add(PROD, "images", image(PROD, "leaked"));
    s.set_bindings(
        PROD,
        "images",
        "leaked",
        json!([binding(
            "roles/compute.imageUser",
            &["serviceAccount:service-999000000001@compute-system.iam.gserviceaccount.com"]
        )]),
    );
    s.add(PROD, "snapshots", snapshot(PROD, "db-signed-in"));
    s.set_bindings(
        PROD,
        "snapshots",
        "db-signed-in",
        json!([{"role": "roles/compute.storageAdmin", "members": ["allAuthenticatedUsers"],
                "condition": {"title": "until the audit", "expression": "request.time < timestamp('2027-01-01T00:00:00Z')"}}]),
    );
    for extra in [&[][..], &["--project", PROD][..]] {
        let dir = TempDir::new();
        let run = scan(&server, &dir, extra);
        assert_eq!(
            findings(&run, &["public-share", "external-share"]),
            [finding("external-share", "leaked", "new"), finding("public-share", "db-signed-in", "new")],
            "{extra:?}: {run:?}"
        );
        let public = run.records("finding").into_iter().find(|f| f["rule"] == "public-share").unwrap();
        let message = public["message"].as_str().unwrap();
        assert!(
            message.contains(
                "allAuthenticatedUsers (any Google account) holds roles/compute.storageAdmin if until the audit"
            ),
            "{message}"
        );
        assert_eq!(public["grantees"], json!(["allAuthenticatedUsers"]));
        assert_eq!(
            public["remedy"]["commands"],
            json!([format!(
                "gcloud compute snapshots remove-iam-policy-binding db-signed-in --project {PROD} --member allAuthenticatedUsers --role roles/compute.storageAdmin --all"
            )])
        );
    }
}
