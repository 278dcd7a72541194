//! Groups, memberships and group rules (developer.okta.com/docs/api/openapi/okta-management/
//! management/tag/Group/ and .../GroupRule/):
//!
//! - only OKTA_GROUP groups can be created, changed or deleted; `Everyone` (BUILT_IN) and
//!   imported APP_GROUP groups are read-only, and nobody is added to or removed from them by hand;
//! - a group rule is created INACTIVE, can be changed only while INACTIVE, and its actions (the
//!   groups it assigns to) never change; activating it adds the users its expression matches.
//!   Okta's event catalogue has no event for creating, changing or deleting a rule, only for
//!   triggering and deactivating one, so only those are logged.

use serde_json::{json, Value};

use super::{link, object, required, str_of, target, Env, Outcome, Write};
use crate::errors::ApiError;
use crate::syslog::Emitted;
use crate::tenant::Tenant;

pub(super) fn route(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    rest: &[&str],
) -> Result<Option<Outcome>, ApiError> {
    Ok(Some(match (write.method, rest) {
        ("POST", []) => create(tenant, write, env)?,
        ("PUT", [id]) => update(tenant, write, env, id)?,
        ("DELETE", [id]) => delete(tenant, env, id)?,
        ("PUT", [id, "users", user]) => membership(tenant, env, id, user, true)?,
        ("DELETE", [id, "users", user]) => membership(tenant, env, id, user, false)?,
        ("POST", [id, "roles"]) => super::roles::grant(tenant, write, env, "groups", id)?,
        ("DELETE", [id, "roles", role]) => super::roles::revoke(tenant, "groups", id, role)?,
        _ => return Ok(None),
    }))
}

fn read_only(group: &Value) -> ApiError {
    ApiError::custom(
        403,
        "E0000111",
        format!(
            "Cannot modify the {} object because it is read-only.",
            group["profile"]["name"].as_str().unwrap_or("group")
        ),
    )
}

fn okta_group<'t>(tenant: &'t Tenant, id: &str) -> Result<&'t Value, ApiError> {
    let group = tenant
        .group(id)
        .ok_or_else(|| ApiError::not_found("UserGroup", id))?;
    if group["type"] != "OKTA_GROUP" {
        return Err(read_only(group));
    }
    Ok(group)
}

fn name_taken(tenant: &Tenant, name: &str, except: Option<&str>) -> bool {
    tenant
        .groups()
        .iter()
        .any(|g| g["profile"]["name"] == name && Some(str_of(g, "id")) != except)
}

fn create(tenant: &mut Tenant, write: &Write, env: &mut Env) -> Result<Outcome, ApiError> {
    let body = Value::Object(object(write)?.clone());
    let name = required(&body, "profile.name")?;
    if name_taken(tenant, name, None) {
        return Err(ApiError::validation(
            "name",
            "name: An object with this field already exists in the current organization",
        ));
    }
    let id = env.id("00g");
    let now = env.now();
    let group = json!({
        "id": id,
        "created": now,
        "lastUpdated": now,
        "lastMembershipUpdated": now,
        "objectClass": ["okta:user_group"],
        "type": "OKTA_GROUP",
        "profile": body["profile"],
        "_links": {
            "logo": [],
            "users": link(&format!("/api/v1/groups/{id}/users")),
            "apps": link(&format!("/api/v1/groups/{id}/apps")),
        },
    });
    tenant.add_group(group.clone());
    Ok(Outcome::ok(
        group.clone(),
        vec![Emitted::new(
            "group.lifecycle.create",
            vec![target::group(&group)],
        )],
    ))
}

fn update(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
) -> Result<Outcome, ApiError> {
    let body = Value::Object(object(write)?.clone());
    okta_group(tenant, id)?;
    let name = required(&body, "profile.name")?;
    if name_taken(tenant, name, Some(id)) {
        return Err(ApiError::validation(
            "name",
            "name: An object with this field already exists in the current organization",
        ));
    }
    let now = env.now();
    tenant.edit_group(id, |group| {
        group["profile"] = body["profile"].clone();
        group["lastUpdated"] = json!(now);
    });
    let group = tenant.group(id).cloned().unwrap_or_default();
    Ok(Outcome::ok(
        group.clone(),
        vec![Emitted::new(
            "group.profile.update",
            vec![target::group(&group)],
        )],
    ))
}

