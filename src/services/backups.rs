//! Backup runs: a request (or the scheduler) opens a `running` row and queues its job. The job
//! runs as a chain of bounded invocations ("slices"), each holding a lease on the backup and
//! checkpointing as it goes; the last writes the manifest, and only then is the row complete.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use chrono::Duration as ChronoDuration;
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::audit::{self, Actor, Event, RequestMeta};
use super::connections::{open_credential, require_role, resolve_team};
use super::error::conflict_as;
use super::{Deps, ServiceError};
use crate::authz::matrix::Action;
use crate::crypto::stream::SnapshotKey;
use crate::db::records::BackupRow;
use crate::db::{DbError, Repo};
use crate::ids::{BackupId, ConnectionId, TeamId, UserId};
use crate::okta::client::BucketStats;
use crate::okta::{OktaAuth, OktaClient, OktaError, OrgDomain};
use crate::snapshot::collect::{
    remove_unlisted, Budget, CheckpointError, Checkpoints, CollectError, Collector, SliceOutcome,
};
use crate::snapshot::manifest::{sha256_hex, NOT_RESTORABLE, WORKFLOWS_NOTE};
use crate::snapshot::{Manifest, Progress, SnapshotLayout, SnapshotRef};

/// A run with no checkpoint for this long lost its invocations.
pub const STALE_AFTER_MINUTES: i64 = 30;

/// A slice's lease, renewed by every commit. Longer than any gap between commits (a
/// checkpoint interval, plus a full rate-limit window and the retries of one request), so a
/// live slice never loses it; short enough that a killed slice's successor waits minutes.
pub const LEASE_SECONDS: u32 = 300;

/// A backup to execute: the queue message a request or the scheduler sends, again by each
/// slice that pauses.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BackupJob {
    pub backup: BackupId,
    pub team: TeamId,
    pub connection: ConnectionId,
    pub r2_prefix: String,
    pub meta: RequestMeta,
}

/// The `running` row for a new run.
fn new_run(
    deps: &Deps<'_>,
    team: TeamId,
    connection: ConnectionId,
    owner: UserId,
    requested_by: Option<UserId>,
) -> BackupRow {
    let now = deps.clock.now();
    BackupRow {
        id: BackupId::generate(deps.rng),
        team_id: team,
        connection_id: connection,
        requested_by,
        trigger: if requested_by.is_some() {
            "manual"
        } else {
            "schedule"
        }
        .into(),
        status: "running".into(),
        started_at: now,
        finished_at: None,
        r2_prefix: SnapshotLayout::new(owner, connection, now)
            .prefix()
            .to_string(),
        counts: json!({}),
        object_count: None,
        sealed_bytes: None,
        manifest_sha256: None,
        error: None,
        heartbeat_at: None,
        slices: 0,
    }
}

/// `POST /connections/{id}/backups`: authorise, open the run, hand back the job to execute.
pub async fn request(
    deps: &Deps<'_>,
    user_repo: &Repo<'_>,
    system: &Repo<'_>,
    user: UserId,
    meta: &RequestMeta,
    connection: ConnectionId,
) -> Result<(BackupRow, BackupJob), ServiceError> {
    let conn = user_repo
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let (team, role) = resolve_team(user_repo, user, Some(conn.team_id)).await?;
    require_role(&role, Action::BackupRun)?;
    let now = deps.clock.now();
    system
        .fail_stale_backups(
            connection,
            now - ChronoDuration::minutes(STALE_AFTER_MINUTES),
            now,
        )
        .await?;
    let row = user_repo
        .insert_backup(&new_run(
            deps,
            team,
            connection,
            conn.created_by,
            Some(user),
        ))
        .await
        .map_err(conflict_as(
            "backup_in_progress",
            "a backup of this connection is already running",
        ))?;
    audit::record(
        system,
        &Actor::User(user),
        meta,
        Event {
            team,
            action: "backup.request",
            target_type: "backup",
            target_id: row.id.to_string(),
            details: json!({"connection_id": connection.to_string()}),
        },
    )
    .await?;
    let job = BackupJob {
        backup: row.id,
        team,
        connection,
        r2_prefix: row.r2_prefix.clone(),
        meta: meta.clone(),
    };
    Ok((row, job))
}

/// Opens a scheduled run with the service role; `None` when one is already running.
pub async fn schedule(
    deps: &Deps<'_>,
    system: &Repo<'_>,
    meta: &RequestMeta,
    team: TeamId,
    connection: ConnectionId,
    owner: UserId,
) -> Result<Option<BackupJob>, ServiceError> {
    let now = deps.clock.now();
    system
        .fail_stale_backups(
            connection,
            now - ChronoDuration::minutes(STALE_AFTER_MINUTES),
            now,
        )
        .await?;
    let row = match system
        .insert_backup(&new_run(deps, team, connection, owner, None))
        .await
    {
        Ok(row) => row,
        Err(DbError::Conflict) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(BackupJob {
        backup: row.id,
        team,
        connection,
        r2_prefix: row.r2_prefix,
        meta: meta.clone(),
    }))
}

