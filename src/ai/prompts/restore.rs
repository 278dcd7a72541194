//! Explain a restore plan's blast radius: what applying it would do to sign-in and access.
//!
//! The input is the shape a restore plan reduces to (the restore module's own type converts
//! into it). For each operation Butterfly computes the impact itself from the tenant — members
//! of a group, apps it grants, admin roles it carries, policies that name it — so the model gets
//! counts and pseudonyms, never member lists.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::views::{self, APP, GROUP, GROUP_RULE, NETWORK_ZONE, POLICY, POLICY_RULE, USER};
use super::{capped, PromptKind, PromptSpec};
use crate::ai::fields::project;
use crate::ai::pseudonym::Kind;
use crate::ai::redact::Redactor;
use crate::ai::tenant::{text, TenantView};
use crate::tenant::ResourceType;

const MAX_OPERATIONS: usize = 50;
/// Pseudonyms listed per impact list (counts are complete).
const MAX_REFS: usize = 10;

/// Operations a restore would apply to the live tenant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RestorePlan {
    pub operations: Vec<RestoreOp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestoreOp {
    pub action: RestoreAction,
    pub resource: ResourceType,
    pub object_id: String,
    /// JSON pointers the operation sets.
    pub fields: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreAction {
    Create,
    Update,
    Delete,
    Activate,
    Deactivate,
}

pub const SPEC: PromptSpec = PromptSpec {
    kind: PromptKind::RestoreBlastRadius,
    task: "Explain the blast radius of this restore plan before an administrator approves it: \
what each operation would change for sign-in, MFA, app access and admin roles, how many users \
each affects, what could lock users or administrators out, and in what order to apply it or \
what to check first. Flag the riskiest operations first.",
    views: &[
        &USER,
        &GROUP,
        &APP,
        &POLICY,
        &POLICY_RULE,
        &GROUP_RULE,
        &NETWORK_ZONE,
    ],
    identity_changes: false,
    keys: &[
        ("operations_total", "how many operations the plan has"),
        ("operations", "the first 50 of them"),
        ("action", "create, update, delete, activate or deactivate"),
        ("resource", "the resource type"),
        ("object", "the object's pseudonym (or its scrubbed key)"),
        (
            "fields_changed",
            "keys of declared fields the operation sets",
        ),
        (
            "other_fields_changed",
            "how many undeclared fields it sets (names withheld)",
        ),
        (
            "current",
            "the object as the tenant has it now (its latest backup), as its view",
        ),
        (
            "impact",
            "what depends on the object (computed by Butterfly)",
        ),
        ("members", "users in the group"),
        (
            "apps_assigned",
            "apps assigned to the group (count, first 10)",
        ),
        ("admin_roles", "admin role types the group or user holds"),
        (
            "policies_naming",
            "policies and rules that include or exclude the group (count, first 10)",
        ),
        (
            "group_rules_assigning",
            "group rules that add users to the group",
        ),
        ("groups", "groups the user is in"),
        ("apps", "apps assigned to the user directly"),
        ("assigned_users", "users assigned to the app"),
        (
            "assigned_groups",
            "groups assigned to the app (count, first 10)",
        ),
        ("rules", "rules of the policy"),
        (
            "apps_bound",
            "apps whose authentication policy this is (count, first 10)",
        ),
        ("policy_type", "type of the rule's policy"),
        ("rules_referencing", "policy rules that name the zone"),
        ("count", "a complete count"),
        ("refs", "pseudonyms of the first 10"),
        ("totals", "sums over the whole plan"),
        (
            "users_in_affected_groups",
            "distinct users in groups the plan touches",
        ),
        (
            "admin_roles_touched",
            "admin role assignments on touched users and groups",
        ),
        (
            "sign_on_policies_touched",
            "policies and rules the plan touches",
        ),
        ("apps_touched", "apps the plan touches"),
    ],
    max_output_tokens: 1500,
};

/// A stored restore plan as the prompt describes it: its writes in plan order. Skipped
/// operations write nothing and are left out. An update that sets a user's or app's status is
/// named for what it does (activate, deactivate); a create lists the declared fields its
/// content sets; a delete sets none.
impl From<&crate::restore::Plan> for RestorePlan {
    fn from(plan: &crate::restore::Plan) -> RestorePlan {
        use crate::restore::Action;
        let operations = plan
            .operations
            .iter()
            .filter_map(|op| {
                let key = op.subject_id()?;
                let (action, fields) = match op.action {
                    Action::Skip => return None,
                    Action::Delete => (RestoreAction::Delete, Vec::new()),
                    Action::Create => {
                        let declared = views::of(op.resource).map(|v| v.fields).unwrap_or_default();
                        let fields = op.content.as_ref().map_or_else(Vec::new, |content| {
                            declared
                                .iter()
                                .filter(|f| content.pointer(f.path).is_some())
                                .map(|f| f.path.to_owned())
                                .collect()
                        });
                        (RestoreAction::Create, fields)
                    }
                    Action::Update => {
                        let status = op
                            .fields
                            .iter()
                            .find(|f| f.path == "/status")
                            .and_then(|f| f.after.as_ref())
                            .and_then(Value::as_str);
                        let action = match status {
                            Some("ACTIVE") => RestoreAction::Activate,
                            Some("INACTIVE" | "DEPROVISIONED") => RestoreAction::Deactivate,
                            _ => RestoreAction::Update,
                        };
                        (action, op.fields.iter().map(|f| f.path.clone()).collect())
                    }
                };
                Some(RestoreOp {
                    action,
                    resource: op.resource,
                    object_id: views::okta_id(op.resource, key).to_owned(),
                    fields,
                })
            })
            .collect();
        RestorePlan { operations }
    }
}

pub(super) fn data(
    plan: &RestorePlan,
    tenant: &dyn TenantView,
    r: &mut Redactor,
    now: DateTime<Utc>,
) -> Value {
    let mut totals = Totals::default();
    let (ops, total) = capped(plan.operations.iter().collect(), MAX_OPERATIONS);
    let operations: Vec<Value> = ops
        .into_iter()
        .map(|op| operation(op, tenant, r, now, &mut totals))
        .collect();
    json!({
        "operations_total": total,
        "operations": operations,
        "totals": {
            "users_in_affected_groups": totals.users.len(),
            "admin_roles_touched": totals.admin_roles,
            "sign_on_policies_touched": totals.policies,
            "apps_touched": totals.apps,
        },
    })
}

#[derive(Default)]
struct Totals {
    users: BTreeSet<String>,
    admin_roles: usize,
    policies: usize,
    apps: usize,
}

fn operation(
    op: &RestoreOp,
    tenant: &dyn TenantView,
    r: &mut Redactor,
    now: DateTime<Utc>,
    totals: &mut Totals,
) -> Value {
    let view = views::of(op.resource);
    let object = match view {
        Some(v) => r.object(v.kind, &op.object_id),
        None => r.free_text(&op.object_id, 80),
    };
    let declared = view.map(|v| v.fields).unwrap_or_default();
    let mut changed = Vec::new();
    let mut other = 0;
    for path in &op.fields {
        match declared.iter().find(|f| f.path == path.as_str()) {
            Some(f) => changed.push(f.key),
            None => other += 1,
        }
    }
    let current = view.and_then(|v| {
        v.find(tenant.all(v.resource), &op.object_id)
            .map(|o| Value::Object(project(v.fields, o, r, now)))
    });
    json!({
        "action": op.action,
        "resource": op.resource,
        "object": object,
        "fields_changed": changed,
        "other_fields_changed": other,
        "current": current,
        "impact": impact(op, tenant, r, totals),
    })
}

/// `{"count": n, "refs": [first pseudonyms]}` for a list of ids of one kind.
fn listed(r: &mut Redactor, kind: Kind, ids: &[&str]) -> Value {
    let refs: Vec<String> = ids
        .iter()
        .take(MAX_REFS)
        .map(|id| r.object(kind, id))
        .collect();
    json!({"count": ids.len(), "refs": refs})
}

fn impact(op: &RestoreOp, t: &dyn TenantView, r: &mut Redactor, totals: &mut Totals) -> Value {
    let id = op.object_id.as_str();
    let mut out = Map::new();
    match op.resource {
        ResourceType::Groups => {
            let members: Vec<&str> = t
                .all(ResourceType::GroupMembers)
                .iter()
                .filter(|m| text(m, "/groupId") == Some(id))
                .filter_map(|m| text(m, "/userId"))
                .collect();
            totals.users.extend(members.iter().map(|u| u.to_string()));
            let apps: Vec<&str> = t
                .all(ResourceType::AppGroupAssignments)
                .iter()
                .filter(|a| text(a, "/group/id") == Some(id))
                .filter_map(|a| text(a, "/appId"))
                .collect();
            let roles = role_types(t.all(ResourceType::GroupRoles), "/groupId", id);
            totals.admin_roles += roles.len();
            let naming = policies_naming_group(t, id);
            let rules: Vec<&str> = t
                .all(ResourceType::GroupRules)
                .iter()
                .filter(|g| {
                    g.pointer("/actions/assignUserToGroups/groupIds")
                        .and_then(Value::as_array)
                        .is_some_and(|ids| ids.iter().any(|g| g.as_str() == Some(id)))
                })
                .filter_map(|g| text(g, "/id"))
                .collect();
            out.insert("members".into(), members.len().into());
            out.insert("apps_assigned".into(), listed(r, Kind::App, &apps));
            out.insert("admin_roles".into(), json!(roles));
            out.insert("policies_naming".into(), listed(r, Kind::Policy, &naming));
            out.insert(
                "group_rules_assigning".into(),
                listed(r, Kind::GroupRule, &rules),
            );
        }
        ResourceType::Users => {
            let groups = t
                .all(ResourceType::GroupMembers)
                .iter()
                .filter(|m| text(m, "/userId") == Some(id))
                .count();
            let apps = t
                .all(ResourceType::AppUserAssignments)
                .iter()
                .filter(|a| {
                    text(a, "/user/id") == Some(id) && text(a, "/user/scope") == Some("USER")
                })
                .count();
            let roles = role_types(t.all(ResourceType::UserRoles), "/userId", id);
            totals.users.insert(id.to_owned());
            totals.admin_roles += roles.len();
            out.insert("groups".into(), groups.into());
            out.insert("apps".into(), apps.into());
            out.insert("admin_roles".into(), json!(roles));
        }
        ResourceType::Apps => {
            totals.apps += 1;
            let users = t
                .all(ResourceType::AppUserAssignments)
                .iter()
                .filter(|a| text(a, "/appId") == Some(id))
                .count();
            let groups: Vec<&str> = t
                .all(ResourceType::AppGroupAssignments)
                .iter()
                .filter(|a| text(a, "/appId") == Some(id))
                .filter_map(|a| text(a, "/group/id"))
                .collect();
            out.insert("assigned_users".into(), users.into());
            out.insert("assigned_groups".into(), listed(r, Kind::Group, &groups));
        }
        ResourceType::Policies => {
            totals.policies += 1;
            let rules = t
                .all(ResourceType::PolicyRules)
                .iter()
                .filter(|e| text(e, "/policyId") == Some(id))
                .count();
            let apps = apps_bound(t, id);
            out.insert("rules".into(), rules.into());
            out.insert("apps_bound".into(), listed(r, Kind::App, &apps));
        }
        ResourceType::PolicyRules => {
            totals.policies += 1;
            let policy = t
                .all(ResourceType::PolicyRules)
                .iter()
                .find(|e| text(e, "/rule/id") == Some(id))
                .and_then(|e| text(e, "/policyId"));
            if let Some(policy) = policy {
                let kind = t
                    .all(ResourceType::Policies)
                    .iter()
                    .find(|p| text(p, "/id") == Some(policy))
                    .and_then(|p| text(p, "/type"));
                out.insert("policy_type".into(), json!(kind));
                out.insert(
                    "apps_bound".into(),
                    listed(r, Kind::App, &apps_bound(t, policy)),
                );
            }
        }
        ResourceType::NetworkZones => {
            let rules = t
                .all(ResourceType::PolicyRules)
                .iter()
                .filter(|e| {
                    [
                        "/rule/conditions/network/include",
                        "/rule/conditions/network/exclude",
                    ]
                    .iter()
                    .any(|p| {
                        e.pointer(p)
                            .and_then(Value::as_array)
                            .is_some_and(|z| z.iter().any(|z| z.as_str() == Some(id)))
                    })
                })
                .count();
            out.insert("rules_referencing".into(), rules.into());
        }
        _ => {}
    }
    Value::Object(out)
}

/// Role types of the in-force role entries whose `owner` pointer is `id`.
fn role_types<'a>(entries: &'a [Value], owner: &str, id: &str) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|e| text(e, owner) == Some(id))
        .filter_map(|e| e.get("role"))
        .filter(|role| crate::ai::tenant::in_force(role))
        .filter_map(|role| text(role, "/type"))
        .collect()
}

