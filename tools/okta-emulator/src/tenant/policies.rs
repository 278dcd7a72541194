//! Policies of every type the spec lists. The five an admin shapes most (sign-on, password,
//! authenticator enrollment, app sign-in, user profile) are generated with custom and default
//! policies and prioritized rules; the other seven come from the spec's own examples.

use serde_json::{json, Value};

use super::groups::SeededGroup;
use super::{link_allowing, random_instant, stamp};
use crate::prng::SplitMix64;

pub(super) struct SeededPolicy {
    pub(super) policy: Value,
    pub(super) rules: Vec<Value>,
}

/// One policy type and how Okta names and numbers its objects.
struct Kind {
    policy_type: &'static str,
    rule_type: &'static str,
    /// Classic policies use `00p`/`0pr` ids; Identity Engine ones (`rst`/`rul`) differ.
    policy_prefix: &'static str,
    rule_prefix: &'static str,
    custom_name: &'static str,
    /// Priority of the system catch-all rule: Identity Engine policies pin it at 99, classic ones
    /// put the "Default Rule" right after the custom rules.
    catch_all_priority: Option<u64>,
}

const KINDS: [Kind; 5] = [
    Kind {
        policy_type: "OKTA_SIGN_ON",
        rule_type: "SIGN_ON",
        policy_prefix: "00p",
        rule_prefix: "0pr",
        custom_name: "Admin sign-on",
        catch_all_priority: None,
    },
    Kind {
        policy_type: "PASSWORD",
        rule_type: "PASSWORD",
        policy_prefix: "00p",
        rule_prefix: "0pr",
        custom_name: "Admin password policy",
        catch_all_priority: None,
    },
    Kind {
        policy_type: "MFA_ENROLL",
        rule_type: "MFA_ENROLL",
        policy_prefix: "00p",
        rule_prefix: "0pr",
        custom_name: "Admin authenticator enrollment",
        catch_all_priority: None,
    },
    Kind {
        policy_type: "ACCESS_POLICY",
        rule_type: "ACCESS_POLICY",
        policy_prefix: "rst",
        rule_prefix: "rul",
        custom_name: "High assurance apps",
        catch_all_priority: Some(99),
    },
    Kind {
        policy_type: "PROFILE_ENROLLMENT",
        rule_type: "PROFILE_ENROLLMENT",
        policy_prefix: "rst",
        rule_prefix: "rul",
        custom_name: "Partner self-registration",
        catch_all_priority: Some(99),
    },
];

/// Every `PolicyType` of the spec, in the order the tenant lists them.
pub const POLICY_TYPES: [&str; 12] = [
    "OKTA_SIGN_ON",
    "PASSWORD",
    "MFA_ENROLL",
    "ACCESS_POLICY",
    "PROFILE_ENROLLMENT",
    "IDP_DISCOVERY",
    "ENTITY_RISK",
    "POST_AUTH_SESSION",
    "DEVICE_SIGNAL_COLLECTION",
    "SESSION_VIOLATION_DETECTION",
    "CLIENT_UPDATE",
    "IDENTITY_CLAIM_SOURCING",
];

