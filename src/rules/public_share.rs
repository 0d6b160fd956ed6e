//! `public-share`: anyone may restore the snapshot.

use super::{Context, Kind, Meta, Rule, raise_on};
use crate::model::{Finding, Severity};

pub struct PublicShare;

impl Rule for PublicShare {
    fn meta(&self) -> Meta {
        Meta { id: "public-share", kind: Kind::State, severity: Severity::Critical, mitre: &["T1537"] }
    }

    fn judges_exposure(&self) -> bool {
        true
    }

    fn per_snapshot(&self) -> bool {
        true
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        ctx.snapshots
            .iter()
            .filter(|s| s.is_public())
            .map(|s| {
                // With block-all-sharing the region treats public snapshots as
                // private: still worth fixing, no longer an open door.
                let blocked = ctx.blocks_all_sharing(&s.scope);
                let noun = super::subject_noun(s);
                let message = if blocked {
                    format!("{noun} is shared publicly, but block public access (block-all-sharing) keeps it private in this region")
                } else if s.scope.service == crate::model::Service::Ami {
                    format!("{noun} is public: any account can launch it and read its snapshots")
                } else if let Some((who, _)) = google_public_members(s) {
                    format!("{noun} is public: {who}")
                } else {
                    format!("{noun} is public: any account can restore it")
                };
                let unverified = if s.grantees_known { "" } else { " (share list unreadable this scan; last known state)" };
                let mut f = raise_on(self, s, format!("{message}{unverified}"));
                f.severity = if blocked { Severity::Medium } else { Severity::Critical };
                f.score = 3;
                // Google Cloud names the public member (`allUsers`, `allAuthenticatedUsers`).
                f.grantees = google_public_members(s).map_or_else(|| vec!["all".into()], |(_, members)| members);
                f.remedy = super::remedy_on(s, &[crate::model::Grantee::Public]);
                f
            })
            .collect()
    }
}

/// Google Cloud: who makes it public, with the role and any condition
/// (`allUsers`: anyone, signed in or not; `allAuthenticatedUsers`: any
/// Google account), from its IAM bindings. `None` elsewhere.
fn google_public_members(s: &crate::model::Snapshot) -> Option<(String, Vec<String>)> {
    let text = s.attributes.get(crate::model::IAM_BINDINGS)?;
    let (mut grants, mut named) = (Vec::new(), Vec::new());
    for (role, members, condition) in crate::model::parse_iam_bindings(text) {
        for member in members {
            let reach = match member {
                "allUsers" => "anyone on the internet",
                "allAuthenticatedUsers" => "any Google account",
                _ => continue,
            };
            let condition = condition.map(|c| format!(" if {c}")).unwrap_or_default();
            grants.push(format!("{member} ({reach}) holds {role}{condition}"));
            named.push(member.to_owned());
        }
    }
    named.sort();
    named.dedup();
    (!grants.is_empty()).then(|| (grants.join("; "), named))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Coverage, Grantee};
    use crate::rules::test_support::{Fixture, snapshot};

    fn run(coverage: Vec<Coverage>) -> Vec<Finding> {
        let mut fx = Fixture::with(vec![snapshot("public", vec![Grantee::Public]), snapshot("private", vec![])]);
        fx.coverage = coverage;
        PublicShare.evaluate(&fx.ctx())
    }

    #[test]
    fn public_snapshots_are_critical() {
        let f = run(vec![]);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].snapshot_id.as_deref(), f[0].severity, f[0].score), (Some("public"), Severity::Critical, 3));
        assert_eq!(f[0].mitre, vec!["T1537".to_owned()]);
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
