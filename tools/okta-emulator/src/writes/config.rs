//! Org configuration objects with a lifecycle: network zones, authenticators, authorization
//! servers (with their scopes, claims, policies and rules), identity providers, event and inline
//! hooks, API tokens and ThreatInsight. They share one shape (create, replace, activate,
//! deactivate, delete) and differ in ids, status codes, events and a few rules, which [`Kind`]
//! rows hold:
//!
//! - system zones (`system: true`) are updated, never created, deactivated or deleted; a zone must
//!   be INACTIVE and unused by policy rules before it is deleted;
//! - an authenticator enrollment policy keeps its authenticators active (E0000148), and a key is
//!   active once (E0000157);
//! - the `default` authorization server and system scopes and claims are never deleted;
//! - hooks are deleted only when INACTIVE; a hook's `authScheme.value` is write-only, and a new
//!   event hook is UNVERIFIED until `lifecycle/verify`.

use serde_json::{json, Value};

use super::{
    lifecycle_links, link, object, required, str_of, target, writable, Env, Outcome, Write,
    SERVER_OWNED,
};
use crate::errors::ApiError;
use crate::syslog::{Emitted, Target};
use crate::tenant::{Collection, Tenant};

/// How one kind of configuration object behaves.
struct Kind {
    /// The name Okta's 404 uses.
    name: &'static str,
    prefix: &'static str,
    /// `target[].type` in log events.
    target: &'static str,
    /// API path of the collection, for links.
    path: &'static str,
    created: u16,
    lifecycle: u16,
    events: Events,
    /// Fields that are write-only (dotted paths), removed before storing.
    write_only: &'static [&'static str],
    /// The status of a new object unless `activate=false`.
    starts_active: bool,
}

struct Events {
    create: &'static str,
    update: &'static str,
    /// `None`: the API has no DELETE for the kind.
    delete: Option<&'static str>,
    /// `None` (both): the kind has no lifecycle.
    activate: Option<&'static str>,
    deactivate: Option<&'static str>,
}

const ZONES: Kind = Kind {
    name: "NetworkZone",
    prefix: "nzo",
    target: "NetworkZone",
    path: "/api/v1/zones",
    created: 200,
    lifecycle: 200,
    events: Events {
        create: "zone.create",
        update: "zone.update",
        delete: Some("zone.delete"),
        activate: Some("zone.activate"),
        deactivate: Some("zone.deactivate"),
    },
    write_only: &[],
    starts_active: true,
};

const AUTHENTICATORS: Kind = Kind {
    name: "Authenticator",
    prefix: "aut",
    target: "Authenticator",
    path: "/api/v1/authenticators",
    created: 200,
    lifecycle: 200,
    events: Events {
        create: "security.authenticator.lifecycle.create",
        update: "security.authenticator.lifecycle.update",
        delete: None,
        activate: Some("security.authenticator.lifecycle.activate"),
        deactivate: Some("security.authenticator.lifecycle.deactivate"),
    },
    write_only: &[],
    starts_active: true,
};

const IDPS: Kind = Kind {
    name: "IdentityProvider",
    prefix: "0oa",
    target: "IdentityProvider",
    path: "/api/v1/idps",
    created: 200,
    lifecycle: 200,
    events: Events {
        create: "system.idp.lifecycle.create",
        update: "system.idp.lifecycle.update",
        delete: Some("system.idp.lifecycle.delete"),
        activate: Some("system.idp.lifecycle.activate"),
        deactivate: Some("system.idp.lifecycle.deactivate"),
    },
    write_only: &[],
    starts_active: true,
};

const EVENT_HOOKS: Kind = Kind {
    name: "EventHook",
    prefix: "who",
    target: "EventHook",
    path: "/api/v1/eventHooks",
    created: 200,
    lifecycle: 200,
    events: Events {
        create: "event_hook.created",
        update: "event_hook.updated",
        delete: Some("event_hook.deleted"),
        activate: Some("event_hook.activated"),
        deactivate: Some("event_hook.deactivated"),
    },
    write_only: &["channel.config.authScheme.value"],
    starts_active: true,
};

