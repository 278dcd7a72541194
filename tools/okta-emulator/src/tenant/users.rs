//! Users: every lifecycle status, realistic profiles and timelines, credentials without secrets.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::names::{DEPARTMENTS, FIRST_NAMES, LAST_NAMES};
use super::{link, random_instant, stamp};
use crate::prng::SplitMix64;

/// Every Okta user status with its share of a generated org. Users 1–8 take one status each in this
/// order, so any org of nine or more users has them all; the rest are drawn by weight.
const STATUSES: [(&str, u64); 8] = [
    ("ACTIVE", 70),
    ("STAGED", 4),
    ("PROVISIONED", 4),
    ("RECOVERY", 3),
    ("LOCKED_OUT", 3),
    ("PASSWORD_EXPIRED", 4),
    ("SUSPENDED", 4),
    ("DEPROVISIONED", 8),
];

/// Credential providers (`type`, `name`) and their weights: Okta-mastered, AD-sourced, federated.
const PROVIDERS: [(&str, &str, u64); 3] = [
    ("OKTA", "OKTA", 85),
    ("ACTIVE_DIRECTORY", "corp.example.com", 10),
    ("FEDERATION", "FEDERATION", 5),
];

const RECOVERY_QUESTIONS: &[&str] = &[
    "What is the food you least liked as a child?",
    "What was the name of your first stuffed animal?",
    "Where did you go for your first vacation?",
];

pub(super) fn generate(rng: &mut SplitMix64, count: usize, user_type_id: &str) -> Vec<Value> {
    let status_weights: Vec<u64> = STATUSES.iter().map(|s| s.1).collect();
    let provider_weights: Vec<u64> = PROVIDERS.iter().map(|p| p.2).collect();
    let mut logins = HashSet::new();
    (0..count)
        .map(|i| {
            let admin = i == 0;
            let (first, last) = if admin {
                ("Avery", "Admin")
            } else {
                (*rng.pick(FIRST_NAMES), *rng.pick(LAST_NAMES))
            };
            let status = match i {
                0 => "ACTIVE",
                i if i <= STATUSES.len() => STATUSES[i - 1].0,
                _ => STATUSES[rng.weighted(&status_weights)].0,
            };
            let provider = if admin {
                PROVIDERS[0]
            } else {
                PROVIDERS[rng.weighted(&provider_weights)]
            };
            let mut login = format!(
                "{}.{}@example.com",
                first.to_lowercase(),
                last.to_lowercase()
            );
            if !logins.insert(login.clone()) {
                login = format!(
                    "{}.{}{i}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase()
                );
                logins.insert(login.clone());
            }
            let (department, titles) = if admin {
                ("IT", &["Okta Super Administrator"][..])
            } else {
                *rng.pick(DEPARTMENTS)
            };
            let profile = json!({
                "firstName": first,
                "lastName": last,
                "displayName": format!("{first} {last}"),
                "login": login,
                "email": login,
                "secondEmail": null,
                "mobilePhone": if rng.chance(70) {
                    json!(format!("+1-555-{:03}-{:04}", rng.below(1000), rng.below(10_000)))
                } else {
                    Value::Null
                },
                "title": *rng.pick(titles),
                "department": department,
                "organization": "Example Corp",
                "userType": if rng.chance(85) { "Employee" } else { "Contractor" },
                "employeeNumber": format!("{:05}", 1000 + i),
                "preferredLanguage": "en-US",
            });
            let id = rng.okta_id("00u");
            let mut user = json!({
                "id": id,
                "status": status,
                "type": { "id": user_type_id },
                "profile": profile,
                "credentials": credentials(rng, status, provider),
                "_links": { "self": link(&format!("/api/v1/users/{id}")) },
            });
            timeline(rng, status, &mut user);
            user
        })
        .collect()
}

/// What Okta shows of a user's credentials: the provider, that a password exists (as `{}`, never its
/// value) and the recovery question (never the answer).
fn credentials(rng: &mut SplitMix64, status: &str, (kind, name, _): (&str, &str, u64)) -> Value {
    let mut credentials = json!({ "provider": { "type": kind, "name": name } });
    let has_password = kind != "FEDERATION" && !matches!(status, "STAGED" | "PROVISIONED");
    if has_password {
        credentials["password"] = json!({});
        if kind == "OKTA" && rng.chance(30) {
            credentials["recovery_question"] = json!({ "question": *rng.pick(RECOVERY_QUESTIONS) });
        }
    }
    credentials
}

/// Fills `created`, `activated`, `statusChanged`, `lastLogin`, `passwordChanged` and `lastUpdated`
/// in an order that is consistent with the status: a STAGED user was never activated, a PROVISIONED
/// user never signed in, and a status change comes after the last sign-in that preceded it.
fn timeline(rng: &mut SplitMix64, status: &str, user: &mut Value) {
    let created = random_instant(rng, 400);
    let activated = created + (1 + rng.below(3600) as i64) * 1000;
    let password_set = activated + random_instant(rng, 30);
    let last_login = password_set + random_instant(rng, 200);
    let status_changed = last_login + random_instant(rng, 60);
    let signed_in = rng.chance(90);

    let (activated, status_changed, last_login, password_changed) = match status {
        "STAGED" => (None, None, None, None),
        "PROVISIONED" => (Some(activated), Some(activated), None, None),
        "ACTIVE" => (
            Some(activated),
            Some(activated),
            signed_in.then_some(last_login),
            Some(password_set),
        ),
        // Every other status is a transition after the user had been active for a while.
        _ => (
            Some(activated),
            Some(status_changed),
            signed_in.then_some(last_login),
            Some(password_set),
        ),
    };
    let latest = [
        Some(created),
        activated,
        status_changed,
        last_login,
        password_changed,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(created);
    let last_updated = latest + random_instant(rng, 2) + rng.below(1000) as i64;

    let opt = |ms: Option<i64>| ms.map_or(Value::Null, |ms| Value::String(stamp(ms)));
    user["created"] = json!(stamp(created));
    user["activated"] = opt(activated);
    user["statusChanged"] = opt(status_changed);
    user["lastLogin"] = opt(last_login);
    user["lastUpdated"] = json!(stamp(last_updated));
    user["passwordChanged"] = opt(password_changed);
}
