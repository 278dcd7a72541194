//! Billing end to end: Checkout through the worker against the Stripe fake, the fake's events
//! signed with Stripe's own Node library and delivered to `POST /api/webhooks/stripe`, the plan
//! in force and its limits, replays, forgeries and a failed payment's grace period.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::{call, env, new_user, psql, worker, User};

fn stripe_fake(method: &str, path: &str, body: Option<&Value>) -> Value {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    let headers: &[(&str, &str)] = if bytes.is_some() {
        &[("content-type", "application/json")]
    } else {
        &[]
    };
    let reply = call(
        method,
        &format!("{}{path}", env("BF_STRIPE_URL")),
        headers,
        bytes.as_deref(),
    );
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply.json()
}

/// Stripe-Signature headers for `payloads` from `stripe.webhooks.generateTestHeaderString`.
fn sign_with_stripe(payloads: &[String], secret: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("node")
        .arg(root.join("tests/official/stripe_sign.cjs"))
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let input = json!({"secret": secret, "payloads": payloads});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "stripe_sign.cjs failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The fake's events after the first `skip`, as (type, exact payload).
fn events_since(skip: usize) -> Vec<(String, String)> {
    stripe_fake("GET", "/__fake/events", None)["events"]
        .as_array()
        .unwrap()
        .iter()
        .skip(skip)
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["payload"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn event_count() -> usize {
    stripe_fake("GET", "/__fake/events", None)["events"]
        .as_array()
        .unwrap()
        .len()
}

/// Delivers payloads signed by Stripe's library; returns each answer's (status, outcome).
fn deliver(payloads: &[String], secret: &str) -> Vec<(u16, String)> {
    let headers = sign_with_stripe(payloads, secret);
    payloads
        .iter()
        .zip(headers)
        .map(|(payload, header)| {
            let reply = call(
                "POST",
                &format!("{}/api/webhooks/stripe", worker()),
                &[
                    ("stripe-signature", header.as_str()),
                    ("content-type", "application/json"),
                ],
                Some(payload.as_bytes()),
            );
            let outcome = if reply.status == 200 {
                reply.json()["outcome"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            } else {
                reply.error_code()
            };
            (reply.status, outcome)
        })
        .collect()
}

fn plan(user: &User, team: &str) -> Value {
    let reply = user.api("GET", &format!("/teams/{team}/plan"), None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn personal_team(user: &User) -> String {
    psql(&format!(
        "select team_id from public.team_members where user_id = '{}' and role = 'owner' limit 1",
        user.id
    ))
}

#[test]
fn billing_checkout_webhooks_drive_the_plan_and_its_limits() {
    let secret = env("BF_STRIPE_WEBHOOK_SECRET");
    let owner = new_user();
    let team = personal_team(&owner);
    // The test stack's teams start on Standard (DEFAULT_PLAN).
    let before = plan(&owner, &team);
    assert_eq!(before["plan"], "standard", "{before}");
    assert_eq!(before["billing_enabled"], true);
    let keys_quota = before["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["limit"] == "api_keys")
        .unwrap()["quota"]
        .clone();
    assert_eq!(keys_quota, json!({"max": 20}));

    // A member who is not the owner may not buy anything.
    let admin = new_user();
    psql(&format!(
        "insert into public.team_members (team_id, user_id, role) values ('{team}', '{}', 'admin')",
        admin.id
    ));
    let refused = admin.api(
        "POST",
        "/billing/checkout",
        Some(&json!({"team_id": team, "plan": "business"})),
    );
    assert_eq!(
        (refused.status, refused.error_code()),
        (403, "forbidden".into())
    );
    let bad = owner.api(
        "POST",
        "/billing/checkout",
        Some(&json!({"team_id": team, "plan": "gold"})),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());

    let skip = event_count();
    let created = owner.api(
        "POST",
        "/billing/checkout",
        Some(&json!({"team_id": team, "plan": "business"})),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let session = created.json();
    let sid = session["id"].as_str().unwrap().to_string();
    assert!(session["url"].as_str().unwrap().contains(&sid), "{session}");
    // The customer was created once, under an idempotency key, and stored for the team.
    let customer = psql(&format!(
        "select stripe_customer_id from public.team_billing where team_id = '{team}'"
    ));
    assert!(customer.starts_with("cus_"), "{customer}");
    let requests = stripe_fake("GET", "/__fake/requests", None)["requests"].clone();
    let ours: Vec<&Value> = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["params"].to_string().contains(&team))
        .collect();
    // Every POST carried an idempotency key and the pinned API version.
    for r in &ours {
        assert!(r["idempotency_key"].is_string(), "{r}");
        assert_eq!(r["stripe_version"], "2023-08-16", "{r}");
    }
    let customer_posts: Vec<&&Value> = ours
        .iter()
        .filter(|r| r["operation"] == "POST /v1/customers")
        .collect();
    assert_eq!(customer_posts.len(), 1, "{customer_posts:?}");

    // The customer pays; the fake emits Stripe's events, which arrive signed by Stripe's library.
    stripe_fake(
        "POST",
        &format!("/__fake/checkout/{sid}/complete"),
        Some(&json!({})),
    );
    let events = events_since(skip);
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert!(types.contains(&"checkout.session.completed"), "{types:?}");
    let payloads: Vec<String> = events.iter().map(|(_, p)| p.clone()).collect();
    for (status, outcome) in deliver(&payloads, &secret) {
        assert_eq!(status, 200, "{outcome}");
    }
    let after = plan(&owner, &team);
    assert_eq!(after["plan"], "business", "{after}");
    assert_eq!(after["subscription"]["status"], "active", "{after}");
    assert_eq!(
        psql(&format!("select string_agg(plan, ',' order by effective_at) from public.plan_history where team_id = '{team}'")),
        "free,business"
    );
    assert_eq!(
        psql(&format!("select count(*) from public.activity_logs where team_id = '{team}' and action = 'billing.plan_changed'")),
        "1"
    );

    // Replays (in reverse order, too) change nothing.
    let mut reversed = payloads.clone();
    reversed.reverse();
    for (status, outcome) in deliver(&reversed, &secret) {
        assert_eq!((status, outcome.as_str()), (200, "duplicate"));
    }
    assert_eq!(plan(&owner, &team)["plan"], "business");

    // A forged signature or a tampered payload is refused and changes nothing.
    let forged = deliver(&payloads[..1], "whsec_ffffffffffffffff0000000000");
    assert_eq!(forged, [(400, "invalid_webhook".to_string())]);
    let tampered = call(
        "POST",
        &format!("{}/api/webhooks/stripe", worker()),
        &[(
            "stripe-signature",
            sign_with_stripe(&payloads[..1], &secret)[0].as_str(),
        )],
        // One trailing space: still valid JSON, no longer the signed bytes.
        Some(format!("{} ", payloads[0]).as_bytes()),
    );
    assert_eq!(tampered.status, 400, "{}", tampered.text());

    // A second checkout while subscribed is refused; the portal opens for the customer.
    let again = owner.api(
        "POST",
        "/billing/checkout",
        Some(&json!({"team_id": team, "plan": "standard"})),
    );
    assert_eq!(
        (again.status, again.error_code()),
        (409, "subscription_exists".into())
    );
    let portal = owner.api("POST", "/billing/portal", Some(&json!({"team_id": team})));
    assert_eq!(portal.status, 201, "{}", portal.text());
    assert!(portal.json()["url"].as_str().unwrap().starts_with("http"));

    // A failed payment starts the grace period: the plan stays until it ends.
    let sub = psql(&format!(
        "select subscription_id from public.team_billing where team_id = '{team}'"
    ));
    let skip = event_count();
    stripe_fake(
        "POST",
        &format!("/__fake/subscriptions/{sub}/payment_failed"),
        Some(&json!({})),
    );
    let failed: Vec<String> = events_since(skip).into_iter().map(|(_, p)| p).collect();
    for (status, outcome) in deliver(&failed, &secret) {
        assert_eq!((status, outcome.as_str()), (200, "applied"));
    }
    let grace = plan(&owner, &team);
    assert_eq!(grace["plan"], "business", "{grace}");
    assert_eq!(grace["subscription"]["status"], "past_due");
    assert!(grace["subscription"]["grace_until"].is_string(), "{grace}");

    // Cancelled: back to the deployment's default plan, whose limits apply at once.
    let skip = event_count();
    let cancelled = call(
        "DELETE",
        &format!("{}/v1/subscriptions/{sub}", env("BF_STRIPE_URL")),
        &[
            ("authorization", "Bearer sk_test_localstackfake0123456789"),
            ("stripe-version", "2023-08-16"),
        ],
        None,
    );
    assert_eq!(cancelled.status, 200, "{}", cancelled.text());
    let ended: Vec<String> = events_since(skip).into_iter().map(|(_, p)| p).collect();
    assert!(!ended.is_empty(), "cancellation emits an event");
    for (status, _) in deliver(&ended, &secret) {
        assert_eq!(status, 200);
    }
    assert_eq!(plan(&owner, &team)["plan"], "standard");
    for i in 0..20 {
        let key = owner.api(
            "POST",
            "/api-keys",
            Some(&json!({"name": format!("k{i}"), "scopes": ["read"], "team_id": team})),
        );
        assert_eq!(key.status, 201, "{}", key.text());
        crate::support::plant(key.json()["key"].as_str().unwrap());
    }
    let over = owner.api(
        "POST",
        "/api-keys",
        Some(&json!({"name": "one too many", "scopes": ["read"], "team_id": team})),
    );
    assert_eq!(over.status, 402, "{}", over.text());
    let error = &over.json()["error"];
    assert_eq!(error["code"], "plan_limit_reached");
    assert_eq!(error["upgrade_to"], "business");
}
