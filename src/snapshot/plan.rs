//! The collection plan: every step of a backup, the lane that runs it and where its requests go.
//!
//! Steps of one lane run in order, since a child step needs its parent's keys; lanes run
//! concurrently, one per Okta rate-limit family, so the slowest bucket (apps, about 100
//! requests a minute) is busy from the first second to the last instead of waiting its turn.
//! Step names are stable: checkpoints refer to them.

use serde_json::{json, Value};

use crate::tenant::ResourceType;

/// A sequence of steps sharing one family of Okta rate-limit buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Users,
    Groups,
    Apps,
    Config,
}

impl Lane {
    pub const ALL: [Lane; 4] = [Lane::Users, Lane::Groups, Lane::Apps, Lane::Config];
}

/// Where a step's items come from.
#[derive(Clone, Copy)]
pub enum Source {
    /// Top-level lists, each paged with `Link: rel="next"`, one after the other.
    Lists(&'static [&'static str]),
    /// One paged list per key of an earlier step of the same lane; each item is wrapped with
    /// the key it belongs to.
    Children {
        parent: &'static str,
        path: fn(&[&str]) -> String,
        wrap: fn(&[&str], Value) -> Value,
    },
    /// A single document.
    Document(&'static str),
    /// The admin-role assignee list (`{"value": [...], "_links": {"next": ...}}`): only its
    /// user ids are kept, to read each assignee's roles.
    Assignees(&'static str),
}

#[derive(Clone, Copy)]
pub struct Step {
    pub name: &'static str,
    pub lane: Lane,
    /// The object the items go into; `None` for a step that only gathers keys.
    pub object: Option<ResourceType>,
    pub source: Source,
    /// Remember every item's key (`id`, or `parent/id` for a child step) for later steps.
    pub keeps_keys: bool,
}

/// Policy types read by a backup. Okta requires `type` on `/api/v1/policies`.
pub const POLICY_TYPES: &[&str] = &[
    "OKTA_SIGN_ON",
    "PASSWORD",
    "MFA_ENROLL",
    "ACCESS_POLICY",
    "PROFILE_ENROLLMENT",
];

const fn list(
    name: &'static str,
    lane: Lane,
    object: ResourceType,
    paths: &'static [&'static str],
) -> Step {
    Step {
        name,
        lane,
        object: Some(object),
        source: Source::Lists(paths),
        keeps_keys: false,
    }
}

const fn keyed(step: Step) -> Step {
    Step {
        keeps_keys: true,
        ..step
    }
}

const fn children(
    name: &'static str,
    lane: Lane,
    object: ResourceType,
    parent: &'static str,
    path: fn(&[&str]) -> String,
    wrap: fn(&[&str], Value) -> Value,
) -> Step {
    Step {
        name,
        lane,
        object: Some(object),
        source: Source::Children { parent, path, wrap },
        keeps_keys: false,
    }
}

const fn document(name: &'static str, object: ResourceType, path: &'static str) -> Step {
    Step {
        name,
        lane: Lane::Config,
        object: Some(object),
        source: Source::Document(path),
        keeps_keys: false,
    }
}

