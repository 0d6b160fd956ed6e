//! Who made the changes on Azure: the Activity Log (Azure Monitor REST API,
//! "Activity Logs - List": `Microsoft.Insights/eventtypes/management/values`,
//! api-version 2015-04-01), read after the diff for just the subscriptions
//! that changed: snapshot writes, deletions and export (SAS) grants.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::arm::Arm;
use crate::model::{Actor, AuditEvent};

/// The RBAC action the lookups need (in the built-in Reader role).
pub const READ_ACTIVITY: &str = "Microsoft.Insights/eventtypes/values/read";
const API_VERSION: &str = "2015-04-01";

/// The operations that change a snapshot or who may export it.
pub const OPERATIONS: &[&str] = &[
    "Microsoft.Compute/snapshots/write",
    "Microsoft.Compute/snapshots/delete",
    "Microsoft.Compute/snapshots/beginGetAccess/action",
    "Microsoft.Compute/snapshots/endGetAccess/action",
];

/// The ARM client a scan used, kept for the lookups after its diff.
pub struct ActivityLog {
    pub(super) arm: Arm,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Value {
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventData {
    caller: Option<String>,
    event_data_id: Option<String>,
    event_timestamp: Option<String>,
    operation_name: Option<Value>,
    resource_id: Option<String>,
    status: Option<Value>,
    http_request: Option<HttpRequest>,
    #[serde(default)]
    claims: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpRequest {
    client_ip_address: Option<String>,
}

impl ActivityLog {
    /// Successful snapshot operations in each subscription since its start
    /// in `subscriptions`; subscriptions whose log could not be read, with why.
    pub async fn lookup(
        &self,
        subscriptions: &BTreeMap<String, jiff::Timestamp>,
    ) -> (Vec<AuditEvent>, Vec<(String, String)>) {
        let (mut events, mut unread) = (Vec::new(), Vec::new());
        for (subscription, since) in subscriptions {
            let filter = format!("eventTimestamp ge '{since}' and resourceProvider eq 'Microsoft.Compute'");
            let path = format!(
                "/subscriptions/{subscription}/providers/Microsoft.Insights/eventtypes/management/values?api-version={API_VERSION}&$filter={}",
                url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
            );
            let listed = self
                .arm
                .list::<EventData>(READ_ACTIVITY, &path, |page| {
                    events.extend(page.into_iter().filter_map(|e| audit_event(subscription, e)));
                })
                .await;
            if let Err(e) = listed {
                let why = if e.code.contains("Authorization") {
                    format!("denied ({}): grant {READ_ACTIVITY} (the Reader role has it)", e.code)
                } else {
                    format!("unavailable ({})", e.code)
                };
                unread.push((subscription.clone(), why));
            }
        }
        (events, unread)
    }
}

/// One succeeded snapshot operation. Activity Log events carry no
/// location: the region is `*`, and the resource id (lower-cased, as the
/// collector spells snapshot ids) names the snapshot.
fn audit_event(subscription: &str, e: EventData) -> Option<AuditEvent> {
    let operation = e.operation_name?.value;
    let succeeded = e.status.as_ref().is_some_and(|s| s.value == "Succeeded");
    if !succeeded || !OPERATIONS.iter().any(|o| o.eq_ignore_ascii_case(&operation)) {
        return None;
    }
    let claim = |key: &str| e.claims.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let resources: Vec<String> = e.resource_id.map(|r| r.to_ascii_lowercase()).into_iter().collect();
    Some(AuditEvent {
        account: subscription.to_owned(),
        region: "*".to_owned(),
        subjects: resources.clone(),
        resources,
        added: Vec::new(),
        removed: Vec::new(),
        error_code: None,
        actor: Actor {
            principal: e.caller,
            // Entra ID's `idtyp` claim: `user` or `app`.
            identity_type: claim("idtyp"),
            invoked_by: None,
            source_ip: e.http_request.and_then(|h| h.client_ip_address),
            user_agent: None,
            event_time: e.event_timestamp?,
            event_id: e.event_data_id?,
            event_name: operation,
        },
    })
}
