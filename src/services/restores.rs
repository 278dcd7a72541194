//! Restore plans: a dry run of restoring a backup into a connection's live tenant
//! (docs/restore.md). Planning reads the source backup and the target's live state, runs the
//! planner ([`crate::restore`]), seals the plan into R2 under the source backup's snapshot key
//! (so crypto-shredding the backup shreds its plans) and stores its row with an audit record.
//! Nothing is written to Okta.

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::audit::Event;
use super::downloads::read_snapshot;
use super::tenant_keys::{open_credential, snapshot_key};
use super::{Caller, ServiceError};
use crate::authz::matrix::Action;
use crate::crypto::stream::{open_with, seal_with};
use crate::ids::{BackupId, ConnectionId, RestorePlanId};
use crate::okta::{OktaAuth, OktaClient, OrgDomain};
use crate::restore::access::{admin_roles, Credential};
use crate::restore::estimate::Limits;
use crate::restore::{self, live, Plan, PlanInput, PlanOptions, Scope};
use crate::store::{AuthType, BackupRow, BackupStatus, NewRestorePlan, PlanStatus, RestorePlanRow};

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
    let (sys, deps) = (caller.system(), caller.deps());
    let source = read_snapshot(sys, deps.store, &backup)
        .await?
        .tenant_snapshot()
        .await?;

    let secret = sys
        .stores()
        .connection_secret(target)
        .await?
        .filter(|c| c.team_id == team)
        .ok_or(ServiceError::NotFound)?;
    let org = OrgDomain::parse(&secret.org_domain, deps.config.okta_domains)
        .map_err(|_| ServiceError::invalid("connection", "the org domain is no longer allowed"))?;
    let token = open_credential(sys, &secret, &org).await?;
    let token = Zeroizing::new(
        String::from_utf8(token.to_vec())
            .map_err(|_| ServiceError::Internal("credential is not UTF-8".into()))?,
    );
    let okta = OktaClient::new(
        deps.http,
        deps.clock,
        deps.rng,
        &org,
        OktaAuth::ApiToken(token),
    );
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
    let plan = restore::plan(&PlanInput {
        source: &source,
        target: &live,
        scope: &body.scope,
        options: body.options,
        restoring_admin: admin.as_deref(),
        credential: &credential,
        limits: Limits::default(),
    })
    .map_err(|e| ServiceError::Internal(format!("restore plan: {e}")))?;

    let id = RestorePlanId::generate(deps.rng);
    let key = r2_key(&backup, id);
    let plaintext = serde_json::to_vec(&plan)
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
    let overview = overview(&plan, &body, &backup);
    let audit = caller.audit(Event {
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
            "scope": body.scope,
            "options": body.options,
            "blockers": plan.blockers(),
        }),
    });
    let row = sys
        .stores()
        .create_restore_plan(
            &NewRestorePlan {
                id,
                team_id: team,
                target_connection_id: target,
                source_backup_id: backup.id,
                requested_by: Some(caller.user()),
                status,
                digest: plan.digest.clone(),
                r2_key: key,
                sha256,
                overview,
            },
            PLAN_TTL_SECONDS,
            &audit,
        )
        .await?;
    Ok(PlanView {
        row,
        plan: serde_json::to_value(&plan)
            .map_err(|e| ServiceError::Internal(format!("plan does not serialise: {e}")))?,
        expired: false,
    })
}

/// What the row shows without opening the plan: counts and checks, no tenant data.
fn overview(plan: &Plan, body: &PlanRequest, backup: &BackupRow) -> Value {
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

/// `GET /restores/{id}`: the row, and the plan opened from R2 and checked against its hash.
pub async fn get(caller: &Caller<'_>, id: RestorePlanId) -> Result<PlanView, ServiceError> {
    let row = stored(caller, id).await?;
    caller.authorize(row.team_id, Action::BackupRead).await?;
    let plan = serde_json::from_slice(&open(caller, &row).await?)
        .map_err(|e| ServiceError::Internal(format!("the sealed plan is not JSON: {e}")))?;
    Ok(PlanView {
        expired: caller.deps().clock.now() >= row.expires_at,
        row,
        plan,
    })
}

/// A stored plan's row, as the caller may read it (another team's plan does not exist).
/// Callers authorise against its team before [`open`]ing it.
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

/// The plaintext of a stored plan: read from R2, opened under its source backup's snapshot
/// key, and checked against the hash its row holds.
pub(crate) async fn open(
    caller: &Caller<'_>,
    row: &RestorePlanRow,
) -> Result<Vec<u8>, ServiceError> {
    let (sys, deps) = (caller.system(), caller.deps());
    let backup = sys
        .stores()
        .backup(row.source_backup_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let key = snapshot_key(sys, row.team_id, backup.id, backup.connection_id).await?;
    let sealed = deps
        .store
        .get(&row.r2_key)
        .await
        .map_err(|e| ServiceError::Internal(format!("reading the plan: {e}")))?
        .ok_or_else(|| ServiceError::Internal("the sealed plan is missing".into()))?;
    let plaintext = open_with(deps.seal, &key, &row.r2_key, &sealed)
        .await
        .map_err(|e| ServiceError::Internal(format!("opening the plan: {e}")))?;
    if hex::encode(Sha256::digest(&plaintext)) != row.sha256 {
        return Err(ServiceError::Internal(
            "the sealed plan does not match its hash".into(),
        ));
    }
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::authz::matrix::Role;
    use crate::testing::world::World;

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
}
