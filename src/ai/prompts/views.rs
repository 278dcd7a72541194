//! The declared fields of each resource type, shared by the prompts that send them.
//!
//! Nothing identifying is declared except as a pseudonym; names appear only in
//! [`identity_fields`], which the drift prompt adds so that "renamed" or "login changed" can be
//! said without saying from what to what.

use crate::ai::fields::{field, Field, Treatment::*, View};
use crate::ai::index::FIRST_PARTY_APPS;
use crate::ai::pseudonym::Kind;
use crate::tenant::ResourceType;

/// `profile.userType` values sent as they are (it is a free-text field; anything else is
/// withheld): the usual employment types and the service-account labels the compliance checks
/// recognise.
pub const USER_TYPES: [&str; 14] = [
    "Employee",
    "Contractor",
    "Intern",
    "Vendor",
    "Partner",
    "Temporary",
    "service",
    "service_account",
    "serviceaccount",
    "system",
    "machine",
    "non-human",
    "nonhuman",
    "Service",
];

pub const USER: View = View {
    resource: ResourceType::Users,
    kind: Kind::User,
    id: "/id",
    fields: &[
        field("status", "/status", Enum),
        field("user_type", "/profile/userType", OneOf(&USER_TYPES)),
        field("credential_provider", "/credentials/provider/type", Enum),
        field("created_days_ago", "/created", AgeDays),
        field("last_login_days_ago", "/lastLogin", AgeDays),
        field("status_changed_days_ago", "/statusChanged", AgeDays),
        field("password_changed_days_ago", "/passwordChanged", AgeDays),
    ],
};

pub const GROUP: View = View {
    resource: ResourceType::Groups,
    kind: Kind::Group,
    id: "/id",
    fields: &[
        field("type", "/type", Enum),
        field("source_app", "/source/id", Ref(Kind::App)),
        field(
            "membership_updated_days_ago",
            "/lastMembershipUpdated",
            AgeDays,
        ),
    ],
};

pub const APP: View = View {
    resource: ResourceType::Apps,
    kind: Kind::App,
    id: "/id",
    fields: &[
        field("status", "/status", Enum),
        field("sign_on_mode", "/signOnMode", Enum),
        field("okta_app", "/name", OneOf(&FIRST_PARTY_APPS)),
        field(
            "access_policy",
            "/_links/accessPolicy",
            RefFromHref(Kind::Policy),
        ),
        field("grant_types", "/settings/oauthClient/grant_types", Enums),
        field(
            "token_auth_method",
            "/credentials/oauthClient/token_endpoint_auth_method",
            Enum,
        ),
        field(
            "signature_algorithm",
            "/settings/signOn/signatureAlgorithm",
            Enum,
        ),
        field("created_days_ago", "/created", AgeDays),
    ],
};

pub const POLICY: View = View {
    resource: ResourceType::Policies,
    kind: Kind::Policy,
    id: "/id",
    fields: &[
        field("type", "/type", Enum),
        field("status", "/status", Enum),
        field("priority", "/priority", Number),
        field("system", "/system", Bool),
        field(
            "groups_included",
            "/conditions/people/groups/include",
            Refs(Kind::Group),
        ),
        field(
            "groups_excluded",
            "/conditions/people/groups/exclude",
            Refs(Kind::Group),
        ),
        field(
            "min_length",
            "/settings/password/complexity/minLength",
            Number,
        ),
        field(
            "min_lower",
            "/settings/password/complexity/minLowerCase",
            Number,
        ),
        field(
            "min_upper",
            "/settings/password/complexity/minUpperCase",
            Number,
        ),
        field(
            "min_number",
            "/settings/password/complexity/minNumber",
            Number,
        ),
        field(
            "min_symbol",
            "/settings/password/complexity/minSymbol",
            Number,
        ),
        field(
            "history_count",
            "/settings/password/age/historyCount",
            Number,
        ),
        field("max_age_days", "/settings/password/age/maxAgeDays", Number),
        field(
            "min_age_minutes",
            "/settings/password/age/minAgeMinutes",
            Number,
        ),
        field(
            "lockout_attempts",
            "/settings/password/lockout/maxAttempts",
            Number,
        ),
        field(
            "recovery_sms",
            "/settings/recovery/factors/okta_sms/status",
            Enum,
        ),
        field(
            "recovery_call",
            "/settings/recovery/factors/okta_call/status",
            Enum,
        ),
    ],
};

