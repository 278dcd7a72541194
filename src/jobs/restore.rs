//! Applying a restore plan: `POST /restores/{id}/apply` opens the apply (migration 0026) and
//! queues this job, which runs the plan's operations ([`crate::restore::apply`]) in slices on
//! the lease of [`super::lease`], paced per Okta rate-limit bucket, each slice checkpointing the
//! next operation, the ids Okta gave created objects and every outcome. The last slice seals
//! the receipt into R2 beside the plan, records its SHA-256 in the audit trail
//! (`restore.complete`) and queues it for the team's admins through the outbox.

use async_trait::async_trait;
use chrono::Duration as ChronoDuration;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::lease::{self, Lease, LeaseError, SliceEnd, SlicedJob, Stop};
use super::Ran;
use crate::email::messages::Notification;
use crate::ids::{ConnectionId, RestorePlanId, TeamId};
use crate::okta::OktaError;
use crate::restore::apply::{
    apply_slice, ApplyCheckpoints, ApplyError, ApplyState, Budget, Sliced,
};
use crate::restore::receipt::{self, Approval, Header, Receipt};
use crate::restore::Plan;
use crate::services::audit::{Actor, Event, RequestMeta};
use crate::services::email::notify_team;
use crate::services::restores::{self, okta_of, receipt_key, seal_beside, stored_plan, PlanView};
use crate::services::{Caller, Deps, Privileged, ServiceError};
use crate::snapshot::collect::CheckpointError;
use crate::store::{ApplyEnd, ApplyStatus, Audience, DbError, JobKey, RestorePlanRow};

/// The job kind of restores in `job_checkpoints`.
pub const KIND: &str = "restore";

/// The audit actor of the job's own events.
const JOB: Actor = Actor::System("restore-job");

/// Operations one slice runs at most (each is one to three Okta requests).
const OPERATIONS_PER_SLICE: u32 = 200;

/// A restore to apply: the queue message the apply request sends, again by each slice that
/// pauses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestoreJob {
    pub plan: RestorePlanId,
    pub team: TeamId,
    pub connection: ConnectionId,
    pub meta: RequestMeta,
}

impl RestoreJob {
    pub fn of(row: &RestorePlanRow, meta: &RequestMeta) -> Self {
        RestoreJob {
            plan: row.id,
            team: row.team_id,
            connection: row.target_connection_id,
            meta: meta.clone(),
        }
    }

    fn event(&self, action: &'static str, details: serde_json::Value) -> Event {
        Event {
            team: self.team,
            action,
            target_type: "restore_plan",
            target_id: self.plan.to_string(),
            details,
        }
    }
}

/// `POST /restores/{id}/apply`: the plan passes the service's checks and its apply is opened
/// ([`restores::open_apply`]), then its job is queued; a job that cannot be queued is abandoned
/// at once, so the plan can be applied again.
pub async fn request(caller: &Caller<'_>, id: RestorePlanId) -> Result<PlanView, ServiceError> {
    let opened = restores::open_apply(caller, id).await?;
    let (sys, deps) = (caller.system(), caller.deps());
    let job = RestoreJob::of(&opened, caller.meta());
    if super::send(deps, &super::Job::Restore(job.clone()))
        .await
        .is_err()
    {
        abandon(sys, &job, "the restore could not be queued").await?;
        return Err(ServiceError::Unavailable(
            "the restore could not be queued; apply again later to start it",
        ));
    }
    let plan = serde_json::to_value(stored_plan(sys, &opened).await?)
        .map_err(|e| ServiceError::Internal(format!("plan does not serialise: {e}")))?;
    Ok(PlanView {
        expired: deps.clock.now() >= opened.expires_at,
        row: opened,
        plan,
    })
}

