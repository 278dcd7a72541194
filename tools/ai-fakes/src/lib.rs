//! Local fakes of the two AI providers Butterfly uses, so its tests run offline:
//! Anthropic's Messages API (`POST /v1/messages`) and OpenAI's Chat Completions API
//! (`POST /v1/chat/completions`), each on its own port.
//!
//! Every request is checked the way the provider checks it — its key and required headers,
//! and its body against the provider's published schema (`spec/`, with provenance in
//! `spec/NOTICE.md`) — and answered with the provider's success or error shapes. A request
//! that breaks the schema gets the provider's 400 and is listed in [`RunningFakes::violations`],
//! so a test can assert there were none. Faults (429 with `retry-after`, 5xx, 529, slow
//! answers) are injected per provider, and every request is recorded for inspection.
//!
//! ```no_run
//! let fakes = ai_fakes::start(ai_fakes::FakeConfig::default())?;
//! let anthropic = fakes.url(ai_fakes::Provider::Anthropic); // http://127.0.0.1:<port>
//! fakes.inject(ai_fakes::Provider::Anthropic, ai_fakes::Fault::status(529, 1));
//! # Ok::<(), std::io::Error>(())
//! ```

mod anthropic;
mod exchange;
mod openai;
pub mod schema;
mod server;

pub use server::{start, Recorded, RunningFakes};

/// Which provider a fake plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    Anthropic,
    OpenAi,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
        }
    }
}

/// Where the fakes listen and which keys they accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeConfig {
    pub host: String,
    /// 0 lets the OS pick a free port.
    pub anthropic_port: u16,
    pub openai_port: u16,
    pub anthropic_key: String,
    pub openai_key: String,
}

/// The keys accepted when none are configured.
pub const DEFAULT_ANTHROPIC_KEY: &str = "sk-ant-fake-0123456789";
pub const DEFAULT_OPENAI_KEY: &str = "sk-openai-fake-0123456789";

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            host: "127.0.0.1".into(),
            anthropic_port: 0,
            openai_port: 0,
            anthropic_key: DEFAULT_ANTHROPIC_KEY.into(),
            openai_key: DEFAULT_OPENAI_KEY.into(),
        }
    }
}

/// An injected fault, applied to the next `count` API requests to one provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Answer with this status and the provider's error body for it.
    pub status: Option<u16>,
    /// `retry-after` seconds sent with the error.
    pub retry_after_s: Option<u64>,
    /// Wait this long before answering (with the error, or normally).
    pub delay_ms: u64,
    pub count: u32,
}

impl Fault {
    pub fn status(status: u16, count: u32) -> Self {
        Fault {
            status: Some(status),
            retry_after_s: None,
            delay_ms: 0,
            count,
        }
    }

    pub fn slow(delay_ms: u64, count: u32) -> Self {
        Fault {
            status: None,
            retry_after_s: None,
            delay_ms,
            count,
        }
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }

    /// From the JSON a test posts to `/__fake/faults`:
    /// `{"status": 429, "retry_after": 5, "delay_ms": 0, "count": 1}`.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let field = |name: &str| v.get(name).filter(|x| !x.is_null());
        let number = |name: &str, max: u64| -> Result<Option<u64>, String> {
            match field(name) {
                None => Ok(None),
                Some(x) => x
                    .as_u64()
                    .filter(|n| *n <= max)
                    .map(Some)
                    .ok_or_else(|| format!("`{name}` must be an integer up to {max}")),
            }
        };
        let status = number("status", 599)?.map(|s| s as u16);
        if status.is_some_and(|s| s < 400) {
            return Err("`status` must be 400-599".into());
        }
        let delay_ms = number("delay_ms", 600_000)?.unwrap_or(0);
        if status.is_none() && delay_ms == 0 {
            return Err("a fault needs `status` or `delay_ms`".into());
        }
        Ok(Fault {
            status,
            retry_after_s: number("retry_after", 86_400)?,
            delay_ms,
            count: number("count", 10_000)?.unwrap_or(1).max(1) as u32,
        })
    }
}

/// Pseudonym-like words (`user-3`, `group-1`) in `text`, in order of first appearance: the
/// fakes' default answers mention them so tests can see re-identification work end to end.
pub(crate) fn mentioned_tokens(text: &str, max: usize) -> Vec<String> {
    const PREFIXES: [&str; 8] = [
        "user",
        "group",
        "app",
        "policy",
        "rule",
        "grouprule",
        "zone",
        "idp",
    ];
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        if let Some((prefix, n)) = word.split_once('-') {
            let token = PREFIXES.contains(&prefix)
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit());
            if token && !out.iter().any(|w| w == word) {
                out.push(word.to_owned());
                if out.len() == max {
                    break;
                }
            }
        }
    }
    out
}
