//! Apps and their assignments (developer.okta.com/docs/api/openapi/okta-management/management/
//! tag/Application/, .../ApplicationUsers/, .../ApplicationGroups/):
//!
//! - a new app is ACTIVE unless `activate=false`; its label must be unique (E0000040);
//! - an OIDC app keeps a `client_id` the request supplies (else its id) and gets a client secret
//!   shown in the create response only; a SAML app gets a new signing key (`kid`);
//! - an INACTIVE app cannot be changed, an ACTIVE one cannot be deleted (E0000056);
//! - a user assigned directly (`scope: USER`) keeps an app profile; group assignments carry a
//!   `priority` (0 first) that decides which group an inherited (`scope: GROUP`) assignment is
//!   through.

use serde_json::{json, Map, Value};

use super::{
    flag, link, object, required, str_of, target, writable, Env, Outcome, Write, SERVER_OWNED,
};
use crate::errors::ApiError;
use crate::syslog::Emitted;
use crate::tenant::{Tenant, ORIGIN_PLACEHOLDER};

const MODES: [&str; 9] = [
    "AUTO_LOGIN",
    "BASIC_AUTH",
    "BOOKMARK",
    "BROWSER_PLUGIN",
    "OPENID_CONNECT",
    "SAML_1_1",
    "SAML_2_0",
    "SECURE_PASSWORD_STORE",
    "WS_FEDERATION",
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
        ("POST", [id, "users"]) => assign_user(tenant, write, env, id)?,
        ("POST", [id, "users", user]) => update_app_user(tenant, write, env, id, user)?,
        ("DELETE", [id, "users", user]) => unassign_user(tenant, env, id, user)?,
        ("PUT", [id, "groups", group]) => assign_group(tenant, write, env, id, group)?,
        ("DELETE", [id, "groups", group]) => unassign_group(tenant, env, id, group)?,
        _ => return Ok(None),
    }))
}

fn app<'t>(tenant: &'t Tenant, id: &str) -> Result<&'t Value, ApiError> {
    tenant
        .app(id)
        .ok_or_else(|| ApiError::not_found("AppInstance", id))
}

/// Okta's built-in apps (Admin Console, Dashboard, Browser Plugin) cannot be changed through
/// the Apps API beyond their settings, nor deactivated or deleted.
fn is_built_in(app: &Value) -> bool {
    matches!(
        app["name"].as_str(),
        Some("saasure" | "okta_enduser" | "okta_browser_plugin")
    )
}

fn operation_not_allowed() -> ApiError {
    ApiError::custom(403, "E0000143", "App instance operation not allowed.")
}

fn label_taken(tenant: &Tenant, label: &str, except: Option<&str>) -> bool {
    tenant
        .apps()
        .iter()
        .any(|a| a["label"] == label && Some(str_of(a, "id")) != except)
}

