//! Known backup tooling, recognised by the markers it leaves. Its routine
//! snapshots and retention deletions are not alerts (`quiet_backup_tooling`,
//! on by default, for the rules that say
//! [`Rule::quiet_for_backup_tooling`](super::Rule::quiet_for_backup_tooling));
//! its shares are judged like any other.

use crate::model::{Actor, Snapshot};

/// The tool that made `snapshot`, if its markers say so.
pub fn recognise(snapshot: &Snapshot) -> Option<&'static str> {
    // AWS Backup tags every recovery point it creates with its source.
    if snapshot.tags.contains_key("aws:backup:source-resource") || snapshot.kind.as_deref() == Some("awsbackup") {
        return Some("AWS Backup");
    }
    if snapshot.tags.contains_key("aws:dlm:lifecycle-policy-id") {
        return Some("Data Lifecycle Manager");
    }
    if snapshot.kind.as_deref() == Some("automated") {
        return Some("RDS automated backup");
    }
    // Azure Backup names the disk snapshots it takes `AzureBackup_<disk>_...`.
    if snapshot.attributes.get("name").is_some_and(|n| n.starts_with("AzureBackup_")) {
        return Some("Azure Backup");
    }
    None
}

/// The tool that made a change, if the audit log's caller says so: the
/// service that called (`invokedBy`), or the service-linked role it acts as.
pub fn recognise_caller(actor: &Actor) -> Option<&'static str> {
    let by = actor.invoked_by.as_deref().unwrap_or_default();
    let principal = actor.principal.as_deref().unwrap_or_default();
    if by == "backup.amazonaws.com" || principal.contains("/AWSServiceRoleForBackup") {
        return Some("AWS Backup");
    }
    if by == "dlm.amazonaws.com" || principal.contains("/AWSDataLifecycleManager") {
        return Some("Data Lifecycle Manager");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::snapshot;

    #[test]
    fn markers_of_each_tool() {
        let mut s = snapshot("a", vec![]);
        assert_eq!(recognise(&s), None);
        s.tags.insert("aws:dlm:lifecycle-policy-id".into(), "policy-1".into());
        assert_eq!(recognise(&s), Some("Data Lifecycle Manager"));
        s.tags.insert("aws:backup:source-resource".into(), "arn:aws:ec2:...:volume/vol-1".into());
        assert_eq!(recognise(&s), Some("AWS Backup"));
        let mut rds = snapshot("rds:db-1", vec![]);
        rds.kind = Some("automated".into());
        assert_eq!(recognise(&rds), Some("RDS automated backup"));
        rds.kind = Some("awsbackup".into());
        assert_eq!(recognise(&rds), Some("AWS Backup"));
        rds.kind = Some("manual".into());
        assert_eq!(recognise(&rds), None);
        let mut azure = crate::rules::test_support::azure_snapshot("a", &[("name", "AzureBackup_disk1_2026")]);
        assert_eq!(recognise(&azure), Some("Azure Backup"));
        azure.attributes.insert("name".into(), "manual-copy".into());
        assert_eq!(recognise(&azure), None);
    }

    #[test]
    fn callers_of_each_tool() {
        let actor = |principal: &str, by: Option<&str>| Actor {
            principal: Some(principal.into()),
            identity_type: Some("AssumedRole".into()),
            invoked_by: by.map(str::to_owned),
            source_ip: None,
            user_agent: None,
            event_time: "2026-01-01T00:00:00Z".into(),
            event_id: "e".into(),
            event_name: "CreateSnapshot".into(),
        };
        let backup = actor("arn:aws:sts::1:assumed-role/AWSServiceRoleForBackup/AWSBackup-x", None);
        assert_eq!(recognise_caller(&backup), Some("AWS Backup"));
        assert_eq!(
            recognise_caller(&actor("arn:aws:sts::1:assumed-role/r/s", Some("dlm.amazonaws.com"))),
            Some("Data Lifecycle Manager")
        );
        assert_eq!(recognise_caller(&actor("arn:aws:iam::1:user/mallory", None)), None);
    }
}
