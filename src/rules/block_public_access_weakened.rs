//! `block-public-access-weakened`: a region's EBS snapshot (or AMI) block
//! public access went from `block-all-sharing` to `block-new-sharing` or
//! `unblocked` (or from `block-new-sharing` to `unblocked`). No snapshot
//! changed, yet every snapshot with a public share there is public again
//! (with `block-all-sharing` AWS treats them as private: "Block public
//! access for snapshots", Amazon EBS User Guide).

use super::{Context, Kind, Meta, Rule, raise};
use crate::model::{ChangeKind, Finding, Scope, Service, Severity};

/// Which setting a scope's state is: images have their own (AMIs: only
/// `block-new-sharing` or `unblocked`, "Block public access to your AMIs").
fn setting_of(scope: &Scope) -> &'static str {
    if scope.service == Service::Ami { "AMI" } else { "EBS snapshot" }
}

pub struct BlockPublicAccessWeakened;

/// How much a state blocks: all sharing > new sharing > nothing.
fn strength(state: &str) -> u8 {
    match state {
        "block-all-sharing" => 2,
        "block-new-sharing" => 1,
        _ => 0,
    }
}

impl Rule for BlockPublicAccessWeakened {
    fn meta(&self) -> Meta {
        Meta { id: "block-public-access-weakened", kind: Kind::Event, severity: Severity::High, mitre: &["T1537"] }
    }

    fn judges_exposure(&self) -> bool {
        true
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        ctx.changes
            .iter()
            .filter(|c| c.kind == ChangeKind::BlockPublicAccessChanged)
            .filter_map(|c| {
                let (before, now) = c.details.split_once(" -> ")?;
                if strength(now) >= strength(before) {
                    return None;
                }
                // Only block-all-sharing hid existing public shares.
                let exposed: Vec<String> = if before == "block-all-sharing" {
                    ctx.snapshots.iter().filter(|s| s.scope == c.scope && s.is_public()).map(|s| s.id.clone()).collect()
                } else {
                    Vec::new()
                };
                let what = if exposed.is_empty() {
                    "new public shares are no longer blocked".to_owned()
                } else {
                    format!("{} snapshot(s) with a public share are public again", exposed.len())
                };
                let mut f = raise(
                    self,
                    &c.scope,
                    format!("{before} -> {now} seen {}", ctx.now),
                    format!("{} block public access went from {before} to {now}: {what}", setting_of(&c.scope)),
                );
                f.score = 3;
                f.related = exposed;
                f.remedy = crate::model::Remedy::block_public_sharing(&c.scope);
                Some(f)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Change, Grantee};
    use crate::rules::test_support::{Fixture, snapshot};

    fn changed(before: &str, now: &str) -> Vec<Finding> {
        let public = snapshot("snap-public", vec![Grantee::Public]);
        let private = snapshot("snap-private", vec![]);
        let mut fx = Fixture::with(vec![public.clone(), private]);
        fx.changes.push(Change {
            kind: ChangeKind::BlockPublicAccessChanged,
            scope: public.scope.clone(),
            snapshot_id: String::new(),
            grantee: None,
            details: format!("{before} -> {now}"),
            actor: None,
        });
        BlockPublicAccessWeakened.evaluate(&fx.ctx())
    }

    #[test]
    fn a_weakening_names_the_snapshots_it_exposes_again_and_a_strengthening_is_quiet() {
        let f = changed("block-all-sharing", "unblocked");
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].severity, f[0].related.clone()), (Severity::High, vec!["snap-public".to_owned()]));
        assert!(f[0].message.contains("1 snapshot(s) with a public share are public again"), "{}", f[0].message);
        let f = changed("block-new-sharing", "unblocked");
        assert!(f[0].related.is_empty() && f[0].message.contains("no longer blocked"), "{f:?}");
        assert!(changed("unblocked", "block-all-sharing").is_empty());
        assert!(changed("block-new-sharing", "block-all-sharing").is_empty());
    }
}
