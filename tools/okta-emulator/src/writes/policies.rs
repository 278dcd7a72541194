//! Policies and their rules (developer.okta.com/docs/api/openapi/okta-management/management/tag/
//! Policy/): created one at a time, with Okta's priority reassignment.
//!
//! - a new policy or rule goes where its `priority` asks (last when it gives none) and the others
//!   of its type move down; priorities stay 1, 2, ... with the system default policy (and the
//!   system default rule) always last; an app sign-in policy's catch-all rule stays at 99, and a
//!   new app sign-in policy gets one;
//! - the read-only types (IDP_DISCOVERY, ENTITY_RISK, POST_AUTH_SESSION, SESSION_VIOLATION_DETECTION,
//!   CLIENT_UPDATE, IDENTITY_CLAIM_SOURCING) cannot be created or deleted, and user profile,
//!   session violation enforcement, client update and claims sourcing policies take no rules;
//! - system policies and rules can be changed but not deactivated or deleted (E0000111), and the
//!   IdP discovery default rule and the default authenticator enrollment rule not even changed.

use serde_json::{json, Value};

use super::{
    flag, link_allowing, object, required, str_of, writable, Env, Outcome, Write, SERVER_OWNED,
};
use crate::errors::ApiError;
use crate::syslog::{Emitted, Target};
use crate::tenant::{Collection, Tenant, POLICY_TYPES};

/// Properties of policies and rules that only Okta sets (`priority` is applied by
/// reprioritizing, not copied).
const POLICY_OWNED: &[&str] = &["status", "system", "priority"];

/// Types whose policies only Okta creates.
const READ_ONLY_TYPES: [&str; 6] = [
    "IDP_DISCOVERY",
    "ENTITY_RISK",
    "POST_AUTH_SESSION",
    "SESSION_VIOLATION_DETECTION",
    "CLIENT_UPDATE",
    "IDENTITY_CLAIM_SOURCING",
];

/// Types whose policies take no rules beyond the ones Okta gives them.
const NO_EXTRA_RULES: [&str; 5] = [
    "PROFILE_ENROLLMENT",
    "POST_AUTH_SESSION",
    "CLIENT_UPDATE",
    "IDENTITY_CLAIM_SOURCING",
    "SESSION_VIOLATION_DETECTION",
];

/// Identity Engine policy types (`rst`/`rul` ids, catch-all rule at 99).
const IDENTITY_ENGINE: [&str; 8] = [
    "ACCESS_POLICY",
    "PROFILE_ENROLLMENT",
    "ENTITY_RISK",
    "POST_AUTH_SESSION",
    "DEVICE_SIGNAL_COLLECTION",
    "SESSION_VIOLATION_DETECTION",
    "CLIENT_UPDATE",
    "IDENTITY_CLAIM_SOURCING",
];

pub(super) fn route(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    rest: &[&str],
) -> Result<Option<Outcome>, ApiError> {
    Ok(Some(match (write.method, rest) {
        ("POST", []) => create(tenant, write, env)?,
        ("PUT", [id]) => update(tenant, write, env, id)?,
        ("DELETE", [id]) => delete(tenant, id)?,
        ("POST", [id, "lifecycle", op @ ("activate" | "deactivate")]) => {
            lifecycle(tenant, env, id, op)?
        }
        ("POST", [id, "rules"]) => create_rule(tenant, write, env, id)?,
        ("PUT", [id, "rules", rule]) => update_rule(tenant, write, env, id, rule)?,
        ("DELETE", [id, "rules", rule]) => delete_rule(tenant, id, rule)?,
        ("POST", [id, "rules", rule, "lifecycle", op @ ("activate" | "deactivate")]) => {
            rule_lifecycle(tenant, env, id, rule, op)?
        }
        _ => return Ok(None),
    }))
}

fn read_only(what: &str) -> ApiError {
    ApiError::custom(
        403,
        "E0000111",
        format!("Cannot modify the {what} object because it is read-only."),
    )
}

