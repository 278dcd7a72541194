//! A compliant, Okta-shaped tenant and helpers to break it.
//!
//! Object shapes and field names follow the examples of Okta's management API spec
//! (github.com/okta/okta-management-openapi-spec, Apache-2.0); values are invented for the tests.

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use serde_json::{json, Value};

use crate::compliance::EvalContext;
use crate::tenant::{ResourceType, TenantSnapshot};

pub const ALICE_ADMIN: &str = "00uAliceAdmin";
pub const BOB_ADMIN: &str = "00uBobAdmin";
pub const CAROL: &str = "00uCarol";
pub const SVC_BACKUP: &str = "00uSvcBackup";
pub const GONE: &str = "00uGone";

pub const EVERYONE: &str = "00gEveryone";
pub const ADMINS: &str = "00gAdmins";
pub const ENGINEERING: &str = "00gEngineering";

pub const ADMIN_CONSOLE: &str = "0oaAdminConsole";
pub const DASHBOARD: &str = "0oaDashboard";
pub const SAML_APP: &str = "0oaPayrollSaml";
pub const OIDC_APP: &str = "0oaPortalOidc";
pub const SWA_APP: &str = "0oaLegacyCrmSwa";

pub const PASSWORD_POLICY: &str = "00pPasswordDefault";
pub const AD_PASSWORD_POLICY: &str = "00pPasswordAd";
pub const SESSION_POLICY: &str = "00pGlobalSession";
pub const MFA_ENROLL_POLICY: &str = "00pMfaEnroll";
pub const ADMIN_CONSOLE_POLICY: &str = "rstAdminConsole";
pub const DASHBOARD_POLICY: &str = "rstDashboard";
pub const DEVICE_POLICY: &str = "rstManagedDevices";

pub const SESSION_RULE: &str = "0prSessionStrict";
pub const SESSION_DEFAULT_RULE: &str = "0prSessionDefault";
pub const PASSWORD_RULE: &str = "0prPasswordDefault";
pub const ADMIN_RULE: &str = "0prAdminPhishingResistant";
pub const ADMIN_CATCH_ALL: &str = "0prAdminCatchAll";
pub const DASHBOARD_RULE: &str = "0prDashboardPhishingResistant";
pub const DEVICE_RULE: &str = "0prManagedDevices";

pub const CORP_ZONE: &str = "nzoCorpHq";
pub const ENHANCED_ZONE: &str = "nzoEnhancedDynamic";
pub const WEBAUTHN: &str = "autWebAuthn";
pub const PHONE: &str = "autPhone";
pub const API_TOKEN: &str = "00TSvcBackup";
pub const IDP: &str = "0oaIdpPartner";

/// The evaluation time of every test.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

pub fn ctx() -> EvalContext {
    EvalContext::at(now())
}

