//! Scores that depend on more than one rule: a burst of creations that also
//! happened off-hours scores 3 (common SIEM scoring for T1578.001), both on
//! the burst and on its off-hours members, which name each other.

use std::collections::HashMap;

use crate::model::{Finding, Scope, Status};

pub fn bursts_off_hours(findings: &mut [Finding]) {
    let off_hours: HashMap<(&Scope, &str), usize> = findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.rule == "off-hours-creation" && f.status != Status::Suppressed)
        .filter_map(|(i, f)| Some(((&f.scope, f.snapshot_id.as_deref()?), i)))
        .collect();
    // (burst, its off-hours members), gathered first: the findings are
    // borrowed by the index above.
    let plan: Vec<(usize, Vec<usize>)> = findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.rule == "bulk-creation")
        .map(|(i, burst)| {
            let members = burst.related.iter().filter_map(|id| off_hours.get(&(&burst.scope, id.as_str())).copied());
            (i, members.collect())
        })
        .filter(|(_, members): &(usize, Vec<usize>)| !members.is_empty())
        .collect();
    for (burst, members) in plan {
        findings[burst].score = 3;
        let note = format!("; {} of them created off-hours", members.len());
        findings[burst].message.push_str(&note);
        let subject = findings[burst].subject.clone();
        for m in members {
            findings[m].score = 3;
            findings[m].related.push(subject.clone());
            findings[m].message.push_str("; part of a burst of creations");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::{Fixture, series};
    use crate::rules::{Policy, evaluate};

    fn scores(fx: &Fixture) -> Vec<(String, u8)> {
        evaluate(&fx.ctx()).into_iter().filter(|f| f.rule != "new-snapshot").map(|f| (f.rule, f.score)).collect()
    }

    #[test]
    fn a_burst_scores_2_alone_and_3_off_hours_and_off_hours_alone_scores_1() {
        // Tuesday 10:00 UTC: business hours.
        let day = series("d", "vol-1", "2026-11-24T10:00:00Z", 1, 6);
        let ids: Vec<String> = day.iter().map(|s| s.id.clone()).collect();
        let fx = Fixture::with(day).added(&ids.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(scores(&fx), vec![("bulk-creation".to_owned(), 2)]);

        // Saturday: a burst, all off-hours.
        let night = series("n", "vol-1", "2026-11-28T10:00:00Z", 1, 6);
        let ids: Vec<String> = night.iter().map(|s| s.id.clone()).collect();
        let fx = Fixture::with(night).added(&ids.iter().map(String::as_str).collect::<Vec<_>>());
        let s = scores(&fx);
        assert_eq!(s[0], ("bulk-creation".to_owned(), 3), "{s:?}");
        assert!(s[1..].iter().all(|(rule, score)| rule == "off-hours-creation" && *score == 3), "{s:?}");

        // One snapshot off-hours, no burst.
        let mut fx = Fixture::with(series("o", "vol-1", "2026-11-28T10:00:00Z", 1, 1)).added(&["o-0"]);
        fx.policy = Policy::default();
        assert_eq!(scores(&fx), vec![("off-hours-creation".to_owned(), 1)]);
    }
}
