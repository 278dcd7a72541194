//! Backups: a request (or the scheduler) opens a `running` run and queues its job. The job runs
//! as a chain of bounded invocations ("slices") on the lease of [`super::lease`], each
//! checkpointing the collector's progress; the last writes the manifest, and only then is the
//! run complete.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::Duration as ChronoDuration;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::lease::{self, Lease, LeaseError, SliceEnd, SlicedJob, Stop};
use super::{FanOut, Job, Ran};
use crate::authz::matrix::Action;
use crate::billing::plans::Limit;
use crate::crypto::CryptoError;
use crate::ids::{BackupId, ConnectionId, TeamId, UserId};
use crate::okta::client::BucketStats;
use crate::okta::{OktaClient, OktaError, OrgDomain};
use crate::services::audit::{Actor, Event, RequestMeta};
use crate::services::billing;
use crate::services::okta_auth::open_okta_auth;
use crate::services::tenant_keys::{new_backup_key, snapshot_key};
use crate::services::{Caller, Deps, Privileged, ServiceError};
use crate::snapshot::collect::{
    remove_unlisted, Budget, CheckpointError, Checkpoints, CollectError, Collector, SliceOutcome,
};
use crate::snapshot::manifest::{sha256_hex, NOT_RESTORABLE, WORKFLOWS_NOTE};
use crate::snapshot::{Manifest, Progress, SnapshotLayout};
use crate::store::{
    AuthType, BackupResult, BackupRow, BackupStatus, ConnectionSecretRow, DbError, JobKey,
    NewBackup, Trigger,
};

/// The job kind of backups in `job_checkpoints`.
pub const KIND: &str = "backup";

/// A run with no sign of life for this long lost its invocations.
pub const STALE_AFTER_SECONDS: u32 = 30 * 60;

/// The audit actor of the job's own events.
const JOB: Actor = Actor::System("backup-job");

/// The audit action that marks a connection the backup cron could not schedule.
const SCHEDULE_FAILED: &str = "backup.schedule_failed";

/// A backup to execute: the queue message a request or the scheduler sends, again by each
/// slice that pauses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupJob {
    pub backup: BackupId,
    pub team: TeamId,
    pub connection: ConnectionId,
    pub r2_prefix: String,
    pub meta: RequestMeta,
}

impl BackupJob {
    fn of(row: &BackupRow, meta: &RequestMeta) -> Self {
        BackupJob {
            backup: row.id,
            team: row.team_id,
            connection: row.connection_id,
            r2_prefix: row.r2_prefix.clone(),
            meta: meta.clone(),
        }
    }

    fn event(&self, action: &'static str, details: Value) -> Event {
        Event {
            team: self.team,
            action,
            target_type: "backup",
            target_id: self.backup.to_string(),
            details,
        }
    }
}

/// The run a request or the scheduler opens; the layout is rooted at the connection's owner.
/// Each run gets its own snapshot key, sealed under the team's current data key.
async fn new_run(
    sys: &Privileged<'_>,
    team: TeamId,
    connection: ConnectionId,
    owner: UserId,
    requested_by: Option<UserId>,
) -> Result<NewBackup, ServiceError> {
    let deps = sys.deps;
    let id = BackupId::generate(deps.rng);
    let key = new_backup_key(sys, team, id).await?;
    Ok(NewBackup {
        id,
        team_id: team,
        connection_id: connection,
        requested_by,
        trigger: match requested_by {
            Some(_) => Trigger::Manual,
            None => Trigger::Schedule,
        },
        r2_prefix: SnapshotLayout::new(owner, connection, deps.clock.now())
            .prefix()
            .to_string(),
        sealed_key: key.sealed_key,
        key_version: key.key_version,
        snapshot_secret_id: key.snapshot_secret_id,
    })
}

fn opening_error(e: DbError) -> ServiceError {
    match e {
        DbError::Conflict => ServiceError::Conflict {
            code: "backup_in_progress",
            message: "a backup of this connection is already running",
        },
        DbError::Constraint => ServiceError::Conflict {
            code: "connection_not_active",
            message: "the connection is not active",
        },
        other => other.into(),
    }
}

