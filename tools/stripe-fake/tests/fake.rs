//! stripe-fake checked three ways: every object it renders validates against Stripe's OpenAPI
//! schemas; Stripe's official Node library talks to it; and Butterfly's client, webhook
//! verifier and billing state machine work end to end against it.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use async_trait::async_trait;
use butterfly::billing::account::{BillingAccount, Effect, PriceTable};
use butterfly::billing::plans::PlanId;
use butterfly::billing::stripe::client::{
    IdempotencyKey, NewCheckout, NewCustomer, SecretKey, StripeClient, StripeId,
};
use butterfly::billing::stripe::objects::{Event, EventKind};
use butterfly::billing::stripe::signature::{verify, WebhookSecret};
use butterfly::ids::TeamId;
use butterfly::ports::{Clock, HttpClient, HttpRequest, HttpResponse, TransportError};
use futures::executor::block_on;
use serde_json::{json, Value};
use stripe_fake::{spec, FakeConfig, RunningFake};

const KEY: &str = "sk_test_fake0123456789abcdef";
const SECRET: &str = "whsec_fake0123456789abcdef0123";

fn fake() -> RunningFake {
    stripe_fake::start(FakeConfig::default()).expect("fake starts")
}

/// The HTTP port over ureq (blocking), for native tests of the core's clients.
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

struct WallClock;

#[async_trait(?Send)]
impl Clock for WallClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
    async fn sleep(&self, d: std::time::Duration) {
        std::thread::sleep(d)
    }
}

/// A raw form POST/GET/DELETE with Stripe's headers; returns (status, headers, JSON body).
fn raw(
    method: &str,
    url: &str,
    form: &[(&str, &str)],
    key: Option<&str>,
) -> (u16, Vec<(String, String)>, Value) {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter())
        .finish();
    let mut request = HttpRequest {
        method: match method {
            "POST" => butterfly::ports::Method::Post,
            "DELETE" => butterfly::ports::Method::Delete,
            _ => butterfly::ports::Method::Get,
        },
        url: url.to_string(),
        headers: vec![
            ("Authorization".into(), format!("Bearer {KEY}")),
            ("Stripe-Version".into(), "2023-08-16".into()),
        ],
        body: None,
    };
    if method == "POST" {
        request.headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        request.body = Some(body.into_bytes());
    }
    if let Some(k) = key {
        request.headers.push(("Idempotency-Key".into(), k.into()));
    }
    let response = block_on(UreqHttp.send(request)).unwrap();
    let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status, response.headers, json)
}

fn control(base: &str, path: &str, body: Value) -> Value {
    let response = ureq::post(&format!("{base}/__fake/{path}"))
        .send_json(body)
        .unwrap();
    response.into_json().unwrap()
}

