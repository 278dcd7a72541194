//! Compliance runs: evaluate the latest complete backup of a connection with the pure engine,
//! store the findings, move remediation states along, and let users act on findings.
//!
//! Runs read only the encrypted snapshot in R2 (no Okta calls). Every write uses the service
//! role after the code has authorised the caller; every state change leaves an audit row.

use std::collections::{BTreeMap, HashMap};

use chrono::Duration as ChronoDuration;
use serde::Serialize;
use serde_json::{json, Value};

use super::audit::{self, Actor, Event, RequestMeta};
use super::backups::snapshot_of;
use super::connections::{require_role, resolve_team};
use super::error::conflict_as;
use super::{Deps, ServiceError};
use crate::authz::matrix::Action;
use crate::compliance::remediation::{self, Remediation, Request, State, TransitionError};
use crate::compliance::{catalog, evaluate, CheckDef, EvalContext, Finding, Framework, Outcome};
use crate::db::compliance::{ComplianceRunRow, FindingRow, RemediationRow};
use crate::db::records::BackupRow;
use crate::db::Repo;
use crate::ids::{ComplianceRunId, ConnectionId, TeamId, UserId};
use crate::snapshot::SnapshotReader;

/// A run still `running` after this long lost its invocation.
pub const STALE_AFTER_MINUTES: i64 = 30;

/// The audit actor of scheduled runs and of the state changes runs make.
const SYSTEM: Actor = Actor::System("compliance");

/// A stored finding with its check's definition and the current remediation state.
#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    pub check_id: String,
    pub title: &'static str,
    pub cis_control: u8,
    pub cis_safeguard: &'static str,
    pub severity: String,
    pub outcome: String,
    pub message: String,
    pub evidence: Value,
    pub mappings: BTreeMap<Framework, &'static [&'static str]>,
    pub remediation_steps: &'static str,
    /// `None` for a check that has never failed on this connection.
    pub state: Option<RemediationRow>,
}

/// A run with its findings.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub run: ComplianceRunRow,
    pub findings: Vec<FindingView>,
}

/// Filters of the findings list; each `None` matches everything.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FindingFilter {
    pub framework: Option<Framework>,
    /// A framework control id (within `framework` if set) or a CIS safeguard.
    pub control: Option<String>,
    pub severity: Option<String>,
    pub outcome: Option<String>,
    pub state: Option<State>,
}

impl FindingFilter {
    fn matches(&self, def: &CheckDef, row: &FindingRow, state: Option<State>) -> bool {
        let framework_ok = self.framework.is_none_or(|f| {
            def.mappings
                .iter()
                .any(|(m, ids)| *m == f && !ids.is_empty())
        });
        let control_ok = self
            .control
            .as_deref()
            .is_none_or(|c| control_matches(def, self.framework, c));
        framework_ok
            && control_ok
            && self.severity.as_deref().is_none_or(|s| s == row.severity)
            && self.outcome.as_deref().is_none_or(|o| o == row.outcome)
            && self.state.is_none_or(|s| Some(s) == state)
    }
}

/// Whether `control` names the check's CIS safeguard or one of its framework controls.
fn control_matches(def: &CheckDef, framework: Option<Framework>, control: &str) -> bool {
    let in_frameworks = def
        .mappings
        .iter()
        .filter(|(f, _)| framework.is_none_or(|want| want == *f))
        .any(|(_, ids)| ids.contains(&control));
    in_frameworks || (framework.is_none() && def.cis_safeguard == control)
}

/// Whether any check knows `control` (so an unknown one is refused rather than matching nothing).
pub fn known_control(framework: Option<Framework>, control: &str) -> bool {
    catalog()
        .iter()
        .any(|def| control_matches(def, framework, control))
}

fn check_def(id: &str) -> Option<&'static CheckDef> {
    catalog().iter().find(|d| d.id == id)
}

fn outcome_str(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::NotApplicable => "not_applicable",
        Outcome::Error => "error",
    }
}

