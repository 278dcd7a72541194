//! The seeded Okta org the emulator serves, which writes change (see `edit.rs`).
//!
//! Everything is generated up front from a seed, so tests can hold the same [`Tenant`] the server
//! starts with (see [`crate::tenant()`]) and compare a backup against it. Payloads are kept as the API
//! returns them — except app user assignments, numerous in a big org, which are kept compact and
//! rendered on demand — with link URLs starting with [`ORIGIN_PLACEHOLDER`]: the server swaps in
//! the origin the client called, as Okta's links point at the org domain.

mod apps;
mod defaults;
mod edit;
mod groups;
mod names;
mod policies;
mod settings;
mod users;

use std::collections::HashMap;

use serde_json::{json, Value};

pub(crate) use apps::AppUsers;
pub use policies::POLICY_TYPES;
pub(crate) use settings::{AuthServer, Settings};

use crate::prng::SplitMix64;
use crate::time::iso8601;

/// Origin that every `href` in tenant data starts with (the spec examples' own placeholder).
pub const ORIGIN_PLACEHOLDER: &str = "https://{yourOktaDomain}";

/// The org is created at 2024-01-01T00:00:00.000Z; every other timestamp comes after it.
const ORG_CREATED_MS: i64 = 1_704_067_200_000;
const DAY_MS: i64 = 86_400_000;
const ORG_SUBDOMAIN: &str = "example";

/// Items in Okta's list order, findable by `id` for single GETs and pagination cursors.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Collection {
    items: Vec<Value>,
    index: HashMap<String, usize>,
}

impl Collection {
    pub(crate) fn from_items(items: Vec<Value>) -> Self {
        let index = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| Some((item["id"].as_str()?.to_owned(), i)))
            .collect();
        Self { items, index }
    }

    pub(crate) fn items(&self) -> &[Value] {
        &self.items
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Value> {
        self.position(id).map(|i| &self.items[i])
    }

    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        let i = self.position(id)?;
        Some(&mut self.items[i])
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Adds `item` at the end of the list (or at `at`), returning its position.
    pub(crate) fn insert(&mut self, item: Value, at: Option<usize>) -> usize {
        let at = at.map_or(self.items.len(), |at| at.min(self.items.len()));
        self.items.insert(at, item);
        if at + 1 == self.items.len() {
            if let Some(id) = self.items[at]["id"].as_str() {
                self.index.insert(id.to_owned(), at);
            }
        } else {
            self.reindex();
        }
        at
    }

    /// Removes the item `id`, returning it and the position it had.
    pub(crate) fn remove(&mut self, id: &str) -> Option<(usize, Value)> {
        let at = self.position(id)?;
        let item = self.items.remove(at);
        self.reindex();
        Some((at, item))
    }

    /// Re-sorts the list (policies and rules by priority) and rebuilds the index.
    pub(crate) fn sort_by_key<K: Ord>(&mut self, key: impl FnMut(&Value) -> K) {
        self.items.sort_by_key(key);
        self.reindex();
    }

    pub(crate) fn items_mut(&mut self) -> &mut [Value] {
        &mut self.items
    }

    fn reindex(&mut self) {
        self.index = self
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| Some((item["id"].as_str()?.to_owned(), i)))
            .collect();
    }
}

/// A complete seeded org: users, groups and memberships, apps and assignments, policies and rules.
#[derive(Clone, Debug, PartialEq)]
pub struct Tenant {
    org: Value,
    users: Collection,
    logins: HashMap<String, usize>,
    /// Indexes of the users a plain `GET /api/v1/users` lists: all but DEPROVISIONED ones.
    listed_users: Vec<usize>,
    groups: Collection,
    /// Group id → indexes into `users`, in membership order.
    group_members: HashMap<String, Vec<usize>>,
    apps: Collection,
    app_users: HashMap<String, AppUsers>,
    app_groups: HashMap<String, Collection>,
    policies: Collection,
    policy_rules: HashMap<String, Collection>,
    /// Policy types the org's licence does not include: listing them is Okta's E0000002.
    unlicensed_policy_types: Vec<String>,
    settings: Settings,
}

