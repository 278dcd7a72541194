//! Every object of a backup, all 24, equals what the emulator serves through Okta's API, item
//! for item and in Okta's order (the layout of docs/snapshot-format.md), including every policy
//! type of Okta's spec.

use crate::support::*;
use serde_json::{json, Value};

/// Okta's `PolicyType` enum (management spec), in the order a backup reads them.
const POLICY_TYPES: [&str; 12] = [
    "OKTA_SIGN_ON",
    "PASSWORD",
    "MFA_ENROLL",
    "IDP_DISCOVERY",
    "ACCESS_POLICY",
    "PROFILE_ENROLLMENT",
    "ENTITY_RISK",
    "POST_AUTH_SESSION",
    "DEVICE_SIGNAL_COLLECTION",
    "SESSION_VIOLATION_DETECTION",
    "CLIENT_UPDATE",
    "IDENTITY_CLAIM_SOURCING",
];

fn id(item: &Value) -> String {
    item["id"].as_str().unwrap().to_string()
}

/// A child list per parent, each item wrapped as the snapshot format says.
fn children(
    parents: &[Value],
    path: impl Fn(&str) -> String,
    wrap: impl Fn(&str, Value) -> Value,
) -> Vec<Value> {
    parents
        .iter()
        .flat_map(|p| {
            let parent = id(p);
            okta_list(&path(&parent))
                .into_iter()
                .map(|item| wrap(&parent, item))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn okta_get(path: &str) -> Value {
    let reply = call(
        "GET",
        &format!("{}{path}", env("BF_OKTA_URL")),
        &[("authorization", &format!("SSWS {}", env("BF_OKTA_TOKEN")))],
        None,
    );
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply.json()
}

/// What the emulator serves, object by object, as a backup must hold it.
fn served() -> Vec<(&'static str, Vec<Value>)> {
    let mut users = okta_list("/api/v1/users?limit=200");
    users.extend(okta_list(
        "/api/v1/users?limit=200&filter=status%20eq%20%22DEPROVISIONED%22",
    ));
    let groups = okta_list("/api/v1/groups?limit=10000");
    let apps = okta_list("/api/v1/apps?limit=200");
    let policies: Vec<Value> = POLICY_TYPES
        .iter()
        .flat_map(|t| okta_list(&format!("/api/v1/policies?type={t}")))
        .collect();
    let servers = okta_list("/api/v1/authorizationServers?limit=200");
    let server_policies: Vec<(String, Value)> = servers
        .iter()
        .flat_map(|s| {
            let server = id(s);
            okta_list(&format!("/api/v1/authorizationServers/{server}/policies"))
                .into_iter()
                .map(move |p| (server.clone(), p))
        })
        .collect();
    let assignees: Vec<String> = okta_get("/api/v1/iam/assignees/users?limit=100")["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    vec![
        ("users", users),
        (
            "group_members",
            children(
                &groups,
                |g| format!("/api/v1/groups/{g}/users?limit=1000"),
                |g, u| json!({"groupId": g, "userId": u["id"]}),
            ),
        ),
        (
            "group_roles",
            children(
                &groups,
                |g| format!("/api/v1/groups/{g}/roles"),
                |g, role| json!({"groupId": g, "role": role}),
            ),
        ),
        ("groups", groups),
        (
            "app_user_assignments",
            children(
                &apps,
                |a| format!("/api/v1/apps/{a}/users?limit=500"),
                |a, user| json!({"appId": a, "user": user}),
            ),
        ),
        (
            "app_group_assignments",
            children(
                &apps,
                |a| format!("/api/v1/apps/{a}/groups?limit=200"),
                |a, group| json!({"appId": a, "group": group}),
            ),
        ),
        ("apps", apps),
        (
            "policy_rules",
            children(
                &policies,
                |p| format!("/api/v1/policies/{p}/rules"),
                |p, rule| json!({"policyId": p, "rule": rule}),
            ),
        ),
        ("policies", policies),
        ("group_rules", okta_list("/api/v1/groups/rules?limit=200")),
        ("authenticators", okta_list("/api/v1/authenticators")),
        ("network_zones", okta_list("/api/v1/zones")),
        ("idps", okta_list("/api/v1/idps?limit=200")),
        ("event_hooks", okta_list("/api/v1/eventHooks")),
        ("inline_hooks", okta_list("/api/v1/inlineHooks")),
        ("api_tokens", okta_list("/api/v1/api-tokens")),
        (
            "user_roles",
            assignees
                .iter()
                .flat_map(|u| {
                    okta_list(&format!("/api/v1/users/{u}/roles"))
                        .into_iter()
                        .map(move |role| json!({"userId": u, "role": role}))
                })
                .collect(),
        ),
        (
            "authorization_server_scopes",
            children(
                &servers,
                |s| format!("/api/v1/authorizationServers/{s}/scopes"),
                |s, item| json!({"authServerId": s, "item": item}),
            ),
        ),
        (
            "authorization_server_claims",
            children(
                &servers,
                |s| format!("/api/v1/authorizationServers/{s}/claims"),
                |s, item| json!({"authServerId": s, "item": item}),
            ),
        ),
        (
            "authorization_server_policy_rules",
            server_policies
                .iter()
                .flat_map(|(s, p)| {
                    let policy = id(p);
                    okta_list(&format!(
                        "/api/v1/authorizationServers/{s}/policies/{policy}/rules"
                    ))
                    .into_iter()
                    .map(move |rule| json!({"authServerId": s, "policyId": policy, "rule": rule}))
                })
                .collect(),
        ),
        (
            "authorization_server_policies",
            server_policies
                .into_iter()
                .map(|(s, policy)| json!({"authServerId": s, "policy": policy}))
                .collect(),
        ),
        ("authorization_servers", servers),
        (
            "threat_insight",
            vec![okta_get("/api/v1/threats/configuration")],
        ),
        ("org", vec![okta_get("/api/v1/org")]),
    ]
}

#[test]
fn every_backed_up_object_equals_what_okta_serves() {
    let user = new_user();
    let connection = user.create_connection();
    let backup = user.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    let backup_id = backup["id"].as_str().unwrap();
    let expected = served();
    assert_eq!(expected.len(), 24);
    assert_eq!(backup["object_count"], 24);
    let counts = backup["counts"].as_object().unwrap();
    assert_eq!(counts.len(), 24);
    for (object, items) in &expected {
        let got = download_json(&user, backup_id, object);
        let items = Value::Array(items.clone());
        assert_eq!(got, items, "{object} differs from what Okta serves");
        assert_eq!(
            counts[*object].as_u64().unwrap() as usize,
            items.as_array().unwrap().len(),
            "{object} count"
        );
    }
    // Every policy type the spec lists is in the backup (the demo org has one of each).
    let policies = download(&user, backup_id, "policies");
    for t in POLICY_TYPES {
        assert!(policies.iter().any(|p| p["type"] == t), "no {t} policy");
    }
}
