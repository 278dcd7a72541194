//! The snapshot diff through the real worker: two backups of an emulator org of this test's own
//! (so its changes disturb no other test), with an admin's changes made between them through
//! `/__emulator/changes`. The diff route shows exactly those changes (summary and pages), its
//! filters and paging hold, and it refuses strangers, foreign backups and unfinished runs.

use crate::support::*;
use okta_emulator::EmulatorConfig;
use serde_json::{json, Value};

/// This test's own emulator's API token (Butterfly accepts 20-128 characters).
const TOKEN: &str = "drift-stack-test-okta-token-0123456789";

fn okta_change(base: &str, request: Value) -> Value {
    let auth = format!("SSWS {TOKEN}");
    let body = serde_json::to_vec(&json!({
        "actor": "avery.admin@example.com",
        "client": {"ipAddress": "203.0.113.7", "userAgent": "Mozilla/5.0 (drift stack test)"},
        "requests": [request],
    }))
    .unwrap();
    let reply = call(
        "POST",
        &format!("{base}/__emulator/changes"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(&body),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let result = reply.json()["results"][0].clone();
    assert!(result["status"].as_u64().unwrap() < 300, "{result}");
    result["body"].clone()
}

fn active_user(base: &str) -> String {
    let auth = format!("SSWS {TOKEN}");
    let reply = call(
        "GET",
        &format!("{base}/api/v1/users?filter=status%20eq%20%22ACTIVE%22&limit=1"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()[0]["id"].as_str().unwrap().to_string()
}

struct Pair {
    _okta: okta_emulator::RunningEmulator,
    user: User,
    connection: String,
    from: String,
    to: String,
    suspended: String,
    group: String,
}

fn pair() -> Pair {
    let emulator = okta_emulator::start(EmulatorConfig {
        api_tokens: vec![TOKEN.to_owned()],
        ..EmulatorConfig::default()
    })
    .unwrap();
    let okta = emulator.base_url();
    plant(TOKEN);
    let user = new_user();
    let reply = user.api(
        "POST",
        "/connections",
        Some(&json!({"org_domain": okta.trim_start_matches("http://"), "api_token": TOKEN})),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let connection = reply.json()["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = user.backup(&connection);
    assert_eq!(first["status"], "complete", "{first}");
    let suspended = active_user(&okta);
    okta_change(
        &okta,
        json!({"method": "POST", "path": format!("/api/v1/users/{suspended}/lifecycle/suspend")}),
    );
    let group = okta_change(
        &okta,
        json!({"method": "POST", "path": "/api/v1/groups",
               "body": {"profile": {"name": "Drift Weekend Admins", "description": "made on a Sunday"}}}),
    );
    let second = user.backup(&connection);
    assert_eq!(second["status"], "complete", "{second}");
    Pair {
        _okta: emulator,
        user,
        connection,
        from: first["id"].as_str().unwrap().to_string(),
        to: second["id"].as_str().unwrap().to_string(),
        suspended,
        group: group["id"].as_str().unwrap().to_string(),
    }
}

impl Pair {
    fn diff(&self, extra: &str) -> Reply {
        self.diff_as(&self.user, extra)
    }

    fn diff_as(&self, user: &User, extra: &str) -> Reply {
        user.api(
            "GET",
            &format!(
                "/connections/{}/diff?from={}&to={}{extra}",
                self.connection, self.from, self.to
            ),
            None,
        )
    }
}

fn changed_types(summary: &Value) -> Vec<(String, u64, u64, u64)> {
    summary["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["added"].as_u64().unwrap()
                + t["removed"].as_u64().unwrap()
                + t["changed"].as_u64().unwrap()
                > 0
        })
        .map(|t| {
            (
                t["resource"].as_str().unwrap().to_string(),
                t["added"].as_u64().unwrap(),
                t["removed"].as_u64().unwrap(),
                t["changed"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_diff_of_two_backups_shows_exactly_the_admins_changes() {
    let p = pair();
    let reply = p.diff("");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(
        changed_types(&body["summary"]),
        vec![
            ("users".to_string(), 0, 0, 1),
            ("groups".to_string(), 1, 0, 0)
        ],
        "{}",
        body["summary"]
    );
    assert_eq!(body["total"], 2);
    assert_eq!(body["next_cursor"], Value::Null);
    let changes = body["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{body}");
    assert_eq!(changes[0]["resource"], "users");
    assert_eq!(changes[0]["id"], p.suspended.as_str());
    assert_eq!(changes[0]["kind"], "changed");
    assert_eq!(
        changes[0]["fields"],
        json!([{"path": "/status", "op": "modified", "before": "ACTIVE", "after": "SUSPENDED"}])
    );
    assert_eq!(changes[1]["resource"], "groups");
    assert_eq!(changes[1]["id"], p.group.as_str());
    assert_eq!(changes[1]["kind"], "added");
    assert_eq!(
        changes[1]["after"]["profile"]["name"],
        "Drift Weekend Admins"
    );

    // Filters: by type, by resource id.
    let users = p.diff("&type=users").json();
    assert_eq!(users["total"], 1);
    assert_eq!(users["summary"]["types"].as_array().unwrap().len(), 1);
    assert_eq!(users["changes"][0]["id"], p.suspended.as_str());
    let one = p.diff(&format!("&resource_id={}", p.group)).json();
    assert_eq!(one["total"], 1);
    assert_eq!(one["changes"][0]["id"], p.group.as_str());
    let none = p.diff("&type=apps,idps").json();
    assert_eq!(
        (none["total"].clone(), none["changes"].clone()),
        (json!(0), json!([]))
    );

    // Paging: one change a page, complete, and a cursor gives the same page every time.
    let first = p.diff("&limit=1").json();
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_string();
    let second = p.diff(&format!("&limit=1&cursor={cursor}")).json();
    let again = p.diff(&format!("&limit=1&cursor={cursor}")).json();
    assert_eq!(second, again);
    assert_eq!(second["next_cursor"], Value::Null);
    let paged: Vec<Value> = [&first, &second]
        .iter()
        .flat_map(|b| b["changes"].as_array().unwrap().clone())
        .collect();
    assert_eq!(&paged, changes);
    // A cursor of another view is refused.
    let reply = p.diff(&format!("&limit=1&type=users&cursor={cursor}"));
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert_eq!(reply.json()["error"]["field"], "cursor");

    // Bad input is a clear 422 naming its field.
    for (extra, field) in [
        ("&type=nope", "type"),
        ("&limit=0", "limit"),
        ("&sort=id", "query"),
    ] {
        let reply = p.diff(extra);
        assert_eq!(reply.status, 422, "{extra}: {}", reply.text());
        assert_eq!(reply.json()["error"]["field"], field, "{extra}");
    }

    // The first page of each view is on the team's record.
    let team = p
        .user
        .api("GET", &format!("/connections/{}", p.connection), None)
        .json()["connection"]["team_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(activity(&team).iter().any(|a| a["action"] == "drift.diff"));
}

#[test]
fn the_diff_refuses_strangers_foreign_backups_and_unfinished_runs() {
    let p = pair();
    // Another team's member: the connection does not exist for them.
    let stranger = new_user();
    let reply = p.diff_as(&stranger, "");
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.error_code(), "not_found");
    // A backup of another connection is not one of this connection's.
    let other = p.user.create_connection();
    let foreign = p.user.backup(&other);
    let reply = p.user.api(
        "GET",
        &format!(
            "/connections/{}/diff?from={}&to={}",
            p.connection,
            foreign["id"].as_str().unwrap(),
            p.to
        ),
        None,
    );
    assert_eq!(reply.status, 404, "{}", reply.text());
    // A run that did not complete has no snapshot to compare.
    let team = foreign["team_id"].as_str().unwrap();
    let failed = psql(&format!(
        "insert into public.backups (id, team_id, connection_id, trigger, status, finished_at, r2_prefix, error)
         values (gen_random_uuid(), '{team}', '{}', 'schedule', 'failed', now(), 'failed/', 'test run')
         returning id",
        p.connection
    ));
    let reply = p.user.api(
        "GET",
        &format!(
            "/connections/{}/diff?from={}&to={}",
            p.connection,
            failed.trim(),
            p.to
        ),
        None,
    );
    assert_eq!(reply.status, 409, "{}", reply.text());
    assert_eq!(reply.error_code(), "backup_not_complete");
}

impl Pair {
    fn history(&self, user: &User, resource: &str, id: &str) -> Reply {
        user.api(
            "GET",
            &format!(
                "/connections/{}/resources/{resource}/{id}/history",
                self.connection
            ),
            None,
        )
    }
}

#[test]
fn history_shows_each_version_of_a_resource_with_the_diff_between_them() {
    let p = pair();
    // Indexing runs as its own queued job after each backup completes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let body = loop {
        let reply = p.history(&p.user, "users", &p.suspended);
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = reply.json();
        if body["versions"].as_array().unwrap().len() >= 2 {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "not indexed: {body}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let versions = body["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{body}");
    assert_eq!(versions[0]["change"]["kind"], "initial");
    assert_eq!(versions[0]["backup_id"], p.from.as_str());
    assert_eq!(versions[0]["change"]["content"]["status"], "ACTIVE");
    assert_eq!(versions[1]["backup_id"], p.to.as_str());
    assert_eq!(versions[1]["source"], "backup");
    assert_eq!(
        versions[1]["change"],
        json!({"kind": "changed", "fields": [{"path": "/status", "op": "modified",
               "before": "ACTIVE", "after": "SUSPENDED"}]})
    );
    assert_eq!(body["next_cursor"], Value::Null);
    // Paged one at a time, the second page still diffs against the first.
    let first = p.user.api(
        "GET",
        &format!(
            "/connections/{}/resources/users/{}/history?limit=1",
            p.connection, p.suspended
        ),
        None,
    );
    let first = first.json();
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = p
        .user
        .api(
            "GET",
            &format!(
                "/connections/{}/resources/users/{}/history?limit=1&cursor={cursor}",
                p.connection, p.suspended
            ),
            None,
        )
        .json();
    assert_eq!(second["versions"][0]["change"], versions[1]["change"]);
    // The new group has one version, from the second backup.
    let group = p.history(&p.user, "groups", &p.group).json();
    assert_eq!(group["versions"].as_array().unwrap().len(), 1, "{group}");
    assert_eq!(group["versions"][0]["backup_id"], p.to.as_str());
    // Strangers see nothing; an unknown type is not found; members cannot read the hashes or
    // write the index straight through PostgREST.
    let stranger = new_user();
    let reply = p.history(&stranger, "users", &p.suspended);
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(p.history(&p.user, "nope", &p.suspended).status, 404);
    let hashes = p.user.rest(
        "GET",
        &format!(
            "resource_versions?resource_id=eq.{}&select=content_hash",
            p.suspended
        ),
        None,
    );
    assert!(hashes.status >= 400, "{}", hashes.text());
    let visible = p.user.rest(
        "GET",
        &format!(
            "resource_versions?resource_id=eq.{}&select=id,state",
            p.suspended
        ),
        None,
    );
    assert_eq!(visible.status, 200, "{}", visible.text());
    assert_eq!(visible.json().as_array().unwrap().len(), 2);
}
