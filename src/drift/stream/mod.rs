//! The diff of two snapshots too large to hold: streamed, in memory proportional to the number
//! of resources (tens of bytes each), not to their size.
//!
//! A state is an [`ItemSource`]: per resource type, a stream of raw JSON items in stored order
//! (Okta's list order, not sorted). [`index_changes`] finds what changed without keeping any
//! item:
//!
//! - **By id** (two states of one org), one type at a time: pass 1 streams the `before` side and
//!   keeps, per resource, its key and a 128-bit digest of its normalised content; pass 2 streams
//!   the `after` side, looks each key up and compares digests (equal: unchanged; different:
//!   changed; absent: added); keys never looked up are removed. The type's index is dropped
//!   before the next type, so the peak is the largest type's index.
//! - **By id, then natural key** (two orgs): natural keys need parents' natural keys, and
//!   references need the id map of every type, so pass 1 streams `before` whole (key, natural
//!   key, digest), pass 2 streams `after` whole (key, natural key), every type is matched
//!   ([`super::match_resources`]), and pass 3 streams `after` again computing digests with
//!   references rewritten into the `before` side's ids.
//!
//! The result, a [`ChangeIndex`], holds the summary, the list of changed resources (type, keys,
//! kind) in a stable order (collection order of types, then key) and the id map; it is small,
//! and serialisable so a caller can keep it between page requests. [`ChangeIndex::page`] then
//! re-reads only the types on the requested page and keeps only the page's items to produce
//! their field diffs, exactly as [`super::diff_states`] does in memory.

use std::collections::{HashMap, HashSet};
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::canonical::{digest, ContentDigest};
use super::compare::{compare, redact};
use super::diff::{
    type_index, ChangeKind, DiffOptions, Filter, ResourceChange, Summary, TypeSummary,
};
use super::heap::entry_bytes;
use super::matching::{keyed, match_resources, How, IdMap, MatchBy};
use super::normalise::{Normaliser, ParentKeys};
use super::{DiffError, NaturalKey, ResourceId, ResourceType};

mod object;
mod split;

pub use object::{ObjectItems, ObjectSource};
pub use split::{ArraySplitter, SplitError, MAX_ITEM_BYTES};

/// Why a source could not be read. The message is for the log and names no tenant data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// One resource type's items, one at a time.
#[async_trait(?Send)]
pub trait ItemStream {
    /// The next item's JSON bytes; `Ok(None)` once all were read.
    async fn next_item(&mut self) -> Result<Option<Vec<u8>>, SourceError>;
}

/// A tenant state that can be read more than once, type by type, yielding the same items in
/// the same order each time (a sealed snapshot does).
#[async_trait(?Send)]
pub trait ItemSource {
    /// The items of `resource`; `Ok(None)` when the state does not hold the type.
    async fn open(
        &self,
        resource: ResourceType,
    ) -> Result<Option<Box<dyn ItemStream + '_>>, SourceError>;
}

/// What a diff read and held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub items_read: u64,
    pub bytes_read: u64,
    pub largest_item: u64,
    /// Peak estimated heap bytes held across items: indexes, key lists, natural keys, the id
    /// map and the change list (for a page: the page's items). The item being processed is
    /// not included; it is at most `largest_item` bytes of JSON and its parsed tree.
    pub peak_retained: u64,
}

impl Usage {
    fn hold(&mut self, bytes: u64) {
        self.peak_retained = self.peak_retained.max(bytes);
    }
}

/// A changed resource, without its content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRef {
    pub resource: ResourceType,
    /// The before side's key (the after side's for an added resource).
    pub id: ResourceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_id: Option<ResourceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub natural_key: Option<NaturalKey>,
    pub kind: ChangeKind,
}

impl ChangeRef {
    fn order(&self) -> (usize, &ResourceId) {
        (type_index(self.resource), &self.id)
    }

    fn after_key(&self) -> &ResourceId {
        self.after_id.as_ref().unwrap_or(&self.id)
    }

    fn bytes(&self) -> u64 {
        (std::mem::size_of::<ChangeRef>()
            + self.id.as_str().len()
            + self.after_id.as_ref().map_or(0, |i| i.as_str().len())
            + self.natural_key.as_ref().map_or(0, |n| n.as_str().len())) as u64
    }
}

/// Where a page starts: after this change (in the index's order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub resource: ResourceType,
    pub id: ResourceId,
}

