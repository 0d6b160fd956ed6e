//! Who made the changes a scan found: CloudTrail event history
//! (`LookupEvents`: management events of the last 90 days, no trail needed).
//! Read for the accounts, regions and event names that can name a change,
//! paced at CloudTrail's 2 lookups per second per account and region. An
//! incremental scan reads the share events while it lists (`verify.rs`);
//! the lookups after the diff reuse them ([`Trail`]). A lookup that fails is
//! a warning on the coverage, never a failed scan: the changes stand, with
//! no actor.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use futures_util::StreamExt;
use serde_json::Value;

use super::pace::Pacer;
use super::retry::paced;
use super::session::Session;
use super::{Meter, ScopeError};
use crate::model::{Actor, AuditEvent};

/// The IAM action the lookups need.
pub const PERMISSIONS: &[&str] = &["cloudtrail:LookupEvents"];

/// CloudTrail's largest page ("LookupEvents", `MaxResults`: 1-50).
const PAGE_SIZE: i32 = 50;

/// (account, region, event name).
type Place = (String, String, &'static str);

/// What one place's lookup read, and from when.
type Reading = (jiff::Timestamp, Result<Arc<Vec<AuditEvent>>, ScopeError>);

/// One scan's CloudTrail lookups: each (account, region, event name) is read
/// once, by whoever asks first (an incremental listing, or the attribution
/// after the diff), and kept, failures included, for the others.
pub struct Trail {
    pacer: Arc<Pacer>,
    read: Mutex<HashMap<Place, Reading>>,
}

impl Trail {
    pub(super) fn new(pacer: Arc<Pacer>) -> Trail {
        Trail { pacer, read: Mutex::new(HashMap::new()) }
    }

    /// The events named `name` in an account and region since `since`.
    pub async fn events(
        &self,
        client: &aws_sdk_cloudtrail::Client,
        account: &str,
        region: &str,
        name: &'static str,
        since: jiff::Timestamp,
    ) -> Result<Vec<AuditEvent>, ScopeError> {
        let place = (account.to_owned(), region.to_owned(), name);
        let known = self.read.lock().unwrap_or_else(|p| p.into_inner()).get(&place).cloned();
        // A reading from as early or earlier answers; an error stands for the scan.
        if let Some((from, result)) = known
            && (from <= since || result.is_err())
        {
            return result.map(|events| {
                events
                    .iter()
                    .filter(|e| e.actor.event_time.parse::<jiff::Timestamp>().map_or(true, |t| t >= since))
                    .cloned()
                    .collect()
            });
        }
        let result = self.events_named(client, account, region, name, since).await.map(Arc::new);
        self.read.lock().unwrap_or_else(|p| p.into_inner()).insert(place, (since, result.clone()));
        result.map(|events| events.as_ref().clone())
    }

    async fn events_named(
        &self,
        client: &aws_sdk_cloudtrail::Client,
        account: &str,
        region: &str,
        name: &str,
        since: jiff::Timestamp,
    ) -> Result<Vec<AuditEvent>, ScopeError> {
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::EventName)
            .attribute_value(name)
            .build()
            .map_err(|e| ScopeError { code: "RequestNotBuilt".into(), message: e.to_string() })?;
        let start = aws_smithy_types::DateTime::from_secs(since.as_second());
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let send = || {
                client
                    .lookup_events()
                    .lookup_attributes(attribute.clone())
                    .start_time(start)
                    .max_results(PAGE_SIZE)
                    .set_next_token(token.clone())
                    .customize()
                    .config_override(few_retries())
                    .send()
            };
            let page = paced(|| self.pacer.take(account, region, Meter::CloudTrail), "LookupEvents", send).await?;
            for e in page.events() {
                if let Some(event) = e.cloud_trail_event().and_then(|raw| audit_event(account, region, raw)) {
                    let mut event = event;
                    event.resources.extend(e.resources().iter().filter_map(|r| r.resource_name().map(str::to_owned)));
                    events.push(event);
                }
            }
            token = page.next_token().filter(|t| !t.is_empty()).map(str::to_owned);
            if token.is_none() {
                return Ok(events);
            }
        }
    }
}

/// The lookups after a scan's diff: with the caller's and profiles'
/// sessions, and the member roles assumed again, an account at a time.
pub struct Attributor {
    /// The caller's and profiles' sessions, kept from the listing.
    pub(super) sessions: BTreeMap<String, Session>,
    /// Assumes the member role of any other account: lookups are needed
    /// only where a scope was listed, so only where the role was assumed.
    pub(super) reopener: Option<super::accounts::Reopener>,
    pub(super) trail: Arc<Trail>,
    /// (Account, region) places looked up at once, as many as the scan
    /// lists at once: each has its own CloudTrail quota, so an organization's
    /// lookups run side by side (a rescan costs about 1.5 s per place).
    pub(super) concurrency: usize,
}

