//! Teams, their members and invitations.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AuditRecord, DbError};
use crate::authz::matrix::Role;
use crate::ids::{InvitationId, TeamId, UserId};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TeamRow {
    pub id: TeamId,
    pub name: String,
    pub personal: bool,
}

/// The caller's role in one team.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
pub struct Membership {
    pub team_id: TeamId,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemberRow {
    pub team_id: TeamId,
    pub user_id: UserId,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NewInvitation {
    pub id: InvitationId,
    pub team_id: TeamId,
    pub email: String,
    pub role: Role,
    pub invited_by: UserId,
    /// Keyed hash of the token (the token itself is shown once and never stored).
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct InvitationRow {
    pub id: InvitationId,
    pub team_id: TeamId,
    pub email: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

#[async_trait(?Send)]
pub trait TeamStore {
    /// The user's memberships the caller may see.
    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, DbError>;
    /// The user's role in one team, if the caller may see it.
    async fn role_in(&self, user: UserId, team: TeamId) -> Result<Option<Role>, DbError>;
    /// The user's personal team (created at sign-up).
    async fn personal_team(&self, user: UserId) -> Result<Option<TeamId>, DbError>;
    async fn teams(&self) -> Result<Vec<TeamRow>, DbError>;
    async fn members(&self, team: TeamId) -> Result<Vec<MemberRow>, DbError>;
    /// Service role: changes a member's role; whether a member changed. A change that would
    /// leave the team without an owner is `Constraint` (the database's trigger).
    async fn set_member_role(
        &self,
        team: TeamId,
        user: UserId,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;
    /// Service role: removes a member; whether one went (last owner: `Constraint`).
    async fn remove_member(
        &self,
        team: TeamId,
        user: UserId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;
    /// Service role: stores an invitation.
    async fn create_invitation(
        &self,
        row: &NewInvitation,
        audit: &AuditRecord,
    ) -> Result<(), DbError>;
    /// Service role: the invitation a token hash names.
    async fn invitation_by_hash(&self, hash: &str) -> Result<Option<InvitationRow>, DbError>;
    /// Service role: accepts an open, unexpired invitation and makes `user` a member in its
    /// role, in one step; `None` when it was no longer open, `Conflict` when already a member.
    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        audit: &AuditRecord,
    ) -> Result<Option<MemberRow>, DbError>;
}
