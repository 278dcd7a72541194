//! After a team's data key is rotated: re-seal every credential and every backup's snapshot key
//! of the team still sealed under an older version with the new one, then retire the older
//! versions (their wrapped keys are
//! destroyed, so nothing sealed under them opens again). A sliced job on the lease: each slice
//! moves a bounded batch, each move is a compare-and-swap on the sealed item's version, so a
//! slice redone after a crash, or racing another, changes nothing twice.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::lease::{self, Lease, SlicedJob, Stop};
use super::{Next, Ran};
use crate::authz::matrix::Action;
use crate::crypto::envelope::{seal_secret, seal_snapshot_key, SnapshotKeyContext};
use crate::ids::TeamId;
use crate::services::audit::{Actor, Event, RequestMeta};
use crate::services::tenant_keys::{
    context_strings, data_key, new_job_id, open_backup_key, open_sealed,
};
use crate::services::{Caller, Deps, Privileged, ServiceError};
use crate::store::{DbError, JobKey, TenantKeyRow};

/// The checkpoint kind of re-seal jobs (`job_checkpoints.job_kind`).
pub const KIND: &str = "key_reseal";
/// Credentials and snapshot keys re-sealed per slice (each is a database round trip and an
/// audit row).
pub const RESEAL_PER_SLICE: usize = 50;
/// Delay before a slice that met a transient failure is tried again.
const RETRY_SECONDS: u32 = 60;
const JOB: Actor = Actor::System("key-reseal");

/// One rotation's re-seal: move the team's credentials onto `version`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyResealJob {
    /// The rotation's id (its checkpoint's `job_id`).
    pub rotation: Uuid,
    pub team: TeamId,
    pub version: u32,
    pub meta: RequestMeta,
}

/// Rotates the team's data key: a new version, wrapped under the active master key, seals every
/// credential from now on; the re-seal job (queued here) moves the existing ones onto it and
/// then retires the older versions. Audited as `key.rotate`.
pub async fn start(caller: &Caller<'_>, team: TeamId) -> Result<Value, ServiceError> {
    caller.authorize(team, Action::KeyRotate).await?;
    let deps = caller.deps();
    let sys = caller.system();
    let live = sys.stores().live_key_versions(team).await?;
    let version = live.last().map_or(1, |v| v + 1);
    let (_, wrapped) = deps
        .config
        .master_keys
        .new_data_key(deps.rng, &team.to_string(), version);
    let job_id = new_job_id(deps.rng);
    let row = TenantKeyRow {
        team_id: team,
        version,
        master_key_id: wrapped.master_key_id,
        wrapped_key: wrapped.wrapped,
    };
    let audit = caller.audit(Event {
        team,
        action: "key.rotate",
        target_type: "tenant_key",
        target_id: format!("{team}/v{version}"),
        details: json!({"version": version, "master_key_id": row.master_key_id,
            "reseal_job": job_id}),
    });
    sys.stores()
        .rotate_tenant_key(&row, job_id, &audit)
        .await
        .map_err(|e| match e {
            DbError::Conflict => ServiceError::Conflict {
                code: "rotation_in_progress",
                message: "another rotation of this team's key just happened; try again",
            },
            e => e.into(),
        })?;
    let job = KeyResealJob {
        rotation: job_id,
        team,
        version,
        meta: caller.meta().clone(),
    };
    if super::send(deps, &super::Job::KeyReseal(job))
        .await
        .is_err()
    {
        // The new version stands (it seals new credentials); older ones keep opening theirs
        // until a rotation whose job runs moves them.
        return Err(ServiceError::Unavailable(
            "the key was rotated but the re-seal job could not be queued; rotate again later",
        ));
    }
    Ok(json!({"team_id": team, "version": version, "reseal_job": job_id}))
}

/// What the job checkpoints: how many credentials it moved so far (the work list itself is
/// re-read every slice: whatever is still under an older version).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ResealProgress {
    #[serde(default)]
    pub resealed: u32,
    /// Backups' snapshot keys moved so far.
    #[serde(default)]
    pub backup_keys: u32,
}

