//! In-memory stores for unit tests of the use cases, with the database's rules that matter to
//! them: tenancy (a caller sees only its teams, an API key only its own team, each table by the
//! permission its RLS policy asks), no audited write by a caller, one running run per
//! connection, state guards, the last-owner rule, final revocation, and every audited change
//! appended to `activity` with its record. `fail_on` makes the next call of one operation fail.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::authz::matrix::{
    role_allows, scopes_allow, team_role_allows, Action, Role, DOWNLOAD_GRANTABLE,
};
use crate::authz::KeyGrant;
use crate::billing::account::BillingAccount;
use crate::billing::plans::{PlanId, Usage};
use crate::compliance::remediation::State;
use crate::drift::capture::alerts::AlertRule;
use crate::ids::{
    ApiKeyId, BackupId, ComplianceRunId, ConnectionId, DriftAlertId, DriftCaptureId, DrillId,
    GuidanceRecordId, InvitationId, RestorePlanId, TeamId, UserId,
};
use crate::lifecycle::deletion::{DeletionState, PurgeStep, TeamDeletion};
use crate::lifecycle::retention::PlanPeriod;

mod email;
pub use email::OutboxEntry;

/// A stored connection: what members see, and the credential they never do.
#[derive(Clone)]
struct StoredConnection {
    row: ConnectionRow,
    sealed_token: Option<String>,
}

#[derive(Clone)]
struct StoredInvitation {
    row: InvitationRow,
    token_hash: String,
}

#[derive(Clone)]
struct StoredKey {
    row: ApiKeyRow,
    secret_hash: String,
}

#[derive(Clone)]
struct Checkpoint {
    seq: i64,
    token: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    state: Value,
    failures: u32,
    started_at: DateTime<Utc>,
    finished: bool,
}

#[derive(Default)]
struct Tables {
    teams: Vec<(TeamRow, UserId)>,
    members: Vec<MemberRow>,
    connections: Vec<StoredConnection>,
    backups: Vec<BackupRow>,
    /// The backups' snapshot keys (a column users cannot read, kept apart like credentials).
    backup_keys: Vec<BackupKeyRow>,
    invitations: Vec<StoredInvitation>,
    /// Roles granted downloads per team (`team_download_roles`).
    download_roles: Vec<(TeamId, Role)>,
    keys: Vec<StoredKey>,
    runs: Vec<ComplianceRunRow>,
    findings: Vec<FindingRow>,
    remediations: Vec<RemediationRow>,
    tenant_keys: Vec<TenantKeyRow>,
    /// Versions retired (their key destroyed): never live again, never reused.
    retired_keys: Vec<(TeamId, u32)>,
    checkpoints: BTreeMap<JobKey, Checkpoint>,
    /// Rows unreadable as connections (`active_connections` reports them one by one).
    unreadable: Vec<UnreadableRow>,
    /// `team_billing`, with a write counter standing in for `updated_at`.
    billing: BTreeMap<TeamId, (BillingAccount, u64)>,
    plan_history: Vec<(TeamId, PlanPeriod)>,
    stripe_events: Vec<String>,
    ai_settings: Vec<AiSettingsRow>,
    ai_usage: BTreeMap<TeamId, crate::ai::budget::Usage>,
    guidance: Vec<GuidanceRecordRow>,
    chain_heads: Vec<ChainHeadRow>,
    /// Chained activity rows, as the trigger would have written them (`set_chain_rows`).
    chain_rows: Vec<crate::evidence::chain::ChainedRow>,
    allow_lists: BTreeMap<TeamId, Vec<String>>,
    restore_plans: Vec<RestorePlanRow>,
    drill_settings: Vec<DrillSettingsRow>,
    drills: Vec<DrillRow>,
    /// `team_restore_settings.second_approver`.
    restore_settings: BTreeMap<TeamId, bool>,
    /// `restore_approvals`, with each plan's team.
    restore_approvals: Vec<(TeamId, RestoreApprovalRow)>,
    /// Each `verify_chain` call: the team and the anchor positions it was given.
    verifications: Vec<(TeamId, Vec<i64>)>,
    /// `backup_holds`.
    holds: Vec<(BackupId, TeamId, HoldKind, Uuid)>,
    /// Backups marked for pruning (`backups.pruning_at`).
    pruning: std::collections::BTreeSet<BackupId>,
    /// `team_deletions`.
    deletions: BTreeMap<TeamId, TeamDeletion>,
    /// `resource_versions`, ids in insertion order (heads are derived, as the database keeps
    /// them: the latest by capture time, then id).
    versions: Vec<(i64, NewVersion)>,
    /// `resource_index_seen`.
    index_seen: std::collections::BTreeSet<(BackupId, crate::tenant::ResourceType, String)>,
    /// `resource_index_progress`, with its sweep cursor.
    index_progress: BTreeMap<BackupId, (IndexProgress, Option<String>)>,
    drift: BTreeMap<ConnectionId, StoredDrift>,
    drift_captures: Vec<DriftCaptureRow>,
    drift_alerts: Vec<DriftAlertRow>,
    /// `butterfly_okta_writes`: connection and Okta transaction id.
    butterfly_writes: Vec<(ConnectionId, String)>,
    email: email::EmailTables,
}

/// A connection's `drift_settings` row, with the check's hidden state.
#[derive(Clone)]
struct StoredDrift {
    settings: DriftSettingsRow,
    cursor: Option<String>,
    base: Option<BackupId>,
    last_seq: u32,
}

/// The database, in memory.
pub struct MemoryDb {
    tables: RefCell<Tables>,
    /// Every audit record written, in order.
    pub activity: RefCell<Vec<AuditRecord>>,
    now: Cell<DateTime<Utc>>,
    failing: RefCell<Vec<&'static str>>,
}

use serde_json::Value;

impl MemoryDb {
    pub fn new(now: DateTime<Utc>) -> Self {
        MemoryDb {
            tables: RefCell::default(),
            activity: RefCell::default(),
            now: Cell::new(now),
            failing: RefCell::default(),
        }
    }

    /// The activity chains' heads (the trigger keeps them in the real database).
    pub fn set_chain_heads(&self, heads: Vec<ChainHeadRow>) {
        self.tables.borrow_mut().chain_heads = heads;
    }

    /// The chained activity rows an audit pack reads (the trigger writes them in the real
    /// database).
    pub fn set_chain_rows(&self, rows: Vec<crate::evidence::chain::ChainedRow>) {
        self.tables.borrow_mut().chain_rows = rows;
    }

    /// The `verify_chain` calls so far: team and anchor positions.
    pub fn verifications(&self) -> Vec<(TeamId, Vec<i64>)> {
        self.tables.borrow().verifications.clone()
    }

    /// Every drift alert, for assertions.
    pub fn drift_alerts(&self) -> Vec<DriftAlertRow> {
        self.tables.borrow().drift_alerts.clone()
    }

    /// Every recorded capture, for assertions.
    pub fn drift_captures(&self) -> Vec<DriftCaptureRow> {
        self.tables.borrow().drift_captures.clone()
    }

    /// A connection's check as the worker sees it: cursor, base, last sequence number.
    pub fn drift_cursor(
        &self,
        id: ConnectionId,
    ) -> Option<(Option<String>, Option<BackupId>, u32)> {
        let t = self.tables.borrow();
        t.drift
            .get(&id)
            .map(|d| (d.cursor.clone(), d.base, d.last_seq))
    }

    /// Makes every connection's drift check due now (as time passing would).
    pub fn drift_due_now(&self) {
        let now = self.now.get();
        for d in self.tables.borrow_mut().drift.values_mut() {
            d.settings.next_due_at = now;
        }
    }

    /// Records an Okta write of Butterfly's own (as a restore does).
    pub fn add_butterfly_write(&self, connection: ConnectionId, transaction: &str) {
        self.tables
            .borrow_mut()
            .butterfly_writes
            .push((connection, transaction.to_string()));
    }

    /// The database's clock (runs open at this time).
    pub fn set_now(&self, now: DateTime<Utc>) {
        self.now.set(now);
    }

    /// The next call of operation `op` (a store method's name) fails as if the database were
    /// unreachable.
    pub fn fail_on(&self, op: &'static str) {
        self.failing.borrow_mut().push(op);
    }

    /// A team with `owner` as its owner (what sign-up or a team creation does).
    pub fn add_team(&self, id: TeamId, owner: UserId, personal: bool) {
        let mut t = self.tables.borrow_mut();
        t.teams.push((
            TeamRow {
                id,
                name: "team".into(),
                personal,
            },
            owner,
        ));
        t.members.push(MemberRow {
            team_id: id,
            user_id: owner,
            role: Role::Owner,
            created_at: self.now.get(),
        });
        t.email.sign_up(owner);
        // The database's `team_billing_init` trigger.
        t.billing.insert(id, (BillingAccount::new(id), 0));
        t.plan_history.push((
            id,
            PlanPeriod {
                plan: PlanId::Free,
                from: self.now.get(),
            },
        ));
    }

    /// The plan periods of a team, for assertions.
    pub fn plan_periods(&self, team: TeamId) -> Vec<PlanPeriod> {
        let t = self.tables.borrow();
        t.plan_history
            .iter()
            .filter(|(id, _)| *id == team)
            .map(|(_, p)| *p)
            .collect()
    }

    pub fn add_member(&self, team: TeamId, user: UserId, role: Role) {
        let mut t = self.tables.borrow_mut();
        t.members.push(MemberRow {
            team_id: team,
            user_id: user,
            role,
            created_at: self.now.get(),
        });
        t.email.sign_up(user);
    }

    /// A row `active_connections` cannot read (as a row written around the worker would be).
    pub fn add_unreadable_connection(&self, row: UnreadableRow) {
        self.tables.borrow_mut().unreadable.push(row);
    }

    /// Replaces a connection's credential and key version (as a write from before a rotation).
    pub fn set_connection_secret(&self, id: ConnectionId, sealed: &str, version: u32) {
        let mut t = self.tables.borrow_mut();
        let c = t
            .connections
            .iter_mut()
            .find(|c| c.row.id == id)
            .expect("connection");
        c.sealed_token = Some(sealed.to_string());
        c.row.key_version = Some(version);
    }

    /// Evidence as earlier runs left it (audit-pack tests): a backup, a compliance run and its
    /// findings.
    pub fn insert_evidence(
        &self,
        backup: BackupRow,
        run: ComplianceRunRow,
        findings: Vec<FindingRow>,
    ) {
        let mut t = self.tables.borrow_mut();
        t.backups.push(backup);
        t.runs.push(run);
        t.findings.extend(findings);
    }

    /// Stores an AI guidance record as the guidance service would have.
    pub fn insert_guidance(&self, row: GuidanceRecordRow) {
        self.tables.borrow_mut().guidance.push(row);
    }

    /// Every backup row, for assertions.
    pub fn backups(&self) -> Vec<BackupRow> {
        self.tables.borrow().backups.clone()
    }

    /// Every recorded version, in recording order, for assertions.
    pub fn versions(&self) -> Vec<NewVersion> {
        let t = self.tables.borrow();
        t.versions.iter().map(|(_, v)| v.clone()).collect()
    }

    /// Seen marks still kept (`resource_index_seen`), for assertions.
    pub fn index_seen_count(&self) -> usize {
        self.tables.borrow().index_seen.len()
    }

    /// A backup's stored snapshot key, for assertions.
    pub fn backup_key(&self, id: BackupId) -> Option<BackupKeyRow> {
        let t = self.tables.borrow();
        t.backup_keys.iter().find(|k| k.id == id).cloned()
    }

    /// Replaces a backup's stored snapshot key (as a row from before per-backup keys, or one
    /// sealed just before a rotation).
    pub fn set_backup_key(&self, row: BackupKeyRow) {
        let mut t = self.tables.borrow_mut();
        let k = t
            .backup_keys
            .iter_mut()
            .find(|k| k.id == row.id)
            .expect("backup");
        *k = row;
    }

    /// Destroys every version of a team's data key (crypto-shredding).
    pub fn destroy_tenant_keys(&self, team: TeamId) {
        let mut t = self.tables.borrow_mut();
        let destroyed: Vec<u32> = t
            .tenant_keys
            .iter()
            .filter(|k| k.team_id == team)
            .map(|k| k.version)
            .collect();
        t.tenant_keys.retain(|k| k.team_id != team);
        t.retired_keys
            .extend(destroyed.into_iter().map(|v| (team, v)));
    }

    /// Every compliance run row, for assertions.
    pub fn runs(&self) -> Vec<ComplianceRunRow> {
        self.tables.borrow().runs.clone()
    }

    /// The actions of the audit rows written so far.
    pub fn actions(&self) -> Vec<&'static str> {
        self.activity.borrow().iter().map(|r| r.action).collect()
    }

    /// Overwrites a connection's last-error note (as a test's precondition).
    pub fn connection_error(&self, id: ConnectionId) -> Option<String> {
        let t = self.tables.borrow();
        t.connections
            .iter()
            .find(|c| c.row.id == id)
            .and_then(|c| c.row.last_error.clone())
    }

    fn check(&self, op: &'static str) -> Result<(), DbError> {
        let mut failing = self.failing.borrow_mut();
        match failing.iter().position(|f| *f == op) {
            Some(i) => {
                failing.remove(i);
                Err(DbError::Unavailable(format!("injected failure of {op}")))
            }
            None => Ok(()),
        }
    }

    fn audit(&self, audit: &AuditRecord, team: TeamId) {
        let mut record = audit.clone();
        record.team_id = Some(team);
        self.activity.borrow_mut().push(record);
    }
}

impl Database for MemoryDb {
    fn stores<'a>(&'a self, acting: Acting<'_>, _request_id: &str) -> Box<dyn Stores + 'a> {
        Box::new(MemoryStores {
            db: self,
            caller: match acting {
                Acting::Caller(p) => Some((p.user, p.key.clone())),
                Acting::System => None,
            },
        })
    }
}

struct MemoryStores<'a> {
    db: &'a MemoryDb,
    /// `None`: the service role.
    caller: Option<(UserId, Option<KeyGrant>)>,
}

impl MemoryStores<'_> {
    /// RLS's `public.can(team, action)`.
    fn can(&self, t: &Tables, team: TeamId, action: Action) -> bool {
        let Some((user, key)) = &self.caller else {
            return true;
        };
        let role = t
            .members
            .iter()
            .find(|m| m.team_id == team && m.user_id == *user)
            .map(|m| m.role);
        let key_ok = key
            .as_ref()
            .is_none_or(|k| k.team == team && scopes_allow(&k.scopes, action));
        let granted = download_roles(t, team);
        role.is_some_and(|r| team_role_allows(r, action, &granted)) && key_ok
    }

    /// Audited writes are the service role's alone.
    fn system(&self, op: &'static str) -> Result<(), DbError> {
        self.db.check(op)?;
        match self.caller {
            None => Ok(()),
            Some(_) => Err(DbError::Forbidden),
        }
    }

    fn read(&self, op: &'static str) -> Result<std::cell::Ref<'_, Tables>, DbError> {
        self.db.check(op)?;
        Ok(self.db.tables.borrow())
    }

    fn now(&self) -> DateTime<Utc> {
        self.db.now.get()
    }
}

