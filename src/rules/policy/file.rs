//! Exactly what a policy file may say: every struct denies unknown keys, so a
//! typo is an error naming its line, never a setting silently ignored.

use serde::Deserialize;

use crate::model::Severity;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub version: u32,
    #[serde(default)]
    pub trusted_accounts: Vec<String>,
    #[serde(default)]
    pub trusted_organizations: Vec<String>,
    #[serde(default)]
    pub trusted_organizational_units: Vec<String>,
    #[serde(default)]
    pub trusted_gcp_domains: Vec<String>,
    #[serde(default)]
    pub trusted_gcp_projects: Vec<String>,
    #[serde(default)]
    pub trusted_export_buckets: Vec<String>,
    pub trust_organization: Option<bool>,
    pub quiet_backup_tooling: Option<bool>,
    pub events_open_for: Option<String>,
    pub retention: Option<String>,
    pub verification: Option<crate::model::Verification>,
    pub full_verification_every: Option<String>,
    pub cloudtrail_overlap: Option<String>,
    #[serde(default)]
    pub rules: std::collections::BTreeMap<String, Option<RuleFile>>,
    #[serde(default)]
    pub allow: Vec<AllowFile>,
    pub notify: Option<NotifyFile>,
}

/// `notify:`: where new findings are posted. The URL itself is a secret
/// (webhook URLs carry their token), so a policy names a file holding it;
/// `url` is accepted by the parser only to refuse it with that reason.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    pub url_file: Option<String>,
    pub min_severity: Option<Severity>,
    pub url: Option<serde::de::IgnoredAny>,
}

/// One block under `rules:`, keyed by rule id (an unknown id is an error
/// placed by the validator). `enabled` and `severity` are every rule's;
/// the other keys are the rule's own settings, which the rule reads itself
/// (`Rule::settings`), so a key the rule lacks is still an error.
#[derive(Debug, Default, Deserialize)]
pub struct RuleFile {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    #[serde(flatten)]
    pub settings: serde_norway::Mapping,
}

/// One allowlist entry: a reason, an optional expiry, and what it matches.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowFile {
    pub reason: String,
    pub expires: Option<String>,
    pub rules: Option<Vec<String>>,
    pub tag: Option<String>,
    pub snapshot_id: Option<String>,
    pub description: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// The caller's ARN, `*` matching any run of characters.
    pub principal: Option<String>,
    /// The AWS service that called (`backup.amazonaws.com`).
    pub invoked_by: Option<String>,
}
