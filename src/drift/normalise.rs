//! Applying a type's [rules](super::rules) to one snapshot item: its key, its natural key and
//! its comparable content.
//!
//! Content is the item with its key fields, volatile fields and nulls removed (Okta treats a
//! null field as unset, and emits some as null and omits others) and any object those removals
//! left empty, configuration-carrying links
//! reduced to the id they point to, references optionally rewritten through an id map, and
//! every set-like array sorted by the canonical bytes of its members, innermost first. Two
//! items are "the same" exactly when their contents are equal.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::canonical::canonical_bytes;
use super::heap::entry_bytes;
use super::matching::IdMap;
use super::pointer::{tokens, Pattern, PatternSet, States};
use super::rules::{Key, Link, NaturalPart, TypeRules, COMMON, RULES};
use super::{DiffError, NaturalKey, ResourceId, ResourceType};

/// What a rule says about a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Ignore,
    Set,
    Ordered,
    Secret,
    Reference(ResourceType),
}

/// Every class that applies at one path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Here {
    pub ignore: bool,
    pub set: bool,
    pub ordered: bool,
    pub secret: bool,
    pub reference: Option<ResourceType>,
}

/// One type's rules, compiled.
#[derive(Debug)]
pub struct Normaliser {
    rules: &'static TypeRules,
    patterns: PatternSet<Class>,
    /// Key paths, as (pointer, tokens).
    key: Vec<(&'static str, Vec<String>)>,
    links: Vec<(Vec<String>, &'static Link)>,
}

fn compile(rules: &'static TypeRules) -> Normaliser {
    let mut patterns = Vec::new();
    let mut add = |path: &str, class: Class| {
        let pattern = Pattern::parse(path)
            .unwrap_or_else(|e| panic!("{}: bad rule path: {e}", rules.resource));
        patterns.push((pattern, class));
    };
    for f in COMMON.ignore.iter().chain(rules.ignore) {
        add(f.path, Class::Ignore);
    }
    let key: Vec<(&'static str, Vec<String>)> = match rules.key {
        Key::Fields(paths) => paths
            .iter()
            .map(|&p| (p, tokens(p).expect("key paths are pointers")))
            .collect(),
        Key::Singleton(_) => Vec::new(),
    };
    for (path, _) in &key {
        add(path, Class::Ignore);
    }
    for f in COMMON.sets.iter().chain(rules.sets) {
        add(f.path, Class::Set);
    }
    for f in rules.ordered {
        add(f.path, Class::Ordered);
    }
    for f in COMMON.secrets.iter().chain(rules.secrets) {
        add(f.path, Class::Secret);
    }
    for r in rules.references {
        add(r.path, Class::Reference(r.resource));
    }
    let links = rules
        .links
        .iter()
        .map(|l| (tokens(l.path).expect("link paths are pointers"), l))
        .collect();
    Normaliser {
        rules,
        patterns: PatternSet::new(patterns),
        key,
        links,
    }
}

impl Normaliser {
    /// The compiled rules of `resource`.
    pub fn of(resource: ResourceType) -> &'static Normaliser {
        static ALL: OnceLock<Vec<Normaliser>> = OnceLock::new();
        let all = ALL.get_or_init(|| RULES.iter().map(compile).collect());
        all.iter()
            .find(|n| n.rules.resource == resource)
            .expect("every resource type has rules (checked by a test)")
    }

    pub fn rules(&self) -> &'static TypeRules {
        self.rules
    }

    pub fn resource(&self) -> ResourceType {
        self.rules.resource
    }

    pub(crate) fn root(&self) -> States {
        self.patterns.root()
    }

    pub(crate) fn step(&self, states: &States, token: &str) -> States {
        self.patterns.step(states, token)
    }

    pub(crate) fn here(&self, states: &States) -> Here {
        let mut here = Here::default();
        self.patterns.each_match(states, |class| match *class {
            Class::Ignore => here.ignore = true,
            Class::Set => here.set = true,
            Class::Ordered => here.ordered = true,
            Class::Secret => here.secret = true,
            Class::Reference(t) => here.reference = here.reference.or(Some(t)),
        });
        here
    }

    /// The item's key; `position` (its index in the object) only names it in errors.
    pub fn key(&self, item: &Value, position: u64) -> Result<ResourceId, DiffError> {
        match self.rules.key {
            Key::Singleton(name) => Ok(ResourceId::new(name)),
            Key::Fields(_) => {
                let mut id = String::new();
                for (path, toks) in &self.key {
                    let part = lookup(item, toks)
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .ok_or(DiffError::MissingKey {
                            resource: self.resource(),
                            position,
                            path,
                        })?;
                    if !id.is_empty() {
                        id.push('/');
                    }
                    id.push_str(part);
                }
                Ok(ResourceId::new(id))
            }
        }
    }

