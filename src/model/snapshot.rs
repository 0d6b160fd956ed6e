//! A snapshot as seen in one scan, the scope it was listed in, and whether that
//! scope listed completely.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Fields;

/// Cloud provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Aws,
    Azure,
    Gcp,
}

/// Kind of snapshot; one collector per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    Ebs,
    Rds,
    RdsCluster,
    /// AWS machine images (AMIs): a launch permission reads every EBS
    /// snapshot behind the image.
    Ami,
    AzureSnapshot,
    /// Google Cloud Compute Engine snapshots (of persistent disks).
    GcpSnapshot,
    /// Google Cloud custom images: whoever may use one reads its disk.
    GcpImage,
    /// Google Cloud machine images (an instance's disks and configuration).
    GcpMachineImage,
}

macro_rules! str_enum {
    ($ty:ty { $($variant:ident => $s:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$variant),)* _ => None }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(Provider { Aws => "aws", Azure => "azure", Gcp => "gcp" });

impl Provider {
    /// What a scope's `account` is, in words: an AWS account, an Azure
    /// subscription.
    pub fn account_noun(self) -> &'static str {
        match self {
            Provider::Aws => "account",
            Provider::Azure => "subscription",
            Provider::Gcp => "project",
        }
    }
}
str_enum!(Service {
    Ebs => "ebs",
    Rds => "rds",
    RdsCluster => "rds-cluster",
    Ami => "ami",
    AzureSnapshot => "azure-snapshot",
    GcpSnapshot => "gcp-snapshot",
    GcpImage => "gcp-image",
    GcpMachineImage => "gcp-machine-image",
});
str_enum!(CoverageStatus {
    Complete => "complete",
    Failed => "failed",
    NotEnabled => "not-enabled",
    Missing => "missing",
});
str_enum!(Verification { Full => "full", Incremental => "incremental" });
str_enum!(MissingReason {
    LeftOrganization => "left-organization",
    NotVisible => "not-visible",
    RegionDisabled => "region-disabled",
});

/// The unit that lists completely or fails as a whole: one service in one
/// account (or subscription) and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub provider: Provider,
    pub service: Service,
    pub account: String,
    pub region: String,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {} {}", self.provider, self.service, self.account, self.region)
    }
}

/// Who may restore a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum Grantee {
    /// Anyone (EBS group `all`, RDS `all`).
    Public,
    /// One account.
    Account(String),
    /// A named group other than `all` (kept so nothing is dropped).
    Group(String),
    /// AWS: every account of an organization, by its ARN
    /// (`arn:aws:organizations::111111111111:organization/o-abc`): an AMI
    /// launch permission.
    Organization(String),
    /// AWS: every account of an organizational unit, by its ARN
    /// (`arn:aws:organizations::111111111111:ou/o-abc/ou-abc-12345678`).
    OrganizationalUnit(String),
    /// Azure: a live export (SAS) URL exists; whoever holds it can download
    /// the snapshot (`diskState` `ActiveSAS` / `ActiveSASFrozen`).
    SasExport,
    /// Azure: an export URL can be created and used from any network
    /// (`networkAccessPolicy: AllowAll`, public network access not disabled).
    AnyNetwork,
    /// Google Cloud: an IAM member granted a role that reads the data
    /// (`user:`, `group:`, `serviceAccount:`, `domain:`, `principal://`...),
    /// as the policy names it.
    Member(String),
}

/// `networkAccessPolicy` when ARM omits it (its documented default).
pub const AZURE_DEFAULT_NETWORK_ACCESS_POLICY: &str = "AllowAll";
/// `publicNetworkAccess` when ARM omits it (its documented default).
pub const AZURE_DEFAULT_PUBLIC_NETWORK_ACCESS: &str = "Enabled";

impl Grantee {
    /// The organization (`o-...`) an organization or OU grant is within.
    pub fn organization_id(&self) -> Option<&str> {
        match self {
            // ...:organization/o-abc and ...:ou/o-abc/ou-abc-1
            Grantee::Organization(arn) | Grantee::OrganizationalUnit(arn) => {
                arn.split('/').find(|part| part.starts_with("o-"))
            }
            _ => None,
        }
    }

