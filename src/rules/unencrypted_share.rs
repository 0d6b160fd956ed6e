//! `unencrypted-share`: shared or public and not encrypted, so whoever may
//! restore it needs no key grant as well.

use super::{Context, Kind, Meta, Rule, raise_on};
use crate::model::{Finding, Grantee, Severity};

pub struct UnencryptedShare;

impl Rule for UnencryptedShare {
    fn meta(&self) -> Meta {
        Meta { id: "unencrypted-share", kind: Kind::State, severity: Severity::High, mitre: &["T1537"] }
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
            .filter(|s| !s.encrypted)
            .filter_map(|s| {
                // Block-all-sharing makes a public share ineffective.
                let blocked = ctx.blocks_all_sharing(&s.scope);
                let grantees: Vec<&Grantee> = s
                    .grantees
                    .iter()
                    .filter(|g| !g.is_account(&s.scope.account))
                    .filter(|g| !(blocked && **g == Grantee::Public))
                    .collect();
                if grantees.is_empty() {
                    return None;
                }
                let untrusted = grantees.iter().any(|g| !ctx.trusts(&s.scope.account, g));
                let labels: Vec<String> = grantees.iter().map(|g| g.label().to_owned()).collect();
                let message = format!("unencrypted {} is shared with {}", super::subject_noun(s), labels.join(", "));
                let mut f = raise_on(self, s, message);
                f.score = if untrusted { 3 } else { 2 };
                f.grantees = labels;
                // Only the untrusted grantees: a trusted share stays.
                let untrusted: Vec<Grantee> =
                    grantees.into_iter().filter(|g| !ctx.trusts(&s.scope.account, g)).cloned().collect();
                f.remedy = super::remedy_on(s, &untrusted);
                Some(f)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::share_added::shared_with;
    use crate::rules::test_support::{Fixture, OWN, snapshot};

    #[test]
    fn only_shared_unencrypted_snapshots_and_a_trusted_share_scores_lower() {
        let mut encrypted = shared_with(snapshot("enc", vec![]), "999999999999");
        encrypted.encrypted = true;
        let mut fx = Fixture::with(vec![
            encrypted,
            shared_with(snapshot("own-only", vec![]), OWN),
            shared_with(snapshot("partner", vec![]), "222222222222"),
            snapshot("public", vec![Grantee::Public]),
        ]);
        fx.policy.trusted_accounts.insert("222222222222".into());
        let f: Vec<(String, u8)> =
            UnencryptedShare.evaluate(&fx.ctx()).into_iter().map(|f| (f.subject, f.score)).collect();
        assert_eq!(f, vec![("partner".to_owned(), 2), ("public".to_owned(), 3)]);
    }
}
