//! The Messages API as Anthropic serves it: `x-api-key`, `anthropic-version`, the request schema,
//! `{"type": "error", "error": {...}}` errors with Anthropic's types, and `Message` answers.

use serde_json::{json, Value};

use crate::exchange::{header, Incoming, Reply};
use crate::schema::Schema;
use crate::{mentioned_tokens, Fault};

pub(crate) const MODEL_SUFFIX: &str = "-20250929";

pub(crate) fn handle(
    req: &Incoming,
    key: &str,
    fault: Option<&Fault>,
    answer: Option<String>,
    seq: u64,
) -> (Reply, Vec<String>) {
    let request_id = format!("req_fake{seq:08}");
    let error = |status: u16, kind: &str, message: &str| {
        let body = json!({"type": "error", "error": {"type": kind, "message": message}});
        Reply::json(status, body).header("request-id", &request_id)
    };
    if (req.method, req.path) != ("POST", "/v1/messages") {
        return (error(404, "not_found_error", "Not found"), vec![]);
    }
    match header(req.headers, "x-api-key") {
        None => {
            let m = "x-api-key header is required";
            return (error(401, "authentication_error", m), vec![m.into()]);
        }
        Some(k) if k != key => {
            return (
                error(401, "authentication_error", "invalid x-api-key"),
                vec![],
            )
        }
        Some(_) => {}
    }
    if header(req.headers, "anthropic-version").is_none() {
        let m = "anthropic-version: header is required";
        return (error(400, "invalid_request_error", m), vec![m.into()]);
    }
    if !header(req.headers, "content-type").is_some_and(|c| c.starts_with("application/json")) {
        let m = "content-type must be application/json";
        return (error(400, "invalid_request_error", m), vec![m.into()]);
    }
    let body: Value = match serde_json::from_slice(req.body) {
        Ok(v) => v,
        Err(_) => {
            let m = "request body is not valid JSON";
            return (error(400, "invalid_request_error", m), vec![m.into()]);
        }
    };
    let violations = Schema::AnthropicRequest.violations(&body);
    if !violations.is_empty() {
        return (
            error(400, "invalid_request_error", &violations.join("; ")),
            violations,
        );
    }
    if let Some(status) = fault.and_then(|f| f.status) {
        let (kind, message) = match status {
            429 => (
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
            ),
            529 => ("overloaded_error", "Overloaded"),
            504 => ("timeout_error", "Request timeout"),
            401 => ("authentication_error", "invalid x-api-key"),
            402 => ("billing_error", "Billing error"),
            403 => ("permission_error", "Permission denied"),
            413 => (
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes",
            ),
            s if s >= 500 => ("api_error", "Internal server error"),
            _ => ("invalid_request_error", "Invalid request"),
        };
        let mut reply = error(status, kind, message);
        if let Some(s) = fault.and_then(|f| f.retry_after_s) {
            reply = reply.header("retry-after", &s.to_string());
        }
        return (reply, vec![]);
    }
    let prompt = prompt_text(&body);
    let text = answer.unwrap_or_else(|| default_answer(&messages_text(&body)));
    let model = format!(
        "{}{MODEL_SUFFIX}",
        body["model"].as_str().unwrap_or("claude")
    );
    let message = json!({
        "id": format!("msg_fake{seq:08}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text, "citations": null}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {
            "input_tokens": prompt.len().div_ceil(4),
            "output_tokens": text.len().div_ceil(4),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
            "server_tool_use": null,
            "service_tier": "standard",
        },
    });
    let reply = Reply::json(200, message)
        .header("request-id", &request_id)
        .header("anthropic-ratelimit-requests-remaining", "49");
    (reply, vec![])
}

/// All text the request sends: system prompt and message contents.
fn prompt_text(body: &Value) -> String {
    let mut text = content_text(&body["system"]);
    text.push_str(&messages_text(body));
    text
}

/// The text of the messages alone (where the data is; the system prompt is instructions).
fn messages_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| content_text(&m["content"]))
        .collect()
}

fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect(),
        _ => String::new(),
    }
}

fn default_answer(prompt: &str) -> String {
    let tokens = mentioned_tokens(prompt, 3);
    format!(
        "Fake Anthropic advice. Start with {}; this answer is generated by Butterfly's local fake.",
        if tokens.is_empty() {
            "the org's policies".into()
        } else {
            tokens.join(", ")
        }
    )
}
