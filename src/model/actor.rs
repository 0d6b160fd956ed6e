//! Who did it: the caller a cloud's audit log names for a change (AWS
//! CloudTrail), joined to what the live state showed.

use serde::{Deserialize, Serialize};

use super::{ChangeKind, Service};

/// The CloudTrail event that adds grantees to each AWS service's share list
/// (EC2 API Reference: ModifySnapshotAttribute, ModifyImageAttribute; RDS API
/// Reference: ModifyDBSnapshotAttribute, ModifyDBClusterSnapshotAttribute).
const GRANT_EVENTS: &[(Service, &str)] = &[
    (Service::Ebs, "ModifySnapshotAttribute"),
    (Service::Rds, "ModifyDBSnapshotAttribute"),
    (Service::RdsCluster, "ModifyDBClusterSnapshotAttribute"),
    (Service::Ami, "ModifyImageAttribute"),
];

/// The AWS service whose snapshots an event of `name` makes a `kind` of
/// change to (e.g. `CreateDBSnapshot`: RDS, added).
pub fn service_changed_by(name: &str, kind: ChangeKind) -> Option<Service> {
    [Service::Ebs, Service::Rds, Service::RdsCluster, Service::Ami]
        .into_iter()
        .find(|service| event_names(*service, kind).contains(&name))
}

/// The event that grants access to `service`'s snapshots, if AWS has one.
pub fn grant_event(service: Service) -> Option<&'static str> {
    GRANT_EVENTS.iter().find(|(s, _)| *s == service).map(|(_, name)| *name)
}

/// The service whose share list the event `name` grants on.
pub fn granted_service(name: &str) -> Option<Service> {
    GRANT_EVENTS.iter().find(|(_, n)| *n == name).map(|(s, _)| *s)
}

/// The CloudTrail event names that make a `kind` of change to a `service`'s
/// snapshots ("Logging Amazon EC2 / Amazon RDS API calls with AWS CloudTrail").
pub fn event_names(service: Service, kind: ChangeKind) -> &'static [&'static str] {
    use ChangeKind::*;
    match (service, kind) {
        (Service::Ebs, Added) => &["CreateSnapshot", "CreateSnapshots", "CopySnapshot"],
        (Service::Ebs, Deleted) => &["DeleteSnapshot"],
        (Service::Ebs, ShareAdded | ShareRemoved) => &["ModifySnapshotAttribute", "ResetSnapshotAttribute"],
        (Service::Ebs, BlockPublicAccessChanged) => {
            &["EnableSnapshotBlockPublicAccess", "DisableSnapshotBlockPublicAccess"]
        }
        (Service::Rds, Added) => &["CreateDBSnapshot", "CopyDBSnapshot"],
        (Service::Rds, Deleted) => &["DeleteDBSnapshot"],
        (Service::Rds, ShareAdded | ShareRemoved) => &["ModifyDBSnapshotAttribute"],
        // A new S3 export shows as the snapshot's `s3Exports` modified.
        (Service::Rds | Service::RdsCluster, Modified) => &["StartExportTask"],
        (Service::Ami, Modified) => &["CreateStoreImageTask"],
        (Service::RdsCluster, Added) => &["CreateDBClusterSnapshot", "CopyDBClusterSnapshot"],
        (Service::RdsCluster, Deleted) => &["DeleteDBClusterSnapshot"],
        (Service::RdsCluster, ShareAdded | ShareRemoved) => &["ModifyDBClusterSnapshotAttribute"],
        (Service::Ami, Added) => &["CreateImage", "RegisterImage", "CopyImage"],
        (Service::Ami, Deleted) => &["DeregisterImage"],
        (Service::Ami, ShareAdded | ShareRemoved) => &["ModifyImageAttribute", "ResetImageAttribute"],
        (Service::Ami, BlockPublicAccessChanged) => &["EnableImageBlockPublicAccess", "DisableImageBlockPublicAccess"],
        (Service::AzureSnapshot, Added | Modified) => &["Microsoft.Compute/snapshots/write"],
        (Service::AzureSnapshot, Deleted) => &["Microsoft.Compute/snapshots/delete"],
        (Service::AzureSnapshot, ShareAdded | ShareRemoved) => &[
            "Microsoft.Compute/snapshots/beginGetAccess/action",
            "Microsoft.Compute/snapshots/endGetAccess/action",
            "Microsoft.Compute/snapshots/write",
        ],
        _ => &[],
    }
}

/// One caller, as CloudTrail records it (`userIdentity`, `sourceIPAddress`,
/// `userAgent`, `eventTime`, `eventID`: "CloudTrail record contents",
/// AWS CloudTrail User Guide).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `userIdentity.arn` (for an assumed role, the session's ARN).
    pub principal: Option<String>,
    /// `userIdentity.type`: IAMUser, AssumedRole, Root, AWSService, ...
    pub identity_type: Option<String>,
    /// `userIdentity.invokedBy`: the AWS service that called on the
    /// principal's behalf (e.g. `backup.amazonaws.com`).
    pub invoked_by: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// RFC 3339.
    pub event_time: String,
    pub event_id: String,
    pub event_name: String,
}

/// One audit-log event about snapshots in an account and region: its name,
/// the resources it names (snapshot, image ids) and who called.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub account: String,
    pub region: String,
    pub resources: Vec<String>,
    /// The snapshot or image ids the event is about: the values of its
    /// id fields (`snapshotId`, `dBSnapshotIdentifier`, `imageId`, ...), in
    /// its request or response. A creation names the new one, a deletion
    /// the one deleted.
    pub subjects: Vec<String>,
    /// Grantees a share-modifying event added (account ids, `all`, or
    /// organization / OU ARNs), from its request parameters.
    pub added: Vec<String>,
    /// Grantees it removed, likewise (a reset removes every grantee and
    /// names none: [`AuditEvent::resets`]).
    pub removed: Vec<String>,
    /// CloudTrail's `errorCode`: the call was refused (block public access,
    /// an SCP, a missing permission) and changed nothing. CloudTrail records
    /// refused calls too ("CloudTrail record contents": `errorCode`,
    /// `errorMessage`), so such an event names no actor of a change and no
    /// transient share; it is still a reason to re-read a share list.
    pub error_code: Option<String>,
    pub actor: Actor,
}

impl AuditEvent {
    /// The call took effect (no `errorCode`).
    pub fn succeeded(&self) -> bool {
        self.error_code.is_none()
    }

    /// A reset of a share list (`ResetSnapshotAttribute`,
    /// `ResetImageAttribute`): every grantee but the owner removed.
    pub fn resets(&self) -> bool {
        RESET_EVENTS.contains(&self.actor.event_name.as_str())
    }

    /// When the event happened, if its time parses.
    pub fn time(&self) -> Option<jiff::Timestamp> {
        self.actor.event_time.parse().ok()
    }
}

/// The events that empty a share list without naming the grantees (EC2 API
/// Reference: ResetSnapshotAttribute, ResetImageAttribute; RDS has none).
const RESET_EVENTS: &[&str] = &["ResetSnapshotAttribute", "ResetImageAttribute"];
