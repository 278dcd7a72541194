//! How each resource type is compared: its identity, its natural key, and which fields are
//! volatile, unordered, secret or references to other resources. This table is the whole of
//! the drift engine's knowledge of Okta; the code that applies it is generic. Every decision
//! carries its reason, and docs/drift.md's normalisation table is generated from it (a test
//! keeps the two identical).
//!
//! Paths are [patterns](super::pointer) into a snapshot item (child items are wrapped with their
//! parents' ids: see docs/snapshot-format.md). Decisions follow the fields' descriptions and
//! `readOnly`/`writeOnly` flags in Okta's management API specification.

use super::ResourceType;
use super::ResourceType as T;

/// A path and the reason for the decision about it.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub path: &'static str,
    pub why: &'static str,
}

const fn f(path: &'static str, why: &'static str) -> Field {
    Field { path, why }
}

/// How a resource is identified within one org.
#[derive(Clone, Copy, Debug)]
pub enum Key {
    /// The string values at these paths, joined with `/` (Okta ids, parents' first).
    Fields(&'static [&'static str]),
    /// The org holds exactly one; this is its key.
    Singleton(&'static str),
}

/// One component of a natural key: what identifies a resource across orgs, where ids differ.
#[derive(Clone, Copy, Debug)]
pub enum NaturalPart {
    /// The string at a path, compared exactly.
    Text(&'static str),
    /// The string at a path, compared case-insensitively (Okta treats it so).
    Folded(&'static str),
    /// The natural key of another resource, whose key is the values at these paths.
    Parent {
        resource: ResourceType,
        key: &'static [&'static str],
    },
    /// A constant: the type has one resource per org.
    Fixed(&'static str),
}

/// A `_links` entry that carries configuration: it is kept as the id its `href` ends with.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    /// Where the link is (`…/_links/<name>`); the normalised item holds the id there.
    pub path: &'static str,
    /// The type of resource the link points to.
    pub resource: ResourceType,
    pub why: &'static str,
}

/// A field whose string values are ids of another resource type (rewritten through the id map
/// when two orgs are compared).
#[derive(Clone, Copy, Debug)]
pub struct Reference {
    pub path: &'static str,
    pub resource: ResourceType,
}

const fn r(path: &'static str, resource: ResourceType) -> Reference {
    Reference { path, resource }
}

/// Everything the engine knows about one resource type.
#[derive(Clone, Copy, Debug)]
pub struct TypeRules {
    pub resource: ResourceType,
    pub key: Key,
    pub natural_key: &'static [NaturalPart],
    /// Volatile or derived fields: removed before comparing.
    pub ignore: &'static [Field],
    /// Arrays whose order Okta does not define: compared as (multi)sets.
    pub sets: &'static [Field],
    /// Arrays whose order means something: compared in order.
    pub ordered: &'static [Field],
    /// Fields one might expect to be ignored that are compared on purpose.
    pub kept: &'static [Field],
    /// Values never shown: a change is reported as "changed" only.
    pub secrets: &'static [Field],
    pub links: &'static [Link],
    pub references: &'static [Reference],
}

/// Rules that apply to every type (before the type's own).
pub struct CommonRules {
    pub ignore: &'static [Field],
    pub sets: &'static [Field],
    pub secrets: &'static [Field],
}

pub static COMMON: CommonRules = CommonRules {
    ignore: &[
        f(
            "/**/_links",
            "hypermedia: URLs built from the org's domain and ids, and the operations allowed \
             now; the few links that carry configuration are kept per type",
        ),
        f(
            "/**/_embedded",
            "expansions: copies of other resources (compared as their own type) and counts \
             such as group `stats`",
        ),
    ],
    sets: &[
        f(
            "/**/include",
            "include lists (people, groups, zones, apps, clients, grant types, scopes): Okta \
             matches any member; no order is defined",
        ),
        f("/**/exclude", "exclude lists: as include lists"),
    ],
    secrets: &[
        f("/**/client_secret", "OAuth client secrets (apps, IdPs)"),
        f("/**/clientSecret", "OAuth client secrets (inline hooks)"),
        f("/**/secretKey", "provider secret keys (Duo)"),
        f(
            "/**/sharedSecret",
            "shared secrets (RADIUS and OTP providers)",
        ),
        f(
            "/**/privateKey",
            "private keys (Apple IdP signing, hook keys)",
        ),
        f("/**/private_key", "private keys"),
        f("/**/apiKey", "vendor API keys (IDV IdPs)"),
        f(
            "/**/securityAnswer",
            "app assignment profiles may carry a security answer in clear",
        ),
    ],
};

const CREATED: Field = f(
    "/created",
    "read-only creation time: never changes for a resource, differs between orgs",
);
const LAST_UPDATED: Field = f(
    "/lastUpdated",
    "read-only: moves with every write, including writes that change nothing compared",
);

/// One entry per [`ResourceType`], in [`ResourceType::ALL`] order.
pub static RULES: &[TypeRules] = &[
    TypeRules {
        resource: T::Users,
        key: Key::Fields(&["/id"]),
        natural_key: &[NaturalPart::Folded("/profile/login")],
        ignore: &[
            CREATED,
            LAST_UPDATED,
            f(
                "/activated",
                "read-only time of activation; `status` carries the state",
            ),
            f(
                "/statusChanged",
                "read-only time of the last status change; `status` carries it",
            ),
            f("/lastLogin", "read-only: changes with every sign-in"),
            f(
                "/passwordChanged",
                "read-only time of the last password change; the password is never readable",
            ),
            f(
                "/transitioningToStatus",
                "read-only, transient while an asynchronous lifecycle operation runs; the \
                 resulting `status` is compared",
            ),
        ],
        sets: &[],
        ordered: &[],
        kept: &[
            f(
                "/status",
                "lifecycle state (ACTIVE, SUSPENDED, LOCKED_OUT, DEPROVISIONED, ...)",
            ),
            f(
                "/credentials/provider",
                "read-only, but says whether Okta or a federated directory authenticates the user",
            ),
            f("/type", "the user type decides the profile schema"),
            f(
                "/realmId",
                "read-only realm assignment (Okta Identity Engine)",
            ),
        ],
        secrets: &[
            f(
                "/credentials/password",
                "write-only: a set password shows as `{}`; a change is reported, never a value",
            ),
            f(
                "/credentials/recovery_question/answer",
                "write-only recovery answer",
            ),
        ],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::Groups,
        key: Key::Fields(&["/id"]),
        natural_key: &[
            NaturalPart::Text("/type"),
            NaturalPart::Text("/profile/name"),
        ],
        ignore: &[
            CREATED,
            LAST_UPDATED,
            f(
                "/lastMembershipUpdated",
                "read-only: moves with every membership change (memberships are compared as \
                 `group_members`)",
            ),
        ],
        sets: &[f(
            "/objectClass",
            "read-only list of object classes; no order is defined",
        )],
        ordered: &[],
        kept: &[f("/type", "OKTA_GROUP, APP_GROUP or BUILT_IN")],
        secrets: &[],
        links: &[Link {
            path: "/_links/source",
            resource: T::Apps,
            why: "an APP_GROUP's source app (where the group is mastered)",
        }],
        references: &[],
    },
    TypeRules {
        resource: T::GroupMembers,
        key: Key::Fields(&["/groupId", "/userId"]),
        natural_key: &[
            NaturalPart::Parent {
                resource: T::Groups,
                key: &["/groupId"],
            },
            NaturalPart::Parent {
                resource: T::Users,
                key: &["/userId"],
            },
        ],
        ignore: &[],
        sets: &[],
        ordered: &[],
        kept: &[],
        secrets: &[],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::Apps,
        key: Key::Fields(&["/id"]),
        natural_key: &[
            NaturalPart::Text("/label"),
            NaturalPart::Text("/signOnMode"),
        ],
        ignore: &[
            CREATED,
            LAST_UPDATED,
            f(
                "/orn",
                "read-only Okta resource name, derived from the org and app ids",
            ),
            f(
                "/credentials/signing/lastRotated",
                "read-only: moves with automatic certificate rotation",
            ),
            f(
                "/credentials/signing/nextRotation",
                "read-only: moves with automatic certificate rotation",
            ),
        ],
        sets: &[
            f(
                "/features",
                "read-only provisioning features; no order is defined",
            ),
            f(
                "/settings/oauthClient/redirect_uris",
                "any listed URI is accepted",
            ),
            f(
                "/settings/oauthClient/post_logout_redirect_uris",
                "any listed URI is accepted",
            ),
            f(
                "/settings/oauthClient/response_types",
                "allowed response types",
            ),
            f("/settings/oauthClient/grant_types", "allowed grant types"),
            f(
                "/settings/oauthClient/idp_initiated_login/default_scope",
                "scopes requested",
            ),
            f(
                "/settings/oauthClient/jwks/keys",
                "a JWK Set's key order is not significant (RFC 7517 §5)",
            ),
            f(
                "/settings/signOn/attributeStatements",
                "SAML attribute statements, by name",
            ),
            f(
                "/settings/signOn/configuredAttributeStatements",
                "as attributeStatements",
            ),
            f(
                "/settings/signOn/acsEndpoints",
                "each endpoint carries its own `index`",
            ),
            f("/settings/signOn/inlineHooks", "hooks attached to the app"),
            f(
                "/expressConfiguration/enabledCapabilities",
                "capabilities, no order",
            ),
            f(
                "/expressConfiguration/supportedCapabilities",
                "capabilities, no order",
            ),
        ],
        ordered: &[
            f(
                "/settings/signOn/attributeStatements/*/values",
                "values of a multi-valued attribute are sent in this order",
            ),
            f(
                "/settings/signOn/configuredAttributeStatements/*/values",
                "as attributeStatements values",
            ),
            f(
                "/settings/signOn/spCertificate/x5c",
                "a certificate chain: leaf first",
            ),
            f(
                "/settings/signOn/assertionEncryption/x5c",
                "a certificate chain: leaf first",
            ),
            f(
                "/settings/signOn/slo/spCertificate/x5c",
                "a certificate chain: leaf first",
            ),
        ],
        kept: &[
            f("/status", "ACTIVE or INACTIVE"),
            f("/name", "read-only app template (e.g. `oidc_client`)"),
            f(
                "/credentials/signing/kid",
                "the signing key in use: changes when a certificate is replaced",
            ),
            f(
                "/credentials/oauthClient/client_id",
                "a restore supplies the same client id",
            ),
        ],
        secrets: &[f(
            "/credentials/password",
            "SWA shared password: write-only",
        )],
        links: &[Link {
            path: "/_links/accessPolicy",
            resource: T::Policies,
            why: "the authentication policy the app uses",
        }],
        references: &[
            r(
                "/settings/notifications/vpn/network/include/*",
                T::NetworkZones,
            ),
            r(
                "/settings/notifications/vpn/network/exclude/*",
                T::NetworkZones,
            ),
        ],
    },
    TypeRules {
        resource: T::AppUserAssignments,
        key: Key::Fields(&["/appId", "/user/id"]),
        natural_key: &[
            NaturalPart::Parent {
                resource: T::Apps,
                key: &["/appId"],
            },
            NaturalPart::Parent {
                resource: T::Users,
                key: &["/user/id"],
            },
        ],
        ignore: &[
            f("/user/created", "read-only creation time of the assignment"),
            f("/user/lastUpdated", "read-only: moves with every write"),
            f(
                "/user/lastSync",
                "read-only: time of the last provisioning sync",
            ),
            f(
                "/user/passwordChanged",
                "read-only time of the last app password change",
            ),
            f(
                "/user/statusChanged",
                "read-only time of the last status change; `status` carries it",
            ),
            f(
                "/user/syncState",
                "read-only provisioning sync state: changes with every sync attempt",
            ),
        ],
        sets: &[f(
            "/user/profile/*",
            "multi-valued app attributes (groups, entitlements, roles): no order is defined",
        )],
        ordered: &[],
        kept: &[
            f(
                "/user/scope",
                "USER (direct) or GROUP (through a group assignment)",
            ),
            f(
                "/user/status",
                "read-only provisioning status of the assignment",
            ),
            f(
                "/user/externalId",
                "read-only id of the linked account downstream: a change means relinking",
            ),
            f(
                "/user/profile",
                "app-specific attributes (roles, entitlements)",
            ),
        ],
        secrets: &[f("/user/credentials/password", "app password: write-only")],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::AppGroupAssignments,
        key: Key::Fields(&["/appId", "/group/id"]),
        natural_key: &[
            NaturalPart::Parent {
                resource: T::Apps,
                key: &["/appId"],
            },
            NaturalPart::Parent {
                resource: T::Groups,
                key: &["/group/id"],
            },
        ],
        ignore: &[f("/group/lastUpdated", "read-only: moves with every write")],
        sets: &[f(
            "/group/profile/*",
            "multi-valued app attributes given to the group: no order is defined",
        )],
        ordered: &[],
        kept: &[
            f(
                "/group/priority",
                "decides which group's app profile applies to a user in several assigned groups",
            ),
            f(
                "/group/profile",
                "app attributes given to the group's members",
            ),
        ],
        secrets: &[],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::Policies,
        key: Key::Fields(&["/id"]),
        natural_key: &[NaturalPart::Text("/type"), NaturalPart::Text("/name")],
        ignore: &[CREATED, LAST_UPDATED],
        sets: &[
            f(
                "/settings/authenticators",
                "per-authenticator enrollment settings, by `key`",
            ),
            f(
                "/settings/authenticators/*/constraints/aaguidGroups",
                "allowed AAGUID groups",
            ),
            f(
                "/settings/password/complexity/excludeAttributes",
                "profile attributes excluded",
            ),
            f(
                "/settings/password/lockout/userLockoutNotificationChannels",
                "notification channels",
            ),
        ],
        ordered: &[],
        kept: &[
            f(
                "/priority",
                "policies of a type are evaluated in priority order",
            ),
            f("/system", "read-only: Okta's default policy"),
            f("/status", "ACTIVE or INACTIVE"),
        ],
        secrets: &[],
        links: &[],
        references: &[
            r("/conditions/people/groups/include/*", T::Groups),
            r("/conditions/people/groups/exclude/*", T::Groups),
            r("/conditions/people/users/include/*", T::Users),
            r("/conditions/people/users/exclude/*", T::Users),
            r("/conditions/network/include/*", T::NetworkZones),
            r("/conditions/network/exclude/*", T::NetworkZones),
        ],
    },
    TypeRules {
        resource: T::PolicyRules,
        key: Key::Fields(&["/policyId", "/rule/id"]),
        natural_key: &[
            NaturalPart::Parent {
                resource: T::Policies,
                key: &["/policyId"],
            },
            NaturalPart::Text("/rule/name"),
        ],
        ignore: &[
            f("/rule/created", "read-only creation time"),
            f("/rule/lastUpdated", "read-only: moves with every write"),
        ],
        sets: &[
            f(
                "/rule/conditions/identityProvider/idpIds",
                "any listed IdP matches",
            ),
            f(
                "/rule/conditions/userIdentifier/patterns",
                "any pattern matches",
            ),
            f(
                "/rule/conditions/risk/behaviors",
                "any listed behavior matches",
            ),
            f(
                "/rule/actions/appSignOn/verificationMethod/constraints",
                "alternatives: any one constraint satisfies the rule",
            ),
            f(
                "/rule/actions/profileEnrollment/enrollAuthenticatorTypes",
                "no order",
            ),
            f(
                "/rule/actions/profileEnrollment/targetGroupIds",
                "groups new users join",
            ),
            f(
                "/rule/actions/profileEnrollment/preRegistrationInlineHooks",
                "hooks, by id",
            ),
            f(
                "/rule/actions/selfServicePasswordReset/requirement/primary/methods",
                "allowed recovery methods",
            ),
            f(
                "/rule/actions/selfServicePasswordReset/requirement/primary/methodConstraints",
                "per-method constraints",
            ),
            f(
                "/rule/actions/selfServicePasswordReset/requirement/stepUp/methods",
                "allowed step-up methods",
            ),
        ],
        ordered: &[
            f(
                "/rule/actions/profileEnrollment/profileAttributes",
                "the order of fields on the registration form",
            ),
            f(
                "/rule/actions/idp/providers",
                "IdP routing: providers in the order offered",
            ),
            f("/rule/actions/idp/matchCriteria", "evaluated in order"),
            f(
                "/rule/actions/appSignOn/verificationMethod/chains",
                "authentication chains as configured",
            ),
            f("/rule/actions/entityRisk/actions", "actions run in order"),
            f(
                "/rule/actions/postAuthSession/failureActions",
                "actions run in order",
            ),
            f(
                "/rule/actions/updateControls/actions",
                "actions run in order",
            ),
            f(
                "/rule/actions/deviceSignalCollection/deviceContextProviders",
                "providers as configured",
            ),
        ],
        kept: &[
            f(
                "/rule/priority",
                "rules of a policy are evaluated in priority order",
            ),
            f("/rule/system", "read-only: Okta's default rule"),
            f("/rule/status", "ACTIVE or INACTIVE"),
        ],
        secrets: &[],
        links: &[],
        references: &[
            r("/rule/conditions/people/groups/include/*", T::Groups),
            r("/rule/conditions/people/groups/exclude/*", T::Groups),
            r("/rule/conditions/people/users/include/*", T::Users),
            r("/rule/conditions/people/users/exclude/*", T::Users),
            r("/rule/conditions/network/include/*", T::NetworkZones),
            r("/rule/conditions/network/exclude/*", T::NetworkZones),
            r("/rule/conditions/identityProvider/idpIds/*", T::Idps),
            r("/rule/conditions/app/include/*/id", T::Apps),
            r("/rule/conditions/app/exclude/*/id", T::Apps),
            r(
                "/rule/actions/profileEnrollment/targetGroupIds/*",
                T::Groups,
            ),
            r("/rule/actions/idp/providers/*/id", T::Idps),
        ],
    },
    TypeRules {
        resource: T::GroupRules,
        key: Key::Fields(&["/id"]),
        natural_key: &[NaturalPart::Text("/name")],
        ignore: &[
            CREATED,
            LAST_UPDATED,
            f(
                "/allGroupsValid",
                "read-only, computed: whether every target group still exists (the targets \
                 are compared)",
            ),
        ],
        sets: &[f("/actions/assignUserToGroups/groupIds", "target groups")],
        ordered: &[],
        kept: &[f("/status", "only an ACTIVE rule assigns users")],
        secrets: &[],
        links: &[],
        references: &[
            r("/actions/assignUserToGroups/groupIds/*", T::Groups),
            r("/conditions/people/groups/exclude/*", T::Groups),
            r("/conditions/people/users/exclude/*", T::Users),
        ],
    },
    TypeRules {
        resource: T::Authenticators,
        key: Key::Fields(&["/id"]),
        natural_key: &[NaturalPart::Text("/key")],
        ignore: &[CREATED, LAST_UPDATED],
        sets: &[],
        ordered: &[],
        kept: &[
            f(
                "/status",
                "an INACTIVE authenticator cannot be used by policies",
            ),
            f(
                "/settings",
                "allowed uses, token lifetimes, user verification",
            ),
        ],
        secrets: &[],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::NetworkZones,
        key: Key::Fields(&["/id"]),
        natural_key: &[NaturalPart::Text("/name")],
        ignore: &[CREATED, LAST_UPDATED],
        sets: &[
            f("/gateways", "IP ranges: a request matches any"),
            f("/proxies", "IP ranges: a request matches any"),
            f("/locations", "a request matches any location"),
            f("/asns", "a request matches any ASN"),
            f(
                "/ipServiceCategories/*",
                "IP service categories included or excluded (Okta's example misspells one key)",
            ),
        ],
        ordered: &[],
        kept: &[
            f(
                "/system",
                "read-only: Okta's system zones exist in every org",
            ),
            f("/usage", "POLICY or BLOCKLIST"),
            f("/status", "ACTIVE or INACTIVE"),
        ],
        secrets: &[],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::Idps,
        key: Key::Fields(&["/id"]),
        natural_key: &[NaturalPart::Text("/type"), NaturalPart::Text("/name")],
        ignore: &[CREATED, LAST_UPDATED],
        sets: &[
            f("/protocol/scopes", "scopes requested from the IdP"),
            f(
                "/policy/provisioning/groups/assignments",
                "groups JIT users join",
            ),
            f("/policy/provisioning/groups/filter", "groups synchronised"),
            f("/properties/additionalAmr", "no order"),
            f(
                "/protocol/credentials/trust/additionalKids",
                "any listed key is trusted",
            ),
        ],
        ordered: &[],
        kept: &[f(
            "/protocol/credentials/trust/kid",
            "the certificate the IdP's assertions are verified with",
        )],
        secrets: &[],
        links: &[],
        references: &[
            r("/policy/provisioning/groups/assignments/*", T::Groups),
            r("/policy/provisioning/groups/filter/*", T::Groups),
            r("/policy/accountLink/filter/groups/include/*", T::Groups),
            r("/policy/accountLink/filter/users/exclude/*", T::Users),
        ],
    },
    TypeRules {
        resource: T::EventHooks,
        key: Key::Fields(&["/id"]),
        natural_key: &[NaturalPart::Text("/name")],
        ignore: &[
            CREATED,
            LAST_UPDATED,
            f(
                "/createdBy",
                "read-only id of the creating admin: never changes, differs between orgs",
            ),
        ],
        sets: &[
            f("/events/items", "subscribed event types"),
            f("/events/filter/eventFilterMap", "one filter per event type"),
            f("/channel/config/headers", "HTTP headers"),
        ],
        ordered: &[],
        kept: &[
            f("/status", "ACTIVE or INACTIVE"),
            f(
                "/verificationStatus",
                "an UNVERIFIED hook receives no events",
            ),
        ],
        secrets: &[
            f(
                "/channel/config/authScheme/value",
                "write-only authorization header value",
            ),
            f(
                "/channel/config/headers/*/value",
                "custom header values often carry credentials; only their names are shown",
            ),
        ],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::InlineHooks,
        key: Key::Fields(&["/id"]),
        natural_key: &[NaturalPart::Text("/type"), NaturalPart::Text("/name")],
        ignore: &[
            CREATED,
            LAST_UPDATED,
            f(
                "/channel/created",
                "read-only creation time, which Okta's own example also places in `channel`",
            ),
        ],
        sets: &[f("/channel/config/headers", "HTTP headers")],
        ordered: &[],
        kept: &[f("/status", "ACTIVE or INACTIVE")],
        secrets: &[
            f(
                "/channel/config/authScheme/value",
                "write-only authorization header value",
            ),
            f(
                "/channel/config/headers/*/value",
                "custom header values often carry credentials; only their names are shown",
            ),
        ],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::ApiTokens,
        key: Key::Fields(&["/id"]),
        natural_key: &[
            NaturalPart::Text("/name"),
            NaturalPart::Parent {
                resource: T::Users,
                key: &["/userId"],
            },
        ],
        ignore: &[
            CREATED,
            LAST_UPDATED,
            f(
                "/expiresAt",
                "read-only: slides forward each time the token is used (tokens expire after \
                 `tokenWindow` without use)",
            ),
        ],
        sets: &[],
        ordered: &[],
        kept: &[
            f("/tokenWindow", "how long the token lives unused"),
            f("/network", "where the token may be used from"),
            f("/userId", "the admin whose permissions the token carries"),
        ],
        secrets: &[],
        links: &[],
        references: &[
            r("/userId", T::Users),
            r("/network/include/*", T::NetworkZones),
            r("/network/exclude/*", T::NetworkZones),
        ],
    },
    TypeRules {
        resource: T::UserRoles,
        key: Key::Fields(&["/userId", "/role/id"]),
        natural_key: &[
            NaturalPart::Parent {
                resource: T::Users,
                key: &["/userId"],
            },
            NaturalPart::Text("/role/type"),
            NaturalPart::Text("/role/label"),
            NaturalPart::Text("/role/assignmentType"),
        ],
        ignore: &[
            f("/role/created", "read-only creation time of the assignment"),
            f("/role/lastUpdated", "read-only: moves with every write"),
        ],
        sets: &[],
        ordered: &[],
        kept: &[
            f("/role/status", "ACTIVE or INACTIVE"),
            f("/role/assignmentType", "USER, GROUP or CLIENT"),
            f(
                "/role/resource-set",
                "read-only: a custom role's resource set",
            ),
        ],
        secrets: &[],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::GroupRoles,
        key: Key::Fields(&["/groupId", "/role/id"]),
        natural_key: &[
            NaturalPart::Parent {
                resource: T::Groups,
                key: &["/groupId"],
            },
            NaturalPart::Text("/role/type"),
            NaturalPart::Text("/role/label"),
        ],
        ignore: &[
            f("/role/created", "read-only creation time of the assignment"),
            f("/role/lastUpdated", "read-only: moves with every write"),
        ],
        sets: &[],
        ordered: &[],
        kept: &[
            f("/role/status", "ACTIVE or INACTIVE"),
            f("/role/assignmentType", "USER, GROUP or CLIENT"),
            f(
                "/role/resource-set",
                "read-only: a custom role's resource set",
            ),
        ],
        secrets: &[],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::AuthorizationServers,
        key: Key::Fields(&["/id"]),
        natural_key: &[NaturalPart::Text("/name")],
        ignore: &[
            CREATED,
            LAST_UPDATED,
            f(
                "/issuer",
                "read-only, derived from the org's domain (or custom domain) and the server id; \
                 `issuerMode` is compared",
            ),
            f(
                "/credentials/signing/kid",
                "read-only: Okta replaces the key on its own schedule (AUTO rotation); keys \
                 never leave an org",
            ),
            f(
                "/credentials/signing/lastRotated",
                "read-only: moves with rotation",
            ),
            f(
                "/credentials/signing/nextRotation",
                "read-only: moves with rotation",
            ),
        ],
        sets: &[
            f("/audiences", "any listed audience is accepted"),
            f(
                "/jwks/keys",
                "a JWK Set's key order is not significant (RFC 7517 §5)",
            ),
        ],
        ordered: &[],
        kept: &[
            f("/issuerMode", "which issuer URL tokens carry"),
            f(
                "/credentials/signing/rotationMode",
                "AUTO or MANUAL key rotation",
            ),
            f("/status", "ACTIVE or INACTIVE"),
        ],
        secrets: &[],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::AuthorizationServerScopes,
        key: Key::Fields(&["/authServerId", "/item/id"]),
        natural_key: &[
            NaturalPart::Parent {
                resource: T::AuthorizationServers,
                key: &["/authServerId"],
            },
            NaturalPart::Text("/item/name"),
        ],
        ignore: &[],
        sets: &[],
        ordered: &[],
        kept: &[
            f("/item/system", "read-only: a scope Okta defines"),
            f("/item/consent", "whether users must consent"),
            f("/item/default", "granted when a client asks for no scope"),
        ],
        secrets: &[],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::AuthorizationServerClaims,
        key: Key::Fields(&["/authServerId", "/item/id"]),
        natural_key: &[
            NaturalPart::Parent {
                resource: T::AuthorizationServers,
                key: &["/authServerId"],
            },
            NaturalPart::Text("/item/claimType"),
            NaturalPart::Text("/item/name"),
        ],
        ignore: &[],
        sets: &[f(
            "/item/conditions/scopes",
            "the claim is added for any listed scope",
        )],
        ordered: &[],
        kept: &[
            f(
                "/item/value",
                "the expression or group filter that fills the claim",
            ),
            f("/item/system", "read-only: a claim Okta defines"),
        ],
        secrets: &[],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::AuthorizationServerPolicies,
        key: Key::Fields(&["/authServerId", "/policy/id"]),
        natural_key: &[
            NaturalPart::Parent {
                resource: T::AuthorizationServers,
                key: &["/authServerId"],
            },
            NaturalPart::Text("/policy/name"),
        ],
        ignore: &[
            f("/policy/created", "read-only creation time"),
            f("/policy/lastUpdated", "read-only: moves with every write"),
        ],
        sets: &[],
        ordered: &[],
        kept: &[
            f(
                "/policy/priority",
                "policies are evaluated in priority order",
            ),
            f("/policy/status", "ACTIVE or INACTIVE"),
        ],
        secrets: &[],
        links: &[],
        references: &[],
    },
    TypeRules {
        resource: T::AuthorizationServerPolicyRules,
        key: Key::Fields(&["/authServerId", "/policyId", "/rule/id"]),
        natural_key: &[
            NaturalPart::Parent {
                resource: T::AuthorizationServerPolicies,
                key: &["/authServerId", "/policyId"],
            },
            NaturalPart::Text("/rule/name"),
        ],
        ignore: &[
            f("/rule/created", "read-only creation time"),
            f("/rule/lastUpdated", "read-only: moves with every write"),
        ],
        sets: &[],
        ordered: &[],
        kept: &[
            f("/rule/priority", "rules are evaluated in priority order"),
            f("/rule/status", "ACTIVE or INACTIVE"),
            f(
                "/rule/actions/token",
                "token lifetimes and the token inline hook",
            ),
        ],
        secrets: &[],
        links: &[],
        references: &[
            r("/rule/conditions/people/groups/include/*", T::Groups),
            r("/rule/conditions/people/groups/exclude/*", T::Groups),
            r("/rule/conditions/people/users/include/*", T::Users),
            r("/rule/conditions/people/users/exclude/*", T::Users),
        ],
    },
    TypeRules {
        resource: T::ThreatInsight,
        key: Key::Singleton("configuration"),
        natural_key: &[NaturalPart::Fixed("threat_insight")],
        ignore: &[CREATED, LAST_UPDATED],
        sets: &[f(
            "/excludeZones",
            "zones exempt from ThreatInsight; no order",
        )],
        ordered: &[],
        kept: &[f("/action", "none, audit or block")],
        secrets: &[],
        links: &[],
        references: &[r("/excludeZones/*", T::NetworkZones)],
    },
    TypeRules {
        resource: T::Org,
        key: Key::Fields(&["/id"]),
        natural_key: &[NaturalPart::Fixed("org")],
        ignore: &[
            CREATED,
            LAST_UPDATED,
            f("/expiresAt", "read-only subscription expiry, set by Okta"),
        ],
        sets: &[],
        ordered: &[],
        kept: &[
            f("/subdomain", "read-only; differs between orgs by nature"),
            f("/status", "read-only org status"),
        ],
        secrets: &[],
        links: &[],
        references: &[],
    },
];

/// The rules for `resource`.
pub fn rules(resource: ResourceType) -> &'static TypeRules {
    RULES
        .iter()
        .find(|r| r.resource == resource)
        .expect("every resource type has rules (checked by a test)")
}
