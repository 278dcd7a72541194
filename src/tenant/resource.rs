//! The resource types of a tenant, one sealed object each in a snapshot.
//!
//! The names are the snapshot format's (see docs/snapshot-format.md), used as keys wherever a
//! tenant is read; adding a type is backwards compatible, renaming is not.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Users,
    Groups,
    GroupMembers,
    Apps,
    AppUserAssignments,
    AppGroupAssignments,
    Policies,
    PolicyRules,
    GroupRules,
    Authenticators,
    NetworkZones,
    Idps,
    EventHooks,
    InlineHooks,
    ApiTokens,
    UserRoles,
    GroupRoles,
    AuthorizationServers,
    AuthorizationServerScopes,
    AuthorizationServerClaims,
    AuthorizationServerPolicies,
    AuthorizationServerPolicyRules,
    ThreatInsight,
    Org,
}

impl ResourceType {
    /// In collection order: parents before the children that need their ids.
    pub const ALL: [ResourceType; 24] = [
        ResourceType::Users,
        ResourceType::Groups,
        ResourceType::GroupMembers,
        ResourceType::Apps,
        ResourceType::AppUserAssignments,
        ResourceType::AppGroupAssignments,
        ResourceType::Policies,
        ResourceType::PolicyRules,
        ResourceType::GroupRules,
        ResourceType::Authenticators,
        ResourceType::NetworkZones,
        ResourceType::Idps,
        ResourceType::EventHooks,
        ResourceType::InlineHooks,
        ResourceType::ApiTokens,
        ResourceType::UserRoles,
        ResourceType::GroupRoles,
        ResourceType::AuthorizationServers,
        ResourceType::AuthorizationServerScopes,
        ResourceType::AuthorizationServerClaims,
        ResourceType::AuthorizationServerPolicies,
        ResourceType::AuthorizationServerPolicyRules,
        ResourceType::ThreatInsight,
        ResourceType::Org,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Users => "users",
            ResourceType::Groups => "groups",
            ResourceType::GroupMembers => "group_members",
            ResourceType::Apps => "apps",
            ResourceType::AppUserAssignments => "app_user_assignments",
            ResourceType::AppGroupAssignments => "app_group_assignments",
            ResourceType::Policies => "policies",
            ResourceType::PolicyRules => "policy_rules",
            ResourceType::GroupRules => "group_rules",
            ResourceType::Authenticators => "authenticators",
            ResourceType::NetworkZones => "network_zones",
            ResourceType::Idps => "idps",
            ResourceType::EventHooks => "event_hooks",
            ResourceType::InlineHooks => "inline_hooks",
            ResourceType::ApiTokens => "api_tokens",
            ResourceType::UserRoles => "user_roles",
            ResourceType::GroupRoles => "group_roles",
            ResourceType::AuthorizationServers => "authorization_servers",
            ResourceType::AuthorizationServerScopes => "authorization_server_scopes",
            ResourceType::AuthorizationServerClaims => "authorization_server_claims",
            ResourceType::AuthorizationServerPolicies => "authorization_server_policies",
            ResourceType::AuthorizationServerPolicyRules => "authorization_server_policy_rules",
            ResourceType::ThreatInsight => "threat_insight",
            ResourceType::Org => "org",
        }
    }

    pub fn parse(s: &str) -> Option<ResourceType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for t in ResourceType::ALL {
            assert_eq!(ResourceType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(ResourceType::parse("../users"), None);
        assert_eq!(ResourceType::parse("Users"), None);
    }
}