impl Tenant {
    /// Generates an org with `users` users (the first one is the super admin that API tokens belong
    /// to), the built-in `Everyone` group plus `groups` OKTA_GROUP groups, `apps` apps cycling through
    /// the sign-on modes, and policies of every backed-up type. Same arguments, same tenant.
    pub fn generate(seed: u64, users: usize, groups: usize, apps: usize) -> Self {
        let mut rng = SplitMix64::new(seed);
        let org_id = rng.okta_id("00o");
        let user_type_id = rng.okta_id("oty");
        let user_list = users::generate(&mut rng, users.max(1), &user_type_id);
        let seeded_groups = groups::generate(&mut rng, groups, &user_list);
        let seeded_policies = policies::generate(&mut rng, &seeded_groups);
        let access_policy_id = seeded_policies
            .iter()
            .find(|p| p.policy["type"] == "ACCESS_POLICY" && p.policy["system"] == true)
            .and_then(|p| p.policy["id"].as_str())
            .unwrap_or_default()
            .to_owned();
        let seeded_apps = apps::generate(
            &mut rng,
            &apps::Context {
                count: apps,
                org_id: &org_id,
                subdomain: ORG_SUBDOMAIN,
                users: &user_list,
                groups: &seeded_groups,
                access_policy_id: &access_policy_id,
            },
        );

        // Generated last, from a stream of its own, so the tenants of earlier emulator versions
        // (users, groups, apps and the first five policy types) stay byte for byte the same.
        let mut example_rng = SplitMix64::new(seed ^ 0x7079_7065_735F_7631);
        let mut seeded_policies = seeded_policies;
        seeded_policies.extend(policies::generate_from_examples(&mut example_rng));

        let logins = user_list
            .iter()
            .enumerate()
            .filter_map(|(i, u)| Some((u["profile"]["login"].as_str()?.to_owned(), i)))
            .collect();
        let listed_users = (0..user_list.len())
            .filter(|&i| user_list[i]["status"] != "DEPROVISIONED")
            .collect();
        let mut group_members = HashMap::new();
        let mut group_list = Vec::with_capacity(seeded_groups.len());
        for group in seeded_groups {
            group_members.insert(id_of(&group.group), group.members);
            group_list.push(group.group);
        }
        let mut app_users = HashMap::new();
        let mut app_groups = HashMap::new();
        let mut app_list = Vec::with_capacity(seeded_apps.len());
        for app in seeded_apps {
            let id = id_of(&app.app);
            app_users.insert(id.clone(), app.users);
            app_groups.insert(id, Collection::from_items(app.groups));
            app_list.push(app.app);
        }
        let mut policy_rules = HashMap::new();
        let mut policy_list = Vec::with_capacity(seeded_policies.len());
        for p in seeded_policies {
            policy_rules.insert(id_of(&p.policy), Collection::from_items(p.rules));
            policy_list.push(p.policy);
        }

        let super_admin = id_of(&user_list[0]);
        let admin_group = group_list.get(1).map(id_of);
        Self {
            settings: Settings::generate(&super_admin, admin_group.as_deref()),
            org: org_settings(&org_id),
            users: Collection::from_items(user_list),
            logins,
            listed_users,
            groups: Collection::from_items(group_list),
            group_members,
            apps: Collection::from_items(app_list),
            app_users,
            app_groups,
            policies: Collection::from_items(policy_list),
            policy_rules,
            unlicensed_policy_types: Vec::new(),
        }
    }

    /// This tenant as an org whose licence lacks `types` (e.g. `ENTITY_RISK` without Identity
    /// Threat Protection): it has no policies of those types, and listing them is an error.
    pub fn without_policy_types<S: AsRef<str>>(mut self, types: &[S]) -> Self {
        let types: Vec<String> = types.iter().map(|t| t.as_ref().to_owned()).collect();
        let (kept, dropped): (Vec<Value>, Vec<Value>) = std::mem::take(&mut self.policies.items)
            .into_iter()
            .partition(|p| !types.iter().any(|t| p["type"] == t.as_str()));
        for policy in &dropped {
            self.policy_rules.remove(&id_of(policy));
        }
        self.policies = Collection::from_items(kept);
        self.unlicensed_policy_types.extend(types);
        self
    }

    /// Whether the org's licence includes policies of `policy_type` (one of the spec's types).
    pub fn has_policy_type(&self, policy_type: &str) -> bool {
        POLICY_TYPES.contains(&policy_type)
            && !self
                .unlicensed_policy_types
                .iter()
                .any(|t| t == policy_type)
    }

    /// `GET /api/v1/org`.
    pub fn org(&self) -> &Value {
        &self.org
    }

    /// Every user, DEPROVISIONED ones included, in list order.
    pub fn users(&self) -> &[Value] {
        self.users.items()
    }

    /// A user by id or by login, as `GET /api/v1/users/{idOrLogin}` resolves it.
    pub fn user(&self, id_or_login: &str) -> Option<&Value> {
        self.users.get(id_or_login).or_else(|| {
            self.logins
                .get(id_or_login)
                .map(|&i| &self.users.items()[i])
        })
    }

    /// Where a user id sits in [`Tenant::users`].
    pub(crate) fn user_position(&self, id: &str) -> Option<usize> {
        self.users.position(id)
    }

    /// Indexes into [`Tenant::users`] of every user but the DEPROVISIONED ones.
    pub(crate) fn listed_user_indexes(&self) -> &[usize] {
        &self.listed_users
    }

    /// The super admin every API token belongs to (`GET /api/v1/users/me`).
    pub fn super_admin(&self) -> &Value {
        &self.users.items()[0]
    }

    /// The built-in `Everyone` group first, then the OKTA_GROUP groups.
    pub fn groups(&self) -> &[Value] {
        self.groups.items()
    }

    pub fn group(&self, id: &str) -> Option<&Value> {
        self.groups.get(id)
    }

