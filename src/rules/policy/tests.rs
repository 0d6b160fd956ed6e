//! Loading, merging and validating policies.

use std::path::Path;

use super::*;
use crate::rules::off_hours_creation::BusinessHours;
use crate::rules::rule;

#[test]
fn a_valid_policy_parses() {
    let p = Policy::parse("version: 1\ntrusted_accounts:\n  - \"111111111111\"\n").unwrap();
    assert!(p.trusted_accounts.contains("111111111111"));
}

#[test]
fn an_unknown_key_names_line_and_key() {
    let problems = Policy::parse("version: 1\ntrusted_acounts: []\n").unwrap_err();
    assert_eq!(problems[0].line, Some(2));
    assert_eq!(problems[0].key.as_deref(), Some("trusted_acounts"));
}

#[test]
fn an_unquoted_account_id_keeps_its_leading_zero() {
    let p = Policy::parse("version: 1\ntrusted_accounts:\n  - 012345678901\n").unwrap();
    assert!(p.trusted_accounts.contains("012345678901"), "{p:?}");
}

#[test]
fn a_wrong_type_names_line_and_key() {
    let problems = Policy::parse("version: 1\ntrusted_accounts:\n  nested: map\n").unwrap_err();
    assert_eq!(problems[0].line, Some(3), "{problems:?}");
    assert_eq!(problems[0].key.as_deref(), Some("trusted_accounts"), "{problems:?}");
}

#[test]
fn every_validation_problem_is_reported() {
    let problems = Policy::parse("version: 2\ntrusted_accounts: [\"12\", \"abc\"]\n").unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(problems[0].key.as_deref(), Some("version"));
    assert_eq!(problems[1].line, Some(2));
}

/// Issue 27, part 2.4: how late a CloudTrail event may arrive is a setting,
/// 2 hours unless the policy says otherwise.
#[test]
fn the_cloudtrail_overlap_is_two_hours_unless_stated() {
    assert_eq!(Policy::default().cloudtrail_overlap, SignedDuration::from_hours(2));
    let p = Policy::parse("version: 1\ncloudtrail_overlap: 6h\n").unwrap();
    assert_eq!(p.cloudtrail_overlap, SignedDuration::from_hours(6));
}

#[test]
fn later_files_override_only_what_they_state() {
    let dir = std::env::temp_dir().join(format!("snapaudit-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.yaml"), dir.join("b.yaml"));
    std::fs::write(&a, "version: 1\ntrust_organization: false\ntrusted_accounts: [\"111111111111\"]\n").unwrap();
    std::fs::write(&b, "version: 1\ntrusted_accounts: [\"222222222222\"]\n").unwrap();
    let p = Policy::load_all(&[a, b]).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!p.trust_organization);
    assert_eq!(p.trusted_accounts.len(), 2);
}

#[test]
fn empty_and_missing_version_are_errors() {
    assert!(Policy::parse("# only a comment\n").unwrap_err()[0].message.contains("empty"));
    let problems = Policy::parse("trusted_accounts: []\n").unwrap_err();
    assert_eq!(problems[0].key.as_deref(), Some("version"));
}

const FULL: &str = r#"version: 1
events_open_for: 3d
rules:
  bulk-creation:
    threshold: 10
    window: 2h
  off-hours-creation:
    timezone: Europe/Berlin
    business_hours: "08:00-18:00"
    business_days: [mon, tue, wed, thu]
  public-share:
    severity: high
  new-snapshot:
    enabled: false
allow:
  - reason: change-managed work
    tag: change-ticket
    expires: 2027-01-31
    rules: [new-snapshot, bulk-creation]
"#;

#[test]
fn rule_settings_and_allow_entries_parse() {
    let p = Policy::parse(FULL).unwrap();
    assert_eq!(p.events_open_for, SignedDuration::from_hours(72));
    let bulk: crate::rules::bulk_creation::Settings = p.settings_of(rule("bulk-creation").unwrap());
    assert_eq!(bulk, crate::rules::bulk_creation::Settings { threshold: 10, window: SignedDuration::from_hours(2) });
    let hours: BusinessHours = p.settings_of(rule("off-hours-creation").unwrap());
    assert_eq!(hours.timezone.iana_name(), Some("Europe/Berlin"));
    assert_eq!(hours.days.len(), 4);
    assert_eq!(p.severity_override("public-share"), Some(Severity::High));
    assert!(!p.is_enabled("new-snapshot") && p.is_enabled("bulk-creation"));
    assert_eq!(p.allow[0].tag, Some(("change-ticket".to_owned(), None)));
    assert_eq!(p.allow[0].expires, Some(jiff::civil::date(2027, 1, 31)));
}