fn policy<'t>(tenant: &'t Tenant, id: &str) -> Result<&'t Value, ApiError> {
    tenant
        .policy(id)
        .ok_or_else(|| ApiError::not_found("Policy", id))
}

pub(super) fn policy_target(policy: &Value) -> Target {
    let mut target = Target::new(
        str_of(policy, "id"),
        "PolicyEntity",
        "unknown",
        str_of(policy, "name"),
    );
    target.detail_entry = Some(json!({ "policyType": str_of(policy, "type") }));
    target
}

pub(super) fn rule_target(policy: &Value, rule: &Value) -> Target {
    Target::new(
        str_of(rule, "id"),
        "PolicyRule",
        str_of(policy, "id"),
        str_of(rule, "name"),
    )
}

fn rule_type(policy_type: &str) -> &str {
    if policy_type == "OKTA_SIGN_ON" {
        "SIGN_ON"
    } else {
        policy_type
    }
}

fn is_system(item: &Value) -> bool {
    item["system"] == true
}

/// A requested `priority`, if the body has a usable one.
fn priority(body: &Value) -> Result<Option<u64>, ApiError> {
    match &body["priority"] {
        Value::Null => Ok(None),
        v => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::validation("priority", "priority: Must be a whole number")),
    }
}

/// Puts `id` at position `wanted` (1 first; 0 counts as 1; `None` or past the end: last) among
/// the items of one ordering (those `in_scope` selects), then renumbers them 1, 2, ... with the
/// system items last; with `fixed_catch_all` a system item keeps priority 99 instead.
fn reprioritize(
    items: &mut Collection,
    in_scope: impl Fn(&Value) -> bool,
    id: &str,
    wanted: Option<u64>,
    fixed_catch_all: bool,
) {
    let mut ordered: Vec<&Value> = items
        .items()
        .iter()
        .filter(|i| in_scope(i) && str_of(i, "id") != id)
        .collect();
    ordered.sort_by_key(|i| (is_system(i), i["priority"].as_u64().unwrap_or(u64::MAX)));
    let mut custom: Vec<String> = ordered
        .iter()
        .filter(|i| !is_system(i))
        .map(|i| str_of(i, "id").to_owned())
        .collect();
    let mut system: Vec<String> = ordered
        .iter()
        .filter(|i| is_system(i))
        .map(|i| str_of(i, "id").to_owned())
        .collect();
    if let Some(moving) = items.get(id) {
        if is_system(moving) {
            system.insert(0, id.to_owned());
        } else {
            let at = wanted.map_or(custom.len(), |p| {
                usize::try_from(p.max(1) - 1).map_or(custom.len(), |p| p.min(custom.len()))
            });
            custom.insert(at, id.to_owned());
        }
    }
    let mut next = 1;
    for item_id in custom.iter().chain(&system) {
        let Some(item) = items.get_mut(item_id) else {
            continue;
        };
        if fixed_catch_all && is_system(item) {
            item["priority"] = json!(99);
            continue;
        }
        item["priority"] = json!(next);
        next += 1;
    }
    items.sort_by_key(|i| {
        (
            i["type"].as_str().map(type_rank),
            is_system(i),
            i["priority"].as_u64(),
        )
    });
}

/// Where a policy type sits in the tenant's list (policies are grouped by type).
fn type_rank(policy_type: &str) -> usize {
    POLICY_TYPES
        .iter()
        .position(|t| *t == policy_type || rule_type(t) == policy_type)
        .unwrap_or(POLICY_TYPES.len())
}

fn links(policy_type: &str, id: &str, status: &str, system: bool) -> Value {
    let path = format!("/api/v1/policies/{id}");
    let methods: &[&str] = if system {
        &["GET", "PUT"]
    } else {
        &["GET", "PUT", "DELETE"]
    };
    let mut links = json!({
        "self": link_allowing(&path, methods),
        "rules": link_allowing(&format!("{path}/rules"), &["GET", "POST"]),
    });
    if !system {
        let op = if status == "ACTIVE" {
            "deactivate"
        } else {
            "activate"
        };
        links[op] = link_allowing(&format!("{path}/lifecycle/{op}"), &["POST"]);
    }
    if matches!(policy_type, "MFA_ENROLL" | "ACCESS_POLICY") {
        links["mappings"] = link_allowing(&format!("{path}/mappings"), &["GET", "POST"]);
    }
    links
}

