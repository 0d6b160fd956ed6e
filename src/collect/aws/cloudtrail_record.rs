//! One CloudTrail record, read as AWS writes it ("CloudTrail record
//! contents"): its caller, the ids it names, the grantees it added or
//! removed (nested, legacy flat and RDS request forms), and its `errorCode`
//! when the call was refused. Pure.

use serde_json::Value;

use crate::model::{Actor, AuditEvent};

/// One CloudTrail record (the `CloudTrailEvent` JSON of a lookup result):
/// its caller and every resource id its request and response name.
pub(super) fn audit_event(account: &str, region: &str, raw: &str) -> Option<AuditEvent> {
    let record: Value = serde_json::from_str(raw).ok()?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let identity = &record["userIdentity"];
    let mut resources = Vec::new();
    for part in ["requestParameters", "responseElements"] {
        strings_in(&record[part], &mut resources);
    }
    // `StartExportTask` names its snapshot by ARN (`sourceArn`): the
    // snapshot's identifier is the ARN's last part.
    let names: Vec<String> =
        resources.iter().filter_map(|r| super::rds::rds_arn(r)).map(|(_, _, name)| name.to_owned()).collect();
    resources.extend(names);
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    grantees_in(&record["requestParameters"], &mut added, &mut removed);
    let mut subjects = Vec::new();
    for part in ["requestParameters", "responseElements"] {
        ids_in(&record[part], &mut subjects);
    }
    subjects.sort();
    subjects.dedup();
    Some(AuditEvent {
        account: account.to_owned(),
        region: region.to_owned(),
        resources,
        subjects,
        added,
        removed,
        error_code: text(&record["errorCode"]),
        actor: Actor {
            principal: text(&identity["arn"]),
            identity_type: text(&identity["type"]),
            invoked_by: text(&identity["invokedBy"]),
            source_ip: text(&record["sourceIPAddress"]),
            user_agent: text(&record["userAgent"]),
            event_time: text(&record["eventTime"])?,
            event_id: text(&record["eventID"])?,
            event_name: text(&record["eventName"])?,
        },
    })
}

/// The grantees a share-modifying request added and removed, as CloudTrail
/// records its parameters. Three shapes (EC2 API Reference:
/// ModifySnapshotAttribute, ModifyImageAttribute; RDS API Reference:
/// ModifyDBSnapshotAttribute):
/// - nested: `createVolumePermission` / `launchPermission`
///   `{"add"|"remove": {"items": [{"userId"|"group"|"organizationArn"|"organizationalUnitArn": ...}]}}`;
/// - legacy flat (the `OperationType` / `UserId.N` / `UserGroup.N` request
///   form, as older SDKs and `aws ec2 ... --operation-type add --user-ids`
///   send it): `"operationType": "add"` beside `userIds` / `groupNames` /
///   `userGroups` holding the grantees (items or plain strings);
/// - RDS: `{"attributeName": "restore", "valuesToAdd": [...], "valuesToRemove": [...]}`.
fn grantees_in(v: &Value, added: &mut Vec<String>, removed: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            let operation = map.get("operationType").and_then(Value::as_str).map(str::to_ascii_lowercase);
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("add" | "remove", Value::Object(list)) => {
                        let out = if key == "add" { &mut *added } else { &mut *removed };
                        for item in list.get("items").and_then(Value::as_array).into_iter().flatten() {
                            for field in ["userId", "group", "organizationArn", "organizationalUnitArn"] {
                                out.extend(item.get(field).and_then(Value::as_str).map(str::to_owned));
                            }
                        }
                    }
                    ("valuesToAdd", Value::Array(values)) => {
                        added.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                    ("valuesToRemove", Value::Array(values)) => {
                        removed.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                    (field, value) if operation.is_some() && LEGACY_GRANTEE_FIELDS.contains(&field) => {
                        let out = if operation.as_deref() == Some("remove") { &mut *removed } else { &mut *added };
                        strings_in(value, out);
                    }
                    _ => grantees_in(value, added, removed),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| grantees_in(i, added, removed)),
        _ => {}
    }
}

/// Where the legacy flat form puts its grantees, beside `operationType`.
const LEGACY_GRANTEE_FIELDS: &[&str] =
    &["userIds", "userId", "groupNames", "groupName", "userGroups", "userGroup", "groups", "group"];

/// The fields naming the snapshot or image an event is about, as
/// CloudTrail records EC2 and RDS parameters (lower camel case of the API's
/// names): `CreateSnapshot` answers `snapshotId`, `CopyDBSnapshot` asks for
/// `targetDBSnapshotIdentifier`, `DeleteDBClusterSnapshot` names
/// `dBClusterSnapshotIdentifier`. Source ids (`sourceSnapshotId`) are not
/// the event's subject.
const ID_FIELDS: &[&str] = &[
    "snapshotid",
    "imageid",
    "dbsnapshotidentifier",
    "dbclustersnapshotidentifier",
    "targetdbsnapshotidentifier",
    "targetdbclustersnapshotidentifier",
];

/// The string values of [`ID_FIELDS`] anywhere under `v` (field names
/// compared without case).
fn ids_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(id) if ID_FIELDS.contains(&key.to_ascii_lowercase().as_str()) => out.push(id.clone()),
                    _ => ids_in(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| ids_in(i, out)),
        _ => {}
    }
}