const INLINE_HOOKS: Kind = Kind {
    name: "InlineHook",
    prefix: "cal",
    target: "InlineHook",
    path: "/api/v1/inlineHooks",
    created: 200,
    lifecycle: 200,
    events: Events {
        create: "inline_hook.created",
        update: "inline_hook.updated",
        delete: Some("inline_hook.deleted"),
        activate: Some("inline_hook.activated"),
        deactivate: Some("inline_hook.deactivated"),
    },
    write_only: &[
        "channel.config.authScheme.value",
        "channel.config.clientSecret",
    ],
    starts_active: true,
};

const AUTH_SERVERS: Kind = Kind {
    name: "AuthorizationServer",
    prefix: "aus",
    target: "AuthorizationServer",
    path: "/api/v1/authorizationServers",
    created: 201,
    lifecycle: 204,
    events: Events {
        create: "oauth2.as.created",
        update: "oauth2.as.updated",
        delete: Some("oauth2.as.deleted"),
        activate: Some("oauth2.as.activated"),
        deactivate: Some("oauth2.as.deactivated"),
    },
    write_only: &[],
    starts_active: true,
};

const SCOPES: Kind = Kind {
    name: "OAuth2Scope",
    prefix: "scp",
    target: "OAuth2Scope",
    path: "",
    created: 201,
    lifecycle: 204,
    events: Events {
        create: "oauth2.scope.created",
        update: "oauth2.scope.updated",
        delete: Some("oauth2.scope.deleted"),
        activate: None,
        deactivate: None,
    },
    write_only: &[],
    starts_active: true,
};

const CLAIMS: Kind = Kind {
    name: "OAuth2Claim",
    prefix: "ocl",
    target: "OAuth2Claim",
    path: "",
    created: 201,
    lifecycle: 204,
    events: Events {
        create: "oauth2.claim.created",
        update: "oauth2.claim.updated",
        delete: Some("oauth2.claim.deleted"),
        activate: None,
        deactivate: None,
    },
    write_only: &[],
    starts_active: true,
};

/// Custom authorization server policies and rules log as policies do.
const AS_POLICIES: Kind = Kind {
    name: "AuthorizationServerPolicy",
    prefix: "00p",
    target: "PolicyEntity",
    path: "",
    created: 201,
    lifecycle: 204,
    events: Events {
        create: "policy.lifecycle.create",
        update: "policy.lifecycle.update",
        delete: Some("policy.lifecycle.delete"),
        activate: Some("policy.lifecycle.activate"),
        deactivate: Some("policy.lifecycle.deactivate"),
    },
    write_only: &[],
    starts_active: true,
};

const AS_RULES: Kind = Kind {
    name: "AuthorizationServerPolicyRule",
    prefix: "0pr",
    target: "PolicyRule",
    path: "",
    created: 201,
    lifecycle: 204,
    events: Events {
        create: "policy.rule.add",
        update: "policy.rule.update",
        delete: Some("policy.rule.delete"),
        activate: Some("policy.rule.activate"),
        deactivate: Some("policy.rule.deactivate"),
    },
    write_only: &[],
    starts_active: true,
};

