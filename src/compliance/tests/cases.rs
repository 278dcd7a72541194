//! Per-check failing (and edge) cases: each mutates the compliant baseline and states the
//! expected outcome and evidence object ids.

use serde_json::json;

use super::fixtures::*;
use crate::compliance::Outcome;
use crate::tenant::{ResourceType, TenantSnapshot};

pub struct Case {
    pub check: &'static str,
    pub name: &'static str,
    pub mutate: fn(&mut TenantSnapshot),
    pub outcome: Outcome,
    pub evidence: &'static [&'static str],
}

fn fail(
    check: &'static str,
    name: &'static str,
    mutate: fn(&mut TenantSnapshot),
    evidence: &'static [&'static str],
) -> Case {
    Case {
        check,
        name,
        mutate,
        outcome: Outcome::Fail,
        evidence,
    }
}

fn other(
    check: &'static str,
    name: &'static str,
    mutate: fn(&mut TenantSnapshot),
    outcome: Outcome,
    evidence: &'static [&'static str],
) -> Case {
    Case {
        check,
        name,
        mutate,
        outcome,
        evidence,
    }
}

fn stale_zone() -> serde_json::Value {
    json!({"type": "IP", "id": "nzoOldBranch", "name": "Old branch", "status": "INACTIVE",
           "usage": "POLICY", "system": false,
           "gateways": [{"type": "CIDR", "value": "198.51.100.0/24"}]})
}