impl Cursor {
    /// Parses the form [`Cursor`]'s `Display` writes: `<resource>:<id>`.
    pub fn parse(s: &str) -> Option<Cursor> {
        let (resource, id) = s.split_once(':')?;
        let resource = ResourceType::parse(resource)?;
        (!id.is_empty()).then(|| Cursor {
            resource,
            id: ResourceId::new(id),
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.id)
    }
}

/// One page of changes, with field diffs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Page {
    pub changes: Vec<ResourceChange>,
    /// Where the next page starts; `None` on the last page.
    #[serde(serialize_with = "cursor_string")]
    pub next: Option<Cursor>,
    #[serde(skip)]
    pub usage: Usage,
}

fn cursor_string<S: serde::Serializer>(c: &Option<Cursor>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_str(&c.to_string()),
        None => s.serialize_none(),
    }
}

/// What changed between two states, without the changes' content (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeIndex {
    pub summary: Summary,
    changes: Vec<ChangeRef>,
    ids: IdMap,
    options: DiffOptions,
    #[serde(skip)]
    usage: Usage,
}

impl ChangeIndex {
    /// Every changed resource, in page order.
    pub fn changes(&self) -> &[ChangeRef] {
        &self.changes
    }

    /// Ids of resources paired by natural key: the after side's mapped to the before side's.
    pub fn ids(&self) -> &IdMap {
        &self.ids
    }

    /// What the index was built with.
    pub fn options(&self) -> &DiffOptions {
        &self.options
    }

    /// What building the index read and held.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The part of an index built without a filter that `filter` admits: its types' summaries
    /// and the changes of its types and resource id, in the same order, so one stored index
    /// serves every filtered view. Counts stay those of whole types (a resource-id filter
    /// narrows the changes, not the summary), and the view pages like the index it came from.
    pub fn select(&self, filter: &Filter) -> ChangeIndex {
        let summary = Summary {
            types: (self.summary.types.iter())
                .filter(|t| filter.admits_type(t.resource))
                .cloned()
                .collect(),
        };
        let changes = (self.changes.iter())
            .filter(|c| {
                filter.admits_type(c.resource)
                    && (filter.admits_id(&c.id)
                        || c.after_id.as_ref().is_some_and(|a| filter.admits_id(a)))
            })
            .cloned()
            .collect();
        ChangeIndex {
            summary,
            changes,
            ids: self.ids.clone(),
            options: DiffOptions {
                match_by: self.options.match_by,
                filter: filter.clone(),
            },
            usage: self.usage,
        }
    }

