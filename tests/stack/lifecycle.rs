//! Migration 0008 (lifecycle) on real Postgres + PostgREST: billing events apply exactly once,
//! outbox claims are exclusive and settle only under their lease, and RLS lets users see only
//! their own lifecycle rows. (The routes on top of these come in phase 2.)

use serde_json::{json, Value};

use crate::support::{new_user, psql, service, User};

fn personal_team(user: &User) -> String {
    psql(&format!(
        "select team_id from public.team_members where user_id = '{}' and role = 'owner' limit 1",
        user.id
    ))
}

fn billing_updated_at(team: &str) -> String {
    let reply = service(
        "GET",
        &format!("team_billing?team_id=eq.{team}&select=updated_at"),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()[0]["updated_at"].as_str().unwrap().to_string()
}

fn apply(
    event: &str,
    team: &str,
    expected: &str,
    state: Option<Value>,
    plan: Option<&str>,
) -> (u16, Value) {
    let reply = service(
        "POST",
        "rpc/billing_apply_event",
        Some(&json!({
            "p_event_id": event, "p_event_type": "customer.subscription.updated", "p_team": team,
            "p_expected_updated_at": expected, "p_state": state, "p_new_plan": plan,
        })),
    );
    let body = if reply.body.is_empty() {
        Value::Null
    } else {
        reply.json()
    };
    (reply.status, body)
}

fn state(version: i64) -> Value {
    json!({
        "customer": "cus_T1", "subscription_id": "sub_T1", "subscription_status": "active",
        "subscription_plan": "standard", "price_id": "price_std", "subscription_created": 1_700_000_000,
        "current_period_end": 1_702_592_000, "cancel_at_period_end": false,
        "subscription_version": version, "dunning_since": null, "invoice_version": 0, "trial_used": true,
    })
}

#[test]
fn lifecycle_billing_events_apply_once_with_compare_and_set() {
    let user = new_user();
    let team = personal_team(&user);
    // Every team starts with a billing row and a Free plan period.
    assert_eq!(
        psql(&format!(
            "select plan from public.plan_history where team_id = '{team}'"
        )),
        "free"
    );
    let before = billing_updated_at(&team);
    let event = format!("evt_{}", user.id.replace('-', ""));
    let (status, outcome) = apply(
        &event,
        &team,
        &before,
        Some(state(1_700_000_100)),
        Some("standard"),
    );
    assert_eq!((status, outcome), (200, json!("applied")));
    assert_eq!(
        psql(&format!(
            "select subscription_status || ',' || subscription_plan || ',' || subscription_version from public.team_billing where team_id = '{team}'"
        )),
        "active,standard,1700000100"
    );
    assert_eq!(
        psql(&format!("select string_agg(plan, ',' order by effective_at) from public.plan_history where team_id = '{team}'")),
        "free,standard"
    );

    // The same event again: a no-op, whatever state it carries.
    let after = billing_updated_at(&team);
    let (status, outcome) = apply(&event, &team, &after, Some(state(1)), Some("business"));
    assert_eq!((status, outcome), (200, json!("duplicate")));
    assert_eq!(billing_updated_at(&team), after);

    // A second event computed from a stale read loses the race: nothing of it is kept, not even
    // its id, so Stripe's redelivery is applied later.
    let racer = format!("{event}x");
    let (status, _) = apply(&racer, &team, &before, Some(state(1_700_000_200)), None);
    assert_eq!(status, 409, "a stale compare-and-set is a conflict");
    assert_eq!(
        psql(&format!(
            "select count(*) from public.stripe_events where event_id = '{racer}'"
        )),
        "0"
    );
    let (status, outcome) = apply(&racer, &team, &after, Some(state(1_700_000_200)), None);
    assert_eq!((status, outcome), (200, json!("applied")));

    // plan_history is append-only even for the service role.
    let reply = service(
        "PATCH",
        &format!("plan_history?team_id=eq.{team}"),
        Some(&json!({"plan": "business"})),
    );
    assert!(
        reply.status == 401 || reply.status == 403,
        "{} {}",
        reply.status,
        reply.text()
    );
}

fn enqueue(key: &str, team: &str) {
    let reply = service(
        "POST",
        "notification_outbox",
        Some(&json!({
            "idempotency_key": key, "team_id": team, "kind": "backup_failed", "category": "alerts",
            "recipient": "ops@example.com", "payload": {"kind": "backup_failed"},
        })),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
}

fn claim(batch: u32) -> Vec<Value> {
    let reply = service(
        "POST",
        "rpc/outbox_claim",
        Some(&json!({"batch": batch, "lease_seconds": 120, "reclaim_seconds": 600})),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json().as_array().unwrap().clone()
}

fn settle(id: &str, token: &str, status: &str, retry_at: Option<&str>) -> Value {
    let reply = service(
        "POST",
        "rpc/outbox_settle",
        Some(
            &json!({"p_id": id, "p_lease_token": token, "p_status": status, "p_retry_at": retry_at,
                     "p_error": null, "p_message_id": "msg-1"}),
        ),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[test]
fn lifecycle_outbox_claims_are_exclusive_and_settle_under_the_lease() {
    let user = new_user();
    let team = personal_team(&user);
    // Only this test's rows are due: earlier rows of other tests were settled or pushed out.
    psql("update public.notification_outbox set next_attempt_at = now() + interval '1 day' where status in ('pending', 'sending')");
    let prefix = user.id.clone();
    for i in 0..6 {
        enqueue(&format!("test:{prefix}:{i}"), &team);
    }
    // Enqueueing the same key twice is refused by the unique key (callers use on-conflict).
    let dup = service(
        "POST",
        "notification_outbox",
        Some(
            &json!({"idempotency_key": format!("test:{prefix}:0"), "team_id": team, "kind": "backup_failed",
                     "category": "alerts", "recipient": "ops@example.com", "payload": {}}),
        ),
    );
    assert_eq!(dup.status, 409, "{}", dup.text());

    // Two workers claiming at once get disjoint rows.
    let a = std::thread::spawn(|| claim(4));
    let b = std::thread::spawn(|| claim(4));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let ids = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (ia, ib) = (ids(&a), ids(&b));
    assert_eq!(ia.len() + ib.len(), 6, "{ia:?} {ib:?}");
    assert!(
        ia.iter().all(|id| !ib.contains(id)),
        "a row was claimed twice"
    );
    assert!(
        claim(10).is_empty(),
        "claimed rows are not due again until lease + reconcile"
    );

    let row = &a[0];
    let (id, token) = (
        row["id"].as_str().unwrap(),
        row["lease_token"].as_str().unwrap(),
    );
    assert_eq!(row["attempts"], 1);
    // A worker without the lease cannot settle.
    assert_eq!(
        settle(id, "00000000-0000-4000-8000-000000000000", "sent", None),
        json!(false)
    );
    assert_eq!(settle(id, token, "sent", None), json!(true));
    assert_eq!(
        psql(&format!("select status || ',' || coalesce(recipient, '-') || ',' || coalesce(payload::text, '-') || ',' || provider_message_id from public.notification_outbox where id = '{id}'")),
        "sent,-,-,msg-1",
        "a settled row keeps no address or content"
    );
    assert_eq!(
        settle(id, token, "failed", None),
        json!(false),
        "settled once"
    );

    // A retry goes back to pending with its time; then it is claimable again when due.
    let retry = &a[1];
    let retry_id = retry["id"].as_str().unwrap();
    assert_eq!(
        settle(
            retry_id,
            retry["lease_token"].as_str().unwrap(),
            "pending",
            Some("2000-01-01T00:00:00Z")
        ),
        json!(true)
    );
    let again = claim(10);
    assert_eq!(ids(&again), vec![retry_id.to_string()]);
    assert_eq!(again[0]["attempts"], 2);

    // SendGrid's processed event settles a row whose worker never did.
    let orphan = b[0]["id"].as_str().unwrap();
    let reply = service(
        "POST",
        "rpc/outbox_mark_processed",
        Some(&json!({"p_id": orphan, "p_message_id": "sg-1"})),
    );
    assert_eq!(reply.json(), json!(true));
    assert_eq!(
        psql(&format!(
            "select status from public.notification_outbox where id = '{orphan}'"
        )),
        "sent"
    );
}

#[test]
fn lifecycle_rows_are_visible_only_to_their_users() {
    let alice = new_user();
    let bob = new_user();
    let alice_team = personal_team(&alice);
    let bob_team = personal_team(&bob);

    let mine = alice.rest(
        "GET",
        &format!("team_billing?team_id=eq.{alice_team}"),
        None,
    );
    assert_eq!(mine.status, 200);
    assert_eq!(mine.json().as_array().unwrap().len(), 1);
    let theirs = alice.rest("GET", &format!("team_billing?team_id=eq.{bob_team}"), None);
    assert_eq!(theirs.json(), json!([]));
    let write = alice.rest(
        "PATCH",
        &format!("team_billing?team_id=eq.{alice_team}"),
        Some(&json!({"trial_used": true})),
    );
    assert!(
        write.status == 401 || write.status == 403,
        "{}",
        write.text()
    );

    // The service-only functions are not callable by users (Supabase grants functions to
    // everyone by default; the migration revokes that).
    for (function, args) in [
        (
            "outbox_claim",
            json!({"batch": 10, "lease_seconds": 1, "reclaim_seconds": 1}),
        ),
        (
            "billing_apply_event",
            json!({"p_event_id": "evt_x", "p_event_type": "x", "p_team": alice_team,
            "p_expected_updated_at": null, "p_state": null, "p_new_plan": null}),
        ),
    ] {
        let reply = alice.rest("POST", &format!("rpc/{function}"), Some(&args));
        assert!(
            reply.status == 401 || reply.status == 403,
            "{function}: {} {}",
            reply.status,
            reply.text()
        );
    }
    for table in [
        "notification_outbox",
        "email_verification_codes",
        "email_suppressions",
        "stripe_events",
    ] {
        let reply = alice.rest("GET", table, None);
        assert!(
            reply.status == 401 || reply.status == 403,
            "{table}: {} {}",
            reply.status,
            reply.text()
        );
    }

    // Preferences: own row only.
    let own = alice.rest(
        "POST",
        "email_preferences",
        Some(&json!({"user_id": alice.id, "product_updates": true})),
    );
    assert_eq!(own.status, 201, "{}", own.text());
    let other = alice.rest(
        "POST",
        "email_preferences",
        Some(&json!({"user_id": bob.id, "alerts": false})),
    );
    assert!(
        other.status == 401 || other.status == 403,
        "{}",
        other.text()
    );
    assert_eq!(bob.rest("GET", "email_preferences", None).json(), json!([]));

    // A code row must hold an Argon2id hash and live at most ten minutes.
    let bad = service(
        "POST",
        "email_verification_codes",
        Some(
            &json!({"user_id": alice.id, "purpose": "verify_email", "email": "a@example.com",
                     "code_hash": "123456", "pepper_id": "c1", "expires_at": "2999-01-01T00:00:00Z"}),
        ),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
}
