//! Recovery drills as a job (docs/restore.md, "Drills"). A drill restores a connection's latest
//! complete backup into its configured sandbox connection and proves the result: it plans a
//! whole-tenant restore into the sandbox, applies it (no second approver: the target is a
//! sandbox), plans the backup against the sandbox again and reads the remaining differences
//! as the fidelity diff ([`crate::restore::fidelity`]), then writes the report: RTO (start to
//! verified end), RPO (the restored backup's age at the start), fidelity per type, failures.
//!
//! It runs in slices on its own lease and checkpoint ([`super::lease`]), one step per slice:
//! plan, then the restore's own apply slices (run inline, each on the restore's lease, so a
//! drill killed mid-apply resumes the apply from its checkpoint), then the check. The database
//! runs at most one drill of a connection at once. A failed drill, or one slower than the
//! team's RTO objective, alerts the team's admins through the outbox, once per drill.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::lease::{self, Lease, SliceEnd, SlicedJob, Stop};
use super::restore::{self as restore_job, RestoreJob};
use super::{FanOut, Job, Ran};
use crate::authz::matrix::Action;
use crate::email::messages::Notification;
use crate::ids::{ConnectionId, DrillId, RestorePlanId, TeamId, UserId};
use crate::restore::fidelity::{fidelity, Fidelity};
use crate::restore::{PlanOptions, Scope};
use crate::services::audit::{Actor, Event, RequestMeta};
use crate::services::email::notify_team;
use crate::services::restores::{make, save, stored_plan, Choices};
use crate::services::{Caller, Deps, Privileged, ServiceError};
use crate::store::{
    ApplyStatus, Audience, DbError, DrillEnd, DrillRow, DrillStatus, DrillTrigger, Environment,
    JobKey, NewDrill, RestorePlanRow,
};

/// The job kind of drills in `job_checkpoints`.
pub const KIND: &str = "drill";

/// The audit actor of the job's own events.
const JOB: Actor = Actor::System("drill-job");

/// The audit action that marks a connection the drill cron could not schedule.
const SCHEDULE_FAILED: &str = "drill.schedule_failed";

/// A drill to run: the queue message, sent again by each slice that goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrillJob {
    pub drill: DrillId,
    pub team: TeamId,
    pub connection: ConnectionId,
    pub meta: RequestMeta,
}

impl DrillJob {
    fn of(row: &DrillRow, meta: &RequestMeta) -> Self {
        DrillJob {
            drill: row.id,
            team: row.team_id,
            connection: row.connection_id,
            meta: meta.clone(),
        }
    }

    fn event(&self, action: &'static str, details: Value) -> Event {
        Event {
            team: self.team,
            action,
            target_type: "drill",
            target_id: self.drill.to_string(),
            details,
        }
    }
}

/// Where a drill stands (its checkpoint; a fresh checkpoint is `{}`, the first step).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DrillState {
    #[serde(default)]
    pub step: Step,
    /// The restore the drill applies, once planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RestorePlanId>,
}

/// A drill's steps, one or more slices each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Plan the restore into the sandbox.
    #[default]
    Plan,
    /// Apply that plan, slice by slice.
    Apply,
    /// Check the sandbox against the backup.
    Verify,
}

/// Opens a drill of `connection` from its latest complete backup, applying as `by`.
async fn open(
    sys: &Privileged<'_>,
    connection: ConnectionId,
    trigger: DrillTrigger,
    by: UserId,
    audit: &dyn Fn(Event) -> crate::store::AuditRecord,
) -> Result<DrillRow, ServiceError> {
    let stores = sys.stores();
    let settings = stores
        .drill_settings(connection)
        .await?
        .ok_or(ServiceError::Conflict {
            code: "no_drill_settings",
            message: "configure the connection's drill (its sandbox) first",
        })?;
    let backup =
        stores
            .latest_complete_backup(connection)
            .await?
            .ok_or(ServiceError::Conflict {
                code: "no_complete_backup",
                message: "the connection has no complete backup to restore",
            })?;
    let id = DrillId::generate(sys.deps.rng);
    let audit = audit(Event {
        team: settings.team_id,
        action: "drill.start",
        target_type: "drill",
        target_id: id.to_string(),
        details: json!({"connection_id": connection, "trigger": trigger,
                        "sandbox_connection_id": settings.sandbox_connection_id,
                        "source_backup_id": backup.id}),
    });
    let drill = NewDrill {
        id,
        connection_id: connection,
        source_backup_id: backup.id,
        trigger,
        requested_by: Some(by),
    };
    stores
        .open_drill(&drill, &audit)
        .await
        .map_err(|e| match e {
            DbError::Conflict => ServiceError::Conflict {
                code: "drill_running",
                message: "a drill of this connection is running",
            },
            DbError::Constraint => ServiceError::Conflict {
                code: "target_not_sandbox",
                message: "drills restore only into an active connection labelled sandbox",
            },
            other => other.into(),
        })
}

