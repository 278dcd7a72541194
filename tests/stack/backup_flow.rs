//! The whole chain: connection -> backup -> manifest -> signed URL -> decrypted data equal to Okta's.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn ids(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn connection_backup_and_signed_download_round_trip() {
    let user = new_user();
    let reply = user.api("POST", "/connections", Some(&okta_connection_body()));
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert!(
        !reply.text().contains(&env("BF_OKTA_TOKEN")),
        "token echoed back"
    );
    let connection = reply.json()["connection"].clone();
    let id = connection["id"].as_str().unwrap().to_string();
    let team = connection["team_id"].as_str().unwrap().to_string();
    let scopes: Vec<&str> = connection["granted_scopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(
        scopes,
        [
            "okta.users.read",
            "okta.groups.read",
            "okta.apps.read",
            "okta.policies.read"
        ]
    );
    assert!(connection.get("sealed_token").is_none());

    // Stored sealed, never in plaintext.
    let stored = service(
        "GET",
        &format!("okta_connections?id=eq.{id}&select=sealed_token,key_version"),
        None,
    )
    .json();
    let sealed = stored[0]["sealed_token"].as_str().unwrap();
    assert!(sealed.starts_with("v1.1."), "{sealed}");
    assert!(!sealed.contains(&env("BF_OKTA_TOKEN")));
    let keys = service(
        "GET",
        &format!("tenant_keys?team_id=eq.{team}&select=version,master_key_id"),
        None,
    )
    .json();
    assert_eq!(keys, json!([{"version": 1, "master_key_id": "local1"}]));

    // The same org twice in one team is a conflict, and stores nothing new.
    let dup = user.api("POST", "/connections", Some(&okta_connection_body()));
    assert_eq!(
        (dup.status, dup.error_code().as_str()),
        (409, "connection_exists")
    );

    let listed = user.api("GET", "/connections", None).json();
    assert_eq!(listed["connections"].as_array().unwrap().len(), 1);

    let backup = user.backup(&id);
    assert_eq!(backup["status"], "complete", "{backup}");
    assert_eq!(backup["trigger"], "manual");
    let backup_id = backup["id"].as_str().unwrap().to_string();
    let prefix = backup["r2_prefix"].as_str().unwrap();
    assert!(
        prefix.starts_with(&format!("users/{}/connections/{id}/backups/", user.id)),
        "{prefix}"
    );
    assert_eq!(backup["object_count"], 24);
    assert_eq!(backup["manifest_sha256"].as_str().unwrap().len(), 64);
    // test.sh gives slices 20 Okta requests: the backup went through the queue as several
    // invocations, each resuming from the last one's checkpoint.
    assert!(backup["slices"].as_u64().unwrap() >= 3, "{backup}");
    // The checkpoint is the worker's alone.
    let hidden = user.rest("GET", "job_checkpoints?select=job_id", None);
    assert!(
        hidden.status >= 400 || hidden.json() == json!([]),
        "{}",
        hidden.text()
    );

    // Decrypted downloads equal what the emulator serves.
    let mut okta_users = okta_list("/api/v1/users?limit=200");
    okta_users.extend(okta_list(
        "/api/v1/users?limit=200&filter=status%20eq%20%22DEPROVISIONED%22",
    ));
    let users = download(&user, &backup_id, "users");
    assert_eq!(ids(&users), ids(&okta_users));
    assert_eq!(
        backup["counts"]["users"].as_u64().unwrap() as usize,
        okta_users.len()
    );
    let user_by_id = |id: &str| okta_users.iter().find(|u| u["id"] == id).unwrap().clone();
    for u in &users {
        assert_eq!(u, &user_by_id(u["id"].as_str().unwrap()));
    }
    // The download is streamed (no length known up front) and still carries the API's
    // security headers; its bytes are the same JSON as above.
    let url = user.api(
        "GET",
        &format!("/backups/{backup_id}/objects/users/url"),
        None,
    );
    let streamed = call("GET", url.json()["url"].as_str().unwrap(), &[], None);
    assert_eq!(streamed.status, 200);
    let header = |name: &str| {
        streamed
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("transfer-encoding"), Some("chunked"));
    assert_eq!(header("content-length"), None);
    assert_eq!(
        header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(header("content-disposition"), Some("attachment"));
    assert_eq!(header("x-content-type-options"), Some("nosniff"));
    assert_eq!(header("cache-control"), Some("no-store"));
    assert!(header("strict-transport-security").is_some());
    assert!(header("content-security-policy").is_some());
    assert!(header("x-request-id").is_some());
    assert_eq!(streamed.json(), Value::Array(users.clone()));
    let groups = download(&user, &backup_id, "groups");
    assert_eq!(groups, okta_list("/api/v1/groups?limit=10000"));
    let apps = download(&user, &backup_id, "apps");
    assert_eq!(ids(&apps), ids(&okta_list("/api/v1/apps?limit=200")));
    let members = download(&user, &backup_id, "group_members");
    let first_group = groups[0]["id"].as_str().unwrap();
    let expected: BTreeSet<String> = ids(&okta_list(&format!(
        "/api/v1/groups/{first_group}/users?limit=1000"
    )));
    let got: BTreeSet<String> = members
        .iter()
        .filter(|m| m["groupId"] == first_group)
        .map(|m| m["userId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, expected);
    let rules = download(&user, &backup_id, "policy_rules");
    assert!(rules
        .iter()
        .all(|r| r["policyId"].is_string() && r["rule"]["priority"].is_number()));

    let reply = user.api(
        "GET",
        &format!("/backups/{backup_id}/objects/passwords/url"),
        None,
    );
    assert_eq!(reply.status, 404);

    // Audit trail of the whole flow, with actor, request id and target.
    let log = activity(&team);
    let actions: Vec<&str> = log.iter().map(|r| r["action"].as_str().unwrap()).collect();
    for expected in [
        "connection.create",
        "backup.request",
        "backup.start",
        "backup.complete",
        "backup.download_url",
    ] {
        assert!(
            actions.contains(&expected),
            "missing {expected} in {actions:?}"
        );
    }
    // One start and one completion however many invocations the job took.
    for once in ["backup.start", "backup.complete"] {
        assert_eq!(actions.iter().filter(|a| **a == once).count(), 1, "{once}");
    }
    let create = log
        .iter()
        .find(|r| r["action"] == "connection.create")
        .unwrap();
    assert_eq!(create["actor_type"], "user");
    assert_eq!(create["actor_id"], user.id.as_str());
    assert_eq!(create["target_id"], id.as_str());
    assert!(create["request_id"].as_str().unwrap().starts_with("req_"));
    let job = log
        .iter()
        .find(|r| r["action"] == "backup.complete")
        .unwrap();
    assert_eq!(job["actor_type"], "system");
    assert_eq!(job["target_id"], backup_id.as_str());
    // The user can read the team log through RLS, but not change it.
    assert_eq!(
        user.rest("GET", &format!("activity_logs?team_id=eq.{team}"), None)
            .json()
            .as_array()
            .unwrap()
            .len(),
        log.len()
    );

    // Delete drops the credential and hides the connection.
    let reply = user.api("DELETE", &format!("/connections/{id}"), None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        user.api("GET", &format!("/connections/{id}"), None).status,
        404
    );
    let stored = service(
        "GET",
        &format!("okta_connections?id=eq.{id}&select=status,sealed_token"),
        None,
    )
    .json();
    assert_eq!(stored, json!([{"status": "deleted", "sealed_token": null}]));
    assert!(activity(&team)
        .iter()
        .any(|r| r["action"] == "connection.delete"));
}

#[test]
fn signed_urls_refuse_tampering_expiry_and_other_tenants() {
    let alice = new_user();
    let connection = alice.create_connection();
    let backup = alice.backup(&connection);
    assert_eq!(backup["status"], "complete");
    let backup_id = backup["id"].as_str().unwrap();
    let team = backup["team_id"].as_str().unwrap();
    let reply = alice.api(
        "GET",
        &format!("/backups/{backup_id}/objects/groups/url"),
        None,
    );
    let url = reply.json()["url"].as_str().unwrap().to_string();
    assert_eq!(call("GET", &url, &[], None).status, 200);

    let denied = |u: &str| {
        let reply = call("GET", u, &[], None);
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (403, "link_denied"),
            "{u}"
        );
    };
    denied(&url.replace("o=groups", "o=users"));
    denied(&url.replacen("&s=", "&s=A", 1));
    let exp: i64 = url
        .split("e=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    denied(&url.replace(&format!("e={exp}"), &format!("e={}", exp + 1)));
    denied(&format!("{}/api/v1/downloads", worker()));

    let key = butterfly::crypto::keyring::KeyRing::parse(&env("DOWNLOAD_SIGNING_KEY")).unwrap();
    let base = format!("{}/api/v1/downloads?", worker());
    let grant = |tenant: &str, expires_at: i64| butterfly::signed_url::DownloadGrant {
        backup_id: backup_id.to_string(),
        object: "users".into(),
        tenant: tenant.to_string(),
        expires_at,
    };
    // Correctly signed but expired.
    denied(&(base.clone() + &butterfly::signed_url::sign(&key, &grant(team, now() - 1))));
    // Correctly signed for another tenant: bound to the wrong team.
    let bob = new_user();
    let bob_team = psql(&format!(
        "select id from teams where created_by = '{}'",
        bob.id
    ));
    denied(&(base.clone() + &butterfly::signed_url::sign(&key, &grant(&bob_team, now() + 60))));
    // And Bob cannot ask for a URL to Alice's backup.
    assert_eq!(
        bob.api(
            "GET",
            &format!("/backups/{backup_id}/objects/users/url"),
            None
        )
        .status,
        404
    );
}

#[test]
fn a_failed_backup_is_recorded_as_failed_never_complete() {
    let user = new_user();
    let connection = user.create_connection();
    let fault = emulator(
        "POST",
        "/__emulator/faults",
        Some(&json!({"path_prefix": "/api/v1/apps", "status": 403, "count": 1})),
    );
    assert!(fault.status < 300, "{}", fault.text());
    let backup = user.backup(&connection);
    emulator("POST", "/__emulator/reset", None);
    assert_eq!(backup["status"], "failed", "{backup}");
    assert!(backup["manifest_sha256"].is_null());
    assert!(
        backup["error"].as_str().unwrap().contains("permission"),
        "{backup}"
    );
    let team = backup["team_id"].as_str().unwrap();
    assert!(activity(team).iter().any(|r| r["action"] == "backup.error"));
    let id = backup["id"].as_str().unwrap();
    let reply = user.api("GET", &format!("/backups/{id}/objects/users/url"), None);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (409, "backup_not_complete")
    );
    // The database itself refuses to turn it complete afterwards.
    let patch = service(
        "PATCH",
        &format!("backups?id=eq.{id}"),
        Some(&json!({"status": "complete", "manifest_sha256": "0".repeat(64)})),
    );
    assert!(patch.status >= 400, "{}", patch.text());
}