    /// Up to `limit` changes after `cursor` (from the first without one), with field diffs.
    /// `before` and `after` must be the sources the index was built from.
    pub async fn page(
        &self,
        before: &dyn ItemSource,
        after: &dyn ItemSource,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, DiffError> {
        let start = cursor.map_or(0, |c| {
            let at = (type_index(c.resource), &c.id);
            self.changes.partition_point(|x| x.order() <= at)
        });
        let end = (start + limit.max(1)).min(self.changes.len());
        let refs = &self.changes[start..end];
        let mut usage = Usage::default();
        let mut out: Vec<ResourceChange> = Vec::with_capacity(refs.len());
        let mut held = 0u64;
        let mut i = 0;
        while i < refs.len() {
            let t = refs[i].resource;
            let group = refs[i..].iter().take_while(|r| r.resource == t).count();
            let group_refs = &refs[i..i + group];
            let n = Normaliser::of(t);
            let mut want_before: HashMap<&str, usize> = HashMap::new();
            let mut want_after: HashMap<&str, usize> = HashMap::new();
            for (k, r) in group_refs.iter().enumerate() {
                if r.kind != ChangeKind::Added {
                    want_before.insert(r.id.as_str(), k);
                }
                if r.kind != ChangeKind::Removed {
                    want_after.insert(r.after_key().as_str(), k);
                }
            }
            let mut contents: Vec<(Option<Value>, Option<Value>)> = vec![(None, None); group];
            for (source, want, ids, is_before) in [
                (before, &mut want_before, None, true),
                (after, &mut want_after, Some(&self.ids), false),
            ] {
                if want.is_empty() {
                    continue;
                }
                let Some(mut stream) = open(source, t).await? else {
                    return Err(DiffError::Unstable {
                        resource: t,
                        what: "a state no longer holds the type",
                    });
                };
                let mut position = 0u64;
                while !want.is_empty() {
                    let Some(bytes) = next(stream.as_mut(), t, &mut usage).await? else {
                        break;
                    };
                    let item = parse(t, position, &bytes)?;
                    let key = n.key(&item, position)?;
                    position += 1;
                    if let Some(k) = want.remove(key.as_str()) {
                        held += bytes.len() as u64;
                        usage.hold(held);
                        let content = Some(n.content(item, ids));
                        if is_before {
                            contents[k].0 = content;
                        } else {
                            contents[k].1 = content;
                        }
                    }
                }
                if !want.is_empty() {
                    return Err(DiffError::Unstable {
                        resource: t,
                        what: "a changed resource is no longer in its state",
                    });
                }
            }
            for (r, (cb, ca)) in group_refs.iter().zip(contents) {
                out.push(resource_change(n, r, cb, ca)?);
            }
            i += group;
        }
        let next = (end < self.changes.len()).then(|| {
            let last = &self.changes[end - 1];
            Cursor {
                resource: last.resource,
                id: last.id.clone(),
            }
        });
        Ok(Page {
            changes: out,
            next,
            usage,
        })
    }
}

fn resource_change(
    n: &Normaliser,
    r: &ChangeRef,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<ResourceChange, DiffError> {
    let mut change = ResourceChange {
        resource: r.resource,
        id: r.id.clone(),
        after_id: r.after_id.clone(),
        natural_key: r.natural_key.clone(),
        kind: r.kind,
        fields: Vec::new(),
        before: None,
        after: None,
    };
    match (r.kind, before, after) {
        (ChangeKind::Changed, Some(b), Some(a)) => {
            change.fields = compare(n, &b, &a);
            if change.fields.is_empty() {
                return Err(DiffError::Unstable {
                    resource: r.resource,
                    what: "a changed resource now compares equal",
                });
            }
        }
        (ChangeKind::Removed, Some(mut b), None) => {
            redact(n, &mut b);
            change.before = Some(b);
        }
        (ChangeKind::Added, None, Some(mut a)) => {
            redact(n, &mut a);
            change.after = Some(a);
        }
        _ => unreachable!("contents are read for exactly the sides a change has"),
    }
    Ok(change)
}

async fn open<'s>(
    source: &'s dyn ItemSource,
    resource: ResourceType,
) -> Result<Option<Box<dyn ItemStream + 's>>, DiffError> {
    source
        .open(resource)
        .await
        .map_err(|source| DiffError::Source { resource, source })
}

