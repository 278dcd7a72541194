//! Email end to end against tools/sendgrid-fake: verification codes mailed and confirmed (and
//! refused when wrong, expired or guessed too often), a failed backup's alert to the team's
//! admins delivered once, the one-click unsubscribe stopping product email, and SendGrid's
//! signed event webhook (posts signed with the stack's fresh P-256 key and checked by SendGrid's
//! own `@sendgrid/eventwebhook` first) suppressing a bounced address.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use butterfly::auth::jwt::{sign_hs256, Claims};
use serde_json::{json, Value};

use crate::support::*;

/// The address `new_user` gives every user.
fn address(user: &User) -> String {
    format!("user-{}@test.local", user.id)
}

/// The user's JWT with their address in it, as Supabase Auth issues it.
fn with_email(user: &User) -> User {
    plant(&address(user));
    let claims = Claims {
        sub: user.id.clone(),
        exp: now() + 3600,
        iat: now(),
        nbf: None,
        aud: "authenticated".into(),
        role: "authenticated".into(),
        email: Some(address(user)),
        email_verified: true,
        iss: None,
    };
    User {
        id: user.id.clone(),
        jwt: sign_hs256(&claims, env("SUPABASE_JWT_SECRET").as_bytes()),
    }
}

/// The fake's captured messages to `to`.
fn inbox(to: &str) -> Vec<Value> {
    let reply = call(
        "GET",
        &format!("{}/__fake/messages", env("BF_SENDGRID_URL")),
        &[],
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["to"].as_array().unwrap().iter().any(|t| t == to))
        .cloned()
        .collect()
}

/// Waits for `to` to have `n` messages, then returns them.
fn wait_inbox(to: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let messages = inbox(to);
        if messages.len() >= n {
            return messages;
        }
        assert!(
            Instant::now() < deadline,
            "{n} messages never reached {to}: {messages:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The code in a verification email's subject ("Your Butterfly code: 123456").
fn code_of(message: &Value) -> String {
    let code = message["subject"]
        .as_str()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{message}"
    );
    plant(&code);
    code
}

fn request_code(user: &User) -> Reply {
    user.api("POST", "/me/email/verification", None)
}

fn confirm(user: &User, code: &str) -> Reply {
    user.api(
        "POST",
        "/me/email/verification/confirm",
        Some(&json!({ "code": code })),
    )
}

/// Another six digits than `code`.
fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "000001"
    } else {
        "000000"
    }
}

/// The outbox cron, as Cloudflare would fire it.
fn outbox_cron() {
    let reply = call(
        "GET",
        &format!("{}/__scheduled?cron=*/2+*+*+*+*", worker()),
        &[],
        None,
    );
    assert!(reply.status < 300, "{}", reply.text());
}

