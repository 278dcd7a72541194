//! Topology of privileged access: which groups, group rules and apps lead to admin roles, and
//! which apps lack an MFA policy.
//!
//! Butterfly computes the graph itself (role assignments, memberships, the rules and IdPs that
//! fill admin groups, the apps that master them, each app's authentication policy) and sends
//! it as pseudonyms and counts; the model is asked to find the weak paths in it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::restore::access_policy_id;
use super::views::{APP, GROUP, GROUP_RULE, USER};
use super::{capped, PromptKind, PromptSpec};
use crate::ai::fields::{project, View};
use crate::ai::pseudonym::Kind;
use crate::ai::redact::Redactor;
use crate::ai::tenant::{in_force, text, TenantView};
use crate::tenant::ResourceType;

const MAX_ADMIN_USERS: usize = 100;
const MAX_ADMIN_GROUPS: usize = 50;
const MAX_APPS: usize = 100;
const MAX_REFS: usize = 10;

pub const SPEC: PromptSpec = PromptSpec {
    kind: PromptKind::PrivilegedAccess,
    task: "Analyse privileged access in this org. Using the graph in the data: which paths lead \
to admin roles (direct assignments, groups, the group rules and IdPs that add people to those \
groups, the apps that master them), which of those paths are wider or weaker than they should be \
(inactive or stale holders, rules with broad expressions, groups mastered outside Okta, too many \
super admins), and which apps lack an MFA policy. Rank the risks and give concrete steps to \
narrow each path, with Admin Console paths and API calls.",
    views: &[&USER, &GROUP, &GROUP_RULE, &APP],
    identity_changes: false,
    keys: &[
        ("admin_roles", "each admin role type held in the org"),
        ("role_type", "Okta role type, e.g. SUPER_ADMIN"),
        ("direct_holders", "users assigned the role directly (count, first 10)"),
        ("via_groups", "groups carrying the role (count, first 10)"),
        ("effective_holders", "distinct users holding the role either way"),
        ("admin_groups", "groups that carry admin roles (first 50)"),
        ("admin_groups_total", "how many groups carry admin roles"),
        ("ref", "the object's pseudonym"),
        ("roles", "admin role types held (for users: with how)"),
        ("via", "direct, or the pseudonym of the group it comes through"),
        ("members", "users in the group"),
        ("active_members", "members whose status is ACTIVE"),
        ("group_rules_assigning", "group rules that add users to the group (count, first 10)"),
        ("idps_assigning", "identity providers that add users to the group (count, first 10)"),
        ("apps_assigned", "apps assigned to the group or user (count, first 10)"),
        ("admin_users", "users holding admin roles (first 100)"),
        ("admin_users_total", "how many users hold admin roles"),
        ("group_rules", "group rules that add users to admin groups, as their view"),
        ("apps", "apps and their authentication policy (first 100)"),
        ("apps_total", "how many apps the org has"),
        ("mfa", "mfa_required, mfa_not_required, no_policy, no_allow_rules, policy_not_in_snapshot, unknown or not_applicable"),
        ("allow_rules", "rules of the app's policy that can grant access"),
        ("rules_without_mfa", "of those, how many do not require two factors"),
        ("apps_without_mfa", "active apps whose policy lets someone in with one factor, or that have none (count, first 10)"),
        ("count", "a complete count"),
        ("refs", "pseudonyms of the first 10"),
    ],
    max_output_tokens: 2000,
};

/// One admin role a user holds, and where it comes from.
struct Grant<'a> {
    role: &'a str,
    via_group: Option<&'a str>,
}

