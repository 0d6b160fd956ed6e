//! What one scan saw ([`Collected`]) and what the baseline knew before it
//! ([`Baseline`]): plain data shared by the collectors, the store, the diff
//! and the rules.

use std::collections::{BTreeMap, BTreeSet};

use super::{Coverage, Provider, Scope, Snapshot};

/// Everything one scan listed, scope by scope.
#[derive(Debug, Default)]
pub struct Collected {
    pub snapshots: Vec<Snapshot>,
    /// One row per scope attempted, complete or failed.
    pub coverage: Vec<Coverage>,
    /// Accounts of the scanned organization (`--org`), trusted by default.
    pub organization_accounts: BTreeSet<String>,
}

impl Collected {
    /// Add another provider's listing to this one.
    pub fn merge(&mut self, other: Collected) {
        self.snapshots.extend(other.snapshots);
        self.coverage.extend(other.coverage);
        self.coverage.sort_by(|a, b| a.scope.cmp(&b.scope));
        self.organization_accounts.extend(other.organization_accounts);
    }
}

/// The last known state of every scope ever listed completely.
#[derive(Debug, Default, Clone)]
pub struct Baseline {
    /// Current snapshot versions by scope and id.
    pub snapshots: BTreeMap<Scope, BTreeMap<String, Snapshot>>,
    /// Scopes that have had at least one complete listing.
    pub established: BTreeSet<Scope>,
    /// The last known (read, not `unknown`) EBS block public access state
    /// of each scope.
    pub block_public_access: BTreeMap<Scope, String>,
}

impl Baseline {
    pub fn previous(&self, scope: &Scope, snapshot_id: &str) -> Option<&Snapshot> {
        self.snapshots.get(scope)?.get(snapshot_id)
    }

    /// Regions (locations) each account (subscription) of `provider` has
    /// snapshots in.
    pub fn locations(&self, provider: Provider) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (scope, snapshots) in &self.snapshots {
            if scope.provider == provider && !snapshots.is_empty() {
                out.entry(scope.account.clone()).or_default().insert(scope.region.clone());
            }
        }
        out
    }
}
