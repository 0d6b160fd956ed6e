//! Marks findings about expected work as `suppressed`, with the reason:
//! they stay in the baseline and in `--show-suppressed` output, and never
//! alert or fail a scan.

use super::Context;
use crate::model::{Finding, Status};

pub fn apply(ctx: &Context<'_>, findings: &mut [Finding]) {
    for f in findings.iter_mut() {
        // A deleted snapshot is found in the previous state.
        let snapshot = f.snapshot_id.as_deref().and_then(|id| ctx.listed_or_known(&f.scope, id));
        if let Some(reason) = ctx.expected(&f.rule, &f.scope, snapshot) {
            f.status = Status::Suppressed;
            f.suppressed_by = Some(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Grantee, Status};
    use crate::rules::test_support::{Fixture, snapshot};
    use crate::rules::{Policy, evaluate};

    #[test]
    fn a_change_tag_suppresses_only_the_rules_it_names_and_backup_tooling_never_hides_a_share() {
        let mut tagged = snapshot("tagged", vec![Grantee::Account("999999999999".into())]);
        tagged.tags.insert("change-ticket".into(), "CHG-7".into());
        let mut backup = snapshot("backup", vec![Grantee::Account("999999999999".into())]);
        backup.tags.insert("aws:backup:source-resource".into(), "vol-1".into());
        let mut fx = Fixture::with(vec![tagged, backup]).added(&["tagged", "backup"]);
        fx.policy = Policy::parse(
            "version: 1\nallow:\n  - reason: change-managed\n    tag: change-ticket\n    rules: [new-snapshot, external-share]\n",
        )
        .unwrap();
        let findings = evaluate(&fx.ctx());
        let status = |rule: &str, id: &str| {
            findings
                .iter()
                .find(|f| f.rule == rule && f.snapshot_id.as_deref() == Some(id))
                .map(|f| f.status)
                .unwrap_or_else(|| panic!("no {rule} on {id}: {findings:#?}"))
        };
        assert_eq!(status("new-snapshot", "tagged"), Status::Suppressed);
        assert_eq!(status("external-share", "tagged"), Status::Suppressed);
        assert_eq!(status("unencrypted-share", "tagged"), Status::New, "not named by the entry");
        assert_eq!(status("new-snapshot", "backup"), Status::Suppressed);
        assert_eq!(status("external-share", "backup"), Status::New, "backup tooling's shares still alert");
        let reason = findings.iter().find(|f| f.rule == "new-snapshot" && f.subject == "tagged").unwrap();
        assert!(reason.suppressed_by.as_deref().unwrap().starts_with("change-managed ["), "{reason:?}");
    }
}