fn severity_str(finding: &Finding) -> String {
    serde_json::to_value(finding.severity)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Outcome counts and failures by severity, for the run row.
fn tally(findings: &[Finding]) -> Value {
    let count = |o: Outcome| findings.iter().filter(|f| f.outcome == o).count();
    let mut by_severity: BTreeMap<String, u32> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.outcome == Outcome::Fail) {
        *by_severity.entry(severity_str(f)).or_default() += 1;
    }
    json!({
        "pass_count": count(Outcome::Pass),
        "fail_count": count(Outcome::Fail),
        "not_applicable_count": count(Outcome::NotApplicable),
        "error_count": count(Outcome::Error),
        "failed_by_severity": by_severity,
    })
}

fn parse_state(row: &RemediationRow) -> Result<Remediation, ServiceError> {
    let state = State::parse(&row.state).ok_or_else(|| {
        ServiceError::Internal(format!("unknown remediation state {}", row.state))
    })?;
    Ok(Remediation {
        state,
        expires_at: row.expires_at,
    })
}

fn views(rows: Vec<FindingRow>, states: &[RemediationRow]) -> Vec<FindingView> {
    let by_check: HashMap<&str, &RemediationRow> =
        states.iter().map(|r| (r.check_id.as_str(), r)).collect();
    rows.into_iter()
        .filter_map(|row| {
            let def = check_def(&row.check_id)?;
            Some(FindingView {
                title: def.title,
                cis_control: def.cis_control,
                cis_safeguard: def.cis_safeguard,
                mappings: def.mappings.iter().copied().collect(),
                remediation_steps: def.remediation,
                state: by_check.get(row.check_id.as_str()).map(|r| (*r).clone()),
                check_id: row.check_id,
                severity: row.severity,
                outcome: row.outcome,
                message: row.message,
                evidence: row.evidence,
            })
        })
        .collect()
}

/// Who started a run.
#[derive(Clone, Copy, Debug)]
enum Trigger {
    Manual(UserId),
    Schedule,
}

impl Trigger {
    fn actor(self) -> Actor {
        match self {
            Trigger::Manual(user) => Actor::User(user),
            Trigger::Schedule => SYSTEM,
        }
    }
}

fn new_run(
    deps: &Deps<'_>,
    team: TeamId,
    connection: ConnectionId,
    trigger: Trigger,
) -> ComplianceRunRow {
    ComplianceRunRow {
        id: ComplianceRunId::generate(deps.rng),
        team_id: team,
        connection_id: connection,
        backup_id: None,
        trigger: match trigger {
            Trigger::Manual(_) => "manual",
            Trigger::Schedule => "schedule",
        }
        .into(),
        requested_by: match trigger {
            Trigger::Manual(user) => Some(user),
            Trigger::Schedule => None,
        },
        status: "running".into(),
        started_at: deps.clock.now(),
        finished_at: None,
        pass_count: 0,
        fail_count: 0,
        not_applicable_count: 0,
        error_count: 0,
        failed_by_severity: json!({}),
        error: None,
    }
}

fn run_event(run: &ComplianceRunRow, action: &'static str, details: Value) -> Event {
    Event {
        team: run.team_id,
        action,
        target_type: "compliance_run",
        target_id: run.id.to_string(),
        details,
    }
}

/// `POST /connections/{id}/compliance-runs`: evaluate now (operator and above).
pub async fn request(
    deps: &Deps<'_>,
    user_repo: &Repo<'_>,
    system: &Repo<'_>,
    user: UserId,
    meta: &RequestMeta,
    connection: ConnectionId,
) -> Result<RunView, ServiceError> {
    let conn = user_repo
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let (team, role) = resolve_team(user_repo, user, Some(conn.team_id)).await?;
    require_role(&role, Action::ComplianceRun)?;
    let backup =
        system
            .latest_complete_backup(connection)
            .await?
            .ok_or(ServiceError::Conflict {
                code: "no_complete_backup",
                message: "the connection has no complete backup to evaluate; run a backup first",
            })?;
    let run = execute(deps, system, meta, team, backup, Trigger::Manual(user)).await?;
    let findings = system.findings_of(run.id).await?;
    let states = system.remediations_of(connection).await?;
    Ok(RunView {
        findings: views(findings, &states),
        run,
    })
}