/// Fails an apply whose job will not run on. Its checkpoint is kept: applying again resumes.
pub async fn abandon(
    sys: &Privileged<'_>,
    job: &RestoreJob,
    reason: &str,
) -> Result<(), ServiceError> {
    let audit = sys.audit(job.event("restore.error", json!({"reason": reason})));
    let end = ApplyEnd {
        status: ApplyStatus::Failed,
        receipt_r2_key: None,
        receipt_sha256: None,
        error: Some(reason.chars().take(500).collect()),
    };
    sys.stores()
        .finish_restore_apply(job.plan, &end, &audit)
        .await?;
    Ok(())
}

/// Runs one slice of an apply.
pub async fn run(deps: &Deps<'_>, job: &RestoreJob) -> Ran {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    let end = lease::run_slice(&sys, &RestoreRun { job }).await;
    let next = match &end {
        Ok(end) => end.next(deps.config.backup_slice.retry_seconds),
        Err(_) => super::Next::Ack,
    };
    Ran {
        next,
        log: json!({"outcome": end.map_or_else(|e| e.to_string(), |o| format!("{o:?}"))}),
    }
}

/// Runs one slice of an apply inside another job's invocation: a drill applies its restore
/// inline, slice by slice, each on the restore's own lease and checkpoint.
pub(crate) async fn step(deps: &Deps<'_>, job: &RestoreJob) -> Result<SliceEnd, ServiceError> {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    lease::run_slice(&sys, &RestoreRun { job }).await
}

struct RestoreRun<'j> {
    job: &'j RestoreJob,
}

/// The applier commits through the job's lease, and records Butterfly's writes first.
struct LeaseCheckpoints<'l> {
    lease: &'l Lease<'l, ApplyState>,
    sys: &'l Privileged<'l>,
    job: &'l RestoreJob,
}

#[async_trait(?Send)]
impl ApplyCheckpoints for LeaseCheckpoints<'_> {
    async fn record_writes(&self, transactions: &[String]) -> Result<(), CheckpointError> {
        self.sys
            .stores()
            .record_restore_writes(self.job.connection, self.job.plan, transactions)
            .await
            .map_err(|e| CheckpointError::Unavailable(e.to_string()))
    }

    async fn commit(&self, state: &ApplyState) -> Result<(), CheckpointError> {
        self.lease.commit(state).await.map_err(|e| match e {
            LeaseError::Lost => CheckpointError::LeaseLost,
            LeaseError::Unavailable(e) => CheckpointError::Unavailable(e),
        })
    }
}

fn apply_error(e: ApplyError) -> Stop {
    match e {
        ApplyError::Okta(e @ OktaError::GaveUp { .. }) => Stop::Transient(e.into()),
        ApplyError::Okta(e) => Stop::Failed(e.into()),
        ApplyError::Checkpoint(CheckpointError::LeaseLost) => Stop::Superseded,
        ApplyError::Checkpoint(CheckpointError::Unavailable(e)) => {
            Stop::Transient(ServiceError::Internal(e))
        }
    }
}