fn create(tenant: &mut Tenant, write: &Write, env: &mut Env) -> Result<Outcome, ApiError> {
    let body = object(write)?;
    let value = Value::Object(body.clone());
    let mode = required(&value, "signOnMode")?;
    if !MODES.contains(&mode) {
        return Err(ApiError::validation(
            "signOnMode",
            format!("signOnMode: Invalid sign-on mode {mode}"),
        ));
    }
    let label = required(&value, "label")?;
    if label_taken(tenant, label, None) {
        return Err(ApiError::custom(
            400,
            "E0000040",
            "Application label must not be the same as an existing application label.",
        ));
    }
    let id = env.id("0oa");
    let now = env.now();
    let active = flag(write.query, "activate", true);
    let mut app = Value::Object(writable(body, &[SERVER_OWNED, &["status"]].concat()));
    app["id"] = json!(id);
    app["status"] = json!(if active { "ACTIVE" } else { "INACTIVE" });
    app["created"] = json!(now);
    app["lastUpdated"] = json!(now);
    app["name"] = json!(name(mode, body, label));
    app["features"] = body.get("features").cloned().unwrap_or(json!([]));
    let mut secret = None;
    match mode {
        "OPENID_CONNECT" => {
            let supplied = body
                .get("credentials")
                .and_then(|c| c["oauthClient"]["client_id"].as_str())
                .map(str::to_owned);
            let client_id = supplied.unwrap_or_else(|| id.clone());
            let in_use = tenant
                .apps()
                .iter()
                .any(|a| a["credentials"]["oauthClient"]["client_id"] == client_id.as_str());
            if in_use {
                return Err(ApiError::validation(
                    "client_id",
                    "client_id: An object with this field already exists in the current organization",
                ));
            }
            let method = body
                .get("credentials")
                .and_then(|c| c["oauthClient"]["token_endpoint_auth_method"].as_str())
                .unwrap_or("client_secret_basic")
                .to_owned();
            let mut oauth = json!({
                "autoKeyRotation": true,
                "client_id": client_id,
                "token_endpoint_auth_method": method,
            });
            if let Some(pkce) = body
                .get("credentials")
                .and_then(|c| c["oauthClient"].get("pkce_required"))
            {
                oauth["pkce_required"] = pkce.clone();
            }
            app["credentials"]["oauthClient"] = oauth;
            if method.starts_with("client_secret") {
                secret = Some(env.secret(40));
            }
            app["credentials"]["signing"] = json!({ "kid": env.secret(43) });
        }
        "SAML_2_0" | "SAML_1_1" | "WS_FEDERATION" => {
            // Every new SAML app signs with a key of its own: the old app's certificate is gone.
            app["credentials"]["signing"] = json!({ "kid": env.secret(43) });
        }
        _ => {}
    }
    if app["credentials"]["userNameTemplate"].is_null() {
        app["credentials"]["userNameTemplate"] =
            json!({ "template": "${source.login}", "type": "BUILT_IN" });
    }
    // Passwords an app holds are write-only.
    if let Some(password) = app["credentials"].get_mut("password") {
        *password = json!({});
    }
    app["_links"] = links(&id, active);
    tenant.add_app(app.clone());
    let mut shown = app;
    if let Some(secret) = secret {
        shown["credentials"]["oauthClient"]["client_secret"] = json!(secret);
    }
    let mut events = vec![Emitted::new(
        "application.lifecycle.create",
        vec![target::app(&shown)],
    )];
    if active {
        events.push(Emitted::new(
            "application.lifecycle.activate",
            vec![target::app(&shown)],
        ));
    }
    Ok(Outcome::ok(shown, events))
}

/// The app `name`: the OIDC and bookmark templates have fixed names; a custom SAML app gets one
/// from its label, as Okta names it; others keep what the request says.
fn name(mode: &str, body: &Map<String, Value>, label: &str) -> String {
    match mode {
        "OPENID_CONNECT" => "oidc_client".to_owned(),
        _ => match body.get("name").and_then(Value::as_str) {
            Some(name) => name.to_owned(),
            None => {
                let slug: String = label
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_lowercase()
                        } else {
                            '_'
                        }
                    })
                    .collect();
                format!("example_{slug}_1")
            }
        },
    }
}

fn links(id: &str, active: bool) -> Value {
    let path = format!("/api/v1/apps/{id}");
    let mut links = json!({
        "self": link(&path),
        "users": link(&format!("{path}/users")),
        "groups": link(&format!("{path}/groups")),
        "logo": [{
            "name": "medium",
            "href": format!("{ORIGIN_PLACEHOLDER}/assets/img/logos/default.png"),
            "type": "image/png",
        }],
    });
    let op = if active { "deactivate" } else { "activate" };
    links[op] = link(&format!("{path}/lifecycle/{op}"));
    links
}

