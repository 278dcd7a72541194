//! Users: create (STAGED, PROVISIONED or ACTIVE), update the profile, the lifecycle operations and
//! delete, following the Users API (developer.okta.com/docs/api/openapi/okta-management/
//! management/tag/User/ and .../UserLifecycle/):
//!
//! - `activate=false` creates a STAGED user; `activate=true` (the default) an ACTIVE one when a
//!   password is given (or `provider=true`), a PROVISIONED one (activation pending) otherwise;
//! - activation applies to STAGED and DEPROVISIONED users; a deprovisioned user comes back
//!   PROVISIONED (it must set a password again), never straight to ACTIVE;
//! - suspend needs ACTIVE, unsuspend SUSPENDED, unlock LOCKED_OUT, reactivate PROVISIONED;
//! - the first DELETE of a user who is not DEPROVISIONED deactivates it, the second deletes it;
//! - a password is write-only: a user that has one shows `"password": {}`, and a recovery
//!   question's answer is never returned.

use serde_json::{json, Map, Value};

use super::{flag, link, object, required, target, Env, Outcome, Write};
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
        ("POST" | "PUT", [id]) => update(tenant, write, env, id, write.method == "POST")?,
        ("DELETE", [id]) => delete(tenant, env, id)?,
        ("POST", [id, "lifecycle", op]) => lifecycle(tenant, write, env, id, op)?,
        ("POST", [id, "roles"]) => super::roles::grant(tenant, write, env, "users", id)?,
        ("DELETE", [id, "roles", role]) => super::roles::revoke(tenant, "users", id, role)?,
        _ => return Ok(None),
    }))
}

fn index(tenant: &Tenant, id: &str) -> Result<usize, ApiError> {
    tenant
        .user_index(id)
        .ok_or_else(|| ApiError::not_found("User", id))
}

fn create(tenant: &mut Tenant, write: &Write, env: &mut Env) -> Result<Outcome, ApiError> {
    let body = object(write)?;
    let body_value = Value::Object(body.clone());
    let profile = body
        .get("profile")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::validation("profile", "profile: The field cannot be left blank")
        })?;
    for field in ["login", "firstName", "lastName", "email"] {
        required(&body_value, &format!("profile.{field}"))?;
    }
    let login = profile["login"].as_str().unwrap_or_default();
    if tenant.user_index(login).is_some() {
        return Err(ApiError::validation(
            "login",
            "login: An object with this field already exists in the current organization",
        ));
    }
    let activate = flag(write.query, "activate", true);
    let provider = flag(write.query, "provider", false);
    let credentials = body.get("credentials").cloned().unwrap_or(json!({}));
    let has_password =
        credentials["password"]["value"].is_string() || credentials["password"]["hash"].is_object();
    let status = match (activate, has_password || provider) {
        (false, _) => "STAGED",
        (true, true) => "ACTIVE",
        (true, false) => "PROVISIONED",
    };
    let group_ids: Vec<String> = body
        .get("groupIds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.as_str().map(str::to_owned))
        .collect();
    for group in &group_ids {
        let found = tenant.group(group);
        if found.is_none_or(|g| g["type"] != "OKTA_GROUP") {
            return Err(ApiError::validation(
                "groupIds",
                format!("groupIds: Invalid group id {group}"),
            ));
        }
    }

    let id = env.id("00u");
    let now = env.now();
    let activated = status != "STAGED";
    let mut user = json!({
        "id": id,
        "status": status,
        "created": now,
        "activated": if activated { json!(now) } else { Value::Null },
        "statusChanged": if activated { json!(now) } else { Value::Null },
        "lastLogin": null,
        "lastUpdated": now,
        "passwordChanged": if has_password { json!(now) } else { Value::Null },
        "type": body.get("type").cloned().unwrap_or_else(|| default_type(tenant)),
        "profile": Value::Object(profile.clone()),
        "credentials": shown_credentials(&credentials, provider),
        "_links": links(&id, status),
    });
    if let Some(realm) = body.get("realmId") {
        user["realmId"] = realm.clone();
    }
    let index = tenant.add_user(user);
    let everyone = everyone(tenant);
    let mut events = vec![Emitted::new(
        "user.lifecycle.create",
        vec![target::user(tenant.user_at(index))],
    )];
    if activated {
        events.push(Emitted::new(
            "user.lifecycle.activate",
            vec![target::user(tenant.user_at(index))],
        ));
    }
    if let Some(everyone) = everyone {
        tenant.add_member(&everyone, index, env.now_ms);
    }
    for group in &group_ids {
        if tenant.add_member(group, index, env.now_ms) {
            let group = tenant.group(group).cloned().unwrap_or_default();
            events.push(Emitted::new(
                "group.user_membership.add",
                vec![target::user(tenant.user_at(index)), target::group(&group)],
            ));
        }
    }
    Ok(Outcome::ok(tenant.user_at(index).clone(), events))
}

