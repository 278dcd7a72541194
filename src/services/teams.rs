//! Teams: members, invitations and role changes. The matrix decides who may manage members;
//! only owners grant or take away the owner role; a team always keeps an owner (checked here for
//! a clear error, and enforced by a trigger whoever writes).

use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::audit::Event;
use super::error::conflict_as;
use super::{Caller, ServiceError};
use crate::auth::apikey::{invitation_hash, new_invitation_token};
use crate::authz::matrix::{Action, Role};
use crate::ids::{InvitationId, TeamId, UserId};
use crate::store::{DbError, MemberRow, NewInvitation};

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
pub async fn list(caller: &Caller<'_>) -> Result<Value, ServiceError> {
    let stores = caller.stores();
    let teams = stores.teams().await?;
    let memberships = stores.memberships(caller.user()).await?;
    let rows: Vec<_> = teams
        .into_iter()
        .filter_map(|t| {
            let role = memberships.iter().find(|m| m.team_id == t.id)?.role;
            Some(json!({"id": t.id, "name": t.name, "personal": t.personal, "role": role}))
        })
        .collect();
    Ok(json!(rows))
}

pub async fn members(caller: &Caller<'_>, team: TeamId) -> Result<Vec<MemberRow>, ServiceError> {
    caller.authorize(team, Action::TeamRead).await?;
    Ok(caller.stores().members(team).await?)
}

/// Owner-level changes (granting, changing or removing an owner) need the caller to be an owner.
fn check_owner_rule(caller: Role, touches_owner: bool) -> Result<(), ServiceError> {
    if touches_owner && caller != Role::Owner {
        Err(ServiceError::Forbidden)
    } else {
        Ok(())
    }
}

pub async fn invite(
    caller: &Caller<'_>,
    team: TeamId,
    body: CreateInvitation,
) -> Result<Value, ServiceError> {
    let deps = caller.deps();
    let email = parse_email(&body.email)?;
    let role = parse_role(&body.role)?;
    let caller_role = caller.authorize(team, Action::MemberManage).await?;
    check_owner_rule(caller_role, role == Role::Owner)?;
    let (token, hash) = new_invitation_token(deps.rng, &deps.config.api_key_pepper);
    let id = InvitationId::generate(deps.rng);
    let expires_at = deps.clock.now() + Duration::days(INVITATION_DAYS);
    let audit = caller.audit(Event {
        team,
        action: "member.invite",
        target_type: "team_invitation",
        target_id: id.to_string(),
        details: json!({"email": email, "role": role}),
    });
    let row = NewInvitation {
        id,
        team_id: team,
        email: email.clone(),
        role,
        invited_by: caller.user(),
        token_hash: hash,
        expires_at,
    };
    caller
        .system()
        .stores()
        .create_invitation(&row, &audit)
        .await?;
    Ok(json!({
        "invitation": {"id": id, "team_id": team, "email": email, "role": role, "expires_at": expires_at},
        "token": token.as_str(),
    }))
}

/// Joins the caller to the invited team. Every failure looks the same (404), so a token cannot be
/// probed for which check failed.
pub async fn accept(
    caller: &Caller<'_>,
    body: AcceptInvitation,
) -> Result<MemberRow, ServiceError> {
    let deps = caller.deps();
    if body.token.len() > 100 {
        return Err(ServiceError::NotFound);
    }
    let system = caller.system().stores();
    let hash = invitation_hash(&deps.config.api_key_pepper, &body.token);
    let invitation = system
        .invitation_by_hash(&hash)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let email_matches = caller
        .principal()
        .email
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case(&invitation.email));
    let open = invitation.accepted_at.is_none() && invitation.expires_at > deps.clock.now();
    if !open || !email_matches {
        return Err(ServiceError::NotFound);
    }
    let audit = caller.audit(Event {
        team: invitation.team_id,
        action: "member.join",
        target_type: "team_invitation",
        target_id: invitation.id.to_string(),
        details: json!({"role": invitation.role}),
    });
    system
        .accept_invitation(invitation.id, caller.user(), &audit)
        .await
        .map_err(conflict_as(
            "already_member",
            "you are already a member of this team",
        ))?
        .ok_or(ServiceError::NotFound)
}

const LAST_OWNER: ServiceError = ServiceError::Conflict {
    code: "last_owner",
    message: "a team must keep at least one owner",
};