fn update(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
) -> Result<Outcome, ApiError> {
    let body = object(write)?;
    let current = app(tenant, id)?.clone();
    if current["status"] != "ACTIVE" {
        return Err(ApiError::validation(
            "status",
            "status: An INACTIVE app cannot be updated; activate it first",
        ));
    }
    let value = Value::Object(body.clone());
    let label = required(&value, "label")?;
    if label_taken(tenant, label, Some(id)) {
        return Err(ApiError::custom(
            400,
            "E0000040",
            "Application label must not be the same as an existing application label.",
        ));
    }
    if body
        .get("signOnMode")
        .is_some_and(|m| *m != current["signOnMode"])
    {
        return Err(ApiError::validation(
            "signOnMode",
            "signOnMode: The sign-on mode of an app cannot be changed",
        ));
    }
    let mut next = current.clone();
    for (key, v) in writable(
        body,
        &[SERVER_OWNED, &["status", "name", "signOnMode"]].concat(),
    ) {
        match key.as_str() {
            // The signing key and client id are Okta's; secrets never stay readable.
            "credentials" => {
                let mut credentials = v;
                credentials["signing"] = current["credentials"]["signing"].clone();
                if !current["credentials"]["oauthClient"].is_null() {
                    let mut oauth = current["credentials"]["oauthClient"].clone();
                    if let Some(method) =
                        credentials["oauthClient"].get("token_endpoint_auth_method")
                    {
                        oauth["token_endpoint_auth_method"] = method.clone();
                    }
                    credentials["oauthClient"] = oauth;
                }
                if let Some(password) = credentials.get_mut("password") {
                    *password = json!({});
                }
                next["credentials"] = credentials;
            }
            _ => next[key.as_str()] = v,
        }
    }
    next["lastUpdated"] = json!(env.now());
    tenant.edit_app(id, |app| *app = next.clone());
    Ok(Outcome::ok(
        next.clone(),
        vec![Emitted::new(
            "application.lifecycle.update",
            vec![target::app(&next)],
        )],
    ))
}

fn lifecycle(tenant: &mut Tenant, env: &mut Env, id: &str, op: &str) -> Result<Outcome, ApiError> {
    let current = app(tenant, id)?.clone();
    if is_built_in(&current) {
        return Err(operation_not_allowed());
    }
    let active = op == "activate";
    let status = if active { "ACTIVE" } else { "INACTIVE" };
    let mut events = Vec::new();
    if current["status"] != status {
        let now = env.now();
        tenant.edit_app(id, |app| {
            app["status"] = json!(status);
            app["lastUpdated"] = json!(now);
            app["_links"] = links(id, active);
        });
        let event = if active {
            "application.lifecycle.activate"
        } else {
            "application.lifecycle.deactivate"
        };
        events.push(Emitted::new(event, vec![target::app(&current)]));
    }
    Ok(Outcome::ok(json!({}), events))
}

fn delete(tenant: &mut Tenant, id: &str) -> Result<Outcome, ApiError> {
    let current = app(tenant, id)?.clone();
    if is_built_in(&current) {
        return Err(operation_not_allowed());
    }
    if current["status"] == "ACTIVE" {
        return Err(ApiError::custom(
            403,
            "E0000056",
            "Delete application forbidden.",
        ));
    }
    tenant.delete_app(id);
    Ok(Outcome::empty(
        204,
        vec![Emitted::new(
            "application.lifecycle.delete",
            vec![target::app(&current)],
        )],
    ))
}

fn assignable_user(tenant: &Tenant, user: &str) -> Result<usize, ApiError> {
    let index = tenant
        .user_index(user)
        .ok_or_else(|| ApiError::not_found("User", user))?;
    if tenant.user_at(index)["status"] == "DEPROVISIONED" {
        return Err(ApiError::custom(
            403,
            "E0000117",
            "Cannot assign apps or update app profiles for an inactive user.",
        ));
    }
    Ok(index)
}

fn app_user_events(
    tenant: &Tenant,
    event: &'static str,
    app: &Value,
    index: usize,
) -> Vec<Emitted> {
    vec![Emitted::new(
        event,
        vec![target::app(app), target::user(tenant.user_at(index))],
    )]
}

fn assign_user(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
) -> Result<Outcome, ApiError> {
    let body = Value::Object(object(write)?.clone());
    let current = app(tenant, id)?.clone();
    let user = required(&body, "id")?.to_owned();
    let index = assignable_user(tenant, &user)?;
    let user_id = str_of(tenant.user_at(index), "id").to_owned();
    let direct = tenant
        .app_assignments(id)
        .and_then(|a| a.find(index))
        .is_some_and(|r| r.group.is_none());
    if direct {
        return Err(ApiError::custom(
            409,
            "E0000062",
            "The specified user is already assigned to the application.",
        ));
    }
    let profile = body.get("profile").filter(|p| p.is_object()).cloned();
    tenant.assign_user(id, index, profile, env.now_ms);
    let shown = tenant.app_user(id, &user_id).unwrap_or_default();
    Ok(Outcome::ok(
        shown,
        app_user_events(tenant, "application.user_membership.add", &current, index),
    ))
}

