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

/// A backup taken before a rotation still downloads once the old version is destroyed (its own
/// snapshot key was re-sealed onto the new one); once every version of the team's data key is
/// destroyed, its backups are refused with a stable code (crypto-shredding).
#[test]
fn backups_survive_a_rotation_and_die_with_the_teams_keys() {
    let owner = new_user();
    let team = psql(&format!(
        "select id from teams where created_by = '{}'",
        owner.id
    ));
    let connection = owner.create_connection();
    let backup = owner.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    let id = backup["id"].as_str().unwrap().to_string();
    assert!(backup.get("sealed_key").is_none(), "{backup}");
    let key_of = || {
        psql(&format!(
            "select key_version || ' ' || (snapshot_secret_id is not null) || ' ' || left(sealed_key, 5) from backups where id = '{id}'"
        ))
    };
    assert_eq!(key_of(), "1 true v1.1.");
    // Members never read the sealed key, nor call the re-seal function.
    let hidden = owner.rest(
        "GET",
        &format!("backups?id=eq.{id}&select=sealed_key"),
        None,
    );
    assert!(hidden.status >= 400, "{}", hidden.text());
    let reseal = owner.rest("POST", "rpc/backup_key_reseal", Some(&json!({})));
    assert!(
        [401, 403, 404].contains(&reseal.status),
        "{}",
        reseal.text()
    );
    let users = download(&owner, &id, "users");

    let reply = owner.api("POST", &format!("/teams/{team}/data-key/rotations"), None);
    assert_eq!(reply.status, 202, "{}", reply.text());
    let deadline = Instant::now() + Duration::from_secs(60);
    while key_rows(&team) != "1:true:true,2:false:false" {
        assert!(
            Instant::now() < deadline,
            "re-seal did not finish: {}",
            key_rows(&team)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(key_of(), "2 true v1.2.");
    assert_eq!(download(&owner, &id, "users"), users);
    assert!(activity(&team)
        .iter()
        .any(|r| r["action"] == "backup.key_reseal" && r["target_id"] == id.as_str()));

    psql(&format!(
        "update tenant_keys set wrapped_key = null, retired_at = now()
          where team_id = '{team}' and retired_at is null"
    ));
    let url = owner.api("GET", &format!("/backups/{id}/objects/users/url"), None);
    assert_eq!(url.status, 200, "{}", url.text());
    let refused = call("GET", url.json()["url"].as_str().unwrap(), &[], None);
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (410, "snapshot_key_destroyed"),
        "{}",
        refused.text()
    );
    assert!(activity(&team)
        .iter()
        .any(|r| r["action"] == "backup.download_refused"
            && r["details"]["reason"] == "snapshot_key_destroyed"));
}
