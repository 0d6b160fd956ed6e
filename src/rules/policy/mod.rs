//! Policy files: parsed strictly (unknown keys are errors), then validated
//! into a typed [`Policy`]. Every problem names the file, line and key.
//! Several files merge in the order given: lists (trusted accounts, allow
//! entries) are joined, and a later file overrides a setting only where it
//! states it. The policy holds the global keys; each rule reads its own
//! settings (`rules/settings.rs`).

mod allow;
mod error;
mod file;
mod load;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use jiff::SignedDuration;
use serde_norway::Mapping;

pub use super::settings::parse_duration;
use super::{Block, Rule, RuleSettings};
use crate::model::{Severity, Verification};
pub use allow::AllowEntry;
pub use error::{PolicyError, PolicyProblem};
use load::{Layer, load_layer, parse_layer};

/// The policy the rules read, after validation and merging.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Accounts a share to is not external (besides the snapshot's own).
    pub trusted_accounts: BTreeSet<String>,
    /// Organizations (`o-...`) an AMI launch permission to is not external.
    pub trusted_organizations: BTreeSet<String>,
    /// Organizational units (`ou-...`) likewise.
    pub trusted_organizational_units: BTreeSet<String>,
    /// Google Cloud: domains whose users, groups and service accounts (and
    /// `domain:` members) a grant to is not external.
    pub trusted_gcp_domains: BTreeSet<String>,
    /// Google Cloud: projects (ids or numbers) whose service accounts a
    /// grant to is not external.
    pub trusted_gcp_projects: BTreeSet<String>,
    /// Amazon S3 buckets an RDS snapshot export to is expected (your own
    /// backup or analytics buckets): `snapshot-exported` is info there.
    pub trusted_export_buckets: BTreeSet<String>,
    /// Trust every account of the organization scanned with `--org`.
    pub trust_organization: bool,
    /// New snapshots and bulk activity of known backup tooling (AWS Backup,
    /// Data Lifecycle Manager, RDS automated backups) do not alert.
    pub quiet_backup_tooling: bool,
    /// How long an event finding (a burst, a deletion, a new share) stays
    /// `open` after the scan that saw it.
    pub events_open_for: SignedDuration,
    /// Scans older than this are pruned after each scan (`retention`);
    /// `None` keeps everything.
    pub retention: Option<SignedDuration>,
    /// How an AWS scan checks share lists: every one (`full`), or the new,
    /// changed and due ones (`incremental`, with CloudTrail).
    pub verification: Verification,
    /// Incremental scans re-read every share list at least this often.
    pub full_verification_every: SignedDuration,
    /// How long after a call its audit-log event may still arrive: every
    /// lookup reaches this far before the listing it follows. CloudTrail
    /// delivers "within an average of about 5 minutes" with no bound
    /// ("CloudTrail concepts"); an event later than this is missed
    /// (docs/guarantees.md). The Azure Activity Log is read with it too.
    pub cloudtrail_overlap: SignedDuration,
    /// `enabled` / `severity` per rule id, where a file stated them.
    pub switches: BTreeMap<&'static str, RuleSwitch>,
    /// Each rule's own settings as stated, merged key by key; the rule
    /// reads them ([`Policy::settings_of`]).
    pub rule_settings: BTreeMap<&'static str, Mapping>,
    pub allow: Vec<AllowEntry>,
    pub notify: Notify,
    /// Files merged into this policy, in order.
    pub sources: Vec<PathBuf>,
}

/// `notify:` in the policy; `--notify` / SNAPAUDIT_NOTIFY_URL give the URL
/// instead of `url_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// A file holding the webhook URL (relative paths are taken from the
    /// policy file's folder).
    pub url_file: Option<PathBuf>,
    /// New findings below this severity are not posted.
    pub min_severity: Severity,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleSwitch {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            trusted_accounts: BTreeSet::new(),
            trusted_organizations: BTreeSet::new(),
            trusted_organizational_units: BTreeSet::new(),
            trusted_gcp_domains: BTreeSet::new(),
            trusted_gcp_projects: BTreeSet::new(),
            trusted_export_buckets: BTreeSet::new(),
            trust_organization: true,
            quiet_backup_tooling: true,
            events_open_for: SignedDuration::from_hours(7 * 24),
            retention: None,
            verification: Verification::Full,
            full_verification_every: SignedDuration::from_hours(24),
            cloudtrail_overlap: SignedDuration::from_hours(2),
            switches: BTreeMap::new(),
            rule_settings: BTreeMap::new(),
            allow: Vec::new(),
            notify: Notify { url_file: None, min_severity: Severity::Info },
            sources: Vec::new(),
        }
    }
}

impl Policy {
    /// Load and merge several files, in the order given.
    pub fn load_all(paths: &[PathBuf]) -> Result<Policy, PolicyError> {
        let mut policy = Policy::default();
        for path in paths {
            policy.apply(load_layer(path)?);
            policy.sources.push(path.clone());
        }
        Ok(policy)
    }

    /// Parse one policy document; every problem found is returned.
    pub fn parse(text: &str) -> Result<Policy, Vec<PolicyProblem>> {
        let mut policy = Policy::default();
        policy.apply(parse_layer(text, "<policy>")?);
        Ok(policy)
    }

    pub fn is_enabled(&self, rule: &str) -> bool {
        self.switches.get(rule).and_then(|s| s.enabled).unwrap_or(true)
    }

    pub fn severity_override(&self, rule: &str) -> Option<Severity> {
        self.switches.get(rule).and_then(|s| s.severity)
    }

