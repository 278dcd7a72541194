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

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InvitationRow {
    pub id: InvitationId,
    pub team_id: TeamId,
    pub email: String,
    pub role: Role,
    pub invited_by: UserId,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The columns of an [`InvitationRow`] (never the token hash).
pub const INVITATION_COLUMNS: &str =
    "id,team_id,email,role,invited_by,expires_at,accepted_at,revoked_at,created_at";

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
    /// The team's invitations the caller may see (those who manage members), newest first.
    async fn invitations(&self, team: TeamId) -> Result<Vec<InvitationRow>, DbError>;
    /// Service role: revokes an open invitation of `team`; false when it was not open.
    async fn revoke_invitation(
        &self,
        team: TeamId,
        id: InvitationId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError>;
    /// Roles beyond the matrix's whose members may download decrypted snapshots in `team`.
    async fn download_roles(&self, team: TeamId) -> Result<Vec<Role>, DbError>;
    /// Service role: replaces the team's download roles (viewer, auditor or none); the roles
    /// granted afterwards.
    async fn set_download_roles(
        &self,
        team: TeamId,
        roles: &[Role],
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<Vec<Role>, DbError>;
    /// Service role: accepts an invitation that is open (not accepted, revoked or expired) and
    /// whose inviter may still invite to that role, for a user whose confirmed address is the
    /// invited one, and makes `user` a member in its role, in one step; `None` when any of that
    /// does not hold, `Conflict` when already a member.
    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        audit: &AuditRecord,
    ) -> Result<Option<MemberRow>, DbError>;
}