async fn next(
    stream: &mut (dyn ItemStream + '_),
    resource: ResourceType,
    usage: &mut Usage,
) -> Result<Option<Vec<u8>>, DiffError> {
    let item = stream
        .next_item()
        .await
        .map_err(|source| DiffError::Source { resource, source })?;
    if let Some(bytes) = &item {
        usage.items_read += 1;
        usage.bytes_read += bytes.len() as u64;
        usage.largest_item = usage.largest_item.max(bytes.len() as u64);
    }
    Ok(item)
}

fn parse(resource: ResourceType, position: u64, bytes: &[u8]) -> Result<Value, DiffError> {
    serde_json::from_slice(bytes).map_err(|e| DiffError::BadItem {
        resource,
        position,
        // The category and place only: serde_json's messages can quote the input.
        what: format!("{:?} error at column {}", e.classify(), e.column()),
    })
}

/// Builds the change index of `before` → `after` (see the module docs).
pub async fn index_changes(
    before: &dyn ItemSource,
    after: &dyn ItemSource,
    options: &DiffOptions,
) -> Result<ChangeIndex, DiffError> {
    match options.match_by {
        MatchBy::Id => by_id(before, after, options).await,
        MatchBy::IdThenNaturalKey => by_natural_key(before, after, options).await,
    }
}

struct Indexed {
    digest: ContentDigest,
    seen: bool,
}

async fn by_id(
    before: &dyn ItemSource,
    after: &dyn ItemSource,
    options: &DiffOptions,
) -> Result<ChangeIndex, DiffError> {
    let filter = &options.filter;
    let mut usage = Usage::default();
    let mut summary = Summary::default();
    let mut changes: Vec<ChangeRef> = Vec::new();
    let mut changes_bytes = 0u64;
    let mut scratch = Vec::new();
    for t in ResourceType::ALL {
        if !filter.admits_type(t) {
            continue;
        }
        let n = Normaliser::of(t);
        let mut s = TypeSummary::new(t);
        let Some(mut stream) = open(before, t).await? else {
            summary.types.push(s);
            continue;
        };
        let mut index: HashMap<ResourceId, Indexed> = HashMap::new();
        let mut index_bytes = 0u64;
        let mut position = 0u64;
        while let Some(bytes) = next(stream.as_mut(), t, &mut usage).await? {
            let item = parse(t, position, &bytes)?;
            let key = n.key(&item, position)?;
            position += 1;
            if !filter.admits_id(&key) {
                continue;
            }
            if index.contains_key(&key) {
                s.duplicates += 1;
                continue;
            }
            let d = digest(&n.content(item, None), &mut scratch);
            index_bytes += entry_bytes(key.as_str().len()) + std::mem::size_of::<Indexed>() as u64;
            index.insert(
                key,
                Indexed {
                    digest: d,
                    seen: false,
                },
            );
        }
        drop(stream);
        usage.hold(changes_bytes + index_bytes);
        let Some(mut stream) = open(after, t).await? else {
            summary.types.push(TypeSummary::new(t));
            continue;
        };
        let type_start = changes.len();
        let mut added: HashSet<ResourceId> = HashSet::new();
        let mut added_bytes = 0u64;
        let mut position = 0u64;
        while let Some(bytes) = next(stream.as_mut(), t, &mut usage).await? {
            let item = parse(t, position, &bytes)?;
            let key = n.key(&item, position)?;
            position += 1;
            if !filter.admits_id(&key) {
                continue;
            }
            match index.get_mut(&key) {
                Some(e) if e.seen => s.duplicates += 1,
                Some(e) => {
                    e.seen = true;
                    if digest(&n.content(item, None), &mut scratch) == e.digest {
                        s.unchanged += 1;
                    } else {
                        s.changed += 1;
                        push(
                            &mut changes,
                            &mut changes_bytes,
                            t,
                            key,
                            None,
                            ChangeKind::Changed,
                        );
                    }
                }
                None if added.contains(&key) => s.duplicates += 1,
                None => {
                    s.added += 1;
                    added_bytes += entry_bytes(key.as_str().len());
                    added.insert(key.clone());
                    push(
                        &mut changes,
                        &mut changes_bytes,
                        t,
                        key,
                        None,
                        ChangeKind::Added,
                    );
                }
            }
            usage.hold(changes_bytes + index_bytes + added_bytes);
        }
        s.compared = true;
        s.before = index.len() as u64;
        s.after = s.unchanged + s.changed + s.added;
        for (key, e) in index {
            if !e.seen {
                s.removed += 1;
                push(
                    &mut changes,
                    &mut changes_bytes,
                    t,
                    key,
                    None,
                    ChangeKind::Removed,
                );
            }
        }
        changes[type_start..].sort_by(|x, y| x.id.cmp(&y.id));
        summary.types.push(s);
    }
    usage.hold(changes_bytes);
    Ok(ChangeIndex {
        summary,
        changes,
        ids: IdMap::default(),
        options: options.clone(),
        usage,
    })
}

fn push(
    changes: &mut Vec<ChangeRef>,
    bytes: &mut u64,
    resource: ResourceType,
    id: ResourceId,
    natural_key: Option<NaturalKey>,
    kind: ChangeKind,
) {
    let change = ChangeRef {
        resource,
        id,
        after_id: None,
        natural_key,
        kind,
    };
    *bytes += change.bytes();
    changes.push(change);
}

/// One side's resources of one type, as matching needs them, indexed by key for deduplication
/// and for resolving children's natural keys. The index holds a 64-bit hash of each key and its
/// position rather than a second copy of the key (with a map of full keys for the rare hash
/// collision), which roughly halves what a large type costs.
struct KeyList {
    keys: Vec<ResourceId>,
    naturals: Vec<Option<NaturalKey>>,
    /// Before side only: content digests (for types the filter admits).
    digests: Vec<Option<ContentDigest>>,
    index: HashMap<u64, u32>,
    collided: HashMap<ResourceId, u32>,
    /// Keys that repeated an earlier item's.
    duplicates: Vec<ResourceId>,
    bytes: u64,
}

fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // Fixed keys: the same hash in every invocation (nothing here is attacker-chosen at a
    // scale that matters: a collision only costs one map entry).
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

impl KeyList {
    fn new() -> KeyList {
        KeyList {
            keys: Vec::new(),
            naturals: Vec::new(),
            digests: Vec::new(),
            index: HashMap::new(),
            collided: HashMap::new(),
            duplicates: Vec::new(),
            bytes: 0,
        }
    }

    fn find(&self, key: &str) -> Option<usize> {
        match self.index.get(&key_hash(key)) {
            Some(&i) if self.keys[i as usize].as_str() == key => Some(i as usize),
            Some(_) => self.collided.get(key).map(|&i| i as usize),
            None => None,
        }
    }

    fn push(&mut self, key: ResourceId, natural: Option<NaturalKey>, d: Option<ContentDigest>) {
        let i = self.keys.len() as u32;
        self.bytes += (std::mem::size_of::<ResourceId>()
            + key.as_str().len()
            + std::mem::size_of::<Option<NaturalKey>>()
            + natural.as_ref().map_or(0, |n| n.as_str().len())
            + std::mem::size_of::<Option<ContentDigest>>()
            + 16) as u64;
        match self.index.entry(key_hash(key.as_str())) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(i);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.bytes += entry_bytes(key.as_str().len());
                self.collided.insert(key.clone(), i);
            }
        }
        self.keys.push(key);
        self.naturals.push(natural);
        self.digests.push(d);
    }
}

