//! Per-team data keys, wrapped by a master key (service role only; no user ever reads them),
//! and their rotation: a new version, the re-seal of the team's credentials onto it, the
//! retirement (destruction) of older versions, and re-wrapping under a new master key.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AuditRecord, BackupKeyRow, ConnectionSecretRow, DbError};
use crate::ids::{BackupId, ConnectionId, TeamId};

/// A live (not retired) version of a team's data key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TenantKeyRow {
    pub team_id: TeamId,
    pub version: u32,
    pub master_key_id: String,
    pub wrapped_key: String,
}

#[async_trait(?Send)]
pub trait TenantKeyStore {
    /// A team's live data key: `version`, or the newest when `None`. Retired versions are gone.
    async fn tenant_key(
        &self,
        team: TeamId,
        version: Option<u32>,
    ) -> Result<Option<TenantKeyRow>, DbError>;
    /// Stores a new version; `Conflict` when it exists already.
    async fn insert_tenant_key(&self, row: &TenantKeyRow) -> Result<(), DbError>;
    /// The team's live versions, oldest first.
    async fn live_key_versions(&self, team: TeamId) -> Result<Vec<u32>, DbError>;
    /// Stores `row` as the team's next version and opens the checkpoint of the re-seal job
    /// `job`, with its audit row; `Conflict` when `row.version` is not the next version.
    async fn rotate_tenant_key(
        &self,
        row: &TenantKeyRow,
        job: Uuid,
        audit: &AuditRecord,
    ) -> Result<(), DbError>;
    /// Live connections of `team` whose credential is sealed under a version below `version`.
    async fn connections_sealed_below(
        &self,
        team: TeamId,
        version: u32,
    ) -> Result<Vec<ConnectionSecretRow>, DbError>;
    /// Replaces a credential sealed under `from` by `sealed` (under `to`), with its audit row;
    /// `false` when the credential is no longer under `from`.
    async fn reseal_connection(
        &self,
        id: ConnectionId,
        from: u32,
        sealed: &str,
        to: u32,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;
    /// Backups of `team` whose snapshot key is sealed under a version below `version`.
    async fn backups_sealed_below(
        &self,
        team: TeamId,
        version: u32,
    ) -> Result<Vec<BackupKeyRow>, DbError>;
    /// Replaces a backup's snapshot key sealed under `from` by `sealed` (under `to`), with its
    /// audit row; `false` when it is no longer under `from`.
    async fn reseal_backup_key(
        &self,
        id: BackupId,
        from: u32,
        sealed: &str,
        to: u32,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;
    /// Retires (destroys) every live version of `team` below `below` and finishes the re-seal
    /// job `job`, with its audit row; the versions retired. `Constraint` while a live
    /// credential or a backup's snapshot key is still sealed under one of them.
    async fn retire_tenant_keys(
        &self,
        team: TeamId,
        below: u32,
        job: Uuid,
        audit: &AuditRecord,
    ) -> Result<Vec<u32>, DbError>;
    /// Up to `limit` live versions, of any team, wrapped by a master key other than `active`.
    async fn keys_to_rewrap(&self, active: &str, limit: u32) -> Result<Vec<TenantKeyRow>, DbError>;
    /// Replaces a version's wrapping (`row`: the new master key id and wrapped key) if it is
    /// still wrapped by `from`, with its audit row; whether it changed.
    async fn rewrap_tenant_key(
        &self,
        row: &TenantKeyRow,
        from: &str,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;
}