/// The target's current role, and whether they are the team's only owner.
async fn target(
    caller: &Caller<'_>,
    team: TeamId,
    member: UserId,
) -> Result<(Role, bool), ServiceError> {
    let members = caller.stores().members(team).await?;
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

/// `PATCH /teams/{id}/members/{user}`.
pub async fn change_role(
    caller: &Caller<'_>,
    team: TeamId,
    member: UserId,
    body: ChangeRole,
) -> Result<MemberRow, ServiceError> {
    let role = parse_role(&body.role)?;
    let caller_role = caller.authorize(team, Action::MemberManage).await?;
    let (current, last_owner) = target(caller, team, member).await?;
    check_owner_rule(caller_role, current == Role::Owner || role == Role::Owner)?;
    if last_owner && role != Role::Owner {
        return Err(LAST_OWNER);
    }
    let audit = caller.audit(Event {
        team,
        action: "member.role_change",
        target_type: "user",
        target_id: member.to_string(),
        details: json!({"from": current, "to": role}),
    });
    let changed = caller
        .system()
        .stores()
        .set_member_role(team, member, role, &audit)
        .await
        .map_err(map_owner_trigger)?;
    if !changed {
        return Err(ServiceError::NotFound);
    }
    caller
        .stores()
        .members(team)
        .await?
        .into_iter()
        .find(|m| m.user_id == member)
        .ok_or(ServiceError::NotFound)
}

/// `DELETE /teams/{id}/members/{user}`.
pub async fn remove(caller: &Caller<'_>, team: TeamId, member: UserId) -> Result<(), ServiceError> {
    let caller_role = caller.authorize(team, Action::MemberManage).await?;
    let (current, last_owner) = target(caller, team, member).await?;
    check_owner_rule(caller_role, current == Role::Owner)?;
    if last_owner {
        return Err(LAST_OWNER);
    }
    let audit = caller.audit(Event {
        team,
        action: "member.remove",
        target_type: "user",
        target_id: member.to_string(),
        details: json!({"role": current}),
    });
    let removed = caller
        .system()
        .stores()
        .remove_member(team, member, &audit)
        .await
        .map_err(map_owner_trigger)?;
    if removed {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::world::World;
    use futures::executor::block_on;

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
        assert!(check_owner_rule(Role::Owner, true).is_ok());
        assert!(check_owner_rule(Role::Admin, false).is_ok());
        assert!(matches!(
            check_owner_rule(Role::Admin, true),
            Err(ServiceError::Forbidden)
        ));
    }

    #[test]
    fn an_invitation_joins_only_its_address_once_and_every_step_is_audited() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let invitee = world.user();
        let body = CreateInvitation {
            email: format!("{invitee}@TEST.local"),
            role: "viewer".into(),
        };
        let created = block_on(invite(&world.caller(owner), team, body)).unwrap();
        let token = created["token"].as_str().unwrap().to_string();
        let accept_as = |user| {
            let body = AcceptInvitation {
                token: Zeroizing::new(token.clone()),
            };
            block_on(accept(&world.caller(user), body))
        };
        let stranger = world.user();
        assert!(matches!(accept_as(stranger), Err(ServiceError::NotFound)));
        assert_eq!(accept_as(invitee).unwrap().role, Role::Viewer);
        assert!(matches!(accept_as(invitee), Err(ServiceError::NotFound)));
        // A viewer manages nothing, and the last owner stays an owner.
        let viewer = world.caller(invitee);
        let promote = ChangeRole {
            role: "owner".into(),
        };
        assert!(matches!(
            block_on(change_role(&viewer, team, invitee, promote)),
            Err(ServiceError::Forbidden)
        ));
        let step_down = ChangeRole {
            role: "admin".into(),
        };
        assert!(matches!(
            block_on(change_role(&world.caller(owner), team, owner, step_down)),
            Err(ServiceError::Conflict {
                code: "last_owner",
                ..
            })
        ));
        block_on(remove(&world.caller(owner), team, invitee)).unwrap();
        assert_eq!(
            world.db.actions(),
            ["member.invite", "member.join", "member.remove"]
        );
        let join = &world.db.activity.borrow()[1];
        assert_eq!(join.actor_id, invitee.to_string());
        assert_eq!(join.team_id, Some(team));
    }
}
