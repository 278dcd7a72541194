//! Backup indexing: after a backup completes, its resources enter the version index
//! (`resource_versions`, docs/drift.md "Resource history"). Each object is streamed once; each
//! item is normalised and hashed ([`VersionHashKey`]) and sent, as id and hash, 1,000 to a call;
//! the database compares them with the resources' latest versions (`resource_heads`), records
//! those that are new or differ, and marks every id seen. Once a type is streamed, sweeps over
//! its heads record as removed those the backup did not hold. So a connection's first backup
//! writes one row per resource and later ones one per change, and the worker holds one batch,
//! never the heads (several million for a 100k-user tenant's memberships).
//!
//! The job runs in slices bounded like a backup's (`BACKUP_SLICE_*`: subrequests, wall time and
//! bytes processed, the CPU bound) and resumes from the position the database keeps
//! (`resource_index_progress`, migration 0029). Every call moves that position in its own
//! transaction under a step number it must name, so a slice can stop (or die) after any call,
//! the next resumes at the item after the last one observed (reading the object from the segment
//! that holds it), and of two deliveries racing over one backup only one goes on.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Next, Ran};
use crate::crypto::version_hash::VersionHashKey;
use crate::drift::canonical::canonical_bytes;
use crate::drift::stream::ArraySplitter;
use crate::drift::Normaliser;
use crate::ids::{BackupId, ConnectionId, TeamId};
use crate::services::audit::{Actor, RequestMeta};
use crate::services::downloads::read_snapshot;
use crate::services::{Deps, Privileged, ServiceError};
use crate::snapshot::SnapshotReader;
use crate::store::{
    BackupStatus, IndexCheckpoint, IndexPhase, ObserveBatch, ObservedItem, MAX_OBSERVED_PER_CALL,
    SWEEP_HEADS_PER_CALL,
};
use crate::tenant::ResourceType;

const JOB: Actor = Actor::System("resource-index-job");

/// Delay before a run that met a transient failure is delivered again.
const RETRY_SECONDS: u32 = 120;

/// Index this complete backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceIndexJob {
    pub backup: BackupId,
    pub team: TeamId,
    pub connection: ConnectionId,
    pub meta: RequestMeta,
}

/// What one slice did, for its log line.
#[derive(Default, Serialize)]
struct Counts {
    items: u64,
    unchanged: u64,
    recorded: u64,
    removed: u64,
    calls: u64,
    reads: u64,
}

/// How a slice ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Every type is indexed (now or by an earlier slice).
    Indexed,
    /// The slice's budget ran out after a call; the next slice resumes from its checkpoint.
    Paused,
    /// Another delivery moved the progress first: it carries on, this one stops.
    Superseded,
    BackupGone,
    BackupNotComplete,
}

impl Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Indexed => "indexed",
            Outcome::Paused => "paused",
            Outcome::Superseded => "superseded",
            Outcome::BackupGone => "backup_gone",
            Outcome::BackupNotComplete => "backup_not_complete",
        }
    }
}

pub async fn run(deps: &Deps<'_>, job: &ResourceIndexJob) -> Ran {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    let mut slice = Slice::new(deps);
    let ran = index(&sys, job, &mut slice).await;
    let counts = slice.counts;
    match ran {
        Ok(Outcome::Paused) => Ran {
            next: Next::Resend(0),
            log: json!({"outcome": "paused", "counts": counts}),
        },
        Ok(outcome) => Ran {
            next: Next::Ack,
            log: json!({"outcome": outcome.as_str(), "counts": counts}),
        },
        // Nothing can ever be read from a shredded backup; there is nothing to retry.
        Err(ServiceError::SnapshotKeyDestroyed) => Ran {
            next: Next::Ack,
            log: json!({"outcome": "snapshot_key_destroyed", "counts": counts}),
        },
        Err(e) => Ran {
            next: Next::RetryAfter(RETRY_SECONDS),
            log: json!({"level": "error", "outcome": "retry", "error": e.to_string(), "counts": counts}),
        },
    }
}

/// Subrequests a slice spends before its first indexing call: the backup row, the progress,
/// the backup's key and its manifest.
const SETUP_SUBREQUESTS: u64 = 6;

/// One invocation's budget (the backup's slice limits) and what it has spent.
struct Slice {
    deadline: DateTime<Utc>,
    max_subrequests: u64,
    max_work_bytes: u64,
    /// Plaintext bytes streamed: the CPU the slice spends grows with them.
    work_bytes: u64,
    counts: Counts,
}