/// The type every user without one gets: the org's default user type.
fn default_type(tenant: &Tenant) -> Value {
    tenant.super_admin()["type"].clone()
}

fn everyone(tenant: &Tenant) -> Option<String> {
    tenant
        .groups()
        .iter()
        .find(|g| g["type"] == "BUILT_IN" && g["profile"]["name"] == "Everyone")
        .and_then(|g| g["id"].as_str().map(str::to_owned))
}

/// What Okta shows of credentials: that a password exists (`{}`), the recovery question without
/// its answer, and the provider.
fn shown_credentials(credentials: &Value, provider: bool) -> Value {
    let mut shown = json!({});
    if credentials["password"].is_object() {
        shown["password"] = json!({});
    }
    if let Some(question) = credentials["recovery_question"]["question"].as_str() {
        shown["recovery_question"] = json!({ "question": question });
    }
    shown["provider"] = if provider {
        json!({ "type": "FEDERATION", "name": "FEDERATION" })
    } else {
        credentials
            .get("provider")
            .cloned()
            .unwrap_or_else(|| json!({ "type": "OKTA", "name": "OKTA" }))
    };
    shown
}

fn links(id: &str, status: &str) -> Value {
    let path = format!("/api/v1/users/{id}");
    let mut links = json!({ "self": link(&path) });
    let ops: &[&str] = match status {
        "STAGED" => &["activate"],
        "PROVISIONED" => &["reactivate", "deactivate"],
        "ACTIVE" => &["suspend", "deactivate", "expire_password"],
        "SUSPENDED" => &["unsuspend", "deactivate"],
        "LOCKED_OUT" => &["unlock", "deactivate"],
        "DEPROVISIONED" => &["activate"],
        _ => &["deactivate"],
    };
    for op in ops {
        links[*op] = json!({
            "href": format!("{}{path}/lifecycle/{op}", crate::tenant::ORIGIN_PLACEHOLDER),
            "method": "POST",
        });
    }
    links
}

fn update(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
    partial: bool,
) -> Result<Outcome, ApiError> {
    let body = object(write)?;
    let index = index(tenant, id)?;
    let current = tenant.user_at(index).clone();
    let mut profile = if partial {
        current["profile"].as_object().cloned().unwrap_or_default()
    } else {
        Map::new()
    };
    if let Some(changes) = body.get("profile").and_then(Value::as_object) {
        profile.extend(changes.clone());
    } else if !partial {
        return Err(ApiError::validation(
            "profile",
            "profile: The field cannot be left blank",
        ));
    }
    let profile = Value::Object(profile);
    for field in ["login", "firstName", "lastName", "email"] {
        if profile[field].as_str().is_none_or(|v| v.is_empty()) {
            return Err(ApiError::validation(
                field,
                format!("{field}: The field cannot be left blank"),
            ));
        }
    }
    let login = profile["login"].as_str().unwrap_or_default();
    if tenant.user_index(login).is_some_and(|other| other != index) {
        return Err(ApiError::validation(
            "login",
            "login: An object with this field already exists in the current organization",
        ));
    }
    let credentials = body.get("credentials").cloned();
    let now = env.now();
    let profile_changed = profile != current["profile"];
    tenant.edit_user(index, env.now_ms, |user| {
        user["profile"] = profile;
        if let Some(credentials) = &credentials {
            if credentials["password"].is_object() {
                user["credentials"]["password"] = json!({});
                user["passwordChanged"] = json!(now);
            }
            if let Some(q) = credentials["recovery_question"]["question"].as_str() {
                user["credentials"]["recovery_question"] = json!({ "question": q });
            }
        }
        user["lastUpdated"] = json!(now);
    });
    let user = tenant.user_at(index).clone();
    let mut events = Vec::new();
    if profile_changed {
        events.push(Emitted::new(
            "user.account.update_profile",
            vec![target::user(&user)],
        ));
    }
    if credentials.is_some_and(|c| c["password"].is_object()) {
        events.push(Emitted::new(
            "user.account.update_password",
            vec![target::user(&user)],
        ));
    }
    Ok(Outcome::ok(user, events))
}

/// Okta's answer to a lifecycle operation the user's status does not allow.
fn wrong_status() -> ApiError {
    ApiError::custom(
        403,
        "E0000038",
        "This operation is not allowed in the user's current status.",
    )
}