/// Policies whose own or whose rules' people conditions include or exclude the group.
fn policies_naming_group<'a>(t: &'a dyn TenantView, group: &str) -> Vec<&'a str> {
    let names = |v: &Value, base: &str| {
        ["include", "exclude"].iter().any(|side| {
            v.pointer(&format!("{base}/conditions/people/groups/{side}"))
                .and_then(Value::as_array)
                .is_some_and(|ids| ids.iter().any(|g| g.as_str() == Some(group)))
        })
    };
    let mut out: Vec<&str> = t
        .all(ResourceType::Policies)
        .iter()
        .filter(|p| names(p, ""))
        .filter_map(|p| text(p, "/id"))
        .collect();
    for entry in t.all(ResourceType::PolicyRules) {
        if names(entry, "/rule") {
            if let Some(policy) = text(entry, "/policyId") {
                if !out.contains(&policy) {
                    out.push(policy);
                }
            }
        }
    }
    out
}

/// Apps whose `_links.accessPolicy` points at `policy`.
pub(super) fn apps_bound<'a>(t: &'a dyn TenantView, policy: &str) -> Vec<&'a str> {
    t.all(ResourceType::Apps)
        .iter()
        .filter(|a| access_policy_id(a) == Some(policy))
        .filter_map(|a| text(a, "/id"))
        .collect()
}

/// The id at the end of an app's `_links.accessPolicy.href`.
pub(super) fn access_policy_id(app: &Value) -> Option<&str> {
    text(app, "/_links/accessPolicy/href")?
        .trim_end_matches('/')
        .rsplit('/')
        .next()
}
