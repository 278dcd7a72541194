//! Backup indexing: after a backup completes, its resources enter the version index
//! (`resource_versions`, docs/drift.md "Resource history"). Each object is streamed once; each
//! item is normalised and hashed ([`VersionHashKey`]) and compared with its resource's latest
//! version (`resource_heads`, read a page of 1,000 at a time); only a resource whose hash
//! differs, that is new, or that disappeared gets a row, written 1,000 to a call. So a
//! connection's first backup writes one row per resource and later ones one per change.
//!
//! The job keeps no checkpoint of its own: `resource_versions_record` skips what this backup
//! already recorded and heads then match, so a run that died part way is simply run again and
//! writes nothing twice.

use std::collections::HashMap;

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
use crate::store::{
    Attribution, BackupStatus, NewVersion, VersionSource, VersionState, MAX_VERSIONS_PER_CALL,
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

/// What one run did, for its log line.
#[derive(Default, Serialize)]
struct Counts {
    items: u64,
    unchanged: u64,
    recorded: u64,
    calls: u64,
}

pub async fn run(deps: &Deps<'_>, job: &ResourceIndexJob) -> Ran {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    let mut counts = Counts::default();
    match index(&sys, job, &mut counts).await {
        Ok(outcome) => Ran {
            next: Next::Ack,
            log: json!({"outcome": outcome, "counts": counts}),
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

/// A resource's latest version, as compared.
struct Head {
    present: bool,
    /// The hash, if it was made with the key in use now.
    hash: Option<String>,
    /// Recorded after this backup started (by a change capture during it, or by a later
    /// backup indexed first): that version is the more recent truth, so this backup records
    /// nothing for the resource.
    newer: bool,
    seen: bool,
}

async fn index(
    sys: &Privileged<'_>,
    job: &ResourceIndexJob,
    counts: &mut Counts,
) -> Result<&'static str, ServiceError> {
    let stores = sys.stores();
    let Some(row) = stores
        .backup(job.backup)
        .await?
        .filter(|r| r.team_id == job.team && r.connection_id == job.connection)
    else {
        return Ok("backup_gone");
    };
    if row.status != BackupStatus::Complete {
        return Ok("backup_not_complete");
    }
    let reader = read_snapshot(sys, sys.deps.store, &row).await?;
    let (key_id, secret) = sys.deps.config.snapshot_secret.active();
    let hasher = VersionHashKey::derive(secret, &job.team.to_string(), &job.connection.to_string());
    let mut batch: Vec<NewVersion> = Vec::new();
    for t in ResourceType::ALL {
        let mut stream = match reader.object_stream(t) {
            Ok(s) => s,
            // Not collected: nothing is known about the type, so nothing is removed either.
            Err(crate::snapshot::ReadError::NotCollected(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut heads = heads_of(sys, job.connection, t, key_id, row.started_at).await?;
        let n = Normaliser::of(t);
        let mut splitter = ArraySplitter::default();
        let mut position: u32 = 0;
        let version = |id: String, state, hash, position| NewVersion {
            team_id: job.team,
            connection_id: job.connection,
            resource_type: t,
            resource_id: id,
            state,
            content_hash: hash,
            hash_key: key_id.to_string(),
            source: VersionSource::Backup {
                backup_id: job.backup,
            },
            position,
            captured_at: row.started_at,
            attribution: Attribution::default(),
        };
        let mut ended = false;
        while !ended {
            match stream
                .next_piece(sys.deps.store)
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?
            {
                Some(piece) => splitter.push(&piece),
                None => {
                    ended = true;
                    splitter.finish()
                }
            }
            .map_err(|e| ServiceError::Internal(format!("{t}: {e}")))?;
            while let Some(bytes) = splitter.pop() {
                let item: Value = serde_json::from_slice(&bytes).map_err(|_| {
                    ServiceError::Internal(format!("{t} item {position} is not JSON"))
                })?;
                let id = n
                    .key(&item, position.into())
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                let at = position;
                position += 1;
                counts.items += 1;
                let hash = hasher.hash(&canonical_bytes(&n.content(item, None)));
                let known = heads.get_mut(id.as_str());
                match known {
                    // A repeated key (Okta's paging while the tenant changed): the first counts.
                    Some(h) if h.seen => continue,
                    Some(h) if h.newer => {
                        h.seen = true;
                        continue;
                    }
                    Some(h) if h.present && h.hash.as_deref() == Some(hash.as_str()) => {
                        h.seen = true;
                        counts.unchanged += 1;
                        continue;
                    }
                    Some(h) => h.seen = true,
                    None => {
                        heads.insert(
                            id.as_str().to_string(),
                            Head {
                                present: true,
                                hash: None,
                                newer: false,
                                seen: true,
                            },
                        );
                    }
                }
                batch.push(version(
                    id.to_string(),
                    VersionState::Present,
                    Some(hash),
                    Some(at),
                ));
                if batch.len() == MAX_VERSIONS_PER_CALL {
                    flush(sys, &mut batch, counts).await?;
                }
            }
        }
        for (id, h) in heads {
            if h.present && !h.seen && !h.newer {
                batch.push(version(id, VersionState::Removed, None, None));
                if batch.len() == MAX_VERSIONS_PER_CALL {
                    flush(sys, &mut batch, counts).await?;
                }
            }
        }
    }
    flush(sys, &mut batch, counts).await?;
    Ok("indexed")
}

/// The type's latest versions, by resource id.
async fn heads_of(
    sys: &Privileged<'_>,
    connection: ConnectionId,
    t: ResourceType,
    key_id: &str,
    started_at: chrono::DateTime<chrono::Utc>,
) -> Result<HashMap<String, Head>, ServiceError> {
    let mut heads = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = sys
            .stores()
            .version_heads(
                connection,
                t,
                after.as_deref(),
                MAX_VERSIONS_PER_CALL as u32,
            )
            .await?;
        let full = page.len() == MAX_VERSIONS_PER_CALL;
        after = page.last().map(|h| h.resource_id.clone());
        for h in page {
            let hash = (h.hash_key == key_id).then_some(h.content_hash).flatten();
            heads.insert(
                h.resource_id,
                Head {
                    present: h.state == VersionState::Present,
                    hash,
                    newer: h.captured_at > started_at,
                    seen: false,
                },
            );
        }
        if !full {
            return Ok(heads);
        }
    }
}

async fn flush(
    sys: &Privileged<'_>,
    batch: &mut Vec<NewVersion>,
    counts: &mut Counts,
) -> Result<(), ServiceError> {
    if batch.is_empty() {
        return Ok(());
    }
    counts.recorded += u64::from(sys.stores().record_versions(batch).await?);
    counts.calls += 1;
    batch.clear();
    Ok(())
}
