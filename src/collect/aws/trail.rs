//! CloudTrail's event history (`LookupEvents`: management events of the
//! last 90 days, no trail needed), read once per scan for each (account,
//! region, event name), paced at CloudTrail's 2 lookups per second per
//! account and region. An incremental scan reads the share events while it
//! lists (`verify.rs`); the lookups after the diff (`attribution.rs`) reuse
//! them. Needs no account opener: whoever asks brings the client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};

use super::cloudtrail_record::audit_event;
use super::interceptors::ClockAhead;
use super::pace::Pacer;
use super::retry::paced;
use super::{Meter, ScopeError};
use crate::model::AuditEvent;

/// The IAM action the lookups need.
pub const PERMISSIONS: &[&str] = &["cloudtrail:LookupEvents"];

/// How far back CloudTrail's event history reaches ("Viewing events with
/// CloudTrail Event history": the past 90 days).
pub const CLOUDTRAIL_HISTORY: jiff::SignedDuration = jiff::SignedDuration::from_hours(90 * 24);

/// How far this machine's clock may be ahead of AWS's before the lookups
/// cannot be trusted to start early enough: the `Date` header has whole
/// seconds, and an answer takes a moment to arrive.
pub const CLOCK_TOLERANCE: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

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
    /// How far this clock is ahead of CloudTrail's, from its answers.
    clock: ClockAhead,
}

impl Trail {
    pub(super) fn new(pacer: Arc<Pacer>) -> Trail {
        Trail { pacer, read: Mutex::new(HashMap::new()), clock: ClockAhead::default() }
    }

    /// How far this machine's clock was ahead of AWS's in the lookups so
    /// far (the answers' `Date`), at most.
    pub fn clock_ahead(&self) -> Option<jiff::SignedDuration> {
        self.clock.most()
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
                    .interceptor(self.clock.clone())
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