    /// `rule`'s settings: what the policy states, defaults elsewhere. The
    /// files were validated when loaded, so reading cannot fail here.
    pub fn settings_of<T: RuleSettings>(&self, rule: &(impl Rule + ?Sized)) -> T {
        let empty = Mapping::new();
        T::read(&mut Block::new(self.rule_settings.get(rule.id()).unwrap_or(&empty)))
    }

    /// Whether a grant to an organization or OU (an AMI launch permission) is
    /// trusted: a trusted OU, an OU of a trusted organization, or, with
    /// `trust_organization`, the scanned organization (`--org`) and its OUs.
    pub fn trusts_organization_grant(&self, grantee: &crate::model::Grantee, scanned: Option<&str>) -> bool {
        let ou_trusted = matches!(grantee, crate::model::Grantee::OrganizationalUnit(arn)
            if arn.rsplit('/').next().is_some_and(|ou| self.trusted_organizational_units.contains(ou)));
        let org = grantee.organization_id();
        let org_trusted = org
            .is_some_and(|o| self.trusted_organizations.contains(o) || (self.trust_organization && scanned == Some(o)));
        ou_trusted || org_trusted
    }

    /// Whether a grant to the Google Cloud IAM `member` on a resource of
    /// project `owner` is trusted: a `domain:` member, or a user, group or
    /// service account, of a trusted domain; a service account of the owner
    /// project, of a trusted project or (with `trust_organization`) of one of
    /// the scanned organization's projects (`organization`: their ids and
    /// numbers). Workload identity principals never are.
    pub fn trusts_gcp_member(
        &self,
        member: &str,
        owner: &str,
        owner_number: Option<&str>,
        organization: &[&str],
    ) -> bool {
        let Some((kind, who)) = member.split_once(':') else { return false };
        let domain = match kind {
            "domain" => Some(who),
            "user" | "group" | "serviceAccount" => who.rsplit_once('@').map(|(_, d)| d),
            _ => None,
        };
        if domain.is_some_and(|d| self.trusted_gcp_domains.contains(&d.to_ascii_lowercase())) {
            return true;
        }
        let project = (kind == "serviceAccount").then(|| service_account_project(who)).flatten();
        project.is_some_and(|p| {
            p == owner
                || owner_number == Some(p)
                || self.trusted_gcp_projects.contains(p)
                || (self.trust_organization && organization.contains(&p))
        })
    }

    /// Allow entries whose expiry date has passed (`validate` warns of them).
    pub fn expired_allow_entries(&self, today: jiff::civil::Date) -> impl Iterator<Item = &AllowEntry> {
        self.allow.iter().filter(move |e| e.is_expired(today))
    }

    fn apply(&mut self, layer: Layer) {
        self.trusted_accounts.extend(layer.trusted_accounts);
        self.trusted_organizations.extend(layer.trusted_organizations);
        self.trusted_organizational_units.extend(layer.trusted_organizational_units);
        self.trusted_gcp_domains.extend(layer.trusted_gcp_domains);
        self.trusted_gcp_projects.extend(layer.trusted_gcp_projects);
        self.trusted_export_buckets.extend(layer.trusted_export_buckets);
        set(&mut self.trust_organization, layer.trust_organization);
        set(&mut self.quiet_backup_tooling, layer.quiet_backup_tooling);
        set(&mut self.events_open_for, layer.events_open_for);
        if layer.retention.is_some() {
            self.retention = layer.retention;
        }
        set(&mut self.verification, layer.verification);
        set(&mut self.full_verification_every, layer.full_verification_every);
        set(&mut self.cloudtrail_overlap, layer.cloudtrail_overlap);
        for (rule, switch, settings) in layer.rules {
            let current = self.switches.entry(rule).or_default();
            current.enabled = switch.enabled.or(current.enabled);
            current.severity = switch.severity.or(current.severity);
            let merged = self.rule_settings.entry(rule).or_default();
            for (key, value) in settings {
                merged.insert(key, value);
            }
        }
        self.allow.extend(layer.allow);
        if layer.notify_url_file.is_some() {
            self.notify.url_file = layer.notify_url_file;
        }
        set(&mut self.notify.min_severity, layer.notify_min_severity);
    }
}

/// The project (id, or number) a service account belongs to, from its
/// email (IAM documentation, "Service account types" and "Service agents"):
/// Google's service agents `service-NUMBER@...gserviceaccount.com` (their
/// domain, `gcp-sa-*.iam`, `compute-system.iam`, names Google's service,
/// not a project) and `NUMBER@cloudservices.gserviceaccount.com`; the
/// Compute Engine default `NUMBER-compute@developer.gserviceaccount.com`;
/// `PROJECT@appspot.gserviceaccount.com`; `NAME@PROJECT.iam.gserviceaccount.com`.
fn service_account_project(email: &str) -> Option<&str> {
    let (name, domain) = email.split_once('@')?;
    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    if !domain.ends_with("gserviceaccount.com") {
        return None;
    }
    if let Some(project) = name.strip_prefix("service-").filter(|n| number(n)) {
        return Some(project);
    }
    if let Some(project) = domain.strip_suffix(".iam.gserviceaccount.com") {
        // Another name at a Google service's own domain is Google's, no project's.
        return (!project.starts_with("gcp-sa-")).then_some(project);
    }
    match domain {
        "appspot.gserviceaccount.com" => Some(name),
        "developer.gserviceaccount.com" => name.strip_suffix("-compute"),
        "cloudservices.gserviceaccount.com" => Some(name).filter(|n| number(n)),
        _ => None,
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}

#[cfg(test)]
mod tests;
