//! Change captures as restore points: each capture's changed resources as a sealed **delta**
//! under its base backup's prefix, and the reconstruction of one resource type's state at any
//! capture (base + deltas) in bounded memory. docs/snapshot-format.md, "Deltas", fixes the
//! format.
//!
//! A delta is laid out like a snapshot: one sealed object per resource type (BFS1, sealed under
//! the base backup's own snapshot key, each object's R2 key as its sealing context) and a plain
//! manifest of hashes and counts, written last, whose SHA-256 the capture's row records. Being
//! under the base backup's prefix, deleting the backup's prefix deletes its deltas.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::events::Attribution;
use crate::crypto::stream::SnapshotKey;
use crate::drift::normalise::Normaliser;
use crate::drift::stream::{ItemStream, ObjectItems};
use crate::ports::{ObjectStore, Rng, SealPrimitives, StoreError, MIN_PART_SIZE};
use crate::snapshot::manifest::sha256_hex;
use crate::snapshot::writer::SegmentWriter;
use crate::snapshot::{ObjectEntry, ReadError, SnapshotLayout, SnapshotReader};
use crate::tenant::ResourceType;

/// Names the manifest's format, so a delta manifest is never mistaken for a snapshot's.
pub const DELTA_FORMAT: &str = "butterfly-delta";
/// Delta format 1: one single-segment BFS1 object per changed resource type.
pub const DELTA_FORMAT_VERSION: u32 = 1;

/// Where a base backup's deltas live: `<backup prefix>deltas/<seq:06>/`.
pub fn delta_dir(base: &SnapshotLayout, seq: u32) -> String {
    format!("{}deltas/{seq:06}/", base.prefix())
}

pub fn delta_object_key(base: &SnapshotLayout, seq: u32, resource: ResourceType) -> String {
    format!("{}{}.json.bfs", delta_dir(base, seq), resource.as_str())
}

pub fn delta_manifest_key(base: &SnapshotLayout, seq: u32) -> String {
    format!("{}delta.json", delta_dir(base, seq))
}

/// One changed resource in a delta: its key, its state after the change (`None`: removed) in
/// the snapshot's item shape, and the events it is attributed to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeltaItem {
    pub key: String,
    pub item: Option<Value>,
    pub attribution: Vec<Attribution>,
}

/// `delta.json`: canonical (fields in this order), plain, hashes and counts only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeltaManifest {
    pub format: String,
    pub format_version: u32,
    pub backup_id: String,
    pub team_id: String,
    pub connection_id: String,
    /// 1, 2, ... per base backup, in capture order.
    pub seq: u32,
    /// `published` of the first and last System Log event the capture covers (RFC 3339).
    pub covers_from: String,
    pub covers_to: String,
    pub events: u32,
    pub objects: Vec<ObjectEntry>,
}

impl DeltaManifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("delta manifest serializes")
    }
}

/// Who a delta belongs to and what it covers.
#[derive(Clone, Debug)]
pub struct DeltaHeader {
    pub backup_id: String,
    pub team_id: String,
    pub connection_id: String,
    pub seq: u32,
    pub covers_from: String,
    pub covers_to: String,
    pub events: u32,
}

