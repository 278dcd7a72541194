//! The fakes against the providers' documented behaviour: accepted requests get answers that
//! match the response schemas, malformed ones get the provider's 400 and are listed as
//! violations, wrong keys get 401, and injected faults come back in the provider's error shapes.

use std::time::{Duration, Instant};

use ai_fakes::schema::Schema;
use ai_fakes::{FakeConfig, Fault, Provider, DEFAULT_ANTHROPIC_KEY, DEFAULT_OPENAI_KEY};
use serde_json::{json, Value};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn post(url: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
    let mut req = ureq::post(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let response = match req.send_string(&body.to_string()) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = response.header(&n).unwrap_or_default().to_owned();
            (n, v)
        })
        .collect();
    Reply {
        status,
        headers,
        body: response.into_json().unwrap(),
    }
}

fn anthropic_request() -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 500, "system": "Be brief.",
           "messages": [{"role": "user", "content": [{"type": "text", "text": "About group-2 and user-7."}]}],
           "temperature": 0.2, "metadata": {"user_id": "0123abcd"}})
}

fn openai_request() -> Value {
    json!({"model": "gpt-4.1", "messages": [{"role": "developer", "content": "Be brief."},
           {"role": "user", "content": "About app-3."}], "max_completion_tokens": 500, "n": 1,
           "store": false, "safety_identifier": "0123abcd"})
}

fn anthropic_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("x-api-key", DEFAULT_ANTHROPIC_KEY),
        ("anthropic-version", "2023-06-01"),
        ("content-type", "application/json"),
    ]
}

#[test]
fn anthropic_answers_valid_requests_with_schema_valid_messages() {
    let fakes = ai_fakes::start(FakeConfig::default()).unwrap();
    let url = format!("{}/v1/messages", fakes.url(Provider::Anthropic));
    let r = post(&url, &anthropic_headers(), &anthropic_request());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        Schema::AnthropicMessage.violations(&r.body),
        Vec::<String>::new()
    );
    assert!(r.body["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("group-2, user-7"));
    assert!(r.header("request-id").is_some());
    let recorded = fakes.requests(Provider::Anthropic);
    assert_eq!(recorded.len(), 1);
    assert!(recorded[0]
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("x-api-key") && v == "<redacted>"));
    assert!(fakes.violations(Provider::Anthropic).is_empty());

    fakes.answer_next(Provider::Anthropic, "scripted");
    let r = post(&url, &anthropic_headers(), &anthropic_request());
    assert_eq!(r.body["content"][0]["text"], "scripted");
}

#[test]
fn anthropic_rejects_what_the_api_rejects() {
    let fakes = ai_fakes::start(FakeConfig::default()).unwrap();
    let url = format!("{}/v1/messages", fakes.url(Provider::Anthropic));
    let mut wrong_key = anthropic_headers();
    wrong_key[0].1 = "sk-ant-wrong";
    let r = post(&url, &wrong_key, &anthropic_request());
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (401, Some("authentication_error"))
    );
    let no_version: Vec<_> = anthropic_headers()
        .into_iter()
        .filter(|(k, _)| *k != "anthropic-version")
        .collect();
    assert_eq!(post(&url, &no_version, &anthropic_request()).status, 400);
    for (field, value) in [
        ("max_tokens", json!(0)),
        ("temperature", json!(1.5)),
        ("tool", json!([])),
        ("messages", json!([{"role": "system", "content": "x"}])),
        ("metadata", json!({"user_id": "u", "email": "a@b.c"})),
    ] {
        let mut body = anthropic_request();
        body[field] = value;
        let r = post(&url, &anthropic_headers(), &body);
        assert_eq!(r.status, 400, "{field}");
        assert_eq!(r.body["error"]["type"], "invalid_request_error");
        assert_eq!(
            Schema::AnthropicError.violations(&r.body),
            Vec::<String>::new()
        );
    }
    assert!(fakes.violations(Provider::Anthropic).len() >= 6);
}

