//! Resumable backups against the real database and worker: the lease and sequence guard on job
//! checkpoints, and racing starts of one connection's backup.

use crate::support::*;
use serde_json::{json, Value};

fn rpc(function: &str, args: Value) -> Reply {
    service("POST", &format!("rpc/{function}"), Some(&args))
}

fn claim(backup: &str, token: &str) -> Value {
    let reply = rpc(
        "job_claim",
        json!({"p_kind": "backup", "p_id": backup, "p_token": token, "p_lease_seconds": 60}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn commit(backup: &str, token: &str, seq: i64, state: Value, release: bool) -> Value {
    let reply = rpc(
        "job_commit",
        json!({"p_kind": "backup", "p_id": backup, "p_token": token, "p_seq": seq,
               "p_state": state, "p_failures": 0, "p_lease_seconds": 60, "p_release": release}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn stored_state(backup: &str) -> Value {
    service(
        "GET",
        &format!("job_checkpoints?job_kind=eq.backup&job_id=eq.{backup}&select=seq,state"),
        None,
    )
    .json()[0]
        .clone()
}

#[test]
fn checkpoint_writes_need_the_current_lease_and_sequence_number() {
    let user = new_user();
    let connection = user.create_connection();
    let team = psql(&format!(
        "select team_id from okta_connections where id = '{connection}'"
    ));
    // A running scheduled backup that no worker is processing, opened as the worker opens one.
    let backup = psql("select gen_random_uuid()");
    let opened = rpc(
        "backup_open",
        json!({
            "p_row": {"id": backup, "team_id": team, "connection_id": connection,
                      "trigger": "schedule", "requested_by": null, "r2_prefix": "users/x/",
                      // The shape of a sealed snapshot key (never opened by this test).
                      "sealed_key": "v1.1.AAAA", "key_version": 1, "snapshot_secret_id": "test"},
            "p_stale_after_seconds": 1800,
            "p_audit": {"actor_type": "system", "actor_id": "test", "action": "backup.schedule",
                        "target_type": "backup", "target_id": backup, "request_id": "req_test",
                        "details": {}},
        }),
    );
    assert_eq!(opened.status, 200, "{}", opened.text());
    let (a, b) = ("a".repeat(32), "b".repeat(32));

    let first = claim(&backup, &a);
    assert_eq!(first[0]["seq"], 0);
    assert_eq!(first[0]["state"], json!({}));
    assert_eq!(claim(&backup, &b), json!([]), "the lease is held");

    assert_eq!(commit(&backup, &a, 0, json!({"n": 1}), false), json!(1));
    // A stale sequence number or a token without the lease writes nothing.
    assert_eq!(commit(&backup, &a, 0, json!({"n": 2}), false), Value::Null);
    assert_eq!(commit(&backup, &b, 1, json!({"n": 3}), false), Value::Null);
    assert_eq!(stored_state(&backup), json!({"seq": 1, "state": {"n": 1}}));

    // The lease lapses (its holder died): another invocation takes over, and the old holder
    // can no longer commit.
    psql(&format!(
        "update job_checkpoints set lease_until = now() - interval '1 second' where job_id = '{backup}'"
    ));
    let second = claim(&backup, &b);
    assert_eq!(second[0]["seq"], 1);
    assert_eq!(second[0]["state"], json!({"n": 1}));
    assert_eq!(commit(&backup, &a, 1, json!({"n": 4}), false), Value::Null);
    // Released at the end of a slice: the next message can claim at once.
    assert_eq!(commit(&backup, &b, 1, json!({"n": 5}), true), json!(2));
    assert_eq!(claim(&backup, &a)[0]["state"], json!({"n": 5}));

    let row = service(
        "GET",
        &format!("backups?id=eq.{backup}&select=slices,heartbeat_at"),
        None,
    )
    .json();
    assert_eq!(row[0]["slices"], 3, "{row}");
    assert!(row[0]["heartbeat_at"].is_string());

    // Users can neither read checkpoints nor call the functions.
    let denied = user.rest(
        "POST",
        "rpc/job_claim",
        Some(&json!({"p_kind": "backup", "p_id": backup, "p_token": b, "p_lease_seconds": 60})),
    );
    assert!(
        denied.status == 401 || denied.status == 403,
        "{}",
        denied.text()
    );
    let hidden = user.rest("GET", "job_checkpoints?select=state", None);
    assert!(
        hidden.status >= 400 || hidden.json() == json!([]),
        "{}",
        hidden.text()
    );
    // Malformed tokens and leases are refused by the database.
    assert!(
        rpc(
            "job_claim",
            json!({"p_kind": "backup", "p_id": backup, "p_token": "zz", "p_lease_seconds": 60})
        )
        .status
            >= 400
    );
    assert!(
        rpc(
            "job_claim",
            json!({"p_kind": "backup", "p_id": backup, "p_token": a, "p_lease_seconds": 86400})
        )
        .status
            >= 400
    );

    // A finished run can no longer be claimed.
    let failed = rpc(
        "backup_fail",
        json!({"p_id": backup, "p_reason": "test",
               "p_audit": {"actor_type": "system", "actor_id": "test", "action": "backup.error",
                           "target_type": "backup", "target_id": backup, "request_id": "req_test",
                           "details": {}}}),
    );
    assert_eq!(failed.json(), json!(true), "{}", failed.text());
    assert_eq!(claim(&backup, &b), json!([]));

    // Users cannot open runs at all (not even ones that look like the worker's).
    let row = json!({"id": psql("select gen_random_uuid()"), "team_id": team,
        "connection_id": connection, "trigger": "manual", "status": "running",
        "requested_by": user.id, "r2_prefix": "users/x/"});
    let reply = rest_insert(&user.jwt, "backups", &row);
    assert!(reply.status >= 400, "{}", reply.text());
}

#[test]
fn racing_starts_of_one_connection_make_one_backup() {
    let user = new_user();
    let connection = user.create_connection();
    let path = format!("/connections/{connection}/backups");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| user.api("POST", &path, None).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 202 || *s == 409),
        "{statuses:?}"
    );
    let runs = user.api("GET", &path, None).json()["backups"].clone();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    let done = user.wait_backup(runs[0]["id"].as_str().unwrap());
    assert_eq!(done["status"], "complete", "{done}");
    let team = done["team_id"].as_str().unwrap();
    let starts = activity(team)
        .iter()
        .filter(|r| r["action"] == "backup.start")
        .count();
    assert_eq!(starts, 1);
}

#[test]
fn a_backup_outlasts_a_transient_okta_outage() {
    let user = new_user();
    let connection = user.create_connection();
    // More 503s in a row than one request's retries: the slice that meets them gives up,
    // keeps its progress and is sent again; the next one finds Okta back.
    let fault = emulator(
        "POST",
        "/__emulator/faults",
        Some(&json!({"path_prefix": "/api/v1/org", "status": 503, "count": 7})),
    );
    assert!(fault.status < 300, "{}", fault.text());
    let backup = user.backup(&connection);
    emulator("POST", "/__emulator/reset", None);
    assert_eq!(backup["status"], "complete", "{backup}");
    assert_eq!(backup["counts"]["org"], 1);
    let team = backup["team_id"].as_str().unwrap();
    let log = activity(team);
    assert!(!log.iter().any(|r| r["action"] == "backup.error"));
    assert_eq!(
        log.iter().filter(|r| r["action"] == "backup.start").count(),
        1
    );
}