    /// Whether this is the account `id` (a snapshot's owner, say).
    pub fn is_account(&self, id: &str) -> bool {
        matches!(self, Grantee::Account(a) if a == id)
    }

    /// Azure's exposure kinds, which have rules of their own rather than
    /// the account-share rules.
    pub fn is_azure_exposure(&self) -> bool {
        matches!(self, Grantee::SasExport | Grantee::AnyNetwork)
    }

    /// Who could download an Azure snapshot with these API attributes
    /// (docs/azure.md, "What shared means on Azure"). ARM omits a property
    /// whose value is its default (Compute REST API 2024-03-02, Snapshots:
    /// `networkAccessPolicy` defaults to `AllowAll`, `publicNetworkAccess` to
    /// `Enabled`), so an absent one is read as that default: exposed.
    pub fn azure_exposure(attributes: &Fields) -> Vec<Grantee> {
        let get = |key: &str| attributes.get(key).map(String::as_str);
        let mut grantees = Vec::new();
        if matches!(get("diskState"), Some("ActiveSAS" | "ActiveSASFrozen")) {
            grantees.push(Grantee::SasExport);
        }
        let network = get("networkAccessPolicy").unwrap_or(AZURE_DEFAULT_NETWORK_ACCESS_POLICY);
        let public = get("publicNetworkAccess").unwrap_or(AZURE_DEFAULT_PUBLIC_NETWORK_ACCESS);
        if network == "AllowAll" && public != "Disabled" {
            grantees.push(Grantee::AnyNetwork);
        }
        grantees.sort();
        grantees
    }

    /// Who this is, in words, for change details.
    pub fn describe(&self) -> String {
        match self {
            Grantee::Public => "everyone (public)".into(),
            Grantee::Account(id) => format!("account {id}"),
            Grantee::Group(name) => format!("group {name}"),
            Grantee::Organization(arn) => format!("organization {}", arn.rsplit('/').next().unwrap_or(arn)),
            Grantee::OrganizationalUnit(arn) => {
                format!("organizational unit {}", arn.rsplit('/').next().unwrap_or(arn))
            }
            Grantee::SasExport => "whoever holds its live export (SAS) URL".into(),
            Grantee::AnyNetwork => "an export URL usable from any network".into(),
            Grantee::Member(member) => format!("IAM member {member}"),
        }
    }

    /// The output spelling: `all` for public, else the account or group id.
    pub fn label(&self) -> &str {
        match self {
            Grantee::Public => "all",
            Grantee::Account(id) | Grantee::Group(id) => id,
            Grantee::Organization(arn) | Grantee::OrganizationalUnit(arn) => arn,
            Grantee::Member(member) => member,
            Grantee::SasExport => "sas-export",
            Grantee::AnyNetwork => "any-network",
        }
    }
}

/// One snapshot as listed in one scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub scope: Scope,
    pub id: String,
    /// The provider's snapshot type where it has one (RDS: `manual`,
    /// `automated`, `awsbackup`); `None` for EBS.
    pub kind: Option<String>,
    /// Volume, DB instance, cluster or disk the snapshot was taken from.
    pub source_id: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: Option<String>,
    pub size_gib: Option<i64>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub description: Option<String>,
    pub state: Option<String>,
    pub tags: Fields,
    /// Sorted, without duplicates.
    pub grantees: Vec<Grantee>,
    /// False when the share list could not be read in this scan; `grantees`
    /// then holds the last known list, carried forward unverified.
    pub grantees_known: bool,
    /// Provider fields with no common column, under the API's own names
    /// (Azure: `networkAccessPolicy`, `dataAccessAuthMode`, ...). Compared
    /// by the diff like any other metadata.
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub attributes: Fields,
}

/// A Google Cloud resource's attribute with its IAM policy's bindings in
/// words (`ROLE: MEMBERS [if CONDITION]; ...`).
pub const IAM_BINDINGS: &str = "iamBindings";