#[async_trait(?Send)]
impl ConnectionStore for MemoryStores<'_> {
    async fn connections(&self) -> Result<Vec<ConnectionRow>, DbError> {
        let t = self.read("connections")?;
        let mut rows: Vec<_> = t
            .connections
            .iter()
            .filter(|c| c.row.status != ConnectionStatus::Deleted)
            .filter(|c| self.can(&t, c.row.team_id, Action::TeamRead))
            .map(|c| c.row.clone())
            .collect();
        rows.reverse();
        Ok(rows)
    }

    async fn connection(&self, id: ConnectionId) -> Result<Option<ConnectionRow>, DbError> {
        let t = self.read("connection")?;
        Ok(t.connections
            .iter()
            .find(|c| {
                c.row.id == id
                    && c.row.status != ConnectionStatus::Deleted
                    && self.can(&t, c.row.team_id, Action::TeamRead)
            })
            .map(|c| c.row.clone()))
    }

    async fn connection_secret(
        &self,
        id: ConnectionId,
    ) -> Result<Option<ConnectionSecretRow>, DbError> {
        self.system("connection_secret")?;
        let t = self.db.tables.borrow();
        Ok(t.connections
            .iter()
            .find(|c| c.row.id == id && c.row.status == ConnectionStatus::Active)
            .map(secret_row))
    }

    async fn active_connections(
        &self,
    ) -> Result<Vec<Result<ConnectionSecretRow, UnreadableRow>>, DbError> {
        self.system("active_connections")?;
        let t = self.db.tables.borrow();
        let mut rows: Vec<_> = t.unreadable.iter().cloned().map(Err).collect();
        rows.extend(
            t.connections
                .iter()
                .filter(|c| c.row.status == ConnectionStatus::Active)
                .map(|c| Ok(secret_row(c))),
        );
        Ok(rows)
    }

    async fn create_connection(
        &self,
        row: &NewConnection,
        audit: &AuditRecord,
    ) -> Result<ConnectionRow, DbError> {
        self.system("create_connection")?;
        let mut t = self.db.tables.borrow_mut();
        let taken = t.connections.iter().any(|c| {
            c.row.team_id == row.team_id
                && c.row.org_domain == row.org_domain
                && c.row.status != ConnectionStatus::Deleted
        });
        if taken {
            return Err(DbError::Conflict);
        }
        let now = self.now();
        let stored = ConnectionRow {
            id: row.id,
            team_id: row.team_id,
            created_by: row.created_by,
            org_domain: row.org_domain.clone(),
            auth_type: row.auth_type,
            granted_scopes: row.granted_scopes.clone(),
            key_version: Some(row.key_version),
            status: ConnectionStatus::Active,
            environment: Default::default(),
            last_error: None,
            verified_at: row.verified_at,
            created_at: now,
            updated_at: now,
            client_id: row.client_id.clone(),
            key_id: row.key_id.clone(),
            key_created_at: row.key_created_at,
            requested_scopes: row.requested_scopes.clone(),
            missing_scopes: Vec::new(),
            last_success_at: row.verified_at,
        };
        t.connections.push(StoredConnection {
            row: stored.clone(),
            sealed_token: Some(row.sealed_token.clone()),
        });
        self.db.audit(audit, row.team_id);
        Ok(stored)
    }

    async fn verify_connection(
        &self,
        id: ConnectionId,
        granted: &[String],
        missing: &[String],
        audit: &AuditRecord,
    ) -> Result<ConnectionRow, DbError> {
        self.system("verify_connection")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let c = t
            .connections
            .iter_mut()
            .find(|c| {
                c.row.id == id
                    && c.row.status == ConnectionStatus::Active
                    && c.row.auth_type == AuthType::OauthPrivateKeyJwt
            })
            .ok_or(DbError::Conflict)?;
        c.row.granted_scopes = granted.to_vec();
        c.row.missing_scopes = missing.to_vec();
        c.row.verified_at = Some(now);
        c.row.last_success_at = Some(now);
        c.row.last_error = None;
        c.row.updated_at = now;
        let row = c.row.clone();
        self.db.audit(audit, row.team_id);
        Ok(row)
    }

    async fn delete_connection(
        &self,
        id: ConnectionId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("delete_connection")?;
        let mut t = self.db.tables.borrow_mut();
        let Some(c) = t
            .connections
            .iter_mut()
            .find(|c| c.row.id == id && c.row.status != ConnectionStatus::Deleted)
        else {
            return Ok(false);
        };
        c.row.status = ConnectionStatus::Deleted;
        c.sealed_token = None;
        let team = c.row.team_id;
        self.db.audit(audit, team);
        Ok(true)
    }

    async fn note_connection_error(
        &self,
        id: ConnectionId,
        error: &str,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.system("note_connection_error")?;
        let mut t = self.db.tables.borrow_mut();
        let c = t
            .connections
            .iter_mut()
            .find(|c| c.row.id == id)
            .ok_or(DbError::Conflict)?;
        c.row.last_error = Some(error.to_string());
        let team = c.row.team_id;
        self.db.audit(audit, team);
        Ok(())
    }
}

/// Records each version its backup or capture has not recorded yet (as
/// `resource_versions_record` does); returns how many were new.
fn insert_versions(table: &mut Vec<(i64, NewVersion)>, versions: &[NewVersion]) -> u32 {
    let mut added = 0;
    for v in versions {
        let recorded = table.iter().any(|(_, w)| {
            w.source == v.source
                && w.resource_type == v.resource_type
                && w.resource_id == v.resource_id
        });
        if !recorded {
            let id = table.len() as i64 + 1;
            table.push((id, v.clone()));
            added += 1;
        }
    }
    added
}

/// A resource's head: its latest version by capture time, then id (what the database keeps).
fn head_of<'v>(
    versions: &'v [(i64, NewVersion)],
    connection: ConnectionId,
    resource: crate::tenant::ResourceType,
    resource_id: &str,
) -> Option<&'v NewVersion> {
    versions
        .iter()
        .filter(|(_, v)| {
            v.connection_id == connection
                && v.resource_type == resource
                && v.resource_id == resource_id
        })
        .max_by_key(|(id, v)| (v.captured_at, *id))
        .map(|(_, v)| v)
}

/// `resource_index_backup`: the complete backup being indexed.
fn indexed_backup(t: &Tables, backup: BackupId) -> Result<BackupRow, DbError> {
    t.backups
        .iter()
        .find(|b| b.id == backup && b.status == BackupStatus::Complete)
        .cloned()
        .ok_or(DbError::Forbidden)
}

/// `resource_index_advance`: moves the progress from `step` to the next, or refuses.
fn advance_index(
    t: &mut Tables,
    backup: BackupId,
    step: u64,
    checkpoint: IndexCheckpoint,
    after: Option<String>,
) -> bool {
    match t.index_progress.get_mut(&backup) {
        None if step == 0 => {
            let progress = IndexProgress {
                step: 1,
                checkpoint,
                done: false,
            };
            t.index_progress.insert(backup, (progress, after));
            true
        }
        Some((p, cursor)) if p.step == step && !p.done => {
            p.step += 1;
            p.checkpoint = checkpoint;
            *cursor = after;
            true
        }
        _ => false,
    }
}

fn secret_row(c: &StoredConnection) -> ConnectionSecretRow {
    ConnectionSecretRow {
        id: c.row.id,
        team_id: c.row.team_id,
        created_by: c.row.created_by,
        org_domain: c.row.org_domain.clone(),
        auth_type: c.row.auth_type,
        sealed_token: c.sealed_token.clone(),
        key_version: c.row.key_version,
        status: c.row.status,
        granted_scopes: c.row.granted_scopes.clone(),
    }
}

#[async_trait(?Send)]
impl BackupStore for MemoryStores<'_> {
    async fn backup(&self, id: BackupId) -> Result<Option<BackupRow>, DbError> {
        let t = self.read("backup")?;
        Ok(t.backups
            .iter()
            .find(|b| b.id == id && self.can(&t, b.team_id, Action::TeamRead))
            .cloned())
    }

    async fn backup_key(&self, id: BackupId) -> Result<Option<BackupKeyRow>, DbError> {
        self.system("backup_key")?;
        let t = self.db.tables.borrow();
        Ok(t.backup_keys.iter().find(|k| k.id == id).cloned())
    }

    async fn backups_of(&self, connection: ConnectionId) -> Result<Vec<BackupRow>, DbError> {
        let t = self.read("backups_of")?;
        let mut rows: Vec<_> = t
            .backups
            .iter()
            .filter(|b| b.connection_id == connection && self.can(&t, b.team_id, Action::TeamRead))
            .cloned()
            .collect();
        rows.reverse();
        rows.truncate(100);
        Ok(rows)
    }

    async fn latest_complete_backup(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<BackupRow>, DbError> {
        let t = self.read("latest_complete_backup")?;
        Ok(t.backups
            .iter()
            .filter(|b| {
                b.connection_id == connection
                    && b.status == BackupStatus::Complete
                    && self.can(&t, b.team_id, Action::TeamRead)
            })
            .max_by_key(|b| b.finished_at)
            .cloned())
    }

    async fn open_backup(
        &self,
        row: &NewBackup,
        stale_after_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<BackupRow, DbError> {
        self.system("open_backup")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let live = t.connections.iter().any(|c| {
            c.row.id == row.connection_id
                && c.row.team_id == row.team_id
                && c.row.status == ConnectionStatus::Active
        });
        // The `backups_live_key` trigger: the key is sealed under a live data-key version.
        let key_live = t
            .tenant_keys
            .iter()
            .any(|k| k.team_id == row.team_id && k.version == row.key_version);
        if !live || !key_live {
            return Err(DbError::Constraint);
        }
        let stale_before = now - Duration::seconds(stale_after_seconds.into());
        let mut swept = Vec::new();
        for b in t.backups.iter_mut().filter(|b| {
            b.connection_id == row.connection_id
                && b.status == BackupStatus::Running
                && b.heartbeat_at.unwrap_or(b.started_at) < stale_before
        }) {
            b.status = BackupStatus::Failed;
            b.finished_at = Some(now);
            b.error = Some("interrupted: the backup job stopped before finishing".into());
            swept.push(b.id);
        }
        for id in swept {
            notify_backup_failed(
                &mut t,
                row.team_id,
                row.connection_id,
                id,
                "interrupted: the backup job stopped before finishing",
                now,
            );
            let mut record = audit.clone();
            record.action = "backup.error";
            record.target_type = "backup";
            record.target_id = id.to_string();
            record.details =
                json!({"reason": "interrupted: the backup job stopped before finishing"});
            self.db.audit(&record, row.team_id);
            if let Some(c) = t.checkpoints.get_mut(&backup_key(id)) {
                c.finished = true;
            }
        }
        let running = t
            .backups
            .iter()
            .any(|b| b.connection_id == row.connection_id && b.status == BackupStatus::Running);
        if running {
            return Err(DbError::Conflict);
        }
        let stored = BackupRow {
            id: row.id,
            team_id: row.team_id,
            connection_id: row.connection_id,
            requested_by: row.requested_by,
            trigger: row.trigger,
            status: BackupStatus::Running,
            started_at: now,
            finished_at: None,
            r2_prefix: row.r2_prefix.clone(),
            counts: json!({}),
            object_count: None,
            sealed_bytes: None,
            manifest_sha256: None,
            error: None,
            heartbeat_at: None,
            slices: 0,
        };
        t.backups.push(stored.clone());
        t.backup_keys.push(BackupKeyRow {
            id: row.id,
            team_id: row.team_id,
            sealed_key: Some(row.sealed_key.clone()),
            key_version: Some(row.key_version),
            snapshot_secret_id: Some(row.snapshot_secret_id.clone()),
        });
        t.checkpoints.insert(
            backup_key(row.id),
            Checkpoint {
                seq: 0,
                token: None,
                lease_until: None,
                state: json!({}),
                failures: 0,
                started_at: now,
                finished: false,
            },
        );
        if let Some(c) = t
            .connections
            .iter_mut()
            .find(|c| c.row.id == row.connection_id)
        {
            c.row.last_error = None;
        }
        self.db.audit(audit, row.team_id);
        Ok(stored)
    }

    async fn complete_backup(
        &self,
        id: BackupId,
        result: &BackupResult,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.system("complete_backup")?;
        let mut t = self.db.tables.borrow_mut();
        let b = running_backup(&mut t, id)?;
        b.status = BackupStatus::Complete;
        b.finished_at = Some(result.finished_at);
        b.counts = result.counts.clone();
        b.object_count = Some(result.object_count);
        b.sealed_bytes = Some(result.sealed_bytes);
        b.manifest_sha256 = Some(result.manifest_sha256.clone());
        let team = b.team_id;
        finish_checkpoint(&mut t, backup_key(id));
        self.db.audit(audit, team);
        Ok(())
    }

    async fn fail_backup(
        &self,
        id: BackupId,
        reason: &str,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.system("fail_backup")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let b = running_backup(&mut t, id)?;
        b.status = BackupStatus::Failed;
        b.finished_at = Some(now);
        b.error = Some(reason.to_string());
        let (team, connection) = (b.team_id, b.connection_id);
        finish_checkpoint(&mut t, backup_key(id));
        notify_backup_failed(&mut t, team, connection, id, reason, now);
        self.db.audit(audit, team);
        Ok(())
    }
}

/// The `backups_failed_notify` trigger: the team's owners and admins are alerted.
fn notify_backup_failed(
    t: &mut Tables,
    team: TeamId,
    connection: ConnectionId,
    backup: BackupId,
    reason: &str,
    now: DateTime<Utc>,
) {
    let domain = t
        .connections
        .iter()
        .find(|c| c.row.id == connection)
        .map(|c| c.row.org_domain.clone())
        .unwrap_or_default();
    email::backup_failed(t, team, backup, &domain, reason, now);
}

fn backup_key(id: BackupId) -> JobKey {
    JobKey {
        kind: "backup",
        id: id.as_uuid(),
    }
}

fn running_backup(t: &mut Tables, id: BackupId) -> Result<&mut BackupRow, DbError> {
    t.backups
        .iter_mut()
        .find(|b| b.id == id && b.status == BackupStatus::Running)
        .ok_or(DbError::Conflict)
}

fn finish_checkpoint(t: &mut Tables, key: JobKey) {
    if let Some(c) = t.checkpoints.get_mut(&key) {
        c.finished = true;
        c.token = None;
        c.lease_until = None;
    }
}

#[async_trait(?Send)]
impl TeamStore for MemoryStores<'_> {
    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, DbError> {
        let t = self.read("memberships")?;
        Ok(t.members
            .iter()
            .filter(|m| m.user_id == user && self.can(&t, m.team_id, Action::TeamRead))
            .map(|m| Membership {
                team_id: m.team_id,
                role: m.role,
            })
            .collect())
    }

    async fn role_in(&self, user: UserId, team: TeamId) -> Result<Option<Role>, DbError> {
        let t = self.read("role_in")?;
        Ok(t.members
            .iter()
            .find(|m| {
                m.user_id == user && m.team_id == team && self.can(&t, team, Action::TeamRead)
            })
            .map(|m| m.role))
    }

    async fn personal_team(&self, user: UserId) -> Result<Option<TeamId>, DbError> {
        let t = self.read("personal_team")?;
        Ok(t.teams
            .iter()
            .find(|(team, owner)| {
                *owner == user && team.personal && self.can(&t, team.id, Action::TeamRead)
            })
            .map(|(team, _)| team.id))
    }

    async fn teams(&self) -> Result<Vec<TeamRow>, DbError> {
        let t = self.read("teams")?;
        Ok(t.teams
            .iter()
            .filter(|(team, _)| self.can(&t, team.id, Action::TeamRead))
            .map(|(team, _)| team.clone())
            .collect())
    }

    async fn members(&self, team: TeamId) -> Result<Vec<MemberRow>, DbError> {
        let t = self.read("members")?;
        Ok(t.members
            .iter()
            .filter(|m| m.team_id == team && self.can(&t, team, Action::TeamRead))
            .cloned()
            .collect())
    }

    async fn set_member_role(
        &self,
        team: TeamId,
        user: UserId,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("set_member_role")?;
        let mut t = self.db.tables.borrow_mut();
        let owners = owners(&t, team);
        let Some(m) = t
            .members
            .iter_mut()
            .find(|m| m.team_id == team && m.user_id == user)
        else {
            return Ok(false);
        };
        if m.role == Role::Owner && role != Role::Owner && owners == 1 {
            return Err(DbError::Constraint);
        }
        m.role = role;
        self.db.audit(audit, team);
        Ok(true)
    }

    async fn remove_member(
        &self,
        team: TeamId,
        user: UserId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("remove_member")?;
        let mut t = self.db.tables.borrow_mut();
        let owners = owners(&t, team);
        let Some(i) = t
            .members
            .iter()
            .position(|m| m.team_id == team && m.user_id == user)
        else {
            return Ok(false);
        };
        if t.members[i].role == Role::Owner && owners == 1 {
            return Err(DbError::Constraint);
        }
        t.members.remove(i);
        self.db.audit(audit, team);
        Ok(true)
    }

    async fn create_invitation(
        &self,
        row: &NewInvitation,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.system("create_invitation")?;
        self.db
            .tables
            .borrow_mut()
            .invitations
            .push(StoredInvitation {
                row: InvitationRow {
                    id: row.id,
                    team_id: row.team_id,
                    email: row.email.clone(),
                    role: row.role,
                    invited_by: row.invited_by,
                    expires_at: row.expires_at,
                    accepted_at: None,
                    revoked_at: None,
                    created_at: self.now(),
                },
                token_hash: row.token_hash.clone(),
            });
        self.db.audit(audit, row.team_id);
        Ok(())
    }

    async fn invitation_by_hash(&self, hash: &str) -> Result<Option<InvitationRow>, DbError> {
        self.system("invitation_by_hash")?;
        let t = self.db.tables.borrow();
        Ok(t.invitations
            .iter()
            .find(|i| i.token_hash == hash)
            .map(|i| i.row.clone()))
    }

    async fn invitations(&self, team: TeamId) -> Result<Vec<InvitationRow>, DbError> {
        let t = self.read("invitations")?;
        if !self.can(&t, team, Action::MemberManage) {
            return Ok(Vec::new());
        }
        let mut rows: Vec<InvitationRow> = t
            .invitations
            .iter()
            .filter(|i| i.row.team_id == team)
            .map(|i| i.row.clone())
            .collect();
        rows.reverse();
        Ok(rows)
    }

    async fn revoke_invitation(
        &self,
        team: TeamId,
        id: InvitationId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("revoke_invitation")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(i) = t.invitations.iter_mut().find(|i| {
            i.row.id == id
                && i.row.team_id == team
                && i.row.accepted_at.is_none()
                && i.row.revoked_at.is_none()
        }) else {
            return Ok(false);
        };
        i.row.revoked_at = Some(now);
        self.db.audit(audit, team);
        Ok(true)
    }

    async fn download_roles(&self, team: TeamId) -> Result<Vec<Role>, DbError> {
        let t = self.read("download_roles")?;
        if !self.can(&t, team, Action::TeamRead) {
            return Ok(Vec::new());
        }
        Ok(download_roles(&t, team))
    }

    async fn set_download_roles(
        &self,
        team: TeamId,
        roles: &[Role],
        _by: UserId,
        audit: &AuditRecord,
    ) -> Result<Vec<Role>, DbError> {
        self.system("set_download_roles")?;
        if roles.iter().any(|r| !DOWNLOAD_GRANTABLE.contains(r)) {
            return Err(DbError::Constraint);
        }
        let mut t = self.db.tables.borrow_mut();
        t.download_roles.retain(|(id, _)| *id != team);
        let mut granted: Vec<Role> = roles.to_vec();
        granted.sort();
        granted.dedup();
        t.download_roles
            .extend(granted.iter().map(|role| (team, *role)));
        self.db.audit(audit, team);
        Ok(granted)
    }

    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        audit: &AuditRecord,
    ) -> Result<Option<MemberRow>, DbError> {
        self.system("accept_invitation")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(i) = t.invitations.iter().position(|i| {
            i.row.id == id
                && i.row.accepted_at.is_none()
                && i.row.revoked_at.is_none()
                && i.row.expires_at > now
        }) else {
            return Ok(None);
        };
        let (team, role) = (t.invitations[i].row.team_id, t.invitations[i].row.role);
        // The inviter must still be a member who may invite to that role.
        let inviter = t.invitations[i].row.invited_by;
        let inviter_may = t.members.iter().any(|m| {
            m.team_id == team
                && m.user_id == inviter
                && role_allows(m.role, Action::MemberManage)
                && (role != Role::Owner || m.role == Role::Owner)
        });
        if !inviter_may {
            return Ok(None);
        }
        if t.members
            .iter()
            .any(|m| m.team_id == team && m.user_id == user)
        {
            return Err(DbError::Conflict);
        }
        t.invitations[i].row.accepted_at = Some(now);
        let member = MemberRow {
            team_id: team,
            user_id: user,
            role,
            created_at: now,
        };
        t.members.push(member.clone());
        self.db.audit(audit, team);
        Ok(Some(member))
    }
}

