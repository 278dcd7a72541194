//! The two model providers over the HTTP port: their wire formats and error handling.
//!
//! Each provider module turns a [`Prompt`] into one `HttpRequest` in the provider's documented
//! format and one `HttpResponse` into a [`Completion`] or a [`CallError`]. Neither sends tools,
//! functions or anything the model could invoke; a response that tries to call one is refused as
//! invalid. What happens between the two — timeouts, failover, the circuit breaker — is in
//! `failover`.

pub mod anthropic;
pub mod openai;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::prompts::Prompt;
use crate::ports::{HttpRequest, HttpResponse};

/// Longest error text kept from a provider (only its type or code; messages are dropped).
const MAX_ERROR_KIND: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderId {
    Anthropic,
    #[serde(rename = "openai")]
    OpenAi,
}

impl ProviderId {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::Anthropic => "anthropic",
            ProviderId::OpenAi => "openai",
        }
    }
}

/// One configured provider: where it is, which model, and the key (a `wrangler secret`).
#[derive(Clone)]
pub struct ProviderConfig {
    pub id: ProviderId,
    /// Origin of the API, e.g. `https://api.anthropic.com` (a local fake in tests).
    pub base_url: String,
    pub model: String,
    api_key: Zeroizing<String>,
    /// First 12 hex digits of the key's SHA-256: names the key in records without revealing
    /// it, so a rotation shows which calls used which key.
    pub key_id: String,
}

impl ProviderConfig {
    pub fn new(id: ProviderId, base_url: &str, model: &str, api_key: Zeroizing<String>) -> Self {
        let key_id = hex::encode(&Sha256::digest(api_key.as_bytes())[..6]);
        ProviderConfig {
            id,
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key,
            key_id,
        }
    }

    pub(crate) fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The provider's request for `prompt`; `safety_id` is an opaque per-team identifier the
    /// providers accept for abuse detection (never a name or an email).
    pub fn request(&self, prompt: &Prompt, safety_id: &str) -> HttpRequest {
        match self.id {
            ProviderId::Anthropic => anthropic::request(self, prompt, safety_id),
            ProviderId::OpenAi => openai::request(self, prompt, safety_id),
        }
    }

    pub fn response(&self, response: &HttpResponse) -> Result<Completion, CallError> {
        match self.id {
            ProviderId::Anthropic => anthropic::response(response),
            ProviderId::OpenAi => openai::response(response),
        }
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A model's answer: text only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    /// The model that answered, as the provider reports it.
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Why generation stopped, in the provider's words (`end_turn`, `stop`, `max_tokens`, ...).
    pub stop_reason: String,
    /// The provider's id for the request, for support cases.
    pub request_id: Option<String>,
}

/// Why a call did not produce a completion.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("transport failure")]
    Transport,
    #[error("rate limited (429 {kind})")]
    RateLimited {
        kind: String,
        retry_after: Option<Duration>,
    },
    #[error("overloaded ({status})")]
    Overloaded {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("server error ({status} {kind})")]
    Server {
        status: u16,
        kind: String,
        retry_after: Option<Duration>,
    },
    /// The provider refused our key or account (401, 402, 403): a configuration problem at that
    /// provider, not a property of the request.
    #[error("credentials or account refused ({status} {kind})")]
    Account { status: u16, kind: String },
    /// The provider rejected this request (400, 404, 413, 422): the other provider would too.
    #[error("request rejected ({status} {kind})")]
    Request { status: u16, kind: String },
    /// The model declined to answer.
    #[error("the model refused")]
    Refused,
    #[error("invalid response: {0}")]
    InvalidResponse(&'static str),
}

impl CallError {
    /// Whether the next provider should be tried: yes for anything about this provider
    /// (timeouts, 429, 5xx, a refused key, a broken response); no for a rejected request or a
    /// refusal, which another provider would not cure.
    pub fn fails_over(&self) -> bool {
        !matches!(self, CallError::Request { .. } | CallError::Refused)
    }

    /// Whether the failure says the provider is unwell, and so counts towards opening its
    /// circuit.
    pub fn trips_breaker(&self) -> bool {
        self.fails_over()
    }

