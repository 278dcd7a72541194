//! Compliance runs: evaluate the latest complete backup of a connection with the pure engine,
//! store the findings, move remediation states along, and let users act on findings.
//!
//! Runs read only the encrypted snapshot in R2 (no Okta calls). Every write uses the service
//! role after the code has authorised the caller, and carries its audit row.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{json, Value};

use super::audit::{Actor, Event};
use super::downloads::read_snapshot;
use super::error::conflict_as;
use super::{Caller, Privileged, ServiceError};
use crate::authz::matrix::Action;
use crate::compliance::remediation::{self, Remediation, Request, State, TransitionError};
use crate::compliance::{
    catalog, evaluate, CheckDef, EvalContext, Finding, Framework, Outcome, Severity,
};
use crate::ids::{ComplianceRunId, ConnectionId, TeamId};
use crate::store::{
    BackupRow, ComplianceRunRow, FindingRow, NewComplianceRun, RemediationRow, RunResult, TrendRow,
    Trigger,
};

/// A run still `running` after this long lost its invocation.
pub const STALE_AFTER_SECONDS: u32 = 30 * 60;

/// The audit actor of scheduled runs and of the state changes runs make.
pub const ENGINE: Actor = Actor::System("compliance");

/// A stored finding with its check's definition and the current remediation state.
#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    pub check_id: String,
    pub title: &'static str,
    pub cis_control: u8,
    pub cis_safeguard: &'static str,
    pub severity: Severity,
    pub outcome: Outcome,
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
    pub severity: Option<Severity>,
    pub outcome: Option<Outcome>,
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
            && self.severity.is_none_or(|s| s == row.severity)
            && self.outcome.is_none_or(|o| o == row.outcome)
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

/// Outcome counts and failures by severity, for the run row.
fn tally(findings: &[Finding]) -> RunResult {
    let count = |o: Outcome| findings.iter().filter(|f| f.outcome == o).count() as u32;
    let mut by_severity: BTreeMap<Severity, u32> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.outcome == Outcome::Fail) {
        *by_severity.entry(f.severity).or_default() += 1;
    }
    RunResult {
        pass_count: count(Outcome::Pass),
        fail_count: count(Outcome::Fail),
        not_applicable_count: count(Outcome::NotApplicable),
        error_count: count(Outcome::Error),
        failed_by_severity: json!(by_severity),
    }
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

fn run_event(team: TeamId, run: ComplianceRunId, action: &'static str, details: Value) -> Event {
    Event {
        team,
        action,
        target_type: "compliance_run",
        target_id: run.to_string(),
        details,
    }
}

/// `POST /connections/{id}/compliance-runs`: evaluate now (operator and above).
pub async fn request(
    caller: &Caller<'_>,
    connection: ConnectionId,
) -> Result<RunView, ServiceError> {
    let conn = caller
        .stores()
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller
        .authorize(conn.team_id, Action::ComplianceRun)
        .await?;
    let sys = caller.system();
    let backup = sys
        .stores()
        .latest_complete_backup(connection)
        .await?
        .filter(|b| b.team_id == conn.team_id)
        .ok_or(ServiceError::Conflict {
            code: "no_complete_backup",
            message: "the connection has no complete backup to evaluate; run a backup first",
        })?;
    let run = execute(sys, backup, Trigger::Manual).await?;
    let findings = sys.stores().findings_of(run.id).await?;
    let states = sys.stores().remediations_of(connection).await?;
    Ok(RunView {
        findings: views(findings, &states),
        run,
    })
}

/// What a scheduled evaluation did.
#[derive(Debug, PartialEq, Eq)]
pub enum ScheduledOutcome {
    Evaluated,
    /// No complete backup to evaluate; a `skipped` run records why.
    Skipped,
}

/// A scheduled evaluation of one connection: its latest complete backup, or a recorded skip.
pub async fn evaluate_latest(
    sys: &Privileged<'_>,
    team: TeamId,
    connection: ConnectionId,
) -> Result<ScheduledOutcome, ServiceError> {
    match sys.stores().latest_complete_backup(connection).await? {
        Some(backup) if backup.team_id == team => {
            execute(sys, backup, Trigger::Schedule).await?;
            Ok(ScheduledOutcome::Evaluated)
        }
        _ => {
            let reason = "no complete backup of this connection to evaluate";
            let row = NewComplianceRun {
                id: ComplianceRunId::generate(sys.deps.rng),
                team_id: team,
                connection_id: connection,
                backup_id: None,
                trigger: Trigger::Schedule,
                requested_by: None,
            };
            let audit = sys.audit(run_event(
                team,
                row.id,
                "compliance.skip",
                json!({"connection_id": connection.to_string(), "reason": reason}),
            ));
            sys.stores()
                .skip_compliance_run(&row, reason, &audit)
                .await?;
            Ok(ScheduledOutcome::Skipped)
        }
    }
}

