//! Okta connections: verify the credential against the org, seal it under the team's data key,
//! store it, and never hand it back.

use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::audit::{self, Actor, Event, RequestMeta};
use super::error::conflict_as;
use super::{Deps, ServiceError};
use crate::authz::matrix::{role_allows, Action, Role};
use crate::crypto::envelope::{
    open_secret, seal_secret, sealed_secret_key_version, DataKey, SecretContext,
};
use crate::db::records::{ConnectionRow, NewConnection, TenantKeyRow};
use crate::db::{DbError, Repo};
use crate::ids::{ConnectionId, TeamId, UserId};
use crate::okta::{OktaAuth, OktaClient, OktaError, OrgDomain};

/// Read scopes a backup needs, each with a cheap probe that proves the credential has it.
const SCOPE_PROBES: &[(&str, &str)] = &[
    ("okta.users.read", "/api/v1/users?limit=1"),
    ("okta.groups.read", "/api/v1/groups?limit=1"),
    ("okta.apps.read", "/api/v1/apps?limit=1"),
    (
        "okta.policies.read",
        "/api/v1/policies?type=OKTA_SIGN_ON&limit=1",
    ),
];

/// `POST /api/v1/connections` body. Unknown fields are rejected.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    pub org_domain: String,
    #[serde(default = "default_auth_type")]
    pub auth_type: String,
    pub api_token: Option<Zeroizing<String>>,
    pub team_id: Option<String>,
}

fn default_auth_type() -> String {
    "api_token".into()
}

/// Okta API tokens are opaque printable strings (typically 42 characters).
fn parse_api_token(token: Option<Zeroizing<String>>) -> Result<Zeroizing<String>, ServiceError> {
    let token = token.ok_or_else(|| ServiceError::invalid("api_token", "is required"))?;
    let ok = (20..=128).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(token)
    } else {
        Err(ServiceError::invalid(
            "api_token",
            "must be an Okta API token (20-128 printable characters)",
        ))
    }
}

/// The team the caller acts in, and the caller's role there.
pub async fn resolve_team(
    repo: &Repo<'_>,
    user: UserId,
    requested: Option<TeamId>,
) -> Result<(TeamId, String), ServiceError> {
    let memberships = repo.memberships(user).await?;
    let team = match requested {
        Some(team) => team,
        None => repo
            .personal_team(user)
            .await?
            .ok_or(ServiceError::NotFound)?,
    };
    memberships
        .into_iter()
        .find(|m| m.team_id == team)
        .map(|m| (team, m.role))
        .ok_or(ServiceError::NotFound)
}

/// The permission matrix decides: may `role` do `action`?
pub fn require_role(role: &str, action: Action) -> Result<(), ServiceError> {
    match Role::parse(role) {
        Some(role) if role_allows(role, action) => Ok(()),
        _ => Err(ServiceError::Forbidden),
    }
}

/// The team's current data key, creating version 1 on first use.
pub async fn current_data_key(
    deps: &Deps<'_>,
    system: &Repo<'_>,
    team: TeamId,
) -> Result<DataKey, ServiceError> {
    if let Some(row) = system.tenant_key(team, None).await? {
        return unwrap_row(deps, &row);
    }
    let (key, wrapped) = deps
        .config
        .master_keys
        .new_data_key(deps.rng, &team.to_string(), 1);
    let row = TenantKeyRow {
        team_id: team,
        version: 1,
        master_key_id: wrapped.master_key_id,
        wrapped_key: wrapped.wrapped,
    };
    match system.insert_tenant_key(&row).await {
        Ok(()) => Ok(key),
        // Another request created it first: use theirs.
        Err(DbError::Conflict) => {
            let row = system
                .tenant_key(team, Some(1))
                .await?
                .ok_or(ServiceError::NotFound)?;
            unwrap_row(deps, &row)
        }
        Err(e) => Err(e.into()),
    }
}

fn unwrap_row(deps: &Deps<'_>, row: &TenantKeyRow) -> Result<DataKey, ServiceError> {
    let wrapped = crate::crypto::envelope::WrappedDataKey {
        master_key_id: row.master_key_id.clone(),
        wrapped: row.wrapped_key.clone(),
    };
    deps.config
        .master_keys
        .unwrap(&wrapped, &row.team_id.to_string(), row.version)
        .map_err(|e| {
            ServiceError::Internal(format!(
                "data key unwrap failed for team {}: {e}",
                row.team_id
            ))
        })
}

/// Decrypts a connection's credential for a job.
pub async fn open_credential(
    deps: &Deps<'_>,
    system: &Repo<'_>,
    team: TeamId,
    connection: ConnectionId,
    org: &OrgDomain,
    sealed: &str,
) -> Result<Zeroizing<Vec<u8>>, ServiceError> {
    let version = sealed_secret_key_version(sealed)
        .map_err(|e| ServiceError::Internal(format!("sealed credential unreadable: {e}")))?;
    let row = system
        .tenant_key(team, Some(version))
        .await?
        .ok_or_else(|| {
            ServiceError::Internal(format!("data key v{version} missing for team {team}"))
        })?;
    let key = unwrap_row(deps, &row)?;
    let team_s = team.to_string();
    let conn_s = connection.to_string();
    let ctx = SecretContext {
        tenant: &team_s,
        connection: &conn_s,
        org_domain: org.as_str(),
    };
    open_secret(&key, &ctx, sealed)
        .map_err(|e| ServiceError::Internal(format!("credential open failed: {e}")))
}

