//! Rate-limit pacing from Okta's `X-Rate-Limit-*` headers, per endpoint bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ports::HttpResponse;

/// The longest single wait we accept from a server-supplied reset time: Okta windows are one
/// minute, so anything longer is a broken or hostile header.
pub const MAX_WAIT: Duration = Duration::from_secs(65);

/// Share of each bucket left for the customer's other integrations (and for requests already
/// in flight when the last response was read).
const HEADROOM_PERCENT: u64 = 5;

/// Waiting past a window's reset by this much absorbs clock skew between us and Okta (both
/// NTP-synchronised) and the rounding of the reset to whole seconds.
const SKEW_MARGIN_MS: i64 = 250;

/// The rate-limit window Okta last reported for a bucket. Kept in a backup's checkpoint, so the
/// next invocation does not start by overrunning a bucket the last one nearly spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

    /// How long to wait until this window resets (plus the skew margin), bounded by
    /// [`MAX_WAIT`].
    pub fn until_reset(&self, now_ms: i64) -> Duration {
        let ms = self
            .reset
            .saturating_mul(1000)
            .saturating_sub(now_ms)
            .saturating_add(SKEW_MARGIN_MS)
            .clamp(0, MAX_WAIT.as_millis() as i64);
        Duration::from_millis(ms as u64)
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

/// Last-seen window per bucket.
#[derive(Default, Debug)]
pub struct Pacer {
    windows: BTreeMap<String, Window>,
}

impl Pacer {
    pub fn windows(&self) -> &BTreeMap<String, Window> {
        &self.windows
    }

    /// Adopts windows remembered from an earlier invocation (a fresher observation wins).
    pub fn restore(&mut self, windows: &BTreeMap<String, Window>) {
        for (bucket, window) in windows {
            self.windows.entry(bucket.clone()).or_insert(*window);
        }
    }

    pub fn observe(&mut self, bucket: &str, window: Window) {
        self.windows.insert(bucket.to_string(), window);
    }

    /// Wait needed before the next request to `bucket`: none while above the headroom, else until
    /// the window resets.
    pub fn wait_before(&mut self, bucket: &str, now_ms: i64) -> Option<Duration> {
        let window = self.windows.get(bucket)?;
        if window.reset.saturating_mul(1000) + SKEW_MARGIN_MS <= now_ms {
            self.windows.remove(bucket);
            return None;
        }
        let reserve = (window.limit * HEADROOM_PERCENT).div_ceil(100).max(1);
        (window.remaining <= reserve).then(|| window.until_reset(now_ms))
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
        let now_ms = now * 1000;
        let window = |remaining| Window {
            limit: 100,
            remaining,
            reset: now + 30,
        };
        pacer.observe("/api/v1/apps", window(6));
        assert_eq!(pacer.wait_before("/api/v1/apps", now_ms), None);
        pacer.observe("/api/v1/apps", window(5));
        assert_eq!(
            pacer.wait_before("/api/v1/apps", now_ms + 500),
            Some(Duration::from_millis(29_750))
        );
        // After the reset the old window no longer applies.
        assert_eq!(pacer.wait_before("/api/v1/apps", now_ms + 30_250), None);
        assert_eq!(pacer.wait_before("/api/v1/users", now_ms), None);
    }

    #[test]
    fn remembered_windows_apply_until_a_fresher_one_is_seen() {
        let now = 1_700_000_000;
        let spent = Window {
            limit: 100,
            remaining: 0,
            reset: now + 10,
        };
        let mut earlier = Pacer::default();
        earlier.observe("/api/v1/apps", spent);
        let mut later = Pacer::default();
        later.restore(earlier.windows());
        assert!(later.wait_before("/api/v1/apps", now * 1000).is_some());
        let fresh = Window {
            remaining: 99,
            reset: now + 70,
            ..spent
        };
        later.observe("/api/v1/apps", fresh);
        later.restore(earlier.windows());
        assert_eq!(later.windows()["/api/v1/apps"], fresh);
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
        assert_eq!(past.until_reset(100_000), Duration::ZERO);
    }
}