/// Parents' natural keys, looked up in the key lists of the types already read.
struct Lists<'a>(&'a [Option<KeyList>]);

impl ParentKeys for Lists<'_> {
    fn parent_key(&self, resource: ResourceType, key: &str) -> Option<&NaturalKey> {
        let list = self.0.get(type_index(resource))?.as_ref()?;
        list.naturals[list.find(key)?].as_ref()
    }
}

/// Streams one side's type for keys and natural keys (and, with `digests`, content digests);
/// `earlier` holds this side's lists of the types before it.
async fn key_list(
    source: &dyn ItemSource,
    t: ResourceType,
    earlier: &[Option<KeyList>],
    digests: bool,
    usage: &mut Usage,
    scratch: &mut Vec<u8>,
) -> Result<Option<KeyList>, DiffError> {
    let n = Normaliser::of(t);
    let Some(mut stream) = open(source, t).await? else {
        return Ok(None);
    };
    let mut list = KeyList::new();
    let mut position = 0u64;
    while let Some(bytes) = next(stream.as_mut(), t, usage).await? {
        let item = parse(t, position, &bytes)?;
        let key = n.key(&item, position)?;
        position += 1;
        if list.find(key.as_str()).is_some() {
            list.bytes += entry_bytes(key.as_str().len());
            list.duplicates.push(key);
            continue;
        }
        let natural = n.natural_key(&item, &Lists(earlier));
        let d = digests.then(|| digest(&n.content(item, None), scratch));
        list.push(key, natural, d);
    }
    Ok(Some(list))
}