pub(super) fn route(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    segments: &[&str],
) -> Result<Option<Outcome>, ApiError> {
    let method = write.method;
    let outcome = match segments {
        ["zones", rest @ ..] => crud(tenant, write, env, &ZONES, rest, |t| {
            Some(&mut t.settings_mut().network_zones)
        })?,
        ["authenticators", rest @ ..] => crud(tenant, write, env, &AUTHENTICATORS, rest, |t| {
            Some(&mut t.settings_mut().authenticators)
        })?,
        ["idps", rest @ ..] => crud(tenant, write, env, &IDPS, rest, |t| {
            Some(&mut t.settings_mut().idps)
        })?,
        ["eventHooks", id, "lifecycle", "verify"] if method == "POST" => {
            verify_hook(tenant, env, id)?
        }
        ["eventHooks", rest @ ..] => crud(tenant, write, env, &EVENT_HOOKS, rest, |t| {
            Some(&mut t.settings_mut().event_hooks)
        })?,
        ["inlineHooks", rest @ ..] => {
            // `POST /api/v1/inlineHooks/{id}` replaces a hook, as PUT does.
            let write = match (method, rest) {
                ("POST", [_]) => Write {
                    method: "PUT",
                    ..*write
                },
                _ => Write { ..*write },
            };
            crud(tenant, &write, env, &INLINE_HOOKS, rest, |t| {
                Some(&mut t.settings_mut().inline_hooks)
            })?
        }
        ["authorizationServers", rest @ ..] => authorization_servers(tenant, write, env, rest)?,
        ["api-tokens", id] if method == "DELETE" => revoke_token(tenant, id)?,
        ["threats", "configuration"] if method == "POST" => threat_insight(tenant, write, env)?,
        _ => None,
    };
    Ok(outcome)
}

/// Create / replace / activate / deactivate / delete over one collection.
fn crud(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    kind: &Kind,
    rest: &[&str],
    locate: impl Fn(&mut Tenant) -> Option<&mut Collection>,
) -> Result<Option<Outcome>, ApiError> {
    let lifecycle_ops = kind.events.activate.is_some();
    Ok(Some(match (write.method, rest) {
        ("POST", []) => create(tenant, write, env, kind, kind.path, &locate)?,
        ("PUT", [id]) => replace(tenant, write, env, kind, id, &locate)?,
        ("DELETE", [id]) if kind.events.delete.is_some() => delete(tenant, kind, id, &locate)?,
        ("POST", [id, "lifecycle", op @ ("activate" | "deactivate")]) if lifecycle_ops => {
            lifecycle(tenant, env, kind, kind.path, id, op, &locate)?
        }
        _ => return Ok(None),
    }))
}

fn target_of(kind: &Kind, item: &Value) -> Target {
    target::named(item, kind.target)
}

fn strip_write_only(kind: &Kind, item: &mut Value) {
    for path in kind.write_only {
        let mut parts: Vec<&str> = path.split('.').collect();
        let Some(last) = parts.pop() else {
            continue;
        };
        let parent = parts.iter().try_fold(&mut *item, |v, k| v.get_mut(*k));
        if let Some(Value::Object(map)) = parent {
            map.remove(last);
        }
    }
}

fn find<'t>(
    tenant: &'t mut Tenant,
    kind: &Kind,
    id: &str,
    locate: &impl Fn(&mut Tenant) -> Option<&mut Collection>,
) -> Result<&'t mut Value, ApiError> {
    locate(tenant)
        .and_then(|c| c.get_mut(id))
        .ok_or_else(|| ApiError::not_found(kind.name, id))
}

fn create(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    kind: &Kind,
    path: &str,
    locate: &impl Fn(&mut Tenant) -> Option<&mut Collection>,
) -> Result<Outcome, ApiError> {
    let body = object(write)?;
    let value = Value::Object(body.clone());
    check_create(tenant, kind, &value)?;
    let id = env.id(kind.prefix);
    let now = env.now();
    let active = super::flag(write.query, "activate", kind.starts_active);
    let mut item = Value::Object(writable(
        body,
        &[SERVER_OWNED, &["status", "system"]].concat(),
    ));
    item["id"] = json!(id);
    item["created"] = json!(now);
    item["lastUpdated"] = json!(now);
    item["status"] = json!(if active { "ACTIVE" } else { "INACTIVE" });
    if kind.name == "EventHook" {
        item["verificationStatus"] = json!("UNVERIFIED");
    }
    if kind.name == "NetworkZone" {
        item["system"] = json!(false);
    }
    if matches!(kind.name, "OAuth2Scope" | "OAuth2Claim") {
        item["system"] = json!(false);
    }
    if !path.is_empty() {
        item["_links"] = lifecycle_links(&format!("{path}/{id}"), str_of(&item, "status"));
    }
    strip_write_only(kind, &mut item);
    let collection = locate(tenant).ok_or_else(|| ApiError::not_found(kind.name, ""))?;
    collection.insert(item.clone(), None);
    let mut events = vec![Emitted::new(
        kind.events.create,
        vec![target_of(kind, &item)],
    )];
    if let (true, Some(activated)) = (active, kind.events.activate) {
        events.push(Emitted::new(activated, vec![target_of(kind, &item)]));
    }
    let outcome = if kind.created == 201 {
        Outcome::created(item, events)
    } else {
        Outcome::ok(item, events)
    };
    Ok(outcome)
}

