//! sendgrid-fake with Butterfly's mailer and event-webhook core: mail is captured as sent,
//! invalid bodies are refused the way SendGrid does, faults drive the outbox's retry policy, and
//! signed events verify with Butterfly's verifier and with SendGrid's own library.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use async_trait::async_trait;
use butterfly::email::address::EmailAddress;
use butterfly::email::event_webhook::{
    DeliveryEvent, EventAction, EventWebhookKey, EventWebhookVerifier, SuppressionReason,
};
use butterfly::email::messages::Notification;
use butterfly::email::sendgrid::{MailError, Mailer, Outgoing, SendGridKey, Sender};
use butterfly::email::unsubscribe;
use butterfly::ports::{HttpClient, HttpRequest, HttpResponse, TransportError};
use futures::executor::block_on;
use sendgrid_fake::{FakeConfig, RunningFake};
use serde_json::{json, Value};

const KEY: &str = "SG.fakefake.0123456789abcdefghijklmn";

struct UreqHttp;

#[async_trait(?Send)]
impl HttpClient for UreqHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut call = ureq::request(request.method.as_str(), &request.url);
        for (k, v) in &request.headers {
            call = call.set(k, v);
        }
        let result = match &request.body {
            Some(body) => call.send_bytes(body),
            None => call.call(),
        };
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(TransportError(e.to_string())),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_string())))
            .collect();
        let mut body = Vec::new();
        response
            .into_reader()
            .read_to_end(&mut body)
            .map_err(|e| TransportError(e.to_string()))?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn fake() -> RunningFake {
    sendgrid_fake::start(FakeConfig::default()).expect("fake starts")
}

fn sender() -> Sender {
    Sender {
        address: EmailAddress::parse("notifications@butterfly.example").unwrap(),
        name: "Butterfly".into(),
    }
}

