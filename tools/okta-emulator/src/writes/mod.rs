//! Writes with Okta's semantics: creating, changing, deactivating and deleting the org's objects,
//! each returning Okta's response and the System Log events Okta records for it.
//!
//! The rules are Okta's API reference's (the management spec and the Users, Groups, Apps,
//! Policies, Zones, Authenticators, Authorization Servers, IdPs and Hooks references of
//! developer.okta.com), with the error codes of Okta's error catalogue. Callers run one write at
//! a time under the tenant's write lock.

mod apps;
mod config;
mod groups;
mod policies;
mod roles;
mod users;

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::errors::ApiError;
use crate::paging::Query;
use crate::prng::SplitMix64;
use crate::schema::{Mode, Schemas};
use crate::syslog::{Emitted, Target};
use crate::tenant::{Tenant, ORIGIN_PLACEHOLDER};
use crate::time::iso8601;

/// One write request.
pub(crate) struct Write<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a Query<'a>,
    /// The parsed JSON body; `None` when the request had none.
    pub(crate) body: Option<&'a Value>,
}

/// What a write needs besides the tenant: the time and a source of new ids.
pub(crate) struct Env<'a> {
    pub(crate) now_ms: u64,
    pub(crate) rng: &'a mut SplitMix64,
}

impl Env<'_> {
    fn id(&mut self, prefix: &str) -> String {
        self.rng.okta_id(prefix)
    }

    fn now(&self) -> String {
        iso8601(i64::try_from(self.now_ms).unwrap_or(i64::MAX))
    }

    fn secret(&mut self, len: usize) -> String {
        self.rng.base62(len)
    }
}

/// Okta's answer to a write, and the events it logs.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) status: u16,
    pub(crate) body: Option<Value>,
    pub(crate) events: Vec<Emitted>,
}

impl Outcome {
    fn ok(body: Value, events: Vec<Emitted>) -> Self {
        Self {
            status: 200,
            body: Some(body),
            events,
        }
    }

    fn created(body: Value, events: Vec<Emitted>) -> Self {
        Self {
            status: 201,
            body: Some(body),
            events,
        }
    }

    fn empty(status: u16, events: Vec<Emitted>) -> Self {
        Self {
            status,
            body: None,
            events,
        }
    }
}

/// The spec's request body schemas of the writes served (`src/spec/requests.json`, made by
/// `scripts/extract-spec.py`).
fn request_schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        Schemas::new(
            serde_json::from_str(include_str!("../spec/requests.json"))
                .expect("embedded request schemas are valid JSON"),
        )
    })
}

/// The request schema for `method path`: the template with the most literal segments that
/// matches (`/groups/rules` before `/groups/{groupId}`).
fn request_schema(method: &str, path: &str) -> Option<&'static Value> {
    let schemas = request_schemas();
    let segments: Vec<&str> = path.split('/').collect();
    schemas
        .path_keys()
        .filter_map(|key| {
            let (m, template) = key.split_once(' ')?;
            let parts: Vec<&str> = template.split('/').collect();
            let fits = m == method
                && parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s);
            fits.then(|| (parts.iter().filter(|t| !t.starts_with('{')).count(), key))
        })
        .max_by_key(|(literals, _)| *literals)
        .and_then(|(_, key)| schemas.path(key))
}

/// Okta's 400 for a payload its request schema refuses, naming each problem.
fn check_payload(write: &Write) -> Result<(), ApiError> {
    let (Some(body), Some(schema)) = (write.body, request_schema(write.method, write.path)) else {
        return Ok(());
    };
    let violations = request_schemas().violations(body, schema, Mode::Request);
    let Some(first) = violations.first() else {
        return Ok(());
    };
    let field = |line: &str| {
        let path = line.split(':').next().unwrap_or_default();
        path.trim_start_matches('$')
            .trim_start_matches('.')
            .to_owned()
    };
    let name = field(first);
    let name = name.rsplit('.').next().unwrap_or("body").to_owned();
    let causes = violations
        .iter()
        .take(10)
        .map(|line| {
            let path = field(line);
            let message = line.split_once(": ").map_or(line.as_str(), |(_, m)| m);
            if path.is_empty() {
                message.to_owned()
            } else {
                format!("{path}: {message}")
            }
        })
        .collect();
    Err(ApiError::with_causes(
        400,
        "E0000001",
        format!(
            "Api validation failed: {}",
            if name.is_empty() { "body" } else { &name }
        ),
        causes,
    ))
}

