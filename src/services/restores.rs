//! Restore plans: a dry run of restoring a backup into a connection's live tenant
//! (docs/restore.md). Planning reads the source backup and the target's live state, runs the
//! planner ([`crate::restore`]), seals the plan into R2 under the source backup's snapshot key
//! (so crypto-shredding the backup shreds its plans) and stores its row with an audit record.
//! Applying a plan re-validates it against live state (its digest must not have moved), checks
//! approvals, and opens an apply for its job ([`crate::jobs::restore`]), which leaves a sealed receipt.

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::audit::Event;
use super::downloads::read_snapshot;
use super::okta_auth::open_okta_auth;
use super::tenant_keys::snapshot_key;
use super::{Caller, Privileged, ServiceError};
use crate::authz::matrix::{Action, Role};
use crate::crypto::stream::{open_with, seal_with};
use crate::ids::{BackupId, ConnectionId, RestorePlanId, TeamId, UserId};
use crate::okta::{OktaClient, OrgDomain};
use crate::restore::access::{admin_roles, Credential};
use crate::restore::estimate::Limits;
use crate::restore::{self, live, Plan, PlanInput, PlanOptions, Scope};
use crate::store::{
    ApplyStatus, AuthType, BackupRow, BackupStatus, ConnectionRow, DbError, Environment,
    NewRestorePlan, PlanStatus, RestorePlanRow,
};

/// How long a plan stays valid: long enough to review it, short enough that the live tenant
/// it was made against has not moved on. Applying re-validates it against live state anyway.
pub const PLAN_TTL_SECONDS: u32 = 3600;

/// `POST /connections/{id}/restores`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// A complete backup of any connection of the target's team.
    pub source_backup_id: BackupId,
    pub scope: Scope,
    #[serde(default)]
    pub options: PlanOptions,
}

/// A stored plan and, when it could be opened, the plan itself.
#[derive(Debug)]
pub struct PlanView {
    pub row: RestorePlanRow,
    pub plan: Value,
    pub expired: bool,
}

fn r2_key(backup: &BackupRow, plan: RestorePlanId) -> String {
    format!(
        "{}/restore-plans/{plan}.json.bfs",
        backup.r2_prefix.trim_end_matches('/')
    )
}

/// Plans a restore of `body.source_backup_id` into connection `target`.
pub async fn plan(
    caller: &Caller<'_>,
    target: ConnectionId,
    body: PlanRequest,
) -> Result<PlanView, ServiceError> {
    body.scope
        .validate()
        .map_err(|e| ServiceError::invalid("scope", e.to_string()))?;
    let conn = caller
        .stores()
        .connection(target)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let team = conn.team_id;
    caller.authorize(team, Action::RestorePlan).await?;
    let backup = caller
        .stores()
        .backup(body.source_backup_id)
        .await?
        .filter(|b| b.team_id == team)
        .ok_or_else(|| ServiceError::invalid("source_backup_id", "no such backup in this team"))?;
    if backup.status != BackupStatus::Complete {
        return Err(ServiceError::Conflict {
            code: "backup_not_complete",
            message: "only a complete backup can be restored",
        });
    }
    let plan = make(caller.system(), &conn, &backup, &body.scope, body.options).await?;
    let choices = Choices {
        scope: &body.scope,
        options: body.options,
        requested_by: Some(caller.user()),
    };
    let row = save(caller.system(), &conn, &backup, &plan, &choices, &|e| {
        caller.audit(e)
    })
    .await?;
    Ok(PlanView {
        row,
        plan: serde_json::to_value(&plan)
            .map_err(|e| ServiceError::Internal(format!("plan does not serialise: {e}")))?,
        expired: false,
    })
}

/// What a plan was asked for with, and by whom.
pub(crate) struct Choices<'a> {
    pub scope: &'a Scope,
    pub options: PlanOptions,
    pub requested_by: Option<UserId>,
}