/// The policy types that come from the spec's examples (`data/policy_types.json`: the
/// `policy-<type>` and `policy-rules-<type>` examples with their placeholders made concrete and
/// their zone and IdP references pointing at the tenant's own). Where an example contradicts its
/// schema the schema wins: catch-all rules whose `conditions` may not be null omit it, and the
/// client update rule's `{}` (a nullable string in the schema) is null. Each org has exactly one
/// of most of them (the spec's `PolicyType` description), so one policy each.
pub(super) fn generate_from_examples(rng: &mut SplitMix64) -> Vec<SeededPolicy> {
    let Value::Array(templates) = serde_json::from_str(include_str!("data/policy_types.json"))
        .expect("embedded policy examples are valid JSON")
    else {
        panic!("embedded policy examples are not a list");
    };
    templates
        .into_iter()
        .map(|template| {
            // IdP discovery is a classic-engine policy (`00p`/`0pr` ids); the rest are Identity
            // Engine ones.
            let classic = template["policy"]["type"] == "IDP_DISCOVERY";
            let (policy_prefix, rule_prefix) = if classic {
                ("00p", "0pr")
            } else {
                ("rst", "rul")
            };
            let policy_id = rng.okta_id(policy_prefix);
            let rule_ids = [rng.okta_id(rule_prefix), rng.okta_id(rule_prefix)];
            let concrete = |value: &Value| {
                let text = value
                    .to_string()
                    .replace("@policy", &policy_id)
                    .replace("@rule1", &rule_ids[0])
                    .replace("@rule2", &rule_ids[1]);
                serde_json::from_str::<Value>(&text).expect("ids keep the JSON valid")
            };
            SeededPolicy {
                policy: concrete(&template["policy"]),
                rules: template["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(concrete)
                    .collect(),
            }
        })
        .collect()
}

/// For each type: a custom policy at priority 1 scoped to "IT Admins", then the system "Default
/// Policy" scoped to `Everyone`.
pub(super) fn generate(rng: &mut SplitMix64, groups: &[SeededGroup]) -> Vec<SeededPolicy> {
    let group_id = |i: usize| {
        groups
            .get(i)
            .or(groups.first())
            .and_then(|g| g.group["id"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let (everyone, admins) = (group_id(0), group_id(1));
    let mut policies = Vec::new();
    for kind in &KINDS {
        policies.push(policy(rng, kind, false, &admins));
        policies.push(policy(rng, kind, true, &everyone));
    }
    policies
}

fn policy(rng: &mut SplitMix64, kind: &Kind, system: bool, group_id: &str) -> SeededPolicy {
    let id = rng.okta_id(kind.policy_prefix);
    let created = random_instant(rng, if system { 1 } else { 200 });
    let path = format!("/api/v1/policies/{id}");
    let mut links = json!({
        "self": link_allowing(&path, if system { &["GET", "PUT"] } else { &["GET", "PUT", "DELETE"] }),
        "rules": link_allowing(&format!("{path}/rules"), &["GET", "POST"]),
    });
    if !system {
        links["deactivate"] = link_allowing(&format!("{path}/lifecycle/deactivate"), &["POST"]);
    }
    if matches!(kind.policy_type, "MFA_ENROLL" | "ACCESS_POLICY") {
        links["mappings"] = link_allowing(&format!("{path}/mappings"), &["GET", "POST"]);
    }
    let (name, description) = if system {
        (
            "Default Policy",
            "The default policy applies in all situations if no other policy applies.",
        )
    } else {
        (kind.custom_name, "Stricter settings for administrators.")
    };
    let mut policy = json!({
        "id": id,
        "type": kind.policy_type,
        "status": "ACTIVE",
        "name": name,
        "description": description,
        "priority": if system { 2 } else { 1 },
        "system": system,
        "conditions": policy_conditions(kind.policy_type, group_id),
        "created": stamp(created),
        "lastUpdated": stamp(created + random_instant(rng, 100)),
        "_links": links,
    });
    if let Some(settings) = policy_settings(kind.policy_type, system) {
        policy["settings"] = settings;
    }

    let custom_rules = if system { 1 } else { 2 };
    let mut rules: Vec<Value> = (1..=custom_rules)
        .map(|priority| rule(rng, kind, &path, priority, false, group_id))
        .collect();
    let catch_all = kind.catch_all_priority.unwrap_or(custom_rules + 1);
    rules.push(rule(rng, kind, &path, catch_all, true, group_id));
    SeededPolicy { policy, rules }
}

fn rule(
    rng: &mut SplitMix64,
    kind: &Kind,
    policy_path: &str,
    priority: u64,
    system: bool,
    group_id: &str,
) -> Value {
    let id = rng.okta_id(kind.rule_prefix);
    let path = format!("{policy_path}/rules/{id}");
    let created = random_instant(rng, 200);
    let name = match (system, kind.catch_all_priority) {
        (true, Some(_)) => "Catch-all Rule".to_owned(),
        (true, None) => "Default Rule".to_owned(),
        (false, _) => format!("Rule {priority}"),
    };
    let mut links = json!({
        "self": link_allowing(&path, if system { &["GET", "PUT"] } else { &["GET", "PUT", "DELETE"] }),
    });
    if !system {
        links["deactivate"] = link_allowing(&format!("{path}/lifecycle/deactivate"), &["POST"]);
    }
    let mut rule = json!({
        "id": id,
        "status": "ACTIVE",
        "name": name,
        "priority": priority,
        "created": stamp(created),
        "lastUpdated": stamp(created + random_instant(rng, 30)),
        "system": system,
        "actions": rule_actions(kind.policy_type, system),
        "_links": links,
        "type": kind.rule_type,
    });
    if let Some(conditions) = rule_conditions(kind.policy_type, system, group_id) {
        rule["conditions"] = conditions;
    }
    rule
}

/// Classic policies target groups; Identity Engine policies carry `conditions: null` and are bound
/// to apps or the org through policy mappings instead.
fn policy_conditions(policy_type: &str, group_id: &str) -> Value {
    let people = json!({ "groups": { "include": [group_id] } });
    match policy_type {
        "PASSWORD" => json!({ "people": people, "authProvider": { "provider": "OKTA" } }),
        "OKTA_SIGN_ON" | "MFA_ENROLL" => json!({ "people": people }),
        _ => Value::Null,
    }
}

fn policy_settings(policy_type: &str, system: bool) -> Option<Value> {
    match policy_type {
        "PASSWORD" => Some(json!({
            "password": {
                "complexity": {
                    "minLength": if system { 8 } else { 14 },
                    "minLowerCase": 1,
                    "minUpperCase": 1,
                    "minNumber": 1,
                    "minSymbol": if system { 0 } else { 1 },
                    "excludeUsername": true,
                    "dictionary": { "common": { "exclude": true } },
                    "excludeAttributes": [],
                },
                "age": {
                    "maxAgeDays": if system { 0 } else { 90 },
                    "expireWarnDays": 0,
                    "minAgeMinutes": 0,
                    "historyCount": 4,
                },
                "lockout": {
                    "maxAttempts": 10,
                    "autoUnlockMinutes": 0,
                    "userLockoutNotificationChannels": [],
                    "showLockoutFailures": false,
                },
            },
            "recovery": {
                "factors": {
                    "recovery_question": {
                        "status": "ACTIVE",
                        "properties": { "complexity": { "minLength": 4 } },
                    },
                    "okta_email": {
                        "status": "ACTIVE",
                        "properties": { "recoveryToken": { "tokenLifetimeMinutes": 10080 } },
                    },
                    "okta_sms": { "status": "INACTIVE" },
                    "okta_call": { "status": "INACTIVE" },
                },
            },
            "delegation": { "options": { "skipUnlock": false } },
        })),
        "MFA_ENROLL" => Some(json!({
            "type": "AUTHENTICATORS",
            "authenticators": [
                { "key": "okta_email", "enroll": { "self": "NOT_ALLOWED" } },
                { "key": "okta_verify", "enroll": { "self": if system { "OPTIONAL" } else { "REQUIRED" } } },
                { "key": "okta_password", "enroll": { "self": "REQUIRED" } },
                { "key": "webauthn", "enroll": { "self": "OPTIONAL" } },
            ],
        })),
        _ => None,
    }
}

/// Rule conditions; `None` where Okta's catch-all rule has none.
fn rule_conditions(policy_type: &str, system: bool, group_id: &str) -> Option<Value> {
    let anywhere = json!({ "connection": "ANYWHERE" });
    match policy_type {
        "OKTA_SIGN_ON" | "PASSWORD" | "MFA_ENROLL" => Some(json!({
            "people": { "users": { "exclude": [] } },
            "network": anywhere,
        })),
        "ACCESS_POLICY" if !system => Some(json!({
            "people": { "groups": { "include": [group_id] } },
            "network": anywhere,
            "riskScore": { "level": "ANY" },
        })),
        "PROFILE_ENROLLMENT" => Some(Value::Null),
        _ => None,
    }
}

fn rule_actions(policy_type: &str, system: bool) -> Value {
    match policy_type {
        "OKTA_SIGN_ON" => json!({
            "signon": {
                "access": "ALLOW",
                "requireFactor": !system,
                "factorPromptMode": "ALWAYS",
                "factorLifetime": 15,
                "primaryFactor": "PASSWORD_IDP_ANY_FACTOR",
                "rememberDeviceByDefault": false,
                "session": {
                    "maxSessionIdleMinutes": if system { 120 } else { 30 },
                    "maxSessionLifetimeMinutes": 0,
                    "usePersistentCookie": false,
                },
            },
        }),
        "PASSWORD" => json!({
            "passwordChange": { "access": "ALLOW" },
            "selfServicePasswordReset": {
                "access": "ALLOW",
                "requirement": {
                    "primary": { "methods": ["email"] },
                    "stepUp": { "required": false },
                },
            },
            "selfServiceUnlock": { "access": if system { "DENY" } else { "ALLOW" } },
        }),
        "MFA_ENROLL" => json!({ "enroll": { "self": if system { "CHALLENGE" } else { "LOGIN" } } }),
        "ACCESS_POLICY" => json!({
            "appSignOn": {
                "access": "ALLOW",
                "verificationMethod": {
                    "type": "ASSURANCE",
                    "factorMode": if system { "1FA" } else { "2FA" },
                    "reauthenticateIn": if system { "PT12H" } else { "PT2H" },
                    "constraints": [],
                },
            },
        }),
        _ => json!({
            "profileEnrollment": {
                "access": "ALLOW",
                "profileAttributes": [
                    { "name": "email", "label": "Email", "required": true },
                    { "name": "firstName", "label": "First name", "required": true },
                    { "name": "lastName", "label": "Last name", "required": true },
                ],
                "unknownUserAction": if system { "DENY" } else { "REGISTER" },
                "activationRequirements": { "emailVerification": true },
                "progressiveProfilingAction": "DISABLED",
            },
        }),
    }
}
