//! Client-side token buckets shaped as AWS meters each API, so a scan runs
//! at AWS's refill rate instead of provoking storms of throttling errors.
//!
//! EC2 meters each (account, region, action) with its own bucket (non-mutating
//! actions: 100 tokens, refilled at 20 per second; "Request throttling for the
//! Amazon EC2 API"). RDS meters every action of an (account, region) with one
//! shared bucket (300 tokens, 12 per second; "Request throttling for the
//! Amazon RDS API"), so DB and cluster snapshot calls draw from the same one.
//! Each call takes a token here first; when the bucket is empty the call
//! waits its turn. The SDK's retry still handles the throttling that other
//! clients of the same account cause.

#[cfg(test)]
use std::time::{Duration, Instant};

use crate::collect::buckets::Buckets;
pub use crate::collect::buckets::RateLimit;

/// Share of the refill rate the client uses. Paced at exactly AWS's rate,
/// both buckets sit near empty and any jitter that bunches arrivals draws a
/// throttling error; 5% headroom accumulates into slack within seconds.
const HEADROOM: f64 = 0.95;

impl RateLimit {
    /// The limit the client paces at: the same burst, 95% of the refill.
    pub fn with_headroom(self) -> RateLimit {
        RateLimit { burst: self.burst, per_second: self.per_second * HEADROOM }
    }
}

impl Default for RateLimit {
    /// EC2's documented bucket for non-mutating actions.
    fn default() -> Self {
        RateLimit { burst: 100.0, per_second: 20.0 }
    }
}

impl RateLimit {
    /// RDS's documented bucket, shared by all its actions.
    pub const RDS: RateLimit = RateLimit { burst: 300.0, per_second: 12.0 };
    /// CloudTrail's `LookupEvents` quota, paced with the same headroom.
    pub const LOOKUP_EVENTS: RateLimit = RateLimit { burst: 2.0, per_second: 2.0 * HEADROOM };
}

/// Which AWS bucket a call draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meter {
    /// An EC2 action: its own bucket per (account, region).
    Ec2(&'static str),
    /// Any RDS action: one bucket per (account, region) for them all.
    Rds,
    /// CloudTrail `LookupEvents`: 2 per second per (account, region)
    /// ("CloudTrail quotas", AWS CloudTrail User Guide).
    CloudTrail,
}

impl Meter {
    fn key(self) -> &'static str {
        match self {
            Meter::Ec2(action) => action,
            Meter::Rds => "rds:*",
            Meter::CloudTrail => "cloudtrail:LookupEvents",
        }
    }
}

#[derive(Debug)]
pub struct Pacer {
    ec2: RateLimit,
    rds: RateLimit,
    buckets: Buckets<(String, String, &'static str)>,
}

impl Pacer {
    /// Paces EC2 actions at `ec2` each and all RDS actions at `rds` together.
    pub fn new(ec2: RateLimit, rds: RateLimit) -> Self {
        Pacer { ec2, rds, buckets: Buckets::default() }
    }

    /// Take a token from `meter`'s bucket, waiting until it allows it.
    pub async fn take(&self, account: &str, region: &str, meter: Meter) {
        self.buckets.take((account.to_owned(), region.to_owned(), meter.key()), self.limit(meter)).await;
    }

    fn limit(&self, meter: Meter) -> RateLimit {
        match meter {
            Meter::Ec2(_) => self.ec2,
            Meter::Rds => self.rds,
            Meter::CloudTrail => RateLimit::LOOKUP_EVENTS,
        }
    }

    /// Reserve a token at `now` and return how long to wait for it.
    #[cfg(test)]
    fn reserve(&self, account: &str, region: &str, meter: Meter, now: Instant) -> Duration {
        self.buckets.reserve((account.to_owned(), region.to_owned(), meter.key()), self.limit(meter), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: Meter = Meter::Ec2("X");
    const Y: Meter = Meter::Ec2("Y");

    #[test]
    fn the_burst_is_free_then_calls_are_spaced_at_the_refill_rate() {
        let pacer = Pacer::new(RateLimit { burst: 3.0, per_second: 10.0 }, RateLimit::RDS);
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..5).map(|_| pacer.reserve("a", "r", X, t0)).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        assert!((waits[3].as_secs_f64() - 0.1).abs() < 1e-9, "{waits:?}");
        assert!((waits[4].as_secs_f64() - 0.2).abs() < 1e-9, "{waits:?}");
    }

    #[test]
    fn buckets_are_separate_per_account_region_and_action() {
        let pacer = Pacer::new(RateLimit { burst: 1.0, per_second: 1.0 }, RateLimit { burst: 1.0, per_second: 1.0 });
        let t0 = Instant::now();
        assert!(pacer.reserve("a", "r", X, t0).is_zero());
        assert!(pacer.reserve("a", "r", Y, t0).is_zero());
        assert!(pacer.reserve("a", "r2", X, t0).is_zero());
        assert!(pacer.reserve("b", "r", X, t0).is_zero());
        assert!(!pacer.reserve("a", "r", X, t0).is_zero());
    }

    #[test]
    fn tokens_refill_over_time_up_to_the_burst() {
        let pacer = Pacer::new(RateLimit { burst: 2.0, per_second: 10.0 }, RateLimit::RDS);
        let t0 = Instant::now();
        for _ in 0..2 {
            pacer.reserve("a", "r", X, t0);
        }
        let later = t0 + Duration::from_secs(60);
        assert!(pacer.reserve("a", "r", X, later).is_zero());
        assert!(pacer.reserve("a", "r", X, later).is_zero());
        assert!(!pacer.reserve("a", "r", X, later).is_zero(), "refill is capped at the burst");
    }

    #[test]
    fn every_rds_action_of_a_region_shares_one_bucket_at_its_own_rate() {
        let pacer = Pacer::new(RateLimit::default(), RateLimit { burst: 2.0, per_second: 12.0 });
        let t0 = Instant::now();
        // DB and cluster attribute calls are both RDS: the third waits.
        assert!(pacer.reserve("a", "r", Meter::Rds, t0).is_zero());
        assert!(pacer.reserve("a", "r", Meter::Rds, t0).is_zero());
        let wait = pacer.reserve("a", "r", Meter::Rds, t0);
        assert!((wait.as_secs_f64() - 1.0 / 12.0).abs() < 1e-9, "{wait:?}");
        assert!(pacer.reserve("a", "r2", Meter::Rds, t0).is_zero(), "another region has its own");
        assert!(pacer.reserve("a", "r", X, t0).is_zero(), "EC2 buckets are apart");
    }
}