/// Every string value under `v` (snapshot ids, image ids, RDS identifiers
/// sit at different depths in different events).
fn strings_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings_in(i, out)),
        Value::Object(map) => map.values().for_each(|i| strings_in(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cloudtrail_record_gives_its_caller_and_the_ids_it_names() {
        let raw = r#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111111111111:assumed-role/ops/alice","invokedBy":"backup.amazonaws.com"},
            "eventTime":"2026-12-02T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"ModifySnapshotAttribute",
            "sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15",
            "requestParameters":{"snapshotId":"snap-0123","createVolumePermission":{"add":{"items":[{"userId":"999999999999"}]}},"attributeType":"CREATE_VOLUME_PERMISSION"},
            "responseElements":{"_return":true},"eventID":"e-1"}"#;
        let e = audit_event("111111111111", "eu-west-1", raw).unwrap();
        assert_eq!(e.actor.principal.as_deref(), Some("arn:aws:sts::111111111111:assumed-role/ops/alice"));
        assert_eq!(e.actor.invoked_by.as_deref(), Some("backup.amazonaws.com"));
        assert_eq!((e.actor.event_name.as_str(), e.actor.event_id.as_str()), ("ModifySnapshotAttribute", "e-1"));
        assert!(e.resources.contains(&"snap-0123".to_owned()) && e.resources.contains(&"999999999999".to_owned()));
        assert_eq!(e.added, ["999999999999"]);
        assert_eq!(e.subjects, ["snap-0123"], "the grantee is no subject");
        let copy = r#"{"userIdentity":{"arn":"a"},"eventTime":"t","eventName":"CopyDBSnapshot","eventID":"e",
            "requestParameters":{"sourceDBSnapshotIdentifier":"orders","targetDBSnapshotIdentifier":"orders-copy"},
            "responseElements":{"dBSnapshot":{"dBSnapshotIdentifier":"orders-copy","engine":"postgres"}}}"#;
        assert_eq!(audit_event("1", "r", copy).unwrap().subjects, ["orders-copy"]);
        let rds = r#"{"userIdentity":{"arn":"a"},"eventTime":"t","eventName":"ModifyDBSnapshotAttribute","eventID":"e",
            "requestParameters":{"dBSnapshotIdentifier":"orders","attributeName":"restore","valuesToAdd":["all"],"valuesToRemove":["1"]}}"#;
        assert_eq!(audit_event("1", "r", rds).unwrap().added, ["all"]);
        let export = r#"{"userIdentity":{"arn":"a"},"eventTime":"t","eventName":"StartExportTask","eventID":"e",
            "requestParameters":{"exportTaskIdentifier":"loot","sourceArn":"arn:aws:rds:us-east-1:1:snapshot:rds:orders-2026","s3BucketName":"b"}}"#;
        assert!(audit_event("1", "r", export).unwrap().resources.contains(&"rds:orders-2026".to_owned()));
        assert!(audit_event("1", "r", "not json").is_none());
    }

    /// Regression (issue 27, part 2.2 and 2.6): refused calls carry their
    /// `errorCode`; removals are read beside additions; the legacy flat
    /// request form (`operationType` with `userIds` / `groupNames` items)
    /// names its grantees as the nested one does.
    #[test]
    fn refusals_removals_and_the_legacy_form_are_read() {
        let refused = r#"{"userIdentity":{"arn":"a"},"eventTime":"t","eventName":"ModifySnapshotAttribute","eventID":"e",
            "errorCode":"Client.OperationNotPermitted","errorMessage":"blocked by block public access",
            "requestParameters":{"snapshotId":"snap-1","createVolumePermission":{"add":{"items":[{"group":"all"}]}}},
            "responseElements":null}"#;
        let e = audit_event("1", "r", refused).unwrap();
        assert_eq!(e.error_code.as_deref(), Some("Client.OperationNotPermitted"));
        assert!(!e.succeeded());
        assert_eq!(e.added, ["all"]);

        let removal = r#"{"userIdentity":{"arn":"a"},"eventTime":"t","eventName":"ModifyImageAttribute","eventID":"e",
            "requestParameters":{"imageId":"ami-1","launchPermission":{"remove":{"items":[{"userId":"888888888888"}]}}}}"#;
        let e = audit_event("1", "r", removal).unwrap();
        assert!(e.succeeded() && e.added.is_empty());
        assert_eq!(e.removed, ["888888888888"]);

        let legacy_add = r#"{"userIdentity":{"arn":"a"},"eventTime":"t","eventName":"ModifySnapshotAttribute","eventID":"e",
            "requestParameters":{"snapshotId":"snap-1","attributeType":"CREATE_VOLUME_PERMISSION","operationType":"add",
            "userIds":{"items":[{"userId":"999999999999"}]},"groupNames":{"items":[{"groupName":"all"}]}}}"#;
        let mut e = audit_event("1", "r", legacy_add).unwrap();
        e.added.sort();
        assert_eq!(
            (e.added.as_slice(), e.removed.len()),
            (["999999999999".to_owned(), "all".to_owned()].as_slice(), 0)
        );
        assert_eq!(e.subjects, ["snap-1"]);
        let legacy_remove = r#"{"userIdentity":{"arn":"a"},"eventTime":"t","eventName":"ModifyImageAttribute","eventID":"e",
            "requestParameters":{"imageId":"ami-1","attribute":"launchPermission","operationType":"REMOVE","userIds":["777777777777"]}}"#;
        assert_eq!(audit_event("1", "r", legacy_remove).unwrap().removed, ["777777777777"]);
    }
}
