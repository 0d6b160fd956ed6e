//! Client-side token buckets: each call takes a token from its key's bucket
//! first and waits its turn when the bucket is empty, so a scan runs at the
//! provider's refill rate instead of provoking throttling. The AWS pacer
//! keys them by (account, region, meter); Google Cloud by project.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bucket size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: f64,
    pub per_second: f64,
}

#[derive(Debug)]
struct Bucket {
    /// May go negative: a negative balance is the queue of reserved calls.
    tokens: f64,
    updated: Instant,
}

/// One bucket per key, each created full.
#[derive(Debug)]
pub struct Buckets<K> {
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K> Default for Buckets<K> {
    fn default() -> Self {
        Buckets { buckets: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq> Buckets<K> {
    /// Take a token from `key`'s bucket, waiting until it allows it.
    pub async fn take(&self, key: K, limit: RateLimit) {
        let wait = self.reserve(key, limit, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Reserve a token at `now` and return how long to wait for it.
    pub fn reserve(&self, key: K, RateLimit { burst, per_second }: RateLimit, now: Instant) -> Duration {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: burst, updated: now });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.updated = now;
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-bucket.tokens / per_second) }
    }
}