pub const POLICY_RULE: View = View {
    resource: ResourceType::PolicyRules,
    kind: Kind::Rule,
    id: "/rule/id",
    fields: &[
        field("policy", "/policyId", Ref(Kind::Policy)),
        field("type", "/rule/type", Enum),
        field("status", "/rule/status", Enum),
        field("priority", "/rule/priority", Number),
        field("system", "/rule/system", Bool),
        field("access", "/rule/actions/appSignOn/access", Enum),
        field(
            "verification_type",
            "/rule/actions/appSignOn/verificationMethod/type",
            Enum,
        ),
        field(
            "factor_mode",
            "/rule/actions/appSignOn/verificationMethod/factorMode",
            Enum,
        ),
        field(
            "reauthenticate_in",
            "/rule/actions/appSignOn/verificationMethod/reauthenticateIn",
            Enum,
        ),
        field(
            "constraints",
            "/rule/actions/appSignOn/verificationMethod/constraints",
            Each(&[
                field("phishing_resistant", "/possession/phishingResistant", Enum),
                field(
                    "hardware_protection",
                    "/possession/hardwareProtection",
                    Enum,
                ),
                field("user_presence", "/possession/userPresence", Enum),
                field("knowledge_types", "/knowledge/types", Enums),
            ]),
        ),
        field("signon_access", "/rule/actions/signon/access", Enum),
        field(
            "signon_requires_factor",
            "/rule/actions/signon/requireFactor",
            Bool,
        ),
        field(
            "session_idle_minutes",
            "/rule/actions/signon/session/maxSessionIdleMinutes",
            Number,
        ),
        field(
            "session_lifetime_minutes",
            "/rule/actions/signon/session/maxSessionLifetimeMinutes",
            Number,
        ),
        field(
            "persistent_cookie",
            "/rule/actions/signon/session/usePersistentCookie",
            Bool,
        ),
        field(
            "groups_included",
            "/rule/conditions/people/groups/include",
            Refs(Kind::Group),
        ),
        field(
            "groups_excluded",
            "/rule/conditions/people/groups/exclude",
            Refs(Kind::Group),
        ),
        field(
            "users_included",
            "/rule/conditions/people/users/include",
            Refs(Kind::User),
        ),
        field(
            "users_excluded",
            "/rule/conditions/people/users/exclude",
            Refs(Kind::User),
        ),
        field(
            "network_connection",
            "/rule/conditions/network/connection",
            Enum,
        ),
        field(
            "zones_included",
            "/rule/conditions/network/include",
            Refs(Kind::Zone),
        ),
        field(
            "zones_excluded",
            "/rule/conditions/network/exclude",
            Refs(Kind::Zone),
        ),
        field(
            "device_registered",
            "/rule/conditions/device/registered",
            Bool,
        ),
        field("device_managed", "/rule/conditions/device/managed", Bool),
    ],
};

pub const GROUP_RULE: View = View {
    resource: ResourceType::GroupRules,
    kind: Kind::GroupRule,
    id: "/id",
    fields: &[
        field("status", "/status", Enum),
        field(
            "assigns_to_groups",
            "/actions/assignUserToGroups/groupIds",
            Refs(Kind::Group),
        ),
        field(
            "expression_text",
            "/conditions/expression/value",
            Quoted(300),
        ),
        field(
            "users_excluded",
            "/conditions/people/users/exclude",
            Refs(Kind::User),
        ),
        field(
            "groups_excluded",
            "/conditions/people/groups/exclude",
            Refs(Kind::Group),
        ),
    ],
};

pub const NETWORK_ZONE: View = View {
    resource: ResourceType::NetworkZones,
    kind: Kind::Zone,
    id: "/id",
    fields: &[
        field("type", "/type", Enum),
        field("status", "/status", Enum),
        field("usage", "/usage", Enum),
        field("system", "/system", Bool),
        field("gateway_count", "/gateways", Count),
        field("proxy_count", "/proxies", Count),
    ],
};

pub const AUTHENTICATOR: View = View {
    resource: ResourceType::Authenticators,
    kind: Kind::Authenticator,
    id: "/id",
    fields: &[
        field("key", "/key", Enum),
        field("type", "/type", Enum),
        field("status", "/status", Enum),
    ],
};