/// Per-kind rules for new objects.
fn check_create(tenant: &Tenant, kind: &Kind, body: &Value) -> Result<(), ApiError> {
    match kind.name {
        "NetworkZone" => {
            required(body, "name")?;
            let zone_type = required(body, "type")?;
            if !matches!(zone_type, "IP" | "DYNAMIC" | "DYNAMIC_V2") {
                return Err(ApiError::validation(
                    "type",
                    format!("type: Invalid zone type {zone_type}"),
                ));
            }
            let name = body["name"].as_str().unwrap_or_default();
            if tenant
                .settings()
                .network_zones
                .items()
                .iter()
                .any(|z| z["name"] == name)
            {
                return Err(ApiError::validation(
                    "name",
                    "name: An object with this field already exists in the current organization",
                ));
            }
        }
        "Authenticator" => {
            let key = required(body, "key")?;
            let active = tenant
                .settings()
                .authenticators
                .items()
                .iter()
                .any(|a| a["key"] == key && a["status"] == "ACTIVE");
            if active {
                return Err(ApiError::custom(
                    409,
                    "E0000157",
                    format!("Another authenticator with key: {key} is already active."),
                ));
            }
        }
        "IdentityProvider" => {
            required(body, "name")?;
            required(body, "type")?;
        }
        "EventHook" | "InlineHook" => {
            required(body, "name")?;
            required(body, "channel.config.uri")?;
        }
        "AuthorizationServer" => {
            required(body, "name")?;
        }
        "OAuth2Scope"
        | "OAuth2Claim"
        | "AuthorizationServerPolicy"
        | "AuthorizationServerPolicyRule" => {
            required(body, "name")?;
        }
        _ => {}
    }
    Ok(())
}

fn replace(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    kind: &Kind,
    id: &str,
    locate: &impl Fn(&mut Tenant) -> Option<&mut Collection>,
) -> Result<Outcome, ApiError> {
    let body = object(write)?.clone();
    let current = find(tenant, kind, id, locate)?.clone();
    if kind.name == "NetworkZone" && body.get("type").is_some_and(|t| *t != current["type"]) {
        return Err(ApiError::validation(
            "type",
            "type: The type of a zone cannot be changed",
        ));
    }
    if kind.name == "Authenticator" && body.get("key").is_some_and(|k| *k != current["key"]) {
        return Err(ApiError::validation(
            "key",
            "key: The key of an authenticator cannot be changed",
        ));
    }
    let mut next = current.clone();
    let owned: &[&str] = &["status", "system", "verificationStatus", "key"];
    for (key, value) in writable(&body, &[SERVER_OWNED, owned].concat()) {
        next[key.as_str()] = value;
    }
    next["lastUpdated"] = json!(env.now());
    strip_write_only(kind, &mut next);
    *find(tenant, kind, id, locate)? = next.clone();
    Ok(Outcome::ok(
        next.clone(),
        vec![Emitted::new(
            kind.events.update,
            vec![target_of(kind, &next)],
        )],
    ))
}

