//! Which share lists a scope reads (policy `verification`). A full sweep
//! reads every snapshot's; an incremental scan reads only those that can
//! have changed since the scope's previous complete listing, and carries the
//! last read list of the others:
//! - snapshots that are new, or whose last list could not be read;
//! - snapshots a share event names (CloudTrail `LookupEvents` since the
//!   previous listing, less the delivery delay: `ModifySnapshotAttribute`,
//!   `ResetSnapshotAttribute` and the RDS and AMI equivalents);
//! - snapshots whose public state disagrees with the public listing, where
//!   the service has one (EBS: `DescribeSnapshots` with
//!   `RestorableByUserIds=all`), so public exposure is re-read every scan;
//! - a rotating slice, oldest read first, sized so that the whole scope is
//!   re-read about once per `full_verification_every`, and every list older
//!   than that.
//!
//! Nothing shrinks silently: a lookup that fails, a public listing that
//! fails, a scope with no baseline, a last listing older than CloudTrail's
//! 90 days of event history, or a clock ahead of AWS's (the answers' `Date`)
//! falls back to the full sweep, and the coverage row says which mode ran
//! and when its oldest list was read.
//!
//! The bound: a list is carried at most `every` after it was read, plus
//! the time to the next scan (a list just short of due is read by the scan
//! after), so every list is re-read within `every` + one scan interval.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;

use jiff::{SignedDuration, Timestamp};

use super::trail::{CLOCK_TOLERANCE, CLOUDTRAIL_HISTORY, why_unread};
use super::{RegionContext, ScopeError};
use crate::model::{ChangeKind, Coverage, Grantee, Service, Snapshot, Verification, event_names};

/// The share lists one scope reads this scan.
#[derive(Debug)]
pub struct Selection {
    mode: Verification,
    /// Incremental: the snapshots to read.
    read: HashSet<String>,
    /// Incremental: the least recently read list carried.
    oldest: Option<Timestamp>,
    now: Timestamp,
    /// Why an incremental scan fell back to the full sweep.
    fallback: Option<String>,
}

impl Selection {
    fn full(now: Timestamp, fallback: Option<String>) -> Selection {
        Selection { mode: Verification::Full, read: HashSet::new(), oldest: None, now, fallback }
    }

    pub fn must_read(&self, snapshot: &Snapshot) -> bool {
        self.mode == Verification::Full || self.read.contains(&snapshot.id)
    }

    /// Say on the scope's coverage row how its share lists were checked.
    /// `listed` is what the scope holds after the reads.
    pub fn record(self, coverage: &mut Coverage, listed: &[Snapshot]) {
        coverage.verification = Some(self.mode);
        coverage.oldest_verified_at = Some(self.oldest.unwrap_or(self.now).min(self.now).to_string());
        if self.mode == Verification::Incremental {
            coverage.shares_read =
                listed.iter().filter(|s| s.grantees_known && self.read.contains(&s.id)).map(|s| s.id.clone()).collect();
        }
        if let Some(why) = self.fallback {
            coverage.attribution = Some(format!("{why}; every share list was read instead (full sweep)"));
        }
    }
}