fn download_roles(t: &Tables, team: TeamId) -> Vec<Role> {
    t.download_roles
        .iter()
        .filter(|(id, _)| *id == team)
        .map(|(_, role)| *role)
        .collect()
}

fn owners(t: &Tables, team: TeamId) -> usize {
    t.members
        .iter()
        .filter(|m| m.team_id == team && m.role == Role::Owner)
        .count()
}

#[async_trait(?Send)]
impl ApiKeyStore for MemoryStores<'_> {
    async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, DbError> {
        let t = self.read("api_keys")?;
        let mut rows: Vec<_> = t
            .keys
            .iter()
            .filter(|k| self.can(&t, k.row.team_id, Action::ApiKeyManage))
            .map(|k| k.row.clone())
            .collect();
        rows.reverse();
        Ok(rows)
    }

    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKeyRow>, DbError> {
        let t = self.read("api_key")?;
        Ok(t.keys
            .iter()
            .find(|k| k.row.id == id && self.can(&t, k.row.team_id, Action::ApiKeyManage))
            .map(|k| k.row.clone()))
    }

    async fn create_api_key(
        &self,
        row: &NewApiKey,
        audit: &AuditRecord,
    ) -> Result<ApiKeyRow, DbError> {
        self.system("create_api_key")?;
        // The database's per-user cap on active keys (trigger `api_keys_cap`).
        let now = self.now();
        let active = self
            .db
            .tables
            .borrow()
            .keys
            .iter()
            .filter(|k| k.row.user_id == row.user_id && k.row.revoked_at.is_none())
            .filter(|k| k.row.expires_at.is_none_or(|at| at > now))
            .count();
        if active >= super::api_keys::MAX_ACTIVE_KEYS_PER_USER {
            return Err(DbError::Conflict);
        }
        let stored = ApiKeyRow {
            id: row.id,
            team_id: row.team_id,
            user_id: row.user_id,
            name: row.name.clone(),
            scopes: row.scopes.clone(),
            expires_at: row.expires_at,
            revoked_at: None,
            last_used_at: None,
            created_at: self.now(),
        };
        self.db.tables.borrow_mut().keys.push(StoredKey {
            row: stored.clone(),
            secret_hash: row.secret_hash.clone(),
        });
        self.db.audit(audit, row.team_id);
        Ok(stored)
    }

    async fn revoke_api_key(&self, id: ApiKeyId, audit: &AuditRecord) -> Result<bool, DbError> {
        self.system("revoke_api_key")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(k) = t
            .keys
            .iter_mut()
            .find(|k| k.row.id == id && k.row.revoked_at.is_none())
        else {
            return Ok(false);
        };
        k.row.revoked_at = Some(now);
        let team = k.row.team_id;
        self.db.audit(audit, team);
        Ok(true)
    }

    async fn api_key_secret(&self, id: ApiKeyId) -> Result<Option<ApiKeySecretRow>, DbError> {
        self.system("api_key_secret")?;
        let t = self.db.tables.borrow();
        Ok(t.keys
            .iter()
            .find(|k| k.row.id == id)
            .map(|k| ApiKeySecretRow {
                team_id: k.row.team_id,
                user_id: k.row.user_id,
                secret_hash: k.secret_hash.clone(),
                scopes: k.row.scopes.clone(),
                expires_at: k.row.expires_at,
                revoked_at: k.row.revoked_at,
            }))
    }

    async fn touch_api_key(&self, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), DbError> {
        self.system("touch_api_key")?;
        if let Some(k) = self
            .db
            .tables
            .borrow_mut()
            .keys
            .iter_mut()
            .find(|k| k.row.id == id)
        {
            k.row.last_used_at = Some(now);
        }
        Ok(())
    }
}

#[async_trait(?Send)]
impl AllowListStore for MemoryStores<'_> {
    async fn allow_list(&self, team: TeamId) -> Result<Vec<String>, DbError> {
        let t = self.read("allow_list")?;
        if self.caller.is_some() && !self.can(&t, team, Action::TeamRead) {
            return Ok(Vec::new());
        }
        Ok(t.allow_lists.get(&team).cloned().unwrap_or_default())
    }

    async fn set_allow_list(
        &self,
        team: TeamId,
        entries: &[String],
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.system("set_allow_list")?;
        let mut t = self.db.tables.borrow_mut();
        if entries.is_empty() {
            t.allow_lists.remove(&team);
        } else {
            t.allow_lists.insert(team, entries.to_vec());
        }
        drop(t);
        self.db.audit(audit, team);
        Ok(())
    }
}

/// As `restore_plan_create`: the backup must be a complete one and the connection an active
/// one of the plan's team.
#[async_trait(?Send)]
impl RestoreStore for MemoryStores<'_> {
    async fn restore_plan(&self, id: RestorePlanId) -> Result<Option<RestorePlanRow>, DbError> {
        let t = self.read("restore_plan")?;
        Ok(t.restore_plans
            .iter()
            .find(|p| p.id == id && self.can(&t, p.team_id, Action::BackupRead))
            .cloned())
    }

    async fn create_restore_plan(
        &self,
        row: &NewRestorePlan,
        ttl_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<RestorePlanRow, DbError> {
        self.system("create_restore_plan")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let backup_ok = t.backups.iter().any(|b| {
            b.id == row.source_backup_id
                && b.team_id == row.team_id
                && b.status == BackupStatus::Complete
        });
        let target_ok = t.connections.iter().any(|c| {
            c.row.id == row.target_connection_id
                && c.row.team_id == row.team_id
                && c.row.status == ConnectionStatus::Active
        });
        if !(60..=86_400).contains(&ttl_seconds) || !backup_ok || !target_ok {
            return Err(DbError::Constraint);
        }
        let stored = RestorePlanRow {
            id: row.id,
            team_id: row.team_id,
            target_connection_id: row.target_connection_id,
            source_backup_id: row.source_backup_id,
            requested_by: row.requested_by,
            status: row.status,
            digest: row.digest.clone(),
            r2_key: row.r2_key.clone(),
            sha256: row.sha256.clone(),
            overview: row.overview.clone(),
            created_at: now,
            expires_at: now + Duration::seconds(i64::from(ttl_seconds)),
            apply_status: None,
            applied_by: None,
            apply_started_at: None,
            apply_finished_at: None,
            progress: None,
            apply_error: None,
            receipt_r2_key: None,
            receipt_sha256: None,
        };
        t.restore_plans.push(stored.clone());
        drop(t);
        self.db.audit(audit, row.team_id);
        Ok(stored)
    }

    async fn restore_second_approver(&self, team: TeamId) -> Result<Option<bool>, DbError> {
        let t = self.read("restore_second_approver")?;
        if !self.can(&t, team, Action::TeamRead) {
            return Ok(None);
        }
        Ok(t.restore_settings.get(&team).copied())
    }

    async fn set_restore_second_approver(
        &self,
        team: TeamId,
        required: bool,
        _by: UserId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("set_restore_second_approver")?;
        self.db
            .tables
            .borrow_mut()
            .restore_settings
            .insert(team, required);
        self.db.audit(audit, team);
        Ok(required)
    }

    async fn restore_approvals(
        &self,
        plan: RestorePlanId,
    ) -> Result<Vec<RestoreApprovalRow>, DbError> {
        let t = self.read("restore_approvals")?;
        Ok(t.restore_approvals
            .iter()
            .filter(|(team, a)| a.plan_id == plan && self.can(&t, *team, Action::BackupRead))
            .map(|(_, a)| a.clone())
            .collect())
    }

    async fn approve_restore(
        &self,
        plan: RestorePlanId,
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("approve_restore")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(p) = t.restore_plans.iter().find(|p| p.id == plan) else {
            return Err(DbError::Conflict);
        };
        if p.apply_status.is_some() || p.expires_at <= now {
            return Err(DbError::Conflict);
        }
        let team = p.team_id;
        if t.restore_approvals
            .iter()
            .any(|(_, a)| a.plan_id == plan && a.approved_by == by)
        {
            return Ok(false);
        }
        t.restore_approvals.push((
            team,
            RestoreApprovalRow {
                plan_id: plan,
                approved_by: by,
                approved_at: now,
            },
        ));
        drop(t);
        self.db.audit(audit, team);
        Ok(true)
    }

    async fn open_restore_apply(
        &self,
        plan: RestorePlanId,
        by: UserId,
        approvals: u32,
        audit: &AuditRecord,
    ) -> Result<RestorePlanRow, DbError> {
        self.system("open_restore_apply")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let others = t
            .restore_approvals
            .iter()
            .filter(|(_, a)| a.plan_id == plan && a.approved_by != by)
            .count();
        let key = JobKey {
            kind: "restore",
            id: plan.as_uuid(),
        };
        let Some(p) = t.restore_plans.iter().position(|p| p.id == plan) else {
            return Err(DbError::Constraint);
        };
        let row = t.restore_plans[p].clone();
        match row.apply_status {
            Some(ApplyStatus::Failed) => {
                if let Some(c) = t.checkpoints.get_mut(&key) {
                    c.finished = false;
                    c.failures = 0;
                    c.token = None;
                    c.lease_until = None;
                }
            }
            Some(_) => return Err(DbError::Conflict),
            None => {
                if row.status != PlanStatus::Ready || row.expires_at <= now {
                    return Err(DbError::Constraint);
                }
                if (others as u32) < approvals {
                    return Err(DbError::Forbidden);
                }
                t.checkpoints.insert(
                    key,
                    Checkpoint {
                        seq: 0,
                        token: None,
                        lease_until: None,
                        state: json!({}),
                        failures: 0,
                        started_at: now,
                        finished: false,
                    },
                );
            }
        }
        let r = &mut t.restore_plans[p];
        r.apply_status = Some(ApplyStatus::Running);
        r.applied_by = r.applied_by.or(Some(by));
        r.apply_started_at = r.apply_started_at.or(Some(now));
        r.apply_error = None;
        if r.progress.is_none() {
            r.progress = Some(json!({}));
        }
        let out = r.clone();
        drop(t);
        self.db.audit(audit, out.team_id);
        Ok(out)
    }

    async fn finish_restore_apply(
        &self,
        plan: RestorePlanId,
        end: &ApplyEnd,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("finish_restore_apply")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(r) = t
            .restore_plans
            .iter_mut()
            .find(|p| p.id == plan && p.apply_status == Some(ApplyStatus::Running))
        else {
            return Ok(false);
        };
        r.apply_status = Some(end.status);
        r.apply_finished_at = Some(now);
        r.receipt_r2_key = end.receipt_r2_key.clone().or(r.receipt_r2_key.take());
        r.receipt_sha256 = end.receipt_sha256.clone().or(r.receipt_sha256.take());
        r.apply_error = end.error.clone();
        let team = r.team_id;
        let key = JobKey {
            kind: "restore",
            id: plan.as_uuid(),
        };
        if let Some(c) = t.checkpoints.get_mut(&key) {
            c.finished = true;
            c.token = None;
            c.lease_until = None;
        }
        drop(t);
        self.db.audit(audit, team);
        Ok(true)
    }

    async fn record_restore_writes(
        &self,
        connection: ConnectionId,
        _plan: RestorePlanId,
        transactions: &[String],
    ) -> Result<(), DbError> {
        self.system("record_restore_writes")?;
        let mut t = self.db.tables.borrow_mut();
        for txn in transactions {
            if !t
                .butterfly_writes
                .iter()
                .any(|(c, x)| *c == connection && x == txn)
            {
                t.butterfly_writes.push((connection, txn.clone()));
            }
        }
        Ok(())
    }
}

