//! The streaming diff against the in-memory one on random tenants (both match modes, random
//! filters and page sizes, items cut into random pieces), its memory bound, and sealed
//! snapshots read through `ObjectSource`.

use std::cell::Cell;
use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::executor::block_on;
use serde_json::{json, Value};

use super::gen::{mutate, reorg, tenant, Rng};
use super::okta::State;
use super::properties::SHAPE;
use crate::drift::stream::ArraySplitter;
use crate::drift::{
    diff_states, index_changes, Cursor, DiffError, DiffOptions, Filter, ItemSource, ItemStream,
    MatchBy, ObjectSource, ResourceChange, ResourceId, ResourceType, SourceError, Summary, Usage,
};

/// A state as snapshot objects in memory: one JSON array per type, handed to the splitter in
/// pieces of `piece` bytes.
pub struct MemorySource {
    objects: BTreeMap<ResourceType, Vec<u8>>,
    piece: usize,
    pub opened: Cell<u32>,
}

impl MemorySource {
    pub fn new(state: &State, piece: usize) -> MemorySource {
        MemorySource {
            objects: state
                .iter()
                .map(|(t, items)| (*t, serde_json::to_vec(items).unwrap()))
                .collect(),
            piece,
            opened: Cell::new(0),
        }
    }
}

struct MemoryStream<'a> {
    bytes: &'a [u8],
    pos: usize,
    piece: usize,
    splitter: ArraySplitter,
}

#[async_trait(?Send)]
impl ItemStream for MemoryStream<'_> {
    async fn next_item(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        loop {
            if let Some(item) = self.splitter.pop() {
                return Ok(Some(item));
            }
            if self.pos == self.bytes.len() {
                self.splitter
                    .finish()
                    .map_err(|e| SourceError(e.to_string()))?;
                return Ok(None);
            }
            let end = (self.pos + self.piece).min(self.bytes.len());
            self.splitter
                .push(&self.bytes[self.pos..end])
                .map_err(|e| SourceError(e.to_string()))?;
            self.pos = end;
        }
    }
}

#[async_trait(?Send)]
impl ItemSource for MemorySource {
    async fn open(
        &self,
        resource: ResourceType,
    ) -> Result<Option<Box<dyn ItemStream + '_>>, SourceError> {
        self.opened.set(self.opened.get() + 1);
        Ok(self.objects.get(&resource).map(|bytes| {
            Box::new(MemoryStream {
                bytes,
                pos: 0,
                piece: self.piece,
                splitter: ArraySplitter::default(),
            }) as Box<dyn ItemStream>
        }))
    }
}

/// The streamed diff, all pages; the usage of the index and the largest page retention.
pub async fn streamed(
    before: &dyn ItemSource,
    after: &dyn ItemSource,
    options: &DiffOptions,
    page_size: usize,
) -> Result<(Summary, Vec<ResourceChange>, Usage, u64), DiffError> {
    let index = index_changes(before, after, options).await?;
    let mut out = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let mut pages = 0;
    let mut page_peak = 0;
    loop {
        let page = index
            .page(before, after, cursor.as_ref(), page_size)
            .await?;
        pages += 1;
        page_peak = page_peak.max(page.usage.peak_retained);
        assert!(page.changes.len() <= page_size.max(1));
        out.extend(page.changes);
        match page.next {
            Some(next) => {
                // The cursor survives being written into a URL and read back.
                cursor = Some(Cursor::parse(&next.to_string()).unwrap());
            }
            None => break,
        }
        assert!(pages <= index.changes().len() + 1, "paging terminates");
    }
    assert_eq!(out.len(), index.changes().len());
    Ok((index.summary.clone(), out, index.usage(), page_peak))
}

#[test]
fn streaming_equals_in_memory_on_random_tenants() {
    for seed in 0..60u64 {
        let mut rng = Rng::new(5000 + seed);
        let a = tenant(&mut rng, SHAPE);
        let by = if seed % 2 == 0 {
            MatchBy::Id
        } else {
            MatchBy::IdThenNaturalKey
        };
        let b = if by == MatchBy::Id {
            mutate(&mut rng, SHAPE, &a)
        } else {
            let elsewhere = reorg(&mut rng, &a);
            mutate(&mut rng, SHAPE, &elsewhere)
        };
        let mut filter = Filter::default();
        if rng.chance(30) {
            filter.resources = Some(
                ResourceType::ALL
                    .into_iter()
                    .filter(|_| rng.chance(40))
                    .collect(),
            );
        }
        let options = DiffOptions {
            match_by: by,
            filter,
        };
        let expected = diff_states(&a, &b, &options).unwrap();
        let (sa, sb) = (
            MemorySource::new(&a, 1 + rng.below(300)),
            MemorySource::new(&b, 1 + rng.below(300)),
        );
        let page_size = 1 + rng.below(7);
        let (summary, changes, _, _) = block_on(streamed(&sa, &sb, &options, page_size)).unwrap();
        assert_eq!(summary, expected.summary, "seed {seed} {by:?}");
        assert_eq!(changes, expected.changes, "seed {seed} {by:?}");
    }
}

