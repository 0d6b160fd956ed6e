//! `share-added`: a grantee appeared since the previous scan, on an existing
//! snapshot or on one first seen already shared. Trusted grantees are info.

use super::{Context, Kind, Meta, Rule, raise};
use crate::model::{ChangeKind, Finding, Grantee, Severity};

pub struct ShareAdded;

impl Rule for ShareAdded {
    fn meta(&self) -> Meta {
        Meta { id: "share-added", kind: Kind::Event, severity: Severity::High, mitre: &["T1537", "T1578.001"] }
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut appeared: Vec<(&crate::model::Scope, &str, &Grantee)> = ctx
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::ShareAdded)
            .filter_map(|c| Some((&c.scope, c.snapshot_id.as_str(), c.grantee.as_ref()?)))
            .collect();
        for s in ctx.added() {
            appeared.extend(s.grantees.iter().map(|g| (&s.scope, s.id.as_str(), g)));
        }
        appeared
            .into_iter()
            // Azure exposure has its own state rules; a new one is `new` there.
            .filter(|(scope, _, g)| !g.is_account(&scope.account) && !g.is_azure_exposure())
            .map(|(scope, id, g)| {
                let trusted = ctx.trusts(&scope.account, g);
                let who = match g {
                    Grantee::Public => "everyone (public)".to_owned(),
                    Grantee::Account(a) if trusted => format!("trusted account {a}"),
                    Grantee::Account(a) => format!("untrusted account {a}"),
                    _ => g.describe(),
                };
                let mut f = raise(self, scope, format!("{id} -> {}", g.label()), format!("now restorable by {who}"));
                f.snapshot_id = Some(id.to_owned());
                f.grantees = vec![g.label().to_owned()];
                (f.severity, f.score) = if trusted { (Severity::Info, 1) } else { (Severity::High, 3) };
                // Still granted: remove it (only this grantee).
                let listed = ctx.listed(scope, id).filter(|s| s.grantees.contains(g));
                f.remedy = listed.filter(|_| !trusted).and_then(|s| super::remedy_on(s, std::slice::from_ref(g)));
                f
            })
            .collect()
    }
}

/// Used by tests of other rules to build a shared snapshot.
#[cfg(test)]
pub fn shared_with(mut s: crate::model::Snapshot, account: &str) -> crate::model::Snapshot {
    s.grantees.push(Grantee::Account(account.into()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Change;
    use crate::rules::test_support::{Fixture, OWN, snapshot};

    #[test]
    fn new_grantees_on_old_and_new_snapshots_trusted_ones_as_info() {
        let old = shared_with(snapshot("old", vec![]), "999999999999");
        let new = shared_with(shared_with(snapshot("new", vec![]), "222222222222"), OWN);
        let mut fx = Fixture::with(vec![old.clone(), new]).added(&["new"]);
        fx.policy.trusted_accounts.insert("222222222222".into());
        fx.changes.push(Change {
            kind: ChangeKind::ShareAdded,
            scope: old.scope.clone(),
            snapshot_id: "old".into(),
            grantee: Some(Grantee::Account("999999999999".into())),
            details: String::new(),
            actor: None,
        });
        let mut f: Vec<(String, Severity, u8)> =
            ShareAdded.evaluate(&fx.ctx()).into_iter().map(|f| (f.subject, f.severity, f.score)).collect();
        f.sort();
        assert_eq!(
            f,
            vec![
                ("new -> 222222222222".to_owned(), Severity::Info, 1),
                ("old -> 999999999999".to_owned(), Severity::High, 3)
            ]
        );
    }
}
