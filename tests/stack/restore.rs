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
