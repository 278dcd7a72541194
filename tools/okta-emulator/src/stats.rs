//! Request counters that tests and benchmarks read from `GET /__emulator/stats`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

use crate::rate_limit::{Bucket, RateLimiter};

/// Endpoint families, by the path's first segment after `/api/v1/`. Counted beside Okta's
/// rate-limit buckets because tests ask "how many policy requests", which no bucket answers
/// (policies share `/api/v1` with most other endpoints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Users,
    Groups,
    Apps,
    Policies,
    Org,
    Logs,
    Other,
}

const FAMILIES: [Family; 7] = [
    Family::Users,
    Family::Groups,
    Family::Apps,
    Family::Policies,
    Family::Org,
    Family::Logs,
    Family::Other,
];

impl Family {
    pub(crate) fn for_path(path: &str) -> Self {
        let first = path
            .strip_prefix("/api/v1/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        match first {
            "users" => Family::Users,
            "groups" => Family::Groups,
            "apps" => Family::Apps,
            "policies" => Family::Policies,
            "org" => Family::Org,
            "logs" => Family::Logs,
            _ => Family::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Users => "users",
            Family::Groups => "groups",
            Family::Apps => "apps",
            Family::Policies => "policies",
            Family::Org => "org",
            Family::Logs => "logs",
            Family::Other => "other",
        }
    }
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    rate_limited: AtomicU64,
}

impl Counts {
    fn to_json(&self) -> Value {
        json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "rate_limited": self.rate_limited.load(Ordering::Relaxed),
        })
    }

    fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.rate_limited.store(0, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub(crate) struct Stats {
    families: [Counts; FAMILIES.len()],
    buckets: [Counts; Bucket::ALL.len()],
}

impl Stats {
    pub(crate) fn record_request(&self, family: Family, bucket: Bucket) {
        self.families[family as usize]
            .requests
            .fetch_add(1, Ordering::Relaxed);
        self.buckets[bucket as usize]
            .requests
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Any 429 the client got: window exhausted, concurrency exceeded, or injected.
    pub(crate) fn record_rate_limited(&self, family: Family, bucket: Bucket) {
        self.families[family as usize]
            .rate_limited
            .fetch_add(1, Ordering::Relaxed);
        self.buckets[bucket as usize]
            .rate_limited
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reset(&self) {
        self.families
            .iter()
            .chain(&self.buckets)
            .for_each(Counts::reset);
    }

    /// `{"total", "rate_limited", "max_in_flight", "buckets": {"<family>": {"requests",
    /// "rate_limited"}}, "rate_limit_buckets": {"<bucket>": {"pattern", "limit", "requests",
    /// "rate_limited"}}}`.
    pub(crate) fn to_json(&self, max_in_flight: usize, limiter: &RateLimiter) -> Value {
        let families: Map<String, Value> = FAMILIES
            .iter()
            .map(|&f| (f.name().to_owned(), self.families[f as usize].to_json()))
            .collect();
        let buckets: Map<String, Value> = Bucket::ALL
            .iter()
            .map(|&b| {
                let mut counts = self.buckets[b as usize].to_json();
                counts["pattern"] = b.pattern().into();
                counts["limit"] = limiter.limit(b).into();
                (b.name().to_owned(), counts)
            })
            .collect();
        let sum = |field: fn(&Counts) -> &AtomicU64| -> u64 {
            self.families
                .iter()
                .map(|c| field(c).load(Ordering::Relaxed))
                .sum()
        };
        json!({
            "total": sum(|c| &c.requests),
            "rate_limited": sum(|c| &c.rate_limited),
            "max_in_flight": max_in_flight,
            "buckets": families,
            "rate_limit_buckets": buckets,
        })
    }
}
