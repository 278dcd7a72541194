//! AI guidance use cases: the team's switch, guidance on a compliance finding, on privileged
//! access, on a drift alert and on a restore plan's blast radius, and the records every request
//! leaves (docs/ai.md).
//!
//! The switch is read from the database on every guidance request, before anything is read or
//! built, so turning it off stops all calls at once. The budget ledger is written with a
//! compare-and-set before the prompt is sent (reserving its worst case) and again after (the
//! real spend), so concurrent requests cannot both spend the last of a budget. A model's answer
//! is returned as text and, if the team keeps answers, stored in the record; nothing in it is
//! acted on: this module is handed no Okta client and writes nothing but settings, ledger and
//! records.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::audit::Event;
use super::downloads::read_snapshot;
use super::tenant_keys::snapshot_key;
use super::{restores, Caller, ServiceError};
use crate::ai::budget::{settle, Reservation, Usage};
use crate::ai::guide::{self, Advice, AiSettings, Ask, Pending, Prepared};
use crate::ai::prompts::disclosure::disclosure;
use crate::ai::prompts::{DriftAlert, DriftChange, RestorePlan, Subject};
use crate::authz::matrix::Action;
use crate::compliance::{catalog, Evidence, Finding};
use crate::drift::capture::delta::{delta_items, open_delta, overlay_items, DeltaRef};
use crate::ids::{ConnectionId, DriftAlertId, GuidanceRecordId, RestorePlanId, TeamId};
use crate::snapshot::SnapshotLayout;
use crate::store::{AiSettingsRow, BackupRow, DbError, DriftCaptureRow, GuidanceRecordRow};
use crate::tenant::{ResourceType, TenantSnapshot};

/// How often a ledger write is retried when another request changed the ledger meanwhile.
const LEDGER_ATTEMPTS: usize = 5;

/// `GET /teams/{id}/ai`: the switch, the providers and exactly what each prompt would send.
#[derive(Debug, Serialize)]
pub struct SettingsView {
    pub team_id: TeamId,
    pub enabled: bool,
    pub keep_answers: bool,
    pub updated_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub providers: Vec<Value>,
    pub budget: Value,
    pub disclosure: Value,
}

fn settings_view(caller: &Caller<'_>, team: TeamId, row: Option<AiSettingsRow>) -> SettingsView {
    let config = &caller.deps().config.ai;
    let providers = config
        .providers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "provider": p.id,
                "role": if i == 0 { "primary" } else { "fallback" },
                "model": p.model,
                "endpoint": p.base_url,
            })
        })
        .collect();
    let policy = row
        .as_ref()
        .map_or(config.default_budget, |r| r.policy(&config.default_budget));
    SettingsView {
        team_id: team,
        enabled: row.as_ref().is_some_and(|r| r.enabled),
        keep_answers: row.as_ref().is_some_and(|r| r.keep_answers),
        updated_by: row
            .as_ref()
            .and_then(|r| r.updated_by.map(|u| u.to_string())),
        updated_at: row.as_ref().map(|r| r.updated_at),
        providers,
        budget: json!(policy),
        disclosure: disclosure(),
    }
}

pub async fn settings(caller: &Caller<'_>, team: TeamId) -> Result<SettingsView, ServiceError> {
    caller.authorize(team, Action::AiRead).await?;
    let row = caller.stores().ai_settings(team).await?;
    Ok(settings_view(caller, team, row))
}

/// `PUT /teams/{id}/ai` (owner or admin): turns guidance and "keep answers" on or off; the
/// activity row holds the old and new values.
pub async fn set_settings(
    caller: &Caller<'_>,
    team: TeamId,
    enabled: bool,
    keep_answers: bool,
) -> Result<SettingsView, ServiceError> {
    caller.authorize(team, Action::AiManage).await?;
    let audit = caller.audit(Event {
        team,
        action: "ai.settings",
        target_type: "team",
        target_id: team.to_string(),
        details: json!({}),
    });
    let row = caller
        .system()
        .stores()
        .set_ai_settings(team, enabled, keep_answers, caller.user(), &audit)
        .await?;
    Ok(settings_view(caller, team, Some(row)))
}