pub async fn run(deps: &Deps<'_>, job: &KeyResealJob) -> Ran {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    let end = lease::run_slice(&sys, &Reseal { job }).await;
    let next = match &end {
        Ok(end) => end.next(RETRY_SECONDS),
        // Nothing could be recorded: deliver again (every step is idempotent).
        Err(_) => Next::RetryAfter(RETRY_SECONDS),
    };
    Ran {
        next,
        log: json!({"outcome": end.map_or_else(|e| e.to_string(), |o| format!("{o:?}"))}),
    }
}

struct Reseal<'j> {
    job: &'j KeyResealJob,
}

#[async_trait(?Send)]
impl SlicedJob for Reseal<'_> {
    type State = ResealProgress;
    /// The versions retired.
    type Done = Vec<u32>;

    fn key(&self) -> JobKey {
        JobKey {
            kind: KIND,
            id: self.job.rotation,
        }
    }

    /// Running while a version older than the rotation's is still live.
    async fn is_running(&self, sys: &Privileged<'_>) -> Result<bool, ServiceError> {
        let live = sys.stores().live_key_versions(self.job.team).await?;
        Ok(live.iter().any(|v| *v < self.job.version))
    }

    async fn started(&self, _sys: &Privileged<'_>) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn slice(
        &self,
        sys: &Privileged<'_>,
        lease: &Lease<'_, ResealProgress>,
    ) -> Result<Option<Vec<u32>>, Stop> {
        let (team, version) = (self.job.team, self.job.version);
        let stale = sys
            .stores()
            .connections_sealed_below(team, version)
            .await
            .map_err(transient)?;
        let stale_backups = sys
            .stores()
            .backups_sealed_below(team, version)
            .await
            .map_err(transient)?;
        if !stale.is_empty() || !stale_backups.is_empty() {
            let new_key = data_key(sys, team, Some(version)).await?;
            let mut progress = lease.state();
            for connection in stale.iter().take(RESEAL_PER_SLICE) {
                let (from, plain) = open_sealed(sys, connection, &connection.org_domain).await?;
                let strings = context_strings(team, connection.id);
                let ctx = strings.context(&connection.org_domain);
                let sealed = seal_secret(&new_key, sys.deps.rng, &ctx, &plain);
                let audit = sys.audit(Event {
                    team,
                    action: "connection.reseal",
                    target_type: "okta_connection",
                    target_id: connection.id.to_string(),
                    details: json!({"from_version": from, "to_version": version,
                        "rotation": self.job.rotation}),
                });
                let moved = sys
                    .stores()
                    .reseal_connection(connection.id, from, &sealed, version, &audit)
                    .await
                    .map_err(transient)?;
                progress.resealed += u32::from(moved);
            }
            let room = RESEAL_PER_SLICE.saturating_sub(stale.len());
            for backup in stale_backups.iter().take(room) {
                let Some(sealed) = backup.sealed_key.as_deref() else {
                    continue;
                };
                let (from, snapshot_key) = open_backup_key(sys, backup, sealed).await?;
                let (team_id, backup_id) = (team.to_string(), backup.id.to_string());
                let ctx = SnapshotKeyContext {
                    tenant: &team_id,
                    backup: &backup_id,
                };
                let resealed = seal_snapshot_key(&new_key, sys.deps.rng, &ctx, &snapshot_key);
                let audit = sys.audit(Event {
                    team,
                    action: "backup.key_reseal",
                    target_type: "backup",
                    target_id: backup_id,
                    details: json!({"from_version": from, "to_version": version,
                        "rotation": self.job.rotation}),
                });
                let moved = sys
                    .stores()
                    .reseal_backup_key(backup.id, from, &resealed, version, &audit)
                    .await
                    .map_err(transient)?;
                progress.backup_keys += u32::from(moved);
            }
            lease.commit(&progress).await.map_err(|e| match e {
                lease::LeaseError::Lost => Stop::Superseded,
                lease::LeaseError::Unavailable(e) => Stop::Transient(ServiceError::Internal(e)),
            })?;
            if stale.len() + stale_backups.len() > RESEAL_PER_SLICE {
                return Ok(None);
            }
        }
        let audit = sys.audit(Event {
            team,
            action: "key.retire",
            target_type: "tenant_key",
            target_id: format!("{team}/v{version}"),
            details: json!({}),
        });
        match sys
            .stores()
            .retire_tenant_keys(team, version, self.job.rotation, &audit)
            .await
        {
            Ok(retired) => Ok(Some(retired)),
            // A credential or backup was sealed under an older version meanwhile: move it next
            // time.
            Err(DbError::Constraint) => Err(Stop::Transient(ServiceError::Internal(
                "a credential or snapshot key is still sealed under an older version".into(),
            ))),
            Err(e) => Err(transient(e)),
        }
    }

    /// Retirement already finished the checkpoint, in the same transaction.
    async fn finish(
        &self,
        _sys: &Privileged<'_>,
        _retired: Vec<u32>,
    ) -> Result<bool, ServiceError> {
        Ok(true)
    }

    /// The reason stays in the worker log; the audit row says what it means for the team.
    async fn fail(&self, sys: &Privileged<'_>, _error: &ServiceError) -> Result<(), ServiceError> {
        sys.record(Event {
            team: self.job.team,
            action: "key.reseal_failed",
            target_type: "tenant_key",
            target_id: format!("{}/v{}", self.job.team, self.job.version),
            details: json!({"rotation": self.job.rotation,
                "reason": "the credentials or snapshot keys could not be re-sealed; older key versions stay live"}),
        })
        .await
    }
}