pub(super) fn data(t: &dyn TenantView, r: &mut Redactor, now: DateTime<Utc>) -> Value {
    let mut members: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in t.all(ResourceType::GroupMembers) {
        if let (Some(g), Some(u)) = (text(m, "/groupId"), text(m, "/userId")) {
            members.entry(g).or_default().push(u);
        }
    }
    let mut grants: BTreeMap<&str, Vec<Grant>> = BTreeMap::new();
    let mut direct: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut via: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut group_roles: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in t.all(ResourceType::UserRoles) {
        if let (Some(user), Some(role)) = (text(e, "/userId"), role_type(e)) {
            grants.entry(user).or_default().push(Grant {
                role,
                via_group: None,
            });
            direct.entry(role).or_default().insert(user);
        }
    }
    for e in t.all(ResourceType::GroupRoles) {
        if let (Some(group), Some(role)) = (text(e, "/groupId"), role_type(e)) {
            via.entry(role).or_default().insert(group);
            group_roles.entry(group).or_default().insert(role);
            for user in members.get(group).into_iter().flatten() {
                grants.entry(user).or_default().push(Grant {
                    role,
                    via_group: Some(group),
                });
            }
        }
    }

    let roles: BTreeSet<&str> = direct.keys().chain(via.keys()).copied().collect();
    let admin_roles: Vec<Value> = roles
        .iter()
        .map(|role| {
            let holders: Vec<&str> = direct.get(role).into_iter().flatten().copied().collect();
            let groups: Vec<&str> = via.get(role).into_iter().flatten().copied().collect();
            let effective = grants
                .values()
                .filter(|g| g.iter().any(|g| g.role == *role))
                .count();
            json!({
                "role_type": role,
                "direct_holders": listed(r, Kind::User, &holders),
                "via_groups": listed(r, Kind::Group, &groups),
                "effective_holders": effective,
            })
        })
        .collect();

    let status: HashMap<&str, &str> = t
        .all(ResourceType::Users)
        .iter()
        .filter_map(|u| Some((text(u, "/id")?, text(u, "/status")?)))
        .collect();
    let (groups, groups_total) = capped(group_roles.iter().collect(), MAX_ADMIN_GROUPS);
    let mut targeting_rules = BTreeSet::new();
    let admin_groups: Vec<Value> = groups
        .into_iter()
        .map(|(group, roles)| {
            let in_group: &[&str] = members.get(group).map_or(&[], Vec::as_slice);
            let active = in_group
                .iter()
                .filter(|u| status.get(*u) == Some(&"ACTIVE"))
                .count();
            let rules = rules_assigning(t, group);
            targeting_rules.extend(rules.iter().copied());
            let idps = idps_assigning(t, group);
            let apps = apps_assigned_to_group(t, group);
            let mut o = object(r, &GROUP, t, group, now);
            o.insert("roles".into(), json!(roles));
            o.insert("members".into(), in_group.len().into());
            o.insert("active_members".into(), active.into());
            o.insert(
                "group_rules_assigning".into(),
                listed(r, Kind::GroupRule, &rules),
            );
            o.insert("idps_assigning".into(), listed(r, Kind::Idp, &idps));
            o.insert("apps_assigned".into(), listed(r, Kind::App, &apps));
            Value::Object(o)
        })
        .collect();

    // One pass over the (large) assignment and user lists, not one per admin.
    let mut direct_apps: HashMap<&str, usize> = HashMap::new();
    for a in t.all(ResourceType::AppUserAssignments) {
        if let Some(user) = text(a, "/user/id") {
            *direct_apps.entry(user).or_default() += 1;
        }
    }
    let by_id: HashMap<&str, &Value> = t
        .all(ResourceType::Users)
        .iter()
        .filter_map(|u| Some((text(u, "/id")?, u)))
        .collect();
    let (holders, users_total) = capped(grants.iter().collect(), MAX_ADMIN_USERS);
    let admin_users: Vec<Value> = holders
        .into_iter()
        .map(|(user, held)| {
            let roles: Vec<Value> = held
                .iter()
                .map(|g| {
                    let via = match g.via_group {
                        Some(group) => r.object(Kind::Group, group),
                        None => "direct".to_owned(),
                    };
                    json!({"role_type": g.role, "via": via})
                })
                .collect();
            let apps = direct_apps.get(*user).copied().unwrap_or(0);
            let mut o = Map::new();
            o.insert("ref".into(), r.object(Kind::User, user).into());
            if let Some(found) = by_id.get(*user) {
                o.extend(project(USER.fields, found, r, now));
            }
            o.insert("roles".into(), Value::Array(roles));
            o.insert("apps_assigned".into(), apps.into());
            Value::Object(o)
        })
        .collect();

    let group_rules: Vec<Value> = targeting_rules
        .into_iter()
        .map(|rule| Value::Object(object(r, &GROUP_RULE, t, rule, now)))
        .collect();

    let all_apps = t.all(ResourceType::Apps);
    let mut without_mfa = Vec::new();
    let mut apps = Vec::new();
    for app in all_apps {
        let Some(id) = text(app, "/id") else { continue };
        let (mfa, allow, weak) = app_mfa(t, app);
        if in_force(app) && matches!(mfa, "mfa_not_required" | "no_policy") {
            without_mfa.push(id);
        }
        if apps.len() < MAX_APPS {
            let mut o = object(r, &APP, t, id, now);
            o.insert("mfa".into(), mfa.into());
            o.insert("allow_rules".into(), allow.into());
            o.insert("rules_without_mfa".into(), weak.into());
            apps.push(Value::Object(o));
        }
    }

    json!({
        "admin_roles": admin_roles,
        "admin_groups": admin_groups,
        "admin_groups_total": groups_total,
        "admin_users": admin_users,
        "admin_users_total": users_total,
        "group_rules": group_rules,
        "apps": apps,
        "apps_total": all_apps.len(),
        "apps_without_mfa": listed(r, Kind::App, &without_mfa),
    })
}

