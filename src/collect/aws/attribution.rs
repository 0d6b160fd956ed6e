//! Who made the changes a scan found: the CloudTrail lookups after the
//! diff, for the accounts, regions and event names that can name a change
//! ([`Trail`] reads and keeps them). A lookup that fails is a warning on the
//! coverage, never a failed scan: the changes stand, with no actor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::StreamExt;

use super::session::Session;
use super::trail::{Trail, why_unread};
use crate::model::AuditEvent;

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
    /// Events named in `needs` (per account and region), each place since
    /// its own start in `since` (`store::attribution::lookup_windows`).
    pub async fn lookup(
        &self,
        needs: &BTreeMap<(String, String), BTreeSet<&'static str>>,
        since: &BTreeMap<(String, String), jiff::Timestamp>,
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
                    let Some(since) = since.get(&(account.clone(), region.clone())).copied() else {
                        return Err((account.clone(), region.clone(), "no lookup window for the place".to_owned()));
                    };
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