/// Every step, in lane order. Deprovisioned users are only listed when asked for by status;
/// admin roles are read for role assignees only (not one request per user of a large org).
pub const PLAN: &[Step] = &[
    list(
        "users",
        Lane::Users,
        ResourceType::Users,
        &[
            "/api/v1/users?limit=200",
            "/api/v1/users?limit=200&filter=status%20eq%20%22DEPROVISIONED%22",
        ],
    ),
    keyed(list(
        "groups",
        Lane::Groups,
        ResourceType::Groups,
        &["/api/v1/groups?limit=10000"],
    )),
    children(
        "group_members",
        Lane::Groups,
        ResourceType::GroupMembers,
        "groups",
        |k| format!("/api/v1/groups/{}/users?limit=1000", k[0]),
        |k, user| json!({"groupId": k[0], "userId": user.get("id")}),
    ),
    children(
        "group_roles",
        Lane::Groups,
        ResourceType::GroupRoles,
        "groups",
        |k| format!("/api/v1/groups/{}/roles", k[0]),
        |k, role| json!({"groupId": k[0], "role": role}),
    ),
    keyed(list(
        "apps",
        Lane::Apps,
        ResourceType::Apps,
        &["/api/v1/apps?limit=200"],
    )),
    children(
        "app_user_assignments",
        Lane::Apps,
        ResourceType::AppUserAssignments,
        "apps",
        |k| format!("/api/v1/apps/{}/users?limit=500", k[0]),
        |k, user| json!({"appId": k[0], "user": user}),
    ),
    children(
        "app_group_assignments",
        Lane::Apps,
        ResourceType::AppGroupAssignments,
        "apps",
        |k| format!("/api/v1/apps/{}/groups?limit=200", k[0]),
        |k, group| json!({"appId": k[0], "group": group}),
    ),
    keyed(list(
        "policies",
        Lane::Config,
        ResourceType::Policies,
        &[
            "/api/v1/policies?type=OKTA_SIGN_ON",
            "/api/v1/policies?type=PASSWORD",
            "/api/v1/policies?type=MFA_ENROLL",
            "/api/v1/policies?type=ACCESS_POLICY",
            "/api/v1/policies?type=PROFILE_ENROLLMENT",
        ],
    )),
    children(
        "policy_rules",
        Lane::Config,
        ResourceType::PolicyRules,
        "policies",
        |k| format!("/api/v1/policies/{}/rules", k[0]),
        |k, rule| json!({"policyId": k[0], "rule": rule}),
    ),
    list(
        "group_rules",
        Lane::Config,
        ResourceType::GroupRules,
        &["/api/v1/groups/rules?limit=200"],
    ),
    list(
        "authenticators",
        Lane::Config,
        ResourceType::Authenticators,
        &["/api/v1/authenticators"],
    ),
    list(
        "network_zones",
        Lane::Config,
        ResourceType::NetworkZones,
        &["/api/v1/zones"],
    ),
    list(
        "idps",
        Lane::Config,
        ResourceType::Idps,
        &["/api/v1/idps?limit=200"],
    ),
    list(
        "event_hooks",
        Lane::Config,
        ResourceType::EventHooks,
        &["/api/v1/eventHooks"],
    ),
    list(
        "inline_hooks",
        Lane::Config,
        ResourceType::InlineHooks,
        &["/api/v1/inlineHooks"],
    ),
    list(
        "api_tokens",
        Lane::Config,
        ResourceType::ApiTokens,
        &["/api/v1/api-tokens"],
    ),
    Step {
        name: "role_assignees",
        lane: Lane::Config,
        object: None,
        source: Source::Assignees("/api/v1/iam/assignees/users?limit=100"),
        keeps_keys: true,
    },
    children(
        "user_roles",
        Lane::Config,
        ResourceType::UserRoles,
        "role_assignees",
        |k| format!("/api/v1/users/{}/roles", k[0]),
        |k, role| json!({"userId": k[0], "role": role}),
    ),
    keyed(list(
        "authorization_servers",
        Lane::Config,
        ResourceType::AuthorizationServers,
        &["/api/v1/authorizationServers?limit=200"],
    )),
    children(
        "authorization_server_scopes",
        Lane::Config,
        ResourceType::AuthorizationServerScopes,
        "authorization_servers",
        |k| format!("/api/v1/authorizationServers/{}/scopes", k[0]),
        |k, item| json!({"authServerId": k[0], "item": item}),
    ),
    children(
        "authorization_server_claims",
        Lane::Config,
        ResourceType::AuthorizationServerClaims,
        "authorization_servers",
        |k| format!("/api/v1/authorizationServers/{}/claims", k[0]),
        |k, item| json!({"authServerId": k[0], "item": item}),
    ),
    keyed(children(
        "authorization_server_policies",
        Lane::Config,
        ResourceType::AuthorizationServerPolicies,
        "authorization_servers",
        |k| format!("/api/v1/authorizationServers/{}/policies", k[0]),
        |k, policy| json!({"authServerId": k[0], "policy": policy}),
    )),
    children(
        "authorization_server_policy_rules",
        Lane::Config,
        ResourceType::AuthorizationServerPolicyRules,
        "authorization_server_policies",
        |k| {
            format!(
                "/api/v1/authorizationServers/{}/policies/{}/rules",
                k[0], k[1]
            )
        },
        |k, rule| json!({"authServerId": k[0], "policyId": k[1], "rule": rule}),
    ),
    document(
        "threat_insight",
        ResourceType::ThreatInsight,
        "/api/v1/threats/configuration",
    ),
    document("org", ResourceType::Org, "/api/v1/org"),
];

/// The step called `name`.
pub fn step(name: &str) -> Option<&'static Step> {
    PLAN.iter().find(|s| s.name == name)
}

/// Okta ids are short alphanumerics; anything else is not used to build a URL.
pub fn okta_id(item: &Value) -> Option<&str> {
    let id = item.get("id")?.as_str()?;
    (!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_is_collected_by_exactly_one_step_after_its_parent() {
        let objects: Vec<ResourceType> = PLAN.iter().filter_map(|s| s.object).collect();
        let mut sorted = objects.clone();
        sorted.sort();
        let mut all = ResourceType::ALL.to_vec();
        all.sort();
        assert_eq!(sorted, all);
        for (i, s) in PLAN.iter().enumerate() {
            assert_eq!(step(s.name).map(|x| x.name), Some(s.name), "unique names");
            if let Source::Children { parent, .. } = s.source {
                let p = PLAN.iter().position(|x| x.name == parent).unwrap();
                assert!(p < i, "{} runs after its parent", s.name);
                assert_eq!(PLAN[p].lane, s.lane, "{} shares its parent's lane", s.name);
                assert!(PLAN[p].keeps_keys, "{parent} keeps keys");
            }
        }
        for t in POLICY_TYPES {
            let Source::Lists(paths) = step("policies").unwrap().source else {
                panic!()
            };
            assert!(paths.contains(&format!("/api/v1/policies?type={t}").as_str()));
        }
    }

    #[test]
    fn only_plain_okta_ids_become_url_segments() {
        assert_eq!(okta_id(&json!({"id": "00g1ab"})), Some("00g1ab"));
        for bad in [
            json!({"id": "../x"}),
            json!({"id": ""}),
            json!({"id": 5}),
            json!({}),
        ] {
            assert_eq!(okta_id(&bad), None);
        }
    }
}