fn delete(tenant: &mut Tenant, env: &mut Env, id: &str) -> Result<Outcome, ApiError> {
    let group = okta_group(tenant, id)?.clone();
    tenant.delete_group(id, env.now_ms);
    tenant.settings_mut().group_roles.remove(id);
    Ok(Outcome::empty(
        204,
        vec![Emitted::new(
            "group.lifecycle.delete",
            vec![target::group(&group)],
        )],
    ))
}

fn membership(
    tenant: &mut Tenant,
    env: &mut Env,
    id: &str,
    user: &str,
    add: bool,
) -> Result<Outcome, ApiError> {
    let group = okta_group(tenant, id)?.clone();
    let index = tenant
        .user_index(user)
        .ok_or_else(|| ApiError::not_found("User", user))?;
    if add && tenant.user_at(index)["status"] == "DEPROVISIONED" {
        return Err(ApiError::custom(
            403,
            "E0000038",
            "This operation is not allowed in the user's current status.",
        ));
    }
    let changed = if add {
        tenant.add_member(id, index, env.now_ms)
    } else {
        tenant.remove_member(id, index, env.now_ms)
    };
    let mut events = Vec::new();
    if changed {
        let now = env.now();
        tenant.edit_group(id, |g| g["lastMembershipUpdated"] = json!(now));
        let event = if add {
            "group.user_membership.add"
        } else {
            "group.user_membership.remove"
        };
        events.push(Emitted::new(
            event,
            vec![target::user(tenant.user_at(index)), target::group(&group)],
        ));
    }
    Ok(Outcome::empty(204, events))
}

// ---- group rules

pub(super) fn route_rules(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    rest: &[&str],
) -> Result<Option<Outcome>, ApiError> {
    Ok(Some(match (write.method, rest) {
        ("POST", []) => create_rule(tenant, write, env)?,
        ("PUT", [id]) => update_rule(tenant, write, env, id)?,
        ("DELETE", [id]) => delete_rule(tenant, write, env, id)?,
        ("POST", [id, "lifecycle", op @ ("activate" | "deactivate")]) => {
            rule_lifecycle(tenant, env, id, op)?
        }
        _ => return Ok(None),
    }))
}

fn rule<'t>(tenant: &'t Tenant, id: &str) -> Result<&'t Value, ApiError> {
    tenant
        .settings()
        .group_rules
        .get(id)
        .ok_or_else(|| ApiError::not_found("GroupRule", id))
}

fn rule_target(rule: &Value) -> crate::syslog::Target {
    target::named(rule, "GroupRule")
}

/// The groups a rule assigns to must be Okta groups of this org.
fn check_actions(tenant: &Tenant, body: &Value) -> Result<(), ApiError> {
    let groups = body["actions"]["assignUserToGroups"]["groupIds"]
        .as_array()
        .filter(|g| !g.is_empty())
        .ok_or_else(|| {
            ApiError::validation(
                "groupIds",
                "actions.assignUserToGroups.groupIds: The field cannot be left blank",
            )
        })?;
    for group in groups {
        let id = group.as_str().unwrap_or_default();
        if tenant.group(id).is_none_or(|g| g["type"] != "OKTA_GROUP") {
            return Err(ApiError::validation(
                "groupIds",
                format!("actions.assignUserToGroups.groupIds: Invalid group {id}"),
            ));
        }
    }
    Ok(())
}