    /// How long the provider asked us to stay away.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::RateLimited { retry_after, .. }
            | CallError::Overloaded { retry_after, .. }
            | CallError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A stable code for records and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::Timeout(_) => "timeout",
            CallError::Transport => "transport",
            CallError::RateLimited { .. } => "rate_limited",
            CallError::Overloaded { .. } => "overloaded",
            CallError::Server { .. } => "server_error",
            CallError::Account { .. } => "account",
            CallError::Request { .. } => "request_rejected",
            CallError::Refused => "refused",
            CallError::InvalidResponse(_) => "invalid_response",
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::RateLimited { .. } => Some(429),
            CallError::Overloaded { status, .. }
            | CallError::Server { status, .. }
            | CallError::Account { status, .. }
            | CallError::Request { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A provider's error type or code, bounded, for records; its message is never kept (it may
/// quote the request).
pub(crate) fn error_kind(kind: Option<&str>) -> String {
    let kind = kind.unwrap_or("unknown");
    kind.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(MAX_ERROR_KIND)
        .collect()
}

/// `Retry-After` (seconds; HTTP dates are ignored), `retry-after-ms`, or OpenAI's
/// `x-ratelimit-reset-requests` (`1s`, `6m0s`, `20ms`), whichever the response has first.
pub(crate) fn retry_after(response: &HttpResponse) -> Option<Duration> {
    if let Some(ms) = response
        .header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_millis(ms as u64));
    }
    if let Some(secs) = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_millis((secs * 1000.0) as u64));
    }
    response
        .header("x-ratelimit-reset-requests")
        .and_then(go_duration)
}

/// A Go-style duration such as `1m30.5s` or `250ms`.
fn go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = s.trim().chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += value * unit;
        any = true;
    }
    (any && number.is_empty()).then(|| Duration::from_secs_f64(total))
}

/// The classification both providers share for a non-2xx status.
pub(crate) fn classify(status: u16, kind: String, retry: Option<Duration>) -> CallError {
    match status {
        429 => CallError::RateLimited {
            kind,
            retry_after: retry,
        },
        503 | 529 => CallError::Overloaded {
            status,
            retry_after: retry,
        },
        401..=403 => CallError::Account { status, kind },
        s if s >= 500 => CallError::Server {
            status,
            kind,
            retry_after: retry,
        },
        _ => CallError::Request { status, kind },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status: 429,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: vec![],
        }
    }

    #[test]
    fn retry_after_from_any_of_the_headers() {
        assert_eq!(
            retry_after(&with(&[("Retry-After", "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&with(&[("retry-after-ms", "1500"), ("retry-after", "9")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&with(&[("x-ratelimit-reset-requests", "1m30.5s")])),
            Some(Duration::from_millis(90_500))
        );
        assert_eq!(
            retry_after(&with(&[("x-ratelimit-reset-requests", "250ms")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&with(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")])),
            None
        );
        assert_eq!(
            retry_after(&with(&[("x-ratelimit-reset-requests", "soon")])),
            None
        );
        assert_eq!(retry_after(&with(&[])), None);
    }

    #[test]
    fn classification_decides_failover() {
        let c = |s| classify(s, "x".into(), None);
        for s in [429, 500, 502, 503, 504, 529, 401, 402, 403] {
            assert!(c(s).fails_over(), "{s}");
        }
        for s in [400, 404, 413, 422] {
            assert!(!c(s).fails_over(), "{s}");
        }
        assert!(CallError::Timeout(Duration::from_secs(1)).fails_over());
        assert!(CallError::Transport.fails_over());
        assert!(!CallError::Refused.fails_over());
        assert_eq!(c(529).code(), "overloaded");
        assert_eq!(c(504).status(), Some(504));
    }

    #[test]
    fn keys_are_named_by_fingerprint_and_never_shown() {
        let p = ProviderConfig::new(
            ProviderId::Anthropic,
            "https://api.anthropic.com/",
            "m",
            Zeroizing::new("sk-ant-secret".into()),
        );
        assert_eq!(p.key_id.len(), 12);
        assert_eq!(p.base_url, "https://api.anthropic.com");
        assert!(!format!("{p:?}").contains("sk-ant-secret"));
        assert_eq!(
            error_kind(Some("rate_limit_error\n<x>")),
            "rate_limit_errorx"
        );
    }
}