/// `{"ref": pseudonym, ...view fields}` of the object with id `id`.
fn object(
    r: &mut Redactor,
    view: &View,
    t: &dyn TenantView,
    id: &str,
    now: DateTime<Utc>,
) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("ref".into(), r.object(view.kind, id).into());
    if let Some(found) = view.find(t.all(view.resource), id) {
        o.extend(project(view.fields, found, r, now));
    }
    o
}

fn listed(r: &mut Redactor, kind: Kind, ids: &[&str]) -> Value {
    let refs: Vec<String> = ids
        .iter()
        .take(MAX_REFS)
        .map(|id| r.object(kind, id))
        .collect();
    json!({"count": ids.len(), "refs": refs})
}

/// The type of an in-force `{.., "role": {..}}` entry.
fn role_type(entry: &Value) -> Option<&str> {
    let role = entry.get("role").filter(|r| in_force(r))?;
    Some(text(role, "/type").unwrap_or("UNKNOWN_ROLE"))
}

fn contains_id(v: &Value, pointer: &str, id: &str) -> bool {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .is_some_and(|ids| ids.iter().any(|x| x.as_str() == Some(id)))
}

fn rules_assigning<'a>(t: &'a dyn TenantView, group: &str) -> Vec<&'a str> {
    t.all(ResourceType::GroupRules)
        .iter()
        .filter(|g| contains_id(g, "/actions/assignUserToGroups/groupIds", group))
        .filter_map(|g| text(g, "/id"))
        .collect()
}

fn idps_assigning<'a>(t: &'a dyn TenantView, group: &str) -> Vec<&'a str> {
    t.all(ResourceType::Idps)
        .iter()
        .filter(|i| contains_id(i, "/policy/provisioning/groups/assignments", group))
        .filter_map(|i| text(i, "/id"))
        .collect()
}

fn apps_assigned_to_group<'a>(t: &'a dyn TenantView, group: &str) -> Vec<&'a str> {
    t.all(ResourceType::AppGroupAssignments)
        .iter()
        .filter(|a| text(a, "/group/id") == Some(group))
        .filter_map(|a| text(a, "/appId"))
        .collect()
}

/// How an app's authentication policy treats MFA: (verdict, allow rules, rules without MFA).
fn app_mfa(t: &dyn TenantView, app: &Value) -> (&'static str, usize, usize) {
    if text(app, "/signOnMode") == Some("BOOKMARK") {
        return ("not_applicable", 0, 0);
    }
    let Some(policy) = access_policy_id(app) else {
        return ("no_policy", 0, 0);
    };
    if !t
        .all(ResourceType::Policies)
        .iter()
        .any(|p| text(p, "/id") == Some(policy))
    {
        return ("policy_not_in_snapshot", 0, 0);
    }
    let allow: Vec<&Value> = t
        .all(ResourceType::PolicyRules)
        .iter()
        .filter(|e| text(e, "/policyId") == Some(policy))
        .filter_map(|e| e.get("rule"))
        .filter(|rule| in_force(rule) && text(rule, "/actions/appSignOn/access") != Some("DENY"))
        .collect();
    if allow.is_empty() {
        return ("no_allow_rules", 0, 0);
    }
    let method = "/actions/appSignOn/verificationMethod";
    let mut weak = 0;
    let mut unknown = false;
    for rule in &allow {
        match text(rule, &format!("{method}/type")) {
            None | Some("ASSURANCE") => {
                if text(rule, &format!("{method}/factorMode")) != Some("2FA") {
                    weak += 1;
                }
            }
            Some(_) => unknown = true,
        }
    }
    let verdict = match (weak, unknown) {
        (0, false) => "mfa_required",
        (0, true) => "unknown",
        _ => "mfa_not_required",
    };
    (verdict, allow.len(), weak)
}
