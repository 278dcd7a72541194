//! Queries for teams, members, invitations and API keys (migration 0005).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::postgrest::{DbError, Query};
use super::Repo;
use crate::authz::matrix::{Role, Scope};
use crate::ids::{ApiKeyId, InvitationId, TeamId, UserId};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TeamRow {
    pub id: TeamId,
    pub name: String,
    pub personal: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberRow {
    pub team_id: TeamId,
    pub user_id: UserId,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize)]
pub struct NewMember {
    pub team_id: TeamId,
    pub user_id: UserId,
    pub role: Role,
}

#[derive(Serialize)]
pub struct NewInvitation<'a> {
    pub id: InvitationId,
    pub team_id: TeamId,
    pub email: &'a str,
    pub role: Role,
    pub invited_by: UserId,
    pub token_hash: &'a str,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct InvitationRow {
    pub id: InvitationId,
    pub team_id: TeamId,
    pub email: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

/// Columns users may read from `api_keys` (never `secret_hash`).
pub const API_KEY_COLUMNS: &str =
    "id,team_id,user_id,name,scopes,expires_at,revoked_at,last_used_at,created_at";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiKeyRow {
    pub id: ApiKeyId,
    pub team_id: TeamId,
    pub user_id: UserId,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What authentication reads (service role).
#[derive(Clone, Debug, Deserialize)]
pub struct ApiKeySecretRow {
    pub team_id: TeamId,
    pub user_id: UserId,
    pub secret_hash: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
pub struct NewApiKey<'a> {
    pub id: ApiKeyId,
    pub team_id: TeamId,
    pub user_id: UserId,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub scopes: &'a [Scope],
    pub expires_at: Option<DateTime<Utc>>,
}

impl Repo<'_> {
    pub async fn teams(&self) -> Result<Vec<TeamRow>, DbError> {
        self.db
            .select(
                "teams",
                Query::new()
                    .select("id,name,personal")
                    .order("created_at.asc"),
            )
            .await
    }

    pub async fn members(&self, team: TeamId) -> Result<Vec<MemberRow>, DbError> {
        self.db
            .select(
                "team_members",
                Query::new()
                    .select("team_id,user_id,role,created_at")
                    .eq("team_id", team)
                    .order("created_at.asc"),
            )
            .await
    }

    pub async fn add_member(&self, row: &NewMember) -> Result<(), DbError> {
        self.db.insert_only("team_members", row).await
    }

    pub async fn set_member_role(
        &self,
        team: TeamId,
        user: UserId,
        role: Role,
    ) -> Result<bool, DbError> {
        let n = self
            .db
            .update_team_rows(
                "team_members",
                Query::new().eq("team_id", team).eq("user_id", user),
                &json!({ "role": role }),
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn remove_member(&self, team: TeamId, user: UserId) -> Result<bool, DbError> {
        let n = self
            .db
            .delete(
                "team_members",
                Query::new().eq("team_id", team).eq("user_id", user),
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn insert_invitation(&self, row: &NewInvitation<'_>) -> Result<(), DbError> {
        self.db.insert_only("team_invitations", row).await
    }

    /// Service role: the invitation a token hash names.
    pub async fn invitation_by_hash(&self, hash: &str) -> Result<Option<InvitationRow>, DbError> {
        Ok(self
            .db
            .select(
                "team_invitations",
                Query::new()
                    .select("id,team_id,email,role,expires_at,accepted_at")
                    .eq("token_hash", hash),
            )
            .await?
            .into_iter()
            .next())
    }

    /// Service role: marks an open invitation accepted; false if someone else got there first.
    pub async fn accept_invitation(
        &self,
        id: InvitationId,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let n = self
            .db
            .update_team_rows(
                "team_invitations",
                Query::new().eq("id", id).is_null("accepted_at"),
                &json!({ "accepted_at": now }),
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn insert_api_key(&self, row: &NewApiKey<'_>) -> Result<ApiKeyRow, DbError> {
        self.db.insert("api_keys", row, API_KEY_COLUMNS).await
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, DbError> {
        self.db
            .select(
                "api_keys",
                Query::new()
                    .select(API_KEY_COLUMNS)
                    .order("created_at.desc"),
            )
            .await
    }

    pub async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKeyRow>, DbError> {
        Ok(self
            .db
            .select(
                "api_keys",
                Query::new().select(API_KEY_COLUMNS).eq("id", id),
            )
            .await?
            .into_iter()
            .next())
    }

    pub async fn revoke_api_key(&self, id: ApiKeyId, now: DateTime<Utc>) -> Result<bool, DbError> {
        let n = self
            .db
            .update(
                "api_keys",
                Query::new().eq("id", id),
                &json!({ "revoked_at": now }),
            )
            .await?;
        Ok(n > 0)
    }

    /// Service role: what authenticating a key needs.
    pub async fn api_key_secret(&self, id: ApiKeyId) -> Result<Option<ApiKeySecretRow>, DbError> {
        Ok(self
            .db
            .select(
                "api_keys",
                Query::new()
                    .select("team_id,user_id,secret_hash,scopes,expires_at,revoked_at")
                    .eq("id", id),
            )
            .await?
            .into_iter()
            .next())
    }

    /// Service role: records use of a key.
    pub async fn touch_api_key(&self, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), DbError> {
        self.db
            .update(
                "api_keys",
                Query::new().eq("id", id),
                &json!({ "last_used_at": now }),
            )
            .await
            .map(|_| ())
    }
}