/// `POST /connections/{id}/drills`: runs the connection's drill now.
pub async fn request(
    caller: &Caller<'_>,
    connection: ConnectionId,
) -> Result<DrillRow, ServiceError> {
    let conn = caller
        .stores()
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(conn.team_id, Action::DrillRun).await?;
    let sys = caller.system();
    let row = open(sys, connection, DrillTrigger::Manual, caller.user(), &|e| {
        caller.audit(e)
    })
    .await?;
    let job = DrillJob::of(&row, caller.meta());
    if super::send(caller.deps(), &Job::Drill(job.clone()))
        .await
        .is_err()
    {
        let run = DrillRun { job: &job };
        let error = ServiceError::Unavailable("the drill could not be queued");
        run.fail(sys, &error).await?;
        return Err(error);
    }
    Ok(row)
}

/// The weekly cron: a drill of every connection whose drills are enabled, applied as the
/// member who configured it.
pub async fn fan_out(sys: &Privileged<'_>) -> Result<FanOut, ServiceError> {
    let mut out = FanOut::default();
    for settings in sys.stores().enabled_drill_settings().await? {
        let opened = open(
            sys,
            settings.connection_id,
            DrillTrigger::Scheduled,
            settings.configured_by,
            &|e| sys.audit(e),
        )
        .await;
        match opened {
            Ok(row) => out.jobs.push(Job::Drill(DrillJob::of(&row, sys.meta()))),
            Err(ServiceError::Conflict {
                code: "drill_running",
                ..
            }) => out.skipped += 1,
            Err(e) => {
                out.failed(
                    sys,
                    Some((settings.connection_id, settings.team_id)),
                    SCHEDULE_FAILED,
                    &e.to_string(),
                )
                .await
            }
        }
    }
    Ok(out)
}

/// Runs one slice of a drill.
pub async fn run(deps: &Deps<'_>, job: &DrillJob) -> Ran {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    let end = lease::run_slice(&sys, &DrillRun { job }).await;
    let next = match &end {
        Ok(end) => end.next(deps.config.backup_slice.retry_seconds),
        Err(_) => super::Next::Ack,
    };
    Ran {
        next,
        log: json!({"outcome": end.map_or_else(|e| e.to_string(), |o| format!("{o:?}"))}),
    }
}

struct DrillRun<'j> {
    job: &'j DrillJob,
}

/// What the check found, for the report.
struct Verified {
    plan: RestorePlanId,
    fidelity: Fidelity,
}