/// `POST /connections/{id}/backups`: authorise, open the run, queue its job. If the job cannot
/// be queued the run is failed at once (it would never start) and the caller told so.
pub async fn request(
    caller: &Caller<'_>,
    connection: ConnectionId,
) -> Result<BackupRow, ServiceError> {
    let deps = caller.deps();
    let conn = caller
        .stores()
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(conn.team_id, Action::BackupRun).await?;
    billing::enforce(
        caller.system(),
        conn.team_id,
        Limit::ManualBackupsPerDay,
        Some(connection),
    )
    .await?;
    let run = new_run(
        caller.system(),
        conn.team_id,
        connection,
        conn.created_by,
        Some(caller.user()),
    )
    .await?;
    let audit = caller.audit(Event {
        team: conn.team_id,
        action: "backup.request",
        target_type: "backup",
        target_id: run.id.to_string(),
        details: json!({"connection_id": connection.to_string()}),
    });
    let row = caller
        .system()
        .stores()
        .open_backup(&run, STALE_AFTER_SECONDS, &audit)
        .await
        .map_err(opening_error)?;
    let job = BackupJob::of(&row, caller.meta());
    if super::send(deps, &Job::Backup(job.clone())).await.is_err() {
        let sys = Privileged::new(deps, JOB, job.meta.clone());
        abandon(&sys, &job, "the backup could not be queued").await?;
        return Err(ServiceError::Unavailable(
            "the backup could not be queued; try again later",
        ));
    }
    Ok(row)
}