/// Seals `plan` under the source backup's snapshot key and stores its row, with its
/// `restore.plan` activity row built by `audit`.
pub(crate) async fn save(
    sys: &Privileged<'_>,
    conn: &ConnectionRow,
    backup: &BackupRow,
    plan: &Plan,
    choices: &Choices<'_>,
    audit: &dyn Fn(Event) -> crate::store::AuditRecord,
) -> Result<RestorePlanRow, ServiceError> {
    let (team, target) = (conn.team_id, conn.id);
    let deps = sys.deps;
    let id = RestorePlanId::generate(deps.rng);
    let key = r2_key(backup, id);
    let plaintext = serde_json::to_vec(plan)
        .map_err(|e| ServiceError::Internal(format!("plan does not serialise: {e}")))?;
    let sha256 = hex::encode(Sha256::digest(&plaintext));
    let snapshot_key = snapshot_key(sys, team, backup.id, backup.connection_id).await?;
    let sealed = seal_with(deps.seal, &snapshot_key, deps.rng, &key, &plaintext)
        .await
        .map_err(|e| ServiceError::Internal(format!("sealing the plan: {e}")))?;
    deps.store
        .put(&key, sealed)
        .await
        .map_err(|e| ServiceError::Internal(format!("storing the plan: {e}")))?;
    let status = if plan.blockers().is_empty() {
        PlanStatus::Ready
    } else {
        PlanStatus::Blocked
    };
    let overview = overview(plan, choices, backup);
    let audit = audit(Event {
        team,
        action: "restore.plan",
        target_type: "restore_plan",
        target_id: id.to_string(),
        details: json!({
            "source_backup_id": backup.id,
            "target_connection_id": target,
            "digest": plan.digest,
            "sha256": sha256,
            "status": status,
            "scope": choices.scope,
            "options": choices.options,
            "blockers": plan.blockers(),
        }),
    });
    Ok(sys
        .stores()
        .create_restore_plan(
            &NewRestorePlan {
                id,
                team_id: team,
                target_connection_id: target,
                source_backup_id: backup.id,
                requested_by: choices.requested_by,
                status,
                digest: plan.digest.clone(),
                r2_key: key,
                sha256,
                overview,
            },
            PLAN_TTL_SECONDS,
            &audit,
        )
        .await?)
}

/// The target connection's org and a client on it with its credential.
pub(crate) async fn okta_of<'d>(
    sys: &Privileged<'d>,
    connection: ConnectionId,
    team: TeamId,
) -> Result<(OrgDomain, OktaClient<'d>), ServiceError> {
    let deps = sys.deps;
    let secret = sys
        .stores()
        .connection_secret(connection)
        .await?
        .filter(|c| c.team_id == team)
        .ok_or(ServiceError::NotFound)?;
    let org = OrgDomain::parse(&secret.org_domain, deps.config.okta_domains)
        .map_err(|_| ServiceError::invalid("connection", "the org domain is no longer allowed"))?;
    let auth = open_okta_auth(sys, &secret, &org).await?;
    let okta = OktaClient::new(deps.http, deps.clock, deps.rng, &org, auth);
    Ok((org, okta))
}

/// Plans restoring `backup` into `conn` as the tenant is now (planning, re-validating a stored
/// plan before it is applied, and a drill's fidelity check after it was).
pub(crate) async fn make(
    sys: &Privileged<'_>,
    conn: &ConnectionRow,
    backup: &BackupRow,
    scope: &Scope,
    options: PlanOptions,
) -> Result<Plan, ServiceError> {
    let source = read_snapshot(sys, sys.deps.store, backup)
        .await?
        .tenant_snapshot()
        .await?;
    let (_, okta) = okta_of(sys, conn.id, conn.team_id).await?;
    let live = live::read(&okta).await?;
    let me = okta.get("/api/v1/users/me").await?;
    let admin = me.get("id").and_then(Value::as_str).map(str::to_string);
    let credential = match conn.auth_type {
        AuthType::OauthPrivateKeyJwt => Credential::OAuth {
            scopes: conn.granted_scopes.iter().cloned().collect(),
        },
        AuthType::ApiToken => Credential::ApiToken {
            roles: admin
                .as_deref()
                .map(|a| admin_roles(&live, a))
                .unwrap_or_default(),
        },
    };
    restore::plan(&PlanInput {
        source: &source,
        target: &live,
        scope,
        options,
        restoring_admin: admin.as_deref(),
        credential: &credential,
        limits: Limits::default(),
    })
    .map_err(|e| ServiceError::Internal(format!("restore plan: {e}")))
}