#[test]
fn an_id_filter_is_applied_by_the_stream_as_in_memory() {
    let mut rng = Rng::new(77);
    let a = tenant(&mut rng, SHAPE);
    let b = mutate(&mut rng, SHAPE, &a);
    let full = diff_states(&a, &b, &DiffOptions::default()).unwrap();
    let id = full.changes[full.changes.len() / 2]
        .id
        .components()
        .next()
        .unwrap()
        .to_string();
    for by in [MatchBy::Id, MatchBy::IdThenNaturalKey] {
        let options = DiffOptions {
            match_by: by,
            filter: Filter {
                resources: None,
                id: Some(id.clone()),
            },
        };
        let expected = diff_states(&a, &b, &options).unwrap();
        assert!(!expected.changes.is_empty());
        let (sa, sb) = (MemorySource::new(&a, 64), MemorySource::new(&b, 64));
        let (summary, changes, _, _) = block_on(streamed(&sa, &sb, &options, 3)).unwrap();
        assert_eq!(
            (summary, changes),
            (expected.summary, expected.changes),
            "{by:?}"
        );
    }
}

/// A stored index built without a filter serves filtered views: `select` pages exactly the
/// changes a filtered diff finds, with the whole-type counts of the selected types.
#[test]
fn a_selected_view_of_an_unfiltered_index_pages_as_a_filtered_diff() {
    for seed in 0..20u64 {
        let mut rng = Rng::new(9100 + seed);
        let a = tenant(&mut rng, SHAPE);
        let b = mutate(&mut rng, SHAPE, &a);
        let full = diff_states(&a, &b, &DiffOptions::default()).unwrap();
        let Some(pick) = full.changes.get(rng.below(full.changes.len().max(1))) else {
            continue;
        };
        let id = pick.id.components().next().unwrap().to_string();
        let types = [pick.resource, ResourceType::Groups].into_iter().collect();
        let (sa, sb) = (MemorySource::new(&a, 97), MemorySource::new(&b, 97));
        let index = block_on(index_changes(&sa, &sb, &DiffOptions::default())).unwrap();
        for filter in [
            Filter {
                resources: Some(types),
                id: None,
            },
            Filter {
                resources: None,
                id: Some(id.clone()),
            },
        ] {
            let options = DiffOptions {
                match_by: MatchBy::Id,
                filter: filter.clone(),
            };
            let expected = diff_states(&a, &b, &options).unwrap();
            let view = index.select(&filter);
            let mut got = Vec::new();
            let mut cursor = None;
            loop {
                let page = block_on(view.page(&sa, &sb, cursor.as_ref(), 2)).unwrap();
                got.extend(page.changes);
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(got, expected.changes, "seed {seed} {filter:?}");
            let counted: Vec<_> = (index.summary.types.iter())
                .filter(|t| filter.admits_type(t.resource))
                .cloned()
                .collect();
            assert_eq!(view.summary.types, counted, "seed {seed}");
        }
    }
}

/// `n` users of about `pad` bytes each; `after` suspends `changes` of them, removes as many
/// and adds as many.
fn users(n: usize, pad: usize, changes: usize) -> (State, State) {
    let user = |i: usize| {
        json!({
            "id": format!("00u{i:017}"),
            "status": "ACTIVE",
            "lastLogin": format!("2024-05-{:02}T10:00:00.000Z", 1 + i % 28),
            "profile": {"login": format!("user{i:08}@example.com"), "bio": "x".repeat(pad)},
        })
    };
    let before: Vec<Value> = (0..n).map(user).collect();
    let mut after: Vec<Value> = before[changes..].to_vec();
    for u in after.iter_mut().take(changes) {
        u["status"] = json!("SUSPENDED");
    }
    after.extend((n..n + changes).map(user));
    let one = |items| BTreeMap::from([(ResourceType::Users, items)]);
    (one(before), one(after))
}

#[test]
fn retained_memory_grows_with_the_number_of_resources_not_their_size() {
    for by in [MatchBy::Id, MatchBy::IdThenNaturalKey] {
        let options = DiffOptions {
            match_by: by,
            ..DiffOptions::default()
        };
        let peak = |n: usize, pad: usize| {
            let (a, b) = users(n, pad, 50);
            let (sa, sb) = (MemorySource::new(&a, 4096), MemorySource::new(&b, 4096));
            let (summary, changes, usage, page_peak) =
                block_on(streamed(&sa, &sb, &options, 20)).unwrap();
            let s = summary.of(ResourceType::Users).unwrap();
            assert_eq!((s.added, s.removed, s.changed), (50, 50, 50), "{by:?}");
            assert_eq!(changes.len(), 150);
            assert!(usage.largest_item as usize > pad, "{by:?}");
            (usage.peak_retained, page_peak, usage.largest_item)
        };
        let (small, small_page, _) = peak(2000, 50);
        let (large, large_page, largest) = peak(2000, 2000);
        let (double, _, _) = peak(4000, 50);
        assert_eq!(
            small, large,
            "{by:?}: items over ten times larger, same retained index"
        );
        let ratio = double as f64 / small as f64;
        assert!(
            (1.8..2.2).contains(&ratio),
            "{by:?}: twice the users, {ratio:.2}x the retained bytes"
        );
        // Per user: key and digest in a map by id; key, natural key and digest on both sides
        // with natural keys.
        let per_user = small / 2000;
        let bound = if by == MatchBy::Id { 120 } else { 300 };
        assert!(per_user < bound, "{by:?}: {per_user} bytes per user");
        // A page holds only its own items.
        assert!(small_page < 20 * 2 * 400, "{by:?}: page held {small_page}");
        assert!(
            large_page <= 20 * 2 * largest,
            "{by:?}: page held {large_page}"
        );
    }
}

/// A source whose second reading differs from its first (not a snapshot).
struct Shifting {
    reads: Cell<u32>,
    first: MemorySource,
    then: MemorySource,
}

#[async_trait(?Send)]
impl ItemSource for Shifting {
    async fn open(
        &self,
        resource: ResourceType,
    ) -> Result<Option<Box<dyn ItemStream + '_>>, SourceError> {
        self.reads.set(self.reads.get() + 1);
        if self.reads.get() == 1 {
            self.first.open(resource).await
        } else {
            self.then.open(resource).await
        }
    }
}