/// The chain itself is the database's (stack-tested in tests/stack/chain.rs); in memory a
/// verification reports the team's audit rows as an intact chain and records its anchors.
#[async_trait(?Send)]
impl EvidenceStore for MemoryStores<'_> {
    async fn chain_heads(&self) -> Result<Vec<ChainHeadRow>, DbError> {
        self.system("chain_heads")?;
        Ok(self.db.tables.borrow().chain_heads.clone())
    }

    async fn verify_chain(
        &self,
        team: TeamId,
        anchors: &[crate::evidence::anchor::Anchor],
    ) -> Result<Value, DbError> {
        self.system("verify_chain")?;
        let rows = self
            .db
            .activity
            .borrow()
            .iter()
            .filter(|a| a.team_id == Some(team))
            .count();
        self.db
            .tables
            .borrow_mut()
            .verifications
            .push((team, anchors.iter().map(|a| a.seq).collect()));
        Ok(json!({
            "team_id": team,
            "status": if rows == 0 { "empty" } else { "intact" },
            "rows": rows,
            "anchors_checked": anchors.len(),
            "problems": [],
        }))
    }

    async fn chain_head(&self, team: TeamId) -> Result<Option<ChainHeadRow>, DbError> {
        self.system("chain_head")?;
        let tables = self.db.tables.borrow();
        Ok(tables
            .chain_heads
            .iter()
            .find(|h| h.team == Some(team) && h.seq > 0)
            .cloned())
    }

    async fn activity_page(
        &self,
        q: &ActivityQuery,
    ) -> Result<Vec<crate::evidence::chain::ChainedRow>, DbError> {
        self.system("activity_page")?;
        let tables = self.db.tables.borrow();
        let mut rows: Vec<_> = tables
            .chain_rows
            .iter()
            .filter(|r| {
                r.team_id == Some(q.team)
                    && r.chain_seq > q.after_seq
                    && r.chain_seq <= q.max_seq
                    && r.occurred_at >= q.from
                    && r.occurred_at < q.to
                    && q.action_prefix.is_none_or(|p| r.action.starts_with(p))
            })
            .cloned()
            .collect();
        rows.sort_by_key(|r| r.chain_seq);
        rows.truncate(q.limit);
        Ok(rows)
    }

    async fn evidence_page(&self, q: &EvidenceQuery) -> Result<Vec<Value>, DbError> {
        self.system("evidence_page")?;
        let tables = self.db.tables.borrow();
        let in_range =
            |team: TeamId, at: DateTime<Utc>| team == q.team && at >= q.from && at < q.to;
        // The fake's remediations have no surrogate id: their key stands in for it.
        let mut rows: Vec<(String, Value)> = match q.table {
            EvidenceTable::Backups => tables
                .backups
                .iter()
                .filter(|b| in_range(b.team_id, b.started_at))
                .map(|b| (b.id.to_string(), json!(b)))
                .collect(),
            EvidenceTable::ComplianceRuns => tables
                .runs
                .iter()
                .filter(|r| in_range(r.team_id, r.started_at))
                .map(|r| (r.id.to_string(), json!(r)))
                .collect(),
            EvidenceTable::Remediations => tables
                .remediations
                .iter()
                .filter(|r| r.team_id == q.team)
                .map(|r| {
                    let id = format!("{}/{}", r.connection_id, r.check_id);
                    let mut row = json!(r);
                    row["id"] = json!(id);
                    (id, row)
                })
                .collect(),
            EvidenceTable::AiGuidance => tables
                .guidance
                .iter()
                .filter(|r| in_range(r.team_id, r.created_at))
                .map(|r| (r.id.to_string(), json!(r)))
                .collect(),
        };
        rows.retain(|(id, _)| q.after.as_ref().is_none_or(|a| id > a));
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(rows.into_iter().take(q.limit).map(|(_, row)| row).collect())
    }

    async fn run_findings(&self, team: TeamId, runs: &[String]) -> Result<Vec<Value>, DbError> {
        self.system("run_findings")?;
        let tables = self.db.tables.borrow();
        let mut rows: Vec<_> = tables
            .findings
            .iter()
            .filter(|f| f.team_id == team && runs.contains(&f.run_id.to_string()))
            .collect();
        rows.sort_by(|a, b| {
            (a.run_id.to_string(), &a.check_id).cmp(&(b.run_id.to_string(), &b.check_id))
        });
        Ok(rows.into_iter().map(|f| json!(f)).collect())
    }
}

#[async_trait(?Send)]
impl AuditStore for MemoryStores<'_> {
    async fn record(&self, audit: &AuditRecord) -> Result<(), DbError> {
        self.system("record")?;
        self.db.activity.borrow_mut().push(audit.clone());
        Ok(())
    }
}

#[async_trait(?Send)]
impl ComplianceStore for MemoryStores<'_> {
    async fn compliance_runs_of(
        &self,
        connection: ConnectionId,
    ) -> Result<Vec<ComplianceRunRow>, DbError> {
        let t = self.read("compliance_runs_of")?;
        let mut rows: Vec<_> = t
            .runs
            .iter()
            .filter(|r| {
                r.connection_id == connection && self.can(&t, r.team_id, Action::ComplianceRead)
            })
            .cloned()
            .collect();
        rows.reverse();
        Ok(rows)
    }

    async fn compliance_run(
        &self,
        id: ComplianceRunId,
    ) -> Result<Option<ComplianceRunRow>, DbError> {
        let t = self.read("compliance_run")?;
        Ok(t.runs
            .iter()
            .find(|r| r.id == id && self.can(&t, r.team_id, Action::ComplianceRead))
            .cloned())
    }

    async fn latest_complete_compliance_run(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<ComplianceRunRow>, DbError> {
        let t = self.read("latest_complete_compliance_run")?;
        Ok(t.runs
            .iter()
            .filter(|r| {
                r.connection_id == connection
                    && r.status == RunStatus::Complete
                    && self.can(&t, r.team_id, Action::ComplianceRead)
            })
            .max_by_key(|r| r.finished_at)
            .cloned())
    }

    async fn findings_of(&self, run: ComplianceRunId) -> Result<Vec<FindingRow>, DbError> {
        let t = self.read("findings_of")?;
        let mut rows: Vec<_> = t
            .findings
            .iter()
            .filter(|f| f.run_id == run && self.can(&t, f.team_id, Action::ComplianceRead))
            .cloned()
            .collect();
        rows.sort_by(|a, b| a.check_id.cmp(&b.check_id));
        Ok(rows)
    }

    async fn remediations_of(
        &self,
        connection: ConnectionId,
    ) -> Result<Vec<RemediationRow>, DbError> {
        let t = self.read("remediations_of")?;
        let mut rows: Vec<_> = t
            .remediations
            .iter()
            .filter(|r| {
                r.connection_id == connection && self.can(&t, r.team_id, Action::ComplianceRead)
            })
            .cloned()
            .collect();
        rows.sort_by(|a, b| a.check_id.cmp(&b.check_id));
        Ok(rows)
    }

    async fn remediation(
        &self,
        connection: ConnectionId,
        check_id: &str,
    ) -> Result<Option<RemediationRow>, DbError> {
        let t = self.read("remediation")?;
        Ok(t.remediations
            .iter()
            .find(|r| {
                r.connection_id == connection
                    && r.check_id == check_id
                    && self.can(&t, r.team_id, Action::ComplianceRead)
            })
            .cloned())
    }

    async fn compliance_trend(&self, team: TeamId) -> Result<Vec<TrendRow>, DbError> {
        let t = self.read("compliance_trend")?;
        Ok(t.runs
            .iter()
            .filter(|r| {
                r.team_id == team
                    && r.status == RunStatus::Complete
                    && self.can(&t, team, Action::ComplianceRead)
            })
            .map(|r| TrendRow {
                connection_id: r.connection_id,
                day: r
                    .finished_at
                    .map(|at| at.date_naive().to_string())
                    .unwrap_or_default(),
                run_id: r.id,
                pass_count: r.pass_count,
                fail_count: r.fail_count,
                not_applicable_count: r.not_applicable_count,
                error_count: r.error_count,
                pass_rate: None,
            })
            .collect())
    }

    async fn open_compliance_run(
        &self,
        row: &NewComplianceRun,
        stale_after_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<ComplianceRunRow, DbError> {
        self.system("open_compliance_run")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let stale_before = now - Duration::seconds(stale_after_seconds.into());
        let reason = "interrupted: the compliance run stopped before finishing";
        let mut swept = Vec::new();
        for r in t.runs.iter_mut().filter(|r| {
            r.connection_id == row.connection_id
                && r.status == RunStatus::Running
                && r.started_at < stale_before
        }) {
            r.status = RunStatus::Failed;
            r.finished_at = Some(now);
            r.error = Some(reason.into());
            swept.push(r.id);
        }
        for id in swept {
            let mut record = audit.clone();
            record.action = "compliance.error";
            record.target_type = "compliance_run";
            record.target_id = id.to_string();
            record.details = json!({"reason": reason});
            self.db.audit(&record, row.team_id);
        }
        if t.runs
            .iter()
            .any(|r| r.connection_id == row.connection_id && r.status == RunStatus::Running)
        {
            return Err(DbError::Conflict);
        }
        let stored = new_run(row, RunStatus::Running, now, None);
        t.runs.push(stored.clone());
        self.db.audit(audit, row.team_id);
        Ok(stored)
    }

    async fn skip_compliance_run(
        &self,
        row: &NewComplianceRun,
        reason: &str,
        audit: &AuditRecord,
    ) -> Result<ComplianceRunRow, DbError> {
        self.system("skip_compliance_run")?;
        let stored = new_run(row, RunStatus::Skipped, self.now(), Some(reason));
        self.db.tables.borrow_mut().runs.push(stored.clone());
        self.db.audit(audit, row.team_id);
        Ok(stored)
    }

    async fn finish_compliance_run(
        &self,
        id: ComplianceRunId,
        result: &RunResult,
        findings: &[FindingRow],
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.system("finish_compliance_run")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let r = running_run(&mut t, id)?;
        r.status = RunStatus::Complete;
        r.finished_at = Some(now);
        r.pass_count = result.pass_count;
        r.fail_count = result.fail_count;
        r.not_applicable_count = result.not_applicable_count;
        r.error_count = result.error_count;
        r.failed_by_severity = result.failed_by_severity.clone();
        let team = r.team_id;
        t.findings.extend(findings.iter().cloned());
        self.db.audit(audit, team);
        Ok(())
    }

    async fn fail_compliance_run(
        &self,
        id: ComplianceRunId,
        reason: &str,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.system("fail_compliance_run")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let r = running_run(&mut t, id)?;
        r.status = RunStatus::Failed;
        r.finished_at = Some(now);
        r.error = Some(reason.to_string());
        let team = r.team_id;
        self.db.audit(audit, team);
        Ok(())
    }

    async fn set_remediation(
        &self,
        row: &RemediationRow,
        from: Option<State>,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.system("set_remediation")?;
        let mut t = self.db.tables.borrow_mut();
        let current = t
            .remediations
            .iter()
            .position(|r| r.connection_id == row.connection_id && r.check_id == row.check_id);
        match (current, from) {
            (None, None) => t.remediations.push(row.clone()),
            (Some(i), Some(from)) if t.remediations[i].state == from => {
                t.remediations[i] = row.clone()
            }
            _ => return Err(DbError::Conflict),
        }
        self.db.audit(audit, row.team_id);
        Ok(())
    }
}

fn new_run(
    row: &NewComplianceRun,
    status: RunStatus,
    now: DateTime<Utc>,
    error: Option<&str>,
) -> ComplianceRunRow {
    ComplianceRunRow {
        id: row.id,
        team_id: row.team_id,
        connection_id: row.connection_id,
        backup_id: row.backup_id,
        trigger: row.trigger,
        requested_by: row.requested_by,
        status,
        started_at: now,
        finished_at: error.map(|_| now),
        pass_count: 0,
        fail_count: 0,
        not_applicable_count: 0,
        error_count: 0,
        failed_by_severity: json!({}),
        error: error.map(str::to_string),
    }
}

fn running_run(t: &mut Tables, id: ComplianceRunId) -> Result<&mut ComplianceRunRow, DbError> {
    t.runs
        .iter_mut()
        .find(|r| r.id == id && r.status == RunStatus::Running)
        .ok_or(DbError::Conflict)
}

#[async_trait(?Send)]
impl JobStateStore for MemoryStores<'_> {
    async fn claim_job(
        &self,
        key: JobKey,
        token: &str,
        _lease_seconds: u32,
    ) -> Result<Option<Claim>, DbError> {
        self.system("claim_job")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(c) = t.checkpoints.get_mut(&key) else {
            return Ok(None);
        };
        let free =
            c.lease_until.is_none_or(|until| until < now) || c.token.as_deref() == Some(token);
        if c.finished || !free {
            return Ok(None);
        }
        c.token = Some(token.to_string());
        c.lease_until = Some(now + Duration::seconds(LEASE_HELD_SECONDS));
        let claim = Claim {
            seq: c.seq,
            state: c.state.clone(),
            started_at: c.started_at,
            failures: c.failures,
        };
        if key.kind == "backup" {
            if let Some(b) = t.backups.iter_mut().find(|b| b.id.as_uuid() == key.id) {
                b.slices += 1;
                b.heartbeat_at = Some(now);
            }
        }
        Ok(Some(claim))
    }

    async fn commit_job(
        &self,
        key: JobKey,
        token: &str,
        _lease_seconds: u32,
        commit: Commit<'_>,
    ) -> Result<Option<i64>, DbError> {
        self.system("commit_job")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(c) = t.checkpoints.get_mut(&key) else {
            return Ok(None);
        };
        if c.token.as_deref() != Some(token) || c.seq != commit.seq {
            return Ok(None);
        }
        c.seq += 1;
        c.state = commit.state.clone();
        c.failures = commit.failures;
        if commit.release {
            c.token = None;
            c.lease_until = None;
        } else {
            c.lease_until = Some(now + Duration::seconds(LEASE_HELD_SECONDS));
        }
        let seq = c.seq;
        let progress = c.state.get("progress").cloned();
        if key.kind == "backup" {
            if let Some(b) = t.backups.iter_mut().find(|b| b.id.as_uuid() == key.id) {
                b.heartbeat_at = Some(now);
            }
        }
        // `restores_follow_checkpoint` (migration 0026).
        if let (true, Some(progress)) = (key.kind == "restore", progress) {
            if let Some(r) = t
                .restore_plans
                .iter_mut()
                .find(|r| r.id.as_uuid() == key.id && r.apply_status == Some(ApplyStatus::Running))
            {
                r.progress = Some(progress);
            }
        }
        Ok(Some(seq))
    }
}