/// Waits until no row of `key_prefix` is waiting for delivery.
fn wait_settled(key_prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open = psql(&format!(
            "select count(*) from public.notification_outbox where idempotency_key like '{key_prefix}%' and status in ('pending', 'sending')"
        ));
        if open == "0" {
            return;
        }
        assert!(Instant::now() < deadline, "{key_prefix} rows never settled");
        outbox_cron();
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn email_a_mailed_code_verifies_the_address_and_bad_codes_are_refused() {
    let user = with_email(&new_user());
    let settings = user.api("GET", "/me/email-preferences", None);
    assert_eq!(settings.status, 200, "{}", settings.text());
    assert_eq!(
        settings.json(),
        json!({"alerts": true, "product_updates": false, "email_verified": false})
    );

    let sent = request_code(&user);
    assert_eq!(sent.status, 202, "{}", sent.text());
    let messages = wait_inbox(&address(&user), 1);
    let code = code_of(&messages[0]);
    assert_eq!(messages[0]["categories"], json!(["security"]));
    assert!(
        messages[0]["headers"].is_null(),
        "a code has no unsubscribe link"
    );
    // Only an Argon2id hash of it is stored.
    let hash = psql(&format!(
        "select code_hash from public.email_verification_codes where user_id = '{}'",
        user.id
    ));
    assert!(
        hash.starts_with("$argon2id$") && !hash.contains(&code),
        "{hash}"
    );
    // Another code within the minute is refused, with when to retry.
    let again = request_code(&user);
    assert_eq!(
        (again.status, again.error_code()),
        (429, "code_rate_limited".into())
    );
    assert!(again.header("retry-after").is_some());

    let refused = confirm(&user, wrong(&code));
    assert_eq!(
        (refused.status, refused.error_code()),
        (400, "invalid_code".into())
    );
    let malformed = user.api(
        "POST",
        "/me/email/verification/confirm",
        Some(&json!({"code": code, "extra": 1})),
    );
    assert_eq!(malformed.status, 400, "{}", malformed.text());
    let ok = confirm(&user, &code);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json(), json!({"verified": true}));
    let settings = user.api("GET", "/me/email-preferences", None).json();
    assert_eq!(settings["email_verified"], true, "{settings}");
    assert_eq!(
        psql(&format!(
            "select count(*) from public.activity_logs where action = 'email.verified' and actor_id = '{}'",
            user.id
        )),
        "1"
    );
    let reused = confirm(&user, &code);
    assert_eq!(
        (reused.status, reused.error_code()),
        (404, "no_pending_code".into())
    );

    // An expired code verifies nothing.
    let late = with_email(&new_user());
    assert_eq!(request_code(&late).status, 202);
    let late_code = code_of(&wait_inbox(&address(&late), 1)[0]);
    psql(&format!(
        "update public.email_verification_codes set issued_at = now() - interval '11 minutes', expires_at = now() - interval '1 minute' where user_id = '{}'",
        late.id
    ));
    let expired = confirm(&late, &late_code);
    assert_eq!(
        (expired.status, expired.error_code()),
        (410, "code_expired".into())
    );

    // Five wrong guesses lock the code: even the right one is refused after.
    let guesser = with_email(&new_user());
    assert_eq!(request_code(&guesser).status, 202);
    let real = code_of(&wait_inbox(&address(&guesser), 1)[0]);
    for _ in 0..4 {
        assert_eq!(confirm(&guesser, wrong(&real)).error_code(), "invalid_code");
    }
    let locked = confirm(&guesser, wrong(&real));
    assert_eq!(
        (locked.status, locked.error_code()),
        (429, "too_many_attempts".into())
    );
    let after = confirm(&guesser, &real);
    assert_eq!(
        (after.status, after.error_code()),
        (429, "too_many_attempts".into())
    );
    assert_eq!(
        psql(&format!(
            "select count(*) from public.verified_emails where user_id in ('{}', '{}')",
            late.id, guesser.id
        )),
        "0"
    );
}

/// Marks the address of `user` verified (what the code flow, tested above, does).
fn verified(user: &User) {
    psql(&format!(
        "insert into public.verified_emails (user_id, email_normalized) values ('{}', '{}')",
        user.id,
        address(user)
    ));
    plant(&address(user));
}

