//! The cron trigger: which schedule starts which job.

use serde_json::json;

use super::audit::{self, Actor, Event, RequestMeta};
use super::backups::{self, BackupJob};
use super::{Deps, ServiceError};

/// What one scheduled invocation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScheduledReport {
    pub started: usize,
    pub skipped_running: usize,
    pub failed: usize,
}

/// Opens a run for every active connection, then executes them one by one. A failure of one
/// connection is recorded on its row and does not stop the others.
pub async fn run_backups(
    deps: &Deps<'_>,
    meta: &RequestMeta,
) -> Result<ScheduledReport, ServiceError> {
    let system = deps.system_repo(&meta.request_id);
    let mut report = ScheduledReport::default();
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
            None => report.skipped_running += 1,
        }
    }
    for job in &jobs {
        report.started += 1;
        if backups::run(deps, job).await.is_err() {
            report.failed += 1;
        }
    }
    Ok(report)
}
