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
use crate::auth::apikey::{invitation_hashes, new_invitation_token};
use crate::authz::matrix::{Action, Role, DOWNLOAD_GRANTABLE};
use crate::billing::plans::Limit;
use crate::ids::{InvitationId, TeamId, UserId};
use crate::services::billing;
use crate::store::{DbError, InvitationRow, MemberRow, NewInvitation};

/// How long an invitation can be accepted.
const INVITATION_DAYS: i64 = 7;

/// `POST /api/v1/teams/{id}/invitations` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    pub email: String,
    pub role: String,
}

/// `POST /api/v1/invitations/accept` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    #[schema(value_type = String)]
    pub token: Zeroizing<String>,
}

/// `PATCH /api/v1/teams/{id}/settings` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeSettings {
    /// Roles beyond owner, admin and operator whose members may download decrypted snapshots.
    pub download_roles: Vec<String>,
}

/// `PATCH /api/v1/teams/{id}/members/{user_id}` body.
#[derive(Deserialize, utoipa::ToSchema)]
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
    billing::enforce(caller.system(), team, Limit::Members, None).await?;
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
    // The address is the credential that binds an invitation, so it must be one the user proved
    // they own. Checked before the token is looked up: the answer says nothing about the token.
    if !caller.principal().email_verified {
        return Err(ServiceError::EmailNotVerified);
    }
    if body.token.len() > 100 {
        return Err(ServiceError::NotFound);
    }
    let system = caller.system().stores();
    // One lookup per pepper still in the ring, newest first: almost always one.
    let mut found = None;
    for hash in invitation_hashes(&deps.config.api_key_pepper, &body.token) {
        found = system.invitation_by_hash(&hash).await?;
        if found.is_some() {
            break;
        }
    }
    let invitation = found.ok_or(ServiceError::NotFound)?;
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

/// Where an invitation stands, for listings.
fn invitation_status(row: &InvitationRow, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    if row.accepted_at.is_some() {
        "accepted"
    } else if row.revoked_at.is_some() {
        "revoked"
    } else if row.expires_at <= now {
        "expired"
    } else {
        "open"
    }
}

/// `GET /teams/{id}/invitations`: the team's invitations (never their tokens), newest first.
pub async fn invitations(caller: &Caller<'_>, team: TeamId) -> Result<Value, ServiceError> {
    caller.authorize(team, Action::MemberManage).await?;
    let now = caller.deps().clock.now();
    let rows = caller.stores().invitations(team).await?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut v = json!(row);
            v["status"] = json!(invitation_status(row, now));
            v
        })
        .collect();
    Ok(json!(rows))
}

/// `DELETE /teams/{id}/invitations/{invitation_id}`: an open invitation can no longer be
/// accepted. Revoking an invitation to the owner role takes an owner, as issuing one does.
pub async fn revoke_invitation(
    caller: &Caller<'_>,
    team: TeamId,
    id: InvitationId,
) -> Result<Value, ServiceError> {
    let caller_role = caller.authorize(team, Action::MemberManage).await?;
    let row = caller
        .stores()
        .invitations(team)
        .await?
        .into_iter()
        .find(|i| i.id == id)
        .ok_or(ServiceError::NotFound)?;
    check_owner_rule(caller_role, row.role == Role::Owner)?;
    const CLOSED: ServiceError = ServiceError::Conflict {
        code: "invitation_closed",
        message: "the invitation was already accepted or revoked",
    };
    if row.accepted_at.is_some() || row.revoked_at.is_some() {
        return Err(CLOSED);
    }
    let audit = caller.audit(Event {
        team,
        action: "member.invite_revoke",
        target_type: "team_invitation",
        target_id: id.to_string(),
        details: json!({"email": row.email, "role": row.role}),
    });
    let revoked = caller
        .system()
        .stores()
        .revoke_invitation(team, id, &audit)
        .await?;
    if !revoked {
        return Err(CLOSED);
    }
    Ok(json!({"revoked": id}))
}

/// `GET /teams/{id}/settings`.
pub async fn settings(caller: &Caller<'_>, team: TeamId) -> Result<Value, ServiceError> {
    caller.authorize(team, Action::TeamRead).await?;
    let roles = caller.stores().download_roles(team).await?;
    Ok(json!({"download_roles": roles}))
}