impl DrillRun<'_> {
    async fn row(&self, sys: &Privileged<'_>) -> Result<DrillRow, ServiceError> {
        sys.stores()
            .drill(self.job.drill)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Plans the whole-tenant restore into the sandbox and opens its apply. A slice killed
    /// after the plan was recorded on the drill opens that plan rather than making another.
    async fn plan(&self, sys: &Privileged<'_>, row: &DrillRow) -> Result<RestorePlanId, Stop> {
        let stores = sys.stores();
        if let Some(recorded) = row.restore_plan_id {
            let restore = stores
                .restore_plan(recorded)
                .await?
                .ok_or(ServiceError::NotFound)?;
            if restore.apply_status.is_none() {
                self.open_apply(sys, row, &restore).await?;
            }
            return Ok(recorded);
        }
        let sandbox = stores
            .connection(row.sandbox_connection_id)
            .await?
            .filter(|c| c.team_id == row.team_id && c.environment == Environment::Sandbox)
            .ok_or(ServiceError::Conflict {
                code: "target_not_sandbox",
                message: "the drill's target is no longer a sandbox of this team",
            })?;
        let backup = stores
            .backup(row.source_backup_id.ok_or(ServiceError::NotFound)?)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let scope = Scope::Tenant;
        let plan = make(sys, &sandbox, &backup, &scope, PlanOptions::default())
            .await
            .map_err(stop)?;
        let choices = Choices {
            scope: &scope,
            options: PlanOptions::default(),
            requested_by: row.requested_by,
        };
        let saved = save(sys, &sandbox, &backup, &plan, &choices, &|e| sys.audit(e)).await?;
        stores.set_drill_plan(row.id, saved.id).await?;
        if !plan.blockers().is_empty() {
            return Err(Stop::Failed(ServiceError::Conflict {
                code: "plan_blocked",
                message: "the restore into the sandbox is blocked (lockout check or missing credential rights)",
            }));
        }
        self.open_apply(sys, row, &saved).await?;
        Ok(saved.id)
    }

    /// Opens the restore's apply as the drill's member, with no approval: its target is a
    /// sandbox.
    async fn open_apply(
        &self,
        sys: &Privileged<'_>,
        row: &DrillRow,
        restore: &RestorePlanRow,
    ) -> Result<(), Stop> {
        let by = row.requested_by.ok_or(ServiceError::Forbidden)?;
        let audit = sys.audit(Event {
            team: row.team_id,
            action: "restore.apply",
            target_type: "restore_plan",
            target_id: restore.id.to_string(),
            details: json!({"digest": restore.digest,
                            "target_connection_id": restore.target_connection_id,
                            "resumed": false, "approved_by": [], "drill_id": row.id}),
        });
        sys.stores()
            .open_restore_apply(restore.id, by, 0, &audit)
            .await?;
        Ok(())
    }

    /// One slice of the restore's apply; `true` once it ended well.
    async fn apply(
        &self,
        sys: &Privileged<'_>,
        plan: RestorePlanId,
        row: &DrillRow,
    ) -> Result<bool, Stop> {
        let job = RestoreJob {
            plan,
            team: row.team_id,
            connection: row.sandbox_connection_id,
            meta: self.job.meta.clone(),
        };
        match restore_job::step(sys.deps, &job)
            .await
            .map_err(Stop::Transient)?
        {
            SliceEnd::Paused | SliceEnd::Superseded => return Ok(false),
            SliceEnd::RetryLater(e) => {
                return Err(Stop::Transient(ServiceError::Internal(format!(
                    "restore slice: {e}"
                ))))
            }
            SliceEnd::Busy => {
                return Err(Stop::Transient(ServiceError::Internal(
                    "the restore's lease is held".into(),
                )))
            }
            SliceEnd::Finished | SliceEnd::Over | SliceEnd::Failed(_) => {}
        }
        let restore = sys
            .stores()
            .restore_plan(plan)
            .await?
            .ok_or(ServiceError::NotFound)?;
        match restore.apply_status {
            Some(ApplyStatus::Complete | ApplyStatus::CompleteWithFailures) => Ok(true),
            Some(ApplyStatus::Running) => Ok(false),
            _ => Err(Stop::Failed(ServiceError::Conflict {
                code: "restore_failed",
                message: "the restore into the sandbox failed",
            })),
        }
    }

    /// Plans the backup against the sandbox as the restore left it: what remains is the diff.
    async fn verify(
        &self,
        sys: &Privileged<'_>,
        plan: RestorePlanId,
        row: &DrillRow,
    ) -> Result<Fidelity, Stop> {
        let stores = sys.stores();
        let restore = stores
            .restore_plan(plan)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let restored = stored_plan(sys, &restore).await?;
        let sandbox = stores
            .connection(row.sandbox_connection_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let backup = stores
            .backup(restore.source_backup_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let now = make(
            sys,
            &sandbox,
            &backup,
            &Scope::Tenant,
            PlanOptions::default(),
        )
        .await
        .map_err(stop)?;
        Ok(fidelity(&now, &restored))
    }

    /// Records the end and alerts once. `Ok(false)` when another invocation ended it first.
    async fn end(
        &self,
        sys: &Privileged<'_>,
        verified: Option<Verified>,
        error: Option<&ServiceError>,
    ) -> Result<bool, ServiceError> {
        let stores = sys.stores();
        let row = self.row(sys).await?;
        let deps = sys.deps;
        let now = deps.clock.now();
        let rto = u32::try_from((now - row.started_at).num_seconds().max(0)).unwrap_or(u32::MAX);
        let backup = match row.source_backup_id {
            Some(id) => stores.backup(id).await?,
            None => None,
        };
        let rpo = backup.and_then(|b| b.finished_at).map(|at| {
            u32::try_from((row.started_at - at).num_seconds().max(0)).unwrap_or(u32::MAX)
        });
        let restore = match row.restore_plan_id {
            Some(id) => stores.restore_plan(id).await?,
            None => None,
        };
        let restore_failures = restore
            .as_ref()
            .and_then(|r| r.progress.as_ref())
            .and_then(|p| p.get("failed"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let mut failures: Vec<Value> = Vec::new();
        if let Some(e) = error {
            failures.push(json!({"code": code_of(e), "message": public_message(e)}));
        }
        let fidelity_passed = verified.as_ref().is_some_and(|v| v.fidelity.passed());
        if verified.is_some() && !fidelity_passed {
            failures.push(json!({"code": "fidelity", "unexplained": verified.as_ref().map(|v| v.fidelity.unexplained)}));
        }
        // The sandbox compared with the backup is the verdict: a failed write that left a
        // difference is an unexplained one; one that left none (a write Okta refuses and that
        // had nothing to change, such as a deactivated user's credentials) is reported only.
        let passed = error.is_none() && fidelity_passed;
        let over_objective = rto > row.rto_objective_seconds;
        let status = if passed {
            DrillStatus::Passed
        } else {
            DrillStatus::Failed
        };
        let report = json!({
            "started_at": row.started_at,
            "finished_at": now,
            "rto_seconds": rto,
            "rpo_seconds": rpo,
            "rto_objective_seconds": row.rto_objective_seconds,
            "rto_over_objective": over_objective,
            "source_backup_id": row.source_backup_id,
            "restore_plan_id": verified.as_ref().map(|v| v.plan).or(row.restore_plan_id),
            "restore": restore.as_ref().map(|r| json!({"apply_status": r.apply_status, "progress": r.progress, "receipt_sha256": r.receipt_sha256})),
            "restore_failed_operations": restore_failures,
            "fidelity": verified.as_ref().map(|v| &v.fidelity),
            "failures": failures,
        });
        let alert = !passed || over_objective;
        let audit = sys.audit(self.job.event(
            "drill.complete",
            json!({"status": status, "rto_seconds": rto, "rpo_seconds": rpo,
                   "rto_over_objective": over_objective,
                   "unexplained": verified.as_ref().map(|v| v.fidelity.unexplained)}),
        ));
        let end = DrillEnd {
            status,
            rto_seconds: rto,
            rpo_seconds: rpo,
            report: Some(report),
            error: error.map(|e| public_message(e).chars().take(500).collect()),
            alerted: alert,
        };
        if !stores.finish_drill(row.id, &end, &audit).await? {
            return Ok(false);
        }
        if alert {
            let reason_code = if !passed {
                failures
                    .first()
                    .and_then(|f| f["code"].as_str())
                    .unwrap_or("failed")
                    .to_string()
            } else {
                "rto_over_objective".to_string()
            };
            let org_domain = stores
                .connection(row.connection_id)
                .await?
                .map(|c| c.org_domain)
                .unwrap_or_default();
            let notification = Notification::DrillFailed {
                org_domain,
                drill_id: row.id.to_string(),
                reason_code,
            };
            // The report is recorded; the email is a courtesy the outbox cron retries. Its key
            // makes it once per drill and member.
            let key = format!("drill:{}", row.id);
            if notify_team(sys, row.team_id, Audience::Admins, &key, &notification)
                .await
                .is_ok_and(|ids| !ids.is_empty())
            {
                let _ = super::outbox::kick(deps, sys.meta()).await;
            }
        }
        Ok(true)
    }
}

/// Okta or a dependency out of reach is worth another slice; anything else ends the drill.
fn stop(e: ServiceError) -> Stop {
    match e {
        ServiceError::OktaUnavailable | ServiceError::Unavailable(_) => Stop::Transient(e),
        other => Stop::Failed(other),
    }
}

/// A failure's stable code.
fn code_of(e: &ServiceError) -> &'static str {
    match e {
        ServiceError::Conflict { code, .. } => code,
        ServiceError::OktaRejected(_) => "okta_rejected",
        ServiceError::OktaUnavailable => "okta_unavailable",
        ServiceError::Unavailable(_) => "unavailable",
        _ => "internal",
    }
}

/// Words fit for users (internal details stay in the worker log).
fn public_message(e: &ServiceError) -> String {
    match e {
        ServiceError::Internal(_) => "internal error while running the drill".into(),
        other => other.to_string(),
    }
}

#[async_trait(?Send)]
impl SlicedJob for DrillRun<'_> {
    type State = DrillState;
    type Done = Verified;

    fn key(&self) -> JobKey {
        JobKey {
            kind: KIND,
            id: self.job.drill.as_uuid(),
        }
    }

    async fn is_running(&self, sys: &Privileged<'_>) -> Result<bool, ServiceError> {
        let row = sys.stores().drill(self.job.drill).await?;
        Ok(row.is_some_and(|r| r.status == DrillStatus::Running))
    }

    async fn started(&self, _sys: &Privileged<'_>) -> Result<(), ServiceError> {
        // `drill.start` was recorded when the drill was opened.
        Ok(())
    }

    async fn slice(
        &self,
        sys: &Privileged<'_>,
        lease: &Lease<'_, DrillState>,
    ) -> Result<Option<Verified>, Stop> {
        let row = self.row(sys).await?;
        let state = lease.state();
        let next = match (state.step, state.plan) {
            (Step::Plan, _) => DrillState {
                step: Step::Apply,
                plan: Some(self.plan(sys, &row).await?),
            },
            (Step::Apply, Some(plan)) => {
                if !self.apply(sys, plan, &row).await? {
                    return Ok(None);
                }
                DrillState {
                    step: Step::Verify,
                    plan: Some(plan),
                }
            }
            (Step::Verify, Some(plan)) => {
                let fidelity = self.verify(sys, plan, &row).await?;
                return Ok(Some(Verified { plan, fidelity }));
            }
            (_, None) => {
                return Err(Stop::Failed(ServiceError::Internal(
                    "drill checkpoint names no restore".into(),
                )))
            }
        };
        lease.commit(&next).await.map_err(|e| match e {
            lease::LeaseError::Lost => Stop::Superseded,
            lease::LeaseError::Unavailable(e) => Stop::Transient(ServiceError::Internal(e)),
        })?;
        Ok(None)
    }

    async fn finish(&self, sys: &Privileged<'_>, done: Verified) -> Result<bool, ServiceError> {
        self.end(sys, Some(done), None).await
    }

    async fn fail(&self, sys: &Privileged<'_>, error: &ServiceError) -> Result<(), ServiceError> {
        // A restore the drill started and will not carry on is failed too (its checkpoint is
        // kept), so nothing is left running.
        let row = self.row(sys).await?;
        if let Some(plan) = row.restore_plan_id {
            let running = sys
                .stores()
                .restore_plan(plan)
                .await?
                .is_some_and(|r| r.apply_status == Some(ApplyStatus::Running));
            if running {
                let job = RestoreJob {
                    plan,
                    team: row.team_id,
                    connection: row.sandbox_connection_id,
                    meta: self.job.meta.clone(),
                };
                restore_job::abandon(sys, &job, "the drill that applied it stopped").await?;
            }
        }
        self.end(sys, None, Some(error)).await.map(|_| ())
    }
}