#[test]
fn bad_values_name_their_line_and_key() {
    let cases = [
        ("rules:\n  bulk-creation:\n    window: 24 hours\n", 4, "rules.bulk-creation.window"),
        ("rules:\n  off-hours-creation:\n    timezone: Mars/Olympus\n", 4, "rules.off-hours-creation.timezone"),
        (
            "rules:\n  off-hours-creation:\n    business_hours: \"19:00-07:00\"\n",
            4,
            "rules.off-hours-creation.business_hours",
        ),
        ("allow:\n  - reason: x\n    tag: t\n    expires: 2026-13-45\n", 5, "allow.expires"),
        ("allow:\n  - reason: x\n    description: \"(unclosed\"\n", 4, "allow.description"),
        ("allow:\n  - reason: x\n    tag: t\n    rules: [bulk-creaton]\n", 5, "allow.rules"),
        ("allow:\n  - reason: nothing to match\n", 3, "allow"),
        ("notify:\n  url_file: \"  \"\n", 3, "notify.url_file"),
        ("cloudtrail_overlap: two hours\n", 2, "cloudtrail_overlap"),
        ("trusted_export_buckets: [\"s3://backups\"]\n", 2, "trusted_export_buckets"),
    ];
    for (body, line, key) in cases {
        let text = format!("version: 1\n{body}");
        let problems = Policy::parse(&text).unwrap_err();
        assert_eq!(problems[0].line, Some(line), "{text}\n{problems:?}");
        assert_eq!(problems[0].key.as_deref(), Some(key), "{text}\n{problems:?}");
    }
}

#[test]
fn unknown_rules_and_rule_settings_are_errors() {
    let problems = Policy::parse("version: 1\nrules:\n  bulk-creaton:\n    threshold: 3\n").unwrap_err();
    assert_eq!((problems[0].line, problems[0].key.as_deref()), (Some(3), Some("rules.bulk-creaton")), "{problems:?}");
    // `window` belongs to bulk-creation, not bulk-deletion.
    let problems = Policy::parse("version: 1\nrules:\n  bulk-deletion:\n    window: 1h\n").unwrap_err();
    assert_eq!(
        (problems[0].line, problems[0].key.as_deref()),
        (Some(4), Some("rules.bulk-deletion.window")),
        "{problems:?}"
    );
    let problems = Policy::parse("version: 1\nrules:\n  public-share:\n    severity: urgent\n").unwrap_err();
    assert_eq!(problems[0].line, Some(4), "{problems:?}");
}

#[test]
fn notify_names_a_url_file_never_the_url_itself() {
    let p = Policy::parse("version: 1\nnotify:\n  url_file: /etc/snapaudit/webhook\n  min_severity: high\n").unwrap();
    assert_eq!(p.notify.url_file.as_deref(), Some(Path::new("/etc/snapaudit/webhook")));
    assert_eq!(p.notify.min_severity, Severity::High);
    assert_eq!(Policy::default().notify.min_severity, Severity::Info, "every new finding by default");
    let problems = Policy::parse("version: 1\nnotify:\n  url: https://hooks.example/T1/secret-token\n").unwrap_err();
    assert_eq!((problems[0].line, problems[0].key.as_deref()), (Some(3), Some("notify.url")), "{problems:?}");
    assert!(problems[0].message.contains("url_file") && !problems[0].message.contains("secret-token"));
}

