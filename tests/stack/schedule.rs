//! The cron trigger starts backups of active connections, and one tenant's connection can
//! neither stop nor delay the others'.

use crate::support::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn run_backup_cron() {
    let reply = call(
        "GET",
        &format!("{}/__scheduled?cron=17+*/6+*+*+*", worker()),
        &[],
        None,
    );
    assert!(reply.status < 300, "{}", reply.text());
}

/// The cron backs up every active connection, and the tests before these leave theirs: retire
/// every connection but `keep`, so each test waits for its own backups, not a backlog of dozens.
fn retire_connections_but(keep: &[&str]) {
    let keep = keep
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    psql(&format!(
        "update okta_connections set status = 'deleted', sealed_token = null, deleted_at = now() where status = 'active' and id not in ({keep})"
    ));
}

/// Waits for a finished scheduled backup of `connection`.
fn scheduled_backup(user: &User, connection: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let list = user
            .api("GET", &format!("/connections/{connection}/backups"), None)
            .json();
        let runs = list["backups"].as_array().unwrap().clone();
        if let Some(run) = runs
            .iter()
            .find(|b| b["trigger"] == "schedule" && b["status"] != "running")
        {
            return run.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled backup finished: {list}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn cron_trigger_backs_up_active_connections() {
    let user = new_user();
    let connection = user.create_connection();
    retire_connections_but(&[&connection]);
    run_backup_cron();
    let backup = scheduled_backup(&user, &connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    assert!(backup["requested_by"].is_null());
    let team = backup["team_id"].as_str().unwrap();
    let log = activity(team);
    let scheduled = log
        .iter()
        .find(|r| r["action"] == "backup.schedule")
        .expect("schedule event");
    assert_eq!(scheduled["actor_type"], "system");
    assert_eq!(scheduled["actor_id"], "cron");
    assert!(log
        .iter()
        .any(|r| r["action"] == "backup.complete" && r["target_id"] == backup["id"]));
    user.api("DELETE", &format!("/connections/{connection}"), None);
}

/// Removes the test's sabotage even when an assertion fails.
struct DropTrigger;

impl Drop for DropTrigger {
    fn drop(&mut self) {
        psql("drop trigger if exists sabotage_one_connection on backups");
        psql("drop function if exists sabotage_one_connection()");
    }
}

#[test]
fn one_tenant_cannot_stop_the_scheduled_jobs_of_every_tenant() {
    // The attacker's own connection comes first in the scheduler's list.
    let attacker = new_user();
    let own = attacker.create_connection();
    let victim = new_user();
    let connection = victim.create_connection();
    let team = psql(&format!(
        "select team_id from okta_connections where id = '{own}'"
    ));

    // Values the worker would never write are refused, whoever sends them: an insert with a
    // negative key version, and updates of the columns the worker owns.
    let stored = service(
        "GET",
        &format!("okta_connections?id=eq.{own}&select=sealed_token"),
        None,
    )
    .json();
    let forged = rest_insert(
        &attacker.jwt,
        "okta_connections",
        &json!({
            "id": psql("select gen_random_uuid()"), "team_id": team, "created_by": attacker.id,
            "org_domain": "other.okta.com", "auth_type": "api_token",
            "sealed_token": stored[0]["sealed_token"], "key_version": -1, "status": "active",
        }),
    );
    assert!(forged.status >= 400, "{}", forged.text());
    for patch in [
        json!({"key_version": -1}),
        json!({"sealed_token": "garbage"}),
        json!({"status": "error"}),
    ] {
        let reply = attacker.rest(
            "PATCH",
            &format!("okta_connections?id=eq.{own}&select=id"),
            Some(&patch),
        );
        assert!(
            reply.status >= 400 || reply.json() == json!([]),
            "{patch}: {}",
            reply.text()
        );
    }
    for bad in [
        "update okta_connections set key_version = -1 where id = '{own}'",
        "update okta_connections set sealed_token = 'v1.2.AAAA' where id = '{own}'",
    ] {
        let sql = bad.replace("{own}", &own);
        let out = std::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                &env("BF_DB"),
                "-c",
                &sql,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "the database accepted: {sql}");
    }

    // Whatever makes one connection fail to schedule (here: the database refuses its run),
    // the others are still scheduled, and the failing one is marked with the reason.
    retire_connections_but(&[&own, &connection]);
    let _cleanup = DropTrigger;
    psql(&format!(
        "create function sabotage_one_connection() returns trigger language plpgsql as $$
         begin
           if new.connection_id = '{own}' then raise exception 'sabotaged'; end if;
           return new;
         end $$;
         create trigger sabotage_one_connection before insert on backups
           for each row execute function sabotage_one_connection()"
    ));
    run_backup_cron();
    let backup = scheduled_backup(&victim, &connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    let marked = service(
        "GET",
        &format!("okta_connections?id=eq.{own}&select=status,last_error"),
        None,
    )
    .json();
    assert_eq!(marked[0]["status"], "active", "{marked}");
    assert!(marked[0]["last_error"].is_string(), "{marked}");
    assert!(
        activity(&team)
            .iter()
            .any(|r| r["action"] == "backup.schedule_failed" && r["target_id"] == json!(own)),
        "no audit row for the failed scheduling"
    );
    // Users see the mark on their connection.
    let seen = attacker
        .api("GET", &format!("/connections/{own}"), None)
        .json();
    assert!(seen["connection"]["last_error"].is_string(), "{seen}");
    drop(_cleanup);
    for (user, id) in [(&attacker, &own), (&victim, &connection)] {
        user.api("DELETE", &format!("/connections/{id}"), None);
    }
}
