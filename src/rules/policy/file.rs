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
    pub trust_organization: Option<bool>,
    pub quiet_backup_tooling: Option<bool>,
    pub events_open_for: Option<String>,
    pub retention: Option<String>,
    #[serde(default)]
    pub rules: RulesFile,
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

/// One key per rule id; each rule accepts only the settings it has.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    #[serde(rename = "public-share")]
    pub public_share: Option<Switch>,
    #[serde(rename = "external-share")]
    pub external_share: Option<Switch>,
    #[serde(rename = "share-added")]
    pub share_added: Option<Switch>,
    #[serde(rename = "unencrypted-share")]
    pub unencrypted_share: Option<Switch>,
    #[serde(rename = "azure-sas-export")]
    pub azure_sas_export: Option<Switch>,
    #[serde(rename = "azure-network-exposure")]
    pub azure_network_exposure: Option<Switch>,
    #[serde(rename = "new-snapshot")]
    pub new_snapshot: Option<Switch>,
    #[serde(rename = "bulk-creation")]
    pub bulk_creation: Option<BulkCreation>,
    #[serde(rename = "bulk-deletion")]
    pub bulk_deletion: Option<BulkDeletion>,
    #[serde(rename = "off-hours-creation")]
    pub off_hours_creation: Option<OffHours>,
    #[serde(rename = "coverage-gap")]
    pub coverage_gap: Option<Switch>,
}

/// Settings every rule has.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkCreation {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub threshold: Option<usize>,
    pub window: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkDeletion {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub threshold: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffHours {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub timezone: Option<String>,
    pub business_hours: Option<String>,
    pub business_days: Option<Vec<Day>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub fn weekday(self) -> jiff::civil::Weekday {
        use jiff::civil::Weekday;
        match self {
            Day::Mon => Weekday::Monday,
            Day::Tue => Weekday::Tuesday,
            Day::Wed => Weekday::Wednesday,
            Day::Thu => Weekday::Thursday,
            Day::Fri => Weekday::Friday,
            Day::Sat => Weekday::Saturday,
            Day::Sun => Weekday::Sunday,
        }
    }
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
}