#[test]
fn email_a_failed_backup_alerts_the_teams_admins_once() {
    let owner = new_user();
    let team = psql(&format!(
        "select team_id from public.team_members where user_id = '{}' and role = 'owner' limit 1",
        owner.id
    ));
    let admin = new_user();
    let viewer = new_user();
    for (member, role) in [(&admin, "admin"), (&viewer, "viewer")] {
        psql(&format!(
            "insert into public.team_members (team_id, user_id, role) values ('{team}', '{}', '{role}')",
            member.id
        ));
    }
    for user in [&owner, &admin, &viewer] {
        verified(user);
    }
    let connection = owner.create_connection();
    assert!(emulator("POST", "/__emulator/reset", None).status < 300);
    let fault = json!({"path_prefix": "/api/v1/apps/", "kind": "revoke_token"});
    assert_eq!(
        emulator("POST", "/__emulator/faults", Some(&fault)).status,
        200
    );
    let reply = owner.api("POST", &format!("/connections/{connection}/backups"), None);
    assert_eq!(reply.status, 202, "{}", reply.text());
    let backup_id = reply.json()["backup"]["id"].as_str().unwrap().to_string();
    let backup = owner.wait_backup(&backup_id);
    emulator("POST", "/__emulator/reset", None);
    assert_eq!(backup["status"], "failed", "{backup}");

    let to_owner = wait_inbox(&address(&owner), 1);
    let to_admin = wait_inbox(&address(&admin), 1);
    let alert = &to_owner[0];
    assert!(
        alert["subject"].as_str().unwrap().contains("failed"),
        "{alert}"
    );
    assert!(
        alert["text"].as_str().unwrap().contains(&backup_id),
        "{alert}"
    );
    assert_eq!(alert["categories"], json!(["alerts"]));
    // Non-transactional: the signed one-click link, in the body and in the RFC 8058 headers.
    let link = alert["headers"]["List-Unsubscribe"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("<{}/api/v1/email/unsubscribe?token=v1.", worker())),
        "{link}"
    );
    assert_eq!(
        alert["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(to_admin.len(), 1);

    // The delivery job run again (twice), and the failure recorded again: nothing more is sent.
    outbox_cron();
    outbox_cron();
    assert_eq!(
        psql(&format!(
            "select count(*) from public.backups where id = '{backup_id}' and status = 'failed'"
        )),
        "1"
    );
    assert_eq!(
        service(
            "POST",
            "rpc/backup_fail",
            Some(&json!({"p_id": backup_id, "p_reason": "again", "p_audit": {}}))
        )
        .json(),
        json!(false)
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(inbox(&address(&owner)).len(), 1);
    assert_eq!(inbox(&address(&admin)).len(), 1);
    assert!(
        inbox(&address(&viewer)).is_empty(),
        "viewers get no backup alerts"
    );
    // Settled rows keep no address or content.
    assert_eq!(
        psql(&format!(
            "select string_agg(status || ':' || coalesce(recipient, '-') || ':' || coalesce(payload::text, '-'), ',') from public.notification_outbox where idempotency_key like 'backup_failed:{backup_id}:%'"
        )),
        "sent:-:-,sent:-:-"
    );
}

/// Enqueues one product update for everyone who opted in; returns its key prefix.
fn product_update(campaign: &str) -> String {
    let reply = service(
        "POST",
        "rpc/product_update_enqueue",
        Some(&json!({"p_campaign": campaign, "p_subject": "What is new", "p_text": "Drills."})),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    format!("product:{campaign}:")
}

#[test]
fn email_one_click_unsubscribe_stops_product_email() {
    let user = with_email(&new_user());
    let opted_in = user.api(
        "PATCH",
        "/me/email-preferences",
        Some(&json!({"product_updates": true})),
    );
    assert_eq!(opted_in.status, 200, "{}", opted_in.text());
    assert_eq!(opted_in.json()["product_updates"], true);
    let bad = user.api(
        "PATCH",
        "/me/email-preferences",
        Some(&json!({"security": false})),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());

    let stamp = now();
    let first = product_update(&format!("news-{stamp}-1"));
    wait_settled(&first);
    let news = wait_inbox(&address(&user), 1);
    assert_eq!(news[0]["subject"], "What is new");
    let link = news[0]["headers"]["List-Unsubscribe"]
        .as_str()
        .unwrap()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    assert!(news[0]["text"].as_str().unwrap().contains(&link));

    // GET shows a confirmation page and changes nothing (mail scanners follow links).
    let page = call("GET", &link, &[], None);
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("List-Unsubscribe"), "{}", page.text());
    assert_eq!(
        user.api("GET", "/me/email-preferences", None).json()["product_updates"],
        true
    );
    // A forged token or a POST without the one-click body is refused.
    let forged = call(
        "POST",
        &link.replace("token=v1.", "token=v1.x"),
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(b"List-Unsubscribe=One-Click"),
    );
    assert_eq!(
        (forged.status, forged.error_code()),
        (400, "invalid_unsubscribe_link".into())
    );
    let not_one_click = call(
        "POST",
        &link,
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(b"List-Unsubscribe=Maybe"),
    );
    assert_eq!(not_one_click.status, 400, "{}", not_one_click.text());
    // What a mail client sends for List-Unsubscribe-Post (RFC 8058).
    let done = call(
        "POST",
        &link,
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(b"List-Unsubscribe=One-Click"),
    );
    assert_eq!(done.status, 200, "{}", done.text());
    let settings = user.api("GET", "/me/email-preferences", None).json();
    assert_eq!(
        (
            settings["product_updates"].clone(),
            settings["alerts"].clone()
        ),
        (json!(false), json!(true))
    );

    // The next product update does not reach the user.
    let second = product_update(&format!("news-{stamp}-2"));
    wait_settled(&second);
    assert_eq!(inbox(&address(&user)).len(), 1);
}

/// Signs `payload` with the stack's test key and has SendGrid's library check it first.
fn sign(payload: &str, timestamp: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("node")
        .arg(root.join("tests/official/sendgrid_sign.cjs"))
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let input = json!({"key_file": env("BF_SENDGRID_WEBHOOK_KEY_FILE"), "payload": payload,
                       "timestamp": timestamp});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "sendgrid_sign.cjs failed");
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        out["sendgrid_ok"], true,
        "SendGrid's own verifier accepts the post"
    );
    out["signature"].as_str().unwrap().to_string()
}

