//! Injected failures, so tests can prove a client retries 5xx and 429, survives slow pages, and
//! copes with connections that drop and pages that arrive cut short.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;

/// Longest injectable delay (10 minutes), so a typo cannot park a request thread for good.
const MAX_DELAY_MS: u64 = 600_000;
/// Longest `reset_in_s` of an injected 429: one of Okta's rate-limit windows.
const MAX_RESET_IN_S: u64 = 60;

/// What a matching request gets instead of its normal answer (besides any delay).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Okta's error response for this status. For 429, `reset_in_s` overrides the
    /// `X-Rate-Limit-Reset` the bucket's window would give.
    Status {
        status: u16,
        reset_in_s: Option<u64>,
    },
    /// The connection is closed without a response byte.
    Reset,
    /// The normal status and headers, but the body is cut short: not valid JSON.
    Malformed,
}

/// "The next `count` requests whose path starts with `path_prefix` get `effect` and/or are
/// delayed by `delay`."
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    path_prefix: String,
    effect: Option<Effect>,
    delay: Duration,
    remaining: u32,
}

/// What one matching request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Injection {
    pub(crate) effect: Option<Effect>,
    pub(crate) delay: Duration,
}

impl Fault {
    /// Parses `{"path_prefix": "/api/v1/apps", "status": 503, "count": 2, "delay_ms": 0}` or
    /// `{"path_prefix": "/api/v1/users", "kind": "reset" | "malformed"}`; `count` defaults to 1,
    /// and at least one of `status`, `kind` and `delay_ms` is required (`status` and `kind`
    /// exclude each other). A 429 may add `"reset_in_s"` (0-60).
    pub(crate) fn from_json(body: &Value) -> Result<Self, String> {
        let path_prefix = body["path_prefix"]
            .as_str()
            .filter(|p| p.starts_with('/'))
            .ok_or("path_prefix must be a path starting with '/'")?
            .to_owned();
        let status = match &body["status"] {
            Value::Null => None,
            v => Some(
                v.as_u64()
                    .filter(|s| (400..=599).contains(s))
                    .ok_or("status must be an HTTP error status (400-599)")? as u16,
            ),
        };
        let reset_in_s = match &body["reset_in_s"] {
            Value::Null => None,
            _ if status != Some(429) => return Err("reset_in_s needs status 429".to_owned()),
            v => Some(
                v.as_u64()
                    .filter(|&s| s <= MAX_RESET_IN_S)
                    .ok_or("reset_in_s must be an integer from 0 to 60")?,
            ),
        };
        let kind = match &body["kind"] {
            Value::Null => None,
            v => Some(match v.as_str() {
                Some("reset") => Effect::Reset,
                Some("malformed") => Effect::Malformed,
                _ => return Err("kind must be \"reset\" or \"malformed\"".to_owned()),
            }),
        };
        let effect = match (status, kind) {
            (Some(_), Some(_)) => return Err("give a status or a kind, not both".to_owned()),
            (Some(status), None) => Some(Effect::Status { status, reset_in_s }),
            (None, kind) => kind,
        };
        let delay_ms = match &body["delay_ms"] {
            Value::Null => 0,
            v => v
                .as_u64()
                .filter(|&ms| ms <= MAX_DELAY_MS)
                .ok_or("delay_ms must be an integer from 0 to 600000")?,
        };
        let count = match &body["count"] {
            Value::Null => 1,
            v => v
                .as_u64()
                .and_then(|c| u32::try_from(c).ok())
                .filter(|&c| c > 0)
                .ok_or("count must be a positive integer")?,
        };
        if effect.is_none() && delay_ms == 0 {
            return Err("give a status, a kind, a delay_ms, or a delay with either".to_owned());
        }
        Ok(Self {
            path_prefix,
            effect,
            delay: Duration::from_millis(delay_ms),
            remaining: count,
        })
    }
}

#[derive(Default)]
pub(crate) struct Faults(Mutex<Vec<Fault>>);

impl Faults {
    /// Queues a fault; returns how many injections are now pending in total.
    pub(crate) fn add(&self, fault: Fault) -> u64 {
        let mut faults = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        faults.push(fault);
        faults.iter().map(|f| u64::from(f.remaining)).sum()
    }

    /// Injections not yet taken, over all faults.
    pub(crate) fn pending(&self) -> u64 {
        let faults = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        faults.iter().map(|f| u64::from(f.remaining)).sum()
    }

    /// Consumes one injection from the oldest fault matching `path`, if any.
    pub(crate) fn take(&self, path: &str) -> Option<Injection> {
        let mut faults = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let i = faults
            .iter()
            .position(|f| path.starts_with(&f.path_prefix))?;
        let fault = &mut faults[i];
        let injection = Injection {
            effect: fault.effect,
            delay: fault.delay,
        };
        fault.remaining -= 1;
        if fault.remaining == 0 {
            faults.remove(i);
        }
        Some(injection)
    }

    pub(crate) fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn consumes_in_order_then_stops() {
        let faults = Faults::default();
        let fault =
            Fault::from_json(&json!({"path_prefix": "/api/v1/apps", "status": 503, "count": 2}));
        assert_eq!(faults.add(fault.unwrap()), 2);
        assert_eq!(faults.take("/api/v1/users"), None);
        for _ in 0..2 {
            assert_eq!(
                faults.take("/api/v1/apps/0oa1").unwrap().effect,
                Some(Effect::Status {
                    status: 503,
                    reset_in_s: None
                })
            );
        }
        assert_eq!(faults.take("/api/v1/apps"), None);
        assert_eq!(faults.pending(), 0);
    }

    #[test]
    fn rejects_meaningless_faults() {
        for body in [
            json!({"status": 503}),
            json!({"path_prefix": "/api", "status": 200}),
            json!({"path_prefix": "/api", "count": 0, "status": 500}),
            json!({"path_prefix": "/api"}),
            json!({"path_prefix": "/api", "delay_ms": -1}),
            json!({"path_prefix": "/api", "delay_ms": 600_001}),
            json!({"path_prefix": "/api", "kind": "explode"}),
            json!({"path_prefix": "/api", "kind": "reset", "status": 500}),
            json!({"path_prefix": "/api", "status": 503, "reset_in_s": 1}),
            json!({"path_prefix": "/api", "status": 429, "reset_in_s": 61}),
        ] {
            assert!(Fault::from_json(&body).is_err(), "{body}");
        }
        let slow = Fault::from_json(&json!({"path_prefix": "/api", "delay_ms": 50})).unwrap();
        assert_eq!(slow.delay, Duration::from_millis(50));
        assert_eq!(slow.effect, None);
    }

    #[test]
    fn parses_kinds() {
        let parse = |body: serde_json::Value| Fault::from_json(&body).unwrap().effect;
        assert_eq!(
            parse(json!({"path_prefix": "/api", "kind": "reset"})),
            Some(Effect::Reset)
        );
        assert_eq!(
            parse(json!({"path_prefix": "/api", "kind": "malformed", "delay_ms": 5})),
            Some(Effect::Malformed)
        );
        assert_eq!(
            parse(json!({"path_prefix": "/api", "status": 429, "reset_in_s": 1})),
            Some(Effect::Status {
                status: 429,
                reset_in_s: Some(1)
            })
        );
    }
}
