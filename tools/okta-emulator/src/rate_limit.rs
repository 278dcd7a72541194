//! Okta's rate limits: per-bucket request counts in fixed windows aligned to the clock (so
//! `X-Rate-Limit-Reset` is the same instant for every caller), and an org-wide concurrency limit.
//!
//! The buckets and their defaults are the management rate limits Okta last published per endpoint
//! (developer.okta.com/docs/reference/rl-global-mgmt/, Enterprise column, as of November 2025;
//! Okta has since moved the table into each org's rate-limit dashboard): a request counts against
//! the most specific bucket matching its method and path ("exact match first, then the longest
//! match", developer.okta.com/docs/reference/rate-limits/#match-requests).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Okta's documented management rate-limit buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// `/api/v1/apps` and every `/api/v1/apps/*` path but the app itself: "create, list, or other
    /// app actions" (100/min), the slowest bucket a backup meets.
    Apps,
    /// `/api/v1/apps/{id}`: get, update or delete one app (600/min).
    App,
    /// `/api/v1/groups` and `/api/v1/groups/*` except `/api/v1/groups/{id}` (600/min).
    Groups,
    /// `/api/v1/groups/{id}` only (600/min).
    Group,
    /// `GET` or `POST` to `/api/v1/users` (600/min).
    Users,
    /// `GET /api/v1/users/{idOrLogin}` (1,000/min).
    User,
    /// `POST`, `PUT` or `DELETE` to `/api/v1/users/{id}` (600/min).
    UserWrites,
    /// `/api/v1/logs`, the System Log (50/min).
    Logs,
    /// "Most other API actions": the rest of `/api/v1` (600/min).
    Other,
}

const BUCKETS: usize = 9;

impl Bucket {
    pub const ALL: [Bucket; BUCKETS] = [
        Bucket::Apps,
        Bucket::App,
        Bucket::Groups,
        Bucket::Group,
        Bucket::Users,
        Bucket::User,
        Bucket::UserWrites,
        Bucket::Logs,
        Bucket::Other,
    ];

