//! Okta's rate limits: per-bucket request counts in fixed windows aligned to the clock (so
//! `X-Rate-Limit-Reset` is the same instant for every caller), and an org-wide concurrency limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Endpoint families that share a rate limit, as a backup sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    Users,
    Groups,
    Apps,
    Policies,
    Org,
    Other,
}

impl Bucket {
    pub const ALL: [Bucket; 6] = [
        Bucket::Users,
        Bucket::Groups,
        Bucket::Apps,
        Bucket::Policies,
        Bucket::Org,
        Bucket::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Users => "users",
            Bucket::Groups => "groups",
            Bucket::Apps => "apps",
            Bucket::Policies => "policies",
            Bucket::Org => "org",
            Bucket::Other => "other",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The bucket an API path counts against: its first segment after `/api/v1/`.
    pub fn for_path(path: &str) -> Self {
        let family = path
            .strip_prefix("/api/v1/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        match family {
            "users" => Bucket::Users,
            "groups" => Bucket::Groups,
            "apps" => Bucket::Apps,
            "policies" => Bucket::Policies,
            "org" => Bucket::Org,
            _ => Bucket::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Requests per minute for each bucket. Defaults are Okta's usual org-wide ones: apps are the
/// slowest bucket a backup meets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits([u32; 6]);

impl Default for RateLimits {
    fn default() -> Self {
        let mut limits = Self([600; 6]);
        limits.set(Bucket::Apps, 100);
        limits
    }
}

impl RateLimits {
    pub fn get(&self, bucket: Bucket) -> u32 {
        self.0[bucket.index()]
    }

    pub fn set(&mut self, bucket: Bucket, per_minute: u32) {
        self.0[bucket.index()] = per_minute;
    }
}

/// What the rate-limit headers of one response say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) allowed: bool,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// UTC epoch seconds at which the current window ends.
    pub(crate) reset: u64,
}

#[derive(Clone, Copy, Default)]
struct Window {
    index: u64,
    used: u32,
}

pub(crate) struct RateLimiter {
    limits: RateLimits,
    window_secs: f64,
    windows: Mutex<[Window; 6]>,
}

impl RateLimiter {
    /// Windows last 60 s / `time_scale`.
    pub(crate) fn new(limits: RateLimits, time_scale: f64) -> Self {
        Self {
            limits,
            window_secs: 60.0 / time_scale,
            windows: Mutex::new([Window::default(); 6]),
        }
    }

    /// Counts one request at `now` (epoch seconds) against `bucket`, unless the window is used up.
    pub(crate) fn check(&self, bucket: Bucket, now: f64) -> Verdict {
        let index = (now / self.window_secs).floor() as u64;
        let limit = self.limits.get(bucket);
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let window = &mut windows[bucket.index()];
        if window.index != index {
            *window = Window { index, used: 0 };
        }
        let allowed = window.used < limit;
        if allowed {
            window.used += 1;
        }
        Verdict {
            allowed,
            limit,
            remaining: limit - window.used,
            reset: ((index + 1) as f64 * self.window_secs).ceil() as u64,
        }
    }

    pub(crate) fn reset(&self) {
        *self.windows.lock().unwrap_or_else(PoisonError::into_inner) = [Window::default(); 6];
    }
}

/// Okta's org-wide limit on simultaneous requests, and the highest simultaneity seen so far (which
/// benchmarks read from `/__emulator/stats` to check a client's own concurrency cap).
pub(crate) struct Concurrency {
    limit: usize,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

/// One request in flight; leaving drops it.
pub(crate) struct Slot<'a> {
    concurrency: &'a Concurrency,
    over_limit: bool,
}

impl Slot<'_> {
    pub(crate) fn over_limit(&self) -> bool {
        self.over_limit
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.concurrency.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Concurrency {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn enter(&self) -> Slot<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Slot {
            concurrency: self,
            over_limit: now > self.limit,
        }
    }

    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    pub(crate) fn reset_peak(&self) {
        self.peak
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_by_path() {
        assert_eq!(Bucket::for_path("/api/v1/users"), Bucket::Users);
        assert_eq!(Bucket::for_path("/api/v1/apps/0oa1/users"), Bucket::Apps);
        assert_eq!(Bucket::for_path("/api/v1/org"), Bucket::Org);
        assert_eq!(Bucket::for_path("/api/v1/zones"), Bucket::Other);
        assert_eq!(Bucket::for_path("/elsewhere"), Bucket::Other);
    }

    #[test]
    fn window_limits_and_resets() {
        let mut limits = RateLimits::default();
        limits.set(Bucket::Users, 2);
        let limiter = RateLimiter::new(limits, 1.0);
        let now = 1_700_000_010.5;
        let first = limiter.check(Bucket::Users, now);
        assert_eq!((first.allowed, first.limit, first.remaining), (true, 2, 1));
        assert_eq!(first.reset, 1_700_000_040);
        assert!(limiter.check(Bucket::Users, now).allowed);
        let third = limiter.check(Bucket::Users, now);
        assert_eq!((third.allowed, third.remaining), (false, 0));
        // Other buckets are independent; the next window starts afresh.
        assert!(limiter.check(Bucket::Groups, now).allowed);
        assert!(limiter.check(Bucket::Users, 1_700_000_040.0).allowed);
    }

    #[test]
    fn time_scale_shrinks_the_window() {
        let limiter = RateLimiter::new(RateLimits::default(), 60.0);
        assert_eq!(limiter.check(Bucket::Apps, 100.2).reset, 101);
    }

    #[test]
    fn concurrency_slots() {
        let concurrency = Concurrency::new(1);
        let first = concurrency.enter();
        let second = concurrency.enter();
        assert!(!first.over_limit());
        assert!(second.over_limit());
        drop(second);
        assert_eq!(concurrency.peak(), 2);
        drop(first);
        assert!(!concurrency.enter().over_limit());
    }
}