/// Choose what `service`'s scope reads, and give every snapshot it will not
/// read its last read share list. `public_listing` lists the ids of the
/// scope's public snapshots, where the service can.
pub async fn select<F, Fut>(
    ctx: &RegionContext,
    service: Service,
    snapshots: &mut [Snapshot],
    public_listing: Option<F>,
) -> Selection
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<BTreeSet<String>, ScopeError>>,
{
    let settings = &ctx.verify;
    let now = settings.now.unwrap_or_else(Timestamp::now);
    if settings.mode == Verification::Full {
        return Selection::full(now, None);
    }
    let scope = ctx.scope(service);
    // A scope without a complete listing yet has nothing to carry.
    let Some(prior) = settings.prior.as_deref().filter(|p| p.baseline.established.contains(&scope)) else {
        return Selection::full(now, None);
    };
    let Some(read_at) = prior.baseline.shares_read.get(&scope) else { return Selection::full(now, None) };
    let Some(since) = read_at.listed_at.and_then(|t| t.checked_sub(settings.overlap).ok()) else {
        return Selection::full(now, None);
    };
    if now.duration_since(since) > CLOUDTRAIL_HISTORY {
        let why = format!(
            "the last complete listing ({since} with the overlap) is past CloudTrail's 90 days of event history"
        );
        return Selection::full(now, Some(why));
    }

    let mut named: HashSet<String> = HashSet::new();
    for name in event_names(service, ChangeKind::ShareAdded) {
        match ctx.trail.events(&ctx.cloudtrail, &ctx.account, &ctx.region, name, since).await {
            Ok(events) => named.extend(events.into_iter().flat_map(|e| e.resources)),
            Err(e) => return Selection::full(now, Some(why_unread(&e))),
        }
    }
    if let Some(ahead) = ctx.trail.clock_ahead().filter(|a| *a > CLOCK_TOLERANCE) {
        let why = format!(
            "this machine's clock is {:#} ahead of AWS's (the answers' Date): share events since the last listing may be skipped; set the clock (NTP)",
            SignedDuration::from_secs(ahead.as_secs())
        );
        return Selection::full(now, Some(why));
    }
    let public = match public_listing {
        Some(list) => match list().await {
            Ok(ids) => Some(ids),
            Err(e) => {
                let why = format!("the public listing failed ({}): {}", e.code, e.message);
                return Selection::full(now, Some(why));
            }
        },
        None => None,
    };

    let empty = Default::default();
    let known = prior.lists.get(&scope).unwrap_or(&empty);
    let mut read = HashSet::new();
    // (last read, index) of the snapshots that may carry their list.
    let mut carried: Vec<(Timestamp, usize)> = Vec::new();
    for (i, snapshot) in snapshots.iter().enumerate() {
        let Some(before) = known.get(&snapshot.id) else {
            read.insert(snapshot.id.clone());
            continue;
        };
        let public_now = public.as_ref().map(|ids| ids.contains(&snapshot.id));
        let last_read = read_at.of(&snapshot.id);
        match last_read {
            Some(at)
                if !named.contains(&snapshot.id)
                    && public_now.is_none_or(|p| p == before.contains(&Grantee::Public)) =>
            {
                carried.push((at, i))
            }
            _ => {
                read.insert(snapshot.id.clone());
            }
        }
    }
    // The rotating slice: oldest first, every list past `every`, and the
    // share of the scope that the time since the last listing is of `every`.
    carried.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| snapshots[a.1].id.cmp(&snapshots[b.1].id)));
    let elapsed = read_at.listed_at.map_or(SignedDuration::ZERO, |t| now.duration_since(t));
    let slice = slice_size(carried.len(), elapsed, settings.every);
    let due = now.checked_sub(settings.every).unwrap_or(now);
    let rotated = carried.iter().enumerate().take_while(|(rank, (at, _))| *rank < slice || *at <= due).count();
    for (_, i) in carried.drain(..rotated) {
        read.insert(snapshots[i].id.clone());
    }
    for (_, i) in &carried {
        if let Some(before) = known.get(&snapshots[*i].id) {
            snapshots[*i].grantees = before.clone();
        }
    }
    let oldest = carried.first().map(|(at, _)| *at);
    Selection { mode: Verification::Incremental, read, oldest, now, fallback: None }
}

/// How many of `carried` lists to re-read so that, scanned every `elapsed`,
/// each is re-read about once per `every` (rounded down: lists past
/// `every` are re-read whatever the slice).
fn slice_size(carried: usize, elapsed: SignedDuration, every: SignedDuration) -> usize {
    if every.is_zero() || every.is_negative() {
        return carried;
    }
    let share = elapsed.as_secs_f64().max(0.0) / every.as_secs_f64();
    ((carried as f64) * share).floor().min(carried as f64) as usize
}

#[cfg(test)]
mod tests {
    use super::slice_size;
    use jiff::SignedDuration;

    #[test]
    fn the_slice_reads_the_scope_once_per_period() {
        let day = SignedDuration::from_hours(24);
        assert_eq!(slice_size(24_000, SignedDuration::from_hours(1), day), 1000);
        assert_eq!(slice_size(10, SignedDuration::from_secs(5), day), 0);
        assert_eq!(slice_size(10, SignedDuration::from_hours(48), day), 10);
        assert_eq!(slice_size(10, SignedDuration::from_hours(1), SignedDuration::ZERO), 10);
    }
}