/// What one slice did, for the worker log: requests, 429s, retries and waits per Okta bucket.
#[derive(Debug, Default)]
pub struct SliceReport {
    pub okta_buckets: RefCell<BTreeMap<String, BucketStats>>,
}

/// What one slice of a backup job came to.
#[derive(Debug, PartialEq, Eq)]
pub enum SliceEnd {
    /// The manifest is written and the row complete.
    Completed,
    /// The budget ran out; the checkpoint is committed and the job must be sent again.
    Paused,
    /// Another invocation holds an unexpired lease: try again once it may have lapsed.
    Busy,
    /// Another invocation took the lease over mid-slice: it carries the job on.
    Superseded,
    /// A transient failure (Okta, R2 or the database kept failing): progress is kept and the
    /// job must be sent again after a delay. After [`MAX_TRANSIENT_FAILURES`] in a row the run
    /// fails instead.
    RetryLater(String),
    /// The run had already left `running` (queues deliver at least once).
    NotRunning,
}

/// Fails a run whose job could not be queued, so it does not wait for the stale sweep.
pub async fn abandon(deps: &Deps<'_>, job: &BackupJob, reason: &str) -> Result<(), ServiceError> {
    let system = deps.system_repo(&job.meta.request_id);
    system
        .fail_backup(job.backup, deps.clock.now(), reason)
        .await?;
    audit::record(
        &system,
        &Actor::System("backup-job"),
        &job.meta,
        job_event(job, "backup.error", json!({"reason": reason})),
    )
    .await
}

/// An audit event about a job's backup.
fn job_event(job: &BackupJob, action: &'static str, details: Value) -> Event {
    Event {
        team: job.team,
        action,
        target_type: "backup",
        target_id: job.backup.to_string(),
        details,
    }
}

/// Runs one slice of a job. Start, completion and errors go to the audit log; a failure is
/// recorded on the row, so the job is over then.
pub async fn run_slice(
    deps: &Deps<'_>,
    job: &BackupJob,
    report: &SliceReport,
) -> Result<SliceEnd, ServiceError> {
    let system = deps.system_repo(&job.meta.request_id);
    let token = {
        let mut bytes = [0u8; 16];
        deps.rng.fill(&mut bytes);
        hex::encode(bytes)
    };
    let Some(claim) = system
        .claim_backup(job.backup, &token, LEASE_SECONDS)
        .await?
    else {
        return Ok(match system.backup(job.backup).await? {
            Some(row) if row.status == "running" => SliceEnd::Busy,
            _ => SliceEnd::NotRunning,
        });
    };
    let actor = Actor::System("backup-job");
    let event = |action, details| job_event(job, action, details);
    if claim.seq == 0 {
        audit::record(
            &system,
            &actor,
            &job.meta,
            event(
                "backup.start",
                json!({"connection_id": job.connection.to_string()}),
            ),
        )
        .await?;
    }
    let lease = Lease {
        repo: &system,
        backup: job.backup,
        token,
        seq: Cell::new(claim.seq),
        last: RefCell::new(Progress::default()),
    };
    let outcome = match Progress::from_json(claim.state) {
        Ok(progress) => {
            *lease.last.borrow_mut() = progress.clone();
            slice(deps, job, progress, &lease, claim.started_at, report).await
        }
        Err(e) => Err(Stop::Failed(ServiceError::Internal(e.to_string()))),
    };
    match outcome {
        Ok(None) => {
            lease.release().await?;
            Ok(SliceEnd::Paused)
        }
        Ok(Some((manifest, manifest_sha256))) => {
            let counts: Map<String, Value> = manifest
                .objects
                .iter()
                .map(|o| (o.resource.as_str().to_string(), json!(o.count)))
                .collect();
            let sealed_bytes = manifest.objects.iter().map(|o| o.sealed_bytes).sum();
            let finished_at = chrono::DateTime::parse_from_rfc3339(&manifest.finished_at)
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or_else(|_| deps.clock.now());
            match system
                .complete_backup(
                    job.backup,
                    finished_at,
                    &Value::Object(counts.clone()),
                    manifest.objects.len() as u32,
                    sealed_bytes,
                    &manifest_sha256,
                )
                .await
            {
                Ok(()) => {}
                // A superseded invocation finished the same manifest first.
                Err(DbError::Conflict) => return Ok(SliceEnd::NotRunning),
                Err(e) => return Err(e.into()),
            }
            audit::record(
                &system,
                &actor,
                &job.meta,
                event(
                    "backup.complete",
                    json!({
                        "counts": counts,
                        "manifest_sha256": manifest_sha256,
                        "plaintext_bytes": manifest.objects.iter().map(|o| o.plaintext_bytes).sum::<u64>(),
                        "sealed_bytes": sealed_bytes,
                    }),
                ),
            )
            .await?;
            Ok(SliceEnd::Completed)
        }
        Err(Stop::Superseded) => Ok(SliceEnd::Superseded),
        Err(Stop::Transient(e))
            if lease.last.borrow().transient_failures < MAX_TRANSIENT_FAILURES =>
        {
            // Keep what was done; the platform sends the job again after a delay.
            let mut last = lease.last.borrow().clone();
            last.transient_failures += 1;
            match lease.write(&last, true).await {
                Ok(()) | Err(CheckpointError::LeaseLost) => {}
                Err(_) => return Err(e),
            }
            Ok(SliceEnd::RetryLater(e.to_string()))
        }
        Err(Stop::Transient(e) | Stop::Failed(e)) => {
            let reason = public_reason(&e);
            match system
                .fail_backup(job.backup, deps.clock.now(), &reason)
                .await
            {
                Ok(()) | Err(DbError::Conflict) => {}
                Err(db) => return Err(db.into()),
            }
            audit::record(
                &system,
                &actor,
                &job.meta,
                event("backup.error", json!({"reason": reason})),
            )
            .await?;
            Err(e)
        }
    }
}

