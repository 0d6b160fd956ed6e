//! Who did it: the caller a cloud's audit log names for a change (AWS
//! CloudTrail), joined to what the live state showed.

use serde::{Deserialize, Serialize};

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
    /// Grantees a share-modifying event added (account ids, `all`, or
    /// organization / OU ARNs), from its request parameters.
    pub added: Vec<String>,
    pub actor: Actor,
}
