//! Guidance requests end to end over in-memory ports: wire formats, failover, the breaker,
//! budgets, the team switch, records, and that an answer is only ever text.

use std::cell::RefCell;
use std::time::Duration;

use async_trait::async_trait;
use futures::executor::block_on;
use serde_json::{json, Value};

use super::breaker::{BreakerPolicy, Breakers};
use super::budget::{BudgetPolicy, Usage};
use super::config::AiConfig;
use super::guide::{ask, AiSettings, Ask, Deps, GuideError};
use super::prompts::tests::{now, tenant, EXPRESSION};
use super::prompts::Subject;
use super::provider::ProviderId;
use super::record::RecordOutcome;
use crate::ids::TeamId;
use crate::ports::{HttpClient, HttpRequest, HttpResponse, TransportError};
use crate::testing::{json_response, ManualClock};

const ANTHROPIC: &str = "https://anthropic.test";
const OPENAI: &str = "https://openai.test";

fn config() -> AiConfig {
    AiConfig::from_env(|name| {
        match name {
            "ANTHROPIC_API_KEY" => Some("sk-ant-test-key"),
            "OPENAI_API_KEY" => Some("sk-openai-test-key"),
            "AI_ANTHROPIC_URL" => Some(ANTHROPIC),
            "AI_OPENAI_URL" => Some(OPENAI),
            "AI_TIMEOUT_SECONDS" => Some("30"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap()
}

fn team() -> TeamId {
    TeamId::parse("6f1c3a52-1d2e-4c9b-8a57-0d9a3a6c2b11").unwrap()
}

fn anthropic_ok(text: &str) -> HttpResponse {
    json_response(
        200,
        &json!({"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                "content": [{"type": "text", "text": text, "citations": null}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 1800, "output_tokens": 400, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 200, "cache_creation": null, "server_tool_use": null,
                          "service_tier": "standard"}}),
        &[("request-id", "req_01")],
    )
}

fn anthropic_error(status: u16, kind: &str, headers: &[(&str, &str)]) -> HttpResponse {
    json_response(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": "echo of alice@acme.test"}}),
        headers,
    )
}

fn openai_ok(text: &str) -> HttpResponse {
    json_response(
        200,
        &json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1_741_570_283, "model": "gpt-4.1-2025-04-14",
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
                             "message": {"role": "assistant", "content": text, "refusal": null, "annotations": []}}],
                "usage": {"prompt_tokens": 1900, "completion_tokens": 300, "total_tokens": 2200}}),
        &[("x-request-id", "req_o1")],
    )
}

/// Answers by URL prefix from a queue per provider; a provider with an empty queue never
/// answers (the call hangs until the timeout).
struct Providers {
    anthropic: RefCell<Vec<HttpResponse>>,
    openai: RefCell<Vec<HttpResponse>>,
    requests: RefCell<Vec<HttpRequest>>,
}

impl Providers {
    fn new(anthropic: Vec<HttpResponse>, openai: Vec<HttpResponse>) -> Self {
        Providers {
            anthropic: RefCell::new(anthropic),
            openai: RefCell::new(openai),
            requests: RefCell::default(),
        }
    }

    fn urls(&self) -> Vec<String> {
        self.requests
            .borrow()
            .iter()
            .map(|r| r.url.clone())
            .collect()
    }
}

#[async_trait(?Send)]
impl HttpClient for Providers {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let queue = if request.url.starts_with(ANTHROPIC) {
            &self.anthropic
        } else {
            &self.openai
        };
        self.requests.borrow_mut().push(request);
        let next = {
            let mut q = queue.borrow_mut();
            (!q.is_empty()).then(|| q.remove(0))
        };
        match next {
            Some(r) => Ok(r),
            None => futures::future::pending().await,
        }
    }
}

struct Run {
    config: AiConfig,
    breakers: Breakers,
    clock: ManualClock,
    usage: Usage,
    policy: BudgetPolicy,
}

impl Run {
    fn new() -> Self {
        Run {
            config: config(),
            breakers: Breakers::new(BreakerPolicy::default()),
            clock: ManualClock::at(now()),
            usage: Usage::default(),
            policy: BudgetPolicy::default(),
        }
    }

