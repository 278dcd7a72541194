//! The cron trigger: which schedule starts which job.

use serde_json::json;

use super::audit::{self, Actor, Event, RequestMeta};
use super::backups::{self, BackupJob};
use super::{Deps, ServiceError};

/// Opens a run for every active connection not already running and returns the jobs: the
/// caller sends each to the backup queue, so every connection gets its own consumer invocation
/// (and its own time and memory budget) instead of one cron invocation running them all. Also
/// returns how many connections were skipped because a run was already in flight. A run whose
/// message cannot be sent never checkpoints, and the stale-run sweep fails it.
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
