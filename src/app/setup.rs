//! Commands that touch no cloud and no baseline: `validate`, `rules`,
//! `permissions`.

use std::path::PathBuf;

use anyhow::Result;

use super::{DEFAULT_POLICY, exit};
use crate::cli::ValidateArgs;
use crate::collect::required_permissions;
use crate::log;
use crate::model::Provider;
use crate::rules::{self, Policy};

pub(super) fn validate(args: ValidateArgs) -> Result<u8> {
    let paths = if args.policies.is_empty() { vec![PathBuf::from(DEFAULT_POLICY)] } else { args.policies };
    let policy = Policy::load_all(&paths)?;
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    for entry in policy.expired_allow_entries(today) {
        let expired = entry.expires.map(|d| d.to_string()).unwrap_or_default();
        log::warning(&format!(
            "{}: allow entry {:?} expired on {expired}; it no longer applies",
            entry.origin, entry.reason
        ));
    }
    let disabled: Vec<&str> = rules::RULES.iter().map(|r| r.id()).filter(|id| !policy.is_enabled(id)).collect();
    println!(
        "ok: {} policy file(s) valid; {} trusted account(s), {} allowlist entries, {} of {} rules enabled{}",
        policy.sources.len(),
        policy.trusted_accounts.len(),
        policy.allow.len(),
        rules::RULES.len() - disabled.len(),
        rules::RULES.len(),
        if disabled.is_empty() { String::new() } else { format!(" (disabled: {})", disabled.join(", ")) },
    );
    Ok(exit::OK)
}

pub(super) fn list_rules() {
    let rows = rules::RULES.iter().map(|r| {
        vec![
            r.id().to_owned(),
            match r.kind() {
                rules::Kind::State => "state".to_owned(),
                rules::Kind::Event => "event".to_owned(),
            },
            r.severity().to_string(),
            if r.mitre().is_empty() { "-".to_owned() } else { r.mitre().join(",") },
        ]
    });
    let mut out = std::io::stdout().lock();
    crate::report::write_table(&mut out, &["RULE", "KIND", "SEVERITY", "MITRE"], rows).ok();
}

/// An IAM policy granting exactly the read-only actions the collectors declare.
pub fn iam_policy_document() -> String {
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SnapauditReadOnly",
            "Effect": "Allow",
            "Action": required_permissions(Provider::Aws),
            "Resource": "*",
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// A custom role with exactly the actions the Azure collector calls (the
/// built-in Reader role covers them too).
pub fn azure_role_definition() -> String {
    let doc = serde_json::json!({
        "Name": "snapaudit reader",
        "IsCustom": true,
        "Description": "Read-only: list subscriptions and managed-disk snapshots",
        "Actions": required_permissions(Provider::Azure),
        "NotActions": [],
        "AssignableScopes": ["/subscriptions/00000000-0000-0000-0000-000000000000"],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// A Google Cloud custom role with exactly the permissions the collector
/// calls (`gcloud iam roles create snapaudit --project P --file role.yaml`
/// takes this as YAML or JSON).
pub fn gcp_role_definition() -> String {
    let doc = serde_json::json!({
        "title": "snapaudit reader",
        "description": "Read-only: list projects, and Compute Engine snapshots, images and machine images with their IAM policies",
        "stage": "GA",
        "includedPermissions": required_permissions(Provider::Gcp),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