async fn by_natural_key(
    before: &dyn ItemSource,
    after: &dyn ItemSource,
    options: &DiffOptions,
) -> Result<ChangeIndex, DiffError> {
    let filter = &options.filter;
    let mut usage = Usage::default();
    let mut scratch = Vec::new();
    let mut lists: Vec<Option<KeyList>> = Vec::new();
    let mut held = 0u64;
    for t in ResourceType::ALL {
        let b = key_list(
            before,
            t,
            &lists,
            filter.admits_type(t),
            &mut usage,
            &mut scratch,
        )
        .await?;
        held += b.as_ref().map_or(0, |l| l.bytes);
        usage.hold(held);
        lists.push(b);
    }
    let mut after_lists: Vec<Option<KeyList>> = Vec::new();
    for t in ResourceType::ALL {
        let a = key_list(after, t, &after_lists, false, &mut usage, &mut scratch).await?;
        held += a.as_ref().map_or(0, |l| l.bytes);
        usage.hold(held);
        after_lists.push(a);
    }
    let mut ids = IdMap::default();
    let mut matchings = Vec::new();
    for (t, (b, a)) in ResourceType::ALL
        .into_iter()
        .zip(lists.iter().zip(&after_lists))
    {
        let m = b.as_ref().zip(a.as_ref()).map(|(b, a)| {
            let m = match_resources(
                &keyed(&b.keys, &b.naturals),
                &keyed(&a.keys, &a.naturals),
                MatchBy::IdThenNaturalKey,
            );
            for p in &m.pairs {
                ids.insert(t, a.keys[p.after].clone(), b.keys[p.before].clone());
            }
            m
        });
        matchings.push(m);
    }
    usage.hold(held + ids.retained_bytes());
    let mut summary = Summary::default();
    let mut changes: Vec<ChangeRef> = Vec::new();
    let mut changes_bytes = 0u64;
    for (i, t) in ResourceType::ALL.into_iter().enumerate() {
        if !filter.admits_type(t) {
            continue;
        }
        let mut s = TypeSummary::new(t);
        let (Some(b), Some(a), Some(m)) = (&lists[i], &after_lists[i], &matchings[i]) else {
            summary.types.push(s);
            continue;
        };
        let n = Normaliser::of(t);
        s.compared = true;
        s.duplicates = (b.duplicates.iter().chain(&a.duplicates))
            .filter(|k| filter.admits_id(k))
            .count() as u64;
        s.ambiguous = m.ambiguous.len() as u64;
        s.before = b.keys.iter().filter(|k| filter.admits_id(k)).count() as u64;
        s.after = a.keys.iter().filter(|k| filter.admits_id(k)).count() as u64;
        // Pass 3: digests of the after side's paired resources, references rewritten.
        let mut pending: HashMap<&str, usize> = HashMap::new();
        for (k, p) in m.pairs.iter().enumerate() {
            if filter.admits_id(&b.keys[p.before]) || filter.admits_id(&a.keys[p.after]) {
                pending.insert(a.keys[p.after].as_str(), k);
            }
        }
        let mut differs = vec![false; m.pairs.len()];
        if !pending.is_empty() {
            let Some(mut stream) = open(after, t).await? else {
                return Err(DiffError::Unstable {
                    resource: t,
                    what: "a state no longer holds the type",
                });
            };
            let mut position = 0u64;
            while !pending.is_empty() {
                let Some(bytes) = next(stream.as_mut(), t, &mut usage).await? else {
                    break;
                };
                let item = parse(t, position, &bytes)?;
                let key = n.key(&item, position)?;
                position += 1;
                if let Some(k) = pending.remove(key.as_str()) {
                    let d = digest(&n.content(item, Some(&ids)), &mut scratch);
                    let p = m.pairs[k];
                    let expected = b.digests[p.before].expect("admitted types have digests");
                    differs[k] = d != expected;
                    if p.how == How::NaturalKey {
                        s.paired_by_natural_key += 1;
                    }
                    if differs[k] {
                        s.changed += 1;
                    } else {
                        s.unchanged += 1;
                    }
                }
            }
            if !pending.is_empty() {
                return Err(DiffError::Unstable {
                    resource: t,
                    what: "a resource is no longer in its state",
                });
            }
        }
        let type_start = changes.len();
        for (k, p) in m.pairs.iter().enumerate() {
            if differs[k] {
                let (kb, ka) = (&b.keys[p.before], &a.keys[p.after]);
                let c = ChangeRef {
                    resource: t,
                    id: kb.clone(),
                    after_id: (kb != ka).then(|| ka.clone()),
                    natural_key: b.naturals[p.before].clone(),
                    kind: ChangeKind::Changed,
                };
                changes_bytes += c.bytes();
                changes.push(c);
            }
        }
        for &i in &m.only_before {
            if filter.admits_id(&b.keys[i]) {
                s.removed += 1;
                let nk = b.naturals[i].clone();
                push(
                    &mut changes,
                    &mut changes_bytes,
                    t,
                    b.keys[i].clone(),
                    nk,
                    ChangeKind::Removed,
                );
            }
        }
        for &j in &m.only_after {
            if filter.admits_id(&a.keys[j]) {
                s.added += 1;
                let nk = a.naturals[j].clone();
                push(
                    &mut changes,
                    &mut changes_bytes,
                    t,
                    a.keys[j].clone(),
                    nk,
                    ChangeKind::Added,
                );
            }
        }
        changes[type_start..].sort_by(|x, y| x.id.cmp(&y.id));
        usage.hold(held + ids.retained_bytes() + changes_bytes);
        summary.types.push(s);
    }
    Ok(ChangeIndex {
        summary,
        changes,
        ids,
        options: options.clone(),
        usage,
    })
}