/// Opens an object sealed under the source backup's snapshot key and checks it against its
/// SHA-256.
async fn open_sealed(
    sys: &Privileged<'_>,
    row: &RestorePlanRow,
    r2_key: &str,
    sha256: &str,
) -> Result<Vec<u8>, ServiceError> {
    let deps = sys.deps;
    let backup = sys
        .stores()
        .backup(row.source_backup_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let key = snapshot_key(sys, row.team_id, backup.id, backup.connection_id).await?;
    let sealed = deps
        .store
        .get(r2_key)
        .await
        .map_err(|e| ServiceError::Internal(format!("reading {r2_key}: {e}")))?
        .ok_or_else(|| ServiceError::Internal(format!("{r2_key} is missing")))?;
    let plaintext = open_with(deps.seal, &key, r2_key, &sealed)
        .await
        .map_err(|e| ServiceError::Internal(format!("opening {r2_key}: {e}")))?;
    if hex::encode(Sha256::digest(&plaintext)) != sha256 {
        return Err(ServiceError::Internal(format!(
            "{r2_key} does not match its hash"
        )));
    }
    Ok(plaintext)
}

/// The stored plan of a row.
pub(crate) async fn stored_plan(
    sys: &Privileged<'_>,
    row: &RestorePlanRow,
) -> Result<Plan, ServiceError> {
    let bytes = open_sealed(sys, row, &row.r2_key, &row.sha256).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ServiceError::Internal(format!("the sealed plan does not read: {e}")))
}

