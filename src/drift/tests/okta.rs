//! A tenant state built from Okta's own response examples (src/drift/testdata/okta, see its
//! NOTICE), wrapped the way a snapshot stores child resources.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::drift::normalise::Normaliser;
use crate::drift::rules::Key as Rules;
use crate::drift::ResourceType;

macro_rules! fixture {
    ($name:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!("../testdata/okta/", $name)))
            .expect(concat!($name, " is JSON"))
    };
}

fn list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        one => vec![one],
    }
}

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("fixture items have ids")
}

pub type State = BTreeMap<ResourceType, Vec<Value>>;

/// Every resource type, from real payloads. Where Okta's examples use placeholders for ids
/// (`policyId`, `{claimId}`), each item gets a distinct id so the state is a possible tenant.
pub fn tenant() -> State {
    use ResourceType as T;
    let mut s = State::new();
    let mut users = list(fixture!("users-list.json"));
    users.extend(list(fixture!("user.json")));
    let groups = list(fixture!("groups-list.json"));
    let mut apps = list(fixture!("apps-list.json"));
    apps.push(fixture!("app-saml2.json"));
    apps.push(fixture!("app-oidc.json"));
    let saml = id(&apps[3]).to_string();

    s.insert(
        T::GroupMembers,
        groups
            .iter()
            .flat_map(|g| {
                users
                    .iter()
                    .map(|u| json!({"groupId": id(g), "userId": id(u)}))
            })
            .collect(),
    );
    // The assignment examples name a user and a group of another example org: they are
    // pointed at this tenant's first user and group.
    s.insert(
        T::AppUserAssignments,
        list(fixture!("app-user-assignments-list.json"))
            .into_iter()
            .map(|mut u| {
                u["id"] = json!(id(&users[0]));
                json!({"appId": saml, "user": u})
            })
            .collect(),
    );
    s.insert(
        T::AppGroupAssignments,
        list(fixture!("app-group-assignments-list.json"))
            .into_iter()
            .map(|mut g| {
                g["id"] = json!(id(&groups[0]));
                json!({"appId": saml, "group": g})
            })
            .collect(),
    );

    let mut policies = Vec::new();
    let mut rules = Vec::new();
    for (n, (policy, policy_rules)) in [
        (
            fixture!("policy-okta-sign-on.json"),
            fixture!("policy-rules-okta-sign-on.json"),
        ),
        (
            fixture!("policy-password.json"),
            fixture!("policy-rules-password.json"),
        ),
        (
            fixture!("policy-mfa-enroll.json"),
            fixture!("policy-rules-mfa-enroll.json"),
        ),
        (
            fixture!("policy-access-policy.json"),
            fixture!("policy-rules-access-policy.json"),
        ),
        (
            fixture!("policy-profile-enrollment.json"),
            fixture!("policy-rules-profile-enrollment.json"),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut policy = policy;
        let pid = format!("00p{n}policy");
        policy["id"] = json!(pid);
        for (m, mut rule) in list(policy_rules).into_iter().enumerate() {
            rule["id"] = json!(format!("0pr{n}rule{m}"));
            rules.push(json!({"policyId": pid, "rule": rule}));
        }
        policies.push(policy);
    }
    s.insert(T::Policies, policies);
    s.insert(T::PolicyRules, rules);
    s.insert(T::GroupRules, list(fixture!("group-rules-list.json")));
    let mut authenticators = list(fixture!("authenticators-list.json"));
    authenticators.push(fixture!("authenticator-duo.json"));
    s.insert(T::Authenticators, authenticators);
    s.insert(T::NetworkZones, list(fixture!("zones-list.json")));
    s.insert(
        T::Idps,
        vec![fixture!("idp-oidc.json"), fixture!("idp-saml2.json")],
    );
    s.insert(T::EventHooks, list(fixture!("event-hooks-list.json")));
    s.insert(T::InlineHooks, list(fixture!("inline-hooks-list.json")));
    let admin = id(&users[0]).to_string();
    // The token examples belong to an admin of another example org.
    s.insert(
        T::ApiTokens,
        list(fixture!("api-tokens-list.json"))
            .into_iter()
            .map(|mut token| {
                token["userId"] = json!(admin);
                token
            })
            .collect(),
    );
    s.insert(
        T::UserRoles,
        list(fixture!("user-roles-list.json"))
            .into_iter()
            .map(|role| json!({"userId": admin, "role": role}))
            .collect(),
    );
    let mut group_roles = list(fixture!("group-roles-standard-list.json"));
    group_roles.extend(list(fixture!("group-roles-custom-list.json")));
    let gid = id(&groups[1]).to_string();
    s.insert(
        T::GroupRoles,
        group_roles
            .into_iter()
            .map(|role| json!({"groupId": gid, "role": role}))
            .collect(),
    );
    let mut servers = list(fixture!("authorization-servers-list.json"));
    servers[0]["id"] = json!("aus1sample");
    let asid = "aus1sample";
    s.insert(
        T::AuthorizationServerScopes,
        list(fixture!("authorization-server-scopes-list.json"))
            .into_iter()
            .map(|item| json!({"authServerId": asid, "item": item}))
            .collect(),
    );
    s.insert(
        T::AuthorizationServerClaims,
        list(fixture!("authorization-server-claims-list.json"))
            .into_iter()
            .map(|mut item| {
                item["id"] = json!("ocl1sub");
                json!({"authServerId": asid, "item": item})
            })
            .collect(),
    );
    let as_policy = fixture!("authorization-server-policy.json");
    let as_pid = id(&as_policy).to_string();
    s.insert(
        T::AuthorizationServerPolicies,
        vec![json!({"authServerId": asid, "policy": as_policy})],
    );
    s.insert(
        T::AuthorizationServerPolicyRules,
        vec![json!({"authServerId": asid, "policyId": as_pid,
                    "rule": fixture!("authorization-server-policy-rule.json")})],
    );
    s.insert(T::AuthorizationServers, servers);
    s.insert(T::ThreatInsight, vec![fixture!("threat-insight.json")]);
    s.insert(T::Org, vec![fixture!("org.json")]);
    s.insert(T::Users, users);
    s.insert(T::Groups, groups);
    s.insert(T::Apps, apps);
    s
}

/// The same tenant as another org holds it after a faithful restore: the id of every resource
/// replaced wherever it appears (so references still point at the same resources), order
/// within each list reversed, and read-only timestamps moved.
pub fn restored_elsewhere(state: &State) -> State {
    let text = serde_json::to_string(state).unwrap();
    let mut ids = Vec::new();
    for (t, items) in state {
        let n = Normaliser::of(*t);
        for (i, item) in items.iter().enumerate() {
            if let Rules::Fields(_) = n.rules().key {
                let key = n.key(item, i as u64).unwrap();
                ids.extend(key.components().map(str::to_string));
            }
        }
    }
    ids.sort();
    ids.dedup();
    // Longest first, so an id that contains another is replaced whole.
    ids.sort_by_key(|i| std::cmp::Reverse(i.len()));
    let mut out = text;
    for (n, old) in ids.iter().enumerate() {
        out = out.replace(&format!("\"{old}\""), &format!("\"B{n:04}x{}\"", old.len()));
    }
    let mut moved: State = serde_json::from_str(&out).unwrap();
    for items in moved.values_mut() {
        items.reverse();
        for item in items {
            touch_timestamps(item);
        }
    }
    moved
}

fn touch_timestamps(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if matches!(k.as_str(), "created" | "lastUpdated" | "lastLogin")
                    && child.is_string()
                {
                    *child = json!("2031-01-01T00:00:00.000Z");
                } else {
                    touch_timestamps(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(touch_timestamps),
        _ => {}
    }
}
