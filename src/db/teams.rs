//! Teams, members and invitations.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{row, PgStores, Query};
use crate::authz::matrix::Role;
use crate::ids::{InvitationId, TeamId, UserId};
use crate::store::{
    AuditRecord, DbError, InvitationRow, MemberRow, Membership, NewInvitation, TeamRow, TeamStore,
};

#[async_trait(?Send)]
impl TeamStore for PgStores<'_> {
    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, DbError> {
        let query = Query::new().select("team_id,role").eq("user_id", user);
        self.db.select("team_members", query).await
    }

    async fn role_in(&self, user: UserId, team: TeamId) -> Result<Option<Role>, DbError> {
        let query = Query::new()
            .select("team_id,role")
            .eq("user_id", user)
            .eq("team_id", team);
        let membership: Option<Membership> = self.one("team_members", query).await?;
        Ok(membership.map(|m| m.role))
    }

    async fn personal_team(&self, user: UserId) -> Result<Option<TeamId>, DbError> {
        #[derive(serde::Deserialize)]
        struct Row {
            id: TeamId,
        }
        let query = Query::new()
            .select("id")
            .eq("created_by", user)
            .eq("personal", true)
            .limit(1);
        let team: Option<Row> = self.one("teams", query).await?;
        Ok(team.map(|t| t.id))
    }

    async fn teams(&self) -> Result<Vec<TeamRow>, DbError> {
        let query = Query::new()
            .select("id,name,personal")
            .order("created_at.asc");
        self.db.select("teams", query).await
    }

    async fn members(&self, team: TeamId) -> Result<Vec<MemberRow>, DbError> {
        let query = Query::new()
            .select("team_id,user_id,role,created_at")
            .eq("team_id", team)
            .order("created_at.asc");
        self.db.select("team_members", query).await
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
        let query = Query::new()
            .select("id,team_id,email,role,expires_at,accepted_at")
            .eq("token_hash", hash);
        self.one("team_invitations", query).await
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
