//! `new-snapshot`: a snapshot first seen since the scope's previous scan.

use super::{Context, Kind, Meta, Rule, raise};
use crate::model::{ChangeKind, Finding, Severity};

pub struct NewSnapshot;

impl Rule for NewSnapshot {
    fn meta(&self) -> Meta {
        Meta { id: "new-snapshot", kind: Kind::Event, severity: Severity::Info, mitre: &["T1578.001"] }
    }

    fn quiet_for_backup_tooling(&self) -> bool {
        true
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        ctx.changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Added)
            .map(|c| {
                let mut f = raise(self, &c.scope, c.snapshot_id.clone(), format!("new snapshot ({})", c.details));
                f.snapshot_id = Some(c.snapshot_id.clone());
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Change;
    use crate::rules::test_support::{Fixture, snapshot};

    #[test]
    fn each_added_change_is_one_info_finding() {
        let scope = snapshot("x", vec![]).scope;
        let change = |kind, id: &str| Change {
            kind,
            scope: scope.clone(),
            snapshot_id: id.into(),
            grantee: None,
            details: "d".into(),
            actor: None,
        };
        let fx = Fixture {
            changes: vec![change(ChangeKind::Added, "a"), change(ChangeKind::Deleted, "b")],
            ..Fixture::default()
        };
        let f = NewSnapshot.evaluate(&fx.ctx());
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].subject.as_str(), f[0].severity, f[0].score), ("a", Severity::Info, 1));
    }
}
