//! Tenancy holds twice: the API hides other teams' data, and so does PostgREST with the same JWT.

use crate::support::*;
use serde_json::json;

#[test]
fn another_user_sees_and_touches_nothing_through_the_api() {
    let alice = new_user();
    let connection = alice.create_connection();
    let backup = alice.backup(&connection);
    let backup_id = backup["id"].as_str().unwrap();
    let bob = new_user();

    assert_eq!(
        bob.api("GET", "/connections", None).json()["connections"],
        json!([])
    );
    for (method, path) in [
        ("GET", format!("/connections/{connection}")),
        ("DELETE", format!("/connections/{connection}")),
        ("POST", format!("/connections/{connection}/backups")),
        ("GET", format!("/connections/{connection}/backups")),
        ("GET", format!("/backups/{backup_id}")),
        ("GET", format!("/backups/{backup_id}/objects/users/url")),
    ] {
        let reply = bob.api(method, &path, None);
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text());
        assert!(!reply.text().contains(&alice.id));
    }
    // Bob naming Alice's team in a body is refused too.
    let alice_team = backup["team_id"].as_str().unwrap();
    let mut body = okta_connection_body();
    body["team_id"] = json!(alice_team);
    assert_eq!(bob.api("POST", "/connections", Some(&body)).status, 404);

    // Nothing of Alice's changed.
    let stored = service(
        "GET",
        &format!("okta_connections?id=eq.{connection}&select=status"),
        None,
    )
    .json();
    assert_eq!(stored, json!([{"status": "active"}]));
    let runs = service(
        "GET",
        &format!("backups?connection_id=eq.{connection}&select=id"),
        None,
    )
    .json();
    assert_eq!(runs.as_array().unwrap().len(), 1);
}

#[test]
fn row_level_security_holds_directly_through_postgrest() {
    let alice = new_user();
    let connection = alice.create_connection();
    let backup = alice.backup(&connection);
    let team = backup["team_id"].as_str().unwrap().to_string();
    let bob = new_user();

    for table in [
        // Both hide a sealed column from their members: the readable columns are named.
        "okta_connections?select=id",
        "backups?select=id,team_id,connection_id,status",
        "activity_logs",
        "teams",
        "team_members",
        "profiles",
    ] {
        let mine = bob.rest(
            "GET",
            &format!("{table}{}", if table.contains('?') { "&" } else { "?" }),
            None,
        );
        assert_eq!(mine.status, 200, "{table}: {}", mine.text());
        let rows = mine.json();
        assert!(
            rows.as_array()
                .unwrap()
                .iter()
                .all(|r| !r.to_string().contains(&team) && !r.to_string().contains(&alice.id)),
            "{table} leaked Alice's rows: {rows}"
        );
    }
    // Key material is the service role's alone, even for its own team.
    assert!(alice.rest("GET", "tenant_keys", None).status >= 400);
    // The sealed credential column is not readable by users, not even the owner.
    assert!(
        alice
            .rest("GET", "okta_connections?select=sealed_token", None)
            .status
            >= 400
    );

    // Writes into Alice's team are refused by RLS.
    let insert = bob.rest(
        "POST",
        "backups",
        Some(&json!({"id": "00000000-0000-4000-8000-0000000000b0", "team_id": team, "connection_id": connection,
                    "requested_by": bob.id, "trigger": "manual", "r2_prefix": "x"})),
    );
    assert!(insert.status >= 400, "{}", insert.text());
    let update = bob.rest("PATCH", &format!("okta_connections?id=eq.{connection}"), Some(&json!({"status": "deleted", "sealed_token": null, "deleted_at": "2026-01-01T00:00:00Z"})));
    assert!(
        update.status >= 400 || update.json() == json!([]),
        "{}",
        update.text()
    );
    // Users cannot write audit rows, nor mark backups complete themselves.
    let forged = alice.rest("POST", "activity_logs", Some(&json!({"team_id": team, "actor_type": "user", "actor_id": alice.id, "action": "connection.create"})));
    assert!(forged.status >= 400);
    let id = backup["id"].as_str().unwrap();
    let tamper = alice.rest(
        "PATCH",
        &format!("backups?id=eq.{id}"),
        Some(&json!({"error": "x"})),
    );
    assert!(tamper.status >= 400 || tamper.json() == json!([]));

    let stored = service(
        "GET",
        &format!("okta_connections?id=eq.{connection}&select=status"),
        None,
    )
    .json();
    assert_eq!(stored, json!([{"status": "active"}]));
}

#[test]
fn activity_logs_are_append_only_even_for_the_service_role() {
    let user = new_user();
    user.create_connection();
    let team = psql(&format!(
        "select id from teams where created_by = '{}'",
        user.id
    ));
    let before = activity(&team);
    assert!(!before.is_empty());
    let patch = service(
        "PATCH",
        &format!("activity_logs?team_id=eq.{team}"),
        Some(&json!({"action": "connection.delete"})),
    );
    assert!(patch.status >= 400, "{}", patch.text());
    let delete = service("DELETE", &format!("activity_logs?team_id=eq.{team}"), None);
    assert!(delete.status >= 400, "{}", delete.text());
    // Not even the table owner (the migration role) may rewrite history.
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            &env("BF_DB"),
            "-c",
            &format!("delete from activity_logs where team_id = '{team}'"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(activity(&team), before);
}
