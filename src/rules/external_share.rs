//! `external-share`: restorable by an account that is neither the owner,
//! trusted, nor (by default) in the organization; on Google Cloud, readable
//! by an IAM member outside the trusted domains and projects.

use super::{Context, Kind, Meta, Rule, raise_on};
use crate::model::{Finding, Grantee, IAM_BINDINGS, Severity};

pub struct ExternalShare;

impl Rule for ExternalShare {
    fn meta(&self) -> Meta {
        Meta { id: "external-share", kind: Kind::State, severity: Severity::High, mitre: &["T1537"] }
    }

    fn judges_exposure(&self) -> bool {
        true
    }

    fn per_snapshot(&self) -> bool {
        true
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut findings = Vec::new();
        for s in ctx.snapshots {
            // Accounts, and (AMI launch permissions) organizations and OUs.
            let external: Vec<&Grantee> = s
                .grantees
                .iter()
                .filter(|g| {
                    matches!(
                        g,
                        Grantee::Account(_)
                            | Grantee::Organization(_)
                            | Grantee::OrganizationalUnit(_)
                            | Grantee::Member(_)
                    ) && !ctx.trusts(&s.scope.account, g)
                })
                .collect();
            if external.is_empty() {
                continue;
            }
            let accounts: Vec<&str> =
                external.iter().filter(|g| matches!(g, Grantee::Account(_))).map(|g| g.label()).collect();
            let mut whom: Vec<String> = Vec::new();
            if !accounts.is_empty() {
                whom.push(format!("account(s) {}", accounts.join(", ")));
            }
            whom.extend(external.iter().filter(|g| !matches!(g, Grantee::Account(_))).map(|g| g.describe()));
            let mut message = format!("{} is shared with untrusted {}", super::subject_noun(s), whom.join(", "));
            // Google Cloud: a conditional grant is still a grant; say what it is.
            if let Some(bindings) = s.attributes.get(IAM_BINDINGS).filter(|b| b.contains(" if ")) {
                message.push_str(&format!(" (IAM bindings, conditions included: {bindings})"));
            }
            let mut f = raise_on(self, s, message);
            f.score = 3;
            f.grantees = external.iter().map(|g| g.label().to_owned()).collect();
            let untrusted: Vec<Grantee> = external.into_iter().cloned().collect();
            f.remedy = super::remedy_on(s, &untrusted);
            findings.push(f);
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::{Fixture, OWN, snapshot};

    #[test]
    fn only_untrusted_accounts_are_external() {
        let mut fx = Fixture::with(vec![snapshot(
            "s",
            vec![
                Grantee::Account(OWN.into()),
                Grantee::Account("222222222222".into()),
                Grantee::Account("333333333333".into()),
                Grantee::Public,
            ],
        )]);
        fx.policy.trusted_accounts.insert("222222222222".into());
        let f = ExternalShare.evaluate(&fx.ctx());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].grantees, vec!["333333333333".to_owned()]);
        assert_eq!((f[0].severity, f[0].score), (Severity::High, 3));
    }

    #[test]
    fn organization_accounts_are_trusted_unless_the_policy_says_otherwise() {
        let mut fx = Fixture::with(vec![snapshot("s", vec![Grantee::Account("444444444444".into())])]);
        fx.organization.insert("444444444444".into());
        assert!(ExternalShare.evaluate(&fx.ctx()).is_empty());
        fx.policy.trust_organization = false;
        assert_eq!(ExternalShare.evaluate(&fx.ctx()).len(), 1);
    }

    #[test]
    fn a_snapshot_shared_only_with_trusted_accounts_is_quiet() {
        let mut fx = Fixture::with(vec![snapshot("s", vec![Grantee::Account("222222222222".into())])]);
        fx.policy.trusted_accounts.insert("222222222222".into());
        assert!(ExternalShare.evaluate(&fx.ctx()).is_empty());
    }
}
