//! The input: one JSON array per resource type the backup collected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Resource names the backup writer uses (the ones the checks read).
pub mod resource {
    pub const USERS: &str = "users";
    pub const GROUPS: &str = "groups";
    pub const GROUP_MEMBERS: &str = "group_members";
    pub const APPS: &str = "apps";
    pub const APP_USER_ASSIGNMENTS: &str = "app_user_assignments";
    pub const APP_GROUP_ASSIGNMENTS: &str = "app_group_assignments";
    pub const POLICIES: &str = "policies";
    pub const POLICY_RULES: &str = "policy_rules";
    pub const AUTHENTICATORS: &str = "authenticators";
    pub const NETWORK_ZONES: &str = "network_zones";
    pub const USER_ROLES: &str = "user_roles";
    pub const GROUP_ROLES: &str = "group_roles";
    pub const THREAT_INSIGHT: &str = "threat_insight";
    pub const API_TOKENS: &str = "api_tokens";
    pub const IDPS: &str = "idps";
}

/// A point-in-time copy of a tenant, keyed by resource name (see [`resource`]).
///
/// A key that is absent means "not collected", which is different from an empty array
/// ("collected, none exist"): checks report the former as `Error`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantSnapshot {
    pub resources: BTreeMap<String, Vec<Value>>,
}

/// A check needed a resource type the snapshot does not contain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resource `{0}` not in snapshot")]
pub struct MissingResource(pub &'static str);

impl TenantSnapshot {
    /// The collected objects of one resource type.
    pub fn get(&self, name: &'static str) -> Result<&[Value], MissingResource> {
        self.resources
            .get(name)
            .map(Vec::as_slice)
            .ok_or(MissingResource(name))
    }
}