fn read_only(kind: &Kind) -> ApiError {
    ApiError::custom(
        403,
        "E0000111",
        format!(
            "Cannot modify the {} object because it is read-only.",
            kind.name
        ),
    )
}

fn lifecycle(
    tenant: &mut Tenant,
    env: &mut Env,
    kind: &Kind,
    path: &str,
    id: &str,
    op: &str,
    locate: &impl Fn(&mut Tenant) -> Option<&mut Collection>,
) -> Result<Outcome, ApiError> {
    let current = find(tenant, kind, id, locate)?.clone();
    if current["system"] == true && kind.name == "NetworkZone" {
        return Err(read_only(kind));
    }
    let activate = op == "activate";
    if !activate && kind.name == "Authenticator" {
        if let Some(policy) = policy_using_authenticator(tenant, str_of(&current, "key")) {
            return Err(ApiError::custom(
                403,
                "E0000148",
                format!(
                    "Cannot modify/disable this authenticator because it is enabled in one or more policies. {policy}"
                ),
            ));
        }
    }
    let status = if activate { "ACTIVE" } else { "INACTIVE" };
    let mut events = Vec::new();
    if current["status"] != status {
        let now = env.now();
        let item = find(tenant, kind, id, locate)?;
        item["status"] = json!(status);
        item["lastUpdated"] = json!(now);
        if !path.is_empty() {
            item["_links"] = lifecycle_links(&format!("{path}/{id}"), status);
        }
        let event = if activate {
            kind.events.activate
        } else {
            kind.events.deactivate
        };
        events.extend(event.map(|e| Emitted::new(e, vec![target_of(kind, &current)])));
    }
    let item = find(tenant, kind, id, locate)?.clone();
    Ok(if kind.lifecycle == 204 {
        Outcome::empty(204, events)
    } else {
        Outcome::ok(item, events)
    })
}

/// The name of an authenticator enrollment policy that lets users enroll the authenticator.
fn policy_using_authenticator(tenant: &Tenant, key: &str) -> Option<String> {
    tenant
        .policies()
        .iter()
        .filter(|p| p["type"] == "MFA_ENROLL" && p["status"] == "ACTIVE")
        .find(|p| {
            p["settings"]["authenticators"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["key"] == key && a["enroll"]["self"] != "NOT_ALLOWED")
        })
        .map(|p| str_of(p, "name").to_owned())
}

fn delete(
    tenant: &mut Tenant,
    kind: &Kind,
    id: &str,
    locate: &impl Fn(&mut Tenant) -> Option<&mut Collection>,
) -> Result<Outcome, ApiError> {
    let current = find(tenant, kind, id, locate)?.clone();
    if current["system"] == true || (kind.name == "AuthorizationServer" && id == "default") {
        return Err(read_only(kind));
    }
    let needs_inactive = matches!(
        kind.name,
        "NetworkZone" | "EventHook" | "InlineHook" | "IdentityProvider"
    );
    if needs_inactive && current["status"] == "ACTIVE" {
        return Err(ApiError::validation(
            "status",
            format!("status: Deactivate the {} before deleting it", kind.name),
        ));
    }
    if kind.name == "NetworkZone" {
        if let Some(rule) = rule_using_zone(tenant, id) {
            return Err(ApiError::validation(
                "zone",
                format!("zone: The zone is used by the policy rule {rule}"),
            ));
        }
    }
    locate(tenant).and_then(|c| c.remove(id));
    let events = kind
        .events
        .delete
        .map(|e| Emitted::new(e, vec![target_of(kind, &current)]));
    Ok(Outcome::empty(204, events.into_iter().collect()))
}