    /// The short name `--rate-limit` and `/__emulator/stats` use.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Apps => "apps",
            Bucket::App => "app",
            Bucket::Groups => "groups",
            Bucket::Group => "group",
            Bucket::Users => "users",
            Bucket::User => "user",
            Bucket::UserWrites => "user-writes",
            Bucket::Logs => "logs",
            Bucket::Other => "other",
        }
    }

    /// The bucket as Okta's rate-limit table names it.
    pub fn pattern(self) -> &'static str {
        match self {
            Bucket::Apps => "/api/v1/apps*",
            Bucket::App => "/api/v1/apps/{id}",
            Bucket::Groups => "/api/v1/groups*",
            Bucket::Group => "/api/v1/groups/{id}",
            Bucket::Users => "GET|POST /api/v1/users",
            Bucket::User => "GET /api/v1/users/{idOrLogin}",
            Bucket::UserWrites => "POST|PUT|DELETE /api/v1/users/{id}",
            Bucket::Logs => "/api/v1/logs",
            Bucket::Other => "/api/v1",
        }
    }

    /// Okta's default limit (requests per minute, Enterprise).
    pub fn default_limit(self) -> u32 {
        match self {
            Bucket::Apps => 100,
            Bucket::User => 1000,
            Bucket::Logs => 50,
            _ => 600,
        }
    }

    /// A bucket by [`Bucket::name`]. `policies` and `org`, buckets of earlier emulator versions,
    /// are accepted for the bucket that now covers those paths (`other`, as in Okta's table).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "policies" | "org" => Some(Bucket::Other),
            _ => Self::ALL.into_iter().find(|b| b.name() == name),
        }
    }

    /// The bucket a request counts against.
    pub fn for_request(method: &str, path: &str) -> Self {
        let rest = path.strip_prefix("/api/v1/").unwrap_or_default();
        let segments: Vec<&str> = rest.split('/').collect();
        // `/api/v1/groups/rules` is a collection, not a group id.
        let is_id = |segment: &str| !segment.is_empty() && segment != "rules";
        match segments.as_slice() {
            ["apps", id] if !id.is_empty() => Bucket::App,
            ["apps", ..] => Bucket::Apps,
            ["groups", id] if is_id(id) => Bucket::Group,
            ["groups", ..] => Bucket::Groups,
            ["users"] if matches!(method, "GET" | "POST") => Bucket::Users,
            ["users", id] if !id.is_empty() && method == "GET" => Bucket::User,
            ["users", id] if !id.is_empty() && matches!(method, "POST" | "PUT" | "DELETE") => {
                Bucket::UserWrites
            }
            ["logs"] => Bucket::Logs,
            _ => Bucket::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Requests per minute for each bucket; [`Default`] gives Okta's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits([u32; BUCKETS]);

impl Default for RateLimits {
    fn default() -> Self {
        Self(Bucket::ALL.map(Bucket::default_limit))
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

impl Verdict {
    /// A concurrency-limit rejection: Okta sends `0` for the first two headers and an estimate of
    /// when a slot frees up as the reset (developer.okta.com/docs/reference/rl2-monitor/,
    /// "Example rate limit header with concurrent rate limit exceeded").
    pub(crate) fn over_concurrency(now: f64) -> Self {
        Self {
            allowed: false,
            limit: 0,
            remaining: 0,
            reset: now.ceil() as u64 + 1,
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Window {
    index: u64,
    used: u32,
}

pub(crate) struct RateLimiter {
    limits: RateLimits,
    window_secs: f64,
    windows: Mutex<[Window; BUCKETS]>,
}

impl RateLimiter {
    /// Windows last 60 s / `time_scale`.
    pub(crate) fn new(limits: RateLimits, time_scale: f64) -> Self {
        Self {
            limits,
            window_secs: 60.0 / time_scale,
            windows: Mutex::new([Window::default(); BUCKETS]),
        }
    }

    pub(crate) fn limit(&self, bucket: Bucket) -> u32 {
        self.limits.get(bucket)
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
        *self.windows.lock().unwrap_or_else(PoisonError::into_inner) = [Window::default(); BUCKETS];
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
    fn buckets_follow_oktas_table() {
        for (method, path, bucket) in [
            ("GET", "/api/v1/users", Bucket::Users),
            ("POST", "/api/v1/users", Bucket::Users),
            ("GET", "/api/v1/users/00u1", Bucket::User),
            ("GET", "/api/v1/users/me", Bucket::User),
            ("PUT", "/api/v1/users/00u1", Bucket::UserWrites),
            ("DELETE", "/api/v1/users/00u1", Bucket::UserWrites),
            ("GET", "/api/v1/users/00u1/roles", Bucket::Other),
            ("GET", "/api/v1/apps", Bucket::Apps),
            ("GET", "/api/v1/apps/0oa1", Bucket::App),
            ("GET", "/api/v1/apps/0oa1/users", Bucket::Apps),
            ("GET", "/api/v1/groups", Bucket::Groups),
            ("GET", "/api/v1/groups/rules", Bucket::Groups),
            ("GET", "/api/v1/groups/00g1", Bucket::Group),
            ("GET", "/api/v1/groups/00g1/users", Bucket::Groups),
            ("GET", "/api/v1/logs", Bucket::Logs),
            ("GET", "/api/v1/policies", Bucket::Other),
            ("GET", "/api/v1/org", Bucket::Other),
            ("GET", "/api/v1/zones", Bucket::Other),
            ("GET", "/elsewhere", Bucket::Other),
        ] {
            assert_eq!(Bucket::for_request(method, path), bucket, "{method} {path}");
        }
    }

    #[test]
    fn defaults_and_names() {
        let limits = RateLimits::default();
        assert_eq!(limits.get(Bucket::Apps), 100);
        assert_eq!(limits.get(Bucket::User), 1000);
        assert_eq!(limits.get(Bucket::Logs), 50);
        assert_eq!(limits.get(Bucket::Other), 600);
        for bucket in Bucket::ALL {
            assert_eq!(Bucket::from_name(bucket.name()), Some(bucket));
        }
        assert_eq!(Bucket::from_name("policies"), Some(Bucket::Other));
        assert_eq!(Bucket::from_name("nope"), None);
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