    /// The item's natural key, resolving parents through `parents`; `None` when a parent is
    /// unknown (such an item can only be matched by id). A missing text part is `null`.
    pub fn natural_key(&self, item: &Value, parents: &dyn ParentKeys) -> Option<NaturalKey> {
        let mut out = String::from("[");
        for (i, part) in self.rules.natural_key.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match *part {
                NaturalPart::Text(path) => match text_at(item, path) {
                    Some(s) => push_json_str(&mut out, s),
                    None => out.push_str("null"),
                },
                NaturalPart::Folded(path) => match text_at(item, path) {
                    Some(s) => push_json_str(&mut out, &s.to_lowercase()),
                    None => out.push_str("null"),
                },
                NaturalPart::Fixed(name) => push_json_str(&mut out, name),
                NaturalPart::Parent { resource, key } => {
                    let mut id = String::new();
                    for path in key {
                        if !id.is_empty() {
                            id.push('/');
                        }
                        id.push_str(text_at(item, path)?);
                    }
                    out.push_str(parents.parent_key(resource, &id)?.as_str());
                }
            }
        }
        out.push(']');
        Some(NaturalKey(out))
    }

    /// The item's comparable content (see the module docs). With `ids`, references are
    /// rewritten from the ids of the side the item came from into the other side's.
    pub fn content(&self, mut item: Value, ids: Option<&IdMap>) -> Value {
        let links: Vec<(&Vec<String>, &Link, Option<String>)> = self
            .links
            .iter()
            .map(|(toks, link)| {
                let href = lookup(&item, toks)
                    .and_then(|l| l.get("href"))
                    .and_then(Value::as_str);
                (toks, *link, href.and_then(link_target).map(str::to_string))
            })
            .collect();
        let root = self.root();
        let here = self.here(&root);
        self.walk(&root, here, &mut item, ids);
        for (toks, link, target) in links {
            if let Some(mut id) = target {
                if let Some(new) = ids.and_then(|m| m.translate(link.resource, &id)) {
                    id = new.to_string();
                }
                insert(&mut item, toks, Value::String(id));
            }
        }
        item
    }

    fn walk(&self, states: &States, here: Here, value: &mut Value, ids: Option<&IdMap>) {
        match value {
            Value::Object(map) => map.retain(|k, child| {
                if child.is_null() {
                    return false;
                }
                let below = self.step(states, k);
                let child_here = self.here(&below);
                if child_here.ignore {
                    return false;
                }
                let had_members = matches!(child, Value::Object(m) if !m.is_empty());
                self.walk(&below, child_here, child, ids);
                // An object emptied by the removals goes too (an object sent empty stays).
                !(had_members && matches!(child, Value::Object(m) if m.is_empty()))
            }),
            Value::Array(items) => {
                let mut i = 0usize;
                items.retain_mut(|child| {
                    let below = self.step(states, &i.to_string());
                    i += 1;
                    let child_here = self.here(&below);
                    if child_here.ignore {
                        return false;
                    }
                    self.walk(&below, child_here, child, ids);
                    true
                });
                if here.set {
                    items.sort_by_cached_key(canonical_bytes);
                }
            }
            Value::String(s) => {
                if let (Some(resource), Some(ids)) = (here.reference, ids) {
                    if let Some(new) = ids.translate(resource, s) {
                        *s = new.to_string();
                    }
                }
            }
            _ => {}
        }
    }
}

/// The id at the end of a link's `href` (path segment after the last `/`, before any query).
fn link_target(href: &str) -> Option<&str> {
    let path = href.split(['?', '#']).next().unwrap_or("");
    path.rsplit('/').next().filter(|s| !s.is_empty())
}

fn lookup<'v>(value: &'v Value, toks: &[String]) -> Option<&'v Value> {
    toks.iter().try_fold(value, |v, t| match v {
        Value::Object(map) => map.get(t),
        Value::Array(items) => t.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn text_at<'v>(item: &'v Value, path: &str) -> Option<&'v str> {
    item.pointer(path).and_then(Value::as_str)
}

/// Sets `toks` in `value` (objects only), creating objects on the way.
fn insert(value: &mut Value, toks: &[String], new: Value) {
    let Some((last, parents)) = toks.split_last() else {
        *value = new;
        return;
    };
    let mut here = value;
    for t in parents {
        let Value::Object(map) = here else { return };
        here = map
            .entry(t.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Value::Object(map) = here {
        map.insert(last.clone(), new);
    }
}

fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("strings serialize"));
}

/// Where natural keys of parents are looked up (one side's resources read so far).
pub trait ParentKeys {
    fn parent_key(&self, resource: ResourceType, key: &str) -> Option<&NaturalKey>;
}

impl ParentKeys for NaturalKeys {
    fn parent_key(&self, resource: ResourceType, key: &str) -> Option<&NaturalKey> {
        self.get(resource, key)
    }
}

/// The natural keys of one side's resources that other types' natural keys refer to (users,
/// groups, apps, policies, authorization servers and their policies), by key.
#[derive(Debug, Default)]
pub struct NaturalKeys {
    map: HashMap<ResourceType, HashMap<ResourceId, NaturalKey>>,
    bytes: u64,
}

impl NaturalKeys {
    /// Whether some type's natural key refers to `resource`'s.
    pub fn needed(resource: ResourceType) -> bool {
        RULES.iter().any(|r| {
            r.natural_key
                .iter()
                .any(|p| matches!(p, NaturalPart::Parent { resource: t, .. } if *t == resource))
        })
    }