pub const API_TOKEN: View = View {
    resource: ResourceType::ApiTokens,
    kind: Kind::Token,
    id: "/id",
    fields: &[
        field("owner", "/userId", Ref(Kind::User)),
        field("created_days_ago", "/created", AgeDays),
        field("expires_days_ago", "/expiresAt", AgeDays),
        field("network_connection", "/network/connection", Enum),
    ],
};

pub const IDP: View = View {
    resource: ResourceType::Idps,
    kind: Kind::Idp,
    id: "/id",
    fields: &[
        field("type", "/type", Enum),
        field("status", "/status", Enum),
        field("protocol", "/protocol/type", Enum),
        field("provisioning_action", "/policy/provisioning/action", Enum),
        field("group_action", "/policy/provisioning/groups/action", Enum),
        field(
            "group_assignments",
            "/policy/provisioning/groups/assignments",
            Refs(Kind::Group),
        ),
    ],
};

pub const USER_ROLE: View = View {
    resource: ResourceType::UserRoles,
    kind: Kind::Role,
    id: "/role/id",
    fields: &[
        field("user", "/userId", Ref(Kind::User)),
        field("role_type", "/role/type", Enum),
        field("status", "/role/status", Enum),
    ],
};

pub const GROUP_ROLE: View = View {
    resource: ResourceType::GroupRoles,
    kind: Kind::Role,
    id: "/role/id",
    fields: &[
        field("group", "/groupId", Ref(Kind::Group)),
        field("role_type", "/role/type", Enum),
        field("status", "/role/status", Enum),
    ],
};

/// Every view, one per resource type that has one.
pub const ALL: &[&View] = &[
    &USER,
    &GROUP,
    &APP,
    &POLICY,
    &POLICY_RULE,
    &GROUP_RULE,
    &NETWORK_ZONE,
    &AUTHENTICATOR,
    &API_TOKEN,
    &IDP,
    &USER_ROLE,
    &GROUP_ROLE,
];

/// The view of `resource`, if one is declared.
pub fn of(resource: ResourceType) -> Option<&'static View> {
    ALL.iter().copied().find(|v| v.resource == resource)
}

/// The Okta id a view looks an object up by, from drift's key of the object: the key's last
/// part (a policy rule's key is `policyId/ruleId`, a role assignment's `userId/roleId`, and
/// each view's id is that last part). Types without a view keep their whole key.
pub fn okta_id(resource: ResourceType, key: &str) -> &str {
    match of(resource) {
        Some(_) => key.rsplit('/').next().unwrap_or(key),
        None => key,
    }
}

const USER_IDENTITY: &[Field] = &[
    field("login", "/profile/login", Pseudonym(Kind::Email)),
    field("email", "/profile/email", Pseudonym(Kind::Email)),
    field("first_name", "/profile/firstName", Pseudonym(Kind::Name)),
    field("last_name", "/profile/lastName", Pseudonym(Kind::Name)),
    field(
        "display_name",
        "/profile/displayName",
        Pseudonym(Kind::Name),
    ),
    field(
        "mobile_phone",
        "/profile/mobilePhone",
        Pseudonym(Kind::Phone),
    ),
];
const GROUP_IDENTITY: &[Field] = &[field("name", "/profile/name", Pseudonym(Kind::Name))];
const APP_IDENTITY: &[Field] = &[field("label", "/label", Pseudonym(Kind::Name))];
const NAME_IDENTITY: &[Field] = &[field("name", "/name", Pseudonym(Kind::Name))];
const RULE_IDENTITY: &[Field] = &[field("name", "/rule/name", Pseudonym(Kind::Name))];

/// Identifying fields a change report may name, each sent only as a pseudonym.
pub fn identity_fields(resource: ResourceType) -> &'static [Field] {
    match resource {
        ResourceType::Users => USER_IDENTITY,
        ResourceType::Groups => GROUP_IDENTITY,
        ResourceType::Apps => APP_IDENTITY,
        ResourceType::Policies
        | ResourceType::GroupRules
        | ResourceType::NetworkZones
        | ResourceType::Idps => NAME_IDENTITY,
        ResourceType::PolicyRules => RULE_IDENTITY,
        _ => &[],
    }
}
