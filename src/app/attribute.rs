//! Who made the changes: after a first (pure) analysis, the audit logs are
//! read for what can be attributed (AWS CloudTrail, the Azure Activity Log),
//! then the analysis runs again with their events. A log that cannot be read
//! is a warning on its coverage rows, never a failed scan.

use super::analyse::Analysis;
use crate::collect;
use crate::log;
use crate::model::{AuditEvent, Baseline, Change, Collected, Provider};
use crate::rules::Policy;
use crate::store::attribution;

/// The clients a scan used, kept to read the audit logs after its diff.
pub(super) struct AuditLogs {
    pub cloudtrail: Option<collect::aws::Attributor>,
    pub activity: Option<collect::azure::ActivityLog>,
}

/// What the logs said, and where they could not be read: (provider,
/// account, region or `*`, why).
pub(super) struct Read {
    events: Vec<AuditEvent>,
    unread: Vec<(Provider, String, String, String)>,
}

pub(super) async fn read(
    logs: &AuditLogs,
    analysis: &Analysis,
    baseline: &Baseline,
    policy: &Policy,
    previous: jiff::Timestamp,
) -> Read {
    let mut read = Read { events: Vec::new(), unread: Vec::new() };
    let Ok(since) = previous.checked_sub(collect::AUDIT_LOG_OVERLAP) else { return read };
    if let Some(cloudtrail) = &logs.cloudtrail {
        let transient = policy.is_enabled("transient-snapshot");
        let needs =
            attribution::needs(&analysis.changes, &analysis.collected.coverage, &baseline.established, transient);
        if !needs.is_empty() {
            let found = cloudtrail.lookup(&needs, since).await;
            read.events.extend(found.events);
            read.unread.extend(found.unread.into_iter().map(|(a, r, why)| (Provider::Aws, a, r, why)));
        }
    }
    if let Some(activity) = &logs.activity {
        let subscriptions =
            attribution::subscriptions_to_read(&analysis.changes, &analysis.collected.coverage, &baseline.established);
        if !subscriptions.is_empty() {
            let (events, unread) = activity.lookup(&subscriptions, since).await;
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
