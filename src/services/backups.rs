//! Backup runs: a request (or the scheduler) opens a `running` row; the job collects the
//! snapshot, writes the manifest last, and only then marks the row complete.

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
use crate::okta::{OktaAuth, OktaClient, OrgDomain};
use crate::snapshot::collect::Collector;
use crate::snapshot::manifest::{sha256_hex, NOT_RESTORABLE, WORKFLOWS_NOTE};
use crate::snapshot::{Manifest, SnapshotLayout};

/// A run still `running` after this long lost its invocation.
pub const STALE_AFTER_MINUTES: i64 = 30;

/// A backup to execute (in the request's `waitUntil`, or as a queue message from the scheduler).
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

/// Runs a job to its end and records the outcome; start/complete/error events go to the audit log.
pub async fn run(deps: &Deps<'_>, job: &BackupJob) -> Result<(), ServiceError> {
    let system = deps.system_repo(&job.meta.request_id);
    let actor = Actor::System("backup-job");
    let event = |action, details| Event {
        team: job.team,
        action,
        target_type: "backup",
        target_id: job.backup.to_string(),
        details,
    };
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
    match collect(deps, &system, job).await {
        Ok((manifest, manifest_sha256)) => {
            let counts: Map<String, Value> = manifest
                .objects
                .iter()
                .map(|o| (o.resource.as_str().to_string(), json!(o.count)))
                .collect();
            let sealed_bytes = manifest.objects.iter().map(|o| o.sealed_bytes).sum();
            system
                .complete_backup(
                    job.backup,
                    deps.clock.now(),
                    &Value::Object(counts.clone()),
                    manifest.objects.len() as u32,
                    sealed_bytes,
                    &manifest_sha256,
                )
                .await?;
            audit::record(
                &system,
                &actor,
                &job.meta,
                event(
                    "backup.complete",
                    json!({"counts": counts, "manifest_sha256": manifest_sha256}),
                ),
            )
            .await
        }
        Err(e) => {
            let reason = public_reason(&e);
            system
                .fail_backup(job.backup, deps.clock.now(), &reason)
                .await?;
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

/// A failure reason fit for users and the audit log: Okta and validation messages are ours;
/// internal details stay in the worker log.
fn public_reason(e: &ServiceError) -> String {
    match e {
        ServiceError::Internal(_) => "internal error while writing the snapshot".into(),
        other => other.to_string(),
    }
}

async fn collect(
    deps: &Deps<'_>,
    system: &Repo<'_>,
    job: &BackupJob,
) -> Result<(Manifest, String), ServiceError> {
    let started_at = deps.clock.now();
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
        key: &key,
        rng: deps.rng,
        layout: &layout,
        part_size: crate::ports::MIN_PART_SIZE,
    };
    let objects = collector.collect().await.map_err(|e| match e {
        crate::snapshot::collect::CollectError::Okta(e) => ServiceError::from(e),
        crate::snapshot::collect::CollectError::Store(e) => ServiceError::Internal(e.to_string()),
    })?;
    let manifest = Manifest {
        format_version: crate::snapshot::manifest::FORMAT_VERSION,
        backup_id: job.backup.to_string(),
        team_id: job.team.to_string(),
        connection_id: job.connection.to_string(),
        org_domain: org.to_string(),
        started_at: started_at.to_rfc3339(),
        finished_at: deps.clock.now().to_rfc3339(),
        sealing: "BFS1: gzip, AES-256-GCM 64 KiB chunks, HKDF-SHA256 per object".into(),
        objects,
        not_restorable: NOT_RESTORABLE.iter().map(|s| s.to_string()).collect(),
        notes: vec![WORKFLOWS_NOTE.into()],
    };
    let bytes = manifest.to_bytes();
    let hash = sha256_hex(&bytes);
    deps.store
        .put(&layout.manifest_key(), bytes)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok((manifest, hash))
}