/// One connection's scheduled evaluation, as a queue message: the daily cron fans out one per
/// active connection, like backups, so each runs in its own bounded invocation.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ComplianceJob {
    pub team: TeamId,
    pub connection: ConnectionId,
    pub meta: RequestMeta,
}

/// What a scheduled evaluation did.
#[derive(Debug, PartialEq, Eq)]
pub enum ScheduledOutcome {
    Evaluated,
    /// No complete backup to evaluate; a `skipped` run records why.
    Skipped,
}

/// The daily cron: one job per active connection.
pub async fn scheduled_jobs(
    deps: &Deps<'_>,
    meta: &RequestMeta,
) -> Result<Vec<ComplianceJob>, ServiceError> {
    let system = deps.system_repo(&meta.request_id);
    Ok(system
        .active_connections()
        .await?
        .into_iter()
        .map(|conn| ComplianceJob {
            team: conn.team_id,
            connection: conn.id,
            meta: meta.clone(),
        })
        .collect())
}

/// Evaluates the connection's latest complete backup, or records a skip when there is none.
pub async fn run_job(
    deps: &Deps<'_>,
    job: &ComplianceJob,
) -> Result<ScheduledOutcome, ServiceError> {
    let system = deps.system_repo(&job.meta.request_id);
    match system.latest_complete_backup(job.connection).await? {
        Some(backup) if backup.team_id == job.team => {
            execute(
                deps,
                &system,
                &job.meta,
                job.team,
                backup,
                Trigger::Schedule,
            )
            .await?;
            Ok(ScheduledOutcome::Evaluated)
        }
        _ => {
            skip(deps, &system, &job.meta, job.team, job.connection).await?;
            Ok(ScheduledOutcome::Skipped)
        }
    }
}

/// Records that a connection could not be evaluated, so the gap is visible.
async fn skip(
    deps: &Deps<'_>,
    system: &Repo<'_>,
    meta: &RequestMeta,
    team: TeamId,
    connection: ConnectionId,
) -> Result<(), ServiceError> {
    let reason = "no complete backup of this connection to evaluate";
    let mut row = new_run(deps, team, connection, Trigger::Schedule);
    row.status = "skipped".into();
    row.finished_at = Some(row.started_at);
    row.error = Some(reason.into());
    let row = system.insert_compliance_run(&row).await?;
    audit::record(
        system,
        &SYSTEM,
        meta,
        run_event(
            &row,
            "compliance.skip",
            json!({"connection_id": connection.to_string(), "reason": reason}),
        ),
    )
    .await
}

/// Opens a run over `backup`, evaluates it and records the outcome with start/complete/error
/// events; a failed evaluation marks the run failed, never complete.
async fn execute(
    deps: &Deps<'_>,
    system: &Repo<'_>,
    meta: &RequestMeta,
    team: TeamId,
    backup: BackupRow,
    trigger: Trigger,
) -> Result<ComplianceRunRow, ServiceError> {
    let connection = backup.connection_id;
    let now = deps.clock.now();
    system
        .fail_stale_compliance_runs(
            connection,
            now - ChronoDuration::minutes(STALE_AFTER_MINUTES),
            now,
        )
        .await?;
    let mut row = new_run(deps, team, connection, trigger);
    row.backup_id = Some(backup.id);
    let run = system
        .insert_compliance_run(&row)
        .await
        .map_err(conflict_as(
            "compliance_run_in_progress",
            "a compliance run of this connection is already running",
        ))?;
    let actor = trigger.actor();
    audit::record(
        system,
        &actor,
        meta,
        run_event(
            &run,
            "compliance.start",
            json!({"connection_id": connection.to_string(), "backup_id": backup.id.to_string()}),
        ),
    )
    .await?;
    match evaluate_and_store(deps, system, meta, &run, backup).await {
        Ok(counts) => {
            let mut patch = counts.clone();
            patch["status"] = json!("complete");
            patch["finished_at"] = json!(deps.clock.now());
            system.finish_compliance_run(run.id, &patch).await?;
            audit::record(
                system,
                &actor,
                meta,
                run_event(&run, "compliance.complete", counts),
            )
            .await?;
            system
                .compliance_run(run.id)
                .await?
                .ok_or_else(|| ServiceError::Internal("compliance run vanished".into()))
        }
        Err(e) => {
            let reason = match &e {
                ServiceError::Internal(_) => "internal error while evaluating the snapshot".into(),
                other => other.to_string(),
            };
            system
                .finish_compliance_run(
                    run.id,
                    &json!({"status": "failed", "finished_at": deps.clock.now(), "error": reason}),
                )
                .await?;
            audit::record(
                system,
                &actor,
                meta,
                run_event(&run, "compliance.error", json!({"reason": reason})),
            )
            .await?;
            Err(e)
        }
    }
}