/// Writes a delta: each type's items as one sealed object, then the manifest. Returns the
/// manifest and its SHA-256. Rewriting the same sequence number (a capture redone after a
/// crash, before its row was recorded) replaces the objects whole.
pub async fn write_delta(
    store: &dyn ObjectStore,
    seal: &dyn SealPrimitives,
    key: &SnapshotKey,
    rng: &dyn Rng,
    base: &SnapshotLayout,
    header: DeltaHeader,
    items: &BTreeMap<ResourceType, Vec<DeltaItem>>,
) -> Result<(DeltaManifest, String), StoreError> {
    let mut objects = Vec::new();
    for resource in ResourceType::ALL {
        let Some(list) = items.get(&resource).filter(|l| !l.is_empty()) else {
            continue;
        };
        let object_key = delta_object_key(base, header.seq, resource);
        let mut plain = Vec::new();
        plain.push(b'[');
        for (i, item) in list.iter().enumerate() {
            if i > 0 {
                plain.push(b',');
            }
            serde_json::to_writer(&mut plain, item).map_err(|e| StoreError(e.to_string()))?;
        }
        plain.push(b']');
        let sealing = |e: crate::crypto::CryptoError| StoreError(e.to_string());
        let mut writer = SegmentWriter::new(seal, key, rng, object_key, MIN_PART_SIZE)
            .await
            .map_err(sealing)?;
        writer.write(&plain).await.map_err(sealing)?;
        let segment = writer
            .close(store)
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        objects.push(ObjectEntry {
            resource,
            count: list.len() as u64,
            plaintext_bytes: plain.len() as u64,
            sealed_bytes: segment.sealed_bytes,
            plaintext_sha256: hex::encode(Sha256::digest(&plain)),
            segments: vec![segment],
            unavailable: Vec::new(),
        });
    }
    let manifest = DeltaManifest {
        format: DELTA_FORMAT.into(),
        format_version: DELTA_FORMAT_VERSION,
        backup_id: header.backup_id,
        team_id: header.team_id,
        connection_id: header.connection_id,
        seq: header.seq,
        covers_from: header.covers_from,
        covers_to: header.covers_to,
        events: header.events,
        objects,
    };
    let bytes = manifest.to_bytes();
    let sha = sha256_hex(&bytes);
    store
        .put(&delta_manifest_key(base, manifest.seq), bytes)
        .await?;
    Ok((manifest, sha))
}

#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// Tampering, corruption or a missing object: the detail is for the worker log only.
    #[error("delta {seq}: {what}")]
    Unreadable { seq: u32, what: String },
    #[error(transparent)]
    Base(#[from] ReadError),
    /// The base object's items could not be read (its stream failed its hashes, or an item
    /// has no key): the detail is for the worker log only.
    #[error("base snapshot items: {0}")]
    BaseItems(String),
}

/// A recorded delta to read: its sequence number and the manifest hash its row holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaRef {
    pub seq: u32,
    pub manifest_sha256: String,
}

/// Opens a recorded delta's manifest, checked against its row's hash and its owner.
pub async fn open_delta(
    store: &dyn ObjectStore,
    base: &SnapshotLayout,
    owner: (&str, &str, &str),
    delta: &DeltaRef,
) -> Result<DeltaManifest, DeltaError> {
    let bad = |what: &str| DeltaError::Unreadable {
        seq: delta.seq,
        what: what.into(),
    };
    let bytes = store
        .get(&delta_manifest_key(base, delta.seq))
        .await
        .map_err(|e| bad(&e.to_string()))?
        .ok_or_else(|| bad("manifest missing"))?;
    if sha256_hex(&bytes) != delta.manifest_sha256 {
        return Err(bad("manifest hash mismatch"));
    }
    let manifest: DeltaManifest =
        serde_json::from_slice(&bytes).map_err(|_| bad("manifest unreadable"))?;
    let (backup, team, connection) = owner;
    if manifest.format != DELTA_FORMAT
        || manifest.format_version != DELTA_FORMAT_VERSION
        || manifest.seq != delta.seq
    {
        return Err(bad("unsupported delta format"));
    }
    if manifest.backup_id != backup
        || manifest.team_id != team
        || manifest.connection_id != connection
    {
        return Err(bad("delta belongs to another backup"));
    }
    Ok(manifest)
}

/// One type's items of an opened delta (a delta holds one capture's changes, so it is read
/// whole), verified against the manifest.
pub async fn delta_items(
    store: &dyn ObjectStore,
    seal: &'static dyn SealPrimitives,
    key: &SnapshotKey,
    manifest: &DeltaManifest,
    resource: ResourceType,
) -> Result<Vec<DeltaItem>, DeltaError> {
    let Some(entry) = manifest.objects.iter().find(|o| o.resource == resource) else {
        return Ok(Vec::new());
    };
    let bad = |what: String| DeltaError::Unreadable {
        seq: manifest.seq,
        what,
    };
    let stream = crate::snapshot::ObjectStream::new(
        format!("delta {}", manifest.seq),
        seal,
        key.clone(),
        entry,
    );
    let plain = stream
        .read_to_end(store)
        .await
        .map_err(|e| bad(e.to_string()))?;
    serde_json::from_slice(&plain).map_err(|_| bad("object is not a list of delta items".into()))
}