#[test]
fn a_relative_url_file_is_taken_from_the_policy_folder() {
    let dir = std::env::temp_dir().join(format!("snapaudit-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.yaml");
    std::fs::write(&path, "version: 1\nnotify:\n  url_file: webhook.url\n").unwrap();
    let p = Policy::load_all(&[path]).unwrap();
    assert_eq!(p.notify.url_file, Some(dir.join("webhook.url")));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn duplicate_keys_are_errors() {
    let problems = Policy::parse("version: 1\ntrust_organization: true\ntrust_organization: false\n").unwrap_err();
    assert_eq!(problems[0].line, Some(3), "{problems:?}");
}

#[test]
fn business_hours_boundaries_in_a_non_utc_timezone() {
    let p = Policy::parse(
        "version: 1\nrules:\n  off-hours-creation:\n    timezone: America/New_York\n    business_hours: \"07:00-19:00\"\n",
    )
    .unwrap();
    let hours: BusinessHours = p.settings_of(rule("off-hours-creation").unwrap());
    let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    // Tuesday 2026-11-24: New York is UTC-5.
    assert!(!hours.is_off_hours(at("2026-11-24T23:59:00Z")), "18:59 local");
    assert!(hours.is_off_hours(at("2026-11-25T00:01:00Z")), "19:01 local");
    assert!(hours.is_off_hours(at("2026-11-24T11:59:00Z")), "06:59 local");
    assert!(!hours.is_off_hours(at("2026-11-24T12:00:00Z")), "07:00 local");
    assert!(hours.is_off_hours(at("2026-11-28T15:00:00Z")), "Saturday 10:00 local");
}

#[test]
fn later_files_override_rule_settings_field_by_field() {
    let dir = std::env::temp_dir().join(format!("snapaudit-policy-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.yaml"), dir.join("b.yaml"));
    std::fs::write(&a, "version: 1\nrules:\n  public-share:\n    severity: high\n    enabled: false\n").unwrap();
    std::fs::write(&b, "version: 1\nrules:\n  public-share:\n    enabled: true\n").unwrap();
    let p = Policy::load_all(&[a, b]).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(p.is_enabled("public-share"));
    assert_eq!(p.severity_override("public-share"), Some(Severity::High));
}

#[test]
fn trusted_organizations_and_units_are_ids_and_trust_ami_grants() {
    use crate::model::Grantee;
    let p = Policy::parse(
        "version: 1\ntrusted_organizations: [o-a1b2c3d4e5]\ntrusted_organizational_units: [ou-ab12-cd34ef56]\n",
    )
    .unwrap();
    let org = |id: &str| Grantee::Organization(format!("arn:aws:organizations::111111111111:organization/{id}"));
    let ou =
        |org: &str, ou: &str| Grantee::OrganizationalUnit(format!("arn:aws:organizations::111111111111:ou/{org}/{ou}"));
    assert!(p.trusts_organization_grant(&org("o-a1b2c3d4e5"), None));
    assert!(
        p.trusts_organization_grant(&ou("o-a1b2c3d4e5", "ou-zz99-zz99zz99"), None),
        "an OU of a trusted organization"
    );
    assert!(p.trusts_organization_grant(&ou("o-other00000", "ou-ab12-cd34ef56"), None), "a trusted OU");
    assert!(!p.trusts_organization_grant(&org("o-other00000"), None));
    assert!(p.trusts_organization_grant(&org("o-scanned000"), Some("o-scanned000")), "--org's own");
    let untrusting = Policy::parse("version: 1\ntrust_organization: false\n").unwrap();
    assert!(!untrusting.trusts_organization_grant(&org("o-scanned000"), Some("o-scanned000")));

    let problems = Policy::parse(
        "version: 1\ntrusted_organizations: [\"123456789012\"]\ntrusted_organizational_units: [o-a1b2c3d4e5]\n",
    )
    .unwrap_err();
    let keys: Vec<_> = problems.iter().map(|p| (p.line, p.key.clone())).collect();
    assert_eq!(
        keys,
        [(Some(2), Some("trusted_organizations".into())), (Some(3), Some("trusted_organizational_units".into()))],
        "{problems:?}"
    );
}

#[test]
fn an_allow_entry_may_match_the_caller_and_a_principal_must_be_an_arn_pattern() {
    let p = Policy::parse(
        "version: 1\nallow:\n  - reason: AWS Backup\n    invoked_by: backup.amazonaws.com\n  - reason: CI\n    principal: \"arn:aws:iam::*:role/ci-*\"\n",
    )
    .unwrap();
    assert_eq!(p.allow.len(), 2);
    assert!(p.allow[1].principal.as_ref().unwrap().is_match("arn:aws:iam::111111111111:role/ci-nightly"));
    assert!(!p.allow[1].principal.as_ref().unwrap().is_match("arn:aws:iam::111111111111:role/admin"));
    let problems = Policy::parse("version: 1\nallow:\n  - reason: x\n    principal: ci-role\n").unwrap_err();
    assert_eq!(problems[0].key.as_deref(), Some("allow.principal"), "{problems:?}");
}

/// Regression (issue 25): `service-NUMBER@gcp-sa-foo.iam.gserviceaccount.com`
/// was read as a member of project `gcp-sa-foo`, so the project's own
/// service agents were external. A service agent belongs to the project
/// whose number it carries.
#[test]
fn service_agents_belong_to_the_project_whose_number_they_carry() {
    let p = Policy::default();
    let own = |m: &str| p.trusts_gcp_member(m, "prod-1", Some("415104041262"), &[]);
    assert!(own("serviceAccount:service-415104041262@gcp-sa-cloudbuild.iam.gserviceaccount.com"));
    assert!(own("serviceAccount:service-415104041262@compute-system.iam.gserviceaccount.com"));
    assert!(own("serviceAccount:415104041262@cloudservices.gserviceaccount.com"));
    assert!(own("serviceAccount:415104041262-compute@developer.gserviceaccount.com"));
    assert!(own("serviceAccount:builder@prod-1.iam.gserviceaccount.com"));
    assert!(
        !own("serviceAccount:service-999999999999@compute-system.iam.gserviceaccount.com"),
        "another project's agent"
    );
    assert!(!own("serviceAccount:service-415104041262@evil.example.com"), "not a Google domain");
    assert!(!own("serviceAccount:someone@gcp-sa-cloudbuild.iam.gserviceaccount.com"), "no project named gcp-sa-*");
    // Without the owner's number, its agents are not trusted by guess.
    let unknown = p.trusts_gcp_member(
        "serviceAccount:service-415104041262@compute-system.iam.gserviceaccount.com",
        "prod-1",
        None,
        &[],
    );
    assert!(!unknown);
}
