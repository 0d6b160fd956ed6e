//! `off-hours-creation`: a new snapshot created outside business hours or on
//! a non-business day, in the policy's timezone.

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::{Block, Context, Kind, Meta, Rule, RuleSettings, raise_on};
use crate::model::{Finding, Severity};

pub struct OffHoursCreation;

/// `rules.off-hours-creation` in a policy: `timezone` (IANA, default UTC),
/// `business_hours` ("07:00-19:00"), `business_days` (mon to fri).
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessHours {
    pub timezone: TimeZone,
    /// Business hours are `start <= time < end` on `days`.
    pub start: Time,
    pub end: Time,
    pub days: Vec<Weekday>,
}

impl BusinessHours {
    /// Whether `at` falls outside business hours in the policy's timezone.
    pub fn is_off_hours(&self, at: jiff::Timestamp) -> bool {
        let local = at.to_zoned_datetime(self.timezone.clone());
        let time = local.time();
        !self.days.contains(&local.weekday()) || time < self.start || time >= self.end
    }
}

impl RuleSettings for BusinessHours {
    fn read(block: &mut Block<'_>) -> BusinessHours {
        let timezone =
            block.value::<String>("timezone", "a timezone name").and_then(|name| match TimeZone::get(&name) {
                Ok(tz) => Some(tz),
                Err(_) => {
                    block.problem(
                        "timezone",
                        format!("{name:?} is not an IANA timezone name (e.g. Europe/Berlin, America/New_York, UTC)"),
                    );
                    None
                }
            });
        let hours =
            block.value::<String>("business_hours", "a range of the day like \"07:00-19:00\"").and_then(|text| {
                let time = |s: &str| s.trim().parse::<Time>().ok();
                match text.split_once('-').and_then(|(a, b)| Some((time(a)?, time(b)?))) {
                    Some((start, end)) if start < end => Some((start, end)),
                    _ => {
                        block.problem(
                            "business_hours",
                            format!("{text:?} is not a range of the day like \"07:00-19:00\" (start before end)"),
                        );
                        None
                    }
                }
            });
        let days = block.value::<Vec<Day>>("business_days", "a list of days such as [mon, tue, wed, thu, fri]");
        let (start, end) = hours.unwrap_or((Time::constant(7, 0, 0, 0), Time::constant(19, 0, 0, 0)));
        BusinessHours {
            timezone: timezone.unwrap_or(TimeZone::UTC),
            start,
            end,
            days: match days {
                Some(days) => days.into_iter().map(Day::weekday).collect(),
                None => vec![Weekday::Monday, Weekday::Tuesday, Weekday::Wednesday, Weekday::Thursday, Weekday::Friday],
            },
        }
    }
}

/// A business day as a policy spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Monday,
            Day::Tue => Weekday::Tuesday,
            Day::Wed => Weekday::Wednesday,
            Day::Thu => Weekday::Thursday,
            Day::Fri => Weekday::Friday,
            Day::Sat => Weekday::Saturday,
            Day::Sun => Weekday::Sunday,
        }
    }
}

impl Rule for OffHoursCreation {
    fn meta(&self) -> Meta {
        Meta { id: "off-hours-creation", kind: Kind::Event, severity: Severity::Low, mitre: &["T1578.001"] }
    }

    fn quiet_for_backup_tooling(&self) -> bool {
        true
    }

    fn settings(&self, block: &mut Block<'_>) {
        BusinessHours::read(block);
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let hours: BusinessHours = ctx.policy.settings_of(self);
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

fn tz_name(tz: &TimeZone) -> &str {
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
