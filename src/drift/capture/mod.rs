//! Live change capture (pure core): from a page of System Log events to the changes they made,
//! each attributed to its events, and the sealed delta that makes the capture a restore point.
//!
//! - [`events`]: the events followed, what each touched, who made it (and Butterfly's own
//!   writes);
//! - [`poll`]: the System Log cursor, as Okta documents polling;
//! - [`reread`]: re-reading only what the events touched;
//! - [`delta`]: sealed deltas under the base backup, and reconstruction (base + deltas);
//! - [`alerts`]: rules, severities and deduplication keys.
//!
//! [`capture`] ties them together for one batch of events; `jobs::drift` runs it on a schedule
//! and records the result. docs/drift.md describes the whole.

pub mod alerts;
pub mod delta;
pub mod events;
pub mod poll;
pub mod reread;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::crypto::stream::SnapshotKey;
use crate::drift::normalise::Normaliser;
use crate::drift::{diff_states, ChangeKind, DiffError, DiffOptions, Filter, ResourceChange};
use crate::okta::{OktaClient, OktaError};
use crate::ports::ObjectStore;
use crate::snapshot::SnapshotReader;
use crate::tenant::ResourceType;
use delta::{DeltaError, DeltaItem, DeltaManifest};
use events::{Attribution, LogEvent, Touched};

/// What changes are compared against: the base backup and the deltas captured since.
pub struct Baseline<'a> {
    pub store: &'a dyn ObjectStore,
    pub base: &'a SnapshotReader<'a>,
    pub key: &'a SnapshotKey,
    /// In sequence order.
    pub deltas: &'a [DeltaManifest],
}

/// One captured change and the events it is attributed to.
#[derive(Clone, Debug, PartialEq)]
pub struct CapturedChange {
    /// Field by field, secrets withheld (what users are shown).
    pub change: ResourceChange,
    pub attribution: Vec<Attribution>,
    /// The resource's normalised content after the change (before it, for a removal), for
    /// alert rules; never stored.
    pub content: Option<Value>,
}

/// What one batch of events changed.
#[derive(Debug, Default)]
pub struct Capture {
    pub changes: Vec<CapturedChange>,
    /// The delta's contents: each changed resource's new state, per type.
    pub items: BTreeMap<ResourceType, Vec<DeltaItem>>,
    /// Distinct re-reads made.
    pub rereads: usize,
    /// Types an event touched that the base backup did not collect (nothing to compare with).
    pub not_compared: BTreeSet<ResourceType>,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Okta(#[from] OktaError),
    #[error(transparent)]
    Delta(#[from] DeltaError),
    #[error(transparent)]
    Diff(#[from] DiffError),
}

/// Re-reads what `events` touched and diffs it against its latest captured version.
/// `butterfly_writes`: the transaction ids of Butterfly's own recorded writes to the org.
pub async fn capture(
    okta: &OktaClient<'_>,
    baseline: &Baseline<'_>,
    events: &[LogEvent],
    butterfly_writes: &BTreeSet<String>,
) -> Result<Capture, CaptureError> {
    // Each touched thing once, with the events that touched it (in log order).
    let mut touched: BTreeMap<Touched, Vec<usize>> = BTreeMap::new();
    for (i, event) in events.iter().enumerate() {
        for t in event.touched() {
            let seen = touched.entry(t).or_default();
            if !seen.contains(&i) {
                seen.push(i);
            }
        }
    }
    let mut out = Capture {
        rereads: touched.len(),
        ..Capture::default()
    };
    let mut fresh: BTreeMap<ResourceType, Vec<Value>> = BTreeMap::new();
    for t in touched.keys() {
        for r in t.resources() {
            fresh.entry(*r).or_default();
        }
        for (resource, item) in reread::reread(okta, t).await?.items {
            fresh.entry(resource).or_default().push(item);
        }
    }
    let attribution: Vec<Attribution> = events
        .iter()
        .map(|e| Attribution::of(e, butterfly_writes))
        .collect();
    for (resource, now) in fresh {
        let scope: Vec<&Touched> = touched
            .keys()
            .filter(|t| t.resources().contains(&resource))
            .collect();
        let covers = |key: &str| scope.iter().any(|t| t.covers(resource, key));
        let Some(before) = delta::captured(
            baseline.store,
            baseline.base,
            baseline.key,
            baseline.deltas,
            resource,
            &covers,
        )
        .await?
        else {
            out.not_compared.insert(resource);
            continue;
        };
        let n = Normaliser::of(resource);
        let mut by_key: BTreeMap<String, Value> = BTreeMap::new();
        for (position, item) in now.iter().enumerate() {
            by_key.insert(
                n.key(item, position as u64)?.as_str().to_string(),
                item.clone(),
            );
        }
        let states = |items: Vec<Value>| BTreeMap::from([(resource, items)]);
        let options = DiffOptions {
            filter: Filter {
                resources: Some(BTreeSet::from([resource])),
                id: None,
            },
            ..DiffOptions::default()
        };
        let diff = diff_states(
            &states(before.into_values().collect()),
            &states(now),
            &options,
        )?;
        for change in diff.changes {
            let key = change.id.as_str().to_string();
            let item = by_key.get(&key).cloned();
            let by: Vec<Attribution> = scope
                .iter()
                .filter(|t| t.covers(resource, &key))
                .flat_map(|t| touched[*t].iter().copied())
                .collect::<BTreeSet<usize>>()
                .into_iter()
                .map(|i| attribution[i].clone())
                .collect();
            let content = match change.kind {
                ChangeKind::Removed => change.before.clone(),
                ChangeKind::Added => change.after.clone(),
                ChangeKind::Changed => item.clone().map(|i| n.content(i, None)),
            };
            out.items.entry(resource).or_default().push(DeltaItem {
                key,
                item,
                attribution: by.clone(),
            });
            out.changes.push(CapturedChange {
                change,
                attribution: by,
                content,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
