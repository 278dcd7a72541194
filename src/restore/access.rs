//! Whether the target's credential can make every write a plan needs.
//!
//! An OAuth service app can call an endpoint only with the endpoint's `.manage` scope granted
//! (Okta answers `403 E0000006` otherwise); an API token writes with its admin's roles. Only a
//! super admin may assign admin roles or change the org's security configuration (policies,
//! authenticators, zones, identity providers, hooks, ThreatInsight, org settings), an API Access
//! Management admin may also change authorization servers, and an org admin may change users,
//! groups and apps. The check names every scope or role the plan needs that the credential
//! lacks, per resource type, before anything is applied.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use serde_json::Value;

use crate::tenant::{ResourceType, TenantSnapshot};

/// What the target's credential may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// An OAuth service app with these granted scopes.
    OAuth { scopes: BTreeSet<String> },
    /// An API token acting as an admin with these role types (`SUPER_ADMIN`, `ORG_ADMIN`, ...).
    ApiToken { roles: BTreeSet<String> },
}

/// The `.manage` scope a type's writes need.
pub fn scope(resource: ResourceType) -> &'static str {
    use ResourceType as T;
    match resource {
        T::Users => "okta.users.manage",
        T::Groups | T::GroupMembers | T::GroupRules => "okta.groups.manage",
        T::Apps | T::AppUserAssignments | T::AppGroupAssignments => "okta.apps.manage",
        T::Policies | T::PolicyRules => "okta.policies.manage",
        T::Authenticators => "okta.authenticators.manage",
        T::NetworkZones => "okta.networkZones.manage",
        T::Idps => "okta.idps.manage",
        T::EventHooks => "okta.eventHooks.manage",
        T::InlineHooks => "okta.inlineHooks.manage",
        T::ApiTokens => "okta.apiTokens.manage",
        T::UserRoles | T::GroupRoles => "okta.roles.manage",
        T::AuthorizationServers
        | T::AuthorizationServerScopes
        | T::AuthorizationServerClaims
        | T::AuthorizationServerPolicies
        | T::AuthorizationServerPolicyRules => "okta.authorizationServers.manage",
        T::ThreatInsight => "okta.threatInsights.manage",
        T::Org => "okta.orgs.manage",
    }
}

/// The admin roles, any one of which lets an API token write a type.
pub fn roles(resource: ResourceType) -> &'static [&'static str] {
    use ResourceType as T;
    match resource {
        T::Users
        | T::Groups
        | T::GroupMembers
        | T::GroupRules
        | T::Apps
        | T::AppUserAssignments
        | T::AppGroupAssignments => &["SUPER_ADMIN", "ORG_ADMIN"],
        T::AuthorizationServers
        | T::AuthorizationServerScopes
        | T::AuthorizationServerClaims
        | T::AuthorizationServerPolicies
        | T::AuthorizationServerPolicyRules => &["SUPER_ADMIN", "API_ACCESS_MANAGEMENT_ADMIN"],
        _ => &["SUPER_ADMIN"],
    }
}

/// The admin role types `user` holds in `tenant`: assigned directly or through a group they
/// belong to (inactive assignments grant nothing).
pub fn admin_roles(tenant: &TenantSnapshot, user: &str) -> BTreeSet<String> {
    let items = |t: ResourceType| {
        tenant
            .resources
            .get(&t)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let groups: BTreeSet<String> = items(ResourceType::GroupMembers)
        .iter()
        .filter(|m| s(m, "/userId").as_deref() == Some(user))
        .filter_map(|m| s(m, "/groupId"))
        .collect();
    let direct = items(ResourceType::UserRoles)
        .iter()
        .filter(|r| s(r, "/userId").as_deref() == Some(user));
    let inherited = items(ResourceType::GroupRoles)
        .iter()
        .filter(|r| s(r, "/groupId").is_some_and(|g| groups.contains(&g)));
    direct
        .chain(inherited)
        .filter(|r| s(r, "/role/status").as_deref() != Some("INACTIVE"))
        .filter_map(|r| s(r, "/role/type"))
        .collect()
}

/// What is missing for one type the plan writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    pub resource: ResourceType,
    /// The scope to grant, or the roles one of which the token's admin needs.
    pub needs: Vec<String>,
    pub operations: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessCheck {
    /// Every write the plan needs is allowed.
    pub sufficient: bool,
    pub missing: Vec<Missing>,
}

/// Checks the writes (operations per type) against the credential.
pub fn check(credential: &Credential, writes: &BTreeMap<ResourceType, u64>) -> AccessCheck {
    let missing: Vec<Missing> = writes
        .iter()
        .filter(|(_, n)| **n > 0)
        .filter_map(|(t, n)| {
            let needs: Vec<String> = match credential {
                Credential::OAuth { scopes } if !scopes.contains(scope(*t)) => {
                    vec![scope(*t).to_string()]
                }
                Credential::ApiToken { roles: held }
                    if !roles(*t).iter().any(|r| held.contains(*r)) =>
                {
                    roles(*t).iter().map(|r| r.to_string()).collect()
                }
                _ => return None,
            };
            Some(Missing {
                resource: *t,
                needs,
                operations: *n,
            })
        })
        .collect();
    AccessCheck {
        sufficient: missing.is_empty(),
        missing,
    }
}
