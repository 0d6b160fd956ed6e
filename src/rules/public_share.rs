//! `public-share`: anyone may restore the snapshot.

use super::{Context, Rule};
use crate::model::{Finding, Severity};

pub struct PublicShare;

impl Rule for PublicShare {
    fn id(&self) -> &'static str {
        "public-share"
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        ctx.snapshots
            .iter()
            .filter(|s| s.is_public())
            .map(|s| {
                // With block-all-sharing the region treats public snapshots as
                // private: still worth fixing, no longer an open door.
                let blocked = ctx
                    .coverage_of(&s.scope)
                    .and_then(|c| c.block_public_access.as_deref())
                    .is_some_and(|state| state == "block-all-sharing");
                let (severity, message) = if blocked {
                    (Severity::Medium, "snapshot is shared publicly, but block public access (block-all-sharing) keeps it private in this region".to_owned())
                } else {
                    (Severity::Critical, "snapshot is public: any account can restore it".to_owned())
                };
                let unverified = if s.grantees_known { "" } else { " (share list unreadable this scan; last known state)" };
                Finding {
                    rule: self.id().into(),
                    severity,
                    scope: s.scope.clone(),
                    snapshot_id: s.id.clone(),
                    grantees: vec!["all".into()],
                    message: format!("{message}{unverified}"),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Coverage, Grantee};
    use crate::rules::Policy;
    use crate::rules::test_support::snapshot;

    fn run(coverage: Vec<Coverage>) -> Vec<Finding> {
        let snaps = vec![snapshot("public", vec![Grantee::Public]), snapshot("private", vec![])];
        let ctx = Context {
            policy: &Policy::default(),
            snapshots: &snaps,
            changes: &[],
            coverage: &coverage,
            new_baselines: &Default::default(),
            organization: &Default::default(),
        };
        PublicShare.evaluate(&ctx)
    }

    #[test]
    fn public_snapshots_are_critical() {
        let f = run(vec![]);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].snapshot_id.as_str(), f[0].severity), ("public", Severity::Critical));
    }

    #[test]
    fn block_all_sharing_lowers_but_keeps_the_finding() {
        let mut cov = Coverage::complete(snapshot("x", vec![]).scope);
        cov.block_public_access = Some("block-all-sharing".into());
        let f = run(vec![cov]);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].message.contains("block-all-sharing"));
    }
}
