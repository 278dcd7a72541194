//! A team's IP allow-list for API access (`team_ip_allowlists`): CIDR networks as text, already
//! validated by [`crate::allowlist::AllowList`]. No list (empty) means no restriction.

use async_trait::async_trait;

use super::{AuditRecord, DbError};
use crate::ids::TeamId;

#[async_trait(?Send)]
pub trait AllowListStore {
    /// The team's entries (empty when it has no list).
    async fn allow_list(&self, team: TeamId) -> Result<Vec<String>, DbError>;

    /// Service role: replaces the list (empty removes it) and records `audit` with it.
    async fn set_allow_list(
        &self,
        team: TeamId,
        entries: &[String],
        audit: &AuditRecord,
    ) -> Result<(), DbError>;
}