/// Seals `bytes` under the source backup's snapshot key at `r2_key`.
pub(crate) async fn seal_beside(
    sys: &Privileged<'_>,
    row: &RestorePlanRow,
    r2_key: &str,
    bytes: &[u8],
) -> Result<(), ServiceError> {
    let deps = sys.deps;
    let backup = sys
        .stores()
        .backup(row.source_backup_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let key = snapshot_key(sys, row.team_id, backup.id, backup.connection_id).await?;
    let sealed = seal_with(deps.seal, &key, deps.rng, r2_key, bytes)
        .await
        .map_err(|e| ServiceError::Internal(format!("sealing {r2_key}: {e}")))?;
    deps.store
        .put(r2_key, sealed)
        .await
        .map_err(|e| ServiceError::Internal(format!("storing {r2_key}: {e}")))
}

/// Where a plan's receipt is sealed: beside the plan.
pub(crate) fn receipt_key(row: &RestorePlanRow) -> String {
    row.r2_key.replace("/restore-plans/", "/restore-receipts/")
}

/// Whether applying this plan needs a second member's approval: a full-tenant restore into a
/// production connection does, unless the team turned that off; one into a sandbox never does.
async fn approvals_needed(sys: &Privileged<'_>, row: &RestorePlanRow) -> Result<u32, ServiceError> {
    let sandbox = sys
        .stores()
        .connection(row.target_connection_id)
        .await?
        .is_some_and(|c| c.environment == Environment::Sandbox);
    if sandbox {
        return Ok(0);
    }
    let tenant = row.overview["scope"]["kind"] == "tenant";
    let required = sys
        .stores()
        .restore_second_approver(row.team_id)
        .await?
        .unwrap_or(true);
    Ok(u32::from(tenant && required))
}

/// The checks and bookkeeping of `POST /restores/{id}/apply` before its job is queued
/// ([`crate::jobs::restore::request`]): re-validates the plan against the live tenant and opens
/// the apply (or reopens a failed one, to resume from its checkpoint).
pub(crate) async fn open_apply(
    caller: &Caller<'_>,
    id: RestorePlanId,
) -> Result<RestorePlanRow, ServiceError> {
    let row = caller
        .stores()
        .restore_plan(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(row.team_id, Action::RestoreApply).await?;
    let sys = caller.system();
    let deps = caller.deps();
    let resuming = row.apply_status == Some(ApplyStatus::Failed);
    if row.apply_status.is_some() && !resuming {
        return Err(ServiceError::Conflict {
            code: "restore_already_applied",
            message: "this plan was applied already; make a new plan",
        });
    }
    let needed = approvals_needed(sys, &row).await?;
    let mut approvers = Vec::new();
    if !resuming {
        if row.status == PlanStatus::Blocked {
            return Err(ServiceError::Conflict {
                code: "plan_blocked",
                message: "the plan is blocked (lockout check or missing credential rights)",
            });
        }
        if deps.clock.now() >= row.expires_at {
            return Err(ServiceError::Conflict {
                code: "plan_expired",
                message: "the plan expired; make a new one",
            });
        }
        approvers = sys
            .stores()
            .restore_approvals(id)
            .await?
            .into_iter()
            .filter(|a| a.approved_by != caller.user())
            .map(|a| a.approved_by)
            .collect();
        if (approvers.len() as u32) < needed {
            return Err(ServiceError::Conflict {
                code: "approval_required",
                message: "a full-tenant restore needs another member's approval first",
            });
        }
        let (scope, options) = stored_choices(&row)?;
        let conn = sys
            .stores()
            .connection(row.target_connection_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let backup = sys
            .stores()
            .backup(row.source_backup_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let fresh = make(sys, &conn, &backup, &scope, options).await?;
        if fresh.digest != row.digest {
            return Err(ServiceError::Conflict {
                code: "plan_changed",
                message: "the tenant changed since the plan was made; make a new plan",
            });
        }
    }
    let audit = caller.audit(Event {
        team: row.team_id,
        action: "restore.apply",
        target_type: "restore_plan",
        target_id: id.to_string(),
        details: json!({
            "digest": row.digest,
            "target_connection_id": row.target_connection_id,
            "resumed": resuming,
            "approved_by": approvers,
        }),
    });
    let opened = sys
        .stores()
        .open_restore_apply(id, caller.user(), needed, &audit)
        .await
        .map_err(|e| match e {
            DbError::Conflict => ServiceError::Conflict {
                code: "restore_already_applied",
                message: "this plan was applied already; make a new plan",
            },
            DbError::Forbidden => ServiceError::Conflict {
                code: "approval_required",
                message: "a full-tenant restore needs another member's approval first",
            },
            DbError::Constraint => ServiceError::Conflict {
                code: "plan_expired",
                message: "the plan expired; make a new one",
            },
            other => other.into(),
        })?;
    Ok(opened)
}

/// The scope and options a stored plan was made with.
fn stored_choices(row: &RestorePlanRow) -> Result<(Scope, PlanOptions), ServiceError> {
    let bad = |e: serde_json::Error| ServiceError::Internal(format!("stored plan choices: {e}"));
    let scope = serde_json::from_value(row.overview["scope"].clone()).map_err(bad)?;
    let options = serde_json::from_value(row.overview["options"].clone()).map_err(bad)?;
    Ok((scope, options))
}

/// `POST /restores/{id}/approvals`: the caller approves another member's restore (their own
/// approval never counts for their own apply).
pub async fn approve(caller: &Caller<'_>, id: RestorePlanId) -> Result<Value, ServiceError> {
    let row = caller
        .stores()
        .restore_plan(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(row.team_id, Action::RestoreApply).await?;
    let closed = ServiceError::Conflict {
        code: "restore_not_approvable",
        message: "only a plan not yet applied and not expired can be approved",
    };
    if row.apply_status.is_some() || caller.deps().clock.now() >= row.expires_at {
        return Err(closed);
    }
    let audit = caller.audit(Event {
        team: row.team_id,
        action: "restore.approve",
        target_type: "restore_plan",
        target_id: id.to_string(),
        details: json!({"digest": row.digest}),
    });
    let sys = caller.system();
    let added = match sys
        .stores()
        .approve_restore(id, caller.user(), &audit)
        .await
    {
        Ok(added) => added,
        Err(DbError::Conflict) => return Err(closed),
        Err(e) => return Err(e.into()),
    };
    let approvals = sys.stores().restore_approvals(id).await?;
    Ok(json!({"approved": added, "approvals": approvals}))
}

/// `GET /restores/{id}/receipt`: the sealed receipt, opened and checked against the hash the
/// audit trail holds.
pub async fn receipt(caller: &Caller<'_>, id: RestorePlanId) -> Result<Value, ServiceError> {
    let row = caller
        .stores()
        .restore_plan(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(row.team_id, Action::BackupRead).await?;
    let (Some(key), Some(sha256)) = (&row.receipt_r2_key, &row.receipt_sha256) else {
        return Err(ServiceError::Conflict {
            code: "no_receipt_yet",
            message: "the restore has not ended, so it has no receipt yet",
        });
    };
    let bytes = open_sealed(caller.system(), &row, key, sha256).await?;
    let receipt: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ServiceError::Internal(format!("the receipt does not read: {e}")))?;
    Ok(json!({"sha256": sha256, "receipt": receipt}))
}

/// `PATCH /teams/{id}/restore-settings` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreSettings {
    /// Whether a full-tenant restore needs a second member's approval.
    pub second_approver: bool,
}

/// `PATCH /teams/{id}/restore-settings`: an owner's decision, audited.
pub async fn set_settings(
    caller: &Caller<'_>,
    team: TeamId,
    body: RestoreSettings,
) -> Result<Value, ServiceError> {
    let role = caller.authorize(team, Action::RestoreApply).await?;
    if role != Role::Owner {
        return Err(ServiceError::Forbidden);
    }
    let before = caller
        .stores()
        .restore_second_approver(team)
        .await?
        .unwrap_or(true);
    let audit = caller.audit(Event {
        team,
        action: "team.restore_settings",
        target_type: "team",
        target_id: team.to_string(),
        details: json!({"second_approver": {"from": before, "to": body.second_approver}}),
    });
    let set = caller
        .system()
        .stores()
        .set_restore_second_approver(team, body.second_approver, caller.user(), &audit)
        .await?;
    Ok(json!({"second_approver": set}))
}

/// What the row shows without opening the plan: counts and checks, no tenant data.
fn overview(plan: &Plan, body: &Choices<'_>, backup: &BackupRow) -> Value {
    let b = &plan.blast_radius;
    json!({
        "source_connection_id": backup.connection_id,
        "scope": body.scope,
        "options": body.options,
        "summary": plan.summary,
        "blockers": plan.blockers(),
        "lockout": {"verdict": plan.lockout.verdict, "overridden": plan.lockout_overridden},
        "access": plan.access,
        "estimate": {"floor_seconds": plan.estimate.floor_seconds, "requests": plan.estimate.requests},
        "blast_radius": {
            "users_activated": b.users_activated.count,
            "users_emailed": b.users_emailed.count,
            "users_deactivated": b.users_deactivated.count,
            "signing_certificate_changes": b.signing_certificate_changes.count,
            "provisioning_apps": b.provisioning_apps.len(),
            "not_restorable": b.not_restorable.iter().map(|n| json!({"missing": n.missing, "count": n.objects.count})).collect::<Vec<_>>(),
        },
    })
}

/// `GET /restores/{id}`: the row (with an apply's status and progress), and the plan opened
/// from R2 and checked against its hash.
pub async fn get(caller: &Caller<'_>, id: RestorePlanId) -> Result<PlanView, ServiceError> {
    let row = stored(caller, id).await?;
    caller.authorize(row.team_id, Action::BackupRead).await?;
    let bytes = open_sealed(caller.system(), &row, &row.r2_key, &row.sha256).await?;
    let plan = serde_json::from_slice(&bytes)
        .map_err(|e| ServiceError::Internal(format!("the sealed plan is not JSON: {e}")))?;
    Ok(PlanView {
        expired: caller.deps().clock.now() >= row.expires_at,
        row,
        plan,
    })
}

/// A stored plan's row, as the caller may read it (another team's plan does not exist).
/// Callers authorise against its team before opening it ([`stored_plan`]).
pub(crate) async fn stored(
    caller: &Caller<'_>,
    id: RestorePlanId,
) -> Result<RestorePlanRow, ServiceError> {
    caller
        .stores()
        .restore_plan(id)
        .await?
        .ok_or(ServiceError::NotFound)
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::authz::matrix::Role;
    use crate::ids::UserId;
    use crate::testing::world::{OktaMode, World};
    // The route's whole path: checks and bookkeeping here, the queueing in the job module.
    use crate::jobs::restore::request as apply;

    fn tenant_scope() -> PlanRequest {
        PlanRequest {
            source_backup_id: BackupId::parse("00000000-0000-4000-8000-000000000000").unwrap(),
            scope: Scope::Tenant,
            options: PlanOptions::default(),
        }
    }

    #[test]
    fn a_plan_is_sealed_in_r2_stored_audited_and_viewable() {
        let world = World::new();
        let owner = world.user();
        let (connection, backup) = world.backed_up(owner);
        let caller = world.caller(owner);
        let body = PlanRequest {
            source_backup_id: backup.id,
            ..tenant_scope()
        };
        let planned = block_on(plan(&caller, connection, body)).unwrap();
        let row = &planned.row;
        // The org did not change since its backup: nothing to write, nothing blocking.
        assert_eq!(row.status, PlanStatus::Ready);
        assert_eq!(planned.plan["operations"], json!([]));
        assert_eq!(row.overview["blockers"], json!([]));
        assert_eq!(row.target_connection_id, connection);
        assert_eq!(
            row.expires_at - row.created_at,
            chrono::Duration::seconds(3600)
        );
        assert!(row
            .r2_key
            .starts_with(backup.r2_prefix.trim_end_matches('/')));
        let sealed = block_on(world.deps.store.get(&row.r2_key))
            .unwrap()
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&sealed).contains("operations"),
            "the plan is sealed"
        );
        let activity = world.db.activity.borrow().clone();
        let audit: Vec<_> = activity
            .iter()
            .filter(|a| a.action == "restore.plan")
            .collect();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].target_id, row.id.to_string());
        assert_eq!(audit[0].details["sha256"], json!(row.sha256));

        let viewed = block_on(get(&world.caller(owner), row.id)).unwrap();
        assert_eq!(viewed.plan, planned.plan);
        assert!(!viewed.expired);
        // Another team sees nothing of it.
        let stranger = world.user();
        assert!(matches!(
            block_on(get(&world.caller(stranger), row.id)),
            Err(ServiceError::NotFound)
        ));
        // A plan whose sealed copy was tampered with is not shown.
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        block_on(world.deps.store.put(&row.r2_key, bad)).unwrap();
        assert!(matches!(
            block_on(get(&world.caller(owner), row.id)),
            Err(ServiceError::Internal(_))
        ));
    }

    #[test]
    fn planning_needs_the_permission_a_complete_backup_of_the_team_and_a_valid_scope() {
        let world = World::new();
        let owner = world.user();
        let (connection, backup) = world.backed_up(owner);
        let team = world.team_of(owner);
        let viewer = world.member(team, Role::Viewer);
        let body = || PlanRequest {
            source_backup_id: backup.id,
            ..tenant_scope()
        };
        assert!(matches!(
            block_on(plan(&world.caller(viewer), connection, body())),
            Err(ServiceError::Forbidden)
        ));
        // Another team's backup is not a source, even when its id is known.
        let other = world.user();
        let (_, theirs) = world.backed_up(other);
        let stolen = PlanRequest {
            source_backup_id: theirs.id,
            ..tenant_scope()
        };
        assert!(matches!(
            block_on(plan(&world.caller(owner), connection, stolen)),
            Err(ServiceError::Invalid {
                field: "source_backup_id",
                ..
            })
        ));
        let empty = PlanRequest {
            scope: Scope::Types {
                resources: Default::default(),
            },
            ..body()
        };
        assert!(matches!(
            block_on(plan(&world.caller(owner), connection, empty)),
            Err(ServiceError::Invalid { field: "scope", .. })
        ));
        assert!(world
            .db
            .activity
            .borrow()
            .iter()
            .all(|a| a.action != "restore.plan"));
    }

    fn okta_user(id: &str, login: &str) -> Value {
        json!({"id": id, "status": "ACTIVE",
               "profile": {"login": login, "email": login, "firstName": "Ann", "lastName": "Lee"}})
    }

    /// A backup of an org with Ann in it, Ann deleted since, and a plan of the users that
    /// creates her again.
    fn ann_deleted(world: &World, owner: UserId) -> (ConnectionId, PlanView) {
        // The connection's token acts as a super admin (the credential check needs it).
        let answer = |path: &str, body: Value| {
            let response = crate::testing::json_response(200, &body, &[]);
            world
                .okta_answers
                .borrow_mut()
                .push((path.to_string(), response));
        };
        answer("/api/v1/users/me", json!({"id": "00uadmin"}));
        answer(
            "/api/v1/iam/assignees/users",
            json!({"value": [{"id": "00uadmin"}]}),
        );
        answer(
            "/api/v1/users/00uadmin/roles",
            json!([{"id": "ra1", "type": "SUPER_ADMIN", "status": "ACTIVE", "assignmentType": "USER"}]),
        );
        *world.okta_users.borrow_mut() = vec![okta_user("00uann", "ann@acme.com")];
        let (connection, backup) = world.backed_up(owner);
        world.okta_users.borrow_mut().clear();
        let body = PlanRequest {
            source_backup_id: backup.id,
            scope: Scope::Types {
                resources: [crate::tenant::ResourceType::Users].into(),
            },
            options: PlanOptions::default(),
        };
        let planned = block_on(plan(&world.caller(owner), connection, body)).unwrap();
        world.db.activity.borrow_mut().clear();
        (connection, planned)
    }

    fn code(e: ServiceError) -> &'static str {
        match e {
            ServiceError::Conflict { code, .. } => code,
            other => panic!("not a conflict: {other:?}"),
        }
    }

    #[test]
    fn an_applied_plan_restores_the_user_and_leaves_a_sealed_audited_emailed_receipt() {
        let world = World::with_email();
        let owner = world.user();
        // Receipts are sensitive: they go only to a proven address.
        world.db.verify_email(owner, &format!("{owner}@test.local"));
        let (connection, planned) = ann_deleted(&world, owner);
        let id = planned.row.id;
        let ops = planned.plan["operations"].as_array().unwrap();
        assert_eq!(ops.len(), 1, "{ops:?}");
        assert_eq!(ops[0]["action"], "create");

        // An operator may plan, not apply; another team sees nothing.
        let team = world.team_of(owner);
        let operator = world.member(team, Role::Operator);
        assert!(matches!(
            block_on(apply(&world.caller(operator), id)),
            Err(ServiceError::Forbidden)
        ));
        assert!(matches!(
            block_on(apply(&world.caller(world.user()), id)),
            Err(ServiceError::NotFound)
        ));

        let started = block_on(apply(&world.caller(owner), id)).unwrap();
        assert_eq!(started.row.apply_status, Some(ApplyStatus::Running));
        assert_eq!(started.row.applied_by, Some(owner));
        world.drain_queue();

        let row = block_on(get(&world.caller(owner), id)).unwrap().row;
        assert_eq!(row.apply_status, Some(ApplyStatus::Complete), "{row:?}");
        assert_eq!(row.progress.as_ref().unwrap()["applied"], 1);
        // Ann is back (as Okta creates users: activated, pending her password).
        let users = world.okta_users.borrow().clone();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0]["profile"]["login"], "ann@acme.com");
        // The write was recorded as Butterfly's own, for the drift capture.
        let recorded = block_on(
            world
                .system("t")
                .stores()
                .butterfly_writes(connection, &["req-w1".to_string()]),
        )
        .unwrap();
        assert_eq!(recorded, ["req-w1"]);

        // The receipt: sealed in R2 beside the plan, its hash in the audit trail.
        let shown = block_on(receipt(&world.caller(owner), id)).unwrap();
        let r = &shown["receipt"];
        assert_eq!(r["plan_digest"], json!(row.digest));
        assert_eq!(r["status"], "complete");
        assert_eq!(r["applied_by"], json!(owner.to_string()));
        assert_eq!(r["operations"][0]["outcome"], "applied");
        assert_eq!(r["ids"][0]["source_id"], "00uann");
        assert_eq!(r["ids"][0]["target_id"], "00uw1");
        let key = row.receipt_r2_key.clone().unwrap();
        assert!(key.contains("/restore-receipts/"));
        let sealed = world.objects.objects.borrow()[&key].clone();
        assert!(!String::from_utf8_lossy(&sealed).contains("plan_digest"));
        let actions = world.db.actions();
        assert_eq!(
            actions,
            ["restore.apply", "restore.start", "restore.complete"]
        );
        let complete = world.db.activity.borrow()[2].clone();
        assert_eq!(complete.details["receipt_sha256"], shown["sha256"]);
        assert_eq!(row.receipt_sha256.as_deref(), shown["sha256"].as_str());
        // Queued for the team's admins (the owner) through the outbox ...
        let mail: Vec<_> = world
            .db
            .outbox()
            .into_iter()
            .filter(|o| o.key.starts_with(&format!("restore:{id}")))
            .collect();
        assert_eq!(mail.len(), 1);
        // ... and delivered (the job kicked the outbox), its payload gone with delivery.
        let sent = world.mail_sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        let text = sent[0].to_string();
        assert!(
            text.contains("Restore finished for acme.okta.com"),
            "{text}"
        );
        assert!(text.contains("Objects restored: 1."), "{text}");

        // Applied once: never again.
        assert_eq!(
            code(block_on(apply(&world.caller(owner), id)).unwrap_err()),
            "restore_already_applied"
        );
    }

    #[test]
    fn a_plan_the_tenant_moved_away_from_or_that_expired_is_refused() {
        let world = World::new();
        let owner = world.user();
        let (_, planned) = ann_deleted(&world, owner);
        // Someone re-created Ann meanwhile: re-planning gives another digest.
        *world.okta_users.borrow_mut() = vec![okta_user("00uann", "ann@acme.com")];
        let id = planned.row.id;
        assert_eq!(
            code(block_on(apply(&world.caller(owner), id)).unwrap_err()),
            "plan_changed"
        );
        world.okta_users.borrow_mut().clear();
        world.advance(chrono::Duration::seconds(i64::from(PLAN_TTL_SECONDS)));
        assert_eq!(
            code(block_on(apply(&world.caller(owner), id)).unwrap_err()),
            "plan_expired"
        );
        assert!(world.db.actions().is_empty(), "{:?}", world.db.actions());
        assert!(world.queue.sent.borrow().is_empty());
    }

    #[test]
    fn a_full_tenant_restore_needs_another_members_approval_unless_the_owner_says_not() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let admin = world.member(team, Role::Admin);
        let (connection, backup) = world.backed_up(owner);
        let tenant = || PlanRequest {
            source_backup_id: backup.id,
            ..tenant_scope()
        };
        let id = block_on(plan(&world.caller(owner), connection, tenant()))
            .unwrap()
            .row
            .id;
        assert_eq!(
            code(block_on(apply(&world.caller(owner), id)).unwrap_err()),
            "approval_required"
        );
        // The applier's own approval does not count.
        let own = block_on(approve(&world.caller(owner), id)).unwrap();
        assert_eq!(own["approved"], true);
        assert_eq!(
            code(block_on(apply(&world.caller(owner), id)).unwrap_err()),
            "approval_required"
        );
        let second = block_on(approve(&world.caller(admin), id)).unwrap();
        assert_eq!(second["approvals"].as_array().unwrap().len(), 2);
        // Approving twice changes nothing.
        assert_eq!(
            block_on(approve(&world.caller(admin), id)).unwrap()["approved"],
            false
        );
        block_on(apply(&world.caller(owner), id)).unwrap();
        world.drain_queue();
        let shown = block_on(receipt(&world.caller(owner), id)).unwrap();
        assert_eq!(
            shown["receipt"]["approved_by"][0]["user_id"],
            json!(admin.to_string())
        );
        assert_eq!(
            code(block_on(approve(&world.caller(admin), id)).unwrap_err()),
            "restore_not_approvable"
        );

        // Only an owner turns the rule off; then a full-tenant plan applies at once.
        let off = RestoreSettings {
            second_approver: false,
        };
        assert!(matches!(
            block_on(set_settings(&world.caller(admin), team, off)),
            Err(ServiceError::Forbidden)
        ));
        let off = RestoreSettings {
            second_approver: false,
        };
        block_on(set_settings(&world.caller(owner), team, off)).unwrap();
        let next = block_on(plan(&world.caller(owner), connection, tenant()))
            .unwrap()
            .row
            .id;
        block_on(apply(&world.caller(owner), next)).unwrap();
        let actions = world.db.actions();
        for a in ["restore.approve", "team.restore_settings", "restore.apply"] {
            assert!(actions.contains(&a), "{actions:?}");
        }
        assert_eq!(
            actions.iter().filter(|a| **a == "restore.approve").count(),
            2
        );
    }

    #[test]
    fn an_apply_okta_keeps_failing_is_failed_with_its_progress_and_applying_again_resumes() {
        let world = World::new();
        let owner = world.user();
        let (_, planned) = ann_deleted(&world, owner);
        let id = planned.row.id;
        block_on(apply(&world.caller(owner), id)).unwrap();
        world.okta.set(OktaMode::Down);
        world.drain_queue();
        let row = block_on(get(&world.caller(owner), id)).unwrap().row;
        assert_eq!(row.apply_status, Some(ApplyStatus::Failed));
        assert!(row.apply_error.is_some());
        assert!(row.receipt_sha256.is_none());
        assert!(world.okta_users.borrow().is_empty());
        // Okta is back: applying again resumes (no new plan needed), and the create that may
        // have been sent is looked up by login before it is sent again.
        world.okta.set(OktaMode::Empty);
        let resumed = block_on(apply(&world.caller(owner), id)).unwrap();
        assert_eq!(resumed.row.apply_status, Some(ApplyStatus::Running));
        world.drain_queue();
        let row = block_on(get(&world.caller(owner), id)).unwrap().row;
        assert_eq!(row.apply_status, Some(ApplyStatus::Complete), "{row:?}");
        assert_eq!(world.okta_users.borrow().len(), 1);
        let actions = world.db.actions();
        assert!(actions.contains(&"restore.error"), "{actions:?}");
        assert_eq!(actions.last(), Some(&"restore.complete"));
    }
}
