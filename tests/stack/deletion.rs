//! Team deletion end to end (GDPR Art. 17): two teams with backups; one is deleted through the
//! two-call confirmation, its grace period moved past in the database (as the clock would), and
//! purged by its cron. Afterwards nothing identifying of it is left in any table or in R2, its
//! data key is gone, the other team is untouched, and the purged team's activity chain still
//! verifies with its identities erased.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::*;

const PURGE_CRON: &str = "37+2+*+*+*";
const CLIENT_IP: &str = "198.51.100.73";

fn personal_team(user: &User) -> String {
    psql(&format!(
        "select team_id from public.team_members where user_id = '{}' and role = 'owner' limit 1",
        user.id
    ))
}

/// Every key in wrangler's local R2 (its object index is SQLite).
fn r2_keys() -> Vec<String> {
    fn sqlite_files(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sqlite_files(&path, found);
            } else if path.extension().is_some_and(|e| e == "sqlite") {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    sqlite_files(Path::new(&env("BF_R2_DIR")), &mut files);
    assert!(!files.is_empty(), "no local R2 index under BF_R2_DIR");
    let mut keys = Vec::new();
    // One file per bucket holds `_mf_objects`; `metadata.sqlite` holds none.
    for file in files.iter().filter(|f| !f.ends_with("metadata.sqlite")) {
        let out = Command::new("sqlite3")
            .arg("-readonly")
            .arg(file)
            .arg("select key from _mf_objects")
            .output()
            .expect("sqlite3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        keys.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    keys
}

/// Tables of `public` with a row whose text contains any of `needles`, except `allowed`.
fn tables_holding(needles: &[&str], allowed: &[&str]) -> Vec<String> {
    let tables = psql(
        "select string_agg(table_name, ',' order by table_name) from information_schema.tables \
         where table_schema = 'public' and table_type = 'BASE TABLE'",
    );
    let pattern = needles.join("|");
    tables
        .split(',')
        .filter(|t| !allowed.contains(t))
        .filter(|t| {
            psql(&format!(
                "select count(*) from public.\"{t}\" r where r::text ~ '{pattern}'"
            )) != "0"
        })
        .map(str::to_string)
        .collect()
}

fn api_from(user: &User, method: &str, path: &str, body: Option<&Value>) -> Reply {
    let auth = format!("Bearer {}", user.jwt);
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    call(
        method,
        &format!("{}/api/v1{path}", worker()),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("cf-connecting-ip", CLIENT_IP),
        ],
        bytes.as_deref(),
    )
}

#[test]
fn a_deleted_team_is_purged_of_everything_identifying_and_others_are_untouched() {
    let owner = new_user();
    let team = personal_team(&owner);
    let team_name = psql(&format!(
        "select name from public.teams where id = '{team}'"
    ));
    let owner_email = format!("user-{}@test.local", owner.id);
    let invitee = format!("invitee-{}@test.local", owner.id);
    let connection = owner.create_connection();
    let backup = owner.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    let backup_id = backup["id"].as_str().unwrap().to_string();
    let invited = api_from(
        &owner,
        "POST",
        &format!("/teams/{team}/invitations"),
        Some(&json!({"email": invitee, "role": "viewer"})),
    );
    assert_eq!(invited.status, 201, "{}", invited.text());
    let key = owner.api(
        "POST",
        "/api-keys",
        Some(&json!({"name": "ci", "scopes": ["read"], "team_id": team})),
    );
    assert_eq!(key.status, 201, "{}", key.text());

    let other = new_user();
    let other_team = personal_team(&other);
    let other_connection = other.create_connection();
    let other_backup = other.backup(&other_connection);
    let other_backup_id = other_backup["id"].as_str().unwrap().to_string();

    // The needles are there before: the checks below can fail.
    let ids = [team.as_str(), connection.as_str(), backup_id.as_str()];
    let personal = [owner_email.as_str(), invitee.as_str(), CLIENT_IP];
    assert!(tables_holding(&ids, &[]).contains(&"okta_connections".to_string()));
    assert!(tables_holding(&[&invitee], &[]).contains(&"team_invitations".to_string()));
    assert!(tables_holding(&[CLIENT_IP], &[]).contains(&"activity_logs".to_string()));
    assert!(r2_keys().iter().any(|k| k.contains(&connection)));
    let sealed_token = psql(&format!(
        "select sealed_token from public.okta_connections where id = '{connection}'"
    ));
    assert!(sealed_token.starts_with("v1."), "{sealed_token}");

    // Only an owner, only with the name typed and the first call's token.
    let wrong = api_from(
        &owner,
        "DELETE",
        &format!("/teams/{team}"),
        Some(&json!({"confirm_name": "not the name"})),
    );
    assert_eq!(
        (wrong.status, wrong.error_code().as_str()),
        (422, "validation_failed")
    );
    let first = api_from(
        &owner,
        "DELETE",
        &format!("/teams/{team}"),
        Some(&json!({"confirm_name": team_name})),
    );
    assert_eq!(first.status, 200, "{}", first.text());
    let token = first.json()["confirmation"]["confirmation_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        psql(&format!(
            "select count(*) from public.team_deletions where team_id = '{team}'"
        )),
        "0",
        "the first call changes nothing"
    );
    let second = api_from(
        &owner,
        "DELETE",
        &format!("/teams/{team}"),
        Some(&json!({"confirm_name": team_name, "confirmation_token": token})),
    );
    assert_eq!(second.status, 202, "{}", second.text());
    assert_eq!(second.json()["deletion"]["state"], "requested");
    let status = owner.api("GET", &format!("/teams/{team}/deletion"), None);
    assert_eq!(
        status.json()["deletion"]["state"],
        "requested",
        "{}",
        status.text()
    );

    // Not due yet: the cron leaves it alone.
    call(
        "GET",
        &format!("{}/__scheduled?cron={PURGE_CRON}", worker()),
        &[],
        None,
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        psql(&format!(
            "select state from public.team_deletions where team_id = '{team}'"
        )),
        "requested"
    );

    // The grace period passes (the database's clock decides it).
    psql(&format!(
        "update public.team_deletions set requested_at = requested_at - interval '8 days', \
         purge_after = purge_after - interval '8 days' where team_id = '{team}'"
    ));
    let fired = call(
        "GET",
        &format!("{}/__scheduled?cron={PURGE_CRON}", worker()),
        &[],
        None,
    );
    assert!(fired.status < 300, "{}", fired.text());
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let state = psql(&format!(
            "select state || ':' || coalesce(next_step, '') from public.team_deletions \
             where team_id = '{team}'"
        ));
        if state == "purged:" {
            break;
        }
        assert!(Instant::now() < deadline, "purge did not finish: {state}");
        std::thread::sleep(Duration::from_millis(500));
    }

    // Postgres: the ids stay only in the tombstone and the (erased) activity chain; the
    // owner's address only on their own account (and the receipt waiting to be sent to it).
    let left = tables_holding(
        &ids,
        &["team_deletions", "activity_logs", "activity_chain_heads"],
    );
    assert!(left.is_empty(), "team ids left in {left:?}");
    let left = tables_holding(&personal, &["profiles", "notification_outbox"]);
    assert!(left.is_empty(), "identifying values left in {left:?}");
    assert_eq!(
        psql(&format!(
            "select count(*) from public.notification_outbox \
             where recipient = '{owner_email}' and kind <> 'deletion_completed'"
        )),
        "0",
        "the requester's address waits only in the deletion receipt"
    );
    // The receipt is a payload the mailer renders (`Notification::DeletionCompleted`).
    assert_eq!(
        psql(&format!(
            "select payload ->> 'kind', payload ? 'requested_at' from public.notification_outbox \
             where recipient = '{owner_email}'"
        )),
        "deletion_completed|t"
    );
    assert!(!psql(
        "select coalesce(string_agg(sealed_token, ','), '') from public.okta_connections"
    )
    .contains(&sealed_token));
    assert_eq!(
        psql(&format!(
            "select count(*) from public.tenant_keys where team_id = '{team}'"
        )),
        "0",
        "its data keys are destroyed: nothing sealed under them opens again"
    );
    // R2: nothing of the team; the other team's objects are still there.
    let keys = r2_keys();
    assert!(
        !keys.iter().any(|k| k.contains(&connection)),
        "R2 still holds the team's objects"
    );
    assert!(keys.iter().any(|k| k.contains(&other_connection)));

    // The purged team's chain still verifies, its identities erased.
    let verified: Value = serde_json::from_str(&psql(&format!(
        "select public.activity_chain_verify_unchecked('{team}')::text"
    )))
    .unwrap();
    assert_eq!(verified["status"], "intact", "{verified}");
    assert!(
        verified["identities"]["erased"].as_i64().unwrap() > 0,
        "{verified}"
    );
    assert_eq!(verified["identities"]["opened"], 0, "{verified}");
    // The owner lost access; the other team works as before, its chain intact.
    let gone = owner.api("GET", &format!("/teams/{team}/members"), None);
    assert_eq!(gone.status, 404, "{}", gone.text());
    let theirs = other.api("GET", &format!("/backups/{other_backup_id}"), None);
    assert_eq!(theirs.json()["backup"]["status"], "complete");
    download_json(&other, &other_backup_id, "users");
    let audit = other.api("GET", &format!("/teams/{other_team}/audit/verify"), None);
    assert_eq!(audit.status, 200, "{}", audit.text());
    assert_eq!(
        audit.json()["verification"]["status"],
        "intact",
        "{}",
        audit.text()
    );
}

