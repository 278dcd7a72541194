//! Okta's default objects: every org has them from the start, so a restore updates the
//! target's own copy and never creates or deletes one.

use serde_json::Value;

use crate::tenant::ResourceType;

/// Okta's first-party apps (the Admin Console and the Dashboard): they can be updated, never
/// created, deactivated or deleted.
const FIRST_PARTY_APPS: [&str; 2] = ["saasure", "okta_enduser"];

/// Whether a snapshot item of this type is one of Okta's default objects.
pub fn is_system(resource: ResourceType, item: &Value) -> bool {
    use ResourceType as T;
    let flag = |v: &Value| v.get("system").and_then(Value::as_bool) == Some(true);
    match resource {
        // `Everyone` and other Okta-managed groups.
        T::Groups => item.get("type").and_then(Value::as_str) == Some("BUILT_IN"),
        T::Apps => item
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| FIRST_PARTY_APPS.contains(&n)),
        T::Policies | T::NetworkZones => flag(item),
        T::PolicyRules => item.get("rule").is_some_and(flag),
        T::AuthorizationServers => item.get("name").and_then(Value::as_str) == Some("default"),
        T::AuthorizationServerScopes | T::AuthorizationServerClaims => {
            item.get("item").is_some_and(flag)
        }
        T::AuthorizationServerPolicies => item.get("policy").is_some_and(flag),
        T::AuthorizationServerPolicyRules => item.get("rule").is_some_and(flag),
        // One per org: always updated.
        T::ThreatInsight | T::Org => true,
        _ => false,
    }
}

/// Whether every item of the type is Okta's own and only ever updated (the org settings and
/// ThreatInsight), so a missing one in the target is not something to create.
pub fn singleton(resource: ResourceType) -> bool {
    matches!(resource, ResourceType::ThreatInsight | ResourceType::Org)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_objects_are_recognised_by_what_okta_marks_them_with() {
        use ResourceType as T;
        assert!(is_system(
            T::Groups,
            &json!({"type": "BUILT_IN", "profile": {"name": "Everyone"}})
        ));
        assert!(!is_system(T::Groups, &json!({"type": "OKTA_GROUP"})));
        assert!(is_system(T::Apps, &json!({"name": "saasure"})));
        assert!(!is_system(T::Apps, &json!({"name": "oidc_client"})));
        assert!(is_system(T::Policies, &json!({"system": true})));
        assert!(!is_system(T::Policies, &json!({"system": false})));
        assert!(is_system(
            T::PolicyRules,
            &json!({"policyId": "p", "rule": {"system": true}})
        ));
        assert!(is_system(
            T::NetworkZones,
            &json!({"system": true, "name": "LegacyIpZone"})
        ));
        assert!(is_system(
            T::AuthorizationServers,
            &json!({"name": "default"})
        ));
        assert!(is_system(
            T::AuthorizationServerScopes,
            &json!({"authServerId": "a", "item": {"system": true}})
        ));
        assert!(!is_system(T::Users, &json!({"system": true})));
        assert!(is_system(T::Org, &json!({})));
    }
}