/// The name of a policy rule whose network condition names the zone.
fn rule_using_zone(tenant: &Tenant, zone: &str) -> Option<String> {
    tenant.policies().iter().find_map(|p| {
        tenant
            .policy_rules(str_of(p, "id"))?
            .iter()
            .find(|r| {
                let network = &r["conditions"]["network"];
                ["include", "exclude"].iter().any(|k| {
                    network[*k]
                        .as_array()
                        .is_some_and(|zones| zones.iter().any(|z| z == zone))
                })
            })
            .map(|r| str_of(r, "name").to_owned())
    })
}

fn verify_hook(tenant: &mut Tenant, env: &mut Env, id: &str) -> Result<Option<Outcome>, ApiError> {
    let now = env.now();
    let hooks = &mut tenant.settings_mut().event_hooks;
    let hook = hooks
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("EventHook", id))?;
    hook["verificationStatus"] = json!("VERIFIED");
    hook["lastUpdated"] = json!(now);
    let hook = hook.clone();
    Ok(Some(Outcome::ok(
        hook.clone(),
        vec![Emitted::new(
            "event_hook.verified",
            vec![target::named(&hook, "EventHook")],
        )],
    )))
}

/// `DELETE /api/v1/api-tokens/{id}`: revokes the token (its metadata goes).
fn revoke_token(tenant: &mut Tenant, id: &str) -> Result<Option<Outcome>, ApiError> {
    let (_, token) = tenant
        .settings_mut()
        .api_tokens
        .remove(id)
        .ok_or_else(|| ApiError::not_found("ApiToken", id))?;
    Ok(Some(Outcome::empty(
        204,
        vec![Emitted::new(
            "system.api_token.revoke",
            vec![target::named(&token, "Token")],
        )],
    )))
}

fn threat_insight(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
) -> Result<Option<Outcome>, ApiError> {
    let body = Value::Object(object(write)?.clone());
    let action = required(&body, "action")?;
    if !matches!(action, "none" | "audit" | "block") {
        return Err(ApiError::validation(
            "action",
            format!("action: Invalid action {action}"),
        ));
    }
    let now = env.now();
    let settings = tenant.settings_mut();
    settings.threat_insight["action"] = body["action"].clone();
    settings.threat_insight["excludeZones"] =
        body.get("excludeZones").cloned().unwrap_or(json!([]));
    settings.threat_insight["lastUpdated"] = json!(now);
    let config = settings.threat_insight.clone();
    let target = Target::new(
        "threatInsight",
        "ThreatInsightConfiguration",
        "unknown",
        "ThreatInsight",
    );
    Ok(Some(Outcome::ok(
        config,
        vec![Emitted::new(
            "security.threat.configuration.update",
            vec![target],
        )],
    )))
}

// ---- authorization servers and their children

fn authorization_servers(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    rest: &[&str],
) -> Result<Option<Outcome>, ApiError> {
    let method = write.method;
    match rest {
        [] if method == "POST" => create_server(tenant, write, env).map(Some),
        [id] if method == "DELETE" => {
            let outcome = crud(tenant, write, env, &AUTH_SERVERS, rest, |t| {
                Some(&mut t.settings_mut().authorization_servers)
            })?;
            tenant.settings_mut().auth_servers.remove(*id);
            Ok(outcome)
        }
        [] | [_] | [_, "lifecycle", _] => crud(tenant, write, env, &AUTH_SERVERS, rest, |t| {
            Some(&mut t.settings_mut().authorization_servers)
        }),
        [server, child, tail @ ..] => {
            let server = (*server).to_owned();
            if !tenant.settings().auth_servers.contains_key(&server) {
                return Err(ApiError::not_found("AuthorizationServer", &server));
            }
            match (*child, tail) {
                ("scopes", tail) => {
                    let s = server.clone();
                    crud(tenant, write, env, &SCOPES, tail, move |t| {
                        t.settings_mut()
                            .auth_servers
                            .get_mut(&s)
                            .map(|a| &mut a.scopes)
                    })
                }
                ("claims", tail) => {
                    let s = server.clone();
                    crud(tenant, write, env, &CLAIMS, tail, move |t| {
                        t.settings_mut()
                            .auth_servers
                            .get_mut(&s)
                            .map(|a| &mut a.claims)
                    })
                }
                ("policies", [policy, "rules", tail @ ..]) => {
                    let (s, p) = (server.clone(), (*policy).to_owned());
                    let exists = tenant.settings().auth_servers[&server]
                        .policy_rules
                        .contains_key(&p);
                    if !exists {
                        return Err(ApiError::not_found("AuthorizationServerPolicy", &p));
                    }
                    crud(tenant, write, env, &AS_RULES, tail, move |t| {
                        t.settings_mut()
                            .auth_servers
                            .get_mut(&s)
                            .and_then(|a| a.policy_rules.get_mut(&p))
                    })
                }
                ("policies", tail) => {
                    let s = server.clone();
                    let outcome = crud(tenant, write, env, &AS_POLICIES, tail, move |t| {
                        t.settings_mut()
                            .auth_servers
                            .get_mut(&s)
                            .map(|a| &mut a.policies)
                    })?;
                    sync_policy_rules(tenant, &server, write, tail, outcome.as_ref());
                    Ok(outcome)
                }
                _ => Ok(None),
            }
        }
    }
}

