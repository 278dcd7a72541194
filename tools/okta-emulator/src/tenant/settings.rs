//! Org-level configuration a backup covers beyond identities: group rules, authenticators, network
//! zones, authorization servers, identity providers, hooks, API token metadata, ThreatInsight and
//! admin role assignments. Payloads are the spec's own examples (ids that were placeholders made
//! concrete), since these objects do not grow with tenant size.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{link, Collection};

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("embedded emulator data is valid JSON")
}

fn collection(text: &str) -> Collection {
    match parse(text) {
        Value::Array(items) => Collection::from_items(items),
        _ => panic!("embedded emulator list is not an array"),
    }
}

/// The children of one authorization server.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AuthServer {
    pub(crate) scopes: Collection,
    pub(crate) claims: Collection,
    pub(crate) policies: Collection,
    pub(crate) policy_rules: HashMap<String, Collection>,
}

impl AuthServer {
    /// A new custom authorization server's children: none yet.
    pub(crate) fn empty() -> Self {
        Self {
            scopes: Collection::default(),
            claims: Collection::default(),
            policies: Collection::default(),
            policy_rules: HashMap::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Settings {
    pub(crate) group_rules: Collection,
    pub(crate) authenticators: Collection,
    pub(crate) network_zones: Collection,
    pub(crate) authorization_servers: Collection,
    pub(crate) auth_servers: HashMap<String, AuthServer>,
    pub(crate) idps: Collection,
    pub(crate) event_hooks: Collection,
    pub(crate) inline_hooks: Collection,
    pub(crate) api_tokens: Collection,
    pub(crate) threat_insight: Value,
    /// User id → admin roles; only users holding a role are present.
    pub(crate) user_roles: HashMap<String, Collection>,
    /// Group id → admin roles; only groups holding a role are present.
    pub(crate) group_roles: HashMap<String, Collection>,
}

impl Settings {
    /// `super_admin` holds SUPER_ADMIN; `admin_group` (if any) holds the spec's APP_ADMIN example.
    pub(crate) fn generate(super_admin: &str, admin_group: Option<&str>) -> Self {
        let authorization_servers = collection(include_str!("data/authorization_servers.json"));
        let policies = collection(include_str!("data/auth_server_policies.json"));
        let policy_rules = policies
            .items()
            .iter()
            .filter_map(|p| p["id"].as_str())
            .map(|id| {
                (
                    id.to_owned(),
                    collection(include_str!("data/auth_server_policy_rules.json")),
                )
            })
            .collect();
        let server = AuthServer {
            scopes: collection(include_str!("data/auth_server_scopes.json")),
            claims: collection(include_str!("data/auth_server_claims.json")),
            policies,
            policy_rules,
        };
        let auth_servers = authorization_servers
            .items()
            .iter()
            .filter_map(|s| s["id"].as_str())
            .map(|id| (id.to_owned(), server.clone()))
            .collect();
        let super_admin_role = json!({
            "id": "ra1b8aahBZuGJRRa30g4",
            "label": "Super Organization Administrator",
            "type": "SUPER_ADMIN",
            "status": "ACTIVE",
            "created": "2024-01-01T00:00:00.000Z",
            "lastUpdated": "2024-01-01T00:00:00.000Z",
            "assignmentType": "USER",
            "_links": { "assignee": link(&format!("/api/v1/users/{super_admin}")) },
        });
        let user_roles = HashMap::from([(
            super_admin.to_owned(),
            Collection::from_items(vec![super_admin_role]),
        )]);
        let group_roles = admin_group
            .map(|group| {
                let mut roles = parse(include_str!("data/group_roles.json"));
                for role in roles.as_array_mut().into_iter().flatten() {
                    role["_links"]["assignee"] = link(&format!("/api/v1/groups/{group}"));
                }
                let items = roles.as_array().cloned().unwrap_or_default();
                (group.to_owned(), Collection::from_items(items))
            })
            .into_iter()
            .collect();
        Settings {
            group_rules: collection(include_str!("data/group_rules.json")),
            authenticators: collection(include_str!("data/authenticators.json")),
            network_zones: collection(include_str!("data/network_zones.json")),
            authorization_servers,
            auth_servers,
            idps: collection(include_str!("data/idps.json")),
            event_hooks: collection(include_str!("data/event_hooks.json")),
            inline_hooks: collection(include_str!("data/inline_hooks.json")),
            api_tokens: collection(include_str!("data/api_tokens.json")),
            threat_insight: parse(include_str!("data/threat_insight.json")),
            user_roles,
            group_roles,
        }
    }

    /// `GET /api/v1/iam/assignees/users`: every user holding an admin role.
    pub(crate) fn role_assignees(&self) -> Value {
        let mut ids: Vec<&String> = self.user_roles.keys().collect();
        ids.sort();
        let value: Vec<Value> = ids
            .into_iter()
            .map(|id| {
                json!({
                    "id": id,
                    "orn": format!("orn:okta:directory:example:users:{id}"),
                    "_links": {
                        "self": link(&format!("/api/v1/users/{id}")),
                        "roles": link(&format!("/api/v1/users/{id}/roles")),
                    },
                })
            })
            .collect();
        json!({ "value": value, "_links": {} })
    }
}