/// Opens a run over `backup`, evaluates it and records the outcome with start/complete/error
/// events (named after `sys`'s actor); a failed evaluation marks the run failed, never complete.
async fn execute(
    sys: &Privileged<'_>,
    backup: BackupRow,
    trigger: Trigger,
) -> Result<ComplianceRunRow, ServiceError> {
    let (team, connection) = (backup.team_id, backup.connection_id);
    let row = NewComplianceRun {
        id: ComplianceRunId::generate(sys.deps.rng),
        team_id: team,
        connection_id: connection,
        backup_id: Some(backup.id),
        trigger,
        requested_by: match sys.actor() {
            Actor::User(user) | Actor::ApiKey { user, .. } => Some(*user),
            Actor::System(_) | Actor::Anonymous => None,
        },
    };
    let audit = sys.audit(run_event(
        team,
        row.id,
        "compliance.start",
        json!({"connection_id": connection.to_string(), "backup_id": backup.id.to_string()}),
    ));
    let run = sys
        .stores()
        .open_compliance_run(&row, STALE_AFTER_SECONDS, &audit)
        .await
        .map_err(conflict_as(
            "compliance_run_in_progress",
            "a compliance run of this connection is already running",
        ))?;
    match evaluate_run(sys, &run, &backup).await {
        Ok((result, findings)) => {
            let audit = sys.audit(run_event(
                team,
                run.id,
                "compliance.complete",
                json!(result),
            ));
            sys.stores()
                .finish_compliance_run(run.id, &result, &findings, &audit)
                .await?;
            sys.stores()
                .compliance_run(run.id)
                .await?
                .ok_or_else(|| ServiceError::Internal("compliance run vanished".into()))
        }
        Err(e) => {
            let reason = match &e {
                ServiceError::Internal(_) => "internal error while evaluating the snapshot".into(),
                other => other.to_string(),
            };
            let audit = sys.audit(run_event(
                team,
                run.id,
                "compliance.error",
                json!({"reason": reason}),
            ));
            sys.stores()
                .fail_compliance_run(run.id, &reason, &audit)
                .await?;
            Err(e)
        }
    }
}

/// Reads and evaluates the snapshot and applies the run-driven state changes; returns the tally
/// and the findings for the run row.
async fn evaluate_run(
    sys: &Privileged<'_>,
    run: &ComplianceRunRow,
    backup: &BackupRow,
) -> Result<(RunResult, Vec<FindingRow>), ServiceError> {
    let deps = sys.deps;
    let snapshot = read_snapshot(sys, deps.store, backup)
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
            severity: f.severity,
            outcome: f.outcome,
            message: f.message.chars().take(2000).collect(),
            evidence: serde_json::to_value(&f.evidence).unwrap_or_else(|_| json!([])),
        })
        .collect();
    let states = sys.stores().remediations_of(run.connection_id).await?;
    let by_check: HashMap<&str, &RemediationRow> =
        states.iter().map(|r| (r.check_id.as_str(), r)).collect();
    for f in &findings {
        let current = by_check.get(f.check_id).copied();
        let parsed = current.map(|r| Remediation {
            state: r.state,
            expires_at: r.expires_at,
        });
        let Some(next) = remediation::after_run(parsed.as_ref(), f.outcome, now) else {
            continue;
        };
        let fresh = RemediationRow {
            connection_id: run.connection_id,
            check_id: f.check_id.to_string(),
            team_id: run.team_id,
            state: next,
            justification: None,
            approved_by: None,
            expires_at: None,
            updated_by: None,
            updated_at: now,
            last_run_id: Some(run.id),
        };
        let audit = sys.audit_by(
            ENGINE,
            finding_event(
                run.team_id,
                run.connection_id,
                f.check_id,
                json!({
                    "check_id": f.check_id,
                    "from": current.map(|c| c.state),
                    "to": next,
                    "run_id": run.id.to_string(),
                }),
            ),
        );
        sys.stores()
            .set_remediation(&fresh, current.map(|c| c.state), &audit)
            .await?;
    }
    Ok((tally(&findings), rows))
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
pub async fn transition(
    caller: &Caller<'_>,
    connection: ConnectionId,
    check_id: &str,
    request: Request,
) -> Result<RemediationRow, ServiceError> {
    let conn = caller
        .stores()
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let def = check_def(check_id).ok_or(ServiceError::NotFound)?;
    let team = conn.team_id;
    caller.authorize(team, request.action()).await?;
    let sys = caller.system();
    let current = sys
        .stores()
        .remediation(connection, def.id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let from = current.state;
    let now = caller.deps().clock.now();
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
            Some(caller.user()),
            Some(*expires_at),
        ),
        Request::Acknowledge | Request::Reopen => (None, None, None),
    };
    let to = request.target();
    let updated = RemediationRow {
        state: to,
        justification,
        approved_by,
        expires_at,
        updated_by: Some(caller.user()),
        updated_at: now,
        ..current
    };
    let audit = caller.audit(finding_event(
        team,
        connection,
        def.id,
        json!({
            "check_id": def.id,
            "from": from,
            "to": to,
            "justification": updated.justification,
            "expires_at": updated.expires_at,
        }),
    ));
    sys.stores()
        .set_remediation(&updated, Some(from), &audit)
        .await?;
    Ok(updated)
}