impl Slice {
    fn new(deps: &Deps<'_>) -> Slice {
        let limits = deps.config.backup_slice;
        Slice {
            deadline: deps.clock.now() + ChronoDuration::seconds(limits.seconds.into()),
            max_subrequests: limits.max_requests.into(),
            max_work_bytes: u64::from(limits.work_mib) << 20,
            work_bytes: 0,
            counts: Counts::default(),
        }
    }

    /// Whether the slice must stop now (checked after each indexing call, when everything done
    /// is committed).
    fn spent(&self, now: DateTime<Utc>, reads: u64) -> bool {
        SETUP_SUBREQUESTS + self.counts.calls + self.counts.reads + reads >= self.max_subrequests
            || self.work_bytes >= self.max_work_bytes
            || now >= self.deadline
    }
}

/// The position and step a slice carries from call to call.
struct Cursor {
    step: u64,
    checkpoint: IndexCheckpoint,
}

async fn index(
    sys: &Privileged<'_>,
    job: &ResourceIndexJob,
    slice: &mut Slice,
) -> Result<Outcome, ServiceError> {
    let stores = sys.stores();
    let Some(row) = stores
        .backup(job.backup)
        .await?
        .filter(|r| r.team_id == job.team && r.connection_id == job.connection)
    else {
        return Ok(Outcome::BackupGone);
    };
    if row.status != BackupStatus::Complete {
        return Ok(Outcome::BackupNotComplete);
    }
    let progress = stores.index_progress(job.backup).await?;
    if progress.done {
        return Ok(Outcome::Indexed);
    }
    let mut cursor = Cursor {
        step: progress.step,
        checkpoint: progress.checkpoint,
    };
    let reader = read_snapshot(sys, sys.deps.store, &row).await?;
    let (key_id, secret) = sys.deps.config.snapshot_secret.active();
    let hasher = VersionHashKey::derive(secret, &job.team.to_string(), &job.connection.to_string());
    let indexer = Indexer {
        sys,
        backup: job.backup,
        reader: &reader,
        hasher: &hasher,
        key_id,
    };
    for (ordinal, t) in ResourceType::ALL.iter().copied().enumerate() {
        let ordinal = ordinal as u32;
        if ordinal < cursor.checkpoint.ordinal {
            continue;
        }
        let resume = cursor.checkpoint.ordinal == ordinal;
        let outcome = if resume && cursor.checkpoint.phase == IndexPhase::Sweep {
            indexer.sweep(t, ordinal, &mut cursor, slice).await?
        } else {
            let (offset, position) = if resume {
                (cursor.checkpoint.offset, cursor.checkpoint.position)
            } else {
                (0, 0)
            };
            match indexer
                .observe(t, ordinal, offset, position, &mut cursor, slice)
                .await?
            {
                // Not collected: nothing is known about the type, so nothing is removed either.
                None => continue,
                Some(None) => indexer.sweep(t, ordinal, &mut cursor, slice).await?,
                Some(Some(stopped)) => Some(stopped),
            }
        };
        if let Some(stopped) = outcome {
            return Ok(stopped);
        }
    }
    slice.counts.calls += 1;
    if stores.index_finish(job.backup, cursor.step).await? {
        Ok(Outcome::Indexed)
    } else {
        Ok(Outcome::Superseded)
    }
}

/// What a backup's indexing calls share.
struct Indexer<'a> {
    sys: &'a Privileged<'a>,
    backup: BackupId,
    reader: &'a SnapshotReader<'a>,
    hasher: &'a VersionHashKey,
    key_id: &'a str,
}