/// Where a complete backup's snapshot lies, for reading it back; only a complete backup has one.
pub fn snapshot_of(row: &BackupRow) -> Result<SnapshotRef, ServiceError> {
    if row.status != "complete" {
        return Err(ServiceError::Conflict {
            code: "backup_not_complete",
            message: "only complete backups can be read",
        });
    }
    let manifest_sha256 = row
        .manifest_sha256
        .clone()
        .ok_or_else(|| ServiceError::Internal("complete backup without manifest hash".into()))?;
    Ok(SnapshotRef {
        backup: row.id,
        team: row.team_id,
        connection: row.connection_id,
        layout: SnapshotLayout::from_prefix(&row.r2_prefix),
        manifest_sha256,
    })
}

/// A failure reason fit for users and the audit log: Okta and validation messages are ours;
/// internal details stay in the worker log.
fn public_reason(e: &ServiceError) -> String {
    match e {
        ServiceError::Internal(_) => "internal error while writing the snapshot".into(),
        other => other.to_string(),
    }
}

/// Slices in a row that may end in a transient failure before the run is failed.
pub const MAX_TRANSIENT_FAILURES: u32 = 5;

/// Why a slice ended early.
enum Stop {
    /// Another invocation took the lease: leave everything to it.
    Superseded,
    /// Worth another try later: Okta, R2 or the database kept failing for now.
    Transient(ServiceError),
    Failed(ServiceError),
}

impl<E: Into<ServiceError>> From<E> for Stop {
    fn from(e: E) -> Stop {
        Stop::Failed(e.into())
    }
}

fn collect_error(e: CollectError) -> Stop {
    match e {
        CollectError::Okta(e @ OktaError::GaveUp { .. }) => Stop::Transient(e.into()),
        CollectError::Okta(e) => Stop::Failed(e.into()),
        CollectError::Checkpoint(CheckpointError::LeaseLost) => Stop::Superseded,
        e
        @ (CollectError::Store(_) | CollectError::Checkpoint(CheckpointError::Unavailable(_))) => {
            Stop::Transient(ServiceError::Internal(e.to_string()))
        }
        other => Stop::Failed(ServiceError::Internal(other.to_string())),
    }
}

/// The backup's checkpoint row, written under this invocation's lease.
struct Lease<'r> {
    repo: &'r Repo<'r>,
    backup: BackupId,
    token: String,
    seq: Cell<i64>,
    /// The last progress committed (or claimed).
    last: RefCell<Progress>,
}