#[async_trait(?Send)]
impl TenantKeyStore for MemoryStores<'_> {
    async fn tenant_key(
        &self,
        team: TeamId,
        version: Option<u32>,
    ) -> Result<Option<TenantKeyRow>, DbError> {
        self.system("tenant_key")?;
        let t = self.db.tables.borrow();
        let mut keys: Vec<_> = t
            .tenant_keys
            .iter()
            .filter(|k| k.team_id == team && version.is_none_or(|v| k.version == v))
            .cloned()
            .collect();
        keys.sort_by_key(|k| k.version);
        Ok(keys.pop())
    }

    async fn insert_tenant_key(&self, row: &TenantKeyRow) -> Result<(), DbError> {
        self.system("insert_tenant_key")?;
        let mut t = self.db.tables.borrow_mut();
        if next_key_version(&t, row.team_id) > row.version {
            return Err(DbError::Conflict);
        }
        t.tenant_keys.push(row.clone());
        Ok(())
    }

    async fn live_key_versions(&self, team: TeamId) -> Result<Vec<u32>, DbError> {
        self.system("live_key_versions")?;
        let t = self.db.tables.borrow();
        let mut versions: Vec<u32> = t
            .tenant_keys
            .iter()
            .filter(|k| k.team_id == team)
            .map(|k| k.version)
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    async fn rotate_tenant_key(
        &self,
        row: &TenantKeyRow,
        job: Uuid,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.system("rotate_tenant_key")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        if next_key_version(&t, row.team_id) != row.version {
            return Err(DbError::Conflict);
        }
        t.tenant_keys.push(row.clone());
        t.checkpoints.insert(
            JobKey {
                kind: "key_reseal",
                id: job,
            },
            Checkpoint {
                seq: 0,
                token: None,
                lease_until: None,
                state: json!({}),
                failures: 0,
                started_at: now,
                finished: false,
            },
        );
        self.db.audit(audit, row.team_id);
        Ok(())
    }

    async fn connections_sealed_below(
        &self,
        team: TeamId,
        version: u32,
    ) -> Result<Vec<ConnectionSecretRow>, DbError> {
        self.system("connections_sealed_below")?;
        let t = self.db.tables.borrow();
        Ok(t.connections
            .iter()
            .filter(|c| {
                c.row.team_id == team
                    && c.row.status != ConnectionStatus::Deleted
                    && c.row.key_version.is_some_and(|v| v < version)
            })
            .map(secret_row)
            .collect())
    }

    async fn reseal_connection(
        &self,
        id: ConnectionId,
        from: u32,
        sealed: &str,
        to: u32,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("reseal_connection")?;
        if to <= from {
            return Err(DbError::Constraint);
        }
        let mut t = self.db.tables.borrow_mut();
        let Some(c) = t.connections.iter_mut().find(|c| {
            c.row.id == id
                && c.row.status != ConnectionStatus::Deleted
                && c.row.key_version == Some(from)
        }) else {
            return Ok(false);
        };
        c.sealed_token = Some(sealed.to_string());
        c.row.key_version = Some(to);
        let team = c.row.team_id;
        self.db.audit(audit, team);
        Ok(true)
    }

    async fn backups_sealed_below(
        &self,
        team: TeamId,
        version: u32,
    ) -> Result<Vec<BackupKeyRow>, DbError> {
        self.system("backups_sealed_below")?;
        let t = self.db.tables.borrow();
        Ok(t.backup_keys
            .iter()
            .filter(|k| k.team_id == team && k.key_version.is_some_and(|v| v < version))
            .cloned()
            .collect())
    }

    async fn reseal_backup_key(
        &self,
        id: BackupId,
        from: u32,
        sealed: &str,
        to: u32,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("reseal_backup_key")?;
        if to <= from {
            return Err(DbError::Constraint);
        }
        let mut t = self.db.tables.borrow_mut();
        let Some(k) = t
            .backup_keys
            .iter_mut()
            .find(|k| k.id == id && k.key_version == Some(from))
        else {
            return Ok(false);
        };
        k.sealed_key = Some(sealed.to_string());
        k.key_version = Some(to);
        let team = k.team_id;
        self.db.audit(audit, team);
        Ok(true)
    }

    async fn retire_tenant_keys(
        &self,
        team: TeamId,
        below: u32,
        job: Uuid,
        audit: &AuditRecord,
    ) -> Result<Vec<u32>, DbError> {
        self.system("retire_tenant_keys")?;
        let mut t = self.db.tables.borrow_mut();
        let still_sealed = t.connections.iter().any(|c| {
            c.row.team_id == team
                && c.row.status != ConnectionStatus::Deleted
                && c.row.key_version.is_some_and(|v| v < below)
        });
        let backup_still_sealed = t
            .backup_keys
            .iter()
            .any(|k| k.team_id == team && k.key_version.is_some_and(|v| v < below));
        if still_sealed || backup_still_sealed {
            return Err(DbError::Constraint);
        }
        let mut retired: Vec<u32> = Vec::new();
        t.tenant_keys.retain(|k| {
            let retire = k.team_id == team && k.version < below;
            if retire {
                retired.push(k.version);
            }
            !retire
        });
        retired.sort_unstable();
        t.retired_keys.extend(retired.iter().map(|v| (team, *v)));
        finish_checkpoint(
            &mut t,
            JobKey {
                kind: "key_reseal",
                id: job,
            },
        );
        let mut record = audit.clone();
        record.details = json!({"retired_versions": retired, "current_version": below});
        self.db.audit(&record, team);
        Ok(retired)
    }

    async fn keys_to_rewrap(&self, active: &str, limit: u32) -> Result<Vec<TenantKeyRow>, DbError> {
        self.system("keys_to_rewrap")?;
        let t = self.db.tables.borrow();
        Ok(t.tenant_keys
            .iter()
            .filter(|k| k.master_key_id != active)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn rewrap_tenant_key(
        &self,
        row: &TenantKeyRow,
        from: &str,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("rewrap_tenant_key")?;
        let mut t = self.db.tables.borrow_mut();
        let Some(k) = t.tenant_keys.iter_mut().find(|k| {
            k.team_id == row.team_id && k.version == row.version && k.master_key_id == from
        }) else {
            return Ok(false);
        };
        *k = row.clone();
        self.db.audit(audit, row.team_id);
        Ok(true)
    }
}

/// The version a team's next data key must have: one past every version it ever had.
fn next_key_version(t: &Tables, team: TeamId) -> u32 {
    let live = t
        .tenant_keys
        .iter()
        .filter(|k| k.team_id == team)
        .map(|k| k.version);
    let retired = t
        .retired_keys
        .iter()
        .filter(|(tm, _)| *tm == team)
        .map(|(_, v)| *v);
    live.chain(retired).max().unwrap_or(0) + 1
}

#[async_trait(?Send)]
impl AiStore for MemoryStores<'_> {
    async fn ai_settings(&self, team: TeamId) -> Result<Option<AiSettingsRow>, DbError> {
        let t = self.read("ai_settings")?;
        Ok(t.ai_settings
            .iter()
            .find(|r| r.team_id == team && self.can(&t, team, Action::AiRead))
            .cloned())
    }

    async fn set_ai_settings(
        &self,
        team: TeamId,
        enabled: bool,
        keep_answers: bool,
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<AiSettingsRow, DbError> {
        self.system("set_ai_settings")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let old = t.ai_settings.iter().position(|r| r.team_id == team);
        let from = old.map(|i| (t.ai_settings[i].enabled, t.ai_settings[i].keep_answers));
        let row = AiSettingsRow {
            team_id: team,
            enabled,
            keep_answers,
            monthly_tokens: old.and_then(|i| t.ai_settings[i].monthly_tokens),
            daily_requests: old.and_then(|i| t.ai_settings[i].daily_requests),
            per_minute_requests: old.and_then(|i| t.ai_settings[i].per_minute_requests),
            updated_by: Some(by),
            updated_at: now,
        };
        match old {
            Some(i) => t.ai_settings[i] = row.clone(),
            None => t.ai_settings.push(row.clone()),
        }
        let (was_on, was_kept) = from.unwrap_or((false, false));
        let mut record = audit.clone();
        record.details["from"] = json!({"enabled": was_on, "keep_answers": was_kept});
        record.details["to"] = json!({"enabled": enabled, "keep_answers": keep_answers});
        self.db.audit(&record, team);
        Ok(row)
    }

    async fn ai_usage(&self, team: TeamId) -> Result<Option<crate::ai::budget::Usage>, DbError> {
        self.system("ai_usage")?;
        Ok(self.db.tables.borrow().ai_usage.get(&team).cloned())
    }

    async fn put_ai_usage(
        &self,
        team: TeamId,
        expected: Option<u64>,
        usage: &crate::ai::budget::Usage,
    ) -> Result<(), DbError> {
        self.system("put_ai_usage")?;
        let mut t = self.db.tables.borrow_mut();
        if t.ai_usage.get(&team).map(|u| u.version) != expected {
            return Err(DbError::Conflict);
        }
        t.ai_usage.insert(team, usage.clone());
        Ok(())
    }

    async fn insert_guidance_record(
        &self,
        row: &GuidanceRecordRow,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.system("insert_guidance_record")?;
        let mut t = self.db.tables.borrow_mut();
        if t.guidance.iter().any(|r| r.id == row.id) {
            return Err(DbError::Conflict);
        }
        t.guidance.push(row.clone());
        self.db.audit(audit, row.team_id);
        Ok(())
    }

    async fn guidance_records_of(&self, team: TeamId) -> Result<Vec<GuidanceRecordRow>, DbError> {
        let t = self.read("guidance_records_of")?;
        let mut rows: Vec<_> = t
            .guidance
            .iter()
            .filter(|r| r.team_id == team && self.can(&t, team, Action::AiRead))
            .cloned()
            .collect();
        rows.reverse();
        rows.truncate(100);
        Ok(rows)
    }

    async fn guidance_record(
        &self,
        id: GuidanceRecordId,
    ) -> Result<Option<GuidanceRecordRow>, DbError> {
        let t = self.read("guidance_record")?;
        Ok(t.guidance
            .iter()
            .find(|r| r.id == id && self.can(&t, r.team_id, Action::AiRead))
            .cloned())
    }

    async fn delete_ai_answers(&self, team: TeamId, audit: &AuditRecord) -> Result<u64, DbError> {
        self.system("delete_ai_answers")?;
        let mut t = self.db.tables.borrow_mut();
        let mut erased = 0;
        for r in t.guidance.iter_mut().filter(|r| r.team_id == team) {
            if r.answer.take().is_some() {
                erased += 1;
            }
        }
        let mut record = audit.clone();
        record.details["erased"] = json!(erased);
        self.db.audit(&record, team);
        Ok(erased)
    }
}

/// The fake's clock does not move on its own, so a held lease simply lasts until released or
/// until a test moves the clock past it.
const LEASE_HELD_SECONDS: i64 = 300;

impl MemoryDb {
    /// Lets every held lease lapse (as if its holder died).
    pub fn expire_leases(&self) {
        for c in self.tables.borrow_mut().checkpoints.values_mut() {
            c.lease_until = Some(DateTime::<Utc>::MIN_UTC);
        }
    }
}

#[async_trait(?Send)]
impl BillingStore for MemoryStores<'_> {
    async fn billing(&self, team: TeamId) -> Result<Option<BillingRow>, DbError> {
        let t = self.read("billing")?;
        if !self.can(&t, team, Action::TeamRead) {
            return Ok(None);
        }
        Ok(t.billing.get(&team).map(|(account, v)| BillingRow {
            account: account.clone(),
            updated_at: v.to_string(),
        }))
    }

    async fn team_of_customer(&self, customer: &str) -> Result<Option<TeamId>, DbError> {
        self.system("team_of_customer")?;
        let t = self.db.tables.borrow();
        Ok(t.billing
            .iter()
            .find(|(_, (a, _))| a.customer.as_deref() == Some(customer))
            .map(|(team, _)| *team))
    }

    async fn set_stripe_customer(
        &self,
        team: TeamId,
        customer: &str,
        audit: &AuditRecord,
    ) -> Result<String, DbError> {
        self.system("set_stripe_customer")?;
        let mut t = self.db.tables.borrow_mut();
        let (account, version) = t.billing.get_mut(&team).ok_or(DbError::Conflict)?;
        if let Some(existing) = &account.customer {
            return Ok(existing.clone());
        }
        account.customer = Some(customer.to_string());
        *version += 1;
        drop(t);
        self.db.audit(audit, team);
        Ok(customer.to_string())
    }

    async fn apply_stripe_event(
        &self,
        write: &StripeEventWrite<'_>,
    ) -> Result<EventOutcome, DbError> {
        self.system("apply_stripe_event")?;
        let mut t = self.db.tables.borrow_mut();
        if t.stripe_events.iter().any(|e| e == write.event_id) {
            return Ok(EventOutcome::Duplicate);
        }
        let Some((state, expected)) = write.state else {
            t.stripe_events.push(write.event_id.to_string());
            return Ok(EventOutcome::Recorded);
        };
        let team = write.team.ok_or(DbError::Constraint)?;
        let now = self.now();
        let (account, version) = t.billing.get_mut(&team).ok_or(DbError::Conflict)?;
        if version.to_string() != expected {
            return Err(DbError::Conflict);
        }
        *account = state.clone();
        *version += 1;
        t.stripe_events.push(write.event_id.to_string());
        if let Some(plan) = write.new_plan {
            t.plan_history.push((team, PlanPeriod { plan, from: now }));
        }
        drop(t);
        if let Some(audit) = write.audit {
            self.db.audit(audit, team);
        }
        Ok(EventOutcome::Applied)
    }

    async fn plan_history(&self, team: TeamId) -> Result<Vec<PlanPeriod>, DbError> {
        let t = self.read("plan_history")?;
        if !self.can(&t, team, Action::TeamRead) {
            return Ok(Vec::new());
        }
        let mut periods: Vec<PlanPeriod> = t
            .plan_history
            .iter()
            .filter(|(id, _)| *id == team)
            .map(|(_, p)| *p)
            .collect();
        periods.sort_by_key(|p| p.from);
        Ok(periods)
    }

    async fn usage(
        &self,
        team: TeamId,
        day_start: DateTime<Utc>,
        connection: Option<ConnectionId>,
    ) -> Result<Usage, DbError> {
        self.system("usage")?;
        let t = self.db.tables.borrow();
        let now = self.now();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let mut per_connection: BTreeMap<ConnectionId, u32> = BTreeMap::new();
        for b in &t.backups {
            if b.team_id == team
                && b.trigger == Trigger::Manual
                && b.started_at >= day_start
                && connection.is_none_or(|c| c == b.connection_id)
            {
                *per_connection.entry(b.connection_id).or_default() += 1;
            }
        }
        Ok(Usage {
            connections: count(
                t.connections
                    .iter()
                    .filter(|c| c.row.team_id == team && c.row.status != ConnectionStatus::Deleted)
                    .count(),
            ),
            members: count(
                t.members.iter().filter(|m| m.team_id == team).count()
                    + t.invitations
                        .iter()
                        .filter(|i| {
                            i.row.team_id == team
                                && i.row.accepted_at.is_none()
                                && i.row.expires_at > now
                        })
                        .count(),
            ),
            api_keys: count(
                t.keys
                    .iter()
                    .filter(|k| {
                        k.row.team_id == team
                            && k.row.revoked_at.is_none()
                            && k.row.expires_at.is_none_or(|e| e > now)
                    })
                    .count(),
            ),
            manual_backups_today: per_connection.values().copied().max().unwrap_or(0),
        })
    }
}

impl MemoryDb {
    /// Whether the team's row still exists, for assertions.
    pub fn team_exists(&self, team: TeamId) -> bool {
        self.tables.borrow().teams.iter().any(|(t, _)| t.id == team)
    }

    /// Every row of `team` left in the tables a purge empties, by table, for assertions.
    pub fn team_rows(&self, team: TeamId) -> Vec<&'static str> {
        let t = self.tables.borrow();
        let mut left = Vec::new();
        let mut note = |name, any: bool| {
            if any {
                left.push(name);
            }
        };
        note("teams", t.teams.iter().any(|(r, _)| r.id == team));
        note("members", t.members.iter().any(|m| m.team_id == team));
        note(
            "connections",
            t.connections.iter().any(|c| c.row.team_id == team),
        );
        note("backups", t.backups.iter().any(|b| b.team_id == team));
        note(
            "backup_keys",
            t.backup_keys.iter().any(|k| k.team_id == team),
        );
        note(
            "invitations",
            t.invitations.iter().any(|i| i.row.team_id == team),
        );
        note("api_keys", t.keys.iter().any(|k| k.row.team_id == team));
        note("runs", t.runs.iter().any(|r| r.team_id == team));
        note(
            "tenant_keys",
            t.tenant_keys.iter().any(|k| k.team_id == team),
        );
        note("billing", t.billing.contains_key(&team));
        note(
            "plan_history",
            t.plan_history.iter().any(|(id, _)| *id == team),
        );
        note("guidance", t.guidance.iter().any(|g| g.team_id == team));
        note("holds", t.holds.iter().any(|h| h.1 == team));
        left
    }

    /// Appends a plan period (as a billing event does).
    pub fn add_plan_period(&self, team: TeamId, plan: PlanId, from: DateTime<Utc>) {
        self.tables
            .borrow_mut()
            .plan_history
            .push((team, PlanPeriod { plan, from }));
    }

    /// A complete scheduled backup of `connection` that finished at `at`, with no objects (as
    /// years of runs would have left).
    pub fn insert_backup_row(&self, team: TeamId, connection: ConnectionId, at: DateTime<Utc>) {
        let mut t = self.tables.borrow_mut();
        let id = BackupId::parse(&format!("00000000-0000-4000-9000-{:012x}", t.backups.len()))
            .expect("backup id");
        t.backups.push(BackupRow {
            id,
            team_id: team,
            connection_id: connection,
            requested_by: None,
            trigger: Trigger::Schedule,
            status: BackupStatus::Complete,
            started_at: at - Duration::minutes(5),
            finished_at: Some(at),
            r2_prefix: format!(
                "users/x/connections/{connection}/backups/{}/",
                at.timestamp()
            ),
            counts: json!({}),
            object_count: Some(0),
            sealed_bytes: Some(0),
            manifest_sha256: Some("0".repeat(64)),
            error: None,
            heartbeat_at: None,
            slices: 1,
        });
    }

    /// Moves a deletion's purge date (as the test stack moves the database's rows).
    pub fn set_purge_after(&self, team: TeamId, at: DateTime<Utc>) {
        let mut t = self.tables.borrow_mut();
        if let Some(d) = t.deletions.get_mut(&team) {
            d.purge_after = at;
        }
    }
}

