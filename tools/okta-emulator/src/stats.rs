//! Request counters that tests and benchmarks read from `GET /__emulator/stats`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

use crate::rate_limit::Bucket;

#[derive(Default)]
pub(crate) struct Stats {
    requests: [AtomicU64; 6],
    rate_limited: [AtomicU64; 6],
}

impl Stats {
    pub(crate) fn record_request(&self, bucket: Bucket) {
        self.requests[bucket as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Any 429 the client got: window exhausted, concurrency exceeded, or injected.
    pub(crate) fn record_rate_limited(&self, bucket: Bucket) {
        self.rate_limited[bucket as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reset(&self) {
        for counter in self.requests.iter().chain(&self.rate_limited) {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// `{"total": n, "rate_limited": n, "max_in_flight": n, "buckets": {"users": {"requests": n,
    /// "rate_limited": n}, ...}}`.
    pub(crate) fn to_json(&self, max_in_flight: usize) -> Value {
        let load =
            |counters: &[AtomicU64; 6], b: Bucket| counters[b as usize].load(Ordering::Relaxed);
        let buckets: Map<String, Value> = Bucket::ALL
            .iter()
            .map(|&b| {
                let counts = json!({
                    "requests": load(&self.requests, b),
                    "rate_limited": load(&self.rate_limited, b),
                });
                (b.name().to_owned(), counts)
            })
            .collect();
        let sum = |counters: &[AtomicU64; 6]| -> u64 {
            counters.iter().map(|c| c.load(Ordering::Relaxed)).sum()
        };
        json!({
            "total": sum(&self.requests),
            "rate_limited": sum(&self.rate_limited),
            "max_in_flight": max_in_flight,
            "buckets": buckets,
        })
    }
}