/// A new custom authorization server policy gets an empty rule list; a deleted one loses its.
fn sync_policy_rules(
    tenant: &mut Tenant,
    server: &str,
    write: &Write,
    tail: &[&str],
    outcome: Option<&Outcome>,
) {
    let Some(server) = tenant.settings_mut().auth_servers.get_mut(server) else {
        return;
    };
    match (write.method, tail) {
        ("POST", []) => {
            if let Some(id) = outcome
                .and_then(|o| o.body.as_ref())
                .and_then(|b| b["id"].as_str())
            {
                server
                    .policy_rules
                    .insert(id.to_owned(), Collection::default());
            }
        }
        ("DELETE", [policy]) => {
            server.policy_rules.remove(*policy);
        }
        _ => {}
    }
}

fn create_server(tenant: &mut Tenant, write: &Write, env: &mut Env) -> Result<Outcome, ApiError> {
    let outcome = create(
        tenant,
        write,
        env,
        &AUTH_SERVERS,
        AUTH_SERVERS.path,
        &|t: &mut Tenant| Some(&mut t.settings_mut().authorization_servers),
    )?;
    let Some(mut server) = outcome.body.clone() else {
        return Ok(outcome);
    };
    let id = str_of(&server, "id").to_owned();
    let issuer = format!("{}/oauth2/{id}", crate::tenant::ORIGIN_PLACEHOLDER);
    server["issuer"] = json!(issuer);
    server["issuerMode"] = server
        .get("issuerMode")
        .cloned()
        .unwrap_or(json!("ORG_URL"));
    server["credentials"] = json!({ "signing": {
        "rotationMode": "AUTO",
        "kid": env.secret(43),
        "lastRotated": env.now(),
        "nextRotation": env.now(),
        "use": "sig",
    } });
    let path = format!("{}/{id}", AUTH_SERVERS.path);
    let mut links = lifecycle_links(&path, "ACTIVE");
    for child in ["scopes", "claims", "policies"] {
        links[child] = link(&format!("{path}/{child}"));
    }
    server["_links"] = links;
    if let Some(stored) = tenant.settings_mut().authorization_servers.get_mut(&id) {
        *stored = server.clone();
    }
    tenant
        .settings_mut()
        .auth_servers
        .insert(id, crate::tenant::AuthServer::empty());
    Ok(Outcome {
        body: Some(server),
        ..outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_only_fields_are_dropped() {
        let mut hook = json!({ "channel": { "config": { "authScheme": { "type": "HEADER", "value": "s3cret" }, "uri": "https://x" } } });
        strip_write_only(&EVENT_HOOKS, &mut hook);
        assert_eq!(
            hook["channel"]["config"]["authScheme"],
            json!({ "type": "HEADER" })
        );
    }
}
