//! `unknown-exposure`: a scope listed, but some snapshots' share lists could
//! not be read (a policy or SCP denies the attribute action, or throttling
//! outlasted every retry). Their last known shares are carried forward, so a
//! new public share there would go unseen: that is a gap, not a clean scan.

use super::{Context, Kind, Meta, Rule, raise};
use crate::model::{Finding, Severity};

pub struct UnknownExposure;

impl Rule for UnknownExposure {
    fn meta(&self) -> Meta {
        Meta { id: "unknown-exposure", kind: Kind::State, severity: Severity::Medium, mitre: &[] }
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        ctx.coverage
            .iter()
            .filter(|c| c.is_complete() && !c.unknown_exposure.is_empty())
            .filter_map(|c| {
                let why = c.exposure_error.as_deref()?;
                let mut f = raise(
                    self,
                    &c.scope,
                    "share lists",
                    format!(
                        "who may restore {} snapshot(s) of {} is unknown: {why}; their last known shares stand",
                        c.unknown_exposure.len(),
                        c.scope
                    ),
                );
                f.related = c.unknown_exposure.clone();
                Some(f)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Coverage;
    use crate::rules::test_support::{Fixture, snapshot};

    #[test]
    fn unread_share_lists_with_a_reason_are_a_finding_and_azure_odd_values_are_not() {
        let scope = snapshot("a", vec![]).scope;
        let mut denied = Coverage::complete(scope.clone());
        denied.unknown_exposure = vec!["snap-1".into(), "snap-2".into()];
        denied.exposure_error = Some("ec2:DescribeSnapshotAttribute is denied (UnauthorizedOperation)".into());
        let mut fx = Fixture::with(vec![]);
        fx.coverage = vec![denied.clone()];
        let f = UnknownExposure.evaluate(&fx.ctx());
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].severity, f[0].related.len()), (Severity::Medium, 2));
        assert!(f[0].message.contains("2 snapshot(s)") && f[0].message.contains("ec2:DescribeSnapshotAttribute"));

        let mut odd = denied;
        odd.exposure_error = None;
        fx.coverage = vec![odd];
        assert!(UnknownExposure.evaluate(&fx.ctx()).is_empty(), "Azure's unrecognised values are reported apart");
    }
}