/// Reads and evaluates the snapshot, stores findings and applies run-driven state changes;
/// returns the counts for the run row.
async fn evaluate_and_store(
    deps: &Deps<'_>,
    system: &Repo<'_>,
    meta: &RequestMeta,
    run: &ComplianceRunRow,
    backup: BackupRow,
) -> Result<Value, ServiceError> {
    let snapshot = SnapshotReader::open(
        deps.store,
        &deps.config.snapshot_secret,
        snapshot_of(&backup)?,
    )
    .await?
    .tenant_snapshot()
    .await?;
    let now = deps.clock.now();
    let findings = evaluate(&snapshot, &EvalContext::at(now));
    let rows: Vec<FindingRow> = findings
        .iter()
        .map(|f| FindingRow {
            run_id: run.id,
            team_id: run.team_id,
            connection_id: run.connection_id,
            check_id: f.check_id.to_string(),
            cis_safeguard: f.cis_safeguard.to_string(),
            severity: severity_str(f),
            outcome: outcome_str(f.outcome).to_string(),
            message: f.message.chars().take(2000).collect(),
            evidence: serde_json::to_value(&f.evidence).unwrap_or_else(|_| json!([])),
        })
        .collect();
    system.insert_findings(&rows).await?;
    let states = system.remediations_of(run.connection_id).await?;
    let by_check: HashMap<&str, &RemediationRow> =
        states.iter().map(|r| (r.check_id.as_str(), r)).collect();
    for f in &findings {
        let current = by_check.get(f.check_id).copied();
        let parsed = current.map(parse_state).transpose()?;
        let Some(next) = remediation::after_run(parsed.as_ref(), f.outcome, now) else {
            continue;
        };
        let fresh = RemediationRow {
            connection_id: run.connection_id,
            check_id: f.check_id.to_string(),
            team_id: run.team_id,
            state: next.as_str().into(),
            justification: None,
            approved_by: None,
            expires_at: None,
            updated_by: None,
            updated_at: now,
            last_run_id: Some(run.id),
        };
        match current {
            None => system.insert_remediation(&fresh).await?,
            Some(cur) => {
                system
                    .update_remediation(
                        run.connection_id,
                        f.check_id,
                        &cur.state,
                        &state_patch(&fresh),
                    )
                    .await?
            }
        }
        audit::record(
            system,
            &SYSTEM,
            meta,
            finding_event(
                run.team_id,
                run.connection_id,
                f.check_id,
                json!({
                    "check_id": f.check_id,
                    "from": current.map(|c| c.state.as_str()),
                    "to": next.as_str(),
                    "run_id": run.id.to_string(),
                }),
            ),
        )
        .await?;
    }
    Ok(tally(&findings))
}

fn state_patch(row: &RemediationRow) -> Value {
    json!({
        "state": row.state,
        "justification": row.justification,
        "approved_by": row.approved_by,
        "expires_at": row.expires_at,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at,
        "last_run_id": row.last_run_id,
    })
}

fn finding_event(team: TeamId, connection: ConnectionId, check_id: &str, details: Value) -> Event {
    Event {
        team,
        action: "finding.transition",
        target_type: "compliance_finding",
        target_id: format!("{connection}/{check_id}"),
        details,
    }
}

