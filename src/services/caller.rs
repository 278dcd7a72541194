//! The caller context: built once per authenticated request by the API layer, and the only way a
//! use case learns who is calling, reaches the database or writes the audit trail.
//!
//! [`Caller::stores`] carry the caller's own JWT, so row-level security decides what exists for
//! them; [`Caller::system`] is the service role, used only after [`Caller::authorize`] has
//! checked the caller's role (and an API key's team and scopes) against the permission matrix.

use super::audit::{Actor, AuditContext, Event, RequestMeta};
use super::{Deps, ServiceError};
use crate::authz::matrix::{
    role_allows, scopes_allow, team_role_allows, Action, Role, DOWNLOAD_GRANTABLE,
};
use crate::authz::Principal;
use crate::ids::{TeamId, UserId};
use crate::store::{Acting, AuditRecord, Stores};

/// The worker acting with the service role, and the identity its audit rows name: a job's own
/// name, or (inside a request) the caller it acts for.
pub struct Privileged<'a> {
    pub deps: &'a Deps<'a>,
    stores: Box<dyn Stores + 'a>,
    audit: AuditContext,
}

impl<'a> Privileged<'a> {
    pub fn new(deps: &'a Deps<'a>, actor: Actor, meta: RequestMeta) -> Self {
        Privileged {
            deps,
            stores: deps.db.stores(Acting::System, &meta.request_id),
            audit: AuditContext::new(actor, meta),
        }
    }

    /// Service-role stores: every use is scoped by the code to ids it has authorised.
    pub fn stores(&self) -> &dyn Stores {
        self.stores.as_ref()
    }

    pub fn meta(&self) -> &RequestMeta {
        &self.audit.meta
    }

    /// Whom this context's audit rows name.
    pub fn actor(&self) -> &Actor {
        &self.audit.actor
    }

    /// The audit row of `event`, naming this context's actor and request.
    pub fn audit(&self, event: Event) -> AuditRecord {
        self.audit.record(event)
    }

    /// The audit row of `event` in this context's request, naming another actor (e.g. the
    /// compliance engine, for the state changes a user's run makes).
    pub fn audit_by(&self, actor: Actor, event: Event) -> AuditRecord {
        AuditContext::new(actor, self.audit.meta.clone()).record(event)
    }

    /// The audit row of an event of no team (see [`AuditContext::untied`]).
    pub fn audit_untied(
        &self,
        action: &'static str,
        target_type: &'static str,
        target_id: String,
    ) -> AuditRecord {
        self.audit.untied(action, target_type, target_id)
    }

    /// Records an event that changes nothing else.
    pub async fn record(&self, event: Event) -> Result<(), ServiceError> {
        self.stores
            .record(&self.audit(event))
            .await
            .map_err(|e| ServiceError::Internal(format!("audit write failed: {e}")))
    }
}

/// One authenticated request's caller.
pub struct Caller<'a> {
    principal: Principal,
    stores: Box<dyn Stores + 'a>,
    system: Privileged<'a>,
}

impl<'a> Caller<'a> {
    pub fn new(deps: &'a Deps<'a>, principal: Principal, meta: RequestMeta) -> Self {
        let actor = match &principal.key {
            Some(key) => Actor::ApiKey {
                user: principal.user,
                key: key.id,
            },
            None => Actor::User(principal.user),
        };
        Caller {
            stores: deps.db.stores(Acting::Caller(&principal), &meta.request_id),
            system: Privileged::new(deps, actor, meta),
            principal,
        }
    }

    pub fn deps(&self) -> &'a Deps<'a> {
        self.system.deps
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn user(&self) -> UserId {
        self.principal.user
    }

    pub fn meta(&self) -> &RequestMeta {
        self.system.meta()
    }

    /// The caller's stores: what row-level security lets the caller see.
    pub fn stores(&self) -> &dyn Stores {
        self.stores.as_ref()
    }

    /// The service role, acting for this caller (its audit rows name the caller).
    pub fn system(&self) -> &Privileged<'a> {
        &self.system
    }

    /// The audit row of `event`, naming the caller (and their API key, if one was used).
    pub fn audit(&self, event: Event) -> AuditRecord {
        self.system.audit(event)
    }

    /// May the caller do `action` in `team`? Reads the caller's membership through their own JWT
    /// and checks the role against the matrix; an API key must also belong to `team` and carry
    /// a scope that allows `action`; the team's IP allow-list, if it has one, must admit the
    /// caller's address. A download also counts the team's own grants to viewers or auditors
    /// (`team_role_allows`), read through the caller's JWT too. A team the caller cannot see is
    /// `NotFound`, one where they may not act is `Forbidden` (`AddressNotAllowed` from outside the
    /// allow-list).
    pub async fn authorize(&self, team: TeamId, action: Action) -> Result<Role, ServiceError> {
        if self.principal.key.as_ref().is_some_and(|k| k.team != team) {
            return Err(ServiceError::NotFound);
        }
        let role = self
            .stores
            .role_in(self.principal.user, team)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if !super::allowlist::admits(self, team).await? {
            return Err(ServiceError::AddressNotAllowed);
        }
        let scoped = self
            .principal
            .key
            .as_ref()
            .is_none_or(|k| scopes_allow(&k.scopes, action));
        let allowed = role_allows(role, action)
            || (action == Action::BackupDownload
                && DOWNLOAD_GRANTABLE.contains(&role)
                && team_role_allows(role, action, &self.stores.download_roles(team).await?));
        if allowed && scoped {
            Ok(role)
        } else {
            Err(ServiceError::Forbidden)
        }
    }

    /// The team a request acts in when it names none: an API key's own team, else the caller's
    /// personal team.
    pub async fn team_or_default(&self, requested: Option<TeamId>) -> Result<TeamId, ServiceError> {
        if let Some(team) = requested {
            return Ok(team);
        }
        if let Some(key) = &self.principal.key {
            return Ok(key.team);
        }
        self.stores
            .personal_team(self.principal.user)
            .await?
            .ok_or(ServiceError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::Scope;
    use crate::testing::world::World;
    use futures::executor::block_on;

    #[test]
    fn authorize_checks_membership_role_and_a_keys_team_and_scopes() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let other = world.team_of(world.user());
        world.db.add_member(other, owner, Role::Owner);
        let viewer = world.member(team, Role::Viewer);
        let ok = |c: &Caller<'_>, t, a| block_on(c.authorize(t, a)).map_err(|e| e.to_string());
        assert_eq!(
            ok(&world.caller(owner), team, Action::ConnectionManage),
            Ok(Role::Owner)
        );
        assert_eq!(
            ok(&world.caller(viewer), team, Action::BackupRun),
            Err("forbidden".into())
        );
        assert_eq!(
            ok(&world.caller(viewer), other, Action::TeamRead),
            Err("not found".into())
        );
        // A key acts only in its own team, and only within its scopes, whatever its user's role.
        let key = world.key_caller(owner, team, &[Scope::Read]);
        assert_eq!(ok(&key, team, Action::ConnectionRead), Ok(Role::Owner));
        assert_eq!(ok(&key, team, Action::BackupRun), Err("forbidden".into()));
        assert_eq!(ok(&key, other, Action::TeamRead), Err("not found".into()));
        // The audit rows name the key and its user.
        let row = key.audit(Event {
            team,
            action: "backup.request",
            target_type: "backup",
            target_id: "b".into(),
            details: serde_json::json!({}),
        });
        assert_eq!(row.key_id, key.principal().key.as_ref().map(|k| k.id));
        assert_eq!(row.actor_id, owner.to_string());
    }
}