fn events(base: &str) -> Vec<Value> {
    let list: Value = ureq::get(&format!("{base}/__fake/events"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    list["events"].as_array().unwrap().clone()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn every_rendered_object_matches_stripes_schemas() {
    let fake = fake();
    let base = fake.base_url();
    let (status, headers, customer) = raw(
        "POST",
        &format!("{base}/v1/customers"),
        &[
            ("name", "Acme"),
            ("email", "it@acme.example"),
            ("metadata[team_id]", "t1"),
        ],
        Some("k-cus"),
    );
    assert_eq!(status, 200);
    assert!(header(&headers, "request-id").is_some_and(|r| r.starts_with("req_")));
    assert_eq!(header(&headers, "stripe-version"), Some("2023-08-16"));
    spec::validate("customer", &customer).unwrap();
    assert_eq!(customer["metadata"]["team_id"], "t1");
    let cus = customer["id"].as_str().unwrap();

    let (status, _, session) = raw(
        "POST",
        &format!("{base}/v1/checkout/sessions"),
        &[
            ("mode", "subscription"),
            ("customer", cus),
            ("line_items[0][price]", "price_standard_fake"),
            ("line_items[0][quantity]", "1"),
            ("success_url", "https://app.example/ok"),
            ("cancel_url", "https://app.example/no"),
            ("client_reference_id", "t1"),
            ("subscription_data[trial_period_days]", "14"),
            ("subscription_data[metadata][team_id]", "t1"),
        ],
        Some("k-cs"),
    );
    assert_eq!(status, 200, "{session}");
    spec::validate("checkout.session", &session).unwrap();
    let sid = session["id"].as_str().unwrap();
    assert!(session["url"].as_str().unwrap().ends_with(sid));

    let (status, _, portal) = raw(
        "POST",
        &format!("{base}/v1/billing_portal/sessions"),
        &[
            ("customer", cus),
            ("return_url", "https://app.example/billing"),
        ],
        Some("k-bps"),
    );
    assert_eq!(status, 200);
    spec::validate("billing_portal.session", &portal).unwrap();

    control(&base, &format!("checkout/{sid}/complete"), json!({}));
    let sub_id = {
        let (_, _, s) = raw(
            "GET",
            &format!("{base}/v1/checkout/sessions/{sid}"),
            &[],
            None,
        );
        s["subscription"].as_str().unwrap().to_string()
    };
    let (status, _, sub) = raw(
        "GET",
        &format!("{base}/v1/subscriptions/{sub_id}"),
        &[],
        None,
    );
    assert_eq!(status, 200);
    spec::validate("subscription", &sub).unwrap();
    assert_eq!(sub["status"], "trialing");
    control(
        &base,
        &format!("subscriptions/{sub_id}/payment_failed"),
        json!({}),
    );
    let (status, _, canceled) = raw(
        "DELETE",
        &format!("{base}/v1/subscriptions/{sub_id}"),
        &[],
        None,
    );
    assert_eq!(status, 200);
    spec::validate("subscription", &canceled).unwrap();
    let (status, _, deleted) = raw("DELETE", &format!("{base}/v1/customers/{cus}"), &[], None);
    assert_eq!(status, 200);
    spec::validate("deleted_customer", &deleted).unwrap();

    let kinds: Vec<String> = events(&base)
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "checkout.session.completed",
            "customer.subscription.created",
            "invoice.paid",
            "invoice.payment_failed",
            "customer.subscription.updated",
            "customer.subscription.deleted"
        ]
    );
    for e in events(&base) {
        let event: Value = serde_json::from_str(e["payload"].as_str().unwrap()).unwrap();
        spec::validate("event", &event).unwrap_or_else(|err| panic!("{}: {err}", e["type"]));
        let object_schema = match event["data"]["object"]["object"].as_str().unwrap() {
            "checkout.session" => "checkout.session",
            "subscription" => "subscription",
            "invoice" => "invoice",
            other => panic!("unexpected object {other}"),
        };
        spec::validate(object_schema, &event["data"]["object"])
            .unwrap_or_else(|err| panic!("{}: {err}", e["type"]));
    }

    // Errors have Stripe's body shape too.
    for (status, body) in [
        raw("GET", &format!("{base}/v1/customers/cus_nope"), &[], None),
        raw(
            "POST",
            &format!("{base}/v1/customers"),
            &[("colour", "red")],
            None,
        ),
        raw(
            "POST",
            &format!("{base}/v1/checkout/sessions"),
            &[("mode", "subscription")],
            None,
        ),
    ]
    .map(|(s, _, b)| (s, b))
    {
        assert!(status == 400 || status == 404, "{status}");
        spec::validate("error", &body).unwrap();
    }
}

#[test]
fn idempotency_keys_replay_or_conflict_like_stripe() {
    let fake = fake();
    let base = fake.base_url();
    let url = format!("{base}/v1/customers");
    let (_, h1, first) = raw("POST", &url, &[("name", "Acme")], Some("same-key"));
    let (_, h2, again) = raw("POST", &url, &[("name", "Acme")], Some("same-key"));
    assert_eq!(
        first, again,
        "same key, same params: the first response replayed"
    );
    assert_eq!(header(&h1, "idempotent-replayed"), None);
    assert_eq!(header(&h2, "idempotent-replayed"), Some("true"));
    let (status, _, conflict) = raw("POST", &url, &[("name", "Other")], Some("same-key"));
    assert_eq!(status, 400);
    assert_eq!(conflict["error"]["type"], "idempotency_error");
    // Another endpoint with the key is a conflict as well.
    let (status, _, _) = raw(
        "POST",
        &format!("{base}/v1/billing_portal/sessions"),
        &[("customer", first["id"].as_str().unwrap())],
        Some("same-key"),
    );
    assert_eq!(status, 400);
    // A request that failed validation saved nothing: the key is still free.
    let (status, _, _) = raw("POST", &url, &[("bogus", "1")], Some("fresh"));
    assert_eq!(status, 400);
    let (status, _, _) = raw("POST", &url, &[("name", "Acme")], Some("fresh"));
    assert_eq!(status, 200);
    // Without a key, every POST creates.
    let (_, _, a) = raw("POST", &url, &[("name", "Acme")], None);
    let (_, _, b) = raw("POST", &url, &[("name", "Acme")], None);
    assert_ne!(a["id"], b["id"]);

    // Bad keys and versions are refused as Stripe does.
    let response = ureq::post(&url)
        .set("Authorization", "Bearer sk_test_wrong0000")
        .send_string("");
    let Err(ureq::Error::Status(401, r)) = response else {
        panic!("expected 401")
    };
    let body: Value = r.into_json().unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid API Key provided"));
    let response = ureq::get(&format!("{base}/v1/customers/x"))
        .set("Authorization", &format!("Bearer {KEY}"))
        .set("Stripe-Version", "nonsense")
        .call();
    assert!(matches!(response, Err(ureq::Error::Status(400, _))));
}

#[test]
fn butterflys_client_and_webhook_core_work_against_the_fake() {
    let fake = fake();
    let base = fake.base_url();
    let key = SecretKey::parse(KEY).unwrap();
    let client = StripeClient::new(&UreqHttp, &WallClock, &base, &key);
    let team = TeamId::parse("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f").unwrap();
    let team_s = team.to_string();

    let customer_key = IdempotencyKey::derive("customer", &[&team_s]);
    let new = NewCustomer {
        team,
        name: "Acme",
        email: Some("it@acme.example"),
    };
    let customer = block_on(client.create_customer(&new, &customer_key)).unwrap();
    let replay = block_on(client.create_customer(&new, &customer_key)).unwrap();
    assert_eq!(
        customer.id, replay.id,
        "the team's customer is created once"
    );
    let changed = NewCustomer {
        email: Some("other@acme.example"),
        ..new
    };
    assert!(block_on(client.create_customer(&changed, &customer_key))
        .unwrap_err()
        .is_idempotency_conflict());

    let cus = StripeId::parse(&customer.id).unwrap();
    let session = block_on(client.create_checkout_session(
        &NewCheckout {
            team,
            customer: &cus,
            price: "price_standard_fake",
            success_url: "https://app.example/ok",
            cancel_url: "https://app.example/no",
            trial_days: None,
        },
        &IdempotencyKey::derive("checkout", &[&team_s, "standard", "r1"]),
    ))
    .unwrap();
    assert!(session.url.is_some());
    let portal = block_on(client.create_portal_session(
        &cus,
        "https://app.example/billing",
        &IdempotencyKey::derive("portal", &[&team_s, "r2"]),
    ))
    .unwrap();
    assert_eq!(portal.customer, customer.id);
    let missing = block_on(client.create_checkout_session(
        &NewCheckout {
            team,
            customer: &cus,
            price: "price_gold",
            success_url: "https://app.example/ok",
            cancel_url: "https://app.example/no",
            trial_days: None,
        },
        &IdempotencyKey::derive("checkout", &[&team_s, "gold", "r3"]),
    ))
    .unwrap_err();
    assert!(missing.is_resource_missing(), "{missing}");

    // The customer pays; the fake emits signed events; Butterfly verifies and applies them.
    control(
        &base,
        &format!("checkout/{}/complete", session.id),
        json!({}),
    );
    let secrets = [WebhookSecret::parse(SECRET).unwrap()];
    let prices = PriceTable::new(vec![
        ("price_standard_fake".into(), PlanId::Standard),
        ("price_business_fake".into(), PlanId::Business),
    ]);
    let mut account = BillingAccount::new(team);
    let now = chrono::Utc::now();
    for e in events(&base) {
        let payload = e["payload"].as_str().unwrap().as_bytes();
        verify(
            payload,
            e["stripe_signature"].as_str(),
            &secrets,
            now.timestamp(),
            300,
        )
        .unwrap();
        let event = Event::parse(payload).unwrap();
        let t = account.apply(&event, &prices, false, now).unwrap();
        account = t.account;
        for effect in t.effects {
            if let Effect::RetrieveSubscription(id) = effect {
                let sub =
                    block_on(client.retrieve_subscription(&StripeId::parse(&id).unwrap())).unwrap();
                account = account
                    .apply_retrieved(&sub, &prices, false, now)
                    .unwrap()
                    .account;
            }
        }
        assert!(
            !matches!(event.kind, EventKind::Ignored(_)),
            "{}",
            e["type"]
        );
    }
    assert_eq!(account.plan_at(now), PlanId::Standard);
    assert_eq!(account.customer.as_deref(), Some(customer.id.as_str()));

    // Cancel (account deletion): once, then resource_missing.
    let sub = StripeId::parse(&account.subscription.as_ref().unwrap().id).unwrap();
    assert_eq!(
        block_on(client.cancel_subscription(&sub))
            .unwrap()
            .status
            .as_str(),
        "canceled"
    );
    assert!(block_on(client.cancel_subscription(&sub))
        .unwrap_err()
        .is_resource_missing());
    assert!(block_on(client.delete_customer(&cus)).unwrap().deleted);
    assert!(block_on(client.delete_customer(&cus))
        .unwrap_err()
        .is_resource_missing());

    // Every request carried the pinned version, and every POST an idempotency key.
    let log: Value = ureq::get(&format!("{base}/__fake/requests"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    for r in log["requests"].as_array().unwrap() {
        assert_eq!(r["stripe_version"], "2023-08-16", "{r}");
        if r["operation"].as_str().unwrap().starts_with("POST") {
            assert!(
                r["idempotency_key"].as_str().unwrap().starts_with("bf-"),
                "{r}"
            );
        }
    }
}

#[test]
fn stripes_official_node_library_works_against_the_fake() {
    let fake = fake();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/official_client.cjs"))
        .arg(fake.base_url())
        .current_dir(&root)
        .output()
        .expect("node runs (scripts/bootstrap.sh installs the stripe package)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(out["customer"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(out["replayed_same_customer"], true);
    assert_eq!(out["conflict_type"], "StripeIdempotencyError");
    assert_eq!(out["missing_code"], "resource_missing");
    assert_eq!(out["subscription_status"], "active");
    assert_eq!(
        out["event_verified"], true,
        "stripe-node verifies the fake's signatures"
    );
}
