//! Per-team data keys, wrapped by a master key (service role only; no user ever reads them).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::DbError;
use crate::ids::TeamId;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TenantKeyRow {
    pub team_id: TeamId,
    pub version: u32,
    pub master_key_id: String,
    pub wrapped_key: String,
}

#[async_trait(?Send)]
pub trait TenantKeyStore {
    /// A team's data key: `version`, or the newest when `None`.
    async fn tenant_key(
        &self,
        team: TeamId,
        version: Option<u32>,
    ) -> Result<Option<TenantKeyRow>, DbError>;
    /// Stores a new version; `Conflict` when it exists already.
    async fn insert_tenant_key(&self, row: &TenantKeyRow) -> Result<(), DbError>;
}