fn transient(e: DbError) -> Stop {
    match e {
        DbError::Unavailable(_) => Stop::Transient(e.into()),
        e => Stop::Failed(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::{Role, Scope};
    use crate::crypto::stream::{open_object, seal_object, SnapshotKey};
    use crate::ids::ConnectionId;
    use crate::services::connections;
    use crate::services::downloads::{self, read_snapshot};
    use crate::services::tenant_keys::{open_sealed, snapshot_key};
    use crate::store::ConnectionSecretRow;
    use crate::testing::world::{World, OKTA_TOKEN};
    use futures::executor::block_on;

    fn secret(world: &World, id: ConnectionId) -> ConnectionSecretRow {
        block_on(world.system("test").stores().connection_secret(id))
            .unwrap()
            .expect("live connection")
    }

    fn opens(world: &World, row: &ConnectionSecretRow) -> Result<u32, ServiceError> {
        block_on(open_sealed(&world.system("test"), row, &row.org_domain)).map(|(v, plain)| {
            assert_eq!(plain.as_slice(), OKTA_TOKEN.as_bytes(), "the credential");
            v
        })
    }

    #[test]
    fn rotation_seals_new_credentials_moves_old_ones_and_retires_the_old_version() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let first = world.connect(owner);
        let other_team_owner = world.user();
        let bystander = world.connect(other_team_owner);
        let old = secret(&world, first);
        assert_eq!(old.key_version, Some(1));

        let rotated = block_on(start(&world.caller(owner), team)).unwrap();
        assert_eq!(rotated["version"], 2);
        let sys = world.system("test");
        assert_eq!(
            block_on(sys.stores().live_key_versions(team)).unwrap(),
            [1, 2]
        );
        // Before the job runs: the old credential still opens with v1, and a credential sealed
        // now uses v2.
        assert_eq!(opens(&world, &old).unwrap(), 1);
        block_on(connections::delete(&world.caller(owner), first)).unwrap();
        let second = world.connect(owner);
        assert_eq!(secret(&world, second).key_version, Some(2));
        block_on(connections::delete(&world.caller(owner), second)).unwrap();
        let third = world.connect(owner);
        // Put one credential back under v1, as one sealed just before the rotation would be.
        let v1 = block_on(data_key(&sys, team, Some(1))).unwrap();
        let strings = context_strings(team, third);
        let under_v1 = seal_secret(
            &v1,
            world.deps.rng,
            &strings.context(&old.org_domain),
            OKTA_TOKEN.as_bytes(),
        );
        world.db.set_connection_secret(third, &under_v1, 1);
        assert_eq!(opens(&world, &secret(&world, third)).unwrap(), 1);
        let before = world.db.activity.borrow().len();

        assert_eq!(world.drain_queue(), 1);
        let moved = secret(&world, third);
        assert_eq!(moved.key_version, Some(2));
        assert_ne!(moved.sealed_token.as_deref(), Some(under_v1.as_str()));
        assert_eq!(opens(&world, &moved).unwrap(), 2);
        assert_eq!(block_on(sys.stores().live_key_versions(team)).unwrap(), [2]);
        // v1 is destroyed: what it sealed can never be opened again.
        let stale = ConnectionSecretRow {
            sealed_token: Some(under_v1),
            key_version: Some(1),
            ..moved.clone()
        };
        assert!(matches!(
            opens(&world, &stale),
            Err(ServiceError::Internal(_))
        ));
        let actions: Vec<_> = world.db.activity.borrow()[before..]
            .iter()
            .map(|r| r.action)
            .collect();
        assert_eq!(actions, ["connection.reseal", "key.retire"]);
        let retire = world.db.activity.borrow().last().unwrap().clone();
        assert_eq!(retire.details["retired_versions"], serde_json::json!([1]));
        assert_eq!(retire.actor_id, "key-reseal");
        // Another team's key and credential are untouched.
        let other = secret(&world, bystander);
        assert_eq!(other.key_version, Some(1));
        assert_eq!(opens(&world, &other).unwrap(), 1);
        // A delivered-again message finds the job over and changes nothing.
        let job = super::super::Job::KeyReseal(KeyResealJob {
            rotation: serde_json::from_value(rotated["reseal_job"].clone()).unwrap(),
            team,
            version: 2,
            meta: RequestMeta::internal("req_again".into()),
        });
        let again = block_on(super::super::run(world.deps, &job));
        assert_eq!(again.next, Next::Ack, "{}", again.log);
        assert_eq!(again.log["outcome"], "Over");
    }

    #[test]
    fn rotations_are_audited_and_only_owners_admins_and_admin_keys_rotate() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        for role in [Role::Operator, Role::Viewer, Role::Auditor] {
            let member = world.member(team, role);
            assert!(
                matches!(
                    block_on(start(&world.caller(member), team)),
                    Err(ServiceError::Forbidden)
                ),
                "{role:?}"
            );
        }
        let outsider = world.user();
        assert!(block_on(start(&world.caller(outsider), team)).is_err());
        let reader = world.key_caller(owner, team, &[Scope::Read, Scope::Backup]);
        assert!(block_on(start(&reader, team)).is_err());
        assert!(world.db.activity.borrow().is_empty());

        let admin = world.member(team, Role::Admin);
        let first = block_on(start(&world.caller(admin), team)).unwrap();
        assert_eq!(first["version"], 1, "a team without a key gets its first");
        let key = world.key_caller(owner, team, &[Scope::Admin]);
        assert_eq!(block_on(start(&key, team)).unwrap()["version"], 2);
        let rows = world.db.activity.borrow().clone();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.action == "key.rotate"));
        assert_eq!(rows[1].details["version"], 2);
        assert_eq!(rows[1].details["master_key_id"], "k1");
        assert!(rows[1].key_id.is_some(), "a key's rotation names the key");
        world.drain_queue();
        assert_eq!(
            block_on(world.system("t").stores().live_key_versions(team)).unwrap(),
            [2]
        );
    }

    fn reads(world: &World, row: &crate::store::BackupRow) -> Result<(), ServiceError> {
        let sys = world.system("test");
        let reader = block_on(read_snapshot(&sys, world.deps.store, row))?;
        block_on(reader.tenant_snapshot())?;
        Ok(())
    }

    #[test]
    fn rotation_moves_each_backup_key_once_and_old_backups_still_open() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let (_, backup) = world.backed_up(owner);
        let before = world.db.backup_key(backup.id).unwrap();
        assert_eq!(before.key_version, Some(1));
        assert_eq!(before.snapshot_secret_id.as_deref(), Some("legacy"));
        reads(&world, &backup).unwrap();

        let rotated = block_on(start(&world.caller(owner), team)).unwrap();
        world.drain_queue();
        let after = world.db.backup_key(backup.id).unwrap();
        assert_eq!(after.key_version, Some(2));
        assert_ne!(after.sealed_key, before.sealed_key);
        assert_eq!(
            block_on(world.system("t").stores().live_key_versions(team)).unwrap(),
            [2]
        );
        // v1 is destroyed, yet the backup taken under it still opens.
        reads(&world, &backup).unwrap();
        let moves = |world: &World| {
            world
                .db
                .activity
                .borrow()
                .iter()
                .filter(|r| r.action == "backup.key_reseal")
                .map(|r| (r.target_id.clone(), r.details["from_version"].clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            moves(&world),
            [(backup.id.to_string(), serde_json::json!(1))]
        );
        // Delivered again: nothing moves twice.
        let job = super::super::Job::KeyReseal(KeyResealJob {
            rotation: serde_json::from_value(rotated["reseal_job"].clone()).unwrap(),
            team,
            version: 2,
            meta: RequestMeta::internal("req_again".into()),
        });
        block_on(super::super::run(world.deps, &job));
        assert_eq!(moves(&world).len(), 1);
        // The job's own compare-and-swap refuses a stale move.
        let sys = world.system("t");
        let audit = sys.audit(Event {
            team,
            action: "backup.key_reseal",
            target_type: "backup",
            target_id: backup.id.to_string(),
            details: json!({}),
        });
        let sealed = after.sealed_key.clone().unwrap();
        assert!(!block_on(
            sys.stores()
                .reseal_backup_key(backup.id, 1, &sealed, 3, &audit)
        )
        .unwrap());
    }

    #[test]
    fn a_sealed_key_opens_only_for_its_own_backup_and_team() {
        let world = World::new();
        let owner = world.user();
        let (connection, first) = world.backed_up(owner);
        let run = block_on(crate::jobs::backup::request(
            &world.caller(owner),
            connection,
        ))
        .unwrap();
        world.drain_queue();
        let second = world
            .db
            .backups()
            .into_iter()
            .find(|b| b.id == run.id)
            .unwrap();
        let own = world.db.backup_key(second.id).unwrap();
        reads(&world, &second).unwrap();
        let mut swapped = own.clone();
        swapped.sealed_key = world.db.backup_key(first.id).unwrap().sealed_key;
        world.db.set_backup_key(swapped);
        assert!(matches!(
            reads(&world, &second),
            Err(ServiceError::Internal(_))
        ));
        world.db.set_backup_key(own);
        reads(&world, &second).unwrap();
    }

    #[test]
    fn backups_from_before_per_backup_keys_use_the_legacy_derivation() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let (connection, backup) = world.backed_up(owner);
        world.db.set_backup_key(crate::store::BackupKeyRow {
            id: backup.id,
            team_id: team,
            sealed_key: None,
            key_version: None,
            snapshot_secret_id: None,
        });
        let sys = world.system("test");
        let key = block_on(snapshot_key(&sys, team, backup.id, connection)).unwrap();
        let legacy = SnapshotKey::derive(
            world.deps.config.snapshot_secret.get("legacy").unwrap(),
            &team.to_string(),
            &connection.to_string(),
        );
        let sealed = seal_object(&legacy, world.deps.rng, "ctx", b"[]");
        assert_eq!(open_object(&key, "ctx", &sealed).unwrap(), b"[]");
    }

    /// Crypto-shredding: once every version of the team's data key is destroyed, its backups
    /// are refused with a stable code, and the refusal is in the team's trail.
    #[test]
    fn destroying_a_teams_keys_makes_its_backups_unreadable() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let (_, backup) = world.backed_up(owner);
        let other_owner = world.user();
        let (_, bystander) = world.backed_up(other_owner);
        let issued = block_on(downloads::issue_url(
            &world.caller(owner),
            backup.id,
            "users",
        ))
        .unwrap();
        world.db.destroy_tenant_keys(team);

        assert!(matches!(
            reads(&world, &backup),
            Err(ServiceError::SnapshotKeyDestroyed)
        ));
        let query = issued.url.split_once('?').unwrap().1;
        let meta = RequestMeta::internal("req_dl".into());
        assert!(matches!(
            block_on(downloads::serve(world.deps, &meta, query)),
            Err(ServiceError::SnapshotKeyDestroyed)
        ));
        let refused = world.db.activity.borrow().last().unwrap().clone();
        assert_eq!(refused.action, "backup.download_refused");
        assert_eq!(refused.details["reason"], "snapshot_key_destroyed");
        let api = crate::api::error::ApiError::from(ServiceError::SnapshotKeyDestroyed);
        assert_eq!((api.status, api.code), (410, "snapshot_key_destroyed"));
        // Another team's backups are untouched.
        reads(&world, &bystander).unwrap();
    }
}
