//! What one scan saw ([`Collected`]) and what the baseline knew before it
//! ([`Baseline`]): plain data shared by the collectors, the store, the diff
//! and the rules.

use std::collections::{BTreeMap, BTreeSet};

use super::{AuditEvent, Coverage, MissingReason, Provider, Scope, Snapshot};

/// Everything one scan listed, scope by scope.
#[derive(Debug, Default)]
pub struct Collected {
    /// In a scan, the snapshots the rules look at: the collectors put the
    /// listing into the store's spool, and the diff keeps the shared,
    /// changed, new and deleted ones (`app/project.rs` adds the rest).
    pub snapshots: Vec<Snapshot>,
    /// One row per scope attempted, complete or failed.
    pub coverage: Vec<Coverage>,
    /// Accounts of the scanned organization (`--org`), trusted by default.
    pub organization_accounts: BTreeSet<String>,
    /// Google Cloud: each scanned project's number, by id (a service agent
    /// names its project by number).
    pub project_numbers: BTreeMap<String, String>,
    /// The scanned organization's id (`o-...`, `--org`): AMI grants to it
    /// (and its OUs) are trusted like its accounts.
    pub organization_id: Option<String>,
    /// What the scan set out to cover, per provider scanned.
    pub reach: Vec<Reach>,
    /// Audit-log events about snapshots since the previous scan (AWS
    /// CloudTrail), to name who made each change.
    pub events: Vec<AuditEvent>,
}

impl Collected {
    /// Add another provider's listing to this one.
    pub fn merge(&mut self, other: Collected) {
        self.snapshots.extend(other.snapshots);
        self.coverage.extend(other.coverage);
        self.coverage.sort_by(|a, b| a.scope.cmp(&b.scope));
        self.organization_accounts.extend(other.organization_accounts);
        self.project_numbers.extend(other.project_numbers);
        self.organization_id = self.organization_id.take().or(other.organization_id);
        self.reach.extend(other.reach);
        self.events.extend(other.events);
    }
}

/// Where collectors put what they list, page by page (AWS and Google
/// Cloud: scope by scope), instead of holding it: in a scan, the store's
/// spool on disk (`store::spool`), so memory follows what is in flight.
pub trait ListingSink: Sync {
    fn put(&self, snapshots: Vec<Snapshot>);
    /// Drop what was put for an account of a provider whose listing failed
    /// part way: a failed scope has no listing.
    fn discard(&self, provider: Provider, account: &str);
}

/// What a scan set out to cover for one provider. A scope of the baseline
/// inside it that the scan did not attempt has vanished (a finding); a scope
/// outside it was simply not asked for (`--region us-east-1` of a baseline
/// that also holds eu-west-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub provider: Provider,
    pub accounts: AccountReach,
    /// The regions asked for; `None`: every region (`--all-regions`, Azure).
    pub regions: Option<BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountReach {
    /// Accounts named by the user, or the caller's own: others are not asked.
    Named(BTreeSet<String>),
    /// Every account an enumeration returns (the organization's active
    /// accounts, the subscriptions the identity sees): `found` now; one the
    /// baseline holds that it no longer returns is missing for `absent`.
    Enumerated { found: BTreeSet<String>, absent: MissingReason },
}

impl Reach {
    /// The scope's account and region are inside what was asked, but the
    /// enumeration no longer returns the account: why it vanished.
    pub fn vanished(&self, scope: &Scope) -> Option<MissingReason> {
        let region_asked = self.regions.as_ref().is_none_or(|r| r.contains(&scope.region));
        match &self.accounts {
            AccountReach::Enumerated { found, absent }
                if self.provider == scope.provider && region_asked && !found.contains(&scope.account) =>
            {
                Some(*absent)
            }
            _ => None,
        }
    }
}

/// The last known state of every scope ever listed completely.
#[derive(Debug, Default, Clone)]
pub struct Baseline {
    /// Current snapshot versions by scope and id: in a scan, only those the
    /// rules look at (deleted since, or named by an audit event); the
    /// others stay on disk.
    pub snapshots: BTreeMap<Scope, BTreeMap<String, Snapshot>>,
    /// Scopes that have had at least one complete listing.
    pub established: BTreeSet<Scope>,
    /// The last known (read, not `unknown`) EBS block public access state
    /// of each scope.
    pub block_public_access: BTreeMap<Scope, String>,
    /// When each established scope was last listed and its share lists
    /// last read: what an incremental scan re-reads.
    pub shares_read: BTreeMap<Scope, SharesRead>,
}

/// What an incremental scan needs of the baseline (AWS share
/// verification): the baseline's scopes and read times, and each snapshot's
/// last read share list. Loaded only for incremental scans: about 100 bytes
/// per snapshot, where the baseline's full records stay on disk.
#[derive(Debug, Default, Clone)]
pub struct PriorShares {
    pub baseline: Baseline,
    /// By scope and id, the share lists last read (unreadable ones absent).
    pub lists: BTreeMap<Scope, std::collections::HashMap<String, Vec<super::Grantee>>>,
}

/// When one scope's share lists were read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SharesRead {
    /// The start of the scope's last complete listing: an incremental scan
    /// looks up share events since then (less CloudTrail's delivery delay).
    pub listed_at: Option<jiff::Timestamp>,
    /// The start of its last complete scan that read every share list.
    pub all_at: Option<jiff::Timestamp>,
    /// Share lists read since by incremental scans.
    pub each_at: std::collections::HashMap<String, jiff::Timestamp>,
}

impl SharesRead {
    /// When `snapshot_id`'s share list was last read, if known.
    pub fn of(&self, snapshot_id: &str) -> Option<jiff::Timestamp> {
        self.each_at.get(snapshot_id).copied().max(self.all_at)
    }
}

impl Baseline {
    pub fn previous(&self, scope: &Scope, snapshot_id: &str) -> Option<&Snapshot> {
        self.snapshots.get(scope)?.get(snapshot_id)
    }
}