impl Lease<'_> {
    async fn write(&self, progress: &Progress, release: bool) -> Result<(), CheckpointError> {
        let state = progress.to_json();
        match self
            .repo
            .commit_checkpoint(
                self.backup,
                &self.token,
                self.seq.get(),
                &state,
                LEASE_SECONDS,
                release,
            )
            .await
        {
            Ok(Some(seq)) => {
                self.seq.set(seq);
                *self.last.borrow_mut() = progress.clone();
                Ok(())
            }
            Ok(None) => Err(CheckpointError::LeaseLost),
            Err(e) => Err(CheckpointError::Unavailable(e.to_string())),
        }
    }

    /// Gives the lease up so the next message can start at once.
    async fn release(&self) -> Result<(), ServiceError> {
        let mut last = self.last.borrow().clone();
        last.transient_failures = 0;
        match self.write(&last, true).await {
            Ok(()) | Err(CheckpointError::LeaseLost) => Ok(()),
            Err(e) => Err(ServiceError::Internal(e.to_string())),
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Checkpoints for Lease<'_> {
    async fn commit(&self, progress: &Progress) -> Result<(), CheckpointError> {
        self.write(progress, false).await
    }
}

/// One slice: `Some(manifest, its hash)` once the snapshot is finished, `None` when paused.
async fn slice(
    deps: &Deps<'_>,
    job: &BackupJob,
    progress: Progress,
    lease: &Lease<'_>,
    started_at: chrono::DateTime<chrono::Utc>,
    report: &SliceReport,
) -> Result<Option<(Manifest, String)>, Stop> {
    let system = lease.repo;
    let conn = system
        .connection_secret(job.connection)
        .await?
        .filter(|c| c.team_id == job.team)
        .ok_or_else(|| ServiceError::invalid("connection", "the connection was deleted"))?;
    let sealed = conn
        .sealed_token
        .as_deref()
        .ok_or_else(|| ServiceError::invalid("connection", "the connection has no credential"))?;
    // The stored domain was validated on the way in; re-parse so the type says so.
    let org = OrgDomain::parse(&conn.org_domain, deps.config.okta_domains)
        .map_err(|_| ServiceError::invalid("connection", "the org domain is no longer allowed"))?;
    let token = open_credential(deps, system, job.team, job.connection, &org, sealed).await?;
    let token = Zeroizing::new(
        String::from_utf8(token.to_vec())
            .map_err(|_| ServiceError::Internal("credential is not UTF-8".into()))?,
    );
    let okta = OktaClient::new(
        deps.http,
        deps.clock,
        deps.rng,
        &org,
        OktaAuth::ApiToken(token),
    );
    let key = SnapshotKey::derive(
        &deps.config.snapshot_secret,
        &job.team.to_string(),
        &job.connection.to_string(),
    );
    let layout = SnapshotLayout::from_prefix(&job.r2_prefix);
    let collector = Collector {
        okta: &okta,
        store: deps.store,
        clock: deps.clock,
        key: &key,
        rng: deps.rng,
        layout: &layout,
        part_size: crate::ports::MIN_PART_SIZE,
    };
    let limits = deps.config.backup_slice;
    let budget = Budget {
        deadline: deps.clock.now() + ChronoDuration::seconds(limits.seconds.into()),
        max_requests: limits.max_requests,
        checkpoint_every: ChronoDuration::seconds(limits.checkpoint_seconds.into()),
        segment_bytes: SEGMENT_BYTES,
    };
    let tag = &lease.token[..8];
    let outcome = collector
        .run_slice(progress, lease, &budget, tag)
        .await
        .map_err(collect_error);
    *report.okta_buckets.borrow_mut() = okta.stats();
    let SliceOutcome::Finished(objects) = outcome? else {
        return Ok(None);
    };
    // Fix the finish time in the checkpoint first: whichever invocation writes the manifest
    // (this one, or a successor if this one dies now) writes the very same bytes.
    let mut last = lease.last.borrow().clone();
    let finished_at = match last.finished_at.clone() {
        Some(at) => at,
        None => {
            let at = deps.clock.now().to_rfc3339();
            last.finished_at = Some(at.clone());
            lease
                .commit(&last)
                .await
                .map_err(|e| collect_error(e.into()))?;
            at
        }
    };
    let manifest = Manifest {
        format_version: crate::snapshot::manifest::FORMAT_VERSION,
        backup_id: job.backup.to_string(),
        team_id: job.team.to_string(),
        connection_id: job.connection.to_string(),
        org_domain: org.to_string(),
        started_at: started_at.to_rfc3339(),
        finished_at,
        sealing: SEALING.into(),
        objects,
        not_restorable: NOT_RESTORABLE.iter().map(|s| s.to_string()).collect(),
        notes: vec![WORKFLOWS_NOTE.into()],
    };
    let bytes = manifest.to_bytes();
    let hash = sha256_hex(&bytes);
    let internal = |e: crate::ports::StoreError| ServiceError::Internal(e.to_string());
    deps.store
        .put(&layout.manifest_key(), bytes)
        .await
        .map_err(internal)?;
    let keep: Vec<&str> = manifest.keys().collect();
    remove_unlisted(deps.store, &layout, &keep)
        .await
        .map_err(internal)?;
    Ok(Some((manifest, hash)))
}

/// Sealed bytes after which a segment is closed even between checkpoints.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

const SEALING: &str =
    "BFS1 segments: gzip, AES-256-GCM 64 KiB chunks, HKDF-SHA256 per segment (format 2)";