/// The latest complete run of a connection with its findings, filtered; `None` before any run.
pub async fn latest_findings(
    caller: &Caller<'_>,
    connection: ConnectionId,
    filter: &FindingFilter,
) -> Result<Option<RunView>, ServiceError> {
    let stores = caller.stores();
    stores
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let Some(run) = stores.latest_complete_compliance_run(connection).await? else {
        return Ok(None);
    };
    let rows = stores.findings_of(run.id).await?;
    let states = stores.remediations_of(connection).await?;
    let state_of: HashMap<&str, State> = states
        .iter()
        .map(|r| (r.check_id.as_str(), r.state))
        .collect();
    let rows: Vec<FindingRow> = rows
        .into_iter()
        .filter(|row| {
            check_def(&row.check_id).is_some_and(|def| {
                filter.matches(def, row, state_of.get(row.check_id.as_str()).copied())
            })
        })
        .collect();
    Ok(Some(RunView {
        findings: views(rows, &states),
        run,
    }))
}

/// One run (any status) with its findings, as the caller may see it.
pub async fn run_view(caller: &Caller<'_>, id: ComplianceRunId) -> Result<RunView, ServiceError> {
    let stores = caller.stores();
    let run = stores
        .compliance_run(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let rows = stores.findings_of(id).await?;
    let states = stores.remediations_of(run.connection_id).await?;
    Ok(RunView {
        findings: views(rows, &states),
        run,
    })
}

/// Pass rate per connection and day for a team the caller belongs to.
pub async fn trend(caller: &Caller<'_>, team: TeamId) -> Result<Vec<TrendRow>, ServiceError> {
    caller.authorize(team, Action::ComplianceRead).await?;
    Ok(caller.stores().compliance_trend(team).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::Role;
    use crate::compliance::remediation::Request;
    use crate::snapshot::SnapshotLayout;
    use crate::store::{ActorType, RunStatus};
    use crate::testing::world::World;
    use futures::executor::block_on;

    #[test]
    fn a_run_is_audited_as_its_requester_and_its_state_changes_as_the_engine() {
        let world = World::new();
        let owner = world.user();
        let (connection, backup) = world.backed_up(owner);
        let view = block_on(request(&world.caller(owner), connection)).unwrap();
        assert_eq!(view.run.status, RunStatus::Complete);
        assert_eq!(view.run.backup_id, Some(backup.id));
        assert_eq!(view.run.requested_by, Some(owner));
        assert_eq!(view.findings.len(), catalog().len());
        let fails = view
            .findings
            .iter()
            .filter(|f| f.outcome == Outcome::Fail)
            .count();
        assert!(fails > 0, "an empty org fails some checks");
        assert!(view
            .findings
            .iter()
            .filter(|f| f.outcome == Outcome::Fail)
            .all(|f| f.state.as_ref().is_some_and(|s| s.state == State::Open)));
        let log = world.db.activity.borrow();
        let actions: Vec<_> = log.iter().map(|r| r.action).collect();
        assert_eq!(actions.first(), Some(&"compliance.start"));
        assert_eq!(actions.last(), Some(&"compliance.complete"));
        assert_eq!(
            actions
                .iter()
                .filter(|a| **a == "finding.transition")
                .count(),
            fails
        );
        for row in log.iter() {
            let engine = row.action == "finding.transition";
            assert_eq!(row.actor_type == ActorType::System, engine, "{row:?}");
        }
    }

    #[test]
    fn runs_need_compliance_run_a_complete_backup_and_no_run_in_flight() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let connection = world.connect(owner);
        let viewer = world.member(team, Role::Viewer);
        assert!(matches!(
            block_on(request(&world.caller(viewer), connection)),
            Err(ServiceError::Forbidden)
        ));
        assert!(matches!(
            block_on(request(&world.caller(owner), connection)),
            Err(ServiceError::Conflict {
                code: "no_complete_backup",
                ..
            })
        ));
        let world = World::new();
        let owner = world.user();
        let (connection, _) = world.backed_up(owner);
        let sys = world.system("test");
        let running = NewComplianceRun {
            id: ComplianceRunId::generate(world.deps.rng),
            team_id: world.team_of(owner),
            connection_id: connection,
            backup_id: None,
            trigger: Trigger::Schedule,
            requested_by: None,
        };
        let audit = sys.audit(run_event(
            running.team_id,
            running.id,
            "compliance.start",
            json!({}),
        ));
        block_on(
            sys.stores()
                .open_compliance_run(&running, STALE_AFTER_SECONDS, &audit),
        )
        .unwrap();
        assert!(matches!(
            block_on(request(&world.caller(owner), connection)),
            Err(ServiceError::Conflict {
                code: "compliance_run_in_progress",
                ..
            })
        ));
        assert_eq!(world.db.runs().len(), 1);
    }

    #[test]
    fn a_run_that_cannot_read_its_snapshot_is_failed_never_complete() {
        let world = World::new();
        let owner = world.user();
        let (connection, backup) = world.backed_up(owner);
        let manifest = SnapshotLayout::from_prefix(&backup.r2_prefix).manifest_key();
        world.objects.objects.borrow_mut().remove(&manifest);
        let err = block_on(request(&world.caller(owner), connection)).unwrap_err();
        assert!(matches!(err, ServiceError::Internal(_)), "{err:?}");
        let run = &world.db.runs()[0];
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(
            run.error.as_deref(),
            Some("internal error while evaluating the snapshot")
        );
        assert_eq!(world.db.actions(), ["compliance.start", "compliance.error"]);
    }

    #[test]
    fn a_scheduled_evaluation_without_a_backup_records_a_skip() {
        let world = World::new();
        let owner = world.user();
        let connection = world.connect(owner);
        let sys = world.system("compliance");
        let outcome = block_on(evaluate_latest(&sys, world.team_of(owner), connection)).unwrap();
        assert_eq!(outcome, ScheduledOutcome::Skipped);
        assert_eq!(world.db.runs()[0].status, RunStatus::Skipped);
        assert_eq!(world.db.actions(), ["compliance.skip"]);
    }

    #[test]
    fn only_admins_accept_risks_and_every_transition_is_audited() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let (connection, _) = world.backed_up(owner);
        let view = block_on(request(&world.caller(owner), connection)).unwrap();
        let failing = view
            .findings
            .iter()
            .find(|f| f.outcome == Outcome::Fail)
            .unwrap()
            .check_id
            .clone();
        world.db.activity.borrow_mut().clear();
        let operator = world.member(team, Role::Operator);
        let accept = || Request::AcceptRisk {
            justification: "compensating control".into(),
            expires_at: world.deps.clock.now() + chrono::Duration::days(30),
        };
        assert!(matches!(
            block_on(transition(
                &world.caller(operator),
                connection,
                &failing,
                accept()
            )),
            Err(ServiceError::Forbidden)
        ));
        let row = block_on(transition(
            &world.caller(operator),
            connection,
            &failing,
            Request::Acknowledge,
        ))
        .unwrap();
        assert_eq!(row.state, State::Acknowledged);
        let row = block_on(transition(
            &world.caller(owner),
            connection,
            &failing,
            accept(),
        ))
        .unwrap();
        assert_eq!(row.approved_by, Some(owner));
        assert_eq!(
            world.db.actions(),
            ["finding.transition", "finding.transition"]
        );
        assert_eq!(world.db.activity.borrow()[0].actor_id, operator.to_string());
    }
}
