//! The diff of two tenant states held in memory (for states of a size that fits: change
//! captures, restore plans of a few resources, tests). [`super::stream`] computes the same
//! result from two snapshots of any size; a test holds the two to each other.

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::compare::{compare, redact, FieldChange};
use super::matching::{keyed, match_resources, How, IdMap, MatchBy};
use super::normalise::{NaturalKeys, Normaliser};
use super::{DiffError, NaturalKey, ResourceId, ResourceType};
use crate::tenant::TenantSnapshot;

/// A tenant state in memory: each resource type's items, as a snapshot object holds them.
pub trait TenantItems {
    /// `None` when the state does not hold the type (not collected), which is not the same as
    /// holding none.
    fn items(&self, resource: ResourceType) -> Option<&[Value]>;
}

impl TenantItems for std::collections::BTreeMap<ResourceType, Vec<Value>> {
    fn items(&self, resource: ResourceType) -> Option<&[Value]> {
        self.get(&resource).map(Vec::as_slice)
    }
}

/// The compliance engine's copy of a backup.
impl TenantItems for TenantSnapshot {
    fn items(&self, resource: ResourceType) -> Option<&[Value]> {
        self.resources.get(&resource).map(Vec::as_slice)
    }
}

/// Which resources a diff reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Only these types (all when `None`).
    pub resources: Option<BTreeSet<ResourceType>>,
    /// Only resources with this id as their key or as one of its components (so a group's id
    /// also selects its memberships and role assignments).
    pub id: Option<String>,
}

impl Filter {
    pub fn admits_type(&self, resource: ResourceType) -> bool {
        self.resources
            .as_ref()
            .is_none_or(|r| r.contains(&resource))
    }

    pub fn admits_id(&self, key: &ResourceId) -> bool {
        self.id
            .as_deref()
            .is_none_or(|id| key.components().any(|c| c == id))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffOptions {
    pub match_by: MatchBy,
    pub filter: Filter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One resource that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub resource: ResourceType,
    /// The before side's key (the after side's for an added resource).
    pub id: ResourceId,
    /// The after side's key, where the pair was made by natural key and the keys differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_id: Option<ResourceId>,
    /// Set when matching by natural key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub natural_key: Option<NaturalKey>,
    pub kind: ChangeKind,
    /// What changed, for a changed resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// The normalised content, secrets redacted: of a removed resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The normalised content, secrets redacted: of an added resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

impl ResourceChange {
    /// The order changes are listed and paged in: collection order of types, then key.
    pub(crate) fn order(&self) -> (usize, &ResourceId) {
        (type_index(self.resource), &self.id)
    }
}

pub(crate) fn type_index(resource: ResourceType) -> usize {
    ResourceType::ALL
        .iter()
        .position(|t| *t == resource)
        .expect("ALL lists every type")
}

/// Counts for one resource type (of the resources the filter admits).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeSummary {
    pub resource: ResourceType,
    /// Both states hold the type. When one does not (a backup that did not collect it), the
    /// type is not compared and reports no change rather than everything added or removed.
    pub compared: bool,
    pub before: u64,
    pub after: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub paired_by_natural_key: u64,
    /// Items dropped because their key repeated an earlier item's on the same side (Okta's
    /// paging can return an item twice while the tenant changes); the first one counts.
    pub duplicates: u64,
    /// Natural keys of the type left unpaired because they are not unique.
    pub ambiguous: u64,
}

impl TypeSummary {
    /// Resources added, removed or changed.
    pub fn changes_count(&self) -> u64 {
        self.added + self.removed + self.changed
    }

    pub(crate) fn new(resource: ResourceType) -> TypeSummary {
        TypeSummary {
            resource,
            compared: false,
            before: 0,
            after: 0,
            added: 0,
            removed: 0,
            changed: 0,
            unchanged: 0,
            paired_by_natural_key: 0,
            duplicates: 0,
            ambiguous: 0,
        }
    }
}

/// Counts per type, in collection order; types the filter excludes are absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub types: Vec<TypeSummary>,
}

impl Summary {
    pub fn changes(&self) -> u64 {
        self.types.iter().map(TypeSummary::changes_count).sum()
    }

    pub fn of(&self, resource: ResourceType) -> Option<&TypeSummary> {
        self.types.iter().find(|t| t.resource == resource)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantDiff {
    pub summary: Summary,
    /// In collection order of types, then by key.
    pub changes: Vec<ResourceChange>,
    /// Ids of resources paired by natural key whose ids differ (after side to before side).
    pub ids: IdMap,
}

/// One side's items of one type, deduplicated by key.
struct Side<'v> {
    keys: Vec<ResourceId>,
    naturals: Vec<Option<NaturalKey>>,
    items: Vec<&'v Value>,
    /// Keys that repeated an earlier item's.
    duplicates: Vec<ResourceId>,
}

fn side<'v>(
    n: &Normaliser,
    items: &'v [Value],
    parents: &mut NaturalKeys,
    natural: bool,
) -> Result<Side<'v>, DiffError> {
    let mut out = Side {
        keys: Vec::with_capacity(items.len()),
        naturals: Vec::with_capacity(items.len()),
        items: Vec::with_capacity(items.len()),
        duplicates: Vec::new(),
    };
    let mut seen = HashSet::with_capacity(items.len());
    for (position, item) in items.iter().enumerate() {
        let key = n.key(item, position as u64)?;
        if !seen.insert(key.clone()) {
            out.duplicates.push(key);
            continue;
        }
        let nk = if natural {
            n.natural_key(item, parents)
        } else {
            None
        };
        if let Some(nk) = &nk {
            parents.insert(n.resource(), key.clone(), nk.clone());
        }
        out.keys.push(key);
        out.naturals.push(nk);
        out.items.push(item);
    }
    Ok(out)
}

