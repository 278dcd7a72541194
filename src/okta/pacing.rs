//! Rate-limit pacing from Okta's `X-Rate-Limit-*` headers, per endpoint bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ports::HttpResponse;

/// The longest single wait we accept from a server-supplied reset time: Okta windows are one
/// minute, so anything longer is a broken or hostile header.
pub const MAX_WAIT: Duration = Duration::from_secs(65);

/// Share of each bucket left for the customer's other integrations.
const HEADROOM_PERCENT: u64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub limit: u64,
    pub remaining: u64,
    /// UTC epoch seconds when the window resets.
    pub reset: i64,
}

impl Window {
    pub fn from_response(response: &HttpResponse) -> Option<Window> {
        let num = |name| response.header(name)?.trim().parse::<i64>().ok();
        Some(Window {
            limit: u64::try_from(num("x-rate-limit-limit")?).ok()?,
            remaining: u64::try_from(num("x-rate-limit-remaining")?).ok()?,
            reset: num("x-rate-limit-reset")?,
        })
    }

    /// How long to wait until this window resets, bounded by [`MAX_WAIT`]; one extra second
    /// absorbs clock skew between us and Okta.
    pub fn until_reset(&self, now_unix: i64) -> Duration {
        let secs = self
            .reset
            .saturating_sub(now_unix)
            .saturating_add(1)
            .clamp(0, MAX_WAIT.as_secs() as i64);
        Duration::from_secs(secs as u64)
    }
}

/// Bucket key for a request path: Okta limits per endpoint family, e.g. `/api/v1/apps` and
/// `/api/v1/apps/{id}/...` are separate buckets.
pub fn bucket_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let mut segments = path.trim_start_matches('/').split('/');
    let family: Vec<&str> = segments.by_ref().take(3).collect();
    let nested = segments.next().is_some();
    format!("/{}{}", family.join("/"), if nested { "/*" } else { "" })
}

/// Last-seen window per bucket and what pacing cost.
#[derive(Default, Debug)]
pub struct Pacer {
    windows: BTreeMap<String, Window>,
}

impl Pacer {
    pub fn observe(&mut self, bucket: &str, window: Window) {
        self.windows.insert(bucket.to_string(), window);
    }

    /// Wait needed before the next request to `bucket`: none while above the headroom, else until
    /// the window resets.
    pub fn wait_before(&mut self, bucket: &str, now_unix: i64) -> Option<Duration> {
        let window = self.windows.get(bucket)?;
        if window.reset <= now_unix {
            self.windows.remove(bucket);
            return None;
        }
        let reserve = (window.limit * HEADROOM_PERCENT).div_ceil(100).max(1);
        (window.remaining <= reserve).then(|| window.until_reset(now_unix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_okta_endpoint_families() {
        assert_eq!(bucket_of("/api/v1/users?limit=200"), "/api/v1/users");
        assert_eq!(bucket_of("/api/v1/apps"), "/api/v1/apps");
        assert_eq!(bucket_of("/api/v1/apps/0oa1/users"), "/api/v1/apps/*");
        assert_eq!(
            bucket_of("/api/v1/groups/00g1/users?after=x"),
            "/api/v1/groups/*"
        );
    }

    #[test]
    fn waits_only_inside_the_headroom() {
        let mut pacer = Pacer::default();
        let now = 1_700_000_000;
        pacer.observe(
            "/api/v1/apps",
            Window {
                limit: 100,
                remaining: 50,
                reset: now + 30,
            },
        );
        assert_eq!(pacer.wait_before("/api/v1/apps", now), None);
        pacer.observe(
            "/api/v1/apps",
            Window {
                limit: 100,
                remaining: 10,
                reset: now + 30,
            },
        );
        assert_eq!(
            pacer.wait_before("/api/v1/apps", now),
            Some(Duration::from_secs(31))
        );
        // After the reset the old window no longer applies.
        assert_eq!(pacer.wait_before("/api/v1/apps", now + 31), None);
        assert_eq!(pacer.wait_before("/api/v1/users", now), None);
    }

    #[test]
    fn hostile_reset_times_are_bounded() {
        let w = Window {
            limit: 1,
            remaining: 0,
            reset: i64::MAX,
        };
        assert_eq!(w.until_reset(0), MAX_WAIT);
        let past = Window {
            limit: 1,
            remaining: 0,
            reset: 10,
        };
        assert_eq!(past.until_reset(100), Duration::ZERO);
    }
}
