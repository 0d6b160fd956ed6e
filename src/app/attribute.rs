//! Who made the changes: after a first (pure) analysis, the audit logs are
//! read for what can be attributed (AWS CloudTrail, the Azure Activity Log),
//! then the analysis runs again with their events. A log that cannot be read
//! is a warning on its coverage rows, never a failed scan.

use super::analyse::Analysis;
use crate::collect::aws::CLOUDTRAIL_HISTORY;
use crate::log;
use crate::model::{AuditEvent, Baseline, Change, Collected, Provider};
use crate::rules::Policy;
use crate::store::attribution;

/// The clients a scan used, kept to read the audit logs after its diff.
pub(super) struct AuditLogs {
    pub cloudtrail: Option<crate::collect::aws::Attributor>,
    pub activity: Option<crate::collect::azure::ActivityLog>,
}

/// What the logs said, and where they could not be read: (provider,
/// account, region or `*`, why).
pub(super) struct Read {
    events: Vec<AuditEvent>,
    unread: Vec<(Provider, String, String, String)>,
}

/// Each place's log is read from the earliest last complete listing of its
/// scopes, less the policy's `cloudtrail_overlap` (`previous`, the newest
/// scan, where none has one), never the newest scan of the database alone:
/// a run of another region or provider in between must not hide a share
/// added and removed before it.
pub(super) async fn read(
    logs: &AuditLogs,
    analysis: &Analysis,
    baseline: &Baseline,
    policy: &Policy,
    previous: jiff::Timestamp,
    now: jiff::Timestamp,
) -> Read {
    let mut read = Read { events: Vec::new(), unread: Vec::new() };
    let overlap = policy.cloudtrail_overlap;
    if let Some(cloudtrail) = &logs.cloudtrail {
        let transient = policy.is_enabled("transient-snapshot");
        let needs =
            attribution::needs(&analysis.changes, &analysis.collected.coverage, &baseline.established, transient);
        if !needs.is_empty() {
            let places = needs.keys().map(|(a, r)| (a.as_str(), r.as_str()));
            let mut since = attribution::lookup_windows(places, Provider::Aws, baseline, previous, overlap);
            // CloudTrail keeps 90 days: what came and went before is lost.
            let oldest = now.checked_sub(CLOUDTRAIL_HISTORY).unwrap_or(now);
            for ((account, region), from) in since.iter_mut().filter(|(_, from)| **from < oldest) {
                let why = format!(
                    "partly unread: the last complete listing reaches back to {from}, past CloudTrail's 90 days of event history; a share added and removed before {oldest} cannot be seen"
                );
                read.unread.push((Provider::Aws, account.clone(), region.clone(), why));
                *from = oldest;
            }
            let found = cloudtrail.lookup(&needs, &since).await;
            read.events.extend(found.events);
            read.unread.extend(found.unread.into_iter().map(|(a, r, why)| (Provider::Aws, a, r, why)));
        }
    }
    if let Some(activity) = &logs.activity {
        let subscriptions =
            attribution::subscriptions_to_read(&analysis.changes, &analysis.collected.coverage, &baseline.established);
        if !subscriptions.is_empty() {
            let places = subscriptions.iter().map(|s| (s.as_str(), "*"));
            let since = attribution::lookup_windows(places, Provider::Azure, baseline, previous, overlap)
                .into_iter()
                .map(|((subscription, _), from)| (subscription, from))
                .collect();
            let (events, unread) = activity.lookup(&since).await;
            read.events.extend(events);
            read.unread.extend(unread.into_iter().map(|(s, why)| (Provider::Azure, s, "*".to_owned(), why)));
        }
    }
    read
}

/// The scan's collected state with the events, unread logs noted on its
/// coverage, and the diff's changes: what the analysis runs again with.
/// The analysis as it is when the logs said nothing.
pub(super) fn with_events(analysis: Analysis, read: Read) -> Result<(Collected, Vec<Change>), Box<Analysis>> {
    if read.events.is_empty() && read.unread.is_empty() {
        return Err(Box::new(analysis));
    }
    let mut collected = analysis.collected;
    collected.events = read.events;
    for (provider, account, region, why) in read.unread {
        log::warning(&format!("who made the changes in {account} {region} is unknown: {why}"));
        for c in collected.coverage.iter_mut().filter(|c| {
            c.scope.provider == provider && c.scope.account == account && (region == "*" || c.scope.region == region)
        }) {
            // A listing that fell back to a full sweep already says why.
            c.attribution.get_or_insert_with(|| why.clone());
        }
    }
    Ok((collected, analysis.diffed))
}
