//! `transient-snapshot`: a snapshot (or image) created and deleted between
//! two scans, which no listing can show. CloudTrail can: a creation and a
//! deletion of the same id since the previous scan, in a scope listed
//! completely now. Info on its own (workflows do this), but it counts in
//! `bulk-creation` and `bulk-deletion`, and names both callers: a copy made
//! and its trace removed (T1578.001).

use super::{Context, Kind, Meta, Rule, raise};
use crate::model::{Finding, Severity};

pub struct TransientSnapshot;

impl Rule for TransientSnapshot {
    fn meta(&self) -> Meta {
        Meta { id: "transient-snapshot", kind: Kind::Event, severity: Severity::Info, mitre: &["T1578.001"] }
    }

    fn quiet_for_backup_tooling(&self) -> bool {
        true
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        ctx.transient()
            .iter()
            .map(|t| {
                let who = |a: &crate::model::Actor| a.principal.clone().unwrap_or_else(|| "an unknown caller".into());
                let mut f = raise(
                    self,
                    &t.snapshot.scope,
                    t.snapshot.id.clone(),
                    format!(
                        "created at {} by {} and deleted at {} by {}, between two scans: never listed",
                        t.created.event_time,
                        who(&t.created),
                        t.deleted.event_time,
                        who(&t.deleted)
                    ),
                );
                f.snapshot_id = Some(t.snapshot.id.clone());
                f.actor = Some(t.created.clone());
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AuditEvent, Coverage, Grantee};
    use crate::rules::test_support::{Fixture, audit_event, snapshot};
    use crate::rules::{bulk_creation::BulkCreation, bulk_deletion::BulkDeletion};

    fn event(name: &str, id: &str, minute: u32) -> AuditEvent {
        audit_event(name, id, &format!("2026-11-24T11:{minute:02}:00Z"))
    }

    #[test]
    fn created_and_deleted_between_scans_is_found_and_counts_in_the_bursts() {
        let listed = snapshot("listed", vec![Grantee::Public]);
        let mut fx = Fixture::with(vec![listed]);
        let scope = fx.snapshots[0].scope.clone();
        fx.coverage = vec![Coverage::complete(scope.clone())];
        fx.previous.established.insert(scope.clone());
        fx.events = (0..6)
            .flat_map(|i| {
                let id = format!("snap-gone-{i}");
                [event("CreateSnapshot", &id, i), event("DeleteSnapshot", &id, 30 + i)]
            })
            .collect();
        // Created only (it will be listed next time), or a listed one deleted.
        fx.events.push(event("CreateSnapshot", "snap-new", 1));
        fx.events.push(event("DeleteSnapshot", "listed", 2));
        let found = TransientSnapshot.evaluate(&fx.ctx());
        assert_eq!(found.len(), 6, "{found:?}");
        assert_eq!(found[0].subject, "snap-gone-0");
        assert!(found[0].message.contains("user/mallory"), "{}", found[0].message);
        // Six in the scope: above both bursts' default threshold of 5.
        assert_eq!(BulkCreation.evaluate(&fx.ctx()).len(), 1);
        assert_eq!(BulkDeletion.evaluate(&fx.ctx()).len(), 1);

        // Not judged where the scope did not list completely, or has no baseline.
        fx.coverage = vec![Coverage::failed(scope.clone(), "AccessDenied", "denied")];
        assert!(TransientSnapshot.evaluate(&fx.ctx()).is_empty());
        fx.coverage = vec![Coverage::complete(scope)];
        fx.previous.established.clear();
        assert!(TransientSnapshot.evaluate(&fx.ctx()).is_empty());
    }
}