fn rule_links(policy: &str, id: &str, status: &str, system: bool) -> Value {
    let path = format!("/api/v1/policies/{policy}/rules/{id}");
    let methods: &[&str] = if system {
        &["GET", "PUT"]
    } else {
        &["GET", "PUT", "DELETE"]
    };
    let mut links = json!({ "self": link_allowing(&path, methods) });
    if !system {
        let op = if status == "ACTIVE" {
            "deactivate"
        } else {
            "activate"
        };
        links[op] = link_allowing(&format!("{path}/lifecycle/{op}"), &["POST"]);
    }
    links
}

fn create(tenant: &mut Tenant, write: &Write, env: &mut Env) -> Result<Outcome, ApiError> {
    let body = Value::Object(object(write)?.clone());
    let kind = required(&body, "type")?.to_owned();
    if !tenant.has_policy_type(&kind) {
        return Err(ApiError::invalid_policy_type());
    }
    if READ_ONLY_TYPES.contains(&kind.as_str()) {
        return Err(ApiError::validation(
            "type",
            format!("type: Creating a policy of type {kind} is not supported"),
        ));
    }
    let name = required(&body, "name")?.to_owned();
    if tenant
        .policies()
        .iter()
        .any(|p| p["type"] == kind.as_str() && p["name"] == name.as_str())
    {
        return Err(ApiError::validation(
            "name",
            "name: A policy with this name already exists",
        ));
    }
    let wanted = priority(&body)?;
    let oie = IDENTITY_ENGINE.contains(&kind.as_str());
    let id = env.id(if oie { "rst" } else { "00p" });
    let now = env.now();
    let status = if flag(write.query, "activate", true) {
        "ACTIVE"
    } else {
        "INACTIVE"
    };
    let fields = writable(object(write)?, &[SERVER_OWNED, POLICY_OWNED].concat());
    let mut policy = Value::Object(fields);
    policy["id"] = json!(id);
    policy["status"] = json!(status);
    policy["system"] = json!(false);
    policy["priority"] = json!(wanted.unwrap_or(u64::MAX - 1));
    policy["created"] = json!(now);
    policy["lastUpdated"] = json!(now);
    if policy.get("conditions").is_none() {
        policy["conditions"] = Value::Null;
    }
    policy["_links"] = links(&kind, &id, status, false);
    check_authenticators(tenant, &policy)?;
    let mut rules = Vec::new();
    if kind == "ACCESS_POLICY" {
        // A new app sign-in policy comes with its catch-all rule at priority 99.
        let rule_id = env.id("rul");
        rules.push(json!({
            "id": rule_id,
            "status": "ACTIVE",
            "name": "Catch-all Rule",
            "priority": 99,
            "created": now,
            "lastUpdated": now,
            "system": true,
            "actions": { "appSignOn": { "access": "DENY", "verificationMethod": {
                "type": "ASSURANCE", "factorMode": "2FA", "reauthenticateIn": "PT2H", "constraints": [],
            } } },
            "_links": rule_links(&id, &rule_id, "ACTIVE", true),
            "type": "ACCESS_POLICY",
        }));
    }
    tenant.add_policy(policy, rules);
    let kind_for_scope = kind.clone();
    reprioritize(
        tenant.policies_mut(),
        |p| p["type"] == kind_for_scope.as_str(),
        &id,
        wanted,
        false,
    );
    let created = policy_of(tenant, &id);
    let mut events = vec![Emitted::new(
        "policy.lifecycle.create",
        vec![policy_target(&created)],
    )];
    if status == "ACTIVE" {
        events.push(Emitted::new(
            "policy.lifecycle.activate",
            vec![policy_target(&created)],
        ));
    }
    Ok(Outcome::ok(created, events))
}

