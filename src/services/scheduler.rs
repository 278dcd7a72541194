//! The cron trigger: which schedule starts which job.

use serde_json::json;

use super::audit::{self, Actor, Event, RequestMeta};
use super::backups::{self, BackupJob};
use super::{Deps, ServiceError};

/// Opens a run for every active connection not already running and returns the jobs: the
/// caller sends each to the backup queue, so every connection gets its own consumer invocation
/// (and its own time and memory budget) instead of one cron invocation running them all. Also
/// returns how many connections were skipped because a run was already in flight. A run whose
/// message cannot be sent is failed by the stale-run sweep.
pub async fn schedule_backups(
    deps: &Deps<'_>,
    meta: &RequestMeta,
) -> Result<(usize, Vec<BackupJob>), ServiceError> {
    let system = deps.system_repo(&meta.request_id);
    let mut skipped_running = 0;
    let mut jobs: Vec<BackupJob> = Vec::new();
    for conn in system.active_connections().await? {
        match backups::schedule(deps, &system, meta, conn.team_id, conn.id, conn.created_by).await?
        {
            Some(job) => {
                audit::record(
                    &system,
                    &Actor::System("cron"),
                    meta,
                    Event {
                        team: conn.team_id,
                        action: "backup.schedule",
                        target_type: "backup",
                        target_id: job.backup.to_string(),
                        details: json!({"connection_id": conn.id.to_string()}),
                    },
                )
                .await?;
                jobs.push(job);
            }
            None => skipped_running += 1,
        }
    }
    Ok((skipped_running, jobs))
}

/// What a queue consumer did with one message.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    Ran,
    /// The run had already left `running`: queues deliver at least once, and running a
    /// redelivered job again would rewrite a finished snapshot under its recorded hashes.
    AlreadyFinished,
}

/// Runs one queued job to its end; a failure is recorded on the run's row (see
/// [`backups::run`]), so the message is done either way.
pub async fn run_queued(deps: &Deps<'_>, job: &BackupJob) -> Result<Delivery, ServiceError> {
    let system = deps.system_repo(&job.meta.request_id);
    match system.backup(job.backup).await? {
        Some(row) if row.status == "running" => {
            backups::run(deps, job).await?;
            Ok(Delivery::Ran)
        }
        _ => Ok(Delivery::AlreadyFinished),
    }
}