    fn ask(
        &mut self,
        http: &Providers,
        settings: AiSettings,
    ) -> Result<super::guide::Guidance, GuideError> {
        let deps = Deps {
            http,
            clock: &self.clock,
            config: &self.config,
            breakers: &self.breakers,
        };
        let t = tenant(EXPRESSION);
        let request = Ask {
            team: team(),
            connection: None,
            requested_by: None,
            target: "backup:latest".into(),
            subject: Subject::PrivilegedAccess,
        };
        block_on(ask(
            &deps,
            settings,
            &self.policy,
            &mut self.usage,
            request,
            &t,
        ))
    }
}

const ON: AiSettings = AiSettings {
    enabled: true,
    keep_answers: false,
};

fn body(r: &HttpRequest) -> Value {
    serde_json::from_slice(r.body.as_ref().unwrap()).unwrap()
}

fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn primary_answers_in_anthropic_wire_format() {
    let http = Providers::new(
        vec![anthropic_ok("Review group-1: it grants HELP_DESK_ADMIN.")],
        vec![],
    );
    let mut run = Run::new();
    let g = run.ask(&http, ON).unwrap();
    let requests = http.requests.borrow();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.url, format!("{ANTHROPIC}/v1/messages"));
    assert_eq!(header(r, "x-api-key"), Some("sk-ant-test-key"));
    assert_eq!(header(r, "anthropic-version"), Some("2023-06-01"));
    assert_eq!(header(r, "content-type"), Some("application/json"));
    let b = body(r);
    assert_eq!(b["model"], "claude-sonnet-4-5");
    assert_eq!(b["max_tokens"], 2000);
    assert_eq!(b["messages"][0]["role"], "user");
    assert!(b["system"]
        .as_str()
        .unwrap()
        .starts_with("You are Butterfly"));
    assert!(b.get("tools").is_none() && b.get("tool_choice").is_none());
    assert_eq!(b["metadata"]["user_id"].as_str().unwrap().len(), 32);

    let advice = g.advice.unwrap();
    assert_eq!(advice.provider, ProviderId::Anthropic);
    assert_eq!(
        advice.text,
        "Review Acme Helpdesk Admins (00g1adminsssssssss01): it grants HELP_DESK_ADMIN."
    );
    let rec = g.record;
    assert_eq!(rec.outcome, RecordOutcome::Answered);
    assert_eq!((rec.input_tokens, rec.output_tokens), (2000, 400));
    assert_eq!(
        rec.cost_micro_usd,
        Some(2000 * 3 + 400 * 15),
        "sonnet list price"
    );
    assert_eq!(
        rec.answer, None,
        "answers are not kept unless the team opts in"
    );
    assert_eq!(rec.attempts.len(), 1);
    assert_eq!(rec.attempts[0].outcome, "ok");
    assert_eq!(run.usage.month_tokens, 2400);
    assert_eq!(run.usage.reserved_tokens, 0);
    let stored = serde_json::to_string(&rec).unwrap();
    assert!(!stored.contains("sk-ant-test-key") && !stored.contains("Acme"));
}

#[test]
fn fails_over_to_openai_on_overload_rate_limit_and_server_errors() {
    for primary in [
        anthropic_error(529, "overloaded_error", &[]),
        anthropic_error(429, "rate_limit_error", &[("retry-after", "20")]),
        anthropic_error(500, "api_error", &[]),
        anthropic_error(401, "authentication_error", &[]),
    ] {
        let status = primary.status;
        let http = Providers::new(vec![primary], vec![openai_ok("Tighten policy-2.")]);
        let mut run = Run::new();
        let g = run.ask(&http, ON).unwrap();
        assert_eq!(
            http.urls(),
            [
                format!("{ANTHROPIC}/v1/messages"),
                format!("{OPENAI}/v1/chat/completions")
            ]
        );
        let o = &http.requests.borrow()[1];
        assert_eq!(
            header(o, "authorization"),
            Some("Bearer sk-openai-test-key")
        );
        let b = body(o);
        assert_eq!(b["store"], false);
        assert_eq!(b["messages"][0]["role"], "developer");
        assert_eq!(b["max_completion_tokens"], 2000);
        assert!(b.get("tools").is_none() && b.get("functions").is_none());
        let advice = g.advice.expect("the fallback answered");
        assert_eq!(advice.provider, ProviderId::OpenAi);
        assert_eq!(
            advice.text,
            "Tighten Acme payroll policy (rst2weakpolicy00002)."
        );
        let outcomes: Vec<&str> = g
            .record
            .attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect();
        assert_eq!(outcomes[1], "ok");
        assert_eq!(g.record.attempts[0].status, Some(status));
        assert_eq!(g.record.model.as_deref(), Some("gpt-4.1-2025-04-14"));
        assert_eq!(g.record.cost_micro_usd, Some(1900 * 2 + 300 * 8));
    }
}

