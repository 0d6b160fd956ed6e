//! `snapshot-exported`: an RDS DB or cluster snapshot was exported to Amazon
//! S3 (`StartExportTask`), or an AMI stored there (`CreateStoreImageTask`,
//! its snapshots decrypted into the object): the data sits in a bucket,
//! possibly another account's, with no share on the snapshot (T1537). High unless the bucket
//! is in the policy's `trusted_export_buckets` (then info, for the record).
//! A state rule: raised while RDS lists the export task (it keeps ended
//! ones), so the first scan reports the exports already made.

use super::{Context, Kind, Meta, Rule, raise_on};
use crate::model::{Finding, Severity};

pub struct SnapshotExported;

impl Rule for SnapshotExported {
    fn meta(&self) -> Meta {
        Meta { id: "snapshot-exported", kind: Kind::State, severity: Severity::High, mitre: &["T1537"] }
    }

    fn per_snapshot(&self) -> bool {
        true
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut findings = Vec::new();
        for s in ctx.snapshots {
            for (task, place, bucket) in s.s3_exports() {
                let trusted = ctx.policy.trusted_export_buckets.contains(bucket);
                let whose = if trusted { "a trusted bucket" } else { "a bucket not in trusted_export_buckets" };
                let how = if task == "store" { "stored to".to_owned() } else { format!("exported (task {task}) to") };
                let message = format!(
                    "{} was {how} {place} ({whose}): its data is readable there by whoever the bucket allows",
                    super::subject_noun(s)
                );
                let mut f = raise_on(self, s, message);
                f.subject = format!("{} -> {place} ({task})", s.id);
                f.grantees = vec![place.to_owned()];
                (f.severity, f.score) = if trusted { (Severity::Info, 1) } else { (Severity::High, 3) };
                findings.push(f);
            }
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{S3_EXPORTS, Scope, Service};
    use crate::rules::test_support::{Fixture, snapshot};

    #[test]
    fn an_export_to_an_untrusted_bucket_is_high_and_to_a_trusted_one_info() {
        let mut s = snapshot("orders-manual", vec![]);
        s.scope = Scope { service: Service::Rds, ..s.scope };
        s.attributes.insert(S3_EXPORTS.into(), "loot s3://attacker-bucket/dump, nightly s3://backup-bucket".into());
        let mut fx = Fixture::with(vec![s, snapshot("no-export", vec![])]);
        fx.policy.trusted_export_buckets.insert("backup-bucket".into());
        let mut found = SnapshotExported.evaluate(&fx.ctx());
        found.sort_by(|a, b| a.subject.cmp(&b.subject));
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].subject, "orders-manual -> s3://attacker-bucket/dump (loot)");
        assert_eq!(
            (found[0].severity, found[0].grantees.as_slice()),
            (Severity::High, ["s3://attacker-bucket/dump".to_owned()].as_slice())
        );
        assert_eq!(found[1].severity, Severity::Info);
        assert!(found[0].message.contains("not in trusted_export_buckets"), "{}", found[0].message);
    }
}