#[test]
fn the_export_is_the_signed_in_users_and_no_api_key_reaches_it() {
    let user = new_user();
    let reply = user.api("GET", "/me/export", None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply
        .header("content-disposition")
        .is_some_and(|v| v.starts_with("attachment")));
    let export = reply.json();
    assert_eq!(export["format"], "butterfly.user-export.v1");
    assert_eq!(export["profile"]["id"], user.id);
    assert_eq!(
        export["profile"]["email"],
        format!("user-{}@test.local", user.id)
    );
    assert_eq!(export["memberships"][0]["role"], "owner");
    let team = personal_team(&user);
    let key = user.api(
        "POST",
        "/api-keys",
        Some(&json!({"name": "ci", "scopes": ["admin"], "team_id": team})),
    );
    assert_eq!(key.status, 201, "{}", key.text());
    let secret = key.json()["key"].as_str().unwrap().to_string();
    plant(&secret);
    let with_key = call(
        "GET",
        &format!("{}/api/v1/me/export", worker()),
        &[("authorization", &format!("Bearer {secret}"))],
        None,
    );
    assert!(matches!(with_key.status, 401 | 403), "{}", with_key.text());
    // The export itself is in the user's trail (as an event of no team).
    assert_eq!(
        psql(&format!(
            "select count(*) from public.activity_logs where action = 'user.export' \
             and actor_id = '{}'",
            user.id
        )),
        "1"
    );
}