fn candidate(b: &BackupRow, pruning: &std::collections::BTreeSet<BackupId>) -> PruneCandidate {
    PruneCandidate {
        id: b.id,
        connection_id: b.connection_id,
        status: b.status,
        started_at: b.started_at,
        finished_at: b.finished_at,
        r2_prefix: b.r2_prefix.clone(),
        pruning_at: pruning.contains(&b.id).then_some(b.started_at),
    }
}

/// The identifying values `activity_logs_pseudonymise` erases, in the records this fake keeps.
fn pseudonymise(record: &mut AuditRecord) {
    if matches!(record.actor_type, ActorType::User | ActorType::ApiKey)
        && !record.actor_id.starts_with("erased-")
    {
        let digest = crate::crypto::hmac_sha256(b"memory-purge", &[record.actor_id.as_bytes()]);
        record.actor_id = format!("erased-{}", &hex::encode(digest)[..20]);
    }
    record.source_ip = None;
    if let Value::Object(details) = &mut record.details {
        for key in crate::evidence::chain::IDENTITY_DETAIL_KEYS {
            details.remove(key);
        }
    }
}

fn new_drift(connection: ConnectionId, team: TeamId, now: DateTime<Utc>) -> StoredDrift {
    StoredDrift {
        settings: DriftSettingsRow {
            connection_id: connection,
            team_id: team,
            interval_minutes: 15,
            rules: None,
            next_due_at: now,
            last_checked_at: None,
        },
        cursor: None,
        base: None,
        last_seq: 0,
    }
}