/// `POST /connections/{id}/findings/{check}/transitions`: a user moves a finding along the
/// workflow. Acknowledge and reopen need operator or above; accepting a risk needs an admin or
/// owner, who is recorded as its approver.
#[allow(clippy::too_many_arguments)]
pub async fn transition(
    deps: &Deps<'_>,
    user_repo: &Repo<'_>,
    system: &Repo<'_>,
    user: UserId,
    meta: &RequestMeta,
    connection: ConnectionId,
    check_id: &str,
    request: Request,
) -> Result<RemediationRow, ServiceError> {
    let conn = user_repo
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let def = check_def(check_id).ok_or(ServiceError::NotFound)?;
    let (team, role) = resolve_team(user_repo, user, Some(conn.team_id)).await?;
    require_role(&role, request.action())?;
    let current = system
        .remediation(connection, def.id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let from = parse_state(&current)?.state;
    let now = deps.clock.now();
    remediation::check_transition(from, &request, now).map_err(|e| match e {
        TransitionError::NotAllowed { .. } => ServiceError::Conflict {
            code: "invalid_transition",
            message: "the finding's current state does not allow this transition",
        },
        TransitionError::Justification(m) => ServiceError::invalid("justification", m),
        TransitionError::Expiry(m) => ServiceError::invalid("expires_at", m),
    })?;
    let (justification, approved_by, expires_at) = match &request {
        Request::AcceptRisk {
            justification,
            expires_at,
        } => (
            Some(justification.trim().to_string()),
            Some(user),
            Some(*expires_at),
        ),
        Request::Acknowledge | Request::Reopen => (None, None, None),
    };
    let to = request.target();
    let updated = RemediationRow {
        state: to.as_str().into(),
        justification,
        approved_by,
        expires_at,
        updated_by: Some(user),
        updated_at: now,
        ..current
    };
    system
        .update_remediation(connection, def.id, from.as_str(), &state_patch(&updated))
        .await?;
    audit::record(
        system,
        &Actor::User(user),
        meta,
        finding_event(
            team,
            connection,
            def.id,
            json!({
                "check_id": def.id,
                "from": from.as_str(),
                "to": to.as_str(),
                "justification": updated.justification,
                "expires_at": updated.expires_at,
            }),
        ),
    )
    .await?;
    Ok(updated)
}

/// The latest complete run of a connection with its findings, filtered; `None` before any run.
pub async fn latest_findings(
    user_repo: &Repo<'_>,
    connection: ConnectionId,
    filter: &FindingFilter,
) -> Result<Option<RunView>, ServiceError> {
    user_repo
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let Some(run) = user_repo.latest_complete_compliance_run(connection).await? else {
        return Ok(None);
    };
    let rows = user_repo.findings_of(run.id).await?;
    let states = user_repo.remediations_of(connection).await?;
    let state_of: HashMap<&str, Option<State>> = states
        .iter()
        .map(|r| (r.check_id.as_str(), State::parse(&r.state)))
        .collect();
    let rows: Vec<FindingRow> = rows
        .into_iter()
        .filter(|row| {
            check_def(&row.check_id).is_some_and(|def| {
                let state = state_of.get(row.check_id.as_str()).copied().flatten();
                filter.matches(def, row, state)
            })
        })
        .collect();
    Ok(Some(RunView {
        findings: views(rows, &states),
        run,
    }))
}

/// One run (any status) with its findings, as the caller may see it.
pub async fn run_view(user_repo: &Repo<'_>, id: ComplianceRunId) -> Result<RunView, ServiceError> {
    let run = user_repo
        .compliance_run(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let rows = user_repo.findings_of(id).await?;
    let states = user_repo.remediations_of(run.connection_id).await?;
    Ok(RunView {
        findings: views(rows, &states),
        run,
    })
}

/// Pass rate per connection and day for a team the caller belongs to.
pub async fn trend(
    user_repo: &Repo<'_>,
    user: UserId,
    team: TeamId,
) -> Result<Vec<crate::db::compliance::TrendRow>, ServiceError> {
    resolve_team(user_repo, user, Some(team)).await?;
    Ok(user_repo.compliance_trend(team).await?)
}
