//! STAGE 3, pure: rules turn the scan's state and changes into findings.
//!
//! One file per rule, listed in [`RULES`]. Rules read a [`Context`] and touch
//! neither the network nor the disk.

mod external_share;
mod new_snapshot;
pub mod policy;
mod public_share;

use std::collections::BTreeSet;

use crate::model::{Change, Coverage, Finding, Scope, Snapshot};

pub use policy::{Policy, PolicyError};

/// What a rule may look at.
pub struct Context<'a> {
    pub policy: &'a Policy,
    /// Every snapshot listed in this scan.
    pub snapshots: &'a [Snapshot],
    pub changes: &'a [Change],
    pub coverage: &'a [Coverage],
    /// Scopes whose first complete listing this scan is.
    pub new_baselines: &'a BTreeSet<Scope>,
    /// Accounts of the scanned organization (empty without `--org`).
    pub organization: &'a BTreeSet<String>,
}

impl Context<'_> {
    pub fn coverage_of(&self, scope: &Scope) -> Option<&Coverage> {
        self.coverage.iter().find(|c| &c.scope == scope)
    }

    /// Whether a share to `account` from a snapshot of `owner` is expected:
    /// the owner itself, a trusted account, or (by default) the organization.
    pub fn is_trusted(&self, owner: &str, account: &str) -> bool {
        account == owner
            || self.policy.trusted_accounts.contains(account)
            || (self.policy.trust_organization && self.organization.contains(account))
    }
}

pub trait Rule: Sync {
    /// The rule id used in output and policies, e.g. `public-share`.
    fn id(&self) -> &'static str;
    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding>;
}

/// Every rule, in the order their findings are listed at equal severity.
pub const RULES: &[&dyn Rule] =
    &[&public_share::PublicShare, &external_share::ExternalShare, &new_snapshot::NewSnapshot];

/// Run every rule; findings come most severe first.
pub fn evaluate(ctx: &Context<'_>) -> Vec<Finding> {
    let mut findings: Vec<Finding> = RULES.iter().flat_map(|r| r.evaluate(ctx)).collect();
    findings.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| a.scope.cmp(&b.scope)).then_with(|| a.snapshot_id.cmp(&b.snapshot_id))
    });
    findings
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeSet;

    use crate::model::{Grantee, Provider, Scope, Service, Snapshot};

    pub static NO_SCOPES: BTreeSet<Scope> = BTreeSet::new();
    pub static NO_ACCOUNTS: BTreeSet<String> = BTreeSet::new();

    pub const OWN: &str = "111111111111";

    pub fn snapshot(id: &str, grantees: Vec<Grantee>) -> Snapshot {
        Snapshot {
            scope: Scope {
                provider: Provider::Aws,
                service: Service::Ebs,
                account: OWN.into(),
                region: "eu-west-1".into(),
            },
            id: id.into(),
            kind: None,
            source_id: Some("vol-1".into()),
            created_at: None,
            size_gib: Some(8),
            encrypted: false,
            kms_key_id: None,
            description: None,
            state: Some("completed".into()),
            tags: Default::default(),
            grantees,
            grantees_known: true,
        }
    }
}
