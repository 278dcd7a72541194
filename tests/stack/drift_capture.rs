//! Live change capture end to end: a connection to an emulator of this test's own (so no other
//! test's changes reach its System Log) is backed up; an admin changes the org through
//! `/__emulator/changes`; the drift cron's check captures the change with its actor and client
//! address as a sealed delta under the backup's prefix, adds the changed user's captured version
//! (attributed, diffed against its backup version) to its history, lists a high alert (and
//! enqueues its email), the alert is acknowledged (audited); a second check keeps the cursor and
//! captures nothing new; bad input is refused and changes nothing.

use crate::support::*;
use okta_emulator::EmulatorConfig;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// This test's own emulator's API token (Butterfly accepts 20-128 characters).
const TOKEN: &str = "drift-stack-test-okta-token-0123456789";
const ADMIN_IP: &str = "203.0.113.7";

fn okta_changes(base: &str, requests: Value) -> Value {
    let auth = format!("SSWS {TOKEN}");
    let body = json!({
        "client": {"ipAddress": ADMIN_IP,
                   "userAgent": "Mozilla/5.0 (Windows NT 10.0) Chrome/127.0.0.0"},
        "requests": requests,
    });
    let reply = call(
        "POST",
        &format!("{base}/__emulator/changes"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(&serde_json::to_vec(&body).unwrap()),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let results = reply.json()["results"].clone();
    for r in results.as_array().unwrap() {
        assert!(r["status"].as_u64().unwrap() < 300, "{r}");
    }
    results
}

pub(crate) fn run_drift_cron() {
    let reply = call(
        "GET",
        &format!("{}/__scheduled?cron=*/5+*+*+*+*", worker()),
        &[],
        None,
    );
    assert!(reply.status < 300, "{}", reply.text());
}

/// The connection's drift view once `done` holds for it.
pub(crate) fn wait_drift(user: &User, connection: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let reply = user.api("GET", &format!("/connections/{connection}/drift"), None);
        assert_eq!(reply.status, 200, "{}", reply.text());
        let view = reply.json();
        if done(&view) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "drift check did not finish: {view}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Only this test's connection is due when it runs the drift cron: every other connection of
/// the suite is moved a day on (their checks would poll the shared emulator).
pub(crate) fn only_due(connection: &str) {
    psql(&format!(
        "insert into drift_settings (connection_id, team_id, next_due_at) \
         select id, team_id, now() + interval '1 day' from okta_connections where id <> '{connection}' \
         on conflict (connection_id) do update set next_due_at = excluded.next_due_at; \
         update drift_settings set next_due_at = now() where connection_id = '{connection}'"
    ));
}

#[test]
fn drift_check_captures_attributes_alerts_and_keeps_its_cursor() {
    let emulator = okta_emulator::start(EmulatorConfig {
        api_tokens: vec![TOKEN.to_owned()],
        ..EmulatorConfig::default()
    })
    .unwrap();
    let okta = emulator.base_url();
    plant(TOKEN);
    let user = new_user();
    let body = json!({"org_domain": okta.trim_start_matches("http://"), "api_token": TOKEN});
    let reply = user.api("POST", "/connections", Some(&body));
    assert_eq!(reply.status, 201, "{}", reply.text());
    let connection = reply.json()["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let backup = user.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    let team = backup["team_id"].as_str().unwrap().to_string();

    // Before any check: the defaults, nothing captured.
    let view = user
        .api("GET", &format!("/connections/{connection}/drift"), None)
        .json();
    assert_eq!(view["interval_minutes"], 15, "{view}");
    assert_eq!(view["custom_rules"], false);
    assert!(view["alerts"].as_array().unwrap().is_empty());

    // A user the backup holds, whose history the capture will extend.
    let listed = call(
        "GET",
        &format!("{okta}/api/v1/users?limit=1"),
        &[("authorization", &format!("SSWS {TOKEN}"))],
        None,
    );
    assert_eq!(listed.status, 200, "{}", listed.text());
    let known = listed.json()[0]["id"].as_str().unwrap().to_string();

    let results = okta_changes(
        &okta,
        json!([
            {"method": "POST", "path": "/api/v1/zones",
             "body": {"type": "IP", "name": "Drift Anywhere",
                      "gateways": [{"type": "CIDR", "value": "0.0.0.0/1"}]}},
            {"method": "POST", "path": "/api/v1/users?activate=false",
             "body": {"profile": {"firstName": "Dana", "lastName": "Drift",
                                  "email": "dana.drift@example.com",
                                  "login": "dana.drift@example.com"}}},
            {"method": "POST", "path": format!("/api/v1/users/{known}"),
             "body": {"profile": {"title": "Drift Director"}}},
        ]),
    );
    let profile_txn = results[2]["transaction"].as_str().unwrap().to_string();
    let zone_id = results[0]["body"]["id"].as_str().unwrap().to_string();
    let zone_txn = results[0]["transaction"].as_str().unwrap().to_string();
    let admin = emulator.log_events().last().unwrap()["actor"].clone();

    only_due(&connection);
    run_drift_cron();
    let view = wait_drift(&user, &connection, |v| {
        !v["captures"].as_array().unwrap().is_empty()
    });
    let captures = view["captures"].as_array().unwrap();
    assert_eq!(captures.len(), 1, "{view}");
    let capture = &captures[0];
    assert_eq!(capture["seq"], 1);
    assert_eq!(capture["backup_id"], backup["id"]);
    assert_eq!(
        capture["counts"],
        json!({"users": 2, "network_zones": 1}),
        "{capture}"
    );
    let zone = capture["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "network_zones")
        .expect("the zone's change")
        .clone();
    assert_eq!(zone["id"], zone_id);
    assert_eq!(zone["kind"], "added");
    assert_eq!(zone["after"]["name"], "Drift Anywhere");
    let by = &zone["attribution"][0];
    assert_eq!(by["event_type"], "zone.create");
    assert_eq!(by["client_ip"], ADMIN_IP);
    assert_eq!(by["actor_id"], admin["id"]);
    assert_eq!(by["actor_type"], "User");
    assert_eq!(by["actor_display_name"], admin["displayName"]);
    assert_eq!(by["transaction_id"], zone_txn.as_str());
    assert_eq!(by["origin"], "tenant");

    // The known user's history: its backup version, then the captured one, attributed, with
    // the field diff between them read back from the backup and the sealed delta.
    let history = format!("/connections/{connection}/resources/users/{known}/history");
    let deadline = Instant::now() + Duration::from_secs(60);
    let versions = loop {
        let reply = user.api("GET", &history, None);
        assert_eq!(reply.status, 200, "{}", reply.text());
        let versions = reply.json()["versions"].clone();
        if versions.as_array().unwrap().len() >= 2 || Instant::now() > deadline {
            break versions;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[0]["source"], "backup");
    assert_eq!(versions[0]["backup_id"], backup["id"]);
    assert_eq!(versions[0]["change"]["kind"], "initial");
    let captured = &versions[1];
    assert_eq!(captured["source"], "capture", "{captured}");
    assert_eq!(captured["capture_id"], capture["id"]);
    assert_eq!(captured["event_type"], "user.account.update_profile");
    assert_eq!(captured["actor_id"], admin["id"]);
    assert_eq!(captured["actor_display_name"], admin["displayName"]);
    assert_eq!(captured["client_ip"], ADMIN_IP);
    assert!(captured["user_agent"]
        .as_str()
        .unwrap()
        .contains("Chrome/127"));
    assert_eq!(captured["transaction_id"], profile_txn.as_str());
    assert_eq!(captured["change"]["kind"], "changed", "{captured}");
    let title = captured["change"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "/profile/title")
        .expect("the title's change");
    assert_eq!(title["after"], "Drift Director");

    // A restore point: the delta is sealed under the backup's prefix, its hash on the row.
    let prefix = psql(&format!(
        "select r2_prefix from backups where id = '{}'",
        backup["id"].as_str().unwrap()
    ));
    assert!(!prefix.is_empty());
    let stored = psql(&format!(
        "select manifest_sha256 from drift_captures where connection_id = '{connection}'"
    ));
    assert_eq!(stored.len(), 64);

    // One high alert, for the zone (new users alert on nothing by default), and its email.
    let alerts = view["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{view}");
    let alert = &alerts[0];
    assert_eq!(alert["resource_type"], "network_zones");
    assert_eq!(alert["resource_id"], zone_id);
    assert_eq!(alert["severity"], "high");
    assert_eq!(alert["rule_id"], "network-zones");
    assert_eq!(alert["status"], "open");
    assert_eq!(alert["attribution"][0]["client_ip"], ADMIN_IP);
    let alert_id = alert["id"].as_str().unwrap().to_string();
    let queued = psql(&format!(
        "select count(*) from notification_outbox where idempotency_key = 'drift:{alert_id}:{}' \
         and kind = 'drift_alert' and category = 'alerts'",
        user.id
    ));
    assert_eq!(queued, "1");
    // The cursor is the worker's: users cannot read it.
    let hidden = user.rest(
        "GET",
        &format!("drift_settings?connection_id=eq.{connection}&select=cursor"),
        None,
    );
    assert!(hidden.status >= 400, "{}", hidden.text());
    assert!(activity(&team)
        .iter()
        .any(|r| r["action"] == "drift.capture"));

    // Bad input is refused and changes nothing.
    let path = format!("/connections/{connection}/drift/alerts/{alert_id}/transitions");
    let bad = user.api("POST", &path, Some(&json!({"to": "open"})));
    assert_eq!(bad.status, 422, "{}", bad.text());
    let bad = user.api(
        "POST",
        &path,
        Some(&json!({"to": "acknowledged", "extra": 1})),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.error_code(), "invalid_json");
    let settings = format!("/connections/{connection}/drift/settings");
    let bad = user.api(
        "PATCH",
        &settings,
        Some(&json!({"interval_minutes": 2, "rules": null})),
    );
    assert_eq!(bad.status, 422, "{}", bad.text());

    // Acknowledged by the owner, audited; a second acknowledgement is a conflict.
    let acked = user.api(
        "POST",
        &path,
        Some(&json!({"to": "acknowledged", "note": "mine"})),
    );
    assert_eq!(acked.status, 200, "{}", acked.text());
    assert_eq!(acked.json()["alert"]["status"], "acknowledged");
    assert_eq!(acked.json()["alert"]["status_by"], user.id.as_str());
    let again = user.api("POST", &path, Some(&json!({"to": "acknowledged"})));
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(again.error_code(), "invalid_transition");
    assert!(activity(&team)
        .iter()
        .any(|r| r["action"] == "drift.alert_acknowledge" && r["target_id"] == alert_id.as_str()));

    // A second check polls the stored link: nothing new is captured.
    let checked = view["last_checked_at"].clone();
    only_due(&connection);
    run_drift_cron();
    let view = wait_drift(&user, &connection, |v| v["last_checked_at"] != checked);
    assert_eq!(view["captures"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["alerts"].as_array().unwrap().len(), 1);
    // The stored cursor is the System Log's own `next` link (no hand-built window).
    let cursor = psql(&format!(
        "select cursor from drift_settings where connection_id = '{connection}'"
    ));
    assert!(cursor.starts_with(&okta), "{cursor}");
    assert!(cursor.contains("after=") && !cursor.contains("since=") && !cursor.contains("until="));

    // The interval is the connection's own, audited.
    let set = user.api(
        "PATCH",
        &settings,
        Some(&json!({"interval_minutes": 60, "rules": null})),
    );
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(set.json()["settings"]["interval_minutes"], 60);
    assert!(activity(&team)
        .iter()
        .any(|r| r["action"] == "drift.settings"));

    user.api("DELETE", &format!("/connections/{connection}"), None);
}