fn post_events(payload: &str, signature: &str, timestamp: &str) -> Reply {
    call(
        "POST",
        &format!("{}/api/webhooks/sendgrid", worker()),
        &[
            ("content-type", "application/json"),
            ("x-twilio-email-event-webhook-signature", signature),
            ("x-twilio-email-event-webhook-timestamp", timestamp),
        ],
        Some(payload.as_bytes()),
    )
}

#[test]
fn email_signed_events_suppress_a_bounced_address_once_and_forgeries_are_refused() {
    let user = new_user();
    verified(&user);
    let to = address(&user);
    let stamp = now();
    let event = |id: &str, kind: &str| {
        json!({"email": to, "timestamp": stamp, "event": kind, "type": "bounce",
               "sg_event_id": format!("{id}-{stamp}"), "sg_message_id": "fake.filter-1"})
    };
    let payload = format!(
        "{}\r\n",
        json!([event("bounce", "bounce"), event("open", "open")])
    );
    let timestamp = stamp.to_string();
    let signature = sign(&payload, &timestamp);

    // Tampered payload, other timestamp, no signature: refused, nothing suppressed.
    let tampered = post_events(
        &payload.replace("bounce", "blocked"),
        &signature,
        &timestamp,
    );
    assert_eq!(
        (tampered.status, tampered.error_code()),
        (400, "invalid_webhook".into())
    );
    let restamped = post_events(&payload, &signature, &(stamp + 1).to_string());
    assert_eq!(restamped.status, 400);
    let unsigned = call(
        "POST",
        &format!("{}/api/webhooks/sendgrid", worker()),
        &[("content-type", "application/json")],
        Some(payload.as_bytes()),
    );
    assert_eq!(unsigned.status, 400);
    let suppressed = || {
        psql(&format!(
            "select coalesce(string_agg(reason, ','), '-') from public.email_suppressions where email_normalized = '{to}'"
        ))
    };
    assert_eq!(suppressed(), "-");

    let applied = post_events(&payload, &signature, &timestamp);
    assert_eq!(applied.status, 200, "{}", applied.text());
    assert_eq!(applied.json()["suppressed"], 1, "{}", applied.text());
    assert_eq!(suppressed(), "bounce");
    // SendGrid posting it again changes nothing.
    let replay = post_events(&payload, &signature, &timestamp);
    assert_eq!(replay.json()["duplicates"], 1, "{}", replay.text());

    // The suppressed address gets no more mail: a product update to it is skipped.
    assert_eq!(
        user.rest(
            "POST",
            "email_preferences",
            Some(&json!({"user_id": user.id, "product_updates": true}))
        )
        .status,
        201
    );
    let prefix = product_update(&format!("bounced-{stamp}"));
    wait_settled(&prefix);
    assert_eq!(
        psql(&format!(
            "select status || ':' || last_error from public.notification_outbox where idempotency_key like '{prefix}%' and user_id = '{}'",
            user.id
        )),
        "skipped:suppressed"
    );
    assert!(inbox(&to).is_empty());

    // A `processed` event settles a row whose worker died after SendGrid took the message.
    let row = psql(&format!(
        "insert into public.notification_outbox (idempotency_key, user_id, kind, category, recipient, payload, status, attempts, lease_token, next_attempt_at)
         values ('crash:{stamp}', '{}', 'deletion_completed', 'security', '{to}', '{{\"kind\":\"deletion_completed\",\"team_name\":\"A\"}}', 'sending', 1, gen_random_uuid(), now() + interval '10 minutes') returning id",
        user.id
    ));
    let processed = format!(
        "{}\r\n",
        json!([{"email": to, "timestamp": stamp, "event": "processed",
                "sg_event_id": format!("processed-{stamp}"), "sg_message_id": "fake.filter-2",
                "outbox_id": row}])
    );
    let signature = sign(&processed, &timestamp);
    let settled = post_events(&processed, &signature, &timestamp);
    assert_eq!(settled.json()["settled"], 1, "{}", settled.text());
    assert_eq!(
        psql(&format!(
            "select status || ':' || coalesce(recipient, '-') from public.notification_outbox where id = '{row}'"
        )),
        "sent:-"
    );
}
