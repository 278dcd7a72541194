//! Teams: members, invitations and role changes. The matrix decides who may manage members;
//! only owners grant or take away the owner role; a team always keeps an owner (checked here for
//! a clear error, and enforced by a trigger whoever writes).

use chrono::Duration;
use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::audit::{self, Actor, Event, RequestMeta};
use super::connections::{require_role, resolve_team};
use super::error::conflict_as;
use super::{Deps, ServiceError};
use crate::auth::apikey::{invitation_hash, new_invitation_token};
use crate::authz::matrix::{Action, Role};
use crate::db::access::{InvitationRow, MemberRow, NewInvitation, NewMember, TeamRow};
use crate::db::{DbError, Repo};
use crate::ids::{InvitationId, TeamId, UserId};

/// How long an invitation can be accepted.
const INVITATION_DAYS: i64 = 7;

/// `POST /api/v1/teams/{id}/invitations` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    pub email: String,
    pub role: String,
}

/// `POST /api/v1/invitations/accept` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: Zeroizing<String>,
}

/// `PATCH /api/v1/teams/{id}/members/{user_id}` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    pub role: String,
}

fn parse_role(role: &str) -> Result<Role, ServiceError> {
    Role::parse(role).ok_or_else(|| {
        ServiceError::invalid(
            "role",
            "must be one of owner, admin, operator, viewer, auditor",
        )
    })
}

fn parse_email(email: &str) -> Result<String, ServiceError> {
    let email = email.trim();
    let ok = (3..=320).contains(&email.len())
        && email.matches('@').count() == 1
        && !email.starts_with('@')
        && !email.ends_with('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email.to_ascii_lowercase())
    } else {
        Err(ServiceError::invalid("email", "must be an email address"))
    }
}

/// The caller's teams and their role in each.
pub async fn list(repo: &Repo<'_>, user: UserId) -> Result<serde_json::Value, ServiceError> {
    let teams: Vec<TeamRow> = repo.teams().await?;
    let memberships = repo.memberships(user).await?;
    let rows: Vec<_> = teams
        .into_iter()
        .filter_map(|t| {
            let role = memberships.iter().find(|m| m.team_id == t.id)?.role.clone();
            Some(json!({"id": t.id, "name": t.name, "personal": t.personal, "role": role}))
        })
        .collect();
    Ok(json!(rows))
}

pub async fn members(
    repo: &Repo<'_>,
    user: UserId,
    team: TeamId,
) -> Result<Vec<MemberRow>, ServiceError> {
    let (team, role) = resolve_team(repo, user, Some(team)).await?;
    require_role(&role, Action::TeamRead)?;
    Ok(repo.members(team).await?)
}

/// Owner-level changes (granting, changing or removing an owner) need the caller to be an owner.
fn check_owner_rule(caller: &str, touches_owner: bool) -> Result<(), ServiceError> {
    if touches_owner && caller != Role::Owner.as_str() {
        Err(ServiceError::Forbidden)
    } else {
        Ok(())
    }
}

pub async fn invite(
    deps: &Deps<'_>,
    repo: &Repo<'_>,
    system: &Repo<'_>,
    user: UserId,
    meta: &RequestMeta,
    team: TeamId,
    body: CreateInvitation,
) -> Result<serde_json::Value, ServiceError> {
    let email = parse_email(&body.email)?;
    let role = parse_role(&body.role)?;
    let (team, caller_role) = resolve_team(repo, user, Some(team)).await?;
    require_role(&caller_role, Action::MemberManage)?;
    check_owner_rule(&caller_role, role == Role::Owner)?;
    let (token, hash) = new_invitation_token(deps.rng, &deps.config.api_key_pepper);
    let id = InvitationId::generate(deps.rng);
    let expires_at = deps.clock.now() + Duration::days(INVITATION_DAYS);
    repo.insert_invitation(&NewInvitation {
        id,
        team_id: team,
        email: &email,
        role,
        invited_by: user,
        token_hash: &hash,
        expires_at,
    })
    .await?;
    audit::record(
        system,
        &Actor::User(user),
        meta,
        Event {
            team,
            action: "member.invite",
            target_type: "team_invitation",
            target_id: id.to_string(),
            details: json!({"email": email, "role": role}),
        },
    )
    .await?;
    Ok(json!({
        "invitation": {"id": id, "team_id": team, "email": email, "role": role, "expires_at": expires_at},
        "token": token.as_str(),
    }))
}

