//! `bulk-deletion`: more than `threshold` snapshots deleted since the
//! previous scan in one scope (destroying backups before or after an
//! attack). Only complete scopes yield deletions, so a fault never fires it.
//! Snapshots created and deleted between two scans (`transient-snapshot`)
//! count.

use std::collections::BTreeMap;

use super::{Block, Context, Kind, Meta, Rule, RuleSettings, raise};
use crate::model::{ChangeKind, Finding, Scope, Severity};

pub struct BulkDeletion;

/// `rules.bulk-deletion` in a policy: `threshold` (default 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Fires above this many deletions in one scope.
    pub threshold: usize,
}

impl RuleSettings for Settings {
    fn read(block: &mut Block<'_>) -> Settings {
        Settings { threshold: block.count("threshold").unwrap_or(5) }
    }
}

impl Rule for BulkDeletion {
    fn meta(&self) -> Meta {
        Meta { id: "bulk-deletion", kind: Kind::Event, severity: Severity::High, mitre: &["T1485", "T1490"] }
    }

    fn quiet_for_backup_tooling(&self) -> bool {
        true
    }

    fn settings(&self, block: &mut Block<'_>) {
        Settings::read(block);
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut deleted: BTreeMap<&Scope, Vec<&str>> = BTreeMap::new();
        for c in ctx.changes.iter().filter(|c| c.kind == ChangeKind::Deleted) {
            let before = ctx.previous.previous(&c.scope, &c.snapshot_id);
            // Retention deletions of backup tooling and allowlisted snapshots
            // are expected work and do not count.
            if ctx.expected(self.id(), &c.scope, before).is_none() {
                deleted.entry(&c.scope).or_default().push(&c.snapshot_id);
            }
        }
        // Snapshots created and deleted between two scans were deleted too.
        for t in ctx.transient() {
            if ctx.expected(self.id(), &t.snapshot.scope, Some(&t.snapshot)).is_none() {
                deleted.entry(&t.snapshot.scope).or_default().push(&t.snapshot.id);
            }
        }
        let threshold = ctx.policy.settings_of::<Settings>(self).threshold;
        deleted
            .into_iter()
            .filter(|(_, ids)| ids.len() > threshold)
            .map(|(scope, ids)| {
                let mut f = raise(
                    self,
                    scope,
                    format!("deletions seen {}", ctx.now),
                    format!("{} snapshots deleted since the previous scan (threshold {threshold})", ids.len()),
                );
                f.score = 2;
                f.related = ids.into_iter().map(str::to_owned).collect();
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Change;
    use crate::rules::test_support::{Fixture, snapshot};

    fn deleting(n: usize, backup_tagged: usize) -> Fixture {
        let mut fx = Fixture::default();
        for i in 0..n {
            let mut s = snapshot(&format!("d{i}"), vec![]);
            if i < backup_tagged {
                s.tags.insert("aws:dlm:lifecycle-policy-id".into(), "p".into());
            }
            fx.previous.established.insert(s.scope.clone());
            fx.changes.push(Change {
                kind: ChangeKind::Deleted,
                scope: s.scope.clone(),
                snapshot_id: s.id.clone(),
                grantee: None,
                details: String::new(),
                actor: None,
            });
            fx.previous.snapshots.entry(s.scope.clone()).or_default().insert(s.id.clone(), s);
        }
        fx
    }

    #[test]
    fn five_deletions_are_quiet_six_fire() {
        assert!(BulkDeletion.evaluate(&deleting(5, 0).ctx()).is_empty());
        let f = BulkDeletion.evaluate(&deleting(6, 0).ctx());
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].severity, f[0].score, f[0].related.len()), (Severity::High, 2, 6));
    }

    #[test]
    fn backup_tooling_retention_does_not_count_unless_the_policy_says_so() {
        assert!(BulkDeletion.evaluate(&deleting(8, 3).ctx()).is_empty(), "5 counted");
        let mut fx = deleting(8, 3);
        fx.policy.quiet_backup_tooling = false;
        assert_eq!(BulkDeletion.evaluate(&fx.ctx()).len(), 1);
    }
}