/// What the lookups found, and where they could not read.
#[derive(Debug, Default)]
pub struct Lookup {
    pub events: Vec<AuditEvent>,
    /// (account, region, why) for each place whose events could not be read.
    pub unread: Vec<(String, String, String)>,
}

impl Attributor {
    /// Events named in `needs` (per account and region) since `since`.
    pub async fn lookup(
        &self,
        needs: &BTreeMap<(String, String), BTreeSet<&'static str>>,
        since: jiff::Timestamp,
    ) -> Lookup {
        // An account's regions together, on one session: a member role is
        // assumed once for all of them. About `concurrency` places at once.
        let mut by_account: BTreeMap<&String, Vec<(&String, &BTreeSet<&'static str>)>> = BTreeMap::new();
        for ((account, region), names) in needs {
            by_account.entry(account).or_default().push((region, names));
        }
        let widest = by_account.values().map(Vec::len).max().unwrap_or(1);
        let accounts_at_once = (self.concurrency / widest).max(1);
        let places: Vec<Result<Vec<AuditEvent>, (String, String, String)>> = futures_util::stream::iter(by_account)
            .map(|(account, places)| async move {
                let session = match (self.sessions.get(account), &self.reopener) {
                    (Some(session), _) => Some(session.clone()),
                    (None, Some(reopener)) => Some(reopener.session(account).await),
                    (None, None) => None,
                };
                let Some(session) = session else {
                    let unread = |(region, _): (&String, _)| {
                        Err((account.clone(), region.clone(), "no session for the account".to_owned()))
                    };
                    return places.into_iter().map(unread).collect();
                };
                let session = &session;
                futures_util::future::join_all(places.into_iter().map(|(region, names)| async move {
                    let client = session.cloudtrail(region);
                    let mut events = Vec::new();
                    for name in names {
                        match self.trail.events(&client, account, region, name, since).await {
                            Ok(found) => events.extend(found),
                            Err(e) => return Err((account.clone(), region.clone(), why_unread(&e))),
                        }
                    }
                    Ok(events)
                }))
                .await
            })
            .buffer_unordered(accounts_at_once)
            .flat_map(futures_util::stream::iter)
            .collect()
            .await;
        let mut lookup = Lookup::default();
        for place in places {
            match place {
                Ok(events) => lookup.events.extend(events),
                Err(unread) => lookup.unread.push(unread),
            }
        }
        lookup
    }
}

/// Two SDK attempts per round: an endpoint without CloudTrail (an
/// emulator) answers 5xx, and attribution must not hold the scan up.
fn few_retries() -> aws_sdk_cloudtrail::config::Builder {
    aws_sdk_cloudtrail::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
}

pub(super) fn why_unread(e: &ScopeError) -> String {
    let denied = e.code.contains("AccessDenied") || e.code.contains("Unauthorized");
    if denied {
        format!("denied ({}): grant cloudtrail:LookupEvents to name who made each change", e.code)
    } else {
        // The full answer is for -v: an endpoint without CloudTrail (an
        // emulator) answers a page of HTML.
        tracing::info!(code = %e.code, "LookupEvents: {}", e.message);
        format!("unavailable ({}): CloudTrail's event history could not be read (-v shows the answer)", e.code)
    }
}

/// One CloudTrail record (the `CloudTrailEvent` JSON of a lookup result):
/// its caller and every resource id its request and response name.
fn audit_event(account: &str, region: &str, raw: &str) -> Option<AuditEvent> {
    let record: Value = serde_json::from_str(raw).ok()?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let identity = &record["userIdentity"];
    let mut resources = Vec::new();
    for part in ["requestParameters", "responseElements"] {
        strings_in(&record[part], &mut resources);
    }
    let mut added = Vec::new();
    added_grantees(&record["requestParameters"], &mut added);
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

/// The grantees a share-modifying request added, as CloudTrail records its
/// parameters: EC2 `createVolumePermission` / `launchPermission`
/// `{"add": {"items": [{"userId"|"group"|"organizationArn"|"organizationalUnitArn": ...}]}}`,
/// RDS `{"attributeName": "restore", "valuesToAdd": [...]}`.
fn added_grantees(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("add", Value::Object(add)) => {
                        for item in add.get("items").and_then(Value::as_array).into_iter().flatten() {
                            for field in ["userId", "group", "organizationArn", "organizationalUnitArn"] {
                                out.extend(item.get(field).and_then(Value::as_str).map(str::to_owned));
                            }
                        }
                    }
                    ("valuesToAdd", Value::Array(values)) => {
                        out.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                    _ => added_grantees(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| added_grantees(i, out)),
        _ => {}
    }
}

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
        assert!(audit_event("1", "r", "not json").is_none());
    }
}