#[test]
fn anthropic_faults_use_the_documented_errors() {
    let fakes = ai_fakes::start(FakeConfig::default()).unwrap();
    let url = format!("{}/v1/messages", fakes.url(Provider::Anthropic));
    fakes.inject(Provider::Anthropic, Fault::status(429, 1).retry_after(7));
    fakes.inject(Provider::Anthropic, Fault::status(529, 1));
    fakes.inject(Provider::Anthropic, Fault::status(500, 1));
    let r = post(&url, &anthropic_headers(), &anthropic_request());
    assert_eq!((r.status, r.header("retry-after")), (429, Some("7")));
    assert_eq!(r.body["error"]["type"], "rate_limit_error");
    let r = post(&url, &anthropic_headers(), &anthropic_request());
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (529, Some("overloaded_error"))
    );
    let r = post(&url, &anthropic_headers(), &anthropic_request());
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (500, Some("api_error"))
    );
    assert_eq!(
        Schema::AnthropicError.violations(&r.body),
        Vec::<String>::new()
    );
    assert_eq!(
        post(&url, &anthropic_headers(), &anthropic_request()).status,
        200
    );

    fakes.inject(Provider::Anthropic, Fault::slow(300, 1));
    let t = Instant::now();
    assert_eq!(
        post(&url, &anthropic_headers(), &anthropic_request()).status,
        200
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[test]
fn openai_answers_rejects_and_faults_like_chat_completions() {
    let fakes = ai_fakes::start(FakeConfig::default()).unwrap();
    let url = format!("{}/v1/chat/completions", fakes.url(Provider::OpenAi));
    let auth = format!("Bearer {DEFAULT_OPENAI_KEY}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let r = post(&url, &headers, &openai_request());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        Schema::OpenAiResponse.violations(&r.body),
        Vec::<String>::new()
    );
    assert!(r.body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("app-3"));

    let r = post(
        &url,
        &[
            ("authorization", "Bearer nope"),
            ("content-type", "application/json"),
        ],
        &openai_request(),
    );
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
    let mut bad = openai_request();
    bad["messages"] = json!([]);
    bad["store"] = json!("no");
    let r = post(&url, &headers, &bad);
    assert_eq!(r.status, 400);
    assert_eq!(
        Schema::OpenAiError.violations(&r.body),
        Vec::<String>::new()
    );
    assert_eq!(
        fakes.violations(Provider::OpenAi).len(),
        2,
        "{:?}",
        fakes.violations(Provider::OpenAi)
    );

    fakes.inject(Provider::OpenAi, Fault::status(429, 1).retry_after(3));
    fakes.inject(Provider::OpenAi, Fault::status(503, 1));
    let r = post(&url, &headers, &openai_request());
    assert_eq!(r.status, 429);
    assert_eq!(r.body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(
        (
            r.header("retry-after"),
            r.header("x-ratelimit-reset-requests")
        ),
        (Some("3"), Some("3s"))
    );
    let r = post(&url, &headers, &openai_request());
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str()),
        (503, Some("server_error"))
    );
}

#[test]
fn controls_over_http() {
    let fakes = ai_fakes::start(FakeConfig::default()).unwrap();
    let base = fakes.url(Provider::Anthropic);
    let r = post(
        &format!("{base}/__fake/faults"),
        &[],
        &json!({"status": 529, "count": 2}),
    );
    assert_eq!(r.body, json!({"pending": 1}));
    let stats: Value = ureq::get(&format!("{base}/__fake/stats"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(stats["faults_pending"], 2);
    assert_eq!(
        post(
            &format!("{base}/__fake/faults"),
            &[],
            &json!({"status": 200})
        )
        .status,
        400
    );
    assert_eq!(
        post(&format!("{base}/__fake/faults"), &[], &json!({"count": 2})).status,
        400
    );
    post(&format!("{base}/__fake/reset"), &[], &json!({}));
    let stats: Value = ureq::get(&format!("{base}/__fake/stats"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(stats["faults_pending"], 0);
}
