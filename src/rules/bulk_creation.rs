//! `bulk-creation`: more than `threshold` snapshots created within `window`
//! (by their creation time), per scope and, separately, per source volume,
//! instance or disk. Fires when a burst gains a snapshot first seen in this
//! scan, so a scope's first listing (its baseline) raises no burst.
//! Snapshots created and deleted between two scans (`transient-snapshot`)
//! count, dated by their creation event.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use jiff::{SignedDuration, Timestamp};

use super::{Block, Context, Kind, Meta, Rule, RuleSettings, raise};
use crate::model::{Finding, Scope, Severity, Snapshot};

pub struct BulkCreation;

/// `rules.bulk-creation` in a policy: `threshold` (default 5), `window`
/// (default 24h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Fires when more than this many snapshots fall in one window.
    pub threshold: usize,
    pub window: SignedDuration,
}

impl RuleSettings for Settings {
    fn read(block: &mut Block<'_>) -> Settings {
        Settings {
            threshold: block.count("threshold").unwrap_or(5),
            window: block.duration("window").unwrap_or(SignedDuration::from_hours(24)),
        }
    }
}

/// How far before a new snapshot a burst it belongs to can begin: the
/// snapshots the rule must see besides the new ones (`None`: disabled).
pub(super) fn lookback(policy: &crate::rules::Policy) -> Option<SignedDuration> {
    let settings: Settings = policy.settings_of(&BulkCreation);
    policy.is_enabled(BulkCreation.id()).then_some(settings.window)
}

impl Rule for BulkCreation {
    fn meta(&self) -> Meta {
        Meta { id: "bulk-creation", kind: Kind::Event, severity: Severity::Medium, mitre: &["T1578.001"] }
    }

    fn quiet_for_backup_tooling(&self) -> bool {
        true
    }

    fn settings(&self, block: &mut Block<'_>) {
        Settings::read(block);
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let settings: Settings = ctx.policy.settings_of(self);
        // Snapshots created and deleted since the previous scan count too:
        // new, and dated by their creation event.
        let transient = ctx.transient().iter().map(|t| &t.snapshot);
        let added: HashSet<(&Scope, &str)> =
            ctx.added().into_iter().chain(transient.clone()).map(|s| (&s.scope, s.id.as_str())).collect();
        if added.is_empty() {
            return Vec::new();
        }
        // Snapshots that count: dated, and not expected work.
        let mut by_scope: BTreeMap<&Scope, Vec<(Timestamp, &Snapshot)>> = BTreeMap::new();
        for s in ctx.snapshots.iter().chain(transient) {
            let Some(at) = s.created_at.as_deref().and_then(|t| t.parse::<Timestamp>().ok()) else { continue };
            if ctx.expected(self.id(), &s.scope, Some(s)).is_none() {
                by_scope.entry(&s.scope).or_default().push((at, s));
            }
        }
        let mut findings = Vec::new();
        for (scope, mut members) in by_scope {
            members.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
            let is_new =
                |burst: &[(Timestamp, &Snapshot)]| burst.iter().any(|(_, s)| added.contains(&(scope, s.id.as_str())));
            let mut by_source: BTreeMap<&str, Vec<(Timestamp, &Snapshot)>> = BTreeMap::new();
            for m in &members {
                if let Some(src) = m.1.source_id.as_deref() {
                    by_source.entry(src).or_default().push(*m);
                }
            }
            let mut source_bursts: Vec<BTreeSet<&str>> = Vec::new();
            for (source, series) in &by_source {
                for burst in bursts(series, settings.threshold, settings.window).filter(|b| is_new(b)) {
                    source_bursts.push(burst.iter().map(|(_, s)| s.id.as_str()).collect());
                    findings.push(self.finding(scope, Some(source), burst, settings.window));
                }
            }
            for burst in bursts(&members, settings.threshold, settings.window).filter(|b| is_new(b)) {
                // A burst of one source is already reported as such.
                let ids: BTreeSet<&str> = burst.iter().map(|(_, s)| s.id.as_str()).collect();
                if !source_bursts.contains(&ids) {
                    findings.push(self.finding(scope, None, burst, settings.window));
                }
            }
        }
        findings
    }
}

