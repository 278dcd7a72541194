//! The daily compliance evaluation as a job: the cron fans out one message per active
//! connection, like backups, so each evaluation runs in its own bounded invocation.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FanOut, Job, Next, Ran};
use crate::ids::{ConnectionId, TeamId};
use crate::services::audit::RequestMeta;
use crate::services::compliance::{evaluate_latest, ENGINE};
use crate::services::{Deps, Privileged, ServiceError};

/// The audit action that marks a connection the compliance cron could not schedule.
const SCHEDULE_FAILED: &str = "compliance.schedule_failed";

/// One connection's scheduled evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComplianceJob {
    pub team: TeamId,
    pub connection: ConnectionId,
    pub meta: RequestMeta,
}

/// The daily cron: one job per active connection (a row that cannot be read is logged and
/// marked, and the others go ahead).
pub async fn fan_out(sys: &Privileged<'_>) -> Result<FanOut, ServiceError> {
    let mut out = FanOut::default();
    for row in sys.stores().active_connections().await? {
        match row {
            Ok(conn) => out.jobs.push(Job::Compliance(ComplianceJob {
                team: conn.team_id,
                connection: conn.id,
                meta: sys.meta().clone(),
            })),
            Err(bad) => {
                out.failed(sys, bad.id.zip(bad.team_id), SCHEDULE_FAILED, &bad.error)
                    .await
            }
        }
    }
    Ok(out)
}

/// Evaluates the connection's latest complete backup, or records a skip when there is none;
/// the outcome is on the run's row, so the message is done either way.
pub async fn run(deps: &Deps<'_>, job: &ComplianceJob) -> Ran {
    let sys = Privileged::new(deps, ENGINE, job.meta.clone());
    let outcome = evaluate_latest(&sys, job.team, job.connection).await;
    Ran {
        next: Next::Ack,
        log: json!({"outcome": outcome.map_or_else(|e| e.to_string(), |o| format!("{o:?}"))}),
    }
}