/// What the deltas say about one type, later captures over earlier ones: each key's latest
/// state (`None`: removed), and the keys in the order they first appeared.
async fn overlay(
    store: &dyn ObjectStore,
    seal: &'static dyn SealPrimitives,
    key: &SnapshotKey,
    deltas: &[DeltaManifest],
    resource: ResourceType,
) -> Result<(BTreeMap<String, Option<Value>>, Vec<String>), DeltaError> {
    let mut latest = BTreeMap::new();
    let mut order = Vec::new();
    for delta in deltas {
        for item in delta_items(store, seal, key, delta, resource).await? {
            if !latest.contains_key(&item.key) {
                order.push(item.key.clone());
            }
            latest.insert(item.key, item.item);
        }
    }
    Ok((latest, order))
}

/// The state of one resource type as of the last of `deltas` (in sequence order, all of one
/// base backup): the base's items in stored order with each changed one replaced or dropped,
/// then the resources added since, in the order they were first captured. `visit` sees each
/// item once. Memory is the deltas' items of this type plus one base item at a time, whatever
/// the base's size; `None` when the base did not collect the type.
///
/// Restores and diffs call this with the deltas up to the capture they want.
pub async fn state_at(
    store: &dyn ObjectStore,
    base: &SnapshotReader<'_>,
    key: &SnapshotKey,
    deltas: &[DeltaManifest],
    resource: ResourceType,
    visit: &mut dyn FnMut(&str, Value),
) -> Result<Option<()>, DeltaError> {
    let stream = match base.object_stream(resource) {
        Ok(s) => s,
        Err(ReadError::NotCollected(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let (mut latest, order) = overlay(store, base.seal(), key, deltas, resource).await?;
    let n = Normaliser::of(resource);
    let mut items = ObjectItems::new(stream, store);
    let mut position = 0u64;
    let unreadable = DeltaError::BaseItems;
    let mut seen = BTreeSet::new();
    while let Some(bytes) = items
        .next_item()
        .await
        .map_err(|e| unreadable(e.to_string()))?
    {
        let item: Value =
            serde_json::from_slice(&bytes).map_err(|_| unreadable("item is not JSON".into()))?;
        let id = n
            .key(&item, position)
            .map_err(|e| unreadable(e.to_string()))?;
        position += 1;
        match latest.remove(id.as_str()) {
            Some(Some(changed)) => {
                seen.insert(id.as_str().to_string());
                visit(id.as_str(), changed);
            }
            Some(None) => {}
            None => visit(id.as_str(), item),
        }
    }
    for k in order {
        if let Some(Some(added)) = latest.remove(&k) {
            if !seen.contains(&k) {
                visit(&k, added);
            }
        }
    }
    Ok(Some(()))
}

/// Overlays one delta's items of `resource` onto that type's items held in memory (a base
/// backup read whole, with earlier deltas already overlaid): a changed resource is replaced,
/// a removed one dropped, in place; an added one is appended, in capture order. The same state
/// as [`state_at`] gives, for a caller that holds the whole tenant anyway (a guidance prompt
/// is built over all of it).
pub fn overlay_items(items: &mut Vec<Value>, resource: ResourceType, delta: Vec<DeltaItem>) {
    let n = Normaliser::of(resource);
    let mut at = std::collections::HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if let Ok(key) = n.key(item, i as u64) {
            at.entry(key.as_str().to_string()).or_insert(i);
        }
    }
    let mut slots: Vec<Option<Value>> = std::mem::take(items).into_iter().map(Some).collect();
    for d in delta {
        match at.get(&d.key) {
            Some(&i) => slots[i] = d.item,
            None => {
                if let Some(item) = d.item {
                    at.insert(d.key, slots.len());
                    slots.push(Some(item));
                }
            }
        }
    }
    *items = slots.into_iter().flatten().collect();
}

/// The captured versions (base + deltas) of the resources of one type whose key `covers`
/// admits; `None` when the base did not collect the type.
pub async fn captured(
    store: &dyn ObjectStore,
    base: &SnapshotReader<'_>,
    key: &SnapshotKey,
    deltas: &[DeltaManifest],
    resource: ResourceType,
    covers: &dyn Fn(&str) -> bool,
) -> Result<Option<BTreeMap<String, Value>>, DeltaError> {
    let mut out = BTreeMap::new();
    let found = state_at(store, base, key, deltas, resource, &mut |k, item| {
        if covers(k) {
            out.insert(k.to_string(), item);
        }
    })
    .await?;
    Ok(found.map(|()| out))
}