/// An Okta timestamp `days` before [`now`].
pub fn ago(days: i64) -> String {
    (now() - Duration::days(days)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A tenant that passes every check.
pub fn baseline() -> TenantSnapshot {
    let mut s = TenantSnapshot::default();
    let mut put = |name: ResourceType, items: Vec<Value>| {
        s.resources.insert(name, items);
    };
    put(ResourceType::Users, users());
    put(ResourceType::Groups, groups());
    put(
        ResourceType::GroupMembers,
        vec![
            json!({"groupId": ADMINS, "userId": BOB_ADMIN}),
            json!({"groupId": ENGINEERING, "userId": CAROL}),
        ],
    );
    put(
        ResourceType::UserRoles,
        vec![json!({"userId": ALICE_ADMIN, "role": role("ra1SuperAlice", "SUPER_ADMIN", "USER")})],
    );
    put(
        ResourceType::GroupRoles,
        vec![json!({"groupId": ADMINS, "role": role("gra1SuperAdmins", "SUPER_ADMIN", "GROUP")})],
    );
    put(ResourceType::Apps, apps());
    put(ResourceType::AppUserAssignments, app_users());
    put(
        ResourceType::AppGroupAssignments,
        vec![
            app_group(SAML_APP, ENGINEERING),
            app_group(SWA_APP, ENGINEERING),
            app_group(DASHBOARD, EVERYONE),
            app_group(ADMIN_CONSOLE, ADMINS),
        ],
    );
    put(ResourceType::Policies, policies());
    put(ResourceType::PolicyRules, policy_rules());
    put(ResourceType::Authenticators, authenticators());
    put(ResourceType::NetworkZones, zones());
    put(
        ResourceType::ThreatInsight,
        vec![json!({
            "action": "block",
            "excludeZones": [CORP_ZONE],
            "created": "2020-08-05T22:18:30.629Z",
            "lastUpdated": "2024-09-08T20:53:20.882Z"
        })],
    );
    put(
        ResourceType::ApiTokens,
        vec![json!({
            "id": API_TOKEN,
            "name": "backup-service",
            "userId": SVC_BACKUP,
            "clientName": "Okta API",
            "tokenWindow": "P30D",
            "network": {"connection": "ZONE", "include": [CORP_ZONE]},
            "created": "2024-11-09T20:38:10.000Z",
            "expiresAt": "2025-07-01T20:38:10.000Z"
        })],
    );
    put(
        ResourceType::Idps,
        vec![json!({
            "id": IDP,
            "type": "SAML2",
            "name": "Partner SAML",
            "status": "ACTIVE",
            "protocol": {"type": "SAML2"},
            "created": "2023-02-07T20:07:47.000Z"
        })],
    );
    s
}

pub fn user(id: &str, login: &str, status: &str, last_login: Option<String>) -> Value {
    json!({
        "id": id,
        "status": status,
        "created": ago(400),
        "activated": ago(400),
        "statusChanged": ago(400),
        "lastLogin": last_login,
        "lastUpdated": ago(10),
        "passwordChanged": ago(60),
        "type": {"id": "oty2di92xFgQTiKEJ1d6"},
        "profile": {"login": login, "email": login, "firstName": "Test", "lastName": "User",
                    "userType": "Employee"},
        "credentials": {"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}}
    })
}

fn users() -> Vec<Value> {
    let mut svc = user(SVC_BACKUP, "svc-backup@example.com", "ACTIVE", Some(ago(1)));
    set(&mut svc, "/profile/userType", json!("service"));
    vec![
        user(
            ALICE_ADMIN,
            "alice.admin@example.com",
            "ACTIVE",
            Some(ago(1)),
        ),
        user(BOB_ADMIN, "bob.admin@example.com", "ACTIVE", Some(ago(3))),
        user(CAROL, "carol@example.com", "ACTIVE", Some(ago(2))),
        svc,
        user(GONE, "dave@example.com", "DEPROVISIONED", Some(ago(400))),
    ]
}

fn groups() -> Vec<Value> {
    let group = |id: &str, kind: &str, name: &str| {
        json!({
            "id": id,
            "created": "2015-02-06T10:11:28.000Z",
            "objectClass": ["okta:user_group"],
            "type": kind,
            "profile": {"name": name, "description": name}
        })
    };
    vec![
        group(EVERYONE, "BUILT_IN", "Everyone"),
        group(ADMINS, "OKTA_GROUP", "Okta Admins"),
        group(ENGINEERING, "OKTA_GROUP", "Engineering"),
    ]
}

fn role(id: &str, kind: &str, assignment: &str) -> Value {
    json!({
        "id": id,
        "label": "Super Administrator",
        "type": kind,
        "status": "ACTIVE",
        "created": "2019-02-06T16:17:40.000Z",
        "assignmentType": assignment
    })
}

fn apps() -> Vec<Value> {
    let app = |id: &str, name: &str, label: &str, mode: &str| {
        json!({
            "id": id,
            "name": name,
            "label": label,
            "status": "ACTIVE",
            "signOnMode": mode,
            "created": "2016-08-09T20:12:19.000Z",
            "credentials": {"userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"}},
            "settings": {"app": {}},
            "_links": {}
        })
    };
    let policy_link = |policy: &str| json!({"href": format!("https://example.okta.com/api/v1/policies/{policy}")});
    let mut admin = app(
        ADMIN_CONSOLE,
        "saasure",
        "Okta Admin Console",
        "OPENID_CONNECT",
    );
    set(
        &mut admin,
        "/_links/accessPolicy",
        policy_link(ADMIN_CONSOLE_POLICY),
    );
    let mut dashboard = app(
        DASHBOARD,
        "okta_enduser",
        "Okta Dashboard",
        "OPENID_CONNECT",
    );
    set(
        &mut dashboard,
        "/_links/accessPolicy",
        policy_link(DASHBOARD_POLICY),
    );
    let mut saml = app(SAML_APP, "payroll_saml", "Payroll", "SAML_2_0");
    set(
        &mut saml,
        "/settings/signOn",
        json!({
            "ssoAcsUrl": "https://payroll.example.com/sso",
            "audience": "https://payroll.example.com",
            "responseSigned": true,
            "assertionSigned": true,
            "signatureAlgorithm": "RSA_SHA256",
            "digestAlgorithm": "SHA256"
        }),
    );
    let mut oidc = app(OIDC_APP, "oidc_client", "Internal portal", "OPENID_CONNECT");
    set(
        &mut oidc,
        "/settings/oauthClient",
        json!({
            "redirect_uris": ["https://portal.example.com/oauth2/callback"],
            "response_types": ["code"],
            "grant_types": ["authorization_code", "refresh_token"],
            "application_type": "web"
        }),
    );
    let mut swa = app(SWA_APP, "template_swa", "Legacy CRM", "BROWSER_PLUGIN");
    set(
        &mut swa,
        "/credentials/scheme",
        json!("EDIT_USERNAME_AND_PASSWORD"),
    );
    vec![admin, dashboard, saml, oidc, swa]
}

pub fn app_user(app: &str, user: &str, scope: &str) -> Value {
    json!({
        "appId": app,
        "user": {
            "id": user,
            "scope": scope,
            "status": "PROVISIONED",
            "syncState": "SYNCHRONIZED",
            "created": "2024-01-31T18:25:01.000Z",
            "credentials": {"userName": format!("{user}@example.com")}
        }
    })
}

fn app_users() -> Vec<Value> {
    vec![
        app_user(ADMIN_CONSOLE, ALICE_ADMIN, "USER"),
        app_user(ADMIN_CONSOLE, BOB_ADMIN, "GROUP"),
        app_user(DASHBOARD, CAROL, "GROUP"),
        app_user(OIDC_APP, CAROL, "USER"),
        app_user(SAML_APP, CAROL, "GROUP"),
        app_user(SWA_APP, CAROL, "GROUP"),
    ]
}

pub fn app_group(app: &str, group: &str) -> Value {
    json!({
        "appId": app,
        "group": {"id": group, "priority": 0, "lastUpdated": "2024-06-02T13:17:57.000Z",
                  "profile": {}}
    })
}

pub fn policy(id: &str, kind: &str, name: &str, priority: i64) -> Value {
    json!({
        "type": kind,
        "id": id,
        "status": "ACTIVE",
        "name": name,
        "priority": priority,
        "system": false,
        "conditions": {"people": {"groups": {"include": [EVERYONE]}}},
        "created": "2024-04-25T17:35:02.000Z"
    })
}

fn policies() -> Vec<Value> {
    let mut password = policy(PASSWORD_POLICY, "PASSWORD", "Default Policy", 1);
    set(&mut password, "/system", json!(true));
    set(
        &mut password,
        "/conditions/authProvider",
        json!({"provider": "OKTA"}),
    );
    set(
        &mut password,
        "/settings",
        json!({
            "password": {
                "complexity": {
                    "minLength": 15, "minLowerCase": 1, "minUpperCase": 1, "minNumber": 1,
                    "minSymbol": 1, "excludeUsername": true,
                    "dictionary": {"common": {"exclude": true}}, "excludeAttributes": []
                },
                "age": {"maxAgeDays": 90, "expireWarnDays": 7, "minAgeMinutes": 1440,
                        "historyCount": 5},
                "lockout": {"maxAttempts": 5, "autoUnlockMinutes": 0,
                            "userLockoutNotificationChannels": [], "showLockoutFailures": false}
            },
            "recovery": {"factors": {
                "recovery_question": {"status": "INACTIVE"},
                "okta_email": {"status": "ACTIVE",
                               "properties": {"recoveryToken": {"tokenLifetimeMinutes": 60}}},
                "okta_sms": {"status": "INACTIVE"},
                "okta_call": {"status": "INACTIVE"}
            }},
            "delegation": {"options": {"skipUnlock": false}}
        }),
    );
    // Mastered by Active Directory: its weak settings are enforced by AD, not Okta.
    let mut ad = policy(AD_PASSWORD_POLICY, "PASSWORD", "AD users", 2);
    set(
        &mut ad,
        "/conditions/authProvider",
        json!({"provider": "ACTIVE_DIRECTORY"}),
    );
    set(
        &mut ad,
        "/settings/password",
        json!({"complexity": {"minLength": 8}, "age": {"historyCount": 0},
               "lockout": {"maxAttempts": 0}}),
    );
    let mut session = policy(SESSION_POLICY, "OKTA_SIGN_ON", "Default Policy", 1);
    set(&mut session, "/system", json!(true));
    let mut enroll = policy(MFA_ENROLL_POLICY, "MFA_ENROLL", "Default Policy", 1);
    set(
        &mut enroll,
        "/settings",
        json!({"type": "AUTHENTICATORS", "authenticators": [
            {"key": "okta_email", "enroll": {"self": "NOT_ALLOWED"}},
            {"key": "okta_verify", "enroll": {"self": "REQUIRED"}},
            {"key": "webauthn", "enroll": {"self": "OPTIONAL"}},
            {"key": "okta_password", "enroll": {"self": "REQUIRED"}}
        ]}),
    );
    let access = |id: &str, name: &str| {
        let mut p = policy(id, "ACCESS_POLICY", name, 1);
        set(&mut p, "/conditions", Value::Null);
        p
    };
    vec![
        password,
        ad,
        session,
        enroll,
        access(ADMIN_CONSOLE_POLICY, "Okta Admin Console"),
        access(DASHBOARD_POLICY, "Okta Dashboard"),
        access(DEVICE_POLICY, "Managed devices"),
    ]
}

pub fn rule(policy: &str, id: &str, kind: &str, priority: i64, actions: Value) -> Value {
    json!({
        "policyId": policy,
        "rule": {
            "id": id,
            "status": "ACTIVE",
            "name": id,
            "priority": priority,
            "system": false,
            "type": kind,
            "conditions": {"people": {"users": {"exclude": []}},
                           "network": {"connection": "ANYWHERE"}},
            "actions": actions
        }
    })
}

pub fn sign_on(access: &str, idle: i64, lifetime: i64, persistent: bool) -> Value {
    json!({"signon": {
        "access": access,
        "requireFactor": true,
        "factorPromptMode": "ALWAYS",
        "primaryFactor": "PASSWORD_IDP_ANY_FACTOR",
        "session": {"maxSessionIdleMinutes": idle, "maxSessionLifetimeMinutes": lifetime,
                    "usePersistentCookie": persistent}
    }})
}

/// An allow action requiring two factors, one of them phishing resistant.
pub fn phishing_resistant_2fa() -> Value {
    json!({"appSignOn": {"access": "ALLOW", "verificationMethod": {
        "type": "ASSURANCE",
        "factorMode": "2FA",
        "reauthenticateIn": "PT2H",
        "constraints": [{"possession": {"phishingResistant": "REQUIRED", "userPresence": "REQUIRED"}}]
    }}})
}

fn policy_rules() -> Vec<Value> {
    let mut device_rule = rule(
        DEVICE_POLICY,
        DEVICE_RULE,
        "ACCESS_POLICY",
        0,
        phishing_resistant_2fa(),
    );
    set(
        &mut device_rule,
        "/rule/conditions/device",
        json!({"registered": true, "managed": true, "assurance": {"include": ["dae1CompliantLaptops"]}}),
    );
    let mut default_session = rule(
        SESSION_POLICY,
        SESSION_DEFAULT_RULE,
        "SIGN_ON",
        99,
        sign_on("ALLOW", 15, 720, false),
    );
    set(&mut default_session, "/rule/system", json!(true));
    vec![
        rule(
            SESSION_POLICY,
            SESSION_RULE,
            "SIGN_ON",
            1,
            sign_on("ALLOW", 15, 1080, false),
        ),
        // DENY rules grant no session, so their session settings are irrelevant.
        rule(
            SESSION_POLICY,
            "0prSessionDeny",
            "SIGN_ON",
            2,
            sign_on("DENY", 720, 0, true),
        ),
        default_session,
        rule(
            PASSWORD_POLICY,
            PASSWORD_RULE,
            "PASSWORD",
            1,
            json!({
                "passwordChange": {"access": "ALLOW"},
                "selfServicePasswordReset": {"access": "ALLOW", "requirement": {
                    "primary": {"methods": ["email", "push"]},
                    "stepUp": {"required": false}
                }},
                "selfServiceUnlock": {"access": "DENY"}
            }),
        ),
        rule(
            ADMIN_CONSOLE_POLICY,
            ADMIN_RULE,
            "ACCESS_POLICY",
            0,
            phishing_resistant_2fa(),
        ),
        rule(
            ADMIN_CONSOLE_POLICY,
            ADMIN_CATCH_ALL,
            "ACCESS_POLICY",
            99,
            phishing_resistant_2fa(),
        ),
        rule(
            DASHBOARD_POLICY,
            DASHBOARD_RULE,
            "ACCESS_POLICY",
            0,
            phishing_resistant_2fa(),
        ),
        rule(
            DASHBOARD_POLICY,
            "0prDashboardBlock",
            "ACCESS_POLICY",
            1,
            json!({"appSignOn": {"access": "DENY", "verificationMethod": {
                "type": "ASSURANCE", "factorMode": "1FA", "constraints": []}}}),
        ),
        device_rule,
    ]
}

fn authenticators() -> Vec<Value> {
    let authenticator = |id: &str, key: &str, kind: &str, status: &str| {
        json!({
            "type": kind,
            "id": id,
            "key": key,
            "status": status,
            "name": key,
            "created": "2020-07-26T21:05:23.000Z",
            "settings": {"allowedFor": "any"}
        })
    };
    vec![
        authenticator("autEmail", "okta_email", "email", "ACTIVE"),
        authenticator("autPassword", "okta_password", "password", "ACTIVE"),
        authenticator("autOktaVerify", "okta_verify", "app", "ACTIVE"),
        authenticator(WEBAUTHN, "webauthn", "security_key", "ACTIVE"),
        authenticator(PHONE, "phone_number", "phone", "INACTIVE"),
        authenticator(
            "autQuestion",
            "security_question",
            "security_question",
            "INACTIVE",
        ),
    ]
}

fn zones() -> Vec<Value> {
    vec![
        json!({"type": "IP", "id": "nzoLegacyIpZone", "name": "LegacyIpZone", "status": "ACTIVE",
               "usage": "POLICY", "system": true, "gateways": null, "proxies": null}),
        json!({"type": "IP", "id": "nzoBlockedIpZone", "name": "BlockedIpZone", "status": "ACTIVE",
               "usage": "BLOCKLIST", "system": true, "gateways": null, "proxies": null}),
        json!({"type": "IP", "id": CORP_ZONE, "name": "Corp HQ", "status": "ACTIVE",
               "usage": "POLICY", "system": false,
               "gateways": [{"type": "CIDR", "value": "203.0.113.0/24"}], "proxies": null}),
        json!({"type": "DYNAMIC_V2", "id": ENHANCED_ZONE, "name": "DefaultEnhancedDynamicZone",
               "status": "ACTIVE", "usage": "BLOCKLIST", "system": true,
               "locations": {"include": [], "exclude": []},
               "asns": {"include": [], "exclude": []},
               "ipServiceCategories": {"include": ["ALL_ANONYMIZERS"], "exclude": []}}),
    ]
}

/// Sets `pointer` in `target`: numeric segments index existing array elements, other
/// segments create intermediate objects (replacing non-objects).
pub fn set(target: &mut Value, pointer: &str, value: Value) {
    let mut node = target;
    for key in pointer.trim_start_matches('/').split('/') {
        node = match (node, key.parse::<usize>()) {
            (Value::Array(items), Ok(index)) => &mut items[index],
            (node, _) => {
                if !node.is_object() {
                    *node = json!({});
                }
                node.as_object_mut()
                    .expect("just made an object")
                    .entry(key)
                    .or_insert(Value::Null)
            }
        };
    }
    *node = value;
}

/// The object with `id` in `resource` (for `policy_rules`, the rule; for app user
/// assignments, matched by `appId/userId`).
pub fn find<'a>(s: &'a mut TenantSnapshot, resource: ResourceType, id: &str) -> &'a mut Value {
    let items = s.resources.get_mut(&resource).expect("resource in fixture");
    let position = items
        .iter()
        .position(|v| {
            v["id"] == id
                || v["rule"]["id"] == id
                || format!(
                    "{}/{}",
                    v["appId"].as_str().unwrap_or(""),
                    v["user"]["id"].as_str().unwrap_or("")
                ) == id
        })
        .unwrap_or_else(|| panic!("{id} not in {resource}"));
    let item = &mut items[position];
    if resource == ResourceType::PolicyRules {
        &mut item["rule"]
    } else {
        item
    }
}

/// Sets `pointer` on the object with `id` in `resource`.
pub fn edit(s: &mut TenantSnapshot, resource: ResourceType, id: &str, pointer: &str, value: Value) {
    set(find(s, resource, id), pointer, value);
}

pub fn push(s: &mut TenantSnapshot, resource: ResourceType, value: Value) {
    s.resources
        .get_mut(&resource)
        .expect("resource in fixture")
        .push(value);
}