    /// Members of a group as user payloads, or `None` for an unknown group.
    pub fn group_members(&self, group_id: &str) -> Option<Vec<&Value>> {
        let members = self.group_members.get(group_id)?;
        Some(members.iter().map(|&i| &self.users.items()[i]).collect())
    }

    pub fn apps(&self) -> &[Value] {
        self.apps.items()
    }

    pub fn app(&self, id: &str) -> Option<&Value> {
        self.apps.get(id)
    }

    /// App user assignments (direct `USER` scope and group-derived `GROUP` scope), in list order.
    pub fn app_users(&self, app_id: &str) -> Option<Vec<Value>> {
        let assignments = self.app_users.get(app_id)?;
        let render = |r| assignments.render(r, self.users(), self.groups());
        Some(assignments.records().iter().map(render).collect())
    }

    pub fn app_user(&self, app_id: &str, user_id: &str) -> Option<Value> {
        let assignments = self.app_users.get(app_id)?;
        let record = assignments.find(self.user_position(user_id)?)?;
        Some(assignments.render(record, self.users(), self.groups()))
    }

    /// An app's assignments in compact form, for paging without rendering every one.
    pub(crate) fn app_assignments(&self, app_id: &str) -> Option<&AppUsers> {
        self.app_users.get(app_id)
    }

    /// Group members as indexes into [`Tenant::users`].
    pub(crate) fn group_member_indexes(&self, group_id: &str) -> Option<&[usize]> {
        self.group_members.get(group_id).map(Vec::as_slice)
    }

    /// App group assignments, each with its `priority`.
    pub fn app_groups(&self, app_id: &str) -> Option<&[Value]> {
        self.app_groups.get(app_id).map(Collection::items)
    }

    pub fn app_group(&self, app_id: &str, group_id: &str) -> Option<&Value> {
        self.app_groups.get(app_id)?.get(group_id)
    }

    /// Policies of every type, grouped by type and ordered by `priority` within a type.
    pub fn policies(&self) -> &[Value] {
        self.policies.items()
    }

    pub fn policy(&self, id: &str) -> Option<&Value> {
        self.policies.get(id)
    }

    /// A policy's rules in `priority` order, the system default rule last.
    pub fn policy_rules(&self, policy_id: &str) -> Option<&[Value]> {
        self.policy_rules.get(policy_id).map(Collection::items)
    }

    pub fn policy_rule(&self, policy_id: &str, rule_id: &str) -> Option<&Value> {
        self.policy_rules.get(policy_id)?.get(rule_id)
    }

    /// Group rules, authenticators, zones, authorization servers, IdPs, hooks, roles, ...
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// A copy of `value` whose links start with `origin` (e.g. `http://127.0.0.1:8080`) instead of
/// [`ORIGIN_PLACEHOLDER`] — what the server sends to a client that called that origin.
pub fn with_origin(value: &Value, origin: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace(ORIGIN_PLACEHOLDER, origin)),
        Value::Array(items) => items.iter().map(|v| with_origin(v, origin)).collect(),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), with_origin(v, origin)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn id_of(item: &Value) -> String {
    item["id"].as_str().unwrap_or_default().to_owned()
}

/// An Okta timestamp `ms` milliseconds after the org was created.
fn stamp(ms: i64) -> String {
    iso8601(ORG_CREATED_MS + ms)
}

/// A random instant within the first `days` days of the org, at whole seconds like most Okta stamps.
fn random_instant(rng: &mut SplitMix64, days: u64) -> i64 {
    (rng.below(days * 86_400) as i64) * 1000
}

/// `{"href": ...}` for an API path.
fn link(path: &str) -> Value {
    json!({ "href": format!("{ORIGIN_PLACEHOLDER}{path}") })
}

/// `{"href": ..., "hints": {"allow": [...]}}`, as Okta marks which methods a link accepts.
fn link_allowing(path: &str, methods: &[&str]) -> Value {
    json!({ "href": format!("{ORIGIN_PLACEHOLDER}{path}"), "hints": { "allow": methods } })
}

fn org_settings(org_id: &str) -> Value {
    json!({
        "id": org_id,
        "companyName": "Example Corp",
        "subdomain": ORG_SUBDOMAIN,
        "status": "ACTIVE",
        "website": "https://www.example.com",
        "phoneNumber": "+1-555-0100",
        "supportPhoneNumber": "+1-555-0199",
        "endUserSupportHelpURL": "https://help.example.com",
        "address1": "100 Example Way",
        "address2": "Suite 400",
        "city": "San Francisco",
        "state": "California",
        "country": "United States",
        "postalCode": "94105",
        "created": stamp(0),
        "lastUpdated": stamp(180 * DAY_MS + 42_123),
        "_links": {
            "preferences": link("/api/v1/org/preferences"),
            "uploadLogo": link_allowing("/api/v1/org/logo", &["POST"]),
            "oktaCommunication": link("/api/v1/org/privacy/oktaCommunication"),
            "oktaSupport": link("/api/v1/org/privacy/oktaSupport"),
            "contacts": link("/api/v1/org/contacts"),
        },
    })
}