fn lifecycle(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
    op: &str,
) -> Result<Outcome, ApiError> {
    let index = index(tenant, id)?;
    let user = tenant.user_at(index);
    let status = user["status"].as_str().unwrap_or_default().to_owned();
    let has_password = user["credentials"]["password"].is_object();
    let (next, event, body) = match op {
        "activate" => match status.as_str() {
            // A returning user sets a new password through the activation flow.
            "DEPROVISIONED" => (
                "PROVISIONED",
                "user.lifecycle.activate",
                activation(write, env),
            ),
            "STAGED" if has_password => ("ACTIVE", "user.lifecycle.activate", json!({})),
            "STAGED" => (
                "PROVISIONED",
                "user.lifecycle.activate",
                activation(write, env),
            ),
            _ => {
                return Err(ApiError::custom(
                    403,
                    "E0000016",
                    "Activation failed because the user is already active",
                ))
            }
        },
        "reactivate" if status == "PROVISIONED" => (
            "PROVISIONED",
            "user.lifecycle.reactivate",
            activation(write, env),
        ),
        "deactivate" if status != "DEPROVISIONED" => {
            ("DEPROVISIONED", "user.lifecycle.deactivate", json!({}))
        }
        "suspend" | "unsuspend" => {
            let (from, to, event) = if op == "suspend" {
                ("ACTIVE", "SUSPENDED", "user.lifecycle.suspend")
            } else {
                ("SUSPENDED", "ACTIVE", "user.lifecycle.unsuspend")
            };
            if status != from {
                return Err(ApiError::validation(
                    "status",
                    format!("status: The user must be {from} to {op}"),
                ));
            }
            (to, event, json!({}))
        }
        "unlock" if status == "LOCKED_OUT" => ("ACTIVE", "user.account.unlock_by_admin", json!({})),
        "unlock" => {
            return Err(ApiError::custom(
                403,
                "E0000032",
                "Unlock is not allowed for this user.",
            ))
        }
        "expire_password" if matches!(status.as_str(), "ACTIVE" | "PASSWORD_EXPIRED") => (
            "PASSWORD_EXPIRED",
            "user.account.expire_password",
            Value::Null,
        ),
        "reactivate" | "deactivate" | "expire_password" => return Err(wrong_status()),
        _ => return Err(ApiError::not_found("Path", write.path)),
    };
    set_status(tenant, env, index, next);
    let user = tenant.user_at(index).clone();
    let body = if body.is_null() { user.clone() } else { body };
    Ok(Outcome::ok(
        body,
        vec![Emitted::new(event, vec![target::user(&user)])],
    ))
}

/// `sendEmail=false` answers with the activation link an admin hands over; otherwise Okta
/// emails it and answers `{}`.
fn activation(write: &Write, env: &mut Env) -> Value {
    if flag(write.query, "sendEmail", true) {
        return json!({});
    }
    let token = env.secret(20);
    json!({
        "activationUrl": format!("{}/welcome/{token}", crate::tenant::ORIGIN_PLACEHOLDER),
        "activationToken": token,
    })
}

fn set_status(tenant: &mut Tenant, env: &Env, index: usize, status: &str) {
    let now = env.now();
    let id = tenant.user_at(index)["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let was_provisioned_again = status == "PROVISIONED";
    tenant.edit_user(index, env.now_ms, |user| {
        if user["activated"].is_null() && status != "STAGED" {
            user["activated"] = json!(now);
        }
        if was_provisioned_again {
            // A deprovisioned user's old password no longer counts.
            if let Some(credentials) = user["credentials"].as_object_mut() {
                credentials.remove("password");
            }
        }
        user["status"] = json!(status);
        user["statusChanged"] = json!(now);
        user["lastUpdated"] = json!(now);
        user["_links"] = links(&id, status);
    });
    if status != "DEPROVISIONED" {
        if let Some(everyone) = everyone(tenant) {
            tenant.add_member(&everyone, index, env.now_ms);
        }
    }
}

fn delete(tenant: &mut Tenant, env: &mut Env, id: &str) -> Result<Outcome, ApiError> {
    let index = index(tenant, id)?;
    let user = tenant.user_at(index).clone();
    if user["status"] != "DEPROVISIONED" {
        set_status(tenant, env, index, "DEPROVISIONED");
        let user = tenant.user_at(index).clone();
        return Ok(Outcome::empty(
            204,
            vec![Emitted::new(
                "user.lifecycle.deactivate",
                vec![target::user(&user)],
            )],
        ));
    }
    tenant.delete_user(index);
    let target = target::user(&user);
    Ok(Outcome::empty(
        204,
        vec![
            Emitted::new("user.lifecycle.delete.initiated", vec![target.clone()]),
            Emitted::new("user.lifecycle.delete.completed", vec![target]),
        ],
    ))
}
