//! Okta misbehaving mid-backup: every fault kind the emulator injects, on several endpoints at
//! once, and the backup still completes with exactly the data of a clean one.

use crate::support::*;
use serde_json::{json, Value};

/// Resets the emulator (counters, windows, pending faults) when dropped, so faults a failed
/// assertion left queued cannot leak into the next test.
struct EmulatorReset;

impl Drop for EmulatorReset {
    fn drop(&mut self) {
        emulator("POST", "/__emulator/reset", None);
    }
}

fn inject(fault: Value) {
    let reply = emulator("POST", "/__emulator/faults", Some(&fault));
    assert_eq!(reply.status, 200, "{fault}: {}", reply.text());
}

#[test]
fn a_backup_survives_every_kind_of_fault() {
    let user = new_user();
    let connection = user.create_connection();
    let clean = user.backup(&connection);
    assert_eq!(clean["status"], "complete", "{clean}");

    let _reset = EmulatorReset;
    // From here on the emulator's counters are this test's alone.
    assert!(emulator("POST", "/__emulator/reset", None).status < 300);
    // Spread over the lanes, and never more than three failures for one request of its six
    // attempts. Where prefixes overlap the oldest fault goes first: `/api/v1/groups` (most likely
    // the group list) gets the reset, a later `/api/v1/groups/...` request the cut body.
    for fault in [
        json!({"path_prefix": "/api/v1/users", "status": 503, "count": 3}),
        json!({"path_prefix": "/api/v1/apps", "status": 500}),
        // A short 429 burst; `reset_in_s` keeps Okta's shape but saves waiting out the minute.
        json!({"path_prefix": "/api/v1/policies", "status": 429, "count": 2, "reset_in_s": 1}),
        json!({"path_prefix": "/api/v1/groups", "kind": "reset"}),
        json!({"path_prefix": "/api/v1/groups/", "kind": "malformed"}),
        json!({"path_prefix": "/api/v1/zones", "kind": "malformed"}),
        json!({"path_prefix": "/api/v1/apps/", "delay_ms": 400, "count": 2}),
        json!({"path_prefix": "/api/v1/authenticators", "delay_ms": 300}),
    ] {
        inject(fault);
    }

    let reply = user.api("POST", &format!("/connections/{connection}/backups"), None);
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply.json()["backup"]["id"].as_str().unwrap().to_string();
    let faulted = user.wait_backup(&id);
    assert_eq!(faulted["status"], "complete", "{faulted}");

    // Every fault was hit, by this backup (nothing else calls Okta meanwhile).
    let stats = emulator("GET", "/__emulator/stats", None).json();
    assert_eq!(stats["faults_pending"], 0, "{stats}");
    assert!(
        stats["buckets"]["policies"]["rate_limited"]
            .as_u64()
            .unwrap()
            >= 2,
        "{stats}"
    );

    // Same objects, same counts, same content.
    assert_eq!(faulted["counts"], clean["counts"]);
    assert_eq!(faulted["object_count"], clean["object_count"]);
    let objects = clean["counts"].as_object().unwrap();
    assert_eq!(
        objects.len() as u64,
        clean["object_count"].as_u64().unwrap()
    );
    let (clean_id, faulted_id) = (clean["id"].as_str().unwrap(), id.as_str());
    for object in objects.keys() {
        assert_eq!(
            download_json(&user, faulted_id, object),
            download_json(&user, clean_id, object),
            "{object} differs from the clean backup's"
        );
    }
}

/// Starts a backup of a fresh connection with `faults` queued, and waits for it.
fn backup_with(faults: &[Value]) -> (User, Value) {
    let user = new_user();
    let connection = user.create_connection();
    assert!(emulator("POST", "/__emulator/reset", None).status < 300);
    for fault in faults {
        inject(fault.clone());
    }
    let reply = user.api("POST", &format!("/connections/{connection}/backups"), None);
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply.json()["backup"]["id"].as_str().unwrap().to_string();
    let backup = user.wait_backup(&id);
    (user, backup)
}

/// A failed backup is marked failed with its reason and an audit row, has no manifest, and
/// nothing of it can be downloaded.
fn assert_failed_cleanly(user: &User, backup: &Value, reason: &str) {
    assert_eq!(backup["status"], "failed", "{backup}");
    assert!(backup["manifest_sha256"].is_null(), "{backup}");
    let error = backup["error"].as_str().unwrap_or_default();
    assert!(error.contains(reason), "{reason:?} not in {backup}");
    let team = backup["team_id"].as_str().unwrap();
    let id = backup["id"].as_str().unwrap();
    let log = activity(team);
    assert!(
        log.iter()
            .any(|r| r["action"] == "backup.error" && r["target_id"] == id),
        "no backup.error row"
    );
    assert!(!log
        .iter()
        .any(|r| r["action"] == "backup.complete" && r["target_id"] == id));
    let reply = user.api("GET", &format!("/backups/{id}/objects/users/url"), None);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (409, "backup_not_complete")
    );
}

#[test]
fn a_token_revoked_mid_backup_fails_it_cleanly() {
    let _reset = EmulatorReset;
    // Revoked on an app's assignment list: the users, groups and config lanes are under way.
    let (user, backup) =
        backup_with(&[json!({"path_prefix": "/api/v1/apps/", "kind": "revoke_token"})]);
    assert_failed_cleanly(&user, &backup, "credential");
    let stats = emulator("GET", "/__emulator/stats", None).json();
    assert_eq!(stats["faults_pending"], 0, "{stats}");
    // Okta answers 401 to that token from now on; nothing retried it into a partial success.
    let probe = call(
        "GET",
        &format!("{}/api/v1/org", env("BF_OKTA_URL")),
        &[("authorization", &format!("SSWS {}", env("BF_OKTA_TOKEN")))],
        None,
    );
    assert_eq!(probe.status, 401);
}

#[test]
fn a_next_link_that_loops_fails_the_backup() {
    let _reset = EmulatorReset;
    let (user, backup) =
        backup_with(&[json!({"path_prefix": "/api/v1/users", "kind": "loop_next"})]);
    assert_failed_cleanly(&user, &backup, "loops back");
}

#[test]
fn lists_that_end_with_an_empty_page_or_a_refused_cursor_are_collected_whole() {
    let user = new_user();
    let connection = user.create_connection();
    let clean = user.backup(&connection);
    assert_eq!(clean["status"], "complete", "{clean}");
    let _reset = EmulatorReset;
    assert!(emulator("POST", "/__emulator/reset", None).status < 300);
    // Users and groups end with an extra empty page; the cursor of the users' empty page is
    // then refused (E0000029, as an expired one is), so that list starts over.
    for fault in [
        json!({"path_prefix": "/api/v1/users", "kind": "empty_next"}),
        json!({"path_prefix": "/api/v1/users", "kind": "expired_cursor"}),
        json!({"path_prefix": "/api/v1/groups", "kind": "empty_next"}),
    ] {
        inject(fault);
    }
    let reply = user.api("POST", &format!("/connections/{connection}/backups"), None);
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply.json()["backup"]["id"].as_str().unwrap().to_string();
    let faulted = user.wait_backup(&id);
    assert_eq!(faulted["status"], "complete", "{faulted}");
    let stats = emulator("GET", "/__emulator/stats", None).json();
    assert_eq!(stats["faults_pending"], 0, "every fault was hit: {stats}");
    assert_eq!(faulted["counts"], clean["counts"]);
    for object in ["users", "groups", "group_members"] {
        assert_eq!(
            download_json(&user, &id, object),
            download_json(&user, clean["id"].as_str().unwrap(), object),
            "{object}"
        );
    }
}