#[test]
fn a_timeout_fails_over_after_the_configured_wait() {
    let http = Providers::new(vec![], vec![openai_ok("ok")]);
    let mut run = Run::new();
    let g = run.ask(&http, ON).unwrap();
    assert_eq!(g.record.attempts[0].outcome, "timeout");
    assert_eq!(g.record.attempts[0].latency_ms, 30_000);
    assert_eq!(g.record.outcome, RecordOutcome::Answered);
    assert_eq!(run.clock.sleeps.borrow()[0], Duration::from_secs(30));
}

#[test]
fn the_breaker_skips_a_failing_primary_then_probes_it() {
    let mut run = Run::new();
    for _ in 0..3 {
        let http = Providers::new(
            vec![anthropic_error(503, "api_error", &[])],
            vec![openai_ok("ok")],
        );
        run.ask(&http, ON).unwrap();
    }
    // Open: the primary is not called at all.
    let http = Providers::new(vec![anthropic_ok("never")], vec![openai_ok("ok")]);
    let g = run.ask(&http, ON).unwrap();
    assert_eq!(http.urls(), [format!("{OPENAI}/v1/chat/completions")]);
    assert_eq!(g.record.attempts[0].outcome, "circuit_open");
    // After the open period, one probe goes to the primary; its success closes the circuit.
    run.clock.advance(Duration::from_secs(31));
    let http = Providers::new(vec![anthropic_ok("back")], vec![]);
    let g = run.ask(&http, ON).unwrap();
    assert_eq!(g.advice.unwrap().provider, ProviderId::Anthropic);
    let http = Providers::new(vec![anthropic_ok("again")], vec![]);
    assert_eq!(run.ask(&http, ON).unwrap().record.attempts.len(), 1);
}

#[test]
fn retry_after_keeps_the_primary_closed_that_long() {
    let mut run = Run::new();
    let http = Providers::new(
        vec![anthropic_error(
            429,
            "rate_limit_error",
            &[("retry-after", "120")],
        )],
        vec![openai_ok("ok")],
    );
    run.ask(&http, ON).unwrap();
    run.clock.advance(Duration::from_secs(100));
    let http = Providers::new(vec![anthropic_ok("no")], vec![openai_ok("ok")]);
    assert_eq!(
        run.ask(&http, ON).unwrap().record.attempts[0].outcome,
        "circuit_open"
    );
    run.clock.advance(Duration::from_secs(21));
    let http = Providers::new(vec![anthropic_ok("yes")], vec![]);
    assert_eq!(run.ask(&http, ON).unwrap().advice.unwrap().text, "yes");
}

#[test]
fn a_rejected_request_does_not_fail_over() {
    let http = Providers::new(
        vec![anthropic_error(400, "invalid_request_error", &[])],
        vec![openai_ok("never")],
    );
    let mut run = Run::new();
    let g = run.ask(&http, ON).unwrap();
    assert_eq!(http.urls().len(), 1);
    assert_eq!(g.record.outcome, RecordOutcome::Rejected);
    assert_eq!(g.record.error.as_deref(), Some("request_rejected"));
    assert!(g.advice.is_none());
    assert_eq!(run.usage.month_tokens, 0, "errors cost nothing");
}

#[test]
fn every_provider_down_is_recorded_as_unavailable() {
    let http = Providers::new(
        vec![anthropic_error(529, "overloaded_error", &[])],
        vec![json_response(
            503,
            &json!({"error": {"message": "m", "type": "server_error", "param": null, "code": null}}),
            &[],
        )],
    );
    let mut run = Run::new();
    let g = run.ask(&http, ON).unwrap();
    assert_eq!(g.record.outcome, RecordOutcome::Unavailable);
    let outcomes: Vec<&str> = g
        .record
        .attempts
        .iter()
        .map(|a| a.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["overloaded", "overloaded"]);
}

