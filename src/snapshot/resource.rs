//! The resource types a snapshot holds, one sealed object each.

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
}

impl ResourceType {
    /// In collection order: parents before the children that need their ids.
    pub const ALL: [ResourceType; 8] = [
        ResourceType::Users,
        ResourceType::Groups,
        ResourceType::GroupMembers,
        ResourceType::Apps,
        ResourceType::AppUserAssignments,
        ResourceType::AppGroupAssignments,
        ResourceType::Policies,
        ResourceType::PolicyRules,
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
