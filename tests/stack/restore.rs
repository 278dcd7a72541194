//! Restore plans over the real stack: a change made in the org after its backup shows up as
//! exactly that update in a dry run against the live org; the plan is stored under RLS,
//! sealed in R2, audited, viewable, and nothing is written to Okta.

use serde_json::{json, Value};

use crate::support::{activity, call, env, new_user, okta_list, service};

fn change(requests: Value) -> Value {
    let auth = format!("SSWS {}", env("BF_OKTA_TOKEN"));
    let body = serde_json::to_vec(&json!({ "requests": requests })).unwrap();
    let reply = call(
        "POST",
        &format!("{}/__emulator/changes", env("BF_OKTA_URL")),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(&body),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[test]
fn a_dry_run_shows_the_change_made_since_the_backup_in_the_targets_ids() {
    let user = new_user();
    let connection = user.create_connection();
    let backup = user.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    let group = okta_list("/api/v1/groups")
        .into_iter()
        .find(|g| g["type"] == "OKTA_GROUP")
        .expect("the demo org has groups");
    let gid = group["id"].as_str().unwrap().to_string();
    let original = group["profile"]["description"].clone();
    let edited = format!("restore dry run {}", crate::support::now());
    let profile = json!({"name": group["profile"]["name"], "description": edited});
    let result = change(
        json!([{"method": "PUT", "path": format!("/api/v1/groups/{gid}"), "body": {"profile": profile}}]),
    );
    assert_eq!(result["results"][0]["status"], 200, "{result}");
    let groups_before = okta_list("/api/v1/groups").len();

    let body = json!({"source_backup_id": backup["id"], "scope": {"kind": "types", "resources": ["groups"]}});
    let reply = user.api(
        "POST",
        &format!("/connections/{connection}/restores"),
        Some(&body),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let planned = reply.json();
    let row = &planned["restore"];
    let ops = planned["plan"]["operations"].as_array().unwrap();
    let op = ops
        .iter()
        .find(|o| o["target_id"] == gid.as_str())
        .unwrap_or_else(|| panic!("no operation on the edited group: {ops:?}"));
    assert_eq!(op["action"], "update");
    let fields = op["fields"].as_array().unwrap();
    let description = fields
        .iter()
        .find(|f| f["path"] == "/profile/description")
        .expect("the description is restored");
    assert_eq!(description["before"], json!(edited));
    if !original.is_null() {
        assert_eq!(description["after"], original);
    }
    assert!(
        ops.iter().all(|o| o["resource"] == "groups"),
        "scope is groups only"
    );
    assert_eq!(row["status"], "ready", "{row}");
    assert_eq!(planned["expired"], false);
    // A dry run writes nothing to Okta.
    assert_eq!(okta_list("/api/v1/groups").len(), groups_before);
    let now = okta_list("/api/v1/groups")
        .into_iter()
        .find(|g| g["id"] == gid.as_str())
        .unwrap();
    assert_eq!(now["profile"]["description"], json!(edited));

    // Viewable through the API, and under RLS only by the team.
    let id = row["id"].as_str().unwrap();
    let viewed = user.api("GET", &format!("/restores/{id}"), None);
    assert_eq!(viewed.status, 200, "{}", viewed.text());
    assert_eq!(viewed.json()["plan"]["digest"], planned["plan"]["digest"]);
    let own = user.rest(
        "GET",
        &format!("restore_plans?id=eq.{id}&select=id,digest,status"),
        None,
    );
    assert_eq!(own.json().as_array().unwrap().len(), 1, "{}", own.text());
    let stranger = new_user();
    assert_eq!(
        stranger.api("GET", &format!("/restores/{id}"), None).status,
        404
    );
    let hidden = stranger.rest("GET", &format!("restore_plans?id=eq.{id}"), None);
    assert_eq!(hidden.json(), json!([]));
    // Users cannot write plans themselves, nor call the function that does.
    let forged = user.rest("POST", "restore_plans", Some(&json!({"id": id})));
    assert!(matches!(forged.status, 401 | 403), "{}", forged.text());
    let rpc = user.rest(
        "POST",
        "rpc/restore_plan_create",
        Some(&json!({"p_row": {}, "p_ttl_seconds": 60, "p_audit": {}})),
    );
    assert!(matches!(rpc.status, 401 | 403 | 404), "{}", rpc.text());

    // Audited, with the plan's digest and hash.
    let team = row["team_id"].as_str().unwrap();
    let rows: Vec<Value> = activity(team)
        .into_iter()
        .filter(|a| a["action"] == "restore.plan")
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["target_id"], json!(id));
    assert_eq!(rows[0]["details"]["digest"], planned["plan"]["digest"]);
    let stored = service(
        "GET",
        &format!("restore_plans?id=eq.{id}&select=sha256"),
        None,
    )
    .json();
    assert_eq!(rows[0]["details"]["sha256"], stored[0]["sha256"]);

    // Bad input: a clear 4xx, nothing stored.
    // A well-formed body the planner refuses is 422; one that does not parse, 400.
    for (bad, status) in [
        (
            json!({"source_backup_id": backup["id"], "scope": {"kind": "types", "resources": []}}),
            422,
        ),
        (
            json!({"source_backup_id": backup["id"], "scope": {"kind": "everything"}}),
            400,
        ),
        (
            json!({"source_backup_id": backup["id"], "scope": {"kind": "tenant"}, "extra": 1}),
            400,
        ),
        (
            json!({"source_backup_id": "not-a-uuid", "scope": {"kind": "tenant"}}),
            400,
        ),
    ] {
        let reply = user.api(
            "POST",
            &format!("/connections/{connection}/restores"),
            Some(&bad),
        );
        assert_eq!(reply.status, status, "{bad}: {}", reply.text());
    }
    let plans = service(
        "GET",
        &format!("restore_plans?team_id=eq.{team}&select=id"),
        None,
    )
    .json();
    assert_eq!(plans.as_array().unwrap().len(), 1);

    // Put the group back for the other tests.
    let profile = json!({"name": group["profile"]["name"], "description": original});
    change(
        json!([{"method": "PUT", "path": format!("/api/v1/groups/{gid}"), "body": {"profile": profile}}]),
    );
}

/// Waits for an apply to end and returns its row.
fn wait_applied(user: &crate::support::User, id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let reply = user.api("GET", &format!("/restores/{id}"), None);
        assert_eq!(reply.status, 200, "{}", reply.text());
        let row = reply.json()["restore"].clone();
        if row["apply_status"] != "running" {
            return row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "restore {id} still running: {row}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[test]
fn an_applied_restore_brings_back_a_deleted_group_and_an_edited_one_and_leaves_a_receipt() {
    let user = new_user();
    let connection = user.create_connection();
    let backup = user.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    // Two plain groups no group rule targets: one is deleted (with its memberships), one
    // edited.
    let ruled: Vec<Value> = okta_list("/api/v1/groups/rules")
        .iter()
        .flat_map(|r| {
            r["actions"]["assignUserToGroups"]["groupIds"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let plain: Vec<Value> = okta_list("/api/v1/groups")
        .into_iter()
        .filter(|g| g["type"] == "OKTA_GROUP" && !ruled.contains(&g["id"]))
        .collect();
    let victim = plain
        .iter()
        .find(|g| {
            let id = g["id"].as_str().unwrap();
            !okta_list(&format!("/api/v1/groups/{id}/users")).is_empty()
        })
        .expect("a plain group with members")
        .clone();
    let edited = plain
        .iter()
        .find(|g| g["id"] != victim["id"])
        .expect("a second plain group")
        .clone();
    let (vid, eid) = (
        victim["id"].as_str().unwrap().to_string(),
        edited["id"].as_str().unwrap().to_string(),
    );
    let mut members: Vec<String> = okta_list(&format!("/api/v1/groups/{vid}/users"))
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    members.sort();
    let profile = json!({"name": edited["profile"]["name"], "description": "vandalised"});
    let result = change(json!([
        {"method": "DELETE", "path": format!("/api/v1/groups/{vid}")},
        {"method": "PUT", "path": format!("/api/v1/groups/{eid}"), "body": {"profile": profile}},
    ]));
    assert_eq!(result["results"][0]["status"], 204, "{result}");
    assert_eq!(result["results"][1]["status"], 200, "{result}");

    let scope = json!({"kind": "types", "resources": ["groups", "group_members"]});
    let body = json!({"source_backup_id": backup["id"], "scope": scope});
    let reply = user.api(
        "POST",
        &format!("/connections/{connection}/restores"),
        Some(&body),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let planned = reply.json();
    let id = planned["restore"]["id"].as_str().unwrap().to_string();
    let ops = planned["plan"]["operations"].as_array().unwrap();
    let writes = |p: &Value| {
        p["plan"]["operations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["action"] != "skip")
            .count()
    };
    assert!(ops
        .iter()
        .any(|o| o["action"] == "create" && o["source_id"] == vid.as_str()));
    assert!(ops
        .iter()
        .any(|o| o["action"] == "update" && o["target_id"] == eid.as_str()));
    assert_eq!(writes(&planned), 2 + members.len(), "{ops:?}");

    // The owner applies (a groups-only restore needs no second approver); once only.
    let reply = user.api("POST", &format!("/restores/{id}/apply"), None);
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(reply.json()["restore"]["apply_status"], "running");
    let again = user.api("POST", &format!("/restores/{id}/apply"), None);
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(again.error_code(), "restore_already_applied");
    let row = wait_applied(&user, &id);
    assert_eq!(row["apply_status"], "complete", "{row}");
    assert_eq!(row["progress"]["failed"], 0, "{row}");

    // The org has the group back (a new id, the same name and members) and the edit undone.
    let back = okta_list("/api/v1/groups")
        .into_iter()
        .find(|g| g["profile"]["name"] == victim["profile"]["name"])
        .expect("the deleted group is back");
    let new_id = back["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, vid);
    assert_eq!(back["profile"], victim["profile"]);
    let mut now: Vec<String> = okta_list(&format!("/api/v1/groups/{new_id}/users"))
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    now.sort();
    assert_eq!(now, members);
    let restored = okta_list("/api/v1/groups")
        .into_iter()
        .find(|g| g["id"] == eid.as_str())
        .unwrap();
    assert_eq!(restored["profile"], edited["profile"]);
    // The drift engine agrees: planning the same restore again finds nothing to write.
    let replan = user.api(
        "POST",
        &format!("/connections/{connection}/restores"),
        Some(&body),
    );
    assert_eq!(replan.status, 201, "{}", replan.text());
    assert_eq!(writes(&replan.json()), 0, "{}", replan.text());

    // The receipt: served, its hash the audit trail's, naming the new id.
    let reply = user.api("GET", &format!("/restores/{id}/receipt"), None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let shown = reply.json();
    let receipt = &shown["receipt"];
    assert_eq!(receipt["plan_digest"], planned["plan"]["digest"]);
    assert_eq!(receipt["applied_by"], json!(user.id));
    assert!(receipt["ids"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["source_id"] == vid.as_str() && p["target_id"] == new_id.as_str()));
    let team = planned["restore"]["team_id"].as_str().unwrap();
    let log = activity(team);
    let complete: Vec<&Value> = log
        .iter()
        .filter(|a| a["action"] == "restore.complete" && a["target_id"] == id.as_str())
        .collect();
    assert_eq!(complete.len(), 1);
    assert_eq!(complete[0]["details"]["receipt_sha256"], shown["sha256"]);
    for action in ["restore.apply", "restore.start"] {
        assert!(log.iter().any(|a| a["action"] == action), "{action}");
    }
    // Butterfly's writes are recorded, so the drift capture labels them as its own.
    let writes = service(
        "GET",
        &format!("butterfly_okta_writes?restore_id=eq.{id}&select=transaction_id"),
        None,
    )
    .json();
    assert!(
        writes.as_array().unwrap().len() >= 2 + members.len(),
        "{writes}"
    );
    // Nobody else sees it; nobody writes the new tables straight through PostgREST.
    let stranger = new_user();
    assert_eq!(
        stranger
            .api("GET", &format!("/restores/{id}/receipt"), None)
            .status,
        404
    );
    assert_eq!(
        stranger
            .api("POST", &format!("/restores/{id}/approvals"), None)
            .status,
        404
    );
    let forged = user.rest(
        "POST",
        "restore_approvals",
        Some(&json!({"plan_id": id, "team_id": team, "approved_by": user.id})),
    );
    assert!(matches!(forged.status, 401 | 403), "{}", forged.text());
    let rpc = user.rest(
        "POST",
        "rpc/restore_apply_open",
        Some(&json!({"p_plan": id, "p_user": user.id, "p_approvals": 0, "p_audit": {}})),
    );
    assert!(matches!(rpc.status, 401 | 403 | 404), "{}", rpc.text());
}

#[test]
fn a_full_tenant_restore_waits_for_a_second_approver_and_a_moved_tenant_is_refused() {
    let user = new_user();
    let connection = user.create_connection();
    let backup = user.backup(&connection);
    let tenant = json!({"source_backup_id": backup["id"], "scope": {"kind": "tenant"}});
    let reply = user.api(
        "POST",
        &format!("/connections/{connection}/restores"),
        Some(&tenant),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let id = reply.json()["restore"]["id"].as_str().unwrap().to_string();
    let refused = user.api("POST", &format!("/restores/{id}/apply"), None);
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert_eq!(refused.error_code(), "approval_required");
    // The applier's own approval does not count.
    let own = user.api("POST", &format!("/restores/{id}/approvals"), None);
    assert_eq!(own.status, 200, "{}", own.text());
    let refused = user.api("POST", &format!("/restores/{id}/apply"), None);
    assert_eq!(refused.error_code(), "approval_required");
    let listed = user.rest("GET", &format!("restore_approvals?plan_id=eq.{id}"), None);
    assert_eq!(
        listed.json().as_array().unwrap().len(),
        1,
        "{}",
        listed.text()
    );

    // A groups-only plan needs no approver, but the tenant moves on before it is applied.
    let groups = json!({"source_backup_id": backup["id"],
                        "scope": {"kind": "types", "resources": ["groups"]}});
    let reply = user.api(
        "POST",
        &format!("/connections/{connection}/restores"),
        Some(&groups),
    );
    let gid_plan = reply.json()["restore"]["id"].as_str().unwrap().to_string();
    let group = okta_list("/api/v1/groups")
        .into_iter()
        .find(|g| g["type"] == "OKTA_GROUP")
        .unwrap();
    let gid = group["id"].as_str().unwrap();
    let profile = json!({"name": group["profile"]["name"], "description": "moved on"});
    change(
        json!([{"method": "PUT", "path": format!("/api/v1/groups/{gid}"), "body": {"profile": profile}}]),
    );
    let moved = user.api("POST", &format!("/restores/{gid_plan}/apply"), None);
    assert_eq!(moved.status, 409, "{}", moved.text());
    assert_eq!(moved.error_code(), "plan_changed");
    // Put the group back for the other tests.
    change(
        json!([{"method": "PUT", "path": format!("/api/v1/groups/{gid}"),
                   "body": {"profile": group["profile"]}}]),
    );

    // Only the team's owner sets the rule, with a boolean; each change is audited.
    let team = reply.json()["restore"]["team_id"]
        .as_str()
        .unwrap()
        .to_string();
    let off = user.api(
        "PATCH",
        &format!("/teams/{team}/restore-settings"),
        Some(&json!({"second_approver": false})),
    );
    assert_eq!(off.status, 200, "{}", off.text());
    let bad = user.api(
        "PATCH",
        &format!("/teams/{team}/restore-settings"),
        Some(&json!({"second_approver": "no"})),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    let log = activity(&team);
    for action in ["restore.approve", "team.restore_settings"] {
        assert!(log.iter().any(|a| a["action"] == action), "{action}");
    }
}
