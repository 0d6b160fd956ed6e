//! `transient-share`: a share added and removed between two scans, which the
//! live state can never show. CloudTrail can: a share-modifying event since
//! the previous scan added an untrusted account (or everyone) to a snapshot
//! or AMI whose share list no longer has it, and the previous scan did not
//! see it either (no `share-removed` change): shared, copied, unshared
//! (T1537).
//!
//! Only events the scan judges (`Context::judges`: calls that took effect,
//! since the scope's previous listing less the overlap) and that came before
//! the share list they are compared with was read: a share added during a
//! long sweep, after its snapshot's list was read, is the next scan's to
//! judge, never a share that "came and went".

use super::{Context, Kind, Meta, Rule, raise};
use crate::model::{Finding, Severity};

pub struct TransientShare;

impl Rule for TransientShare {
    fn meta(&self) -> Meta {
        Meta { id: "transient-share", kind: Kind::Event, severity: Severity::High, mitre: &["T1537"] }
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut findings = Vec::new();
        for e in ctx.events.iter() {
            let Some((scope, grants)) = ctx.untrusted_grants(e).filter(|(_, g)| !g.is_empty()) else { continue };
            // Judged only where the scope listed completely this scan.
            if !ctx.coverage_of(&scope).is_some_and(|c| c.is_complete()) || !ctx.judges(&scope, e) {
                continue;
            }
            let Some(id) = e.resources.iter().find(|r| ctx.listed_or_known(&scope, r).is_some()) else { continue };
            // Compared with a list read after the event, or not at all.
            let read_after = |s| ctx.list_read_at(s).zip(e.time()).is_some_and(|(read, at)| at < read);
            if ctx.listed(&scope, id).is_some_and(|s| !read_after(s)) {
                continue;
            }
            for (label, grantee) in grants {
                let still_shared = ctx.listed(&scope, id).is_some_and(|s| s.grantees.contains(&grantee));
                if still_shared || ctx.removal_seen(&scope, id, &grantee) {
                    continue;
                }
                let who = e.actor.principal.as_deref().unwrap_or("an unknown caller");
                let mut f = raise(
                    self,
                    &scope,
                    format!("{id} -> {label} at {}", e.actor.event_time),
                    format!(
                        "shared with {} at {} by {who}, and no longer shared at this scan: a copy may have been made in between",
                        grantee.describe(),
                        e.actor.event_time
                    ),
                );
                f.snapshot_id = Some(id.clone());
                f.grantees = vec![label.to_owned()];
                f.score = 3;
                f.actor = Some(e.actor.clone());
                findings.push(f);
            }
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AuditEvent, Coverage, Grantee};
    use crate::rules::test_support::{Fixture, audit_event, snapshot};

    fn share_event(id: &str, added: &str) -> AuditEvent {
        AuditEvent { added: vec![added.into()], ..audit_event("ModifySnapshotAttribute", id, "2026-11-24T11:00:00Z") }
    }

    #[test]
    fn a_share_gone_by_the_scan_is_found_and_one_still_there_or_trusted_is_not() {
        let mut fx = Fixture::with(vec![
            snapshot("unshared", vec![]),
            snapshot("still", vec![Grantee::Account("999999999999".into())]),
            snapshot("trusted", vec![]),
        ]);
        fx.coverage = vec![Coverage::complete(fx.snapshots[0].scope.clone())];
        fx.policy.trusted_accounts.insert("222222222222".into());
        fx.events = vec![
            share_event("unshared", "999999999999"),
            share_event("still", "999999999999"),
            share_event("trusted", "222222222222"),
        ];
        let f = TransientShare.evaluate(&fx.ctx());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].snapshot_id.as_deref(), Some("unshared"));
        assert_eq!(
            f[0].actor.as_ref().and_then(|a| a.principal.as_deref()),
            Some("arn:aws:iam::111111111111:user/mallory")
        );

        // A scope that did not list completely is not judged.
        fx.coverage = vec![Coverage::failed(fx.snapshots[0].scope.clone(), "AccessDenied", "denied")];
        assert!(TransientShare.evaluate(&fx.ctx()).is_empty());
    }

    /// Regression (issue 27, part 2.5): a full sweep reported live shares
    /// as transient when the event came after the snapshot's list was read.
    /// Events from this scan's start on are the next scan's; a list carried
    /// by an incremental scan is compared only with events before its read;
    /// events before the scope's previous listing (less the overlap) were
    /// the earlier scans'.
    #[test]
    fn only_events_before_the_list_was_read_and_since_the_last_listing_are_judged() {
        let mut fx = Fixture::with(vec![snapshot("snap-1", vec![])]);
        let scope = fx.snapshots[0].scope.clone();
        fx.coverage = vec![Coverage::complete(scope.clone())];
        let at = |t: &str| AuditEvent {
            added: vec!["999999999999".into()],
            ..audit_event("ModifySnapshotAttribute", "snap-1", t)
        };
        fx.events = vec![at("2026-11-24T12:10:00Z")];
        assert!(TransientShare.evaluate(&fx.ctx()).is_empty(), "after the scan began: the next scan's");
        fx.events = vec![at("2026-11-24T11:00:00Z")];
        assert_eq!(TransientShare.evaluate(&fx.ctx()).len(), 1);

        // Carried from a read at 10:00 (incremental): an event at 11:00 is
        // after that read, so the carried list cannot say it came and went.
        fx.coverage[0].verification = Some(crate::model::Verification::Incremental);
        let read = fx.previous.shares_read.entry(scope.clone()).or_default();
        read.all_at = Some("2026-11-24T10:00:00Z".parse().unwrap());
        assert!(TransientShare.evaluate(&fx.ctx()).is_empty(), "compared with a list read before it");
        fx.coverage[0].shares_read = vec!["snap-1".into()];
        assert_eq!(TransientShare.evaluate(&fx.ctx()).len(), 1, "read again this scan");

        // The scope's previous listing began at 11:00: with the default
        // overlap of 2 hours, the window opens at 09:00.
        fx.events = vec![at("2026-11-24T09:00:00Z")];
        fx.previous.shares_read.get_mut(&scope).unwrap().listed_at = Some("2026-11-24T11:00:00Z".parse().unwrap());
        assert_eq!(TransientShare.evaluate(&fx.ctx()).len(), 1, "inside the window");
        fx.previous.shares_read.get_mut(&scope).unwrap().listed_at = Some("2026-11-24T11:00:01Z".parse().unwrap());
        assert!(TransientShare.evaluate(&fx.ctx()).is_empty(), "before the window: an earlier scan's");
    }
}