    /// Remembers a resource's natural key (only for types that are [`NaturalKeys::needed`]).
    pub fn insert(&mut self, resource: ResourceType, key: ResourceId, natural: NaturalKey) {
        if Self::needed(resource) {
            self.bytes += entry_bytes(key.as_str().len() + natural.as_str().len());
            self.map.entry(resource).or_default().insert(key, natural);
        }
    }

    pub fn get(&self, resource: ResourceType, key: &str) -> Option<&NaturalKey> {
        self.map.get(&resource)?.get(key)
    }

    /// Estimated heap bytes held.
    pub fn retained_bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_rule_compiles_and_each_type_has_exactly_one_entry() {
        assert_eq!(RULES.len(), ResourceType::ALL.len());
        for (rules, t) in RULES.iter().zip(ResourceType::ALL) {
            assert_eq!(rules.resource, t, "RULES follows ResourceType::ALL order");
            assert_eq!(Normaliser::of(t).resource(), t);
        }
    }

    #[test]
    fn parents_of_natural_keys_come_first_in_collection_order() {
        for (i, rules) in RULES.iter().enumerate() {
            for part in rules.natural_key {
                if let NaturalPart::Parent { resource, .. } = part {
                    let p = ResourceType::ALL
                        .iter()
                        .position(|t| t == resource)
                        .unwrap();
                    assert!(p < i, "{} needs {resource} first", rules.resource);
                }
            }
        }
    }

    #[test]
    fn content_drops_keys_volatile_fields_and_nulls_and_sorts_sets() {
        let n = Normaliser::of(ResourceType::PolicyRules);
        let item = json!({
            "policyId": "00p1",
            "rule": {
                "id": "0pr1", "name": "r", "priority": 2, "lastUpdated": "2024-01-01T00:00:00Z",
                "conditions": {"people": {"groups": {"include": ["00gB", "00gA"]}}, "network": null},
                "actions": {"profileEnrollment": {"profileAttributes": [{"name": "b"}, {"name": "a"}]}},
                "_links": {"self": {"href": "https://x/api/v1/policies/00p1/rules/0pr1"}}
            }
        });
        assert_eq!(n.key(&item, 0).unwrap().as_str(), "00p1/0pr1");
        assert_eq!(
            n.content(item, None),
            json!({"rule": {
                "name": "r", "priority": 2,
                "conditions": {"people": {"groups": {"include": ["00gA", "00gB"]}}},
                "actions": {"profileEnrollment": {"profileAttributes": [{"name": "b"}, {"name": "a"}]}}
            }})
        );
    }

    #[test]
    fn configuration_links_are_kept_as_ids_and_other_links_dropped() {
        let n = Normaliser::of(ResourceType::Apps);
        let app = json!({"id": "0oa1", "label": "x", "_links": {
            "accessPolicy": {"href": "https://acme.okta.com/api/v1/policies/rst1?x=1"},
            "users": {"href": "https://acme.okta.com/api/v1/apps/0oa1/users"}
        }});
        assert_eq!(
            n.content(app, None),
            json!({"label": "x", "_links": {"accessPolicy": "rst1"}})
        );
    }

    #[test]
    fn missing_key_is_an_error_naming_the_path_not_the_data() {
        let n = Normaliser::of(ResourceType::AppUserAssignments);
        let err = n
            .key(&json!({"appId": "0oa1", "user": {"secret": "x"}}), 7)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "app_user_assignments item 7: no string id at /user/id"
        );
        let singleton = Normaliser::of(ResourceType::ThreatInsight);
        assert_eq!(
            singleton.key(&json!({}), 0).unwrap().as_str(),
            "configuration"
        );
    }

    #[test]
    fn natural_keys_nest_parents_and_fold_logins() {
        let mut parents = NaturalKeys::default();
        let users = Normaliser::of(ResourceType::Users);
        let groups = Normaliser::of(ResourceType::Groups);
        let user = json!({"id": "00u1", "profile": {"login": "Ann@Example.com"}});
        let group = json!({"id": "00g1", "type": "OKTA_GROUP", "profile": {"name": "Eng"}});
        let un = users.natural_key(&user, &parents).unwrap();
        assert_eq!(un.as_str(), r#"["ann@example.com"]"#);
        parents.insert(ResourceType::Users, ResourceId::new("00u1"), un);
        let gn = groups.natural_key(&group, &parents).unwrap();
        parents.insert(ResourceType::Groups, ResourceId::new("00g1"), gn);
        let members = Normaliser::of(ResourceType::GroupMembers);
        let member = json!({"groupId": "00g1", "userId": "00u1"});
        assert_eq!(
            members.natural_key(&member, &parents).unwrap().as_str(),
            r#"[["OKTA_GROUP","Eng"],["ann@example.com"]]"#
        );
        let orphan = json!({"groupId": "00g9", "userId": "00u1"});
        assert_eq!(members.natural_key(&orphan, &parents), None);
        assert!(!NaturalKeys::needed(ResourceType::GroupMembers));
        assert!(NaturalKeys::needed(
            ResourceType::AuthorizationServerPolicies
        ));
    }
}
