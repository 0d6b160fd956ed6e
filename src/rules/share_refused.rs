//! `share-refused`: an attempt to share a snapshot or AMI publicly or with
//! an untrusted account that AWS refused (CloudTrail records the call with
//! its `errorCode`: block public access, an SCP, a missing permission).
//! Nothing was exposed, so it is low; but someone tried (T1537), and the
//! finding names who, when, and why it failed.

use super::{Context, Kind, Meta, Rule, raise};
use crate::model::{Finding, Severity};

pub struct ShareRefused;

impl Rule for ShareRefused {
    fn meta(&self) -> Meta {
        Meta { id: "share-refused", kind: Kind::Event, severity: Severity::Low, mitre: &["T1537"] }
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut findings = Vec::new();
        for e in ctx.events.iter().filter(|e| !e.succeeded()) {
            let Some((scope, grants)) = ctx.untrusted_grants(e).filter(|(_, g)| !g.is_empty()) else { continue };
            if !ctx.in_window(&scope, e) {
                continue;
            }
            let known = e.subjects.iter().find(|id| ctx.listed_or_known(&scope, id).is_some());
            let Some(id) = known.or(e.subjects.first()) else { continue };
            let code = e.error_code.as_deref().unwrap_or_default();
            for (label, grantee) in grants {
                let who = e.actor.principal.as_deref().unwrap_or("an unknown caller");
                let mut f = raise(
                    self,
                    &scope,
                    format!("{id} -> {label} at {} refused", e.actor.event_time),
                    format!(
                        "{who} tried to share it with {} at {}; AWS refused ({code}), so nothing was shared",
                        grantee.describe(),
                        e.actor.event_time
                    ),
                );
                f.snapshot_id = Some(id.clone());
                f.grantees = vec![label.to_owned()];
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
    use crate::model::{AuditEvent, Coverage};
    use crate::rules::test_support::{Fixture, audit_event, snapshot};
    use crate::rules::transient_share::TransientShare;

    fn refused(id: &str, added: &str, code: &str) -> AuditEvent {
        AuditEvent {
            added: vec![added.into()],
            error_code: Some(code.into()),
            ..audit_event("ModifySnapshotAttribute", id, "2026-11-24T11:00:00Z")
        }
    }

    /// Regression (issue 27, part 2.2): a refused `ModifySnapshotAttribute`
    /// raised a high `transient-share`; it is a low `share-refused`.
    #[test]
    fn a_refused_share_is_low_and_never_a_transient_share() {
        let mut fx = Fixture::with(vec![snapshot("snap-1", vec![])]);
        fx.coverage = vec![Coverage::complete(fx.snapshots[0].scope.clone())];
        fx.policy.trusted_accounts.insert("222222222222".into());
        fx.events = vec![
            refused("snap-1", "all", "OperationNotPermitted"),
            refused("snap-1", "222222222222", "UnauthorizedOperation"),
        ];
        assert!(TransientShare.evaluate(&fx.ctx()).is_empty(), "a refused call shared nothing");
        let f = ShareRefused.evaluate(&fx.ctx());
        assert_eq!(f.len(), 1, "the trusted account's attempt is no finding: {f:?}");
        assert_eq!((f[0].severity, f[0].grantees.as_slice()), (Severity::Low, ["all".to_owned()].as_slice()));
        assert!(f[0].message.contains("OperationNotPermitted") && f[0].message.contains("mallory"), "{}", f[0].message);
        // A call that went through is not this rule's.
        fx.events[0].error_code = None;
        assert!(ShareRefused.evaluate(&fx.ctx()).is_empty());
    }
}
