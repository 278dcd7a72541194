//! Anthropic's Messages API: `POST /v1/messages` with `x-api-key` and `anthropic-version`.
//!
//! Errors are `{"type": "error", "error": {"type": ..., "message": ...}}` with 429
//! `rate_limit_error` (and `retry-after`), 529 `overloaded_error`, 500 `api_error`, 504
//! `timeout_error`, 401/403/402 for the key or account and 400/404/413 for the request.

use serde::Deserialize;
use serde_json::json;

use super::{classify, error_kind, retry_after, CallError, Completion, ProviderConfig};
use crate::ai::prompts::Prompt;
use crate::ports::{HttpRequest, HttpResponse, Method};

/// The API version every request names (the current stable version of the Messages API).
pub const API_VERSION: &str = "2023-06-01";
/// Low randomness: the answers are technical advice.
const TEMPERATURE: f64 = 0.2;

pub(super) fn request(cfg: &ProviderConfig, prompt: &Prompt, safety_id: &str) -> HttpRequest {
    let body = json!({
        "model": cfg.model,
        "max_tokens": prompt.max_output_tokens,
        "system": prompt.system,
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt.user}]}],
        "temperature": TEMPERATURE,
        "metadata": {"user_id": safety_id},
    });
    HttpRequest {
        method: Method::Post,
        url: format!("{}/v1/messages", cfg.base_url),
        headers: vec![
            ("x-api-key".into(), cfg.api_key().to_owned()),
            ("anthropic-version".into(), API_VERSION.into()),
            ("content-type".into(), "application/json".into()),
            ("accept".into(), "application/json".into()),
        ],
        body: Some(serde_json::to_vec(&body).expect("a Value always serialises")),
    }
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    model: String,
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Usage,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub(super) fn response(r: &HttpResponse) -> Result<Completion, CallError> {
    if !(200..300).contains(&r.status) {
        let kind = serde_json::from_slice::<ErrorBody>(&r.body)
            .ok()
            .and_then(|b| b.error)
            .and_then(|e| e.kind);
        return Err(classify(
            r.status,
            error_kind(kind.as_deref()),
            retry_after(r),
        ));
    }
    let m: Message = serde_json::from_slice(&r.body)
        .map_err(|_| CallError::InvalidResponse("not a Messages API message"))?;
    if m.kind != "message" {
        return Err(CallError::InvalidResponse("not a Messages API message"));
    }
    if m.stop_reason.as_deref() == Some("refusal") {
        return Err(CallError::Refused);
    }
    let mut text = String::new();
    for block in &m.content {
        match (block.kind.as_str(), &block.text) {
            ("text", Some(t)) => text.push_str(t),
            // No tools are offered, so a tool call is a response we must not act on.
            _ => {
                return Err(CallError::InvalidResponse(
                    "a content block other than text",
                ))
            }
        }
    }
    if text.trim().is_empty() {
        return Err(CallError::InvalidResponse("no text"));
    }
    let cached = m.usage.cache_creation_input_tokens.unwrap_or(0)
        + m.usage.cache_read_input_tokens.unwrap_or(0);
    Ok(Completion {
        text,
        model: m.model,
        input_tokens: m.usage.input_tokens + cached,
        output_tokens: m.usage.output_tokens,
        stop_reason: m.stop_reason.unwrap_or_default(),
        request_id: r.header("request-id").map(str::to_owned).or(m.id),
    })
}