/// One binding of [`IAM_BINDINGS`]' words (`ROLE: MEMBER MEMBER [if
/// CONDITION]`): the role, its members, and its condition's title if any.
pub type IamBinding<'a> = (&'a str, Vec<&'a str>, Option<&'a str>);

/// The bindings in an [`IAM_BINDINGS`] attribute (`; `-separated).
pub fn parse_iam_bindings(text: &str) -> Vec<IamBinding<'_>> {
    text.split("; ")
        .filter_map(|binding| {
            let (role, rest) = binding.split_once(": ")?;
            let (members, condition) = match rest.split_once(" if ") {
                Some((members, condition)) => (members, Some(condition)),
                None => (rest, None),
            };
            Some((role, members.split_whitespace().collect(), condition))
        })
        .collect()
}

/// The attribute listing an RDS snapshot's exports and an AMI's stores to
/// Amazon S3 (`TASK s3://BUCKET/PREFIX`, `store s3://BUCKET/OBJECT`,
/// comma-separated): copies of its data outside any share list.
pub const S3_EXPORTS: &str = "s3Exports";

/// An AMI's attribute listing the EBS snapshots behind it (its block
/// device mappings), comma-separated.
pub const AMI_SNAPSHOTS: &str = "snapshotIds";

impl Snapshot {
    /// Record its exports to S3 (`TASK s3://BUCKET/...` each) as the
    /// [`S3_EXPORTS`] attribute: sorted and without repeats, so the same
    /// exports are no change.
    pub fn record_s3_exports(&mut self, mut exports: Vec<String>) {
        exports.sort();
        exports.dedup();
        self.attributes.insert(S3_EXPORTS.to_owned(), exports.join(", "));
    }

    /// The S3 exports of an RDS snapshot: (task, `s3://bucket/prefix`, bucket).
    pub fn s3_exports(&self) -> Vec<(&str, &str, &str)> {
        let Some(text) = self.attributes.get(S3_EXPORTS) else { return Vec::new() };
        text.split(", ")
            .filter_map(|entry| {
                let (task, place) = entry.split_once(' ')?;
                let bucket = place.strip_prefix("s3://")?.split('/').next()?;
                Some((task, place, bucket))
            })
            .collect()
    }

    pub fn is_public(&self) -> bool {
        self.grantees.contains(&Grantee::Public)
    }

    /// The EBS snapshots behind an AMI: whoever may launch it can read them.
    pub fn backing_snapshots(&self) -> Vec<&str> {
        self.attributes
            .get(AMI_SNAPSHOTS)
            .map(|ids| ids.split(',').filter(|id| !id.is_empty()).collect())
            .unwrap_or_default()
    }

    /// Metadata compared by the diff as "modified" (shares are compared apart).
    pub fn metadata_differences(&self, newer: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        if self.encrypted != newer.encrypted {
            out.push(format!("encrypted: {} -> {}", self.encrypted, newer.encrypted));
        }
        if self.kms_key_id != newer.kms_key_id {
            out.push(format!(
                "kms_key_id: {} -> {}",
                self.kms_key_id.as_deref().unwrap_or("-"),
                newer.kms_key_id.as_deref().unwrap_or("-")
            ));
        }
        if self.description != newer.description {
            out.push(format!(
                "description: {:?} -> {:?}",
                self.description.as_deref().unwrap_or(""),
                newer.description.as_deref().unwrap_or("")
            ));
        }
        // A version stored before any attribute was recorded (AWS snapshots
        // of older snapaudits) is not "modified" by the first ones recorded.
        if !self.attributes.is_empty() {
            map_differences("", &self.attributes, &newer.attributes, &mut out);
        }
        map_differences("tag ", &self.tags, &newer.tags, &mut out);
        out
    }
}