/// Confirms the token works for this org and finds which read scopes it has.
async fn verify_credential(client: &OktaClient<'_>) -> Result<Vec<String>, ServiceError> {
    match client.get("/api/v1/users/me").await {
        Ok(_) => {}
        Err(OktaError::Unauthorized { code }) | Err(OktaError::Forbidden { code, .. }) => {
            return Err(ServiceError::OktaRejected(format!(
                "Okta rejected the API token ({code})"
            )))
        }
        Err(OktaError::NotFound { .. }) => {
            return Err(ServiceError::OktaRejected(
                "this host does not answer like an Okta org".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let mut granted = Vec::new();
    for (scope, probe) in SCOPE_PROBES {
        match client.get(probe).await {
            Ok(_) => granted.push((*scope).to_string()),
            Err(OktaError::Forbidden { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if granted.is_empty() {
        return Err(ServiceError::OktaRejected(
            "the API token cannot read any Okta resource".into(),
        ));
    }
    Ok(granted)
}

pub async fn create(
    deps: &Deps<'_>,
    user_repo: &Repo<'_>,
    system: &Repo<'_>,
    user: UserId,
    meta: &RequestMeta,
    body: CreateConnection,
) -> Result<ConnectionRow, ServiceError> {
    let org = OrgDomain::parse(&body.org_domain, deps.config.okta_domains)
        .map_err(|e| ServiceError::invalid("org_domain", e.to_string()))?;
    if body.auth_type != "api_token" {
        return Err(ServiceError::invalid(
            "auth_type",
            "only \"api_token\" is supported so far",
        ));
    }
    let token = parse_api_token(body.api_token)?;
    let requested_team = body
        .team_id
        .as_deref()
        .map(TeamId::parse)
        .transpose()
        .map_err(|_| ServiceError::invalid("team_id", "must be a team id"))?;
    let (team, role) = resolve_team(user_repo, user, requested_team).await?;
    require_role(&role, Action::ConnectionManage)?;

    let client = OktaClient::new(
        deps.http,
        deps.clock,
        deps.rng,
        &org,
        OktaAuth::ApiToken(token.clone()),
    );
    let scopes = verify_credential(&client).await?;

    let key = current_data_key(deps, system, team).await?;
    let id = ConnectionId::generate(deps.rng);
    let (team_s, id_s) = (team.to_string(), id.to_string());
    let ctx = SecretContext {
        tenant: &team_s,
        connection: &id_s,
        org_domain: org.as_str(),
    };
    let sealed = seal_secret(&key, deps.rng, &ctx, token.as_bytes());

    let row = user_repo
        .insert_connection(&NewConnection {
            id,
            team_id: team,
            created_by: user,
            org_domain: org.as_str(),
            auth_type: "api_token",
            granted_scopes: &scopes,
            sealed_token: &sealed,
            key_version: key.version,
            status: "active",
            verified_at: deps.clock.now(),
        })
        .await
        .map_err(conflict_as(
            "connection_exists",
            "this team already has a connection to that org",
        ))?;
    audit::record(
        system,
        &Actor::User(user),
        meta,
        Event {
            team,
            action: "connection.create",
            target_type: "okta_connection",
            target_id: id.to_string(),
            details: json!({"org_domain": org.as_str(), "granted_scopes": scopes, "key_version": key.version}),
        },
    )
    .await?;
    Ok(row)
}

pub async fn delete(
    deps: &Deps<'_>,
    user_repo: &Repo<'_>,
    system: &Repo<'_>,
    user: UserId,
    meta: &RequestMeta,
    id: ConnectionId,
) -> Result<(), ServiceError> {
    let connection = user_repo
        .connection(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let (team, role) = resolve_team(user_repo, user, Some(connection.team_id)).await?;
    require_role(&role, Action::ConnectionManage)?;
    if !user_repo.delete_connection(id, deps.clock.now()).await? {
        return Err(ServiceError::NotFound);
    }
    audit::record(
        system,
        &Actor::User(user),
        meta,
        Event {
            team,
            action: "connection.delete",
            target_type: "okta_connection",
            target_id: id.to_string(),
            details: json!({"org_domain": connection.org_domain}),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_tokens_are_shape_checked() {
        let ok = Zeroizing::new("00aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789-_AB".to_string());
        assert!(parse_api_token(Some(ok)).is_ok());
        for bad in [
            "short",
            "has spaces in the middle of it ok",
            &"x".repeat(129),
        ] {
            assert!(
                parse_api_token(Some(Zeroizing::new(bad.to_string()))).is_err(),
                "{bad}"
            );
        }
        assert!(parse_api_token(None).is_err());
    }

    #[test]
    fn roles_gate_management() {
        assert!(require_role("owner", Action::ConnectionManage).is_ok());
        assert!(require_role("admin", Action::ConnectionManage).is_ok());
        for role in ["operator", "viewer", "auditor", "", "Owner"] {
            assert!(matches!(
                require_role(role, Action::ConnectionManage),
                Err(ServiceError::Forbidden)
            ));
        }
    }
}
