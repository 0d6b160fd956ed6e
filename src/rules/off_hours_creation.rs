//! `off-hours-creation`: a new snapshot created outside business hours or on
//! a non-business day, in the policy's timezone.

use super::{Context, Kind, Rule, raise_on};
use crate::model::{Finding, Severity};

pub struct OffHoursCreation;

impl Rule for OffHoursCreation {
    fn id(&self) -> &'static str {
        "off-hours-creation"
    }

    fn kind(&self) -> Kind {
        Kind::Event
    }

    fn severity(&self) -> Severity {
        Severity::Low
    }

    fn mitre(&self) -> &'static [&'static str] {
        &["T1578.001"]
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let hours = &ctx.policy.business_hours;
        ctx.added()
            .into_iter()
            .filter_map(|s| {
                let created: jiff::Timestamp = s.created_at.as_deref()?.parse().ok()?;
                if !hours.is_off_hours(created) {
                    return None;
                }
                let local = created.to_zoned_datetime(hours.timezone.clone());
                Some(raise_on(
                    self,
                    s,
                    format!(
                        "created off-hours: {} ({})",
                        local.strftime("%a %Y-%m-%d %H:%M"),
                        tz_name(&hours.timezone)
                    ),
                ))
            })
            .collect()
    }
}

fn tz_name(tz: &jiff::tz::TimeZone) -> &str {
    tz.iana_name().unwrap_or("UTC")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Policy;
    use crate::rules::test_support::{Fixture, series};

    fn fires_at(created: &str, policy: &Policy) -> bool {
        let mut fx = Fixture::with(series("s", "vol-1", created, 0, 1)).added(&["s-0"]);
        fx.policy = policy.clone();
        !OffHoursCreation.evaluate(&fx.ctx()).is_empty()
    }

    #[test]
    fn boundaries_in_a_non_utc_timezone() {
        let policy = Policy::parse("version: 1\nrules:\n  off-hours-creation:\n    timezone: Europe/Berlin\n").unwrap();
        // Tuesday 2026-11-24, Berlin is UTC+1: 18:59 and 19:01 local.
        assert!(!fires_at("2026-11-24T17:59:00Z", &policy), "18:59 Berlin is business hours");
        assert!(fires_at("2026-11-24T18:01:00Z", &policy), "19:01 Berlin is off-hours");
        assert!(fires_at("2026-11-24T05:59:00Z", &policy), "06:59 Berlin");
        assert!(!fires_at("2026-11-24T06:00:00Z", &policy), "07:00 Berlin");
        assert!(fires_at("2026-11-29T12:00:00Z", &policy), "Sunday");
    }

    #[test]
    fn only_new_snapshots_are_judged() {
        let fx = Fixture::with(series("s", "vol-1", "2026-11-29T12:00:00Z", 0, 1));
        assert!(OffHoursCreation.evaluate(&fx.ctx()).is_empty());
    }

    #[test]
    fn the_message_gives_local_time_and_zone() {
        let policy = Policy::parse("version: 1\nrules:\n  off-hours-creation:\n    timezone: Asia/Tokyo\n").unwrap();
        let mut fx = Fixture::with(series("s", "vol-1", "2026-11-24T13:30:00Z", 0, 1)).added(&["s-0"]);
        fx.policy = policy;
        let f = OffHoursCreation.evaluate(&fx.ctx());
        assert_eq!(f[0].message, "created off-hours: Tue 2026-11-24 22:30 (Asia/Tokyo)");
    }
}