#[async_trait(?Send)]
impl LifecycleStore for MemoryStores<'_> {
    async fn prune_teams(&self, before: DateTime<Utc>) -> Result<Vec<TeamId>, DbError> {
        self.system("prune_teams")?;
        let t = self.db.tables.borrow();
        let mut teams: Vec<TeamId> = t
            .backups
            .iter()
            .filter(|b| b.finished_at.is_some_and(|f| f < before))
            .map(|b| b.team_id)
            .filter(|team| {
                !t.deletions.get(team).is_some_and(|d| {
                    matches!(
                        d.state,
                        DeletionState::Purging { .. } | DeletionState::Purged { .. }
                    )
                })
            })
            .collect();
        teams.sort();
        teams.dedup();
        Ok(teams)
    }

    async fn prune_candidates(
        &self,
        team: TeamId,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PruneCandidate>, DbError> {
        self.system("prune_candidates")?;
        let t = self.db.tables.borrow();
        let mut rows: Vec<&BackupRow> = t
            .backups
            .iter()
            .filter(|b| {
                b.team_id == team
                    && (t.pruning.contains(&b.id) || b.finished_at.is_some_and(|f| f < before))
            })
            .collect();
        rows.sort_by_key(|b| (!t.pruning.contains(&b.id), b.finished_at, b.id));
        rows.truncate(limit as usize);
        Ok(rows.into_iter().map(|b| candidate(b, &t.pruning)).collect())
    }

    async fn held_backups(&self, team: TeamId) -> Result<Vec<BackupId>, DbError> {
        self.system("held_backups")?;
        let t = self.db.tables.borrow();
        Ok(t.holds
            .iter()
            .filter(|h| h.1 == team)
            .map(|h| h.0)
            .collect())
    }

    async fn mark_pruning(&self, id: BackupId) -> Result<PruneMark, DbError> {
        self.system("mark_pruning")?;
        let mut t = self.db.tables.borrow_mut();
        let Some(b) = t.backups.iter().find(|b| b.id == id) else {
            return Ok(PruneMark::Gone);
        };
        if t.pruning.contains(&id) {
            return Ok(PruneMark::Marked);
        }
        if b.status == BackupStatus::Running {
            return Ok(PruneMark::Running);
        }
        if t.holds.iter().any(|h| h.0 == id) {
            return Ok(PruneMark::Held);
        }
        t.pruning.insert(id);
        Ok(PruneMark::Marked)
    }

    async fn prune_backup(&self, id: BackupId, audit: &AuditRecord) -> Result<bool, DbError> {
        self.system("prune_backup")?;
        let mut t = self.db.tables.borrow_mut();
        if !t.pruning.remove(&id) {
            return Ok(false);
        }
        let Some(at) = t.backups.iter().position(|b| b.id == id) else {
            return Ok(false);
        };
        let row = t.backups.remove(at);
        t.backup_keys.retain(|k| k.id != id);
        t.checkpoints.remove(&backup_key(id));
        self.db.audit(audit, row.team_id);
        Ok(true)
    }

    async fn hold_backup(
        &self,
        id: BackupId,
        team: TeamId,
        kind: HoldKind,
        holder: Uuid,
    ) -> Result<bool, DbError> {
        self.system("hold_backup")?;
        let mut t = self.db.tables.borrow_mut();
        let holdable = t
            .backups
            .iter()
            .any(|b| b.id == id && b.team_id == team && b.status == BackupStatus::Complete)
            && !t.pruning.contains(&id);
        if holdable && !t.holds.contains(&(id, team, kind, holder)) {
            t.holds.push((id, team, kind, holder));
        }
        Ok(holdable)
    }

    async fn release_backup_hold(
        &self,
        id: BackupId,
        kind: HoldKind,
        holder: Uuid,
    ) -> Result<bool, DbError> {
        self.system("release_backup_hold")?;
        let mut t = self.db.tables.borrow_mut();
        let before = t.holds.len();
        t.holds
            .retain(|h| !(h.0 == id && h.2 == kind && h.3 == holder));
        Ok(t.holds.len() < before)
    }

    async fn team_backup_prefixes(&self, team: TeamId) -> Result<Vec<String>, DbError> {
        self.system("team_backup_prefixes")?;
        let t = self.db.tables.borrow();
        Ok(t.backups
            .iter()
            .filter(|b| b.team_id == team)
            .map(|b| b.r2_prefix.clone())
            .collect())
    }

    async fn team_deletion(&self, team: TeamId) -> Result<Option<TeamDeletion>, DbError> {
        let t = self.read("team_deletion")?;
        if !self.can(&t, team, Action::TeamRead) {
            return Ok(None);
        }
        Ok(t.deletions.get(&team).cloned())
    }

    async fn request_team_deletion(
        &self,
        team: TeamId,
        by: UserId,
        grace_seconds: u32,
        audit: &AuditRecord,
    ) -> Result<TeamDeletion, DbError> {
        self.system("request_team_deletion")?;
        if grace_seconds < 7 * 86_400 {
            return Err(DbError::Constraint);
        }
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        if !t.teams.iter().any(|(r, _)| r.id == team) {
            return Err(DbError::Unexpected("no such team".into()));
        }
        if t.deletions
            .get(&team)
            .is_some_and(|d| !matches!(d.state, DeletionState::Cancelled { .. }))
        {
            return Err(DbError::Conflict);
        }
        let deletion = TeamDeletion {
            team,
            requested_by: by,
            requested_at: now,
            purge_after: now + Duration::seconds(i64::from(grace_seconds)),
            state: DeletionState::Requested,
        };
        t.deletions.insert(team, deletion.clone());
        self.db.audit(audit, team);
        Ok(deletion)
    }

    async fn cancel_team_deletion(
        &self,
        team: TeamId,
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<Option<TeamDeletion>, DbError> {
        self.system("cancel_team_deletion")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(d) = t.deletions.get_mut(&team) else {
            return Ok(None);
        };
        if d.state != DeletionState::Requested || d.purge_after <= now {
            return Ok(None);
        }
        d.state = DeletionState::Cancelled { by, at: now };
        let done = d.clone();
        self.db.audit(audit, team);
        Ok(Some(done))
    }

    async fn due_deletions(&self) -> Result<Vec<TeamDeletion>, DbError> {
        self.system("due_deletions")?;
        let now = self.now();
        let t = self.db.tables.borrow();
        Ok(t.deletions
            .values()
            .filter(|d| match d.state {
                DeletionState::Requested => d.purge_after <= now,
                DeletionState::Purging { .. } => true,
                _ => false,
            })
            .cloned()
            .collect())
    }

    async fn start_purge(
        &self,
        team: TeamId,
        audit: &AuditRecord,
    ) -> Result<Option<TeamDeletion>, DbError> {
        self.system("start_purge")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(d) = t.deletions.get_mut(&team) else {
            return Ok(None);
        };
        let Ok(started) = d.start_purge(now) else {
            return Ok(None);
        };
        *d = started.clone();
        self.db.audit(audit, team);
        Ok(Some(started))
    }

    async fn purge_step(
        &self,
        team: TeamId,
        step: PurgeStep,
        next: Option<PurgeStep>,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("purge_step")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(d) = t.deletions.get(&team).cloned() else {
            return Ok(false);
        };
        let Ok(done) = d.complete(step, now) else {
            return Ok(false);
        };
        let purged = matches!(done.state, DeletionState::Purged { .. });
        if next.is_none() != purged {
            return Err(DbError::Constraint);
        }
        match step {
            PurgeStep::Freeze => t.members.retain(|m| m.team_id != team),
            PurgeStep::CancelBilling | PurgeStep::DeleteObjects | PurgeStep::SendReceipt => {}
            PurgeStep::RevokeAccess => {
                t.keys.retain(|k| k.row.team_id != team);
                t.invitations.retain(|i| i.row.team_id != team);
            }
            PurgeStep::DeleteConnections => {
                for c in t.connections.iter_mut().filter(|c| c.row.team_id == team) {
                    c.row.status = ConnectionStatus::Deleted;
                    c.row.key_version = None;
                    c.sealed_token = None;
                }
            }
            PurgeStep::DestroyDataKeys => {
                let versions: Vec<u32> = t
                    .tenant_keys
                    .iter()
                    .filter(|k| k.team_id == team)
                    .map(|k| k.version)
                    .collect();
                t.tenant_keys.retain(|k| k.team_id != team);
                t.retired_keys
                    .extend(versions.into_iter().map(|v| (team, v)));
            }
            PurgeStep::DeleteRecords => {
                let jobs: Vec<Uuid> = t
                    .backups
                    .iter()
                    .filter(|b| b.team_id == team)
                    .map(|b| b.id.as_uuid())
                    .collect();
                t.checkpoints.retain(|k, _| !jobs.contains(&k.id));
                t.guidance.retain(|g| g.team_id != team);
                t.runs.retain(|r| r.team_id != team);
                t.findings.retain(|f| f.team_id != team);
                t.backups.retain(|b| b.team_id != team);
                t.backup_keys.retain(|k| k.team_id != team);
                t.holds.retain(|h| h.1 != team);
                t.connections.retain(|c| c.row.team_id != team);
                t.billing.remove(&team);
                t.plan_history.retain(|(id, _)| *id != team);
                t.ai_settings.retain(|a| a.team_id != team);
                t.ai_usage.remove(&team);
                t.download_roles.retain(|(id, _)| *id != team);
                t.allow_lists.remove(&team);
            }
            PurgeStep::PseudonymiseActivity => {
                for record in self.db.activity.borrow_mut().iter_mut() {
                    if record.team_id == Some(team) {
                        pseudonymise(record);
                    }
                }
            }
            PurgeStep::RemoveTeam => t.teams.retain(|(r, _)| r.id != team),
        }
        t.deletions.insert(team, done);
        self.db.audit(audit, team);
        Ok(true)
    }

    async fn user_export(&self, user: UserId) -> Result<Value, DbError> {
        self.system("user_export")?;
        let t = self.db.tables.borrow();
        let memberships: Vec<Value> = t
            .members
            .iter()
            .filter(|m| m.user_id == user)
            .map(|m| {
                let name = t
                    .teams
                    .iter()
                    .find(|(r, _)| r.id == m.team_id)
                    .map_or("", |(r, _)| r.name.as_str());
                json!({"team_id": m.team_id, "team_name": name, "role": m.role,
                    "joined_at": m.created_at})
            })
            .collect();
        let api_keys: Vec<Value> = t
            .keys
            .iter()
            .filter(|k| k.row.user_id == user)
            .map(|k| {
                json!({"id": k.row.id, "team_id": k.row.team_id, "name": k.row.name,
                    "prefix": crate::auth::apikey::display_prefix(k.row.id),
                    "scopes": k.row.scopes, "created_at": k.row.created_at,
                    "last_used_at": k.row.last_used_at, "revoked_at": k.row.revoked_at})
            })
            .collect();
        let invitations: Vec<Value> = t
            .invitations
            .iter()
            .filter(|i| i.row.invited_by == user)
            .map(|i| {
                json!({"team_id": i.row.team_id, "direction": "sent", "email": i.row.email,
                    "role": i.row.role, "created_at": i.row.created_at,
                    "accepted_at": i.row.accepted_at})
            })
            .collect();
        let activity: Vec<Value> = self
            .db
            .activity
            .borrow()
            .iter()
            .filter(|r| {
                matches!(r.actor_type, ActorType::User | ActorType::ApiKey)
                    && r.actor_id == user.to_string()
            })
            .map(|r| {
                json!({"occurred_at": self.now(), "team_id": r.team_id, "action": r.action,
                    "target_type": r.target_type, "target_id": r.target_id,
                    "source_ip": r.source_ip, "request_id": r.request_id})
            })
            .collect();
        Ok(json!({
            "profile": {"id": user, "email": format!("{user}@test.local"),
                "display_name": null, "created_at": self.now(), "email_verified_at": self.now()},
            "email_preferences": null,
            "email_suppressions": [],
            "memberships": memberships,
            "api_keys": api_keys,
            "invitations": invitations,
            "activity": activity,
        }))
    }
}

/// `resource_versions_record`'s rules: a row names a connection of its team and (from a backup)
/// a complete backup of that connection, is skipped if its backup or capture already recorded
/// the resource, and at most 1,000 go in one call.
#[async_trait(?Send)]
impl ResourceVersionStore for MemoryStores<'_> {
    async fn version_heads(
        &self,
        connection: ConnectionId,
        resource: crate::tenant::ResourceType,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<VersionHead>, DbError> {
        self.system("version_heads")?;
        let t = self.db.tables.borrow();
        let mut heads: BTreeMap<&str, (&DateTime<Utc>, i64, &NewVersion)> = BTreeMap::new();
        for (id, v) in &t.versions {
            if v.connection_id != connection || v.resource_type != resource {
                continue;
            }
            let newer = heads
                .get(v.resource_id.as_str())
                .is_none_or(|(at, hid, _)| (*at, *hid) <= (&v.captured_at, *id));
            if newer {
                heads.insert(&v.resource_id, (&v.captured_at, *id, v));
            }
        }
        Ok(heads
            .into_iter()
            .filter(|(rid, _)| after.is_none_or(|a| *rid > a))
            .take(limit as usize)
            .map(|(rid, (_, _, v))| VersionHead {
                resource_id: rid.to_string(),
                state: v.state,
                content_hash: v.content_hash.clone(),
                hash_key: v.hash_key.clone(),
                captured_at: v.captured_at,
            })
            .collect())
    }

    async fn record_versions(&self, versions: &[NewVersion]) -> Result<u32, DbError> {
        self.system("record_versions")?;
        if versions.len() > MAX_VERSIONS_PER_CALL {
            return Err(DbError::Constraint);
        }
        let mut t = self.db.tables.borrow_mut();
        for v in versions {
            let connection_ok = t
                .connections
                .iter()
                .any(|c| c.row.id == v.connection_id && c.row.team_id == v.team_id);
            let source_ok = match v.source {
                VersionSource::Backup { backup_id } => t.backups.iter().any(|b| {
                    b.id == backup_id
                        && b.connection_id == v.connection_id
                        && b.status == BackupStatus::Complete
                }),
                VersionSource::Capture { .. } => true,
            };
            if !connection_ok || !source_ok {
                return Err(DbError::Forbidden);
            }
        }
        Ok(insert_versions(&mut t.versions, versions))
    }

    async fn resource_versions(
        &self,
        connection: ConnectionId,
        resource: crate::tenant::ResourceType,
        resource_id: &str,
        from: Option<(DateTime<Utc>, i64)>,
        limit: u32,
    ) -> Result<Vec<VersionRow>, DbError> {
        let t = self.read("resource_versions")?;
        let mut rows: Vec<&(i64, NewVersion)> = t
            .versions
            .iter()
            .filter(|(id, v)| {
                v.connection_id == connection
                    && v.resource_type == resource
                    && v.resource_id == resource_id
                    && self.can(&t, v.team_id, Action::DriftRead)
                    && from.is_none_or(|f| (v.captured_at, *id) >= f)
            })
            .collect();
        rows.sort_by_key(|(id, v)| (v.captured_at, *id));
        Ok(rows
            .into_iter()
            .take(limit as usize)
            .map(|(id, v)| VersionRow {
                id: *id,
                resource_type: v.resource_type,
                resource_id: v.resource_id.clone(),
                state: v.state,
                source: v.source,
                position: v.position,
                captured_at: v.captured_at,
                attribution: v.attribution.clone(),
            })
            .collect())
    }

    async fn index_progress(&self, backup: BackupId) -> Result<IndexProgress, DbError> {
        self.system("index_progress")?;
        let t = self.db.tables.borrow();
        Ok(t.index_progress
            .get(&backup)
            .map(|(p, _)| p.clone())
            .unwrap_or_default())
    }

    async fn index_observe(&self, batch: &ObserveBatch<'_>) -> Result<Option<Observed>, DbError> {
        self.system("index_observe")?;
        if batch.items.len() > MAX_OBSERVED_PER_CALL {
            return Err(DbError::Constraint);
        }
        let mut t = self.db.tables.borrow_mut();
        let backup = indexed_backup(&t, batch.backup)?;
        let checkpoint = IndexCheckpoint {
            ordinal: batch.ordinal,
            phase: IndexPhase::Observe,
            offset: batch.offset,
            position: batch.position,
        };
        if !advance_index(&mut t, batch.backup, batch.step, checkpoint, None) {
            return Ok(None);
        }
        // One item per id, the first position.
        let mut items: BTreeMap<&str, &ObservedItem> = BTreeMap::new();
        for item in batch.items {
            let kept = items.entry(&item.id).or_insert(item);
            if item.position < kept.position {
                *kept = item;
            }
        }
        let (mut recorded, mut observed) = (0, 0);
        for (id, item) in items {
            if !t
                .index_seen
                .insert((batch.backup, batch.resource, id.to_string()))
            {
                continue;
            }
            observed += 1;
            let changed = match head_of(&t.versions, backup.connection_id, batch.resource, id) {
                None => true,
                Some(h) => {
                    h.captured_at <= backup.started_at
                        && (h.state != VersionState::Present
                            || h.hash_key != batch.hash_key
                            || h.content_hash.as_deref() != Some(item.hash.as_str()))
                }
            };
            if changed {
                let version = NewVersion {
                    team_id: backup.team_id,
                    connection_id: backup.connection_id,
                    resource_type: batch.resource,
                    resource_id: id.to_string(),
                    state: VersionState::Present,
                    content_hash: Some(item.hash.clone()),
                    hash_key: batch.hash_key.to_string(),
                    source: VersionSource::Backup {
                        backup_id: backup.id,
                    },
                    position: Some(item.position),
                    captured_at: backup.started_at,
                    attribution: Attribution::default(),
                };
                recorded += insert_versions(&mut t.versions, &[version]);
            }
        }
        Ok(Some(Observed {
            step: batch.step + 1,
            recorded,
            unchanged: observed - recorded,
        }))
    }

    async fn index_sweep(
        &self,
        backup_id: BackupId,
        step: u64,
        resource: crate::tenant::ResourceType,
        ordinal: u32,
        hash_key: &str,
        limit: u32,
    ) -> Result<Option<Swept>, DbError> {
        self.system("index_sweep")?;
        if !(1..=50_000).contains(&limit) {
            return Err(DbError::Constraint);
        }
        let mut t = self.db.tables.borrow_mut();
        let backup = indexed_backup(&t, backup_id)?;
        let cursor = match t.index_progress.get(&backup_id) {
            Some((p, after))
                if p.checkpoint.phase == IndexPhase::Sweep && p.checkpoint.ordinal == ordinal =>
            {
                after.clone()
            }
            _ => None,
        };
        let mut ids: Vec<String> = t
            .versions
            .iter()
            .filter(|(_, v)| v.connection_id == backup.connection_id && v.resource_type == resource)
            .filter(|(_, v)| cursor.as_deref().is_none_or(|c| v.resource_id.as_str() > c))
            .map(|(_, v)| v.resource_id.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .take(limit as usize)
            .collect();
        let done = ids.len() < limit as usize;
        let (checkpoint, after) = if done {
            let next = IndexCheckpoint {
                ordinal: ordinal + 1,
                ..IndexCheckpoint::default()
            };
            (next, None)
        } else {
            let here = IndexCheckpoint {
                ordinal,
                phase: IndexPhase::Sweep,
                ..IndexCheckpoint::default()
            };
            (here, ids.last().cloned())
        };
        if !advance_index(&mut t, backup_id, step, checkpoint, after) {
            return Ok(None);
        }
        let mut removed = 0;
        for id in ids.drain(..) {
            let seen = t.index_seen.remove(&(backup_id, resource, id.clone()));
            let gone = head_of(&t.versions, backup.connection_id, resource, &id).is_some_and(|h| {
                h.state == VersionState::Present && h.captured_at <= backup.started_at
            });
            if gone && !seen {
                let version = NewVersion {
                    team_id: backup.team_id,
                    connection_id: backup.connection_id,
                    resource_type: resource,
                    resource_id: id,
                    state: VersionState::Removed,
                    content_hash: None,
                    hash_key: hash_key.to_string(),
                    source: VersionSource::Backup {
                        backup_id: backup.id,
                    },
                    position: None,
                    captured_at: backup.started_at,
                    attribution: Attribution::default(),
                };
                removed += insert_versions(&mut t.versions, &[version]);
            }
        }
        if done {
            t.index_seen
                .retain(|(b, r, _)| !(*b == backup_id && *r == resource));
        }
        Ok(Some(Swept {
            step: step + 1,
            removed,
            done,
        }))
    }

    async fn index_finish(&self, backup: BackupId, step: u64) -> Result<bool, DbError> {
        self.system("index_finish")?;
        let mut t = self.db.tables.borrow_mut();
        indexed_backup(&t, backup)?;
        let finished = match t.index_progress.get_mut(&backup) {
            None if step == 0 => {
                let done = IndexProgress {
                    step: 1,
                    done: true,
                    ..IndexProgress::default()
                };
                t.index_progress.insert(backup, (done, None));
                true
            }
            Some((p, _)) if p.step == step && !p.done => {
                p.step += 1;
                p.done = true;
                true
            }
            _ => false,
        };
        if finished {
            t.index_seen.retain(|(b, _, _)| *b != backup);
        }
        Ok(finished)
    }
}

#[async_trait(?Send)]
impl DriftStore for MemoryStores<'_> {
    async fn drift_due(&self, limit: u32) -> Result<Vec<DueCheck>, DbError> {
        self.system("drift_due")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let active: Vec<(ConnectionId, TeamId)> = t
            .connections
            .iter()
            .filter(|c| c.row.status == ConnectionStatus::Active)
            .map(|c| (c.row.id, c.row.team_id))
            .collect();
        for (id, team) in &active {
            t.drift
                .entry(*id)
                .or_insert_with(|| new_drift(*id, *team, now));
            t.checkpoints
                .entry(JobKey {
                    kind: "drift_check",
                    id: id.as_uuid(),
                })
                .or_insert(Checkpoint {
                    seq: 0,
                    token: None,
                    lease_until: None,
                    state: json!({}),
                    failures: 0,
                    started_at: now,
                    finished: false,
                });
        }
        let backed_up: Vec<ConnectionId> = t
            .backups
            .iter()
            .filter(|b| b.status == BackupStatus::Complete)
            .map(|b| b.connection_id)
            .collect();
        let mut due = Vec::new();
        for (id, team) in active {
            let d = t.drift.get_mut(&id).expect("made above");
            if due.len() as u32 >= limit || d.settings.next_due_at > now || !backed_up.contains(&id)
            {
                continue;
            }
            d.settings.next_due_at =
                now + Duration::minutes(i64::from(d.settings.interval_minutes));
            due.push(DueCheck {
                connection_id: id,
                team_id: team,
            });
        }
        Ok(due)
    }

    async fn drift_state(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<DriftStateRow>, DbError> {
        self.system("drift_state")?;
        let t = self.db.tables.borrow();
        Ok(t.drift.get(&connection).map(|d| DriftStateRow {
            connection_id: connection,
            team_id: d.settings.team_id,
            rules: d.settings.rules.clone(),
            cursor: d.cursor.clone(),
            base_backup_id: d.base,
            last_seq: d.last_seq,
        }))
    }

    async fn drift_captures_of(&self, backup: BackupId) -> Result<Vec<DriftCaptureRow>, DbError> {
        self.system("drift_captures_of")?;
        let t = self.db.tables.borrow();
        let mut rows: Vec<DriftCaptureRow> = t
            .drift_captures
            .iter()
            .filter(|c| c.backup_id == backup)
            .cloned()
            .collect();
        rows.sort_by_key(|c| c.seq);
        Ok(rows)
    }

    async fn butterfly_writes(
        &self,
        connection: ConnectionId,
        transactions: &[String],
    ) -> Result<Vec<String>, DbError> {
        self.system("butterfly_writes")?;
        let t = self.db.tables.borrow();
        Ok(t.butterfly_writes
            .iter()
            .filter(|(c, id)| *c == connection && transactions.contains(id))
            .map(|(_, id)| id.clone())
            .collect())
    }

    async fn record_drift(
        &self,
        advance: &DriftAdvance,
        capture: Option<RecordedCapture<'_>>,
        audit: Option<&AuditRecord>,
    ) -> Result<bool, DbError> {
        self.system("record_drift")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(d) = t.drift.get(&advance.connection_id).cloned() else {
            return Ok(false);
        };
        if d.cursor != advance.from_cursor
            || d.base != advance.from_base
            || d.last_seq != advance.from_seq
        {
            return Ok(false);
        }
        let team = d.settings.team_id;
        if let Some(RecordedCapture {
            row,
            alerts,
            versions,
        }) = capture
        {
            if t.drift_captures
                .iter()
                .any(|c| c.backup_id == row.backup_id && c.seq == row.seq)
            {
                return Err(DbError::Conflict);
            }
            let own = |v: &NewVersion| {
                v.source
                    == (VersionSource::Capture {
                        capture_id: row.id.as_uuid(),
                    })
                    && v.connection_id == advance.connection_id
                    && v.team_id == team
            };
            if !versions.iter().all(own) {
                return Err(DbError::Constraint);
            }
            t.drift_captures.push(row.clone());
            insert_versions(&mut t.versions, versions);
            for a in alerts {
                let open = t.drift_alerts.iter_mut().find(|x| {
                    x.connection_id == advance.connection_id
                        && x.status == AlertStatus::Open
                        && dedup_of(x) == a.dedup_key
                });
                if let Some(open) = open {
                    open.occurrences += 1;
                    open.last_seen_at = now;
                    open.last_capture_id = Some(row.id);
                    open.attribution = a.attribution.clone();
                    continue;
                }
                t.drift_alerts.push(DriftAlertRow {
                    id: a.id,
                    team_id: team,
                    connection_id: advance.connection_id,
                    capture_id: Some(row.id),
                    last_capture_id: Some(row.id),
                    resource_type: a.resource_type.clone(),
                    resource_id: a.resource_id.clone(),
                    kind: a.kind.clone(),
                    severity: a.severity,
                    rule_id: a.rule_id.clone(),
                    fields: json!(a.fields),
                    attribution: a.attribution.clone(),
                    occurrences: 1,
                    status: AlertStatus::Open,
                    status_by: None,
                    status_at: None,
                    note: None,
                    first_seen_at: now,
                    last_seen_at: now,
                });
                let recipients: Vec<UserId> = t
                    .members
                    .iter()
                    .filter(|m| m.team_id == team && role_allows(m.role, Action::DriftTriage))
                    .map(|m| m.user_id)
                    .collect();
                for user in recipients {
                    t.email.insert(
                        format!("drift:{}:{user}", a.id),
                        Some(team),
                        user,
                        crate::email::preferences::Category::Alerts,
                        &a.notification,
                        now,
                    );
                }
            }
            if let Some(audit) = audit {
                self.db.audit(audit, team);
            }
        }
        let d = t.drift.get_mut(&advance.connection_id).expect("read above");
        d.cursor = Some(advance.cursor.clone());
        d.base = Some(advance.base_backup_id);
        d.last_seq = advance.seq;
        d.settings.last_checked_at = Some(now);
        if let Some(c) = t
            .connections
            .iter_mut()
            .find(|c| c.row.id == advance.connection_id)
        {
            if c.row
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with(DRIFT_ERROR_PREFIX))
            {
                c.row.last_error = None;
            }
        }
        Ok(true)
    }

    async fn drift_capture(&self, id: DriftCaptureId) -> Result<Option<DriftCaptureRow>, DbError> {
        let t = self.read("drift_capture")?;
        Ok(t.drift_captures
            .iter()
            .find(|c| c.id == id && self.can(&t, c.team_id, Action::DriftRead))
            .cloned())
    }

    async fn drift_settings(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<DriftSettingsRow>, DbError> {
        let t = self.read("drift_settings")?;
        Ok(t.drift
            .get(&connection)
            .filter(|d| self.can(&t, d.settings.team_id, Action::DriftRead))
            .map(|d| d.settings.clone()))
    }

    async fn set_drift_settings(
        &self,
        connection: ConnectionId,
        interval_minutes: u32,
        rules: Option<&[AlertRule]>,
        audit: &AuditRecord,
    ) -> Result<DriftSettingsRow, DbError> {
        self.system("set_drift_settings")?;
        if !(5..=1440).contains(&interval_minutes) {
            return Err(DbError::Constraint);
        }
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(team) = t
            .connections
            .iter()
            .find(|c| c.row.id == connection && c.row.status != ConnectionStatus::Deleted)
            .map(|c| c.row.team_id)
        else {
            return Err(DbError::Constraint);
        };
        let d = t
            .drift
            .entry(connection)
            .or_insert_with(|| new_drift(connection, team, now));
        d.settings.interval_minutes = interval_minutes;
        d.settings.rules = rules.map(<[AlertRule]>::to_vec);
        d.settings.next_due_at = d
            .settings
            .next_due_at
            .min(now + Duration::minutes(i64::from(interval_minutes)));
        let row = d.settings.clone();
        self.db.audit(audit, team);
        Ok(row)
    }

    async fn drift_alerts_of(
        &self,
        connection: ConnectionId,
        status: Option<AlertStatus>,
        limit: u32,
    ) -> Result<Vec<DriftAlertRow>, DbError> {
        let t = self.read("drift_alerts_of")?;
        let mut rows: Vec<DriftAlertRow> = t
            .drift_alerts
            .iter()
            .filter(|a| a.connection_id == connection && status.is_none_or(|s| a.status == s))
            .filter(|a| self.can(&t, a.team_id, Action::DriftRead))
            .cloned()
            .collect();
        rows.reverse();
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn drift_alert(&self, id: DriftAlertId) -> Result<Option<DriftAlertRow>, DbError> {
        let t = self.read("drift_alert")?;
        Ok(t.drift_alerts
            .iter()
            .find(|a| a.id == id && self.can(&t, a.team_id, Action::DriftRead))
            .cloned())
    }

    async fn drift_captures_recent(
        &self,
        connection: ConnectionId,
        limit: u32,
    ) -> Result<Vec<DriftCaptureRow>, DbError> {
        let t = self.read("drift_captures_recent")?;
        let mut rows: Vec<DriftCaptureRow> = t
            .drift_captures
            .iter()
            .filter(|c| c.connection_id == connection)
            .filter(|c| self.can(&t, c.team_id, Action::DriftRead))
            .cloned()
            .collect();
        rows.reverse();
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn set_drift_alert_status(
        &self,
        id: DriftAlertId,
        to: AlertStatus,
        by: UserId,
        note: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("set_drift_alert_status")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(a) = t.drift_alerts.iter_mut().find(|a| a.id == id) else {
            return Ok(false);
        };
        let allowed = match to {
            AlertStatus::Open => false,
            AlertStatus::Acknowledged => a.status == AlertStatus::Open,
            AlertStatus::Accepted => a.status != AlertStatus::Accepted,
        };
        if !allowed {
            return Ok(false);
        }
        a.status = to;
        a.status_by = Some(by);
        a.status_at = Some(now);
        a.note = note.map(str::to_string);
        let team = a.team_id;
        self.db.audit(audit, team);
        Ok(true)
    }
}

/// The deduplication key an alert row was raised under (rebuilt from its columns, as the
/// database stores it).
fn dedup_of(a: &DriftAlertRow) -> String {
    crate::drift::capture::alerts::dedup_key(
        crate::tenant::ResourceType::parse(&a.resource_type).expect("stored by the worker"),
        &a.resource_id,
        &a.rule_id,
    )
}

/// As migration 0030's functions: a drill's sandbox is an active sandbox connection of the
/// same team, one drill of a connection runs at a time, and a drill ends once.
#[async_trait(?Send)]
impl DrillStore for MemoryStores<'_> {
    async fn set_connection_environment(
        &self,
        connection: ConnectionId,
        environment: Environment,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.system("set_connection_environment")?;
        let mut t = self.db.tables.borrow_mut();
        if environment == Environment::Production
            && t.drill_settings
                .iter()
                .any(|s| s.sandbox_connection_id == connection)
        {
            return Err(DbError::Conflict);
        }
        let Some(c) = t
            .connections
            .iter_mut()
            .find(|c| c.row.id == connection && c.row.status != ConnectionStatus::Deleted)
        else {
            return Err(DbError::Constraint);
        };
        c.row.environment = environment;
        let team = c.row.team_id;
        drop(t);
        self.db.audit(audit, team);
        Ok(())
    }

    async fn drill_settings(
        &self,
        connection: ConnectionId,
    ) -> Result<Option<DrillSettingsRow>, DbError> {
        let t = self.read("drill_settings")?;
        Ok(t.drill_settings
            .iter()
            .find(|s| s.connection_id == connection && self.can(&t, s.team_id, Action::BackupRead))
            .cloned())
    }

    async fn enabled_drill_settings(&self) -> Result<Vec<DrillSettingsRow>, DbError> {
        self.system("enabled_drill_settings")?;
        let t = self.db.tables.borrow();
        Ok(t.drill_settings
            .iter()
            .filter(|s| s.enabled)
            .cloned()
            .collect())
    }

    async fn set_drill_settings(
        &self,
        settings: &DrillSettingsRow,
        audit: &AuditRecord,
    ) -> Result<DrillSettingsRow, DbError> {
        self.system("set_drill_settings")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(team) = (t.connections.iter())
            .find(|c| {
                c.row.id == settings.connection_id && c.row.status != ConnectionStatus::Deleted
            })
            .map(|c| c.row.team_id)
        else {
            return Err(DbError::Constraint);
        };
        let sandbox_ok = t.connections.iter().any(|c| {
            c.row.id == settings.sandbox_connection_id
                && c.row.id != settings.connection_id
                && c.row.team_id == team
                && c.row.status == ConnectionStatus::Active
                && c.row.environment == Environment::Sandbox
        });
        if !sandbox_ok {
            return Err(DbError::Constraint);
        }
        let stored = DrillSettingsRow {
            team_id: team,
            updated_at: now,
            ..settings.clone()
        };
        t.drill_settings
            .retain(|s| s.connection_id != settings.connection_id);
        t.drill_settings.push(stored.clone());
        drop(t);
        self.db.audit(audit, team);
        Ok(stored)
    }

    async fn open_drill(&self, drill: &NewDrill, audit: &AuditRecord) -> Result<DrillRow, DbError> {
        self.system("open_drill")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(s) = (t.drill_settings.iter())
            .find(|s| s.connection_id == drill.connection_id)
            .cloned()
        else {
            return Err(DbError::Constraint);
        };
        let sandbox_ok = t.connections.iter().any(|c| {
            c.row.id == s.sandbox_connection_id
                && c.row.status == ConnectionStatus::Active
                && c.row.environment == Environment::Sandbox
        });
        if !sandbox_ok {
            return Err(DbError::Constraint);
        }
        if t.drills
            .iter()
            .any(|d| d.connection_id == drill.connection_id && d.status == DrillStatus::Running)
        {
            return Err(DbError::Conflict);
        }
        let row = DrillRow {
            id: drill.id,
            team_id: s.team_id,
            connection_id: drill.connection_id,
            sandbox_connection_id: s.sandbox_connection_id,
            source_backup_id: Some(drill.source_backup_id),
            restore_plan_id: None,
            trigger: drill.trigger,
            requested_by: drill.requested_by,
            status: DrillStatus::Running,
            started_at: now,
            finished_at: None,
            rto_seconds: None,
            rpo_seconds: None,
            rto_objective_seconds: s.rto_objective_seconds,
            report: None,
            error: None,
            alerted: false,
        };
        t.drills.push(row.clone());
        t.checkpoints.insert(
            JobKey {
                kind: "drill",
                id: drill.id.as_uuid(),
            },
            Checkpoint {
                seq: 0,
                token: None,
                lease_until: None,
                state: json!({}),
                failures: 0,
                started_at: now,
                finished: false,
            },
        );
        drop(t);
        self.db.audit(audit, s.team_id);
        Ok(row)
    }

    async fn drill(&self, id: DrillId) -> Result<Option<DrillRow>, DbError> {
        let t = self.read("drill")?;
        Ok(t.drills
            .iter()
            .find(|d| d.id == id && self.can(&t, d.team_id, Action::BackupRead))
            .cloned())
    }

    async fn drills_of(
        &self,
        connection: ConnectionId,
        limit: u32,
    ) -> Result<Vec<DrillRow>, DbError> {
        let t = self.read("drills_of")?;
        let mut rows: Vec<DrillRow> = (t.drills.iter())
            .filter(|d| {
                d.connection_id == connection && self.can(&t, d.team_id, Action::BackupRead)
            })
            .cloned()
            .collect();
        rows.sort_by_key(|d| std::cmp::Reverse(d.started_at));
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn set_drill_plan(&self, id: DrillId, plan: RestorePlanId) -> Result<bool, DbError> {
        self.system("set_drill_plan")?;
        let mut t = self.db.tables.borrow_mut();
        Ok(
            match (t.drills.iter_mut()).find(|d| d.id == id && d.status == DrillStatus::Running) {
                Some(d) => {
                    d.restore_plan_id = Some(plan);
                    true
                }
                None => false,
            },
        )
    }

    async fn finish_drill(
        &self,
        id: DrillId,
        end: &DrillEnd,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.system("finish_drill")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some(d) =
            (t.drills.iter_mut()).find(|d| d.id == id && d.status == DrillStatus::Running)
        else {
            return Ok(false);
        };
        d.status = end.status;
        d.finished_at = Some(now);
        d.rto_seconds = Some(end.rto_seconds);
        d.rpo_seconds = end.rpo_seconds;
        d.report = end.report.clone();
        d.error = end.error.clone();
        d.alerted = end.alerted;
        let team = d.team_id;
        let key = JobKey {
            kind: "drill",
            id: id.as_uuid(),
        };
        if let Some(c) = t.checkpoints.get_mut(&key) {
            c.finished = true;
            c.token = None;
            c.lease_until = None;
        }
        drop(t);
        self.db.audit(audit, team);
        Ok(true)
    }
}
