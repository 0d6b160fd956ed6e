//! `coverage-gap`: a scope failed to list (a scope that vanished is
//! `scope-missing`; a region not enabled holds nothing), so its snapshots are judged on
//! their last known state and nothing in it is reported deleted.

use super::{Context, Kind, Meta, Rule, raise};
use crate::model::{CoverageStatus, Finding, Severity};

pub struct CoverageGap;

impl Rule for CoverageGap {
    fn meta(&self) -> Meta {
        Meta { id: "coverage-gap", kind: Kind::State, severity: Severity::Medium, mitre: &[] }
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        ctx.coverage
            .iter()
            .filter(|c| c.status == CoverageStatus::Failed)
            .map(|c| {
                let why = match (&c.error_code, &c.error) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    (Some(code), None) => code.clone(),
                    (None, Some(message)) => message.clone(),
                    (None, None) => "unknown error".into(),
                };
                raise(
                    self,
                    &c.scope,
                    "listing",
                    format!(
                        "{} could not be listed ({why}); its last known state stands, no deletion is inferred",
                        c.scope
                    ),
                )
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
    fn one_finding_per_failed_scope_naming_the_error() {
        let mut fx = Fixture::default();
        let scope = snapshot("x", vec![]).scope;
        let mut other = scope.clone();
        other.region = "us-east-1".into();
        fx.coverage = vec![Coverage::complete(scope), Coverage::failed(other, "AccessDenied", "not authorized")];
        let f = CoverageGap.evaluate(&fx.ctx());
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("AccessDenied: not authorized"), "{}", f[0].message);
        assert_eq!((f[0].scope.region.as_str(), f[0].severity), ("us-east-1", Severity::Medium));
    }
}