/// Compares two states (see the module docs of [`super`]).
pub fn diff_states(
    before: &dyn TenantItems,
    after: &dyn TenantItems,
    options: &DiffOptions,
) -> Result<TenantDiff, DiffError> {
    let natural = options.match_by == MatchBy::IdThenNaturalKey;
    let filter = &options.filter;
    let (mut parents_b, mut parents_a) = (NaturalKeys::default(), NaturalKeys::default());
    let mut sides = Vec::new();
    for t in ResourceType::ALL {
        // Matching by natural key needs every type's keys: parents for natural keys, and the
        // id map for references.
        if !natural && !filter.admits_type(t) {
            sides.push(None);
            continue;
        }
        let n = Normaliser::of(t);
        let b = before
            .items(t)
            .map(|items| side(n, items, &mut parents_b, natural))
            .transpose()?;
        let a = after
            .items(t)
            .map(|items| side(n, items, &mut parents_a, natural))
            .transpose()?;
        sides.push(b.zip(a));
    }
    let mut ids = IdMap::default();
    let mut matchings = Vec::new();
    for (t, s) in ResourceType::ALL.into_iter().zip(&sides) {
        let m = s.as_ref().map(|(b, a)| {
            match_resources(
                &keyed(&b.keys, &b.naturals),
                &keyed(&a.keys, &a.naturals),
                options.match_by,
            )
        });
        if let (Some(m), Some((b, a))) = (&m, s) {
            for p in &m.pairs {
                ids.insert(t, a.keys[p.after].clone(), b.keys[p.before].clone());
            }
        }
        matchings.push(m);
    }
    let mut out = TenantDiff::default();
    for ((t, s), m) in ResourceType::ALL.into_iter().zip(&sides).zip(matchings) {
        if !filter.admits_type(t) {
            continue;
        }
        let mut summary = TypeSummary::new(t);
        let (Some((b, a)), Some(m)) = (s, m) else {
            out.summary.types.push(summary);
            continue;
        };
        let n = Normaliser::of(t);
        summary.compared = true;
        summary.duplicates = (b.duplicates.iter().chain(&a.duplicates))
            .filter(|k| filter.admits_id(k))
            .count() as u64;
        summary.ambiguous = m.ambiguous.len() as u64;
        summary.before = b.keys.iter().filter(|k| filter.admits_id(k)).count() as u64;
        summary.after = a.keys.iter().filter(|k| filter.admits_id(k)).count() as u64;
        for p in &m.pairs {
            let (kb, ka) = (&b.keys[p.before], &a.keys[p.after]);
            if !filter.admits_id(kb) && !filter.admits_id(ka) {
                continue;
            }
            if p.how == How::NaturalKey {
                summary.paired_by_natural_key += 1;
            }
            let cb = n.content(b.items[p.before].clone(), None);
            let ca = n.content(a.items[p.after].clone(), Some(&ids));
            let fields = compare(n, &cb, &ca);
            if fields.is_empty() {
                summary.unchanged += 1;
                continue;
            }
            summary.changed += 1;
            out.changes.push(ResourceChange {
                resource: t,
                id: kb.clone(),
                after_id: (kb != ka).then(|| ka.clone()),
                natural_key: b.naturals[p.before].clone(),
                kind: ChangeKind::Changed,
                fields,
                before: None,
                after: None,
            });
        }
        for &i in &m.only_before {
            if !filter.admits_id(&b.keys[i]) {
                continue;
            }
            summary.removed += 1;
            let mut content = n.content(b.items[i].clone(), None);
            redact(n, &mut content);
            out.changes.push(ResourceChange {
                resource: t,
                id: b.keys[i].clone(),
                after_id: None,
                natural_key: b.naturals[i].clone(),
                kind: ChangeKind::Removed,
                fields: Vec::new(),
                before: Some(content),
                after: None,
            });
        }
        for &j in &m.only_after {
            if !filter.admits_id(&a.keys[j]) {
                continue;
            }
            summary.added += 1;
            let mut content = n.content(a.items[j].clone(), Some(&ids));
            redact(n, &mut content);
            out.changes.push(ResourceChange {
                resource: t,
                id: a.keys[j].clone(),
                after_id: None,
                natural_key: a.naturals[j].clone(),
                kind: ChangeKind::Added,
                fields: Vec::new(),
                before: None,
                after: Some(content),
            });
        }
        out.summary.types.push(summary);
    }
    out.changes.sort_by(|x, y| x.order().cmp(&y.order()));
    out.ids = ids;
    Ok(out)
}