pub fn cases() -> Vec<Case> {
    use Outcome::{Error, NotApplicable, Pass};
    vec![
        // CIS 1
        fail(
            "BF-CIS1-001",
            "corporate zone deactivated",
            |s| {
                edit(
                    s,
                    ResourceType::NetworkZones,
                    CORP_ZONE,
                    "/status",
                    json!("INACTIVE"),
                );
            },
            &[],
        ),
        fail(
            "BF-CIS1-001",
            "corporate zone has no gateways",
            |s| {
                edit(
                    s,
                    ResourceType::NetworkZones,
                    CORP_ZONE,
                    "/gateways",
                    json!(null),
                );
            },
            &[],
        ),
        fail(
            "BF-CIS1-002",
            "inactive and empty custom zones",
            |s| {
                push(s, ResourceType::NetworkZones, stale_zone());
                push(
                    s,
                    ResourceType::NetworkZones,
                    json!({"type": "DYNAMIC", "id": "nzoEmptyGeo", "status": "ACTIVE",
                "usage": "POLICY", "system": false, "locations": [], "asns": [], "proxyType": null}),
                );
            },
            &["nzoOldBranch", "nzoEmptyGeo"],
        ),
        other(
            "BF-CIS1-002",
            "unknown zone type",
            |s| {
                push(
                    s,
                    ResourceType::NetworkZones,
                    json!({"type": "FUTURE", "id": "nzoFuture", "status": "ACTIVE"}),
                );
            },
            Error,
            &["nzoFuture"],
        ),
        fail(
            "BF-CIS1-003",
            "no rule requires registration",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    DEVICE_RULE,
                    "/conditions/device/registered",
                    json!(false),
                );
            },
            &[],
        ),
        fail(
            "BF-CIS1-003",
            "device rule is inactive",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    DEVICE_RULE,
                    "/status",
                    json!("INACTIVE"),
                );
            },
            &[],
        ),
        fail(
            "BF-CIS1-004",
            "registered only, no assurance or management",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    DEVICE_RULE,
                    "/conditions/device",
                    json!({"registered": true, "managed": false, "assurance": {"include": []}}),
                );
            },
            &[],
        ),
        fail(
            "BF-CIS1-004",
            "device policy inactive",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    DEVICE_POLICY,
                    "/status",
                    json!("INACTIVE"),
                );
            },
            &[],
        ),
        // CIS 2
        fail(
            "BF-CIS2-001",
            "no apps collected",
            |s| {
                s.resources.insert(ResourceType::Apps, Vec::new());
            },
            &[],
        ),
        fail(
            "BF-CIS2-002",
            "inactive app",
            |s| {
                edit(s, ResourceType::Apps, SWA_APP, "/status", json!("INACTIVE"));
            },
            &[SWA_APP],
        ),
        fail(
            "BF-CIS2-003",
            "app without assignments",
            |s| {
                push(
                    s,
                    ResourceType::Apps,
                    json!({"id": "0oaOrphan", "name": "orphan", "label": "Orphan",
                                 "status": "ACTIVE", "signOnMode": "SAML_2_0"}),
                );
            },
            &["0oaOrphan"],
        ),
        fail(
            "BF-CIS2-004",
            "app assigned to Everyone",
            |s| {
                push(
                    s,
                    ResourceType::AppGroupAssignments,
                    app_group(SAML_APP, EVERYONE),
                );
            },
            &[SAML_APP],
        ),
        other(
            "BF-CIS2-004",
            "Everyone group not collected",
            |s| {
                s.resources.insert(ResourceType::Groups, Vec::new());
            },
            Error,
            &[],
        ),
        fail(
            "BF-CIS2-005",
            "implicit grant",
            |s| {
                edit(
                    s,
                    ResourceType::Apps,
                    OIDC_APP,
                    "/settings/oauthClient/grant_types",
                    json!(["authorization_code", "implicit"]),
                );
            },
            &[OIDC_APP],
        ),
        other(
            "BF-CIS2-005",
            "inactive app with implicit grant is ignored",
            |s| {
                edit(
                    s,
                    ResourceType::Apps,
                    OIDC_APP,
                    "/settings/oauthClient/grant_types",
                    json!(["implicit"]),
                );
                edit(
                    s,
                    ResourceType::Apps,
                    OIDC_APP,
                    "/status",
                    json!("INACTIVE"),
                );
            },
            Pass,
            &[],
        ),
        fail(
            "BF-CIS2-006",
            "SHA-1 signature",
            |s| {
                edit(
                    s,
                    ResourceType::Apps,
                    SAML_APP,
                    "/settings/signOn/signatureAlgorithm",
                    json!("RSA_SHA1"),
                );
            },
            &[SAML_APP],
        ),
        fail(
            "BF-CIS2-007",
            "inactive identity provider",
            |s| {
                edit(s, ResourceType::Idps, IDP, "/status", json!("INACTIVE"));
            },
            &[IDP],
        ),
        // CIS 4: sessions
        fail(
            "BF-CIS4-001",
            "two-hour idle timeout",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    SESSION_RULE,
                    "/actions/signon/session/maxSessionIdleMinutes",
                    json!(120),
                );
            },
            &[SESSION_RULE],
        ),
        fail(
            "BF-CIS4-001",
            "idle timeout missing on default rule",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    SESSION_DEFAULT_RULE,
                    "/actions/signon/session",
                    json!({}),
                );
            },
            &[SESSION_DEFAULT_RULE],
        ),
        other(
            "BF-CIS4-001",
            "no global session policy",
            |s| {
                s.resources
                    .get_mut(&ResourceType::Policies)
                    .expect("policies")
                    .retain(|p| p["type"] != "OKTA_SIGN_ON");
            },
            Error,
            &[],
        ),
        fail(
            "BF-CIS4-002",
            "unlimited lifetime",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    SESSION_DEFAULT_RULE,
                    "/actions/signon/session/maxSessionLifetimeMinutes",
                    json!(0),
                );
            },
            &[SESSION_DEFAULT_RULE],
        ),
        fail(
            "BF-CIS4-003",
            "persistent cookie",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    SESSION_RULE,
                    "/actions/signon/session/usePersistentCookie",
                    json!(true),
                );
            },
            &[SESSION_RULE],
        ),
        // CIS 4: Okta app policies
        fail(
            "BF-CIS4-004",
            "catch-all rule is single factor",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    ADMIN_CATCH_ALL,
                    "/actions/appSignOn/verificationMethod/factorMode",
                    json!("1FA"),
                );
            },
            &[ADMIN_CATCH_ALL],
        ),
        other(
            "BF-CIS4-004",
            "authentication method chain needs review",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    ADMIN_RULE,
                    "/actions/appSignOn/verificationMethod",
                    json!({"type": "AUTH_METHOD_CHAIN", "chains": []}),
                );
            },
            Error,
            &[ADMIN_RULE],
        ),
        other(
            "BF-CIS4-004",
            "Admin Console app not collected",
            |s| {
                s.resources
                    .get_mut(&ResourceType::Apps)
                    .expect("apps")
                    .retain(|a| a["name"] != "saasure");
            },
            Error,
            &[],
        ),
        other(
            "BF-CIS4-004",
            "Admin Console policy not collected",
            |s| {
                s.resources
                    .get_mut(&ResourceType::Policies)
                    .expect("policies")
                    .retain(|p| p["id"] != ADMIN_CONSOLE_POLICY);
            },
            Error,
            &[],
        ),
        fail(
            "BF-CIS4-005",
            "phishable possession factor allowed",
            |s| {
                edit(s, ResourceType::PolicyRules, ADMIN_RULE,
                 "/actions/appSignOn/verificationMethod/constraints/0/possession/phishingResistant",
                 json!("OPTIONAL"));
            },
            &[ADMIN_RULE],
        ),
        fail(
            "BF-CIS4-005",
            "second constraint without phishing resistance",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    ADMIN_CATCH_ALL,
                    "/actions/appSignOn/verificationMethod/constraints",
                    json!([{"possession": {"phishingResistant": "REQUIRED"}},
                        {"knowledge": {"types": ["password"]}}]),
                );
            },
            &[ADMIN_CATCH_ALL],
        ),
        fail(
            "BF-CIS4-006",
            "dashboard single factor",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    DASHBOARD_RULE,
                    "/actions/appSignOn/verificationMethod/factorMode",
                    json!("1FA"),
                );
            },
            &[DASHBOARD_RULE],
        ),
        fail(
            "BF-CIS4-007",
            "dashboard without constraints",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    DASHBOARD_RULE,
                    "/actions/appSignOn/verificationMethod/constraints",
                    json!([]),
                );
            },
            &[DASHBOARD_RULE],
        ),
        // CIS 4: authenticators
        fail(
            "BF-CIS4-008",
            "WebAuthn inactive",
            |s| {
                edit(
                    s,
                    ResourceType::Authenticators,
                    WEBAUTHN,
                    "/status",
                    json!("INACTIVE"),
                );
            },
            &[],
        ),
        fail(
            "BF-CIS4-009",
            "phone authenticator active",
            |s| {
                edit(
                    s,
                    ResourceType::Authenticators,
                    PHONE,
                    "/status",
                    json!("ACTIVE"),
                );
            },
            &[PHONE],
        ),
        fail(
            "BF-CIS4-010",
            "enrollment policy requires only a password",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    MFA_ENROLL_POLICY,
                    "/settings/authenticators/1/enroll/self",
                    json!("OPTIONAL"),
                );
            },
            &[ALICE_ADMIN, BOB_ADMIN],
        ),
        fail(
            "BF-CIS4-010",
            "weaker policy for the admin group takes precedence",
            |s| {
                let mut weak = policy("00pMfaAdminsWeak", "MFA_ENROLL", "Admins", 0);
                set(
                    &mut weak,
                    "/conditions/people/groups/include",
                    json!([ADMINS]),
                );
                set(
                    &mut weak,
                    "/settings",
                    json!({"type": "AUTHENTICATORS", "authenticators": [
                {"key": "okta_password", "enroll": {"self": "REQUIRED"}},
                {"key": "phone_number", "enroll": {"self": "REQUIRED"}}]}),
                );
                push(s, ResourceType::Policies, weak);
            },
            &[BOB_ADMIN],
        ),
        fail(
            "BF-CIS4-010",
            "admin group excluded from the only policy",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    MFA_ENROLL_POLICY,
                    "/conditions/people/groups/exclude",
                    json!([ADMINS]),
                );
            },
            &[BOB_ADMIN],
        ),
        other(
            "BF-CIS4-010",
            "classic factor policy requiring Okta Verify",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    MFA_ENROLL_POLICY,
                    "/settings",
                    json!({"type": "FACTORS", "factors": {
                     "okta_otp": {"enroll": {"self": "REQUIRED"}, "consent": {"type": "NONE"}},
                     "okta_sms": {"enroll": {"self": "OPTIONAL"}, "consent": {"type": "NONE"}}}}),
                );
            },
            Pass,
            &[],
        ),
        // CIS 4: network
        fail(
            "BF-CIS4-011",
            "audit only",
            |s| {
                set(
                    &mut s
                        .resources
                        .get_mut(&ResourceType::ThreatInsight)
                        .expect("threat")[0],
                    "/action",
                    json!("audit"),
                );
            },
            &["configuration"],
        ),
        other(
            "BF-CIS4-011",
            "configuration not collected",
            |s| {
                s.resources.insert(ResourceType::ThreatInsight, Vec::new());
            },
            Error,
            &[],
        ),
        fail(
            "BF-CIS4-012",
            "enhanced dynamic zone inactive",
            |s| {
                edit(
                    s,
                    ResourceType::NetworkZones,
                    ENHANCED_ZONE,
                    "/status",
                    json!("INACTIVE"),
                );
            },
            &[],
        ),
        other(
            "BF-CIS4-012",
            "legacy dynamic zone blocking any proxy",
            |s| {
                edit(
                    s,
                    ResourceType::NetworkZones,
                    ENHANCED_ZONE,
                    "/status",
                    json!("INACTIVE"),
                );
                push(
                    s,
                    ResourceType::NetworkZones,
                    json!({"type": "DYNAMIC", "id": "nzoProxies", "status": "ACTIVE",
                "usage": "BLOCKLIST", "system": false, "proxyType": "ANY", "locations": [], "asns": []}),
                );
            },
            Pass,
            &[],
        ),
        fail(
            "BF-CIS4-013",
            "token usable anywhere",
            |s| {
                edit(
                    s,
                    ResourceType::ApiTokens,
                    API_TOKEN,
                    "/network",
                    json!({"connection": "ANYWHERE"}),
                );
            },
            &[API_TOKEN],
        ),
        other(
            "BF-CIS4-013",
            "no tokens",
            |s| {
                s.resources.insert(ResourceType::ApiTokens, Vec::new());
            },
            NotApplicable,
            &[],
        ),
        // CIS 4: password policy lock-out and recovery
        fail(
            "BF-CIS4-014",
            "lock-out disabled",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    PASSWORD_POLICY,
                    "/settings/password/lockout/maxAttempts",
                    json!(0),
                );
            },
            &[PASSWORD_POLICY],
        ),
        fail(
            "BF-CIS4-015",
            "security question recovery",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    PASSWORD_POLICY,
                    "/settings/recovery/factors/recovery_question/status",
                    json!("ACTIVE"),
                );
            },
            &[PASSWORD_POLICY],
        ),
        fail(
            "BF-CIS4-015",
            "SMS reset in rule",
            |s| {
                edit(
                    s,
                    ResourceType::PolicyRules,
                    PASSWORD_RULE,
                    "/actions/selfServicePasswordReset/requirement/primary/methods",
                    json!(["email", "sms"]),
                );
            },
            &[PASSWORD_RULE],
        ),
        // CIS 5: passwords
        fail(
            "BF-CIS5-001",
            "eight characters",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    PASSWORD_POLICY,
                    "/settings/password/complexity/minLength",
                    json!(8),
                );
            },
            &[PASSWORD_POLICY],
        ),
        other(
            "BF-CIS5-001",
            "only directory-mastered policies",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    PASSWORD_POLICY,
                    "/conditions/authProvider/provider",
                    json!("LDAP"),
                );
            },
            NotApplicable,
            &[],
        ),
        other(
            "BF-CIS5-001",
            "no password policy collected",
            |s| {
                s.resources
                    .get_mut(&ResourceType::Policies)
                    .expect("policies")
                    .retain(|p| p["type"] != "PASSWORD");
            },
            Error,
            &[],
        ),
        fail(
            "BF-CIS5-002",
            "no digits or symbols",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    PASSWORD_POLICY,
                    "/settings/password/complexity/minNumber",
                    json!(null),
                );
                edit(
                    s,
                    ResourceType::Policies,
                    PASSWORD_POLICY,
                    "/settings/password/complexity/minSymbol",
                    json!(0),
                );
            },
            &[PASSWORD_POLICY],
        ),
        fail(
            "BF-CIS5-003",
            "common passwords allowed",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    PASSWORD_POLICY,
                    "/settings/password/complexity/dictionary/common/exclude",
                    json!(false),
                );
            },
            &[PASSWORD_POLICY],
        ),
        fail(
            "BF-CIS5-004",
            "history of four",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    PASSWORD_POLICY,
                    "/settings/password/age/historyCount",
                    json!(4),
                );
            },
            &[PASSWORD_POLICY],
        ),
        fail(
            "BF-CIS5-005",
            "never expires",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    PASSWORD_POLICY,
                    "/settings/password/age/maxAgeDays",
                    json!(0),
                );
            },
            &[PASSWORD_POLICY],
        ),
        fail(
            "BF-CIS5-006",
            "no minimum age",
            |s| {
                edit(
                    s,
                    ResourceType::Policies,
                    PASSWORD_POLICY,
                    "/settings/password/age/minAgeMinutes",
                    json!(0),
                );
            },
            &[PASSWORD_POLICY],
        ),
        fail(
            "BF-CIS5-007",
            "shared credentials",
            |s| {
                edit(
                    s,
                    ResourceType::Apps,
                    SWA_APP,
                    "/credentials/scheme",
                    json!("SHARED_USERNAME_AND_PASSWORD"),
                );
            },
            &[SWA_APP],
        ),
        // CIS 5: lifecycle
        fail(
            "BF-CIS5-008",
            "40 days idle",
            |s| {
                edit(s, ResourceType::Users, CAROL, "/lastLogin", json!(ago(40)));
            },
            &[CAROL],
        ),
        other(
            "BF-CIS5-008",
            "unparseable lastLogin",
            |s| {
                edit(
                    s,
                    ResourceType::Users,
                    CAROL,
                    "/lastLogin",
                    json!("yesterday"),
                );
            },
            Error,
            &[CAROL],
        ),
        fail(
            "BF-CIS5-009",
            "50 days idle",
            |s| {
                edit(s, ResourceType::Users, CAROL, "/lastLogin", json!(ago(50)));
            },
            &[CAROL],
        ),
        other(
            "BF-CIS5-009",
            "40 days idle is within 45",
            |s| {
                edit(s, ResourceType::Users, CAROL, "/lastLogin", json!(ago(40)));
            },
            Pass,
            &[],
        ),
        fail(
            "BF-CIS5-010",
            "activated 60 days ago, never signed in",
            |s| {
                let mut new = user("00uNeverUsed", "erin@example.com", "ACTIVE", None);
                set(&mut new, "/activated", json!(ago(60)));
                push(s, ResourceType::Users, new);
                let mut fresh = user("00uNewHire", "frank@example.com", "ACTIVE", None);
                set(&mut fresh, "/activated", json!(ago(3)));
                push(s, ResourceType::Users, fresh);
            },
            &["00uNeverUsed"],
        ),
        fail(
            "BF-CIS5-011",
            "staged for 60 days",
            |s| {
                let mut staged = user("00uStaged", "gina@example.com", "STAGED", None);
                set(&mut staged, "/statusChanged", json!(ago(60)));
                push(s, ResourceType::Users, staged);
            },
            &["00uStaged"],
        ),
        fail(
            "BF-CIS5-012",
            "password expired 60 days ago",
            |s| {
                edit(
                    s,
                    ResourceType::Users,
                    CAROL,
                    "/status",
                    json!("PASSWORD_EXPIRED"),
                );
                edit(
                    s,
                    ResourceType::Users,
                    CAROL,
                    "/statusChanged",
                    json!(ago(60)),
                );
            },
            &[CAROL],
        ),
        fail(
            "BF-CIS5-013",
            "locked out for 45 days",
            |s| {
                edit(
                    s,
                    ResourceType::Users,
                    CAROL,
                    "/status",
                    json!("LOCKED_OUT"),
                );
                edit(
                    s,
                    ResourceType::Users,
                    CAROL,
                    "/statusChanged",
                    json!(ago(45)),
                );
            },
            &[CAROL],
        ),
        other(
            "BF-CIS5-013",
            "locked out yesterday",
            |s| {
                edit(
                    s,
                    ResourceType::Users,
                    CAROL,
                    "/status",
                    json!("LOCKED_OUT"),
                );
                edit(
                    s,
                    ResourceType::Users,
                    CAROL,
                    "/statusChanged",
                    json!(ago(1)),
                );
            },
            Pass,
            &[],
        ),
        fail(
            "BF-CIS5-014",
            "suspended user keeps apps",
            |s| {
                edit(s, ResourceType::Users, CAROL, "/status", json!("SUSPENDED"));
            },
            &[
                "0oaDashboard/00uCarol",
                "0oaPortalOidc/00uCarol",
                "0oaPayrollSaml/00uCarol",
                "0oaLegacyCrmSwa/00uCarol",
            ],
        ),
        fail(
            "BF-CIS5-014",
            "deprovisioned user known only from the assignment",
            |s| {
                let mut assignment = app_user(OIDC_APP, "00uLeaver", "USER");
                set(
                    &mut assignment,
                    "/user/_embedded/user",
                    json!({"id": "00uLeaver", "status": "DEPROVISIONED"}),
                );
                push(s, ResourceType::AppUserAssignments, assignment);
            },
            &["0oaPortalOidc/00uLeaver"],
        ),
        other(
            "BF-CIS5-014",
            "assignment to an unknown user",
            |s| {
                push(
                    s,
                    ResourceType::AppUserAssignments,
                    app_user(OIDC_APP, "00uUnknown", "USER"),
                );
            },
            Error,
            &["0oaPortalOidc/00uUnknown"],
        ),
        // CIS 5: privileges
        fail(
            "BF-CIS5-015",
            "a single super admin",
            |s| {
                s.resources.insert(ResourceType::GroupRoles, Vec::new());
            },
            &[ALICE_ADMIN],
        ),
        fail(
            "BF-CIS5-015",
            "four super admins",
            |s| {
                push(
                    s,
                    ResourceType::GroupMembers,
                    json!({"groupId": ADMINS, "userId": CAROL}),
                );
                push(
                    s,
                    ResourceType::GroupMembers,
                    json!({"groupId": ADMINS, "userId": SVC_BACKUP}),
                );
            },
            &[ALICE_ADMIN, BOB_ADMIN, CAROL, SVC_BACKUP],
        ),
        fail(
            "BF-CIS5-016",
            "admin uses a business app",
            |s| {
                push(
                    s,
                    ResourceType::AppUserAssignments,
                    app_user(OIDC_APP, ALICE_ADMIN, "USER"),
                );
            },
            &[ALICE_ADMIN],
        ),
        fail(
            "BF-CIS5-017",
            "token owned by a super admin",
            |s| {
                edit(
                    s,
                    ResourceType::ApiTokens,
                    API_TOKEN,
                    "/userId",
                    json!(ALICE_ADMIN),
                );
            },
            &[API_TOKEN],
        ),
        other(
            "BF-CIS5-017",
            "no tokens",
            |s| {
                s.resources.insert(ResourceType::ApiTokens, Vec::new());
            },
            NotApplicable,
            &[],
        ),
        fail(
            "BF-CIS5-018",
            "unlabelled service accounts",
            |s| {
                edit(
                    s,
                    ResourceType::Users,
                    SVC_BACKUP,
                    "/profile/userType",
                    json!(null),
                );
                push(
                    s,
                    ResourceType::Users,
                    user("00uEtlBot", "etl-bot@example.com", "ACTIVE", Some(ago(1))),
                );
                push(
                    s,
                    ResourceType::Users,
                    user("00uApiary", "apiary@example.com", "ACTIVE", Some(ago(1))),
                );
            },
            &[SVC_BACKUP, "00uEtlBot"],
        ),
        fail(
            "BF-CIS5-018",
            "token owners known without the naming convention",
            |s| {
                edit(
                    s,
                    ResourceType::Users,
                    SVC_BACKUP,
                    "/profile/login",
                    json!("backup@example.com"),
                );
                edit(
                    s,
                    ResourceType::Users,
                    SVC_BACKUP,
                    "/profile/userType",
                    json!("Employee"),
                );
            },
            &[SVC_BACKUP],
        ),
    ]
}
