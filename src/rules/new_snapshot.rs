//! `new-snapshot`: a snapshot first seen since the scope's previous scan.

use super::{Context, Rule};
use crate::model::{ChangeKind, Finding, Severity};

pub struct NewSnapshot;

impl Rule for NewSnapshot {
    fn id(&self) -> &'static str {
        "new-snapshot"
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        ctx.changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Added)
            .map(|c| Finding {
                rule: self.id().into(),
                severity: Severity::Info,
                scope: c.scope.clone(),
                snapshot_id: c.snapshot_id.clone(),
                grantees: Vec::new(),
                message: format!("new snapshot ({})", c.details),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Change;
    use crate::rules::Policy;
    use crate::rules::test_support::snapshot;

    #[test]
    fn each_added_change_is_one_info_finding() {
        let scope = snapshot("x", vec![]).scope;
        let change = |kind, id: &str| Change {
            kind,
            scope: scope.clone(),
            snapshot_id: id.into(),
            grantee: None,
            details: "d".into(),
        };
        let changes = vec![change(ChangeKind::Added, "a"), change(ChangeKind::Deleted, "b")];
        let ctx = Context {
            policy: &Policy::default(),
            snapshots: &[],
            changes: &changes,
            coverage: &[],
            new_baselines: &Default::default(),
            organization: &Default::default(),
        };
        let f = NewSnapshot.evaluate(&ctx);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].snapshot_id.as_str(), f[0].severity), ("a", Severity::Info));
    }
}
