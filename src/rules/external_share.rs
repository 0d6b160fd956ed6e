//! `external-share`: restorable by an account that is neither the owner nor trusted.

use super::{Context, Rule};
use crate::model::{Finding, Grantee, Severity};

pub struct ExternalShare;

impl Rule for ExternalShare {
    fn id(&self) -> &'static str {
        "external-share"
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut findings = Vec::new();
        for s in ctx.snapshots {
            let external: Vec<String> = s
                .grantees
                .iter()
                .filter_map(|g| match g {
                    Grantee::Account(id) if !ctx.is_trusted(&s.scope.account, id) => Some(id.clone()),
                    _ => None,
                })
                .collect();
            if external.is_empty() {
                continue;
            }
            findings.push(Finding {
                rule: self.id().into(),
                severity: Severity::High,
                scope: s.scope.clone(),
                snapshot_id: s.id.clone(),
                message: format!("snapshot is shared with untrusted account(s) {}", external.join(", ")),
                grantees: external,
            });
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Policy;
    use crate::rules::test_support::{NO_ACCOUNTS, NO_SCOPES, OWN, snapshot};

    #[test]
    fn only_untrusted_accounts_are_external() {
        let snaps = vec![snapshot(
            "s",
            vec![
                Grantee::Account(OWN.into()),
                Grantee::Account("222222222222".into()),
                Grantee::Account("333333333333".into()),
                Grantee::Public,
            ],
        )];
        let mut policy = Policy::default();
        policy.trusted_accounts.insert("222222222222".into());
        let ctx = Context {
            policy: &policy,
            snapshots: &snaps,
            changes: &[],
            coverage: &[],
            new_baselines: &NO_SCOPES,
            organization: &NO_ACCOUNTS,
        };
        let f = ExternalShare.evaluate(&ctx);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].grantees, vec!["333333333333".to_owned()]);
        assert_eq!(f[0].severity, Severity::High);
    }

    #[test]
    fn organization_accounts_are_trusted_unless_the_policy_says_otherwise() {
        let snaps = vec![snapshot("s", vec![Grantee::Account("444444444444".into())])];
        let org = ["444444444444".to_owned()].into_iter().collect();
        let run = |policy: &Policy| {
            let ctx = Context {
                policy,
                snapshots: &snaps,
                changes: &[],
                coverage: &[],
                new_baselines: &NO_SCOPES,
                organization: &org,
            };
            ExternalShare.evaluate(&ctx)
        };
        let mut policy = Policy::default();
        assert!(run(&policy).is_empty());
        policy.trust_organization = false;
        assert_eq!(run(&policy).len(), 1);
    }

    #[test]
    fn a_snapshot_shared_only_with_trusted_accounts_is_quiet() {
        let snaps = vec![snapshot("s", vec![Grantee::Account("222222222222".into())])];
        let mut policy = Policy::default();
        policy.trusted_accounts.insert("222222222222".into());
        let ctx = Context {
            policy: &policy,
            snapshots: &snaps,
            changes: &[],
            coverage: &[],
            new_baselines: &NO_SCOPES,
            organization: &NO_ACCOUNTS,
        };
        assert!(ExternalShare.evaluate(&ctx).is_empty());
    }
}