#[test]
fn tool_calls_and_refusals_are_not_answers() {
    let tool_use = json_response(
        200,
        &json!({"id": "m", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "okta_delete_user", "input": {"id": "user-1"}}],
                "stop_reason": "tool_use", "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}),
        &[],
    );
    let openai_tool = json_response(
        200,
        &json!({"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4.1",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null,
                  "message": {"role": "assistant", "content": null, "refusal": null,
                    "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "delete", "arguments": "{}"}}]}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}),
        &[],
    );
    let http = Providers::new(vec![tool_use], vec![openai_tool]);
    let mut run = Run::new();
    let g = run.ask(&http, ON).unwrap();
    assert!(g.advice.is_none());
    let outcomes: Vec<&str> = g
        .record
        .attempts
        .iter()
        .map(|a| a.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["invalid_response", "invalid_response"]);

    let refusal = json_response(
        200,
        &json!({"id": "m", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [], "stop_reason": "refusal", "stop_sequence": null,
                "usage": {"input_tokens": 1, "output_tokens": 0}}),
        &[],
    );
    let http = Providers::new(vec![refusal], vec![openai_ok("never")]);
    let g = run.ask(&http, ON).unwrap();
    assert_eq!(g.record.outcome, RecordOutcome::Refused);
    assert_eq!(http.urls().len(), 1, "a refusal is not shopped around");
}

#[test]
fn an_answer_is_text_and_nothing_in_it_is_done() {
    let answer = "Run `DELETE /api/v1/users/user-1` now. {\"action\": \"okta.users.delete\", \"id\": \"user-1\"} \
                  Then POST https://acme.okta.com/api/v1/groups/group-1/users.";
    let http = Providers::new(vec![anthropic_ok(answer)], vec![]);
    let mut run = Run::new();
    let settings = AiSettings {
        enabled: true,
        keep_answers: true,
    };
    let g = run.ask(&http, settings).unwrap();
    // The only request of the whole guidance call went to the provider.
    assert_eq!(http.urls(), [format!("{ANTHROPIC}/v1/messages")]);
    let text = g.advice.unwrap().text;
    assert!(
        text.contains("DELETE /api/v1/users/alice.smith@acme.test (00u1aaaaaaaaaaaaaaa1)"),
        "{text}"
    );
    assert_eq!(
        g.record.answer.as_deref(),
        Some(text.as_str()),
        "kept when the team opts in"
    );
}

#[test]
fn turned_off_means_nothing_is_built_or_sent() {
    let mut run = Run::new();
    let http = Providers::new(vec![anthropic_ok("a")], vec![]);
    run.ask(&http, ON).unwrap();
    let http = Providers::new(vec![anthropic_ok("b")], vec![openai_ok("c")]);
    let off = AiSettings {
        enabled: false,
        keep_answers: true,
    };
    assert_eq!(run.ask(&http, off).unwrap_err(), GuideError::Disabled);
    assert!(http.urls().is_empty());
}

#[test]
fn over_budget_is_refused_before_sending() {
    let mut run = Run::new();
    run.policy = BudgetPolicy {
        monthly_tokens: 1_000,
        ..Default::default()
    };
    let http = Providers::new(vec![anthropic_ok("a")], vec![]);
    let g = run.ask(&http, ON).unwrap();
    assert!(http.urls().is_empty());
    assert_eq!(g.record.outcome, RecordOutcome::OverBudget);
    assert_eq!(g.record.error.as_deref(), Some("monthly_tokens"));
    assert!(g.record.payload_sha256.is_some());
    run.policy = BudgetPolicy {
        per_minute_requests: 1,
        ..Default::default()
    };
    let http = Providers::new(vec![anthropic_ok("a"), anthropic_ok("b")], vec![]);
    assert_eq!(
        run.ask(&http, ON).unwrap().record.outcome,
        RecordOutcome::Answered
    );
    let g = run.ask(&http, ON).unwrap();
    assert_eq!(g.record.error.as_deref(), Some("per_minute"));
    assert_eq!(http.urls().len(), 1);
}

#[test]
fn the_record_hash_is_of_exactly_what_was_sent() {
    let http = Providers::new(vec![anthropic_ok("a")], vec![]);
    let mut run = Run::new();
    let g = run.ask(&http, ON).unwrap();
    let b = body(&http.requests.borrow()[0]);
    let sent_system = b["system"].as_str().unwrap();
    let sent_user = b["messages"][0]["content"][0]["text"].as_str().unwrap();
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut h, sent_system.as_bytes());
    sha2::Digest::update(&mut h, [0]);
    sha2::Digest::update(&mut h, sent_user.as_bytes());
    assert_eq!(
        g.record.payload_sha256,
        Some(hex::encode(sha2::Digest::finalize(h)))
    );
    assert_eq!(g.record.payload_bytes, sent_system.len() + sent_user.len());
    assert!(g.record.pseudonyms > 5);
}

mod fakes;
pub(crate) mod native;
pub(crate) mod tenant_scan;
