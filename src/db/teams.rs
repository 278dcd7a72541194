//! Teams, members and invitations.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{row, PgStores};
use crate::authz::matrix::Role;
use crate::ids::{InvitationId, TeamId, UserId};
use crate::store::{
    AuditRecord, DbError, InvitationRow, MemberRow, Membership, NewInvitation, TeamRow, TeamStore,
    INVITATION_COLUMNS,
};

#[async_trait(?Send)]
impl TeamStore for PgStores<'_> {
    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, DbError> {
        let query = self
            .db
            .from("team_members")
            .select("team_id,role")
            .eq("user_id", user.to_string());
        self.db.fetch(query).await
    }

    async fn role_in(&self, user: UserId, team: TeamId) -> Result<Option<Role>, DbError> {
        let query = self
            .db
            .from("team_members")
            .select("team_id,role")
            .eq("user_id", user.to_string())
            .eq("team_id", team.to_string());
        let membership: Option<Membership> = self.one(query).await?;
        Ok(membership.map(|m| m.role))
    }

    async fn personal_team(&self, user: UserId) -> Result<Option<TeamId>, DbError> {
        #[derive(serde::Deserialize)]
        struct Row {
            id: TeamId,
        }
        let query = self
            .db
            .from("teams")
            .select("id")
            .eq("created_by", user.to_string())
            .eq("personal", "true")
            .limit(1);
        let team: Option<Row> = self.one(query).await?;
        Ok(team.map(|t| t.id))
    }

    async fn teams(&self) -> Result<Vec<TeamRow>, DbError> {
        let query = self
            .db
            .from("teams")
            .select("id,name,personal")
            .order("created_at.asc");
        self.db.fetch(query).await
    }

    async fn members(&self, team: TeamId) -> Result<Vec<MemberRow>, DbError> {
        let query = self
            .db
            .from("team_members")
            .select("team_id,user_id,role,created_at")
            .eq("team_id", team.to_string())
            .order("created_at.asc");
        self.db.fetch(query).await
    }

    async fn set_member_role(
        &self,
        team: TeamId,
        user: UserId,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "member_set_role",
            &json!({"p_team": team, "p_user": user, "p_role": role, "p_audit": audit}),
        )
        .await
    }

    async fn remove_member(
        &self,
        team: TeamId,
        user: UserId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "member_remove",
            &json!({"p_team": team, "p_user": user, "p_audit": audit}),
        )
        .await
    }

    async fn create_invitation(
        &self,
        new: &NewInvitation,
        audit: &AuditRecord,
    ) -> Result<(), DbError> {
        self.call::<_, Value>(
            "invitation_create",
            &json!({"p_row": new, "p_audit": audit}),
        )
        .await
        .map(|_| ())
    }

    async fn invitation_by_hash(&self, hash: &str) -> Result<Option<InvitationRow>, DbError> {
        let query = self
            .db
            .from("team_invitations")
            .select(INVITATION_COLUMNS)
            .eq("token_hash", hash);
        self.one(query).await
    }

    async fn invitations(&self, team: TeamId) -> Result<Vec<InvitationRow>, DbError> {
        let query = self
            .db
            .from("team_invitations")
            .select(INVITATION_COLUMNS)
            .eq("team_id", team.to_string())
            .order("created_at.desc")
            .limit(500);
        self.db.fetch(query).await
    }

    async fn revoke_invitation(
        &self,
        team: TeamId,
        id: InvitationId,
        audit: &AuditRecord,
    ) -> Result<bool, DbError> {
        self.call(
            "invitation_revoke",
            &json!({"p_team": team, "p_id": id, "p_audit": audit}),
        )
        .await
    }

    async fn download_roles(&self, team: TeamId) -> Result<Vec<Role>, DbError> {
        #[derive(serde::Deserialize)]
        struct Row {
            role: Role,
        }
        let query = self
            .db
            .from("team_download_roles")
            .select("role")
            .eq("team_id", team.to_string())
            .order("role.asc");
        let rows: Vec<Row> = self.db.fetch(query).await?;
        Ok(rows.into_iter().map(|r| r.role).collect())
    }

    async fn set_download_roles(
        &self,
        team: TeamId,
        roles: &[Role],
        by: UserId,
        audit: &AuditRecord,
    ) -> Result<Vec<Role>, DbError> {
        self.call(
            "team_set_download_roles",
            &json!({"p_team": team, "p_roles": roles, "p_by": by, "p_audit": audit}),
        )
        .await
    }

    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        audit: &AuditRecord,
    ) -> Result<Option<MemberRow>, DbError> {
        let member: Value = self
            .call(
                "invitation_accept",
                &json!({"p_id": id, "p_user": user, "p_audit": audit}),
            )
            .await?;
        row(member)
    }
}
