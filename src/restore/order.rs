//! The order a restore writes in: each object after everything it references.
//!
//! Okta refuses a reference to an object that does not exist yet (a rule naming a group, a
//! policy asking for an inactive authenticator), so types are written in phases: authenticators
//! (enrollment policies need them active), zones, groups, users, memberships, group rules,
//! identity providers (routing rules and app sign-on name them), apps, assignments, policies
//! then their rules, authorization servers and their scopes, claims, policies and rules, hooks,
//! admin roles, and the org-wide singletons. Identity providers come before apps and policies
//! rather than after authorization servers as a plain type list would have them, because IdP
//! discovery rules and app sign-on settings reference them. Within policies, Okta reassigns
//! priorities as policies and rules are created one at a time, so they are written in ascending
//! priority per policy type (rules per policy). Deletes come last, in the reverse order:
//! children before the parents they would otherwise keep alive.

use crate::tenant::ResourceType;

use ResourceType as T;

/// Every type, in the order a restore creates and updates it.
pub const PHASES: [ResourceType; 24] = [
    T::Authenticators,
    T::NetworkZones,
    T::Groups,
    T::Users,
    T::GroupMembers,
    T::GroupRules,
    T::Idps,
    T::Apps,
    T::AppUserAssignments,
    T::AppGroupAssignments,
    T::Policies,
    T::PolicyRules,
    T::AuthorizationServers,
    T::AuthorizationServerScopes,
    T::AuthorizationServerClaims,
    T::AuthorizationServerPolicies,
    T::AuthorizationServerPolicyRules,
    T::EventHooks,
    T::InlineHooks,
    T::UserRoles,
    T::GroupRoles,
    T::ApiTokens,
    T::ThreatInsight,
    T::Org,
];

/// The position of a type's writes in [`PHASES`].
pub fn phase(resource: ResourceType) -> usize {
    PHASES
        .iter()
        .position(|t| *t == resource)
        .expect("PHASES lists every type")
}

/// Okta's policy types in the order their policies are written (the snapshot's collection
/// order; any type not listed sorts last, by name).
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

/// The position of a policy type in the write order.
pub fn policy_type_rank(policy_type: &str) -> usize {
    POLICY_TYPES
        .iter()
        .position(|t| *t == policy_type)
        .unwrap_or(POLICY_TYPES.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_one_phase_and_references_come_first() {
        for t in ResourceType::ALL {
            assert_eq!(PHASES.iter().filter(|p| **p == t).count(), 1, "{t}");
        }
        // (referenced, referencing): the first must be written before the second.
        for (first, then) in [
            (T::Authenticators, T::Policies),
            (T::NetworkZones, T::PolicyRules),
            (T::Groups, T::GroupMembers),
            (T::Users, T::GroupMembers),
            (T::Groups, T::GroupRules),
            (T::Idps, T::PolicyRules),
            (T::Apps, T::AppUserAssignments),
            (T::Groups, T::AppGroupAssignments),
            (T::Policies, T::PolicyRules),
            (T::AuthorizationServers, T::AuthorizationServerPolicyRules),
            (
                T::AuthorizationServerPolicies,
                T::AuthorizationServerPolicyRules,
            ),
            (T::Groups, T::GroupRoles),
            (T::Users, T::UserRoles),
        ] {
            assert!(phase(first) < phase(then), "{first} before {then}");
        }
    }
}