impl Indexer<'_> {
    /// Streams type `t` from plaintext byte `offset` (item `position`), observing its items in
    /// batches. `None`: the type was not collected; `Some(None)`: streamed to the end;
    /// `Some(Some(outcome))`: the slice stops.
    async fn observe(
        &self,
        t: ResourceType,
        ordinal: u32,
        offset: u64,
        mut position: u32,
        cursor: &mut Cursor,
        slice: &mut Slice,
    ) -> Result<Option<Option<Outcome>>, ServiceError> {
        let mut stream = match self.reader.object_stream(t) {
            Ok(s) => s.starting_at(offset),
            Err(crate::snapshot::ReadError::NotCollected(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let store = self.reader.store();
        let mut splitter = if offset == 0 {
            ArraySplitter::default()
        } else {
            ArraySplitter::after_item(offset)
        };
        let n = Normaliser::of(t);
        let mut batch: Vec<ObservedItem> = Vec::with_capacity(MAX_OBSERVED_PER_CALL);
        let mut batch_end = offset;
        let mut ended = false;
        while !ended {
            match stream
                .next_piece(store)
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?
            {
                Some(piece) => {
                    slice.work_bytes += piece.len() as u64;
                    splitter.push(&piece)
                }
                None => {
                    ended = true;
                    splitter.finish()
                }
            }
            .map_err(|e| ServiceError::Internal(format!("{t}: {e}")))?;
            while let Some((bytes, end)) = splitter.pop_with_end() {
                let item: Value = serde_json::from_slice(&bytes).map_err(|_| {
                    ServiceError::Internal(format!("{t} item {position} is not JSON"))
                })?;
                let id = n
                    .key(&item, position.into())
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                let hash = self.hasher.hash(&canonical_bytes(&n.content(item, None)));
                batch.push(ObservedItem {
                    id: id.to_string(),
                    hash,
                    position,
                });
                position += 1;
                batch_end = end;
                if batch.len() == MAX_OBSERVED_PER_CALL {
                    let call = self.batch(t, ordinal, &batch, batch_end, position, cursor);
                    if let Some(stopped) = self.send(call, cursor, slice).await? {
                        return Ok(Some(Some(stopped)));
                    }
                    batch.clear();
                    if slice.spent(self.sys.deps.clock.now(), stream.reads()) {
                        slice.counts.reads += stream.reads();
                        return Ok(Some(Some(Outcome::Paused)));
                    }
                }
            }
        }
        if !batch.is_empty() {
            let call = self.batch(t, ordinal, &batch, batch_end, position, cursor);
            if let Some(stopped) = self.send(call, cursor, slice).await? {
                return Ok(Some(Some(stopped)));
            }
        }
        slice.counts.reads += stream.reads();
        Ok(Some(None))
    }

    fn batch<'b>(
        &'b self,
        t: ResourceType,
        ordinal: u32,
        items: &'b [ObservedItem],
        offset: u64,
        position: u32,
        cursor: &Cursor,
    ) -> ObserveBatch<'b> {
        ObserveBatch {
            backup: self.backup,
            step: cursor.step,
            resource: t,
            ordinal,
            hash_key: self.key_id,
            items,
            offset,
            position,
        }
    }

    /// One observe call; the outcome if the slice must stop because another delivery moved on.
    async fn send(
        &self,
        call: ObserveBatch<'_>,
        cursor: &mut Cursor,
        slice: &mut Slice,
    ) -> Result<Option<Outcome>, ServiceError> {
        slice.counts.calls += 1;
        slice.counts.items += call.items.len() as u64;
        let Some(observed) = self.sys.stores().index_observe(&call).await? else {
            return Ok(Some(Outcome::Superseded));
        };
        cursor.step = observed.step;
        cursor.checkpoint = IndexCheckpoint {
            ordinal: call.ordinal,
            phase: IndexPhase::Observe,
            offset: call.offset,
            position: call.position,
        };
        slice.counts.recorded += u64::from(observed.recorded);
        slice.counts.unchanged += u64::from(observed.unchanged);
        Ok(None)
    }

    /// Sweeps type `t`'s heads to the end; the outcome if the slice stops first.
    async fn sweep(
        &self,
        t: ResourceType,
        ordinal: u32,
        cursor: &mut Cursor,
        slice: &mut Slice,
    ) -> Result<Option<Outcome>, ServiceError> {
        loop {
            slice.counts.calls += 1;
            let Some(swept) = self
                .sys
                .stores()
                .index_sweep(
                    self.backup,
                    cursor.step,
                    t,
                    ordinal,
                    self.key_id,
                    SWEEP_HEADS_PER_CALL,
                )
                .await?
            else {
                return Ok(Some(Outcome::Superseded));
            };
            cursor.step = swept.step;
            slice.counts.removed += u64::from(swept.removed);
            cursor.checkpoint = if swept.done {
                IndexCheckpoint {
                    ordinal: ordinal + 1,
                    ..IndexCheckpoint::default()
                }
            } else {
                IndexCheckpoint {
                    ordinal,
                    phase: IndexPhase::Sweep,
                    ..IndexCheckpoint::default()
                }
            };
            if slice.spent(self.sys.deps.clock.now(), 0) {
                return Ok(Some(Outcome::Paused));
            }
            if swept.done {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use futures::executor::block_on;
    use serde_json::{json, Value};

    use crate::jobs::{self, Job};
    use crate::store::{Acting, Database, IndexPhase, ObserveBatch, ObservedItem, VersionState};
    use crate::tenant::ResourceType;
    use crate::testing::world::World;

    fn user(n: u32, title: &str) -> Value {
        json!({"id": format!("00u{n:05}"), "status": "ACTIVE",
               "lastLogin": format!("2026-02-01T00:00:{:02}.000Z", n % 60),
               "profile": {"login": format!("u{n}@example.com"), "title": title},
               "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}}})
    }

    /// (backup order, type, id, present, hash, position).
    type Version = (
        usize,
        ResourceType,
        String,
        bool,
        Option<String>,
        Option<u32>,
    );

    /// Three backups of 2,500 users: the second changes 260 titles, removes 200 users and adds
    /// 150; the third removes 1,000 more. Indexing in a world with `vars` (its queue drained by
    /// hand, `kill` deciding before each delivery whether an index call fails); returns every
    /// version as (backup order, type, id, state, hash, position) and the index deliveries.
    fn index_three_backups(
        vars: &[(&str, &str)],
        mut kill: impl FnMut() -> Option<&'static str>,
    ) -> (Vec<Version>, usize) {
        let w = World::with_vars(vars);
        let owner = w.user();
        let connection = w.connect(owner);
        let mut index_deliveries = 0;
        let mut back_up = |users: Vec<Value>| {
            *w.okta_users.borrow_mut() = users;
            w.clock.advance(std::time::Duration::from_secs(3600));
            w.db.set_now(w.deps.clock.now());
            block_on(crate::jobs::backup::request(&w.caller(owner), connection)).unwrap();
            let mut delivered = 0;
            loop {
                let next = {
                    let mut sent = w.queue.sent.borrow_mut();
                    (!sent.is_empty()).then(|| sent.remove(0))
                };
                let Some((message, _)) = next else { break };
                let is_index = matches!(
                    serde_json::from_value::<Job>(message.clone()),
                    Ok(Job::ResourceIndex(_))
                );
                if is_index {
                    index_deliveries += 1;
                    if let Some(op) = kill() {
                        w.db.fail_on(op);
                    }
                }
                let delivery = block_on(jobs::deliver(w.deps, message.clone()));
                if delivery.retry_after.is_some() {
                    w.queue.sent.borrow_mut().push((message, 0));
                }
                delivered += 1;
                assert!(
                    delivered < 5_000,
                    "the queue never drains: {}",
                    delivery.log
                );
            }
        };
        let first: Vec<Value> = (0..2500).map(|n| user(n, "Engineer")).collect();
        back_up(first);
        let second: Vec<Value> = (0..2650)
            .filter(|n| !(1000..1200).contains(n))
            .map(|n| {
                user(
                    n,
                    if n % 5 == 0 && n < 1500 {
                        "Manager"
                    } else {
                        "Engineer"
                    },
                )
            })
            .collect();
        back_up(second.clone());
        back_up(second.into_iter().skip(1000).collect());
        let order: BTreeMap<_, _> = (w.db.backups().iter().enumerate())
            .map(|(i, b)| (b.id, i))
            .collect();
        assert_eq!(order.len(), 3);
        assert_eq!(w.db.index_seen_count(), 0, "seen marks are all swept away");
        let versions = (w.db.versions().into_iter())
            .map(|v| {
                let crate::store::VersionSource::Backup { backup_id } = v.source else {
                    unreachable!("only backups here")
                };
                let present = v.state == VersionState::Present;
                (
                    order[&backup_id],
                    v.resource_type,
                    v.resource_id,
                    present,
                    v.content_hash,
                    v.position,
                )
            })
            .collect();
        (versions, index_deliveries)
    }

    #[test]
    fn a_sliced_and_killed_index_records_exactly_what_one_uninterrupted_run_does() {
        let (whole, one_each) = index_three_backups(&[("DEFAULT_PLAN", "business")], || None);
        assert_eq!(
            one_each, 3,
            "one delivery per backup without a small budget"
        );
        let users = |present| {
            let mut n = [0; 3];
            for v in whole
                .iter()
                .filter(|v| v.1 == ResourceType::Users && v.3 == present)
            {
                n[v.0] += 1;
            }
            n
        };
        assert_eq!(users(true), [2500, 260 + 150, 0]);
        assert_eq!(users(false), [0, 200, 1000]);
        // Slices of a few calls, and a database failure before a fifth of the deliveries.
        let ops = [
            "index_observe",
            "index_sweep",
            "index_progress",
            "index_finish",
        ];
        let mut seed = 0x9e37_79b9_u32;
        let kill = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed.is_multiple_of(5)
                .then(|| ops[(seed / 5) as usize % ops.len()])
        };
        let vars = [("DEFAULT_PLAN", "business"), ("BACKUP_SLICE_REQUESTS", "9")];
        let (sliced, deliveries) = index_three_backups(&vars, kill);
        assert!(
            deliveries > 30,
            "the index ran in many slices: {deliveries}"
        );
        let sorted = |mut v: Vec<_>| {
            v.sort();
            v
        };
        assert_eq!(sorted(sliced), sorted(whole));
    }

    #[test]
    fn an_index_call_naming_a_step_already_taken_does_nothing() {
        let w = World::new();
        let owner = w.user();
        *w.okta_users.borrow_mut() = (0..3).map(|n| user(n, "Engineer")).collect();
        let (_, backup) = w.backed_up(owner);
        let sys = w.db.stores(Acting::System, "test");
        let progress = block_on(sys.index_progress(backup.id)).unwrap();
        assert!(progress.done, "{progress:?}");
        let items = [ObservedItem {
            id: "00u00009".into(),
            hash: "ab".repeat(32),
            position: 9,
        }];
        let before = w.db.versions();
        for step in [0, progress.step - 1, progress.step] {
            let batch = ObserveBatch {
                backup: backup.id,
                step,
                resource: ResourceType::Users,
                ordinal: 0,
                hash_key: "k",
                items: &items,
                offset: 1,
                position: 10,
            };
            assert_eq!(
                block_on(sys.index_observe(&batch)).unwrap(),
                None,
                "step {step}"
            );
            let swept = block_on(sys.index_sweep(backup.id, step, ResourceType::Users, 0, "k", 10));
            assert_eq!(swept.unwrap(), None, "step {step}");
        }
        assert_eq!(w.db.versions(), before);
    }

    #[test]
    fn a_sweep_in_small_chunks_removes_what_one_sweep_does_and_moves_to_the_next_type() {
        let w = World::new();
        let owner = w.user();
        *w.okta_users.borrow_mut() = (0..7).map(|n| user(n, "Engineer")).collect();
        let (connection, _) = w.backed_up(owner);
        // The next backup holds users 0, 3 and 6 only; index it by hand, sweeping 2 at a time.
        *w.okta_users.borrow_mut() = [0, 3, 6].map(|n| user(n, "Engineer")).to_vec();
        w.clock.advance(std::time::Duration::from_secs(3600));
        w.db.set_now(w.deps.clock.now());
        let row = block_on(crate::jobs::backup::request(&w.caller(owner), connection)).unwrap();
        // Run the backup but not its indexing.
        loop {
            let next = {
                let mut sent = w.queue.sent.borrow_mut();
                (!sent.is_empty()).then(|| sent.remove(0))
            };
            let Some((message, _)) = next else { break };
            if !matches!(
                serde_json::from_value(message.clone()),
                Ok(Job::ResourceIndex(_))
            ) {
                block_on(jobs::deliver(w.deps, message));
            }
        }
        let sys = w.db.stores(Acting::System, "test");
        let users = ResourceType::Users;
        let ordinal = ResourceType::ALL.iter().position(|t| *t == users).unwrap() as u32;
        let items: Vec<ObservedItem> = (w.db.versions().into_iter())
            .filter(|v| ["00u00000", "00u00003", "00u00006"].contains(&v.resource_id.as_str()))
            .map(|v| ObservedItem {
                id: v.resource_id,
                hash: v.content_hash.unwrap(),
                position: v.position.unwrap(),
            })
            .collect();
        let key = w.db.versions()[0].hash_key.clone();
        let batch = ObserveBatch {
            backup: row.id,
            step: 0,
            resource: users,
            ordinal,
            hash_key: &key,
            items: &items,
            offset: 30,
            position: 3,
        };
        let observed = block_on(sys.index_observe(&batch)).unwrap().unwrap();
        assert_eq!((observed.recorded, observed.unchanged), (0, 3));
        let mut step = observed.step;
        let mut removed = 0;
        for call in 1.. {
            let swept = block_on(sys.index_sweep(row.id, step, users, ordinal, &key, 2))
                .unwrap()
                .unwrap();
            step = swept.step;
            removed += swept.removed;
            let progress = block_on(sys.index_progress(row.id)).unwrap();
            if swept.done {
                assert_eq!(call, 4, "7 heads, 2 a call");
                assert_eq!(
                    (progress.checkpoint.ordinal, progress.checkpoint.phase),
                    (ordinal + 1, IndexPhase::Observe)
                );
                break;
            }
            assert_eq!(progress.checkpoint.phase, IndexPhase::Sweep);
        }
        assert_eq!(removed, 4);
        let gone: Vec<String> = (w.db.versions().into_iter())
            .filter(|v| v.state == VersionState::Removed)
            .map(|v| v.resource_id)
            .collect();
        assert_eq!(gone, ["00u00001", "00u00002", "00u00004", "00u00005"]);
        assert_eq!(w.db.index_seen_count(), 0);
    }
}