/// Carries out `write`; `Ok(None)` when no write endpoint matches the method and path. Payloads
/// are checked against the spec's request schema first, as Okta checks them.
pub(crate) fn route(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
) -> Result<Option<Outcome>, ApiError> {
    check_payload(write)?;
    let segments: Vec<&str> = match write.path.strip_prefix("/api/v1/") {
        Some(rest) => rest.split('/').collect(),
        None => return Ok(None),
    };
    let outcome = match (write.method, segments.as_slice()) {
        (_, ["users", ..]) => users::route(tenant, write, env, &segments[1..])?,
        (_, ["groups", "rules", ..]) => groups::route_rules(tenant, write, env, &segments[2..])?,
        (_, ["groups", ..]) => groups::route(tenant, write, env, &segments[1..])?,
        (_, ["apps", ..]) => apps::route(tenant, write, env, &segments[1..])?,
        (_, ["policies", ..]) => policies::route(tenant, write, env, &segments[1..])?,
        _ => config::route(tenant, write, env, &segments)?,
    };
    Ok(outcome)
}

/// The JSON object a write must send, or Okta's answer to a missing or malformed one.
fn object<'w>(write: &'w Write) -> Result<&'w Map<String, Value>, ApiError> {
    write
        .body
        .and_then(Value::as_object)
        .ok_or_else(ApiError::malformed_body)
}

/// A required string field of the body (`field` is a dotted path), or Okta's 400 naming it.
fn required<'v>(body: &'v Value, field: &str) -> Result<&'v str, ApiError> {
    let value = field.split('.').try_fold(body, |v, k| v.get(k));
    value
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            let name = field.rsplit('.').next().unwrap_or(field);
            ApiError::validation(name, format!("{name}: The field cannot be left blank"))
        })
}

/// A copy of `body` without the properties the server owns (ids, timestamps, links), so a
/// client's values for them are ignored as Okta ignores them.
fn writable(body: &Map<String, Value>, read_only: &[&str]) -> Map<String, Value> {
    body.iter()
        .filter(|(k, _)| !read_only.contains(&k.as_str()) && k.as_str() != "_links")
        .filter(|(k, _)| k.as_str() != "_embedded")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Properties the server sets on every object.
const SERVER_OWNED: &[&str] = &["id", "created", "lastUpdated", "_links", "_embedded"];

/// `{"href": ...}` for an API path, at the placeholder origin the server replaces.
fn link(path: &str) -> Value {
    json!({ "href": format!("{ORIGIN_PLACEHOLDER}{path}") })
}

fn link_allowing(path: &str, methods: &[&str]) -> Value {
    json!({ "href": format!("{ORIGIN_PLACEHOLDER}{path}"), "hints": { "allow": methods } })
}

/// `_links` of an object with a lifecycle: itself, and the transition its status allows.
fn lifecycle_links(path: &str, status: &str) -> Value {
    let mut links = json!({ "self": link(path) });
    let (name, op) = if status == "ACTIVE" {
        ("deactivate", "deactivate")
    } else {
        ("activate", "activate")
    };
    links[name] = link_allowing(&format!("{path}/lifecycle/{op}"), &["POST"]);
    links
}

fn str_of<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key].as_str().unwrap_or_default()
}

/// A boolean query parameter (`activate=false`), or its default.
fn flag(query: &Query, name: &str, default: bool) -> bool {
    match query.get(name) {
        Some(v) => !v.eq_ignore_ascii_case("false"),
        None => default,
    }
}

/// Log targets for the common objects.
mod target {
    use super::*;

    pub(super) fn user(user: &Value) -> Target {
        let login = user["profile"]["login"].as_str().unwrap_or_default();
        Target::new(
            str_of(user, "id"),
            "User",
            login,
            &crate::syslog::event::display_name(&user["profile"]),
        )
    }

    pub(super) fn group(group: &Value) -> Target {
        let name = group["profile"]["name"].as_str().unwrap_or_default();
        Target::new(str_of(group, "id"), "UserGroup", "unknown", name)
    }

    pub(super) fn app(app: &Value) -> Target {
        let label = str_of(app, "label");
        Target::new(str_of(app, "id"), "AppInstance", str_of(app, "name"), label)
    }

    /// A named configuration object (`name` or `label`).
    pub(super) fn named(item: &Value, kind: &'static str) -> Target {
        let name = item["name"]
            .as_str()
            .or(item["label"].as_str())
            .or(item["key"].as_str())
            .unwrap_or_default();
        Target::new(str_of(item, "id"), kind, "unknown", name)
    }
}