/// Joins the caller to the invited team. Every failure looks the same (404), so a token cannot be
/// probed for which check failed.
pub async fn accept(
    deps: &Deps<'_>,
    system: &Repo<'_>,
    user: UserId,
    email: Option<&str>,
    meta: &RequestMeta,
    body: AcceptInvitation,
) -> Result<MemberRow, ServiceError> {
    if body.token.len() > 100 {
        return Err(ServiceError::NotFound);
    }
    let hash = invitation_hash(&deps.config.api_key_pepper, &body.token);
    let invitation: InvitationRow = system
        .invitation_by_hash(&hash)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let now = deps.clock.now();
    let email_matches = email.is_some_and(|e| e.eq_ignore_ascii_case(&invitation.email));
    if invitation.accepted_at.is_some() || invitation.expires_at <= now || !email_matches {
        return Err(ServiceError::NotFound);
    }
    if !system.accept_invitation(invitation.id, now).await? {
        return Err(ServiceError::NotFound);
    }
    system
        .add_member(&NewMember {
            team_id: invitation.team_id,
            user_id: user,
            role: invitation.role,
        })
        .await
        .map_err(conflict_as(
            "already_member",
            "you are already a member of this team",
        ))?;
    audit::record(
        system,
        &Actor::User(user),
        meta,
        Event {
            team: invitation.team_id,
            action: "member.join",
            target_type: "team_invitation",
            target_id: invitation.id.to_string(),
            details: json!({"role": invitation.role}),
        },
    )
    .await?;
    Ok(MemberRow {
        team_id: invitation.team_id,
        user_id: user,
        role: invitation.role,
        created_at: now,
    })
}

const LAST_OWNER: ServiceError = ServiceError::Conflict {
    code: "last_owner",
    message: "a team must keep at least one owner",
};

/// The target's current role, and whether they are the team's only owner.
async fn target(
    repo: &Repo<'_>,
    team: TeamId,
    member: UserId,
) -> Result<(Role, bool), ServiceError> {
    let members = repo.members(team).await?;
    let role = members
        .iter()
        .find(|m| m.user_id == member)
        .map(|m| m.role)
        .ok_or(ServiceError::NotFound)?;
    let owners = members.iter().filter(|m| m.role == Role::Owner).count();
    Ok((role, role == Role::Owner && owners == 1))
}

fn map_owner_trigger(e: DbError) -> ServiceError {
    match e {
        DbError::Constraint => LAST_OWNER,
        other => other.into(),
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn change_role(
    repo: &Repo<'_>,
    system: &Repo<'_>,
    user: UserId,
    meta: &RequestMeta,
    team: TeamId,
    member: UserId,
    body: ChangeRole,
) -> Result<MemberRow, ServiceError> {
    let role = parse_role(&body.role)?;
    let (team, caller_role) = resolve_team(repo, user, Some(team)).await?;
    require_role(&caller_role, Action::MemberManage)?;
    let (current, last_owner) = target(repo, team, member).await?;
    check_owner_rule(&caller_role, current == Role::Owner || role == Role::Owner)?;
    if last_owner && role != Role::Owner {
        return Err(LAST_OWNER);
    }
    if !repo
        .set_member_role(team, member, role)
        .await
        .map_err(map_owner_trigger)?
    {
        return Err(ServiceError::NotFound);
    }
    audit::record(
        system,
        &Actor::User(user),
        meta,
        Event {
            team,
            action: "member.role_change",
            target_type: "user",
            target_id: member.to_string(),
            details: json!({"from": current, "to": role}),
        },
    )
    .await?;
    let members = repo.members(team).await?;
    members
        .into_iter()
        .find(|m| m.user_id == member)
        .ok_or(ServiceError::NotFound)
}

pub async fn remove(
    repo: &Repo<'_>,
    system: &Repo<'_>,
    user: UserId,
    meta: &RequestMeta,
    team: TeamId,
    member: UserId,
) -> Result<(), ServiceError> {
    let (team, caller_role) = resolve_team(repo, user, Some(team)).await?;
    require_role(&caller_role, Action::MemberManage)?;
    let (current, last_owner) = target(repo, team, member).await?;
    check_owner_rule(&caller_role, current == Role::Owner)?;
    if last_owner {
        return Err(LAST_OWNER);
    }
    if !repo
        .remove_member(team, member)
        .await
        .map_err(map_owner_trigger)?
    {
        return Err(ServiceError::NotFound);
    }
    audit::record(
        system,
        &Actor::User(user),
        meta,
        Event {
            team,
            action: "member.remove",
            target_type: "user",
            target_id: member.to_string(),
            details: json!({"role": current}),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_roles_are_checked_with_field_errors() {
        assert_eq!(parse_email(" Ada@Example.com ").unwrap(), "ada@example.com");
        for bad in ["", "ada", "@x", "x@", "a@b@c", "a b@c", "a\n@c"] {
            assert!(
                matches!(
                    parse_email(bad),
                    Err(ServiceError::Invalid { field: "email", .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(parse_role("auditor").unwrap(), Role::Auditor);
        assert!(matches!(
            parse_role("superuser"),
            Err(ServiceError::Invalid { field: "role", .. })
        ));
    }

    #[test]
    fn only_owners_touch_the_owner_role() {
        assert!(check_owner_rule("owner", true).is_ok());
        assert!(check_owner_rule("admin", false).is_ok());
        assert!(matches!(
            check_owner_rule("admin", true),
            Err(ServiceError::Forbidden)
        ));
    }
}
