//! Reading Okta objects: JSON navigation plus the Okta semantics several checks share
//! (policy/rule linkage, admin role resolution, first-party apps). Every accessor tolerates
//! missing or mistyped fields by returning `None`, so odd data cannot panic a check.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::compliance::outcome::CheckResult;
use crate::tenant::{MissingResource, ResourceType, TenantSnapshot};

/// `name` of the Okta Admin Console app.
pub(super) const ADMIN_CONSOLE: &str = "saasure";
/// `name` of the Okta End-User Dashboard app.
pub(super) const DASHBOARD: &str = "okta_enduser";
/// Okta's own apps, present in every org and assigned by Okta: assignment hygiene and
/// "dedicated admin account" rules do not apply to them.
const FIRST_PARTY_APPS: [&str; 3] = [ADMIN_CONSOLE, DASHBOARD, "okta_browser_plugin"];

/// The object's `id`, or a placeholder so evidence still names something.
pub(super) fn id(v: &Value) -> &str {
    text(v, "/id").unwrap_or("<missing id>")
}

pub(super) fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

pub(super) fn int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

pub(super) fn flag(v: &Value, pointer: &str) -> Option<bool> {
    v.pointer(pointer).and_then(Value::as_bool)
}

/// The strings of an array field (non-strings skipped); empty when absent.
pub(super) fn strings<'a>(v: &'a Value, pointer: &str) -> Vec<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether an array field exists and has at least one element.
pub(super) fn has_items(v: &Value, pointer: &str) -> bool {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .is_some_and(|items| !items.is_empty())
}

pub(super) fn status(v: &Value) -> Option<&str> {
    text(v, "/status")
}

/// Explicitly `ACTIVE`: used where the object's presence is what proves compliance.
pub(super) fn is_active(v: &Value) -> bool {
    status(v) == Some("ACTIVE")
}

/// Not explicitly switched off: used where the object could cause a violation, so a missing
/// status must not hide it.
pub(super) fn in_force(v: &Value) -> bool {
    !matches!(status(v), Some("INACTIVE" | "DELETED"))
}

/// An RFC 3339 timestamp field: `Ok(None)` when absent or null, `Err` when unparseable.
pub(super) fn timestamp(v: &Value, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) => DateTime::parse_from_rfc3339(raw)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| format!("unparseable {field} {raw:?}")),
        Some(other) => Err(format!("unparseable {field} {other}")),
    }
}

/// `None` when the numeric setting at `pointer` is at least `min`, else what is wrong with it.
pub(super) fn below(v: &Value, pointer: &str, min: i64) -> Option<String> {
    let field = field_name(pointer);
    match int(v, pointer) {
        Some(n) if n >= min => None,
        Some(n) => Some(format!("{field} {n}")),
        None => Some(format!("{field} not set")),
    }
}

/// `None` when the limit at `pointer` is set (Okta uses 0 for "unlimited") and at most `max`.
pub(super) fn above(v: &Value, pointer: &str, max: i64) -> Option<String> {
    let field = field_name(pointer);
    match int(v, pointer) {
        Some(0) => Some(format!("{field} 0 (unlimited)")),
        Some(n) if (1..=max).contains(&n) => None,
        Some(n) => Some(format!("{field} {n}")),
        None => Some(format!("{field} not set")),
    }
}

fn field_name(pointer: &str) -> &str {
    pointer.rsplit('/').next().unwrap_or(pointer)
}

/// Policies of one Okta policy `type` (all statuses).
pub(super) fn policies<'a>(
    s: &'a TenantSnapshot,
    kind: &str,
) -> Result<Vec<&'a Value>, MissingResource> {
    Ok(s.get(ResourceType::Policies)?
        .iter()
        .filter(|p| text(p, "/type") == Some(kind))
        .collect())
}

/// Rules per policy id. Entries without a `policyId` cannot be attributed and are skipped.
pub(super) fn rules_by_policy(
    s: &TenantSnapshot,
) -> Result<BTreeMap<&str, Vec<&Value>>, MissingResource> {
    let mut rules: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for entry in s.get(ResourceType::PolicyRules)? {
        if let (Some(policy_id), Some(rule)) = (text(entry, "/policyId"), entry.get("rule")) {
            rules.entry(policy_id).or_default().push(rule);
        }
    }
    Ok(rules)
}

/// In-force rules that can let someone in: not `DENY` at `access_pointer`.
pub(super) fn granting<'a>(rules: &[&'a Value], access_pointer: &str) -> Vec<&'a Value> {
    rules
        .iter()
        .copied()
        .filter(|r| in_force(r) && text(r, access_pointer) != Some("DENY"))
        .collect()
}

/// Granting rules of every in-force policy of `kind`.
pub(super) fn granting_rules_of<'a>(
    s: &'a TenantSnapshot,
    kind: &str,
    access_pointer: &str,
) -> Result<Vec<&'a Value>, MissingResource> {
    let rules = rules_by_policy(s)?;
    Ok(policies(s, kind)?
        .into_iter()
        .filter(|p| in_force(p))
        .flat_map(|p| {
            granting(
                rules.get(id(p)).map_or(&[][..], Vec::as_slice),
                access_pointer,
            )
        })
        .collect())
}