/// An authenticator enrollment policy may not ask for an authenticator the org has but keeps
/// INACTIVE ("activate an authenticator before you use it in a policy"). Keys the org has no
/// authenticator for are not checked (the seeded enrollment policies name Okta Verify, which the
/// spec's authenticator examples do not include).
fn check_authenticators(tenant: &Tenant, policy: &Value) -> Result<(), ApiError> {
    if policy["type"] != "MFA_ENROLL" {
        return Ok(());
    }
    for wanted in policy["settings"]["authenticators"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = wanted["key"].as_str().unwrap_or_default();
        if wanted["enroll"]["self"] == "NOT_ALLOWED" {
            continue;
        }
        let inactive = tenant
            .settings()
            .authenticators
            .items()
            .iter()
            .any(|a| a["key"] == key && a["status"] != "ACTIVE");
        if inactive {
            return Err(ApiError::validation(
                "settings.authenticators",
                format!("settings.authenticators: The authenticator {key} is not active"),
            ));
        }
    }
    Ok(())
}

fn policy_of(tenant: &Tenant, id: &str) -> Value {
    tenant.policy(id).cloned().unwrap_or_default()
}

fn update(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
) -> Result<Outcome, ApiError> {
    let body = Value::Object(object(write)?.clone());
    let current = policy(tenant, id)?.clone();
    let kind = str_of(&current, "type").to_owned();
    if body.get("type").is_some_and(|t| *t != current["type"]) {
        return Err(ApiError::validation(
            "type",
            "type: The type of a policy cannot be changed",
        ));
    }
    let name = required(&body, "name")?.to_owned();
    if tenant
        .policies()
        .iter()
        .any(|p| p["type"] == kind.as_str() && p["name"] == name.as_str() && str_of(p, "id") != id)
    {
        return Err(ApiError::validation(
            "name",
            "name: A policy with this name already exists",
        ));
    }
    let wanted = if is_system(&current) {
        None
    } else {
        priority(&body)?
    };
    let mut next = current.clone();
    for (key, value) in writable(
        object(write)?,
        &[SERVER_OWNED, POLICY_OWNED, &["type"]].concat(),
    ) {
        next[key.as_str()] = value;
    }
    next["lastUpdated"] = json!(env.now());
    check_authenticators(tenant, &next)?;
    if let Some(p) = tenant.policies_mut().get_mut(id) {
        *p = next;
    }
    if wanted.is_some() {
        reprioritize(
            tenant.policies_mut(),
            |p| p["type"] == kind.as_str(),
            id,
            wanted,
            false,
        );
    }
    let updated = policy_of(tenant, id);
    Ok(Outcome::ok(
        updated.clone(),
        vec![Emitted::new(
            "policy.lifecycle.update",
            vec![policy_target(&updated)],
        )],
    ))
}

fn lifecycle(tenant: &mut Tenant, env: &mut Env, id: &str, op: &str) -> Result<Outcome, ApiError> {
    let current = policy(tenant, id)?.clone();
    if is_system(&current) {
        return Err(read_only("default policy"));
    }
    let status = if op == "activate" {
        "ACTIVE"
    } else {
        "INACTIVE"
    };
    let mut events = Vec::new();
    if current["status"] != status {
        let now = env.now();
        let kind = str_of(&current, "type").to_owned();
        if let Some(p) = tenant.policies_mut().get_mut(id) {
            p["status"] = json!(status);
            p["lastUpdated"] = json!(now);
            p["_links"] = links(&kind, id, status, false);
        }
        let event = if op == "activate" {
            "policy.lifecycle.activate"
        } else {
            "policy.lifecycle.deactivate"
        };
        events.push(Emitted::new(event, vec![policy_target(&current)]));
    }
    Ok(Outcome::empty(204, events))
}

fn delete(tenant: &mut Tenant, id: &str) -> Result<Outcome, ApiError> {
    let current = policy(tenant, id)?.clone();
    let kind = str_of(&current, "type").to_owned();
    if is_system(&current) || READ_ONLY_TYPES.contains(&kind.as_str()) {
        return Err(read_only("policy"));
    }
    tenant.delete_policy(id);
    reprioritize(
        tenant.policies_mut(),
        |p| p["type"] == kind.as_str(),
        "",
        None,
        false,
    );
    Ok(Outcome::empty(
        204,
        vec![Emitted::new(
            "policy.lifecycle.delete",
            vec![policy_target(&current)],
        )],
    ))
}