#[test]
fn a_source_that_changes_between_readings_is_an_error_not_a_wrong_answer() {
    let (a, b) = users(30, 10, 5);
    let (_, mut c) = users(30, 10, 5);
    c.get_mut(&ResourceType::Users).unwrap().truncate(3);
    let before = MemorySource::new(&a, 100);
    let after = Shifting {
        reads: Cell::new(0),
        first: MemorySource::new(&b, 100),
        then: MemorySource::new(&c, 100),
    };
    let options = DiffOptions::default();
    let index = block_on(index_changes(&before, &after, &options)).unwrap();
    let err = block_on(index.page(&before, &after, None, 100)).unwrap_err();
    assert!(matches!(err, DiffError::Unstable { .. }), "{err}");
}

#[test]
fn bad_items_are_errors_that_name_no_data() {
    let mut a = State::new();
    a.insert(
        ResourceType::Groups,
        vec![json!({"id": "00g1", "profile": {"name": "secret-name"}})],
    );
    let mut b = a.clone();
    b.get_mut(&ResourceType::Groups)
        .unwrap()
        .push(json!({"profile": {"name": "secret-name"}}));
    let (sa, sb) = (MemorySource::new(&a, 7), MemorySource::new(&b, 7));
    let err = block_on(index_changes(&sa, &sb, &DiffOptions::default())).unwrap_err();
    assert_eq!(err.to_string(), "groups item 1: no string id at /id");

    struct Broken;
    #[async_trait(?Send)]
    impl ItemSource for Broken {
        async fn open(
            &self,
            _: ResourceType,
        ) -> Result<Option<Box<dyn ItemStream + '_>>, SourceError> {
            struct Garbage(bool);
            #[async_trait(?Send)]
            impl ItemStream for Garbage {
                async fn next_item(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
                    let first = std::mem::replace(&mut self.0, false);
                    Ok(first.then(|| br#"{"id": "00g1", "profile": {"name": "secret-n"#.to_vec()))
                }
            }
            Ok(Some(Box::new(Garbage(true))))
        }
    }
    let err = block_on(index_changes(&Broken, &sa, &DiffOptions::default())).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("users item 0 is not JSON (Eof error"),
        "{text}"
    );
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn cursors_round_trip_and_reject_garbage() {
    let c = Cursor {
        resource: ResourceType::GroupMembers,
        id: ResourceId::new("00g1/00u2"),
    };
    assert_eq!(c.to_string(), "group_members:00g1/00u2");
    assert_eq!(Cursor::parse("group_members:00g1/00u2"), Some(c));
    for bad in ["", "users", "users:", "nope:00u1", ":00u1"] {
        assert_eq!(Cursor::parse(bad), None, "{bad}");
    }
}

mod sealed {
    //! Two sealed snapshots in an object store, diffed through `ObjectSource`.

    use super::*;
    use crate::crypto::keys::Key256;
    use crate::crypto::native::RustPrimitives;
    use crate::crypto::stream::{seal_object, SnapshotKey};
    use crate::snapshot::manifest::{sha256_hex, ObjectEntry, Segment};
    use crate::snapshot::ObjectStream;
    use crate::testing::{MemoryStore, SeqRng};

    fn key() -> SnapshotKey {
        SnapshotKey::derive(&Key256::from_bytes([9; 32]), "team", "conn")
    }

    /// Seals each type's array as segments of at most `segment` bytes; returns the entries.
    fn seal(
        store: &MemoryStore,
        prefix: &str,
        state: &State,
        segment: usize,
    ) -> BTreeMap<ResourceType, ObjectEntry> {
        let rng = SeqRng::new(3);
        state
            .iter()
            .map(|(t, items)| {
                let whole = serde_json::to_vec(items).unwrap();
                let segments = whole
                    .chunks(segment)
                    .enumerate()
                    .map(|(i, part)| {
                        let key = format!("{prefix}/{t}/{i:05}-00000000.json.bfs");
                        let sealed = seal_object(&self::key(), &rng, &key, part);
                        let entry = Segment {
                            key: key.clone(),
                            plaintext_bytes: part.len() as u64,
                            sealed_bytes: sealed.len() as u64,
                            sealed_sha256: sha256_hex(&sealed),
                        };
                        store.objects.borrow_mut().insert(key, sealed);
                        entry
                    })
                    .collect::<Vec<_>>();
                let entry = ObjectEntry {
                    resource: *t,
                    count: items.len() as u64,
                    plaintext_bytes: whole.len() as u64,
                    sealed_bytes: segments.iter().map(|s| s.sealed_bytes).sum(),
                    plaintext_sha256: sha256_hex(&whole),
                    segments,
                    unavailable: Vec::new(),
                };
                (*t, entry)
            })
            .collect()
    }

    fn source<'s>(
        store: &'s MemoryStore,
        entries: &'s BTreeMap<ResourceType, ObjectEntry>,
    ) -> impl ItemSource + 's {
        ObjectSource::new(store, move |t| {
            Ok(entries.get(&t).map(|e| {
                ObjectStream::new("snapshot", &RustPrimitives, key(), e).with_read_size(4096)
            }))
        })
    }

    #[test]
    fn two_sealed_snapshots_diff_as_in_memory() {
        let mut rng = Rng::new(99);
        let a = tenant(&mut rng, SHAPE);
        let b = mutate(&mut rng, SHAPE, &a);
        let store = MemoryStore::default();
        let (ea, eb) = (seal(&store, "a", &a, 700), seal(&store, "b", &b, 1100));
        let (sa, sb) = (source(&store, &ea), source(&store, &eb));
        let options = DiffOptions::default();
        let expected = diff_states(&a, &b, &options).unwrap();
        assert!(!expected.changes.is_empty());
        let (summary, changes, usage, _) = block_on(streamed(&sa, &sb, &options, 5)).unwrap();
        assert_eq!((summary, changes), (expected.summary, expected.changes));
        assert!(usage.items_read > 0);
        assert_eq!(store.whole_gets.get(), 0, "only ranged reads");
    }

    #[test]
    fn a_damaged_snapshot_fails_the_diff() {
        let mut rng = Rng::new(98);
        let a = tenant(&mut rng, SHAPE);
        let store = MemoryStore::default();
        let (ea, eb) = (seal(&store, "a", &a, 500), seal(&store, "b", &a, 500));
        let segment = &eb[&ResourceType::Users].segments[0].key;
        let last = store.objects.borrow()[segment].len() - 1;
        store.objects.borrow_mut().get_mut(segment).unwrap()[last] ^= 1;
        let (sa, sb) = (source(&store, &ea), source(&store, &eb));
        let err = block_on(index_changes(&sa, &sb, &DiffOptions::default())).unwrap_err();
        assert!(
            matches!(
                &err,
                DiffError::Source {
                    resource: ResourceType::Users,
                    ..
                }
            ),
            "{err}"
        );
    }
}