#[async_trait(?Send)]
impl SlicedJob for RestoreRun<'_> {
    type State = ApplyState;
    type Done = (Plan, ApplyState);

    fn key(&self) -> JobKey {
        JobKey {
            kind: KIND,
            id: self.job.plan.as_uuid(),
        }
    }

    async fn is_running(&self, sys: &Privileged<'_>) -> Result<bool, ServiceError> {
        let row = sys.stores().restore_plan(self.job.plan).await?;
        Ok(row.is_some_and(|r| r.apply_status == Some(ApplyStatus::Running)))
    }

    async fn started(&self, sys: &Privileged<'_>) -> Result<(), ServiceError> {
        let details = json!({"target_connection_id": self.job.connection});
        sys.record(self.job.event("restore.start", details)).await
    }

    async fn slice(
        &self,
        sys: &Privileged<'_>,
        lease: &Lease<'_, ApplyState>,
    ) -> Result<Option<(Plan, ApplyState)>, Stop> {
        let deps = sys.deps;
        let row = sys
            .stores()
            .restore_plan(self.job.plan)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let plan = stored_plan(sys, &row).await?;
        let (_, okta) = okta_of(sys, self.job.connection, self.job.team).await?;
        let limits = deps.config.backup_slice;
        let budget = Budget {
            deadline: deps.clock.now() + ChronoDuration::seconds(limits.seconds.into()),
            max_operations: OPERATIONS_PER_SLICE,
        };
        let checkpoints = LeaseCheckpoints {
            lease,
            sys,
            job: self.job,
        };
        match apply_slice(
            &okta,
            deps.clock,
            &plan,
            lease.state(),
            &checkpoints,
            &budget,
        )
        .await
        .map_err(apply_error)?
        {
            Sliced::Paused => Ok(None),
            Sliced::Finished(state) => Ok(Some((plan, state))),
        }
    }

    async fn finish(
        &self,
        sys: &Privileged<'_>,
        (plan, state): (Plan, ApplyState),
    ) -> Result<bool, ServiceError> {
        let row = sys
            .stores()
            .restore_plan(self.job.plan)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let conn = sys
            .stores()
            .connection(self.job.connection)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let approvals = sys.stores().restore_approvals(self.job.plan).await?;
        let header = Header {
            restore_id: row.id.to_string(),
            team_id: row.team_id.to_string(),
            target_connection_id: row.target_connection_id.to_string(),
            org_domain: conn.org_domain.clone(),
            source_backup_id: row.source_backup_id.to_string(),
            plan_sha256: row.sha256.clone(),
            requested_by: row.requested_by.map(|u| u.to_string()),
            approved_by: approvals
                .iter()
                .filter(|a| Some(a.approved_by) != row.applied_by)
                .map(|a| Approval {
                    user_id: a.approved_by.to_string(),
                    approved_at: a.approved_at,
                })
                .collect(),
            applied_by: row.applied_by.map(|u| u.to_string()),
            planned_at: row.created_at,
            started_at: row.apply_started_at.unwrap_or(row.created_at),
        };
        let receipt: Receipt = receipt::receipt(&plan, &state, header);
        let bytes = serde_json::to_vec(&receipt)
            .map_err(|e| ServiceError::Internal(format!("receipt does not serialise: {e}")))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let key = receipt_key(&row);
        seal_beside(sys, &row, &key, &bytes).await?;
        let audit = sys.audit(self.job.event(
            "restore.complete",
            json!({
                "status": receipt.status,
                "receipt_sha256": sha256,
                "plan_digest": plan.digest,
                "counts": receipt.counts,
            }),
        ));
        let end = ApplyEnd {
            status: receipt.status,
            receipt_r2_key: Some(key),
            receipt_sha256: Some(sha256),
            error: None,
        };
        match sys
            .stores()
            .finish_restore_apply(self.job.plan, &end, &audit)
            .await
        {
            Ok(true) => {}
            Ok(false) | Err(DbError::Conflict) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let notification = Notification::RestoreReceipt {
            org_domain: conn.org_domain,
            restore_id: row.id.to_string(),
            objects_restored: u64::from(receipt.counts.applied),
            objects_failed: u64::from(receipt.counts.failed + receipt.counts.unsupported),
            finished_at: receipt.finished_at.to_rfc3339(),
        };
        let key = format!("restore:{}", row.id);
        // The receipt is sealed and its hash recorded; the email is a courtesy that the
        // outbox cron retries, so a failure to queue it does not undo the restore's end.
        if notify_team(sys, self.job.team, Audience::Admins, &key, &notification)
            .await
            .is_ok_and(|ids| !ids.is_empty())
        {
            let _ = super::outbox::kick(sys.deps, sys.meta()).await;
        }
        Ok(true)
    }

    async fn fail(&self, sys: &Privileged<'_>, error: &ServiceError) -> Result<(), ServiceError> {
        let reason = match error {
            ServiceError::Internal(_) => "internal error while applying the restore".into(),
            other => other.to_string(),
        };
        abandon(sys, self.job, &reason).await
    }
}