fn update_app_user(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
    user: &str,
) -> Result<Outcome, ApiError> {
    let body = object(write)?.clone();
    let current = app(tenant, id)?.clone();
    let index = assignable_user(tenant, user)?;
    let user_id = str_of(tenant.user_at(index), "id").to_owned();
    let assignments = tenant
        .app_assignments_mut(id)
        .ok_or_else(|| ApiError::not_found("AppInstance", id))?;
    let at = assignments
        .search(index)
        .map_err(|_| ApiError::not_found("AppUser", user))?;
    let record = &mut assignments.records_mut()[at];
    if let Some(profile) = body.get("profile").filter(|p| p.is_object()) {
        let mut merged = record.profile().cloned().unwrap_or(json!({}));
        if let (Some(target), Some(changes)) = (merged.as_object_mut(), profile.as_object()) {
            target.extend(changes.clone());
        }
        record.set_profile(Some(merged));
    }
    record.touch(env.now_ms);
    let shown = tenant.app_user(id, &user_id).unwrap_or_default();
    Ok(Outcome::ok(
        shown,
        app_user_events(
            tenant,
            "application.user_membership.update",
            &current,
            index,
        ),
    ))
}

fn unassign_user(
    tenant: &mut Tenant,
    env: &mut Env,
    id: &str,
    user: &str,
) -> Result<Outcome, ApiError> {
    let current = app(tenant, id)?.clone();
    let index = tenant
        .user_index(user)
        .ok_or_else(|| ApiError::not_found("User", user))?;
    let record = tenant
        .app_assignments(id)
        .and_then(|a| a.find(index))
        .ok_or_else(|| ApiError::not_found("AppUser", user))?;
    if record.group.is_some() {
        // Inherited from a group: only removing the group assignment takes it away.
        return Err(ApiError::custom(
            403,
            "E0000046",
            "Deactivate application for user forbidden.",
        ));
    }
    let events = app_user_events(
        tenant,
        "application.user_membership.remove",
        &current,
        index,
    );
    tenant.unassign_user(id, index, env.now_ms);
    Ok(Outcome::empty(204, events))
}

fn assign_group(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    id: &str,
    group: &str,
) -> Result<Outcome, ApiError> {
    let body = write.body.cloned().unwrap_or(json!({}));
    let current = app(tenant, id)?.clone();
    let group_value = tenant
        .group(group)
        .cloned()
        .ok_or_else(|| ApiError::not_found("UserGroup", group))?;
    let priority = match &body["priority"] {
        Value::Null => None,
        v => Some(
            v.as_u64()
                .and_then(|p| usize::try_from(p).ok())
                .ok_or_else(|| ApiError::validation("priority", "priority: Must be a number"))?,
        ),
    };
    let now = env.now();
    let assignment = json!({
        "id": group,
        "lastUpdated": now,
        "priority": priority.unwrap_or(0),
        "profile": body.get("profile").cloned().unwrap_or(json!({})),
        "_links": {
            "app": link(&format!("/api/v1/apps/{id}")),
            "self": link(&format!("/api/v1/apps/{id}/groups/{group}")),
            "group": link(&format!("/api/v1/groups/{group}")),
        },
    });
    let is_new = tenant.put_app_group(id, assignment, priority, env.now_ms);
    let shown = tenant.app_group(id, group).cloned().unwrap_or_default();
    let event = if is_new {
        "group.application_assignment.add"
    } else {
        "group.application_assignment.update"
    };
    Ok(Outcome::ok(
        shown,
        vec![Emitted::new(
            event,
            vec![target::group(&group_value), target::app(&current)],
        )],
    ))
}

fn unassign_group(
    tenant: &mut Tenant,
    env: &mut Env,
    id: &str,
    group: &str,
) -> Result<Outcome, ApiError> {
    let current = app(tenant, id)?.clone();
    let group_value = tenant
        .group(group)
        .cloned()
        .ok_or_else(|| ApiError::not_found("UserGroup", group))?;
    if !tenant.delete_app_group(id, group, env.now_ms) {
        return Err(ApiError::not_found("ApplicationGroupAssignment", group));
    }
    Ok(Outcome::empty(
        204,
        vec![Emitted::new(
            "group.application_assignment.remove",
            vec![target::group(&group_value), target::app(&current)],
        )],
    ))
}
