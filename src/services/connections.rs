//! Okta connections: verify the credential against the org, seal it under the team's data key,
//! store it, and never hand it back.

use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::audit::Event;
use super::error::conflict_as;
use super::tenant_keys::current_data_key;
use super::{Caller, ServiceError};
use crate::authz::matrix::Action;
use crate::billing::plans::Limit;
use crate::crypto::envelope::{seal_secret, SecretContext};
use crate::ids::{ConnectionId, TeamId};
use crate::okta::{OktaAuth, OktaClient, OktaError, OrgDomain};
use crate::services::billing;
use crate::store::{AuthType, ConnectionRow, NewConnection};

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
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    pub org_domain: String,
    #[serde(default = "default_auth_type")]
    pub auth_type: String,
    #[schema(value_type = Option<String>)]
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

/// A `team_id` given in a body.
pub fn parse_team(team: Option<&str>) -> Result<Option<TeamId>, ServiceError> {
    team.map(TeamId::parse)
        .transpose()
        .map_err(|_| ServiceError::invalid("team_id", "must be a team id"))
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

/// `POST /connections`: verify the token against the org, seal it, store it (owner or admin).
pub async fn create(
    caller: &Caller<'_>,
    body: CreateConnection,
) -> Result<ConnectionRow, ServiceError> {
    let deps = caller.deps();
    let org = OrgDomain::parse(&body.org_domain, deps.config.okta_domains)
        .map_err(|e| ServiceError::invalid("org_domain", e.to_string()))?;
    if body.auth_type != "api_token" {
        return Err(ServiceError::invalid(
            "auth_type",
            "only \"api_token\" is supported so far",
        ));
    }
    let token = parse_api_token(body.api_token)?;
    let team = caller
        .team_or_default(parse_team(body.team_id.as_deref())?)
        .await?;
    caller.authorize(team, Action::ConnectionManage).await?;
    billing::enforce(caller.system(), team, Limit::Connections, None).await?;

    let client = OktaClient::new(
        deps.http,
        deps.clock,
        deps.rng,
        &org,
        OktaAuth::ApiToken(token.clone()),
    );
    let scopes = verify_credential(&client).await?;

    let key = current_data_key(caller.system(), team).await?;
    let id = ConnectionId::generate(deps.rng);
    let (team_s, id_s) = (team.to_string(), id.to_string());
    let ctx = SecretContext {
        tenant: &team_s,
        connection: &id_s,
        org_domain: org.as_str(),
    };
    let sealed = seal_secret(&key, deps.rng, &ctx, token.as_bytes());
    let audit = caller.audit(Event {
        team,
        action: "connection.create",
        target_type: "okta_connection",
        target_id: id.to_string(),
        details: json!({"org_domain": org.as_str(), "granted_scopes": scopes, "key_version": key.version}),
    });
    let row = NewConnection {
        id,
        team_id: team,
        created_by: caller.user(),
        org_domain: org.as_str().to_string(),
        auth_type: AuthType::ApiToken,
        granted_scopes: scopes,
        sealed_token: sealed,
        key_version: key.version,
        verified_at: deps.clock.now(),
    };
    caller
        .system()
        .stores()
        .create_connection(&row, &audit)
        .await
        .map_err(conflict_as(
            "connection_exists",
            "this team already has a connection to that org",
        ))
}

/// `DELETE /connections/{id}`: drop the sealed credential and hide the connection.
pub async fn delete(caller: &Caller<'_>, id: ConnectionId) -> Result<(), ServiceError> {
    let connection = caller
        .stores()
        .connection(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let team = connection.team_id;
    caller.authorize(team, Action::ConnectionManage).await?;
    let audit = caller.audit(Event {
        team,
        action: "connection.delete",
        target_type: "okta_connection",
        target_id: id.to_string(),
        details: json!({"org_domain": connection.org_domain}),
    });
    if caller
        .system()
        .stores()
        .delete_connection(id, &audit)
        .await?
    {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::Role;
    use crate::testing::world::World;
    use futures::executor::block_on;

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
    fn only_owners_and_admins_connect_and_each_change_is_audited() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        for role in [Role::Operator, Role::Viewer, Role::Auditor] {
            let member = world.member(team, role);
            let refused = block_on(create(&world.caller(member), world.connection_body(team)));
            assert!(matches!(refused, Err(ServiceError::Forbidden)), "{role:?}");
        }
        assert!(world.db.activity.borrow().is_empty());
        let admin = world.member(team, Role::Admin);
        let caller = world.caller(admin);
        let row = block_on(create(&caller, world.connection_body(team))).unwrap();
        assert_eq!(row.team_id, team);
        // A second connection of the team to the same org is a conflict.
        let again = block_on(create(&caller, world.connection_body(team)));
        assert!(matches!(
            again,
            Err(ServiceError::Conflict {
                code: "connection_exists",
                ..
            })
        ));
        block_on(delete(&caller, row.id)).unwrap();
        assert!(matches!(
            block_on(delete(&caller, row.id)),
            Err(ServiceError::NotFound)
        ));
        assert_eq!(
            world.db.actions(),
            ["connection.create", "connection.delete"]
        );
        let created = &world.db.activity.borrow()[0];
        assert_eq!(created.actor_id, admin.to_string());
        assert_eq!(created.target_id, row.id.to_string());
    }

    #[test]
    fn another_team_neither_sees_nor_deletes_a_connection() {
        let world = World::new();
        let owner = world.user();
        let connection = world.connect(owner);
        let stranger = world.user();
        assert!(matches!(
            block_on(delete(&world.caller(stranger), connection)),
            Err(ServiceError::NotFound)
        ));
        // Naming the other team in the body does not help either.
        let team = world.team_of(owner);
        assert!(matches!(
            block_on(create(&world.caller(stranger), world.connection_body(team))),
            Err(ServiceError::NotFound)
        ));
    }
}
