//! Injected failures, so tests can prove a client retries 5xx and 429, survives slow pages, copes
//! with connections that drop and pages that arrive cut short, with `next` links that loop or
//! lead to an empty page, with cursors Okta no longer accepts, and with a token revoked mid-run.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;

/// Longest injectable delay (10 minutes), so a typo cannot park a request thread for good.
const MAX_DELAY_MS: u64 = 600_000;
/// Longest `reset_in_s` of an injected 429: one of Okta's rate-limit windows.
const MAX_RESET_IN_S: u64 = 60;
const KINDS: &str =
    "\"reset\", \"malformed\", \"loop_next\", \"empty_next\", \"expired_cursor\", \"revoke_token\"";

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
    /// A page whose `next` link points back at the first page of the same list.
    LoopNext,
    /// A last page that still has a `next` link, to a page with no items and no `next` link.
    EmptyNext,
    /// A request carrying an `after` cursor is refused as Okta refuses one it no longer accepts.
    ExpiredCursor,
    /// The caller's token is revoked: this and every later request with it get Okta's 401.
    RevokeToken,
}

/// When a fault is taken: before routing, or once the answer is known (the link faults need a
/// list to change, and `EmptyNext` a last page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Before,
    After,
}

impl Effect {
    fn stage(effect: Option<Effect>) -> Stage {
        match effect {
            Some(Effect::LoopNext | Effect::EmptyNext) => Stage::After,
            _ => Stage::Before,
        }
    }
}

/// What the request in hand offers a fault.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The request has an `after` cursor.
    pub(crate) has_cursor: bool,
    /// The answer is a list (only known after routing).
    pub(crate) is_list: bool,
    /// The answer is a list with a `next` link.
    pub(crate) has_next: bool,
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
                Some("loop_next") => Effect::LoopNext,
                Some("empty_next") => Effect::EmptyNext,
                Some("expired_cursor") => Effect::ExpiredCursor,
                Some("revoke_token") => Effect::RevokeToken,
                _ => return Err(format!("kind must be one of {KINDS}")),
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

    /// Consumes one injection from the oldest fault of `stage` that matches `path` and can act
    /// on the request in hand, if any.
    pub(crate) fn take(&self, path: &str, stage: Stage, request: Candidate) -> Option<Injection> {
        let mut faults = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let applies = |fault: &Fault| {
            path.starts_with(&fault.path_prefix)
                && Effect::stage(fault.effect) == stage
                && match fault.effect {
                    Some(Effect::ExpiredCursor) => request.has_cursor,
                    Some(Effect::LoopNext) => request.is_list,
                    Some(Effect::EmptyNext) => request.is_list && !request.has_next,
                    _ => true,
                }
        };
        let i = faults.iter().position(applies)?;
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
        assert_eq!(
            faults.take("/api/v1/users", Stage::Before, Candidate::default()),
            None
        );
        for _ in 0..2 {
            assert_eq!(
                faults
                    .take("/api/v1/apps/0oa1", Stage::Before, Candidate::default())
                    .unwrap()
                    .effect,
                Some(Effect::Status {
                    status: 503,
                    reset_in_s: None
                })
            );
        }
        assert_eq!(
            faults.take("/api/v1/apps", Stage::Before, Candidate::default()),
            None
        );
        assert_eq!(faults.pending(), 0);
    }

    #[test]
    fn link_and_cursor_faults_wait_for_a_request_they_can_act_on() {
        let faults = Faults::default();
        for kind in ["expired_cursor", "empty_next", "loop_next"] {
            let fault = Fault::from_json(&json!({"path_prefix": "/api/v1/users", "kind": kind}));
            faults.add(fault.unwrap());
        }
        let first_page = Candidate::default();
        assert_eq!(
            faults.take("/api/v1/users", Stage::Before, first_page),
            None
        );
        let with_cursor = Candidate {
            has_cursor: true,
            ..first_page
        };
        let taken = faults.take("/api/v1/users", Stage::Before, with_cursor);
        assert_eq!(taken.unwrap().effect, Some(Effect::ExpiredCursor));
        // A middle page (with a `next` link) is no place for an empty trailing page.
        let middle = Candidate {
            is_list: true,
            has_next: true,
            ..first_page
        };
        let taken = faults.take("/api/v1/users", Stage::After, middle);
        assert_eq!(taken.unwrap().effect, Some(Effect::LoopNext));
        let single = Candidate {
            is_list: false,
            ..first_page
        };
        assert_eq!(faults.take("/api/v1/users", Stage::After, single), None);
        let last = Candidate {
            is_list: true,
            ..first_page
        };
        let taken = faults.take("/api/v1/users", Stage::After, last);
        assert_eq!(taken.unwrap().effect, Some(Effect::EmptyNext));
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