fn create_rule(tenant: &mut Tenant, write: &Write, env: &mut Env) -> Result<Outcome, ApiError> {
    let body = Value::Object(object(write)?.clone());
    required(&body, "name")?;
    required(&body, "conditions.expression.value")?;
    check_actions(tenant, &body)?;
    let id = env.id("0pr");
    let now = env.now();
    let rule = json!({
        "id": id,
        "type": "group_rule",
        "status": "INACTIVE",
        "name": body["name"],
        "created": now,
        "lastUpdated": now,
        "allGroupsValid": true,
        "conditions": body["conditions"],
        "actions": body["actions"],
    });
    tenant.settings_mut().group_rules.insert(rule.clone(), None);
    Ok(Outcome::ok(rule, Vec::new()))
}

fn update_rule(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
) -> Result<Outcome, ApiError> {
    let body = Value::Object(object(write)?.clone());
    let current = rule(tenant, id)?.clone();
    if current["status"] != "INACTIVE" {
        return Err(ApiError::validation(
            "status",
            "status: Only an INACTIVE group rule can be updated; deactivate it first",
        ));
    }
    if body
        .get("actions")
        .is_some_and(|a| *a != current["actions"])
    {
        return Err(ApiError::validation(
            "actions",
            "actions: The actions of a group rule cannot be changed",
        ));
    }
    required(&body, "name")?;
    required(&body, "conditions.expression.value")?;
    let now = env.now();
    let rules = &mut tenant.settings_mut().group_rules;
    if let Some(rule) = rules.get_mut(id) {
        rule["name"] = body["name"].clone();
        rule["conditions"] = body["conditions"].clone();
        rule["lastUpdated"] = json!(now);
    }
    Ok(Outcome::ok(rule(tenant, id)?.clone(), Vec::new()))
}

fn delete_rule(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
) -> Result<Outcome, ApiError> {
    let current = rule(tenant, id)?.clone();
    if current["status"] != "INACTIVE" {
        return Err(ApiError::validation(
            "status",
            "status: Only an INACTIVE group rule can be deleted; deactivate it first",
        ));
    }
    let mut events = Vec::new();
    if super::flag(write.query, "removeUsers", false) {
        for user in matching_users(tenant, &current) {
            for group in assigned_groups(&current) {
                if tenant.remove_member(&group, user, env.now_ms) {
                    events.push(membership_event(
                        tenant,
                        "group.user_membership.remove",
                        user,
                        &group,
                    ));
                }
            }
        }
    }
    tenant.settings_mut().group_rules.remove(id);
    // Deleting is accepted and finished in the background, as Okta answers 202.
    Ok(Outcome::empty(202, events))
}

fn rule_lifecycle(
    tenant: &mut Tenant,
    env: &mut Env,
    id: &str,
    op: &str,
) -> Result<Outcome, ApiError> {
    let current = rule(tenant, id)?.clone();
    let status = if op == "activate" {
        "ACTIVE"
    } else {
        "INACTIVE"
    };
    if current["status"] == status {
        return Ok(Outcome::empty(204, Vec::new()));
    }
    let now = env.now();
    if let Some(rule) = tenant.settings_mut().group_rules.get_mut(id) {
        rule["status"] = json!(status);
        rule["lastUpdated"] = json!(now);
    }
    let mut events = Vec::new();
    if op == "activate" {
        events.push(Emitted::new(
            "group.user_membership.rule.trigger",
            vec![rule_target(&current)],
        ));
        for user in matching_users(tenant, &current) {
            for group in assigned_groups(&current) {
                if tenant.add_member(&group, user, env.now_ms) {
                    events.push(membership_event(
                        tenant,
                        "group.user_membership.add",
                        user,
                        &group,
                    ));
                }
            }
        }
    } else {
        events.push(Emitted::new(
            "group.user_membership.rule.deactivated",
            vec![rule_target(&current)],
        ));
    }
    Ok(Outcome::empty(204, events))
}

fn membership_event(tenant: &Tenant, event: &'static str, user: usize, group: &str) -> Emitted {
    let group = tenant.group(group).cloned().unwrap_or_default();
    Emitted::new(
        event,
        vec![target::user(tenant.user_at(user)), target::group(&group)],
    )
}

