//! Audit evidence: who acted (a user, or an API key by its id), under the worker's own request
//! id, written in the same transaction as the change, and failed logins and downloads recorded.

use crate::access::{api_as, create_key, personal_team};
use crate::support::*;
use butterfly::authz::matrix::Scope;
use serde_json::{json, Value};

/// Audit rows carrying a client's `X-Request-Id`, as the service role sees them.
fn rows_for_client_request(client_id: &str) -> Vec<Value> {
    let reply = service(
        "GET",
        &format!("activity_logs?client_request_id=eq.{client_id}&order=id.asc"),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json().as_array().unwrap().clone()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", psql("select md5(random()::text)"))
}

#[test]
fn actions_with_an_api_key_name_the_key_and_the_workers_request_id() {
    let alice = new_user();
    let team = personal_team(&alice);
    let connection = alice.create_connection();
    let (key_id, key) = create_key(&alice, &team, &[Scope::Backup]);
    let client_id = unique("client-req");
    let reply = call(
        "POST",
        &format!("{}/api/v1/connections/{connection}/backups", worker()),
        &[
            ("authorization", &format!("Bearer {key}")),
            ("x-request-id", &client_id),
        ],
        None,
    );
    assert_eq!(reply.status, 202, "{}", reply.text());
    let worker_id = reply.header("x-request-id").unwrap().to_string();
    assert!(worker_id.starts_with("req_"), "{worker_id}");
    assert_ne!(worker_id, client_id);
    alice.wait_backup(reply.json()["backup"]["id"].as_str().unwrap());

    let rows = rows_for_client_request(&client_id);
    let request = rows
        .iter()
        .find(|r| r["action"] == "backup.request")
        .unwrap_or_else(|| panic!("no backup.request row: {rows:?}"));
    assert_eq!(request["actor_type"], "api_key");
    assert_eq!(request["key_id"], json!(key_id));
    assert_eq!(
        request["actor_id"],
        json!(alice.id),
        "the key acts for its user"
    );
    assert_eq!(request["request_id"], json!(worker_id));
    assert_eq!(request["client_request_id"], json!(client_id));
    // A user's own session is recorded as the user, with no key.
    let client_id = unique("client-req");
    let reply = call(
        "DELETE",
        &format!("{}/api/v1/connections/{connection}", worker()),
        &[
            ("authorization", &format!("Bearer {}", alice.jwt)),
            ("x-request-id", &client_id),
        ],
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let rows = rows_for_client_request(&client_id);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["action"], "connection.delete");
    assert_eq!(rows[0]["actor_type"], "user");
    assert_eq!(rows[0]["key_id"], Value::Null);
    assert_eq!(
        rows[0]["request_id"],
        json!(reply.header("x-request-id").unwrap())
    );
}

#[test]
fn failed_logins_and_downloads_are_audited() {
    // A wrong key and a forged session, each from a known address.
    for (credential, token) in [
        (
            "api_key",
            "bfk_00000000000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                .to_string(),
        ),
        ("jwt", format!("{}x", new_user().jwt)),
    ] {
        let client_id = unique("failed-login");
        let reply = call(
            "GET",
            &format!("{}/api/v1/connections", worker()),
            &[
                ("authorization", &format!("Bearer {token}")),
                ("x-request-id", &client_id),
                ("cf-connecting-ip", "203.0.113.77"),
            ],
            None,
        );
        assert_eq!(reply.status, 401, "{}", reply.text());
        let rows = rows_for_client_request(&client_id);
        assert_eq!(rows.len(), 1, "{credential}: {rows:?}");
        let row = &rows[0];
        assert_eq!(row["action"], "auth.failed");
        assert_eq!(row["actor_type"], "anonymous");
        assert_eq!(row["source_ip"], "203.0.113.77");
        assert_eq!(row["details"]["credential"], credential);
        assert_eq!(
            row["request_id"],
            json!(reply.header("x-request-id").unwrap())
        );
        assert!(
            !row.to_string().contains(&token),
            "the credential is stored"
        );
    }

    // A download through a signed URL is an audited event of the backup's team.
    let user = new_user();
    let connection = user.create_connection();
    let backup = user.backup(&connection);
    let (team, id) = (
        backup["team_id"].as_str().unwrap(),
        backup["id"].as_str().unwrap(),
    );
    let users = download(&user, id, "users");
    assert!(!users.is_empty());
    let log = activity(team);
    let downloaded = log
        .iter()
        .find(|r| r["action"] == "backup.download")
        .unwrap_or_else(|| panic!("no backup.download row: {log:?}"));
    assert_eq!(downloaded["target_id"], json!(id));
    assert_eq!(downloaded["details"]["object"], "users");
    user.api("DELETE", &format!("/connections/{connection}"), None);
}

#[test]
fn an_audit_row_is_written_in_the_same_transaction_as_its_change() {
    let user = new_user();
    let connection = user.create_connection();
    let team = personal_team(&user);
    let before = activity(&team).len();
    // The worker's delete function, with an audit payload the log refuses: nothing changes.
    let audit = |action: &str| {
        json!({"team_id": team, "actor_type": "user", "actor_id": user.id, "action": action,
               "target_type": "okta_connection", "target_id": connection,
               "request_id": "req_0123456789abcdef0123456789abcdef", "details": {}})
    };
    let refused = service(
        "POST",
        "rpc/connection_delete",
        Some(&json!({"p_id": connection, "p_audit": audit("NOT AN ACTION")})),
    );
    assert!(refused.status >= 400, "{}", refused.text());
    let stored = service(
        "GET",
        &format!("okta_connections?id=eq.{connection}&select=status"),
        None,
    )
    .json();
    assert_eq!(stored, json!([{"status": "active"}]));
    assert_eq!(activity(&team).len(), before);
    // With a valid payload, the change and its row land together.
    let done = service(
        "POST",
        "rpc/connection_delete",
        Some(&json!({"p_id": connection, "p_audit": audit("connection.delete")})),
    );
    assert_eq!(done.status, 200, "{}", done.text());
    let log = activity(&team);
    assert_eq!(log.len(), before + 1);
    assert_eq!(log[before]["action"], "connection.delete");
    assert_eq!(
        api_as(
            &user.jwt,
            "GET",
            &format!("/connections/{connection}"),
            None
        )
        .status,
        404
    );
}