/// Fails a run whose job will never run. The database alerts the team's admins in the same
/// transaction (migration 0022); the delivery job is kicked so the alert goes out now rather
/// than at the next outbox cron.
async fn abandon(sys: &Privileged<'_>, job: &BackupJob, reason: &str) -> Result<(), ServiceError> {
    let audit = sys.audit(job.event("backup.error", json!({"reason": reason})));
    match sys.stores().fail_backup(job.backup, reason, &audit).await {
        Ok(()) => {
            // Best effort: the cron delivers the alert if the queue refuses it now.
            let _ = super::outbox::kick(sys.deps, sys.meta()).await;
            Ok(())
        }
        Err(DbError::Conflict) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The backup cron (as the `cron` actor): a run for every active connection not already
/// running, each connection on its own — one that cannot be read or opened is logged, marked on
/// its row with the reason, and the others are scheduled all the same.
pub async fn fan_out(sys: &Privileged<'_>) -> Result<FanOut, ServiceError> {
    let mut out = FanOut::default();
    for row in sys.stores().active_connections().await? {
        let conn = match row {
            Ok(conn) => conn,
            Err(bad) => {
                out.failed(sys, bad.id.zip(bad.team_id), SCHEDULE_FAILED, &bad.error)
                    .await;
                continue;
            }
        };
        match open_scheduled(sys, &conn).await {
            Ok(Some(job)) => out.jobs.push(Job::Backup(job)),
            Ok(None) => out.skipped += 1,
            Err(e) => {
                out.failed(
                    sys,
                    Some((conn.id, conn.team_id)),
                    SCHEDULE_FAILED,
                    &e.to_string(),
                )
                .await
            }
        }
    }
    Ok(out)
}

/// Opens a scheduled run; `None` when one is already running.
async fn open_scheduled(
    sys: &Privileged<'_>,
    conn: &ConnectionSecretRow,
) -> Result<Option<BackupJob>, ServiceError> {
    if conn.auth_type != AuthType::ApiToken {
        return Err(ServiceError::invalid(
            "auth_type",
            "only API token connections can be backed up so far",
        ));
    }
    let run = new_run(sys, conn.team_id, conn.id, conn.created_by, None).await?;
    let audit = sys.audit(Event {
        team: conn.team_id,
        action: "backup.schedule",
        target_type: "backup",
        target_id: run.id.to_string(),
        details: json!({"connection_id": conn.id.to_string()}),
    });
    match sys
        .stores()
        .open_backup(&run, STALE_AFTER_SECONDS, &audit)
        .await
    {
        Ok(row) => Ok(Some(BackupJob::of(&row, sys.meta()))),
        Err(DbError::Conflict) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What one slice did, for the worker log: requests, 429s, retries and waits per Okta bucket.
#[derive(Debug, Default)]
pub struct SliceReport {
    pub okta_buckets: RefCell<BTreeMap<String, BucketStats>>,
    /// Bytes the slice processed (its CPU bound's measure).
    pub work_bytes: Cell<u64>,
}

/// Runs one slice of a backup job.
pub async fn run(deps: &Deps<'_>, job: &BackupJob) -> Ran {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    let report = SliceReport::default();
    let end = lease::run_slice(
        &sys,
        &BackupRun {
            job,
            report: &report,
        },
    )
    .await;
    // A complete backup enters the version index (its own job: indexing re-reads the snapshot).
    let index_error = match &end {
        Ok(SliceEnd::Finished) => {
            let index = super::Job::ResourceIndex(super::resource_index::ResourceIndexJob {
                backup: job.backup,
                team: job.team,
                connection: job.connection,
                meta: job.meta.clone(),
            });
            super::send(deps, &index).await.err().map(|e| e.to_string())
        }
        _ => None,
    };
    let next = match &end {
        Ok(end) => end.next(deps.config.backup_slice.retry_seconds),
        // The outcome could not be recorded: the stale sweep fails the run if nothing resumes it.
        Err(_) => super::Next::Ack,
    };
    Ran {
        next,
        log: json!({
            "outcome": end.map_or_else(|e| e.to_string(), |o| format!("{o:?}")),
            "okta_buckets": *report.okta_buckets.borrow(),
            "work_bytes": report.work_bytes.get(),
            "index_enqueue_error": index_error,
        }),
    }
}

/// One slice of one backup.
struct BackupRun<'j> {
    job: &'j BackupJob,
    report: &'j SliceReport,
}

/// The collector commits through the job's lease.
struct LeaseCheckpoints<'l>(&'l Lease<'l, Progress>);

#[async_trait(?Send)]
impl Checkpoints for LeaseCheckpoints<'_> {
    async fn commit(&self, progress: &Progress) -> Result<(), CheckpointError> {
        self.0.commit(progress).await.map_err(|e| match e {
            LeaseError::Lost => CheckpointError::LeaseLost,
            LeaseError::Unavailable(e) => CheckpointError::Unavailable(e),
        })
    }
}

fn collect_error(e: CollectError) -> Stop {
    match e {
        CollectError::Okta(e @ OktaError::GaveUp { .. }) => Stop::Transient(e.into()),
        CollectError::Okta(e) => Stop::Failed(e.into()),
        CollectError::Checkpoint(CheckpointError::LeaseLost) => Stop::Superseded,
        e @ (CollectError::Store(_)
        | CollectError::Checkpoint(CheckpointError::Unavailable(_))
        | CollectError::Seal(CryptoError::Primitive(_))) => {
            Stop::Transient(ServiceError::Internal(e.to_string()))
        }
        other => Stop::Failed(ServiceError::Internal(other.to_string())),
    }
}

/// Sealed bytes after which a segment is closed even between checkpoints.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

const SEALING: &str =
    "BFS1 segments: gzip, AES-256-GCM 64 KiB chunks, HKDF-SHA256 per segment (format 2)";

#[async_trait(?Send)]
impl SlicedJob for BackupRun<'_> {
    type State = Progress;
    type Done = (Manifest, String);

    fn key(&self) -> JobKey {
        JobKey {
            kind: KIND,
            id: self.job.backup.as_uuid(),
        }
    }

    async fn is_running(&self, sys: &Privileged<'_>) -> Result<bool, ServiceError> {
        let row = sys.stores().backup(self.job.backup).await?;
        Ok(row.is_some_and(|r| r.status == BackupStatus::Running))
    }

    async fn started(&self, sys: &Privileged<'_>) -> Result<(), ServiceError> {
        let details = json!({"connection_id": self.job.connection.to_string()});
        sys.record(self.job.event("backup.start", details)).await
    }

    async fn slice(
        &self,
        sys: &Privileged<'_>,
        lease: &Lease<'_, Progress>,
    ) -> Result<Option<(Manifest, String)>, Stop> {
        let (deps, job) = (sys.deps, self.job);
        let conn = sys
            .stores()
            .connection_secret(job.connection)
            .await?
            .filter(|c| c.team_id == job.team)
            .ok_or_else(|| ServiceError::invalid("connection", "the connection was deleted"))?;
        // The stored domain was validated on the way in; re-parse so the type says so.
        let org = OrgDomain::parse(&conn.org_domain, deps.config.okta_domains).map_err(|_| {
            ServiceError::invalid("connection", "the org domain is no longer allowed")
        })?;
        let auth = open_okta_auth(sys, &conn, &org).await?;
        let okta = OktaClient::new(deps.http, deps.clock, deps.rng, &org, auth);
        // Read from the row each slice: a data-key rotation may have re-sealed it meanwhile.
        let key = snapshot_key(sys, job.team, job.backup, job.connection).await?;
        let layout = SnapshotLayout::from_prefix(&job.r2_prefix);
        let collector = Collector {
            okta: &okta,
            store: deps.store,
            clock: deps.clock,
            seal: deps.seal,
            key: &key,
            rng: deps.rng,
            layout: &layout,
            part_size: crate::ports::MIN_PART_SIZE,
            work: &self.report.work_bytes,
        };
        let limits = deps.config.backup_slice;
        let budget = Budget {
            deadline: deps.clock.now() + ChronoDuration::seconds(limits.seconds.into()),
            max_requests: limits.max_requests,
            checkpoint_every: ChronoDuration::seconds(limits.checkpoint_seconds.into()),
            segment_bytes: SEGMENT_BYTES,
            max_work_bytes: u64::from(limits.work_mib) * 1024 * 1024,
        };
        let tag = &lease.token()[..8];
        let outcome = collector
            .run_slice(lease.state(), &LeaseCheckpoints(lease), &budget, tag)
            .await
            .map_err(collect_error);
        *self.report.okta_buckets.borrow_mut() = okta.stats();
        let SliceOutcome::Finished(objects) = outcome? else {
            return Ok(None);
        };
        // Fix the finish time in the checkpoint first: whichever invocation writes the manifest
        // (this one, or a successor if this one dies now) writes the very same bytes.
        let mut last = lease.state();
        let finished_at = match last.finished_at.clone() {
            Some(at) => at,
            None => {
                let at = deps.clock.now().to_rfc3339();
                last.finished_at = Some(at.clone());
                LeaseCheckpoints(lease)
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
            started_at: lease.started_at().to_rfc3339(),
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

    async fn finish(
        &self,
        sys: &Privileged<'_>,
        (manifest, manifest_sha256): (Manifest, String),
    ) -> Result<bool, ServiceError> {
        let counts: Map<String, Value> = manifest
            .objects
            .iter()
            .map(|o| (o.resource.as_str().to_string(), json!(o.count)))
            .collect();
        let sealed_bytes = manifest.objects.iter().map(|o| o.sealed_bytes).sum();
        let finished_at = chrono::DateTime::parse_from_rfc3339(&manifest.finished_at)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|_| sys.deps.clock.now());
        let audit = sys.audit(self.job.event(
            "backup.complete",
            json!({
                "counts": counts,
                "manifest_sha256": manifest_sha256,
                "plaintext_bytes": manifest.objects.iter().map(|o| o.plaintext_bytes).sum::<u64>(),
                "sealed_bytes": sealed_bytes,
            }),
        ));
        let result = BackupResult {
            finished_at,
            counts: Value::Object(counts),
            object_count: manifest.objects.len() as u32,
            sealed_bytes,
            manifest_sha256,
        };
        match sys
            .stores()
            .complete_backup(self.job.backup, &result, &audit)
            .await
        {
            Ok(()) => Ok(true),
            // A superseded invocation finished the same manifest first.
            Err(DbError::Conflict) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn fail(&self, sys: &Privileged<'_>, error: &ServiceError) -> Result<(), ServiceError> {
        let reason = match error {
            ServiceError::Internal(_) => "internal error while writing the snapshot".into(),
            other => other.to_string(),
        };
        abandon(sys, self.job, &reason).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::{Role, Scope};
    use crate::store::ActorType;
    use crate::testing::world::{OktaMode, World};
    use futures::executor::block_on;

    /// A runtime primitive that failed is worth another try; data that does not open is not.
    #[test]
    fn a_failing_seal_primitive_is_transient_and_bad_data_is_not() {
        let primitive = crate::ports::PrimitiveError("crypto.subtle.encrypt".into());
        assert!(matches!(
            collect_error(CollectError::Seal(CryptoError::Primitive(primitive))),
            Stop::Transient(_)
        ));
        assert!(matches!(
            collect_error(CollectError::Seal(CryptoError::Decrypt)),
            Stop::Failed(_)
        ));
    }

    #[test]
    fn a_backup_needs_backup_run_in_the_team_and_refusals_leave_nothing() {
        let world = World::new();
        let owner = world.user();
        let connection = world.connect(owner);
        let team = world.team_of(owner);
        let viewer = world.member(team, Role::Viewer);
        let stranger = world.user();
        for (caller, refused) in [
            (world.caller(viewer), "forbidden"),
            (world.key_caller(owner, team, &[Scope::Read]), "forbidden"),
            (world.caller(stranger), "not found"),
        ] {
            let err = block_on(request(&caller, connection)).unwrap_err();
            assert_eq!(err.to_string(), refused);
        }
        assert!(world.db.backups().is_empty());
        assert!(world.db.activity.borrow().is_empty());
        assert!(world.queue.sent.borrow().is_empty());
    }

    #[test]
    fn a_backup_runs_to_completion_and_each_step_is_audited_once() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let connection = world.connect(owner);
        let caller = world.key_caller(owner, team, &[Scope::Backup]);
        let row = block_on(request(&caller, connection)).unwrap();
        assert_eq!(row.status, BackupStatus::Running);
        assert_eq!(row.trigger, Trigger::Manual);
        assert_eq!(world.queue.sent.borrow().len(), 1);
        world.drain_queue();
        let done = &world.db.backups()[0];
        assert_eq!(done.status, BackupStatus::Complete, "{done:?}");
        let manifest = SnapshotLayout::from_prefix(&done.r2_prefix).manifest_key();
        let bytes = world.objects.objects.borrow()[&manifest].clone();
        assert_eq!(
            done.manifest_sha256.as_deref(),
            Some(sha256_hex(&bytes).as_str())
        );
        assert_eq!(
            world.db.actions(),
            ["backup.request", "backup.start", "backup.complete"]
        );
        let log = world.db.activity.borrow();
        assert_eq!(log[0].actor_type, ActorType::ApiKey);
        assert_eq!(log[0].actor_id, owner.to_string());
        assert!(log[0].key_id.is_some());
        assert_eq!(log[2].actor_id, "backup-job");
        assert_eq!(
            log[2].request_id, log[0].request_id,
            "the job keeps the request's id"
        );
    }

    #[test]
    fn a_second_backup_while_one_runs_is_a_conflict() {
        let world = World::new();
        let owner = world.user();
        let connection = world.connect(owner);
        block_on(request(&world.caller(owner), connection)).unwrap();
        let again = block_on(request(&world.caller(owner), connection)).unwrap_err();
        assert!(matches!(
            again,
            ServiceError::Conflict {
                code: "backup_in_progress",
                ..
            }
        ));
        assert_eq!(world.db.backups().len(), 1);
        assert_eq!(world.db.actions(), ["backup.request"]);
    }

    #[test]
    fn a_backup_that_fails_mid_way_is_failed_never_complete() {
        let world = World::new();
        let owner = world.user();
        let connection = world.connect(owner);
        block_on(request(&world.caller(owner), connection)).unwrap();
        // The token is revoked after the run was opened.
        world.okta.set(OktaMode::Revoked);
        world.drain_queue();
        let failed = &world.db.backups()[0];
        assert_eq!(failed.status, BackupStatus::Failed);
        assert!(failed.manifest_sha256.is_none());
        assert!(
            failed.error.as_deref().unwrap().contains("Okta"),
            "{failed:?}"
        );
        assert_eq!(
            world.db.actions(),
            ["backup.request", "backup.start", "backup.error"]
        );
    }

    #[test]
    fn transient_failures_keep_the_run_until_they_persist() {
        let world = World::new();
        let owner = world.user();
        let connection = world.connect(owner);
        block_on(request(&world.caller(owner), connection)).unwrap();
        world.okta.set(OktaMode::Down);
        let message = world.queue.sent.borrow_mut().remove(0).0;
        for attempt in 1..=lease::MAX_TRANSIENT_FAILURES {
            let delivery = block_on(super::super::deliver(world.deps, message.clone()));
            assert_eq!(delivery.retry_after, None, "{}", delivery.log);
            let (resent, delay) = world.queue.sent.borrow_mut().remove(0);
            assert_eq!(resent, message);
            assert_eq!(
                delay, world.deps.config.backup_slice.retry_seconds,
                "{attempt}"
            );
            assert_eq!(world.db.backups()[0].status, BackupStatus::Running);
        }
        block_on(super::super::deliver(world.deps, message));
        assert_eq!(world.db.backups()[0].status, BackupStatus::Failed);
        // All that is left to run is the delivery of the owner's alert (migration 0022's
        // trigger enqueued it with the failure).
        let left: Vec<Value> = world
            .queue
            .sent
            .borrow()
            .iter()
            .map(|(m, _)| m["kind"].clone())
            .collect();
        assert_eq!(left, [json!("outbox")]);
        assert_eq!(world.db.outbox().len(), 1);
        assert_eq!(world.db.actions().last(), Some(&"backup.error"));
    }

    #[test]
    fn a_run_whose_job_cannot_be_queued_is_failed_at_once() {
        let world = World::new();
        let owner = world.user();
        let connection = world.connect(owner);
        world.queue.down.set(true);
        let err = block_on(request(&world.caller(owner), connection)).unwrap_err();
        assert!(matches!(err, ServiceError::Unavailable(_)));
        assert_eq!(world.db.backups()[0].status, BackupStatus::Failed);
        assert_eq!(world.db.actions(), ["backup.request", "backup.error"]);
        // Nothing blocks the next request.
        world.queue.down.set(false);
        block_on(request(&world.caller(owner), connection)).unwrap();
    }
}