fn messages(base: &str) -> Vec<Value> {
    let v: Value = ureq::get(&format!("{base}/__fake/messages"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    v["messages"].as_array().unwrap().clone()
}

fn drift_alert() -> Notification {
    Notification::DriftAlert {
        org_domain: "acme.okta.com".into(),
        changes: 4,
        high_severity: 1,
        report_url: "https://b.example/d/1".into(),
    }
}

#[test]
fn butterflys_mailer_is_captured_with_both_parts_and_one_click_headers() {
    let fake = fake();
    let base = fake.base_url();
    let key = SendGridKey::parse(KEY).unwrap();
    let sender = sender();
    let mailer = Mailer::new(&UreqHttp, &base, &key, &sender);
    let to = EmailAddress::parse("ops@acme.example").unwrap();
    let link = unsubscribe::link("https://b.example", "v1.k1.p.m");
    let content = drift_alert().render(Some(&link));
    let accepted = block_on(mailer.send(&Outgoing {
        to: &to,
        content: &content,
        category: "alerts",
        headers: unsubscribe::headers(&link),
        outbox_id: Some("row-1"),
    }))
    .unwrap();
    let id = accepted.message_id.expect("X-Message-Id");

    let captured = messages(&base);
    assert_eq!(captured.len(), 1);
    let m = &captured[0];
    assert_eq!(m["id"], id);
    assert_eq!(m["to"], json!(["ops@acme.example"]));
    assert_eq!(m["subject"], "4 changes detected in acme.okta.com");
    assert!(m["text"].as_str().unwrap().contains(&link));
    assert!(m["html"].as_str().unwrap().starts_with("<!doctype html>"));
    assert_eq!(m["headers"]["List-Unsubscribe"], format!("<{link}>"));
    assert_eq!(
        m["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(m["custom_args"]["outbox_id"], "row-1");
    assert_eq!(m["tracking_settings"]["click_tracking"]["enable"], false);

    // The inbox page lists it, escaped.
    let page = ureq::get(&format!("{base}/"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(page.contains("4 changes detected in acme.okta.com"));

    // A wrong key is refused with SendGrid's 401 body.
    let bad = SendGridKey::parse("SG.wrongwrong.0123456789abcdefghijklmn").unwrap();
    let mailer = Mailer::new(&UreqHttp, &base, &bad, &sender);
    let err = block_on(mailer.send(&Outgoing {
        to: &to,
        content: &content,
        category: "alerts",
        headers: vec![],
        outbox_id: None,
    }))
    .unwrap_err();
    assert_eq!(err, MailError::Unauthorized { status: 401 });
}

#[test]
fn invalid_bodies_get_sendgrids_400_with_the_field() {
    let fake = fake();
    let base = fake.base_url();
    let post = |body: Value| match ureq::post(&format!("{base}/v3/mail/send"))
        .set("Authorization", &format!("Bearer {KEY}"))
        .send_json(body)
    {
        Ok(r) => (r.status(), Value::Null),
        Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap()),
        Err(e) => panic!("{e}"),
    };
    let (status, body) = post(
        json!({"personalizations": [{"to": [{"email": "a@example.com"}]}], "subject": "x", "content": [{"type": "text/plain", "value": "x"}]}),
    );
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "from");
    let (status, body) = post(
        json!({"personalizations": [{"to": [{"email": "a@example.com"}]}], "from": {"email": "n@b.example"}, "subject": "x",
        "content": [{"type": "text/plain", "value": "x"}], "headers": {"To": "x@evil.example"}}),
    );
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (400, Some("headers"))
    );
    assert!(messages(&base).is_empty(), "nothing refused is captured");
}

#[test]
fn injected_failures_are_classified_for_the_outbox() {
    let fake = fake();
    let base = fake.base_url();
    ureq::post(&format!("{base}/__fake/faults"))
        .send_json(json!({"status": 429, "count": 1, "retry_after": 30}))
        .unwrap();
    ureq::post(&format!("{base}/__fake/faults"))
        .send_json(json!({"status": 503, "count": 1}))
        .unwrap();
    let key = SendGridKey::parse(KEY).unwrap();
    let sender = sender();
    let mailer = Mailer::new(&UreqHttp, &base, &key, &sender);
    let to = EmailAddress::parse("ops@acme.example").unwrap();
    let content = drift_alert().render(None);
    let send = || {
        block_on(mailer.send(&Outgoing {
            to: &to,
            content: &content,
            category: "alerts",
            headers: vec![],
            outbox_id: None,
        }))
    };
    assert_eq!(
        send().unwrap_err(),
        MailError::RateLimited {
            retry_after_secs: Some(30)
        }
    );
    let err = send().unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(send().is_ok());
    assert_eq!(messages(&base).len(), 1);
}

#[test]
fn signed_events_verify_with_butterfly_and_with_sendgrids_library() {
    let fake = fake();
    let base = fake.base_url();
    let key = SendGridKey::parse(KEY).unwrap();
    let sender = sender();
    let mailer = Mailer::new(&UreqHttp, &base, &key, &sender);
    let to = EmailAddress::parse("gone@acme.example").unwrap();
    let content = drift_alert().render(None);
    let id = block_on(mailer.send(&Outgoing {
        to: &to,
        content: &content,
        category: "alerts",
        headers: vec![],
        outbox_id: Some("row-9"),
    }))
    .unwrap()
    .message_id
    .unwrap();

    // The public key as SendGrid's API serves it.
    let settings: Value = ureq::get(&format!("{base}/v3/user/webhooks/event/settings/signed"))
        .set("Authorization", &format!("Bearer {KEY}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let public_key = settings["public_key"].as_str().unwrap();
    assert_eq!(public_key, fake.public_key());

    let post: Value = ureq::post(&format!("{base}/__fake/events"))
        .send_json(json!({"events": [{"event": "processed", "message_id": id}, {"event": "bounce", "type": "bounce", "message_id": id}]}))
        .unwrap().into_json().unwrap();
    let payload = post["payload"].as_str().unwrap();
    let verifier = EventWebhookVerifier::new(vec![EventWebhookKey::parse(public_key).unwrap()]);
    verifier
        .verify(
            payload.as_bytes(),
            post["signature"].as_str(),
            post["timestamp"].as_str(),
        )
        .unwrap();
    assert!(verifier
        .verify(
            payload.replace("bounce", "delivered").as_bytes(),
            post["signature"].as_str(),
            post["timestamp"].as_str()
        )
        .is_err());

    let actions: Vec<EventAction> = DeliveryEvent::parse_batch(payload.as_bytes())
        .unwrap()
        .iter()
        .map(|e| e.action())
        .collect();
    assert_eq!(
        actions[0],
        EventAction::Processed {
            outbox_id: "row-9".into()
        }
    );
    assert_eq!(
        actions[1],
        EventAction::Suppress {
            address: to.clone(),
            reason: SuppressionReason::Bounce
        }
    );

    let input = json!({"public_key": public_key, "payload": payload, "signature": post["signature"], "timestamp": post["timestamp"]});
    let output = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/official_verifier.cjs"))
        .arg(input.to_string())
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("node runs (scripts/bootstrap.sh installs @sendgrid/eventwebhook)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdict: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verdict, json!({"ok": true, "tampered": false}));
}