/// `{prefix}{key}: old -> new` for every key whose value differs.
fn map_differences(prefix: &str, old: &Fields, new: &Fields, out: &mut Vec<String>) {
    if old == new {
        return;
    }
    let keys: std::collections::BTreeSet<&String> = old.iter().chain(new.iter()).map(|(k, _)| k).collect();
    for key in keys {
        let (before, after) = (old.get(key), new.get(key));
        if before != after {
            out.push(format!(
                "{prefix}{key}: {} -> {}",
                before.map_or("(none)", String::as_str),
                after.map_or("(none)", String::as_str)
            ));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoverageStatus {
    /// Listed completely.
    Complete,
    /// Attempted and not (fully) listed: a coverage gap.
    Failed,
    /// An AWS opt-in region the account has not enabled: nothing can exist
    /// there, so nothing is missed. Not a gap.
    NotEnabled,
    /// Established in the baseline and within what the scan was asked to
    /// cover, but gone from reach ([`MissingReason`]): a gap and a finding.
    Missing,
}

/// How a scan checked a scope's share lists (policy `verification`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    /// Every snapshot's share list, every scan.
    #[default]
    Full,
    /// Only those of snapshots that are new, had a share event since the
    /// previous scan (CloudTrail), disagree with the public listing, or are
    /// due for their periodic re-read (`full_verification_every`); the
    /// others carry their last read list.
    Incremental,
}

/// Why a scope the baseline knows could not be scanned any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingReason {
    /// The account is no longer an active account of the organization
    /// (removed, suspended or closed): MITRE T1666.
    LeftOrganization,
    /// The Azure identity no longer sees the subscription (role removed,
    /// moved to another tenant, disabled).
    NotVisible,
    /// The AWS opt-in region is no longer enabled for the account.
    RegionDisabled,
}

impl MissingReason {
    /// How the reason reads in a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            MissingReason::LeftOrganization => "is no longer an active account of the organization",
            MissingReason::NotVisible => "is no longer visible to the identity",
            MissingReason::RegionDisabled => "is no longer enabled for the account",
        }
    }
}

/// Whether a scope listed completely in a scan, and why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub scope: Scope,
    pub status: CoverageStatus,
    /// Machine-matchable error code (e.g. `AccessDenied`), when failed.
    pub error_code: Option<String>,
    pub error: Option<String>,
    /// Snapshots listed whose share list could not be read (exposure unknown).
    pub unknown_exposure: Vec<String>,
    /// Why share lists could not be read (AWS): the action denied and the
    /// permission to grant, or throttling past the retries. `None` where
    /// every share list was read, and for Azure's unrecognised values.
    pub exposure_error: Option<String>,
    /// EBS only: the region's snapshot block-public-access state
    /// (`block-all-sharing`, `block-new-sharing`, `unblocked`, or `unknown`).
    pub block_public_access: Option<String>,
    /// Why who made this scope's changes is unknown (CloudTrail denied or
    /// unavailable): a warning, never a gap. `None` when read or not needed.
    #[serde(default)]
    pub attribution: Option<String>,
    /// AWS: how this scan checked share lists: every one (`full`) or the
    /// new, changed and oldest ones (`incremental`). `None` where the
    /// listing itself carries who may use a snapshot (Azure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// With `verification`: when the scope's least recently read share
    /// list was read (RFC 3339); this scan's start in a full sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_verified_at: Option<String>,
    /// Incremental scans only: the snapshots whose share lists this scan
    /// read (the store records when); the others carried theirs.
    #[serde(skip)]
    pub shares_read: Vec<String>,
}

impl Coverage {
    /// The block public access state when it could not be read.
    pub const UNKNOWN_STATE: &'static str = "unknown";

    pub fn complete(scope: Scope) -> Self {
        Coverage {
            scope,
            status: CoverageStatus::Complete,
            error_code: None,
            error: None,
            unknown_exposure: Vec::new(),
            exposure_error: None,
            block_public_access: None,
            attribution: None,
            verification: None,
            oldest_verified_at: None,
            shares_read: Vec::new(),
        }
    }

    pub fn failed(scope: Scope, code: impl Into<String>, message: impl Into<String>) -> Self {
        Coverage {
            status: CoverageStatus::Failed,
            error_code: Some(code.into()),
            error: Some(message.into()),
            ..Coverage::complete(scope)
        }
    }