fn assigned_groups(rule: &Value) -> Vec<String> {
    rule["actions"]["assignUserToGroups"]["groupIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g.as_str().map(str::to_owned))
        .collect()
}

/// Users (not DEPROVISIONED, not excluded) whose profile matches the rule's expression. The
/// emulator evaluates the common form of Okta Expression Language rules, comparisons of a user
/// attribute with a string (`user.department=="Engineering"`, `user.title != "Intern"`) joined
/// by `and`/`or` (`&&`/`||`); any other expression matches nobody.
fn matching_users(tenant: &Tenant, rule: &Value) -> Vec<usize> {
    let expression = rule["conditions"]["expression"]["value"]
        .as_str()
        .unwrap_or_default();
    let Some(test) = Expression::parse(expression) else {
        return Vec::new();
    };
    let excluded: Vec<&str> = rule["conditions"]["people"]["users"]["exclude"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    tenant
        .listed_user_indexes()
        .iter()
        .copied()
        .filter(|&i| {
            let user = tenant.user_at(i);
            !excluded.contains(&str_of(user, "id")) && test.matches(&user["profile"])
        })
        .collect()
}

/// `user.<attr> ==|!= "<value>"` terms joined by `and`/`or`, evaluated left to right.
struct Expression {
    terms: Vec<(String, bool, String)>,
    /// Between consecutive terms: `true` for `and`.
    joins: Vec<bool>,
}

impl Expression {
    fn parse(text: &str) -> Option<Self> {
        let normal = text.replace("&&", " and ").replace("||", " or ");
        let mut terms = Vec::new();
        let mut joins = Vec::new();
        let mut rest = normal.trim();
        loop {
            let (term, tail) = split_join(rest);
            let (attr, equal, value) = term_of(term.trim())?;
            terms.push((attr, equal, value));
            match tail {
                Some((and, tail)) => {
                    joins.push(and);
                    rest = tail;
                }
                None => break,
            }
        }
        Some(Self { terms, joins })
    }

    fn matches(&self, profile: &Value) -> bool {
        let test = |(attr, equal, value): &(String, bool, String)| {
            (profile[attr.as_str()].as_str() == Some(value.as_str())) == *equal
        };
        let mut result = test(&self.terms[0]);
        for (term, and) in self.terms[1..].iter().zip(&self.joins) {
            result = if *and {
                result && test(term)
            } else {
                result || test(term)
            };
        }
        result
    }
}

fn split_join(text: &str) -> (&str, Option<(bool, &str)>) {
    let lower = text.to_ascii_lowercase();
    let and = lower.find(" and ");
    let or = lower.find(" or ");
    match (and, or) {
        (Some(a), Some(o)) if a < o => (&text[..a], Some((true, &text[a + 5..]))),
        (_, Some(o)) => (&text[..o], Some((false, &text[o + 4..]))),
        (Some(a), None) => (&text[..a], Some((true, &text[a + 5..]))),
        (None, None) => (text, None),
    }
}

fn term_of(term: &str) -> Option<(String, bool, String)> {
    let (left, right, equal) = match term.split_once("==") {
        Some((l, r)) => (l, r, true),
        None => term.split_once("!=").map(|(l, r)| (l, r, false))?,
    };
    let attr = left.trim().strip_prefix("user.")?;
    let value = right.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))?;
    Some((attr.to_owned(), equal, value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_simple_rule_expressions() {
        let profile = json!({ "department": "Engineering", "title": "SRE" });
        for (expression, expected) in [
            (r#"user.department=="Engineering""#, true),
            (r#"user.department == 'Sales'"#, false),
            (
                r#"user.department=="Engineering" && user.title!="Intern""#,
                true,
            ),
            (r#"user.department=="Sales" || user.title=="SRE""#, true),
            (r#"user.department=="Sales" and user.title=="SRE""#, false),
        ] {
            let parsed = Expression::parse(expression).unwrap();
            assert_eq!(parsed.matches(&profile), expected, "{expression}");
        }
        assert!(Expression::parse("isMemberOfGroupName(\"x\")").is_none());
    }
}
