//! Key rotation on the real stack: a team's data key rotated through the API, the re-seal job
//! moving the credential on the queue, the old version destroyed, and a backup still opening the
//! credential afterwards. Every step is audited; nobody reaches the functions around the worker.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

fn key_rows(team: &str) -> String {
    psql(&format!(
        "select string_agg(version || ':' || (retired_at is not null) || ':' || (wrapped_key is null), ',' order by version)
           from tenant_keys where team_id = '{team}'"
    ))
}

#[test]
fn a_rotated_data_key_reseals_the_credential_and_destroys_the_old_version() {
    let owner = new_user();
    let team = psql(&format!(
        "select id from teams where created_by = '{}'",
        owner.id
    ));
    let connection = owner.create_connection();
    let sealed_before = psql(&format!(
        "select sealed_token from okta_connections where id = '{connection}'"
    ));
    assert!(sealed_before.starts_with("v1.1."), "{sealed_before}");
    assert_eq!(key_rows(&team), "1:false:false");

    // Members who may not rotate are refused, and so is a caller of another team.
    let outsider = new_user();
    let refused = outsider.api("POST", &format!("/teams/{team}/data-key/rotations"), None);
    assert!(
        refused.status == 403 || refused.status == 404,
        "{}",
        refused.text()
    );
    // Nobody calls the rotation functions around the worker.
    for function in [
        "tenant_key_rotate",
        "connection_reseal",
        "tenant_key_retire",
        "tenant_key_rewrap",
    ] {
        let reply = owner.rest("POST", &format!("rpc/{function}"), Some(&json!({})));
        assert!(
            [401, 403, 404].contains(&reply.status),
            "{function}: {} {}",
            reply.status,
            reply.text()
        );
    }

    let reply = owner.api("POST", &format!("/teams/{team}/data-key/rotations"), None);
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(reply.json()["rotation"]["version"], 2);

    // The re-seal job runs on the queue: the credential moves to v2, then v1 is destroyed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while key_rows(&team) != "1:true:true,2:false:false" {
        assert!(
            Instant::now() < deadline,
            "re-seal did not finish: {}",
            key_rows(&team)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let sealed_after = psql(&format!(
        "select sealed_token || ' ' || key_version from okta_connections where id = '{connection}'"
    ));
    assert!(
        sealed_after.starts_with("v1.2.") && sealed_after.ends_with(" 2"),
        "{sealed_after}"
    );

    // Nothing can be sealed under, or moved back to, the destroyed version.
    let old = format!("update okta_connections set sealed_token = '{sealed_before}', key_version = 1 where id = '{connection}'");
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            &env("BF_DB"),
            "-c",
            &old,
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a credential went back under the retired key"
    );

    // The re-sealed credential opens: a backup runs to completion.
    let backup = owner.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");

    let actions: Vec<String> = activity(&team)
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    for action in ["key.rotate", "connection.reseal", "key.retire"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let rotate = activity(&team)
        .into_iter()
        .find(|r| r["action"] == "key.rotate")
        .unwrap();
    assert_eq!(rotate["actor_id"], owner.id.as_str());
}