/// `PATCH /teams/{id}/settings`: which roles beyond owner, admin and operator may download
/// decrypted snapshots (viewer, auditor, or neither). A team owner's decision, audited.
pub async fn change_settings(
    caller: &Caller<'_>,
    team: TeamId,
    body: ChangeSettings,
) -> Result<Value, ServiceError> {
    let mut roles = Vec::new();
    for name in &body.download_roles {
        match Role::parse(name) {
            Some(role) if DOWNLOAD_GRANTABLE.contains(&role) => roles.push(role),
            _ => return Err(ServiceError::invalid(
                "download_roles",
                "may list only viewer and auditor (owners, admins and operators always download)",
            )),
        }
    }
    roles.sort();
    roles.dedup();
    let caller_role = caller.authorize(team, Action::MemberManage).await?;
    check_owner_rule(caller_role, true)?;
    let before = caller.stores().download_roles(team).await?;
    let audit = caller.audit(Event {
        team,
        action: "team.download_roles",
        target_type: "team",
        target_id: team.to_string(),
        details: json!({"from": before, "to": roles}),
    });
    let granted = caller
        .system()
        .stores()
        .set_download_roles(team, &roles, caller.user(), &audit)
        .await?;
    Ok(json!({"download_roles": granted}))
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

    fn invite_as(world: &World, by: UserId, team: TeamId, who: UserId, role: &str) -> Value {
        let body = CreateInvitation {
            email: format!("{who}@test.local"),
            role: role.into(),
        };
        block_on(invite(&world.caller(by), team, body)).unwrap()
    }

    fn accept_with(caller: &Caller<'_>, created: &Value) -> Result<MemberRow, ServiceError> {
        let body = AcceptInvitation {
            token: Zeroizing::new(created["token"].as_str().unwrap().to_string()),
        };
        block_on(accept(caller, body))
    }

    #[test]
    fn invitations_are_listed_and_revoked_by_member_managers_and_revoked_ones_do_not_join() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let admin = world.member(team, Role::Admin);
        let viewer = world.member(team, Role::Viewer);
        let invitee = world.user();
        let created = invite_as(&world, owner, team, invitee, "operator");
        let id = InvitationId::parse(created["invitation"]["id"].as_str().unwrap()).unwrap();
        let listed = block_on(invitations(&world.caller(admin), team)).unwrap();
        assert_eq!(listed[0]["id"], json!(id));
        assert_eq!(listed[0]["status"], "open");
        assert!(listed[0].get("token_hash").is_none());
        assert!(matches!(
            block_on(invitations(&world.caller(viewer), team)),
            Err(ServiceError::Forbidden)
        ));
        assert!(matches!(
            block_on(revoke_invitation(&world.caller(viewer), team, id)),
            Err(ServiceError::Forbidden)
        ));
        block_on(revoke_invitation(&world.caller(admin), team, id)).unwrap();
        assert!(matches!(
            block_on(revoke_invitation(&world.caller(admin), team, id)),
            Err(ServiceError::Conflict {
                code: "invitation_closed",
                ..
            })
        ));
        assert_eq!(
            block_on(invitations(&world.caller(owner), team)).unwrap()[0]["status"],
            "revoked"
        );
        assert!(matches!(
            accept_with(&world.caller(invitee), &created),
            Err(ServiceError::NotFound)
        ));
        // Only an owner revokes an invitation to the owner role.
        let to_owner = invite_as(&world, owner, team, world.user(), "owner");
        let owner_inv =
            InvitationId::parse(to_owner["invitation"]["id"].as_str().unwrap()).unwrap();
        assert!(matches!(
            block_on(revoke_invitation(&world.caller(admin), team, owner_inv)),
            Err(ServiceError::Forbidden)
        ));
        assert_eq!(
            world.db.actions(),
            ["member.invite", "member.invite_revoke", "member.invite"]
        );
    }

    #[test]
    fn acceptance_rechecks_the_inviter_and_needs_a_verified_email() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let admin = world.member(team, Role::Admin);
        let invitee = world.user();
        let created = invite_as(&world, admin, team, invitee, "viewer");
        // An unverified address is refused before the token is even looked up.
        assert!(matches!(
            accept_with(&world.unverified_caller(invitee), &created),
            Err(ServiceError::EmailNotVerified)
        ));
        // The inviter was demoted to viewer meanwhile: their invitation no longer admits anyone.
        let demote = ChangeRole {
            role: "viewer".into(),
        };
        block_on(change_role(&world.caller(owner), team, admin, demote)).unwrap();
        assert!(matches!(
            accept_with(&world.caller(invitee), &created),
            Err(ServiceError::NotFound)
        ));
        // Restored, it works again (nothing was consumed by the refusals).
        let restore = ChangeRole {
            role: "admin".into(),
        };
        block_on(change_role(&world.caller(owner), team, admin, restore)).unwrap();
        assert_eq!(
            accept_with(&world.caller(invitee), &created).unwrap().role,
            Role::Viewer
        );
        // An inviter who left the team admits nobody either.
        let second = world.user();
        let created = invite_as(&world, admin, team, second, "viewer");
        block_on(remove(&world.caller(owner), team, admin)).unwrap();
        assert!(matches!(
            accept_with(&world.caller(second), &created),
            Err(ServiceError::NotFound)
        ));
    }

    #[test]
    fn only_an_owner_grants_downloads_and_only_to_viewers_or_auditors() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let admin = world.member(team, Role::Admin);
        let auditor = world.member(team, Role::Auditor);
        let grant = |by: UserId, roles: &[&str]| {
            let body = ChangeSettings {
                download_roles: roles.iter().map(|r| r.to_string()).collect(),
            };
            block_on(change_settings(&world.caller(by), team, body))
        };
        let may_download = || {
            block_on(
                world
                    .caller(auditor)
                    .authorize(team, Action::BackupDownload),
            )
            .is_ok()
        };
        assert!(!may_download());
        assert!(matches!(
            grant(admin, &["auditor"]),
            Err(ServiceError::Forbidden)
        ));
        for bad in [&["admin"][..], &["operator"], &["root"]] {
            assert!(matches!(
                grant(owner, bad),
                Err(ServiceError::Invalid {
                    field: "download_roles",
                    ..
                })
            ));
        }
        assert_eq!(
            grant(owner, &["auditor", "auditor"]).unwrap()["download_roles"],
            json!(["auditor"])
        );
        assert!(may_download());
        assert_eq!(
            block_on(settings(&world.caller(auditor), team)).unwrap()["download_roles"],
            json!(["auditor"])
        );
        // A grant reaches downloads only.
        assert!(block_on(world.caller(auditor).authorize(team, Action::BackupRun)).is_err());
        grant(owner, &[]).unwrap();
        assert!(!may_download());
        let audit = world.db.activity.borrow();
        assert_eq!(audit.len(), 2);
        assert_eq!(audit[0].action, "team.download_roles");
        assert_eq!(audit[0].details["to"], json!(["auditor"]));
        assert_eq!(audit[1].details["from"], json!(["auditor"]));
    }
}
