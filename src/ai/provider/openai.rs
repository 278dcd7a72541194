//! OpenAI's Chat Completions API: `POST /v1/chat/completions` with a Bearer key.
//!
//! Requests set `store: false` (nothing kept for distillation or evals) and name the team only
//! by an opaque `safety_identifier`. Errors are `{"error": {"message", "type", "param",
//! "code"}}`: 429 (`rate_limit_exceeded`, or `insufficient_quota` for an exhausted account),
//! 500/502/503 server errors, 401/403 for the key and 400/404 for the request.

use serde::Deserialize;
use serde_json::json;

use super::{classify, error_kind, retry_after, CallError, Completion, ProviderConfig};
use crate::ai::prompts::Prompt;
use crate::ports::{HttpRequest, HttpResponse, Method};

pub(super) fn request(cfg: &ProviderConfig, prompt: &Prompt, safety_id: &str) -> HttpRequest {
    let body = json!({
        "model": cfg.model,
        "messages": [
            {"role": "developer", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ],
        "max_completion_tokens": prompt.max_output_tokens,
        "n": 1,
        "store": false,
        "safety_identifier": safety_id,
    });
    HttpRequest {
        method: Method::Post,
        url: format!("{}/v1/chat/completions", cfg.base_url),
        headers: vec![
            ("authorization".into(), format!("Bearer {}", cfg.api_key())),
            ("content-type".into(), "application/json".into()),
            ("accept".into(), "application/json".into()),
        ],
        body: Some(serde_json::to_vec(&body).expect("a Value always serialises")),
    }
}

#[derive(Deserialize)]
struct ChatCompletion {
    id: Option<String>,
    object: String,
    model: String,
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    finish_reason: Option<String>,
    message: ResponseMessage,
}

#[derive(Deserialize)]
struct ResponseMessage {
    content: Option<String>,
    refusal: Option<String>,
    tool_calls: Option<Vec<serde_json::Value>>,
    function_call: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
}

pub(super) fn response(r: &HttpResponse) -> Result<Completion, CallError> {
    if !(200..300).contains(&r.status) {
        let detail = serde_json::from_slice::<ErrorBody>(&r.body)
            .ok()
            .and_then(|b| b.error);
        let kind = detail.and_then(|d| d.code.or(d.kind));
        return Err(classify(
            r.status,
            error_kind(kind.as_deref()),
            retry_after(r),
        ));
    }
    let c: ChatCompletion = serde_json::from_slice(&r.body)
        .map_err(|_| CallError::InvalidResponse("not a chat completion"))?;
    if c.object != "chat.completion" {
        return Err(CallError::InvalidResponse("not a chat completion"));
    }
    let choice = c
        .choices
        .into_iter()
        .next()
        .ok_or(CallError::InvalidResponse("no choices"))?;
    let message = choice.message;
    if message.refusal.is_some_and(|r| !r.is_empty()) {
        return Err(CallError::Refused);
    }
    // No tools are offered, so a tool call is a response we must not act on.
    if message.tool_calls.is_some_and(|t| !t.is_empty()) || message.function_call.is_some() {
        return Err(CallError::InvalidResponse("a tool call"));
    }
    let text = message
        .content
        .filter(|t| !t.trim().is_empty())
        .ok_or(CallError::InvalidResponse("no text"))?;
    let usage = c.usage.ok_or(CallError::InvalidResponse("no usage"))?;
    Ok(Completion {
        text,
        model: c.model,
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
        stop_reason: choice.finish_reason.unwrap_or_default(),
        request_id: r.header("x-request-id").map(str::to_owned).or(c.id),
    })
}