impl BulkCreation {
    fn finding(
        &self,
        scope: &Scope,
        source: Option<&str>,
        burst: &[(Timestamp, &Snapshot)],
        window: SignedDuration,
    ) -> Finding {
        let (first, last) = (burst[0].0, burst[burst.len() - 1].0);
        let span = humanize(last.duration_since(first));
        let (subject, message) = match source {
            Some(src) => (
                format!("source {src} from {first}"),
                format!("{} snapshots of {src} created within {span} (window {})", burst.len(), humanize(window)),
            ),
            None => {
                let sources: BTreeSet<&str> = burst.iter().filter_map(|(_, s)| s.source_id.as_deref()).collect();
                (
                    format!("from {first}"),
                    format!(
                        "{} snapshots of {} source(s) created within {span} (window {})",
                        burst.len(),
                        sources.len(),
                        humanize(window)
                    ),
                )
            }
        };
        let mut f = raise(self, scope, subject, message);
        f.score = 2;
        f.related = burst.iter().map(|(_, s)| s.id.clone()).collect();
        f
    }
}

/// Maximal runs of a time-sorted series in which more than `threshold`
/// members fall within one `window`; overlapping windows merge.
fn bursts<'s, 'a>(
    series: &'s [(Timestamp, &'a Snapshot)],
    threshold: usize,
    window: SignedDuration,
) -> impl Iterator<Item = &'s [(Timestamp, &'a Snapshot)]> {
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    let mut end = 0;
    for start in 0..series.len() {
        end = end.max(start);
        while end + 1 < series.len() && series[end + 1].0.duration_since(series[start].0) <= window {
            end += 1;
        }
        if end - start + 1 > threshold {
            match runs.last_mut() {
                Some(run) if run.end > start => run.end = end + 1,
                _ => runs.push(start..end + 1),
            }
        }
    }
    runs.into_iter().map(move |r| &series[r])
}

fn humanize(d: SignedDuration) -> String {
    let secs = d.as_secs();
    if secs % 86_400 == 0 && secs >= 2 * 86_400 {
        format!("{}d", secs / 86_400)
    } else if secs % 3600 == 0 && secs > 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::{Fixture, series};

    fn run(snapshots: Vec<Snapshot>, added: &[&str]) -> Vec<Finding> {
        BulkCreation.evaluate(&Fixture::with(snapshots).added(added).ctx())
    }

    fn ids(snaps: &[Snapshot]) -> Vec<&str> {
        snaps.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn exactly_five_in_the_window_is_quiet_six_fire() {
        let five = series("s", "vol-1", "2026-11-24T10:00:00Z", 60, 5);
        assert!(run(five.clone(), &ids(&five)).is_empty());
        let six = series("s", "vol-1", "2026-11-24T10:00:00Z", 60, 6);
        let f = run(six.clone(), &ids(&six));
        assert_eq!(f.len(), 1, "one burst of one source is reported once: {f:#?}");
        assert_eq!(f[0].subject, "source vol-1 from 2026-11-24T10:00:00Z");
        assert_eq!((f[0].related.len(), f[0].severity, f[0].score), (6, Severity::Medium, 2));
        assert!(f[0].message.starts_with("6 snapshots of vol-1 created within 5h"), "{}", f[0].message);
    }

    #[test]
    fn six_spread_wider_than_the_window_are_quiet() {
        // 6 snapshots 5 hours apart: any 24 h window holds at most 5.
        let spread = series("s", "vol-1", "2026-11-24T00:00:00Z", 5 * 60, 6);
        assert!(run(spread.clone(), &ids(&spread)).is_empty());
    }

    #[test]
    fn several_sources_make_one_scope_burst() {
        let mut snaps = series("a", "vol-a", "2026-11-24T10:00:00Z", 1, 3);
        snaps.extend(series("b", "vol-b", "2026-11-24T10:10:00Z", 1, 3));
        let f = run(snaps.clone(), &ids(&snaps));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "from 2026-11-24T10:00:00Z");
        assert!(f[0].message.contains("of 2 source(s)"), "{}", f[0].message);
    }

    #[test]
    fn an_old_burst_is_not_raised_again_without_a_new_member() {
        let six = series("s", "vol-1", "2026-11-24T10:00:00Z", 1, 6);
        assert!(run(six, &[]).is_empty());
    }

    #[test]
    fn allowlisted_and_backup_snapshots_do_not_count() {
        let mut six = series("s", "vol-1", "2026-11-24T10:00:00Z", 1, 6);
        six[0].tags.insert("aws:backup:source-resource".into(), "vol-1".into());
        assert!(run(six.clone(), &ids(&six)).is_empty());
    }
}