/// `DELETE /teams/{id}/ai/answers` (owner or admin): erases every kept answer.
pub async fn delete_answers(caller: &Caller<'_>, team: TeamId) -> Result<u64, ServiceError> {
    caller.authorize(team, Action::AiManage).await?;
    let audit = caller.audit(Event {
        team,
        action: "ai.answers_delete",
        target_type: "team",
        target_id: team.to_string(),
        details: json!({}),
    });
    Ok(caller
        .system()
        .stores()
        .delete_ai_answers(team, &audit)
        .await?)
}

pub async fn records(
    caller: &Caller<'_>,
    team: TeamId,
) -> Result<Vec<GuidanceRecordRow>, ServiceError> {
    caller.authorize(team, Action::AiRead).await?;
    Ok(caller.stores().guidance_records_of(team).await?)
}

pub async fn record(
    caller: &Caller<'_>,
    id: GuidanceRecordId,
) -> Result<GuidanceRecordRow, ServiceError> {
    let row = caller
        .stores()
        .guidance_record(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(row.team_id, Action::AiRead).await?;
    Ok(row)
}

/// What a guidance request produced.
#[derive(Debug)]
pub struct GuidanceView {
    pub advice: Option<Advice>,
    pub record: GuidanceRecordRow,
    /// When a request refused by the team's budget may be retried.
    pub retry_at: Option<DateTime<Utc>>,
}

/// `POST /connections/{id}/findings/{check_id}/guidance`: why a finding of the latest complete
/// compliance run matters in this tenant and how to fix it.
pub async fn finding_guidance(
    caller: &Caller<'_>,
    connection: ConnectionId,
    check_id: &str,
) -> Result<GuidanceView, ServiceError> {
    let (team, settings) = admitted_caller(caller, connection).await?;
    let sys = caller.system().stores();
    let def = catalog()
        .iter()
        .find(|d| d.id == check_id)
        .ok_or(ServiceError::NotFound)?;
    let run = sys
        .latest_complete_compliance_run(connection)
        .await?
        .filter(|r| r.team_id == team)
        .ok_or(ServiceError::Conflict {
            code: "no_compliance_run",
            message: "the connection has no complete compliance run; run one first",
        })?;
    let row = sys
        .findings_of(run.id)
        .await?
        .into_iter()
        .find(|f| f.check_id == def.id)
        .ok_or(ServiceError::NotFound)?;
    let backup = match run.backup_id {
        Some(id) => sys.backup(id).await?,
        None => None,
    }
    .filter(|b| b.team_id == team)
    .ok_or_else(|| ServiceError::Internal("compliance run without its backup".into()))?;
    let finding = Finding {
        check_id: def.id,
        title: def.title,
        cis_control: def.cis_control,
        cis_safeguard: def.cis_safeguard,
        severity: row.severity,
        outcome: row.outcome,
        message: row.message,
        evidence: serde_json::from_value::<Vec<Evidence>>(row.evidence)
            .map_err(|e| ServiceError::Internal(format!("stored evidence: {e}")))?,
        mappings: def.mappings.iter().copied().collect(),
    };
    let tenant = read_tenant(caller, &backup).await?;
    let ask = Ask {
        team,
        connection: Some(connection),
        requested_by: Some(caller.user()),
        target: def.id.to_string(),
        subject: Subject::Finding(&finding),
    };
    run_guidance(caller, settings, ask, &tenant).await
}

/// `POST /connections/{id}/privileged-access/guidance`: who can reach admin roles, and which
/// apps lack an MFA policy, over the latest complete backup.
pub async fn privileged_access_guidance(
    caller: &Caller<'_>,
    connection: ConnectionId,
) -> Result<GuidanceView, ServiceError> {
    let (team, settings) = admitted_caller(caller, connection).await?;
    let backup = caller
        .system()
        .stores()
        .latest_complete_backup(connection)
        .await?
        .filter(|b| b.team_id == team)
        .ok_or(ServiceError::Conflict {
            code: "no_complete_backup",
            message: "the connection has no complete backup to analyse; run a backup first",
        })?;
    let tenant = read_tenant(caller, &backup).await?;
    let ask = Ask {
        team,
        connection: Some(connection),
        requested_by: Some(caller.user()),
        target: backup.id.to_string(),
        subject: Subject::PrivilegedAccess,
    };
    run_guidance(caller, settings, ask, &tenant).await
}

/// `POST /connections/{id}/drift/alerts/{alert_id}/guidance`: what a drift alert's change does
/// to security and sign-in. The change is read from the capture that last added to the alert
/// (its summary keeps each change field by field, secrets withheld), over the tenant as of that
/// capture: its base backup with the captures up to it overlaid.
pub async fn drift_alert_guidance(
    caller: &Caller<'_>,
    connection: ConnectionId,
    alert: DriftAlertId,
) -> Result<GuidanceView, ServiceError> {
    let (team, settings) = admitted_caller(caller, connection).await?;
    let row = caller
        .stores()
        .drift_alert(alert)
        .await?
        .filter(|a| a.connection_id == connection && a.team_id == team)
        .ok_or(ServiceError::NotFound)?;
    const GONE: ServiceError = ServiceError::Conflict {
        code: "drift_capture_gone",
        message:
            "the alert's capture went with its base backup; there is no change left to explain",
    };
    let capture_id = row.last_capture_id.or(row.capture_id).ok_or(GONE)?;
    let capture = caller
        .stores()
        .drift_capture(capture_id)
        .await?
        .filter(|c| c.team_id == team)
        .ok_or(GONE)?;
    let resource = ResourceType::parse(&row.resource_type)
        .ok_or_else(|| ServiceError::Internal("drift alert of an unknown type".into()))?;
    let paths: Vec<String> = serde_json::from_value(row.fields.clone()).unwrap_or_default();
    let change = DriftChange::of_alert(
        &capture.summary,
        resource,
        &row.resource_id,
        &row.kind,
        &paths,
    );
    let tenant = tenant_at_capture(caller, &capture).await?.ok_or(GONE)?;
    let subject = DriftAlert {
        changes: vec![change],
    };
    let ask = Ask {
        team,
        connection: Some(connection),
        requested_by: Some(caller.user()),
        target: alert.to_string(),
        subject: Subject::Drift(&subject),
    };
    run_guidance(caller, settings, ask, &tenant).await
}

/// The tenant as of `capture`: its base backup read whole, with every capture of that base up
/// to and including this one overlaid in order (each delta verified against its row's hash).
/// `None` once the base backup is gone.
async fn tenant_at_capture(
    caller: &Caller<'_>,
    capture: &DriftCaptureRow,
) -> Result<Option<TenantSnapshot>, ServiceError> {
    let (sys, deps) = (caller.system(), caller.deps());
    let Some(base) = sys
        .stores()
        .backup(capture.backup_id)
        .await?
        .filter(|b| b.team_id == capture.team_id)
    else {
        return Ok(None);
    };
    let mut tenant = read_tenant(caller, &base).await?;
    let key = snapshot_key(sys, base.team_id, base.id, base.connection_id).await?;
    let layout = SnapshotLayout::from_prefix(&base.r2_prefix);
    let owner = (
        base.id.to_string(),
        base.team_id.to_string(),
        base.connection_id.to_string(),
    );
    let unreadable = |e: crate::drift::capture::delta::DeltaError| {
        ServiceError::Internal(format!("capture of backup {}: {e}", base.id))
    };
    for row in sys.stores().drift_captures_of(base.id).await? {
        if row.seq > capture.seq {
            break;
        }
        let delta = DeltaRef {
            seq: row.seq,
            manifest_sha256: row.manifest_sha256,
        };
        let manifest = open_delta(deps.store, &layout, (&owner.0, &owner.1, &owner.2), &delta)
            .await
            .map_err(unreadable)?;
        for object in &manifest.objects {
            let items = delta_items(deps.store, deps.seal, &key, &manifest, object.resource)
                .await
                .map_err(unreadable)?;
            // A type the base did not collect stays "not collected", as in `state_at`.
            if let Some(held) = tenant.resources.get_mut(&object.resource) {
                overlay_items(held, object.resource, items);
            }
        }
    }
    Ok(Some(tenant))
}

/// `POST /restores/{id}/guidance`: the blast radius of a stored restore plan. The plan is
/// opened exactly as `GET /restores/{id}` opens it; what each operation touches is computed
/// over the target connection's latest complete backup (the tenant as Butterfly last saw it,
/// which updates and deletes act on), or the plan's source backup while the target has none.
pub async fn restore_guidance(
    caller: &Caller<'_>,
    id: RestorePlanId,
) -> Result<GuidanceView, ServiceError> {
    let row = restores::stored(caller, id).await?;
    let (team, settings) = admitted_caller(caller, row.target_connection_id).await?;
    if team != row.team_id {
        return Err(ServiceError::NotFound);
    }
    let plan = restores::stored_plan(caller.system(), &row).await?;
    let sys = caller.system().stores();
    let backup = match sys.latest_complete_backup(row.target_connection_id).await? {
        Some(b) => Some(b),
        None => sys.backup(row.source_backup_id).await?,
    }
    .filter(|b| b.team_id == team)
    .ok_or(ServiceError::NotFound)?;
    let tenant = read_tenant(caller, &backup).await?;
    let subject = RestorePlan::from(&plan);
    let ask = Ask {
        team,
        connection: Some(row.target_connection_id),
        requested_by: Some(caller.user()),
        target: id.to_string(),
        subject: Subject::Restore(&subject),
    };
    run_guidance(caller, settings, ask, &tenant).await
}

/// The connection's team, once the caller may request guidance there and the team has it on.
/// Checked before any snapshot is read or prompt built.
async fn admitted_caller(
    caller: &Caller<'_>,
    connection: ConnectionId,
) -> Result<(TeamId, AiSettingsRow), ServiceError> {
    let conn = caller
        .stores()
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(conn.team_id, Action::AiRequest).await?;
    let settings = caller
        .system()
        .stores()
        .ai_settings(conn.team_id)
        .await?
        .filter(|s| s.enabled)
        .ok_or(ServiceError::Conflict {
            code: "ai_disabled",
            message: "AI guidance is turned off for this team; an owner or admin can turn it on",
        })?;
    Ok((conn.team_id, settings))
}

async fn read_tenant(
    caller: &Caller<'_>,
    backup: &BackupRow,
) -> Result<TenantSnapshot, ServiceError> {
    let deps = caller.deps();
    Ok(read_snapshot(caller.system(), deps.store, backup)
        .await?
        .tenant_snapshot()
        .await?)
}

/// Builds, admits, sends and records one request.
async fn run_guidance(
    caller: &Caller<'_>,
    settings: AiSettingsRow,
    ask: Ask<'_>,
    tenant: &TenantSnapshot,
) -> Result<GuidanceView, ServiceError> {
    let deps = caller.deps();
    let team = ask.team;
    let guide_deps = guide::Deps {
        http: deps.http,
        clock: deps.clock,
        config: &deps.config.ai,
        breakers: deps.ai_breakers,
    };
    let choice = AiSettings {
        enabled: settings.enabled,
        keep_answers: settings.keep_answers,
    };
    let policy = settings.policy(&deps.config.ai.default_budget);
    let prepared =
        guide::prepare(&guide_deps, choice, ask, tenant).map_err(|_| ServiceError::Conflict {
            code: "ai_disabled",
            message: "AI guidance is turned off for this team",
        })?;
    let mut retry_at = None;
    let guidance = match prepared {
        Prepared::Done(g) => g,
        Prepared::Ready(pending) => match reserve(caller, team, &policy, pending).await? {
            Err((done, e)) => {
                retry_at = Some(e.retry_at());
                *done
            }
            Ok((pending, reservation)) => {
                let (guidance, spent) = pending.send(&guide_deps, &guide::safety_id(team)).await;
                // The answer and its record matter more than the ledger: a reservation that
                // cannot be settled stays counted until the month rolls over.
                release(caller, team, reservation, spent).await;
                guidance
            }
        },
    };
    let row = GuidanceRecordRow::new(GuidanceRecordId::generate(deps.rng), guidance.record);
    let audit = caller.audit(Event {
        team,
        action: "ai.guidance",
        target_type: "guidance_record",
        target_id: row.id.to_string(),
        details: json!({
            "prompt": row.prompt,
            "target": row.target,
            "outcome": row.outcome,
            "provider": row.provider,
            "model": row.model,
            "payload_sha256": row.payload_sha256,
            "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens,
        }),
    });
    caller
        .system()
        .stores()
        .insert_guidance_record(&row, &audit)
        .await?;
    Ok(GuidanceView {
        advice: guidance.advice,
        record: row,
        retry_at,
    })
}

type Admitted =
    Result<(Pending, Reservation), (Box<guide::Guidance>, crate::ai::budget::BudgetError)>;

/// Admits `pending` against the stored ledger and stores the reservation, retrying when
/// another request changed the ledger in between.
async fn reserve(
    caller: &Caller<'_>,
    team: TeamId,
    policy: &crate::ai::budget::BudgetPolicy,
    mut pending: Pending,
) -> Result<Admitted, ServiceError> {
    let stores = caller.system().stores();
    for _ in 0..LEDGER_ATTEMPTS {
        let stored = stores.ai_usage(team).await?;
        let expected = stored.as_ref().map(|u| u.version);
        let mut usage = stored.unwrap_or_default();
        match pending.admit(policy, &mut usage, caller.deps().clock.now()) {
            Err(refused) => return Ok(Err(refused)),
            Ok((p, reservation)) => match stores.put_ai_usage(team, expected, &usage).await {
                Ok(()) => return Ok(Ok((p, reservation))),
                Err(DbError::Conflict) => pending = p,
                Err(e) => return Err(e.into()),
            },
        }
    }
    Err(ServiceError::Unavailable(
        "the team's AI budget is busy; retry in a moment",
    ))
}

/// Replaces the reservation by what the providers billed (best effort, see the caller).
async fn release(caller: &Caller<'_>, team: TeamId, reservation: Reservation, spent: u64) {
    let stores = caller.system().stores();
    for _ in 0..LEDGER_ATTEMPTS {
        let Ok(stored) = stores.ai_usage(team).await else {
            return;
        };
        let expected = stored.as_ref().map(|u| u.version);
        let mut usage: Usage = stored.unwrap_or_default();
        settle(&mut usage, caller.deps().clock.now(), reservation, spent);
        match stores.put_ai_usage(team, expected, &usage).await {
            Err(DbError::Conflict) => continue,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::record::RecordOutcome;
    use crate::authz::matrix::Role;
    use crate::services::compliance;
    use crate::testing::world::{World, AI_PROVIDER};
    use futures::executor::block_on;

    fn provider_calls(world: &World) -> usize {
        world
            .http
            .requests
            .borrow()
            .iter()
            .filter(|r| r.url.starts_with(AI_PROVIDER))
            .count()
    }

    fn code(e: ServiceError) -> String {
        match e {
            ServiceError::Conflict { code, .. } => code.to_string(),
            other => other.to_string(),
        }
    }

    #[test]
    fn off_until_an_owner_or_admin_turns_it_on_and_every_change_is_audited() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let (connection, _) = world.backed_up(owner);
        let view = block_on(settings(&world.caller(owner), team)).unwrap();
        assert!(!view.enabled && !view.keep_answers);
        assert_eq!(view.providers.len(), 1);
        assert_eq!(view.disclosure["prompts"].as_array().unwrap().len(), 4);
        let asked = block_on(privileged_access_guidance(&world.caller(owner), connection));
        assert_eq!(code(asked.unwrap_err()), "ai_disabled");
        assert_eq!(provider_calls(&world), 0, "nothing is sent while off");
        assert!(world.db.activity.borrow().is_empty());

        for role in [Role::Operator, Role::Viewer, Role::Auditor] {
            let member = world.member(team, role);
            let r = block_on(set_settings(&world.caller(member), team, true, true));
            assert_eq!(r.unwrap_err().to_string(), "forbidden", "{role:?}");
            // ...but every role may read the settings.
            assert!(block_on(settings(&world.caller(member), team)).is_ok());
        }
        let admin = world.member(team, Role::Admin);
        let on = block_on(set_settings(&world.caller(admin), team, true, false)).unwrap();
        assert!(on.enabled && !on.keep_answers);
        let rows = world.db.activity.borrow().clone();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].action, "ai.settings");
        assert_eq!(rows[0].actor_id, admin.to_string());
        assert_eq!(rows[0].details["from"]["enabled"], false);
        assert_eq!(rows[0].details["to"]["enabled"], true);

        // Off again: the next request is refused before anything is sent.
        block_on(set_settings(&world.caller(owner), team, false, false)).unwrap();
        let asked = block_on(privileged_access_guidance(&world.caller(owner), connection));
        assert_eq!(code(asked.unwrap_err()), "ai_disabled");
        assert_eq!(provider_calls(&world), 0);
    }

    #[test]
    fn a_request_is_admitted_sent_settled_and_recorded() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let (connection, backup) = world.backed_up(owner);
        block_on(set_settings(&world.caller(owner), team, true, false)).unwrap();
        world.db.activity.borrow_mut().clear();

        // Viewers and auditors cannot ask; operators can.
        let viewer = world.member(team, Role::Viewer);
        let r = block_on(privileged_access_guidance(
            &world.caller(viewer),
            connection,
        ));
        assert_eq!(r.unwrap_err().to_string(), "forbidden");
        let operator = world.member(team, Role::Operator);
        let view = block_on(privileged_access_guidance(
            &world.caller(operator),
            connection,
        ))
        .unwrap();
        assert_eq!(view.record.outcome, RecordOutcome::Answered);
        assert_eq!(view.record.target, backup.id.to_string());
        assert_eq!(view.record.requested_by, Some(operator));
        assert!(
            view.record.answer.is_none(),
            "answers are not kept unless chosen"
        );
        assert_eq!(
            view.advice.unwrap().text,
            "Narrow the admin path of group-1.",
            "a token the prompt did not issue is left alone"
        );
        assert_eq!(provider_calls(&world), 1);

        let sys = world.system("test");
        let usage = block_on(sys.stores().ai_usage(team)).unwrap().unwrap();
        assert_eq!((usage.month_tokens, usage.reserved_tokens), (1200, 0));
        assert_eq!(usage.day_requests, 1);
        let rows = world.db.activity.borrow().clone();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].action, "ai.guidance");
        assert_eq!(rows[0].target_id, view.record.id.to_string());
        assert_eq!(rows[0].details["outcome"], "answered");
        let listed = block_on(records(&world.caller(viewer), team)).unwrap();
        assert_eq!(listed, vec![view.record.clone()]);
        assert_eq!(
            block_on(record(&world.caller(viewer), view.record.id)).unwrap(),
            view.record
        );
        let stranger = world.user();
        assert_eq!(
            block_on(record(&world.caller(stranger), view.record.id))
                .unwrap_err()
                .to_string(),
            "not found"
        );
    }

    #[test]
    fn a_spent_budget_refuses_before_sending_and_says_until_when() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let (connection, _) = world.backed_up(owner);
        block_on(set_settings(&world.caller(owner), team, true, false)).unwrap();
        let now = world.deps.clock.now();
        let full = Usage {
            day: Some(now.date_naive()),
            recent: vec![now; 10],
            version: 3,
            ..Usage::default()
        };
        let sys = world.system("test");
        block_on(sys.stores().put_ai_usage(team, None, &full)).unwrap();
        let view = block_on(privileged_access_guidance(&world.caller(owner), connection)).unwrap();
        assert_eq!(view.record.outcome, RecordOutcome::OverBudget);
        assert_eq!(view.record.error.as_deref(), Some("per_minute"));
        assert_eq!(view.retry_at, Some(now + chrono::Duration::minutes(1)));
        assert_eq!(provider_calls(&world), 0);
        assert_eq!(
            block_on(sys.stores().ai_usage(team)).unwrap().unwrap(),
            full,
            "a refused request spends nothing"
        );
    }

    /// The data section of the last request sent to the provider.
    fn last_data(world: &World) -> Value {
        let requests = world.http.requests.borrow();
        let sent = requests
            .iter()
            .rev()
            .find(|r| r.url.starts_with(AI_PROVIDER))
            .expect("a request reached the provider");
        let body: Value = serde_json::from_slice(sent.body.as_deref().unwrap()).unwrap();
        let user = body["messages"][0]["content"][0]["text"].as_str().unwrap();
        let (_, rest) = user.split_once("<tenant_data>\n").unwrap();
        let (data, _) = rest.split_once("\n</tenant_data>").unwrap();
        serde_json::from_str(data).unwrap()
    }

    #[test]
    fn a_drift_alert_is_explained_over_the_tenant_as_of_its_capture() {
        let world = World::new();
        let (connection, owner) = crate::jobs::drift::tests::changed_org(&world);
        crate::jobs::drift::tests::cron(&world);
        let alert = world.db.drift_alerts()[0].clone();
        assert_eq!(alert.resource_type, "network_zones");
        let team = alert.team_id;
        let caller = world.caller(owner);
        let r = block_on(drift_alert_guidance(&caller, connection, alert.id));
        assert_eq!(code(r.unwrap_err()), "ai_disabled");
        assert_eq!(
            provider_calls(&world),
            0,
            "nothing is read or sent while off"
        );
        block_on(set_settings(&caller, team, true, false)).unwrap();
        world.db.activity.borrow_mut().clear();

        let viewer = world.member(team, Role::Viewer);
        let r = block_on(drift_alert_guidance(
            &world.caller(viewer),
            connection,
            alert.id,
        ));
        assert_eq!(r.unwrap_err().to_string(), "forbidden");
        let stranger = world.user();
        let r = block_on(drift_alert_guidance(
            &world.caller(stranger),
            connection,
            alert.id,
        ));
        assert_eq!(r.unwrap_err().to_string(), "not found");
        let unknown = DriftAlertId::parse("00000000-0000-4000-8000-000000000001").unwrap();
        let r = block_on(drift_alert_guidance(&caller, connection, unknown));
        assert_eq!(r.unwrap_err().to_string(), "not found");

        let view = block_on(drift_alert_guidance(&caller, connection, alert.id)).unwrap();
        assert_eq!(view.record.outcome, RecordOutcome::Answered);
        assert_eq!(
            view.record.prompt,
            crate::ai::prompts::PromptKind::ExplainDrift
        );
        assert_eq!(view.record.target, alert.id.to_string());
        let data = last_data(&world);
        let zone = &data["changes"][0];
        assert_eq!(zone["resource"], "network_zones");
        assert_eq!(zone["change"], "added");
        // The zone exists only in the capture's delta: the tenant was read as of the capture.
        assert_eq!(zone["current"]["status"], "ACTIVE", "{zone}");
        let sent = data.to_string();
        for secret in ["Anywhere", "203.0.113", "Mallory", "nzo1", "acme.okta.com"] {
            assert!(!sent.contains(secret), "{secret} sent: {sent}");
        }
        let rows = world.db.activity.borrow().clone();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].action, "ai.guidance");
        assert_eq!(rows[0].details["prompt"], "explain_drift");
    }

    #[test]
    fn a_restore_plan_is_explained_once_opened_as_its_get_route_opens_it() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let (connection, backup) = world.backed_up(owner);
        let caller = world.caller(owner);
        let planned = block_on(restores::plan(
            &caller,
            connection,
            restores::PlanRequest {
                source_backup_id: backup.id,
                scope: crate::restore::Scope::Tenant,
                options: Default::default(),
            },
        ))
        .unwrap();
        let id = planned.row.id;
        let r = block_on(restore_guidance(&caller, id));
        assert_eq!(code(r.unwrap_err()), "ai_disabled");
        block_on(set_settings(&caller, team, true, false)).unwrap();
        let viewer = world.member(team, Role::Viewer);
        assert_eq!(
            block_on(restore_guidance(&world.caller(viewer), id))
                .unwrap_err()
                .to_string(),
            "forbidden"
        );
        assert_eq!(
            block_on(restore_guidance(&world.caller(world.user()), id))
                .unwrap_err()
                .to_string(),
            "not found"
        );
        let view = block_on(restore_guidance(&caller, id)).unwrap();
        assert_eq!(view.record.outcome, RecordOutcome::Answered);
        assert_eq!(view.record.target, id.to_string());
        assert_eq!(view.record.connection_id, Some(connection));
        let data = last_data(&world);
        assert_eq!(
            data["operations_total"], 0,
            "the org did not change: {data}"
        );
        assert_eq!(provider_calls(&world), 1);
    }

    #[test]
    fn finding_guidance_needs_a_run_and_kept_answers_can_be_erased() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let (connection, _) = world.backed_up(owner);
        block_on(set_settings(&world.caller(owner), team, true, true)).unwrap();
        let check = catalog()[0].id;
        let r = block_on(finding_guidance(&world.caller(owner), connection, check));
        assert_eq!(code(r.unwrap_err()), "no_compliance_run");
        block_on(compliance::request(&world.caller(owner), connection)).unwrap();
        let r = block_on(finding_guidance(
            &world.caller(owner),
            connection,
            "BF-NOPE",
        ));
        assert_eq!(r.unwrap_err().to_string(), "not found");
        let view = block_on(finding_guidance(&world.caller(owner), connection, check)).unwrap();
        assert_eq!(view.record.outcome, RecordOutcome::Answered);
        assert_eq!(view.record.target, check);
        assert_eq!(
            view.record.answer.as_deref(),
            Some("Narrow the admin path of group-1.")
        );
        world.db.activity.borrow_mut().clear();
        let viewer = world.member(team, Role::Viewer);
        assert_eq!(
            block_on(delete_answers(&world.caller(viewer), team))
                .unwrap_err()
                .to_string(),
            "forbidden"
        );
        assert_eq!(
            block_on(delete_answers(&world.caller(owner), team)).unwrap(),
            1
        );
        let row = block_on(record(&world.caller(owner), view.record.id)).unwrap();
        assert!(row.answer.is_none());
        let rows = world.db.activity.borrow().clone();
        assert_eq!(rows[0].action, "ai.answers_delete");
        assert_eq!(rows[0].details["erased"], 1);
    }
}