/// The rule Okta lets nobody change: IdP discovery's default routing rule and the default rule
/// of the default authenticator enrollment policy.
fn immutable_rule(policy: &Value, rule: &Value) -> bool {
    is_system(rule)
        && (policy["type"] == "IDP_DISCOVERY"
            || (policy["type"] == "MFA_ENROLL" && is_system(policy)))
}

fn rules<'t>(tenant: &'t mut Tenant, policy: &str) -> Result<&'t mut Collection, ApiError> {
    tenant
        .policy_rules_mut(policy)
        .ok_or_else(|| ApiError::not_found("Policy", policy))
}

fn create_rule(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
) -> Result<Outcome, ApiError> {
    let body = Value::Object(object(write)?.clone());
    let current = policy(tenant, id)?.clone();
    let kind = str_of(&current, "type").to_owned();
    if NO_EXTRA_RULES.contains(&kind.as_str()) {
        return Err(ApiError::validation(
            "policy",
            format!("policy: A {kind} policy doesn't support adding rules"),
        ));
    }
    let expected = rule_type(&kind);
    let given = body["type"].as_str().unwrap_or(expected);
    if given != expected {
        return Err(ApiError::validation(
            "type",
            format!("type: A {kind} policy takes {expected} rules, not {given}"),
        ));
    }
    let name = required(&body, "name")?.to_owned();
    let wanted = priority(&body)?;
    let oie = IDENTITY_ENGINE.contains(&kind.as_str());
    let rule_id = env.id(if oie { "rul" } else { "0pr" });
    let now = env.now();
    let status = if flag(write.query, "activate", true) {
        "ACTIVE"
    } else {
        "INACTIVE"
    };
    let mut rule = Value::Object(writable(
        object(write)?,
        &[SERVER_OWNED, POLICY_OWNED].concat(),
    ));
    rule["id"] = json!(rule_id);
    rule["name"] = json!(name);
    rule["status"] = json!(status);
    rule["system"] = json!(false);
    rule["priority"] = json!(wanted.unwrap_or(u64::MAX - 1));
    rule["created"] = json!(now);
    rule["lastUpdated"] = json!(now);
    rule["type"] = json!(expected);
    rule["_links"] = rule_links(id, &rule_id, status, false);
    let collection = rules(tenant, id)?;
    collection.insert(rule, None);
    reprioritize(collection, |_| true, &rule_id, wanted, oie);
    let created = collection.get(&rule_id).cloned().unwrap_or_default();
    let mut events = vec![Emitted::new(
        "policy.rule.add",
        vec![policy_target(&current), rule_target(&current, &created)],
    )];
    if status == "ACTIVE" {
        events.push(Emitted::new(
            "policy.rule.activate",
            vec![policy_target(&current), rule_target(&current, &created)],
        ));
    }
    Ok(Outcome::ok(created, events))
}

fn rule_of<'t>(tenant: &'t Tenant, policy: &str, rule: &str) -> Result<&'t Value, ApiError> {
    tenant
        .policy_rule(policy, rule)
        .ok_or_else(|| ApiError::not_found("PolicyRule", rule))
}

fn update_rule(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
    rule_id: &str,
) -> Result<Outcome, ApiError> {
    let body = Value::Object(object(write)?.clone());
    let current_policy = policy(tenant, id)?.clone();
    let current = rule_of(tenant, id, rule_id)?.clone();
    if immutable_rule(&current_policy, &current) {
        return Err(read_only("default rule"));
    }
    required(&body, "name")?;
    let oie = IDENTITY_ENGINE.contains(&str_of(&current_policy, "type"));
    let wanted = if is_system(&current) {
        None
    } else {
        priority(&body)?
    };
    let mut next = current.clone();
    for (key, value) in writable(
        object(write)?,
        &[SERVER_OWNED, POLICY_OWNED, &["type"]].concat(),
    ) {
        next[key.as_str()] = value;
    }
    next["lastUpdated"] = json!(env.now());
    let collection = rules(tenant, id)?;
    if let Some(r) = collection.get_mut(rule_id) {
        *r = next;
    }
    if wanted.is_some() {
        reprioritize(collection, |_| true, rule_id, wanted, oie);
    }
    let updated = collection.get(rule_id).cloned().unwrap_or_default();
    Ok(Outcome::ok(
        updated.clone(),
        vec![Emitted::new(
            "policy.rule.update",
            vec![
                policy_target(&current_policy),
                rule_target(&current_policy, &updated),
            ],
        )],
    ))
}