    /// An opt-in region the account has not enabled (`note` says how it
    /// was known).
    pub fn not_enabled(scope: Scope, note: impl Into<String>) -> Self {
        Coverage { status: CoverageStatus::NotEnabled, error: Some(note.into()), ..Coverage::complete(scope) }
    }

    /// A scope of the baseline that vanished from reach; the reason is
    /// kept, machine-matchable, as the error code.
    pub fn missing(scope: Scope, reason: MissingReason, message: impl Into<String>) -> Self {
        Coverage {
            status: CoverageStatus::Missing,
            error_code: Some(reason.as_str().to_owned()),
            error: Some(message.into()),
            ..Coverage::complete(scope)
        }
    }

    pub fn is_complete(&self) -> bool {
        self.status == CoverageStatus::Complete
    }

    /// Why the scope is missing, when it is.
    pub fn missing_reason(&self) -> Option<MissingReason> {
        (self.status == CoverageStatus::Missing).then(|| self.error_code.as_deref().and_then(MissingReason::parse))?
    }

    /// Part of the scope went unseen: it failed to list, vanished from
    /// reach, or share lists of listed snapshots could not be read (exit 3).
    /// A region the account has not enabled holds nothing: no gap.
    pub fn has_gap(&self) -> bool {
        matches!(self.status, CoverageStatus::Failed | CoverageStatus::Missing) || self.exposure_error.is_some()
    }
}

impl Grantee {
    /// Stored spelling: `all`, an account id, `group:NAME`, an organization
    /// or OU ARN, or `azure:sas-export` / `azure:any-network`.
    pub fn encode(&self) -> String {
        match self {
            Grantee::Public => "all".to_owned(),
            Grantee::Account(id) => id.clone(),
            Grantee::Group(name) => format!("group:{name}"),
            Grantee::Organization(arn) | Grantee::OrganizationalUnit(arn) => arn.clone(),
            Grantee::SasExport | Grantee::AnyNetwork => format!("azure:{}", self.label()),
            Grantee::Member(member) => format!("gcp:{member}"),
        }
    }

    pub fn decode(s: &str) -> Grantee {
        match s {
            "all" => Grantee::Public,
            "azure:sas-export" => Grantee::SasExport,
            "azure:any-network" => Grantee::AnyNetwork,
            _ if s.starts_with("arn:") && s.contains(":organization/") => Grantee::Organization(s.to_owned()),
            _ if s.starts_with("arn:") && s.contains(":ou/") => Grantee::OrganizationalUnit(s.to_owned()),
            _ if s.starts_with("gcp:") => Grantee::Member(s["gcp:".len()..].to_owned()),
            _ => match s.strip_prefix("group:") {
                Some(name) => Grantee::Group(name.to_owned()),
                None => Grantee::Account(s.to_owned()),
            },
        }
    }
}

#[cfg(test)]
mod grantee_tests {
    use super::Grantee;

    #[test]
    fn every_grantee_survives_its_stored_spelling() {
        let all = [
            Grantee::Public,
            Grantee::Account("111111111111".into()),
            Grantee::Group("partners".into()),
            Grantee::Organization("arn:aws:organizations::111111111111:organization/o-a1b2c3d4e5".into()),
            Grantee::OrganizationalUnit("arn:aws:organizations::111111111111:ou/o-a1b2c3d4e5/ou-ab12-cd34ef56".into()),
            Grantee::SasExport,
            Grantee::AnyNetwork,
            Grantee::Member("serviceAccount:ci@other-project.iam.gserviceaccount.com".into()),
        ];
        for g in all {
            assert_eq!(Grantee::decode(&g.encode()), g);
        }
        let ou = Grantee::OrganizationalUnit("arn:aws:organizations::1:ou/o-a1b2c3d4e5/ou-ab12-cd34ef56".into());
        assert_eq!(ou.organization_id(), Some("o-a1b2c3d4e5"));
        assert_eq!(ou.describe(), "organizational unit ou-ab12-cd34ef56");
    }
}