/// The granting rules of the authentication policy bound to a first-party app (via the app's
/// `_links.accessPolicy`). Anything that prevents resolving them is an `Error` result.
pub(super) fn app_policy_rules<'a>(
    s: &'a TenantSnapshot,
    app_name: &str,
) -> Result<Vec<&'a Value>, CheckResult> {
    let app = s
        .get(ResourceType::Apps)?
        .iter()
        .find(|a| text(a, "/name") == Some(app_name))
        .ok_or_else(|| CheckResult::error(format!("app `{app_name}` not in apps")))?;
    let href = text(app, "/_links/accessPolicy/href").ok_or_else(|| {
        CheckResult::error(format!("app `{app_name}` has no _links.accessPolicy"))
    })?;
    let policy_id = field_name(href);
    if !s
        .get(ResourceType::Policies)?
        .iter()
        .any(|p| id(p) == policy_id)
    {
        return Err(CheckResult::error(format!(
            "authentication policy {policy_id} of app `{app_name}` not in policies"
        )));
    }
    let rules = rules_by_policy(s)?;
    let all = rules.get(policy_id).map_or(&[][..], Vec::as_slice);
    let rules = granting(all, "/actions/appSignOn/access");
    if rules.is_empty() {
        return Err(CheckResult::error(format!(
            "authentication policy {policy_id} has no active allow rules in the snapshot"
        )));
    }
    Ok(rules)
}

pub(super) fn is_first_party(app: &Value) -> bool {
    text(app, "/name").is_some_and(|name| FIRST_PARTY_APPS.contains(&name))
}

/// The built-in `Everyone` group, which Okta policies use to mean "all users".
pub(super) fn everyone_group(groups: &[Value]) -> Option<&str> {
    groups
        .iter()
        .find(|g| {
            text(g, "/type") == Some("BUILT_IN") && text(g, "/profile/name") == Some("Everyone")
        })
        .map(id)
}

/// Group ids per user id, from `group_members`.
pub(super) fn groups_by_user(
    s: &TenantSnapshot,
) -> Result<BTreeMap<&str, BTreeSet<&str>>, MissingResource> {
    let mut groups: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for m in s.get(ResourceType::GroupMembers)? {
        if let (Some(group), Some(user)) = (text(m, "/groupId"), text(m, "/userId")) {
            groups.entry(user).or_default().insert(group);
        }
    }
    Ok(groups)
}

/// One admin role a user holds.
pub(super) struct RoleGrant<'a> {
    pub role: &'a str,
    /// The group the role came through; `None` for a direct assignment.
    pub via_group: Option<&'a str>,
}

impl RoleGrant<'_> {
    pub fn describe(&self) -> String {
        match self.via_group {
            Some(group) => format!("{} via group {group}", self.role),
            None => format!("{} (direct)", self.role),
        }
    }
}

/// Every in-force admin role per user id, direct (`user_roles`) or through a group
/// (`group_roles` × `group_members`). Any entry in those resources is an admin role.
pub(super) fn admin_grants(
    s: &TenantSnapshot,
) -> Result<BTreeMap<&str, Vec<RoleGrant<'_>>>, MissingResource> {
    let mut members: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in s.get(ResourceType::GroupMembers)? {
        if let (Some(group), Some(user)) = (text(m, "/groupId"), text(m, "/userId")) {
            members.entry(group).or_default().push(user);
        }
    }
    let mut grants: BTreeMap<&str, Vec<RoleGrant>> = BTreeMap::new();
    for entry in s.get(ResourceType::UserRoles)? {
        if let (Some(user), Some(role)) = (text(entry, "/userId"), role_of(entry)) {
            let grant = RoleGrant {
                role,
                via_group: None,
            };
            grants.entry(user).or_default().push(grant);
        }
    }
    for entry in s.get(ResourceType::GroupRoles)? {
        if let (Some(group), Some(role)) = (text(entry, "/groupId"), role_of(entry)) {
            for user in members.get(group).into_iter().flatten() {
                let grant = RoleGrant {
                    role,
                    via_group: Some(group),
                };
                grants.entry(user).or_default().push(grant);
            }
        }
    }
    Ok(grants)
}

/// The role type of an in-force `{.., "role": {..}}` assignment entry.
fn role_of(entry: &Value) -> Option<&str> {
    let role = entry.get("role").filter(|r| in_force(r))?;
    Some(text(role, "/type").unwrap_or("UNKNOWN_ROLE"))
}

/// Users holding `SUPER_ADMIN`, with how they got it.
pub(super) fn super_admins<'a>(
    grants: &'a BTreeMap<&'a str, Vec<RoleGrant<'a>>>,
) -> BTreeMap<&'a str, Vec<&'a RoleGrant<'a>>> {
    grants
        .iter()
        .filter_map(|(user, held)| {
            let supers: Vec<_> = held.iter().filter(|g| g.role == "SUPER_ADMIN").collect();
            (!supers.is_empty()).then_some((*user, supers))
        })
        .collect()
}