fn rule_lifecycle(
    tenant: &mut Tenant,
    env: &mut Env,
    id: &str,
    rule_id: &str,
    op: &str,
) -> Result<Outcome, ApiError> {
    let current_policy = policy(tenant, id)?.clone();
    let current = rule_of(tenant, id, rule_id)?.clone();
    if is_system(&current) {
        return Err(read_only("default rule"));
    }
    let status = if op == "activate" {
        "ACTIVE"
    } else {
        "INACTIVE"
    };
    let mut events = Vec::new();
    if current["status"] != status {
        let now = env.now();
        let collection = rules(tenant, id)?;
        if let Some(r) = collection.get_mut(rule_id) {
            r["status"] = json!(status);
            r["lastUpdated"] = json!(now);
            r["_links"] = rule_links(id, rule_id, status, false);
        }
        let event = if op == "activate" {
            "policy.rule.activate"
        } else {
            "policy.rule.deactivate"
        };
        events.push(Emitted::new(
            event,
            vec![
                policy_target(&current_policy),
                rule_target(&current_policy, &current),
            ],
        ));
    }
    Ok(Outcome::empty(204, events))
}

fn delete_rule(tenant: &mut Tenant, id: &str, rule_id: &str) -> Result<Outcome, ApiError> {
    let current_policy = policy(tenant, id)?.clone();
    let current = rule_of(tenant, id, rule_id)?.clone();
    if is_system(&current) {
        return Err(read_only("default rule"));
    }
    let oie = IDENTITY_ENGINE.contains(&str_of(&current_policy, "type"));
    let collection = rules(tenant, id)?;
    collection.remove(rule_id);
    reprioritize(collection, |_| true, "", None, oie);
    Ok(Outcome::empty(
        204,
        vec![Emitted::new(
            "policy.rule.delete",
            vec![
                policy_target(&current_policy),
                rule_target(&current_policy, &current),
            ],
        )],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(items: &Collection) -> Vec<(String, u64)> {
        items
            .items()
            .iter()
            .map(|i| (str_of(i, "id").to_owned(), i["priority"].as_u64().unwrap()))
            .collect()
    }

    #[test]
    fn priorities_are_reassigned_with_the_default_last() {
        let mut items = Collection::from_items(vec![
            json!({"id": "a", "priority": 1, "system": false}),
            json!({"id": "b", "priority": 2, "system": false}),
            json!({"id": "d", "priority": 3, "system": true}),
        ]);
        items.insert(json!({"id": "n", "priority": 1, "system": false}), None);
        reprioritize(&mut items, |_| true, "n", Some(1), false);
        assert_eq!(
            ids(&items),
            [
                ("n".into(), 1),
                ("a".into(), 2),
                ("b".into(), 3),
                ("d".into(), 4)
            ]
        );
        // No priority: last before the default; a catch-all stays at 99.
        items.insert(json!({"id": "z", "system": false}), None);
        reprioritize(&mut items, |_| true, "z", None, true);
        assert_eq!(
            ids(&items),
            [
                ("n".into(), 1),
                ("a".into(), 2),
                ("b".into(), 3),
                ("z".into(), 4),
                ("d".into(), 99)
            ]
        );
        // Asking for a priority past the end puts it last of the custom ones.
        reprioritize(&mut items, |_| true, "n", Some(50), true);
        assert_eq!(items.items()[3]["id"], "n");
    }
}
