//! Okta connections: verify the credential against the org, seal it under the team's data key,
//! store it, and never hand it back. A connection holds an SSWS API token or is an OAuth 2.0
//! service app, whose key pair Butterfly generates: the admin registers the public JWK in Okta,
//! grants the scopes, and verifies the connection (see `okta::service_app`).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::audit::Event;
use super::error::conflict_as;
use super::okta_auth::{access_token, cached_token_expiry};
use super::tenant_keys::{current_data_key, open_credential};
use super::{Caller, ServiceError};
use crate::authz::matrix::Action;
use crate::billing::plans::Limit;
use crate::crypto::envelope::{seal_secret, SecretContext};
use crate::ids::{ConnectionId, TeamId};
use crate::okta::service_app::{
    token_url, wanted_scopes, ServiceAppCredential, SigningJwk, TokenError, READ_SCOPES,
};
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
    /// `api_token` (default) or `service_app`.
    #[serde(default = "default_auth_type")]
    pub auth_type: String,
    #[schema(value_type = Option<String>)]
    pub api_token: Option<Zeroizing<String>>,
    /// `service_app`: the client id of the API Services app in Okta.
    #[serde(default)]
    pub client_id: Option<String>,
    /// `service_app`: also ask for the write scopes a restore needs (default read-only).
    #[serde(default)]
    pub restore: bool,
    pub team_id: Option<String>,
}

/// A created connection; a service app's also carries its setup (public JWK, scopes, steps).
pub struct Created {
    pub connection: ConnectionRow,
    pub setup: Option<Value>,
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

/// `POST /connections`: an API token is verified against the org, sealed and stored; a service
/// app gets a new key pair, sealed and stored, and its setup (owner or admin).
pub async fn create(caller: &Caller<'_>, body: CreateConnection) -> Result<Created, ServiceError> {
    let deps = caller.deps();
    let org = OrgDomain::parse(&body.org_domain, deps.config.okta_domains)
        .map_err(|e| ServiceError::invalid("org_domain", e.to_string()))?;
    match body.auth_type.as_str() {
        "api_token" if body.client_id.is_none() && !body.restore => {}
        "api_token" => {
            return Err(ServiceError::invalid(
                "auth_type",
                "client_id and restore are for \"service_app\" connections",
            ))
        }
        "service_app" => return create_service_app(caller, org, body).await,
        _ => {
            return Err(ServiceError::invalid(
                "auth_type",
                "must be \"api_token\" or \"service_app\"",
            ))
        }
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
        verified_at: Some(deps.clock.now()),
        client_id: None,
        key_id: None,
        key_created_at: None,
        requested_scopes: Vec::new(),
    };
    let connection = caller
        .system()
        .stores()
        .create_connection(&row, &audit)
        .await
        .map_err(conflict_as(
            "connection_exists",
            "this team already has a connection to that org",
        ))?;
    Ok(Created {
        connection,
        setup: None,
    })
}

/// Okta client ids are short URL-safe strings (`0oa...`, 20 characters).
fn parse_client_id(client_id: Option<String>) -> Result<String, ServiceError> {
    let id = client_id.ok_or_else(|| ServiceError::invalid("client_id", "is required"))?;
    let ok = (1..=100).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(id)
    } else {
        Err(ServiceError::invalid(
            "client_id",
            "must be the app's client id (letters, digits, '-' and '_')",
        ))
    }
}

/// A service-app connection: a new P-256 key pair whose private key is sealed like a token
/// (team's data key, AAD bound to team, connection and org); nothing is sent to Okta yet.
async fn create_service_app(
    caller: &Caller<'_>,
    org: OrgDomain,
    body: CreateConnection,
) -> Result<Created, ServiceError> {
    let deps = caller.deps();
    if body.api_token.is_some() {
        return Err(ServiceError::invalid(
            "api_token",
            "a service app has no API token: Butterfly generates its key pair",
        ));
    }
    let client_id = parse_client_id(body.client_id)?;
    let team = caller
        .team_or_default(parse_team(body.team_id.as_deref())?)
        .await?;
    caller.authorize(team, Action::ConnectionManage).await?;
    billing::enforce(caller.system(), team, Limit::Connections, None).await?;

    let credential = ServiceAppCredential {
        client_id,
        key: SigningJwk::generate(deps.rng),
    };
    let scopes = wanted_scopes(body.restore);
    let key = current_data_key(caller.system(), team).await?;
    let id = ConnectionId::generate(deps.rng);
    let (team_s, id_s) = (team.to_string(), id.to_string());
    let ctx = SecretContext {
        tenant: &team_s,
        connection: &id_s,
        org_domain: org.as_str(),
    };
    let sealed = seal_secret(
        &key,
        deps.rng,
        &ctx,
        credential.to_sealed_plaintext().as_slice(),
    );
    let kid = credential.key.kid().to_string();
    let audit = caller.audit(Event {
        team,
        action: "connection.create",
        target_type: "okta_connection",
        target_id: id.to_string(),
        details: json!({"org_domain": org.as_str(), "auth_type": "service_app",
            "client_id": credential.client_id, "key_id": kid, "requested_scopes": scopes,
            "key_version": key.version}),
    });
    let row = NewConnection {
        id,
        team_id: team,
        created_by: caller.user(),
        org_domain: org.as_str().to_string(),
        auth_type: AuthType::OauthPrivateKeyJwt,
        granted_scopes: Vec::new(),
        sealed_token: sealed,
        key_version: key.version,
        verified_at: None,
        client_id: Some(credential.client_id.clone()),
        key_id: Some(kid),
        key_created_at: Some(deps.clock.now()),
        requested_scopes: scopes.clone(),
    };
    let connection = caller
        .system()
        .stores()
        .create_connection(&row, &audit)
        .await
        .map_err(conflict_as(
            "connection_exists",
            "this team already has a connection to that org",
        ))?;
    let setup = json!({
        "public_jwk": credential.key.public_jwk(),
        "scopes": scopes,
        "token_endpoint": token_url(&org),
        "steps": [
            "In the Admin Console, Applications > Create App Integration > API Services; or use the app whose client id you gave.",
            "General > Client Credentials: Public key / Private key; add the public_jwk above as a public key (Save keys in Okta).",
            "Optionally require DPoP (Proof of possession): Butterfly uses it when the app requires it.",
            "Okta API Scopes: grant each scope listed in scopes.",
            "Admin roles: assign the Read-Only Administrator role (a role that can write, only if restore is enabled).",
            format!("Then POST /api/v1/connections/{id}/verify."),
        ],
    });
    Ok(Created {
        connection,
        setup: Some(setup),
    })
}

/// `POST /connections/{id}/verify`: gets a token for the requested scopes (those Okta did not
/// grant are recorded as missing and left out), proves it with a read, records the result.
pub async fn verify(caller: &Caller<'_>, id: ConnectionId) -> Result<ConnectionRow, ServiceError> {
    let deps = caller.deps();
    let connection = caller
        .stores()
        .connection(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let team = connection.team_id;
    caller.authorize(team, Action::ConnectionManage).await?;
    if connection.auth_type != AuthType::OauthPrivateKeyJwt {
        return Err(ServiceError::invalid(
            "auth_type",
            "only service-app connections are verified; an API token was verified when added",
        ));
    }
    let sys = caller.system();
    let secret = sys
        .stores()
        .connection_secret(id)
        .await?
        .filter(|c| c.team_id == team)
        .ok_or(ServiceError::NotFound)?;
    let org = OrgDomain::parse(&secret.org_domain, deps.config.okta_domains)
        .map_err(|_| ServiceError::invalid("connection", "the org domain is no longer allowed"))?;
    let plain = open_credential(sys, &secret, &org).await?;
    let credential = ServiceAppCredential::from_sealed_plaintext(&plain)?;
    let result = verify_token(caller, id, &org, &credential, &connection.requested_scopes).await;
    let (granted, missing) = match result {
        Ok(scopes) => scopes,
        Err(e) => {
            let audit = caller.audit(Event {
                team,
                action: "connection.verify_failed",
                target_type: "okta_connection",
                target_id: id.to_string(),
                details: json!({"error": e.to_string()}),
            });
            sys.stores()
                .note_connection_error(id, &e.to_string(), &audit)
                .await?;
            return Err(e);
        }
    };
    let audit = caller.audit(Event {
        team,
        action: "connection.verify",
        target_type: "okta_connection",
        target_id: id.to_string(),
        details: json!({"granted_scopes": granted, "missing_scopes": missing}),
    });
    Ok(sys
        .stores()
        .verify_connection(id, &granted, &missing, &audit)
        .await?)
}

/// The granted and the missing scopes of a working token.
async fn verify_token(
    caller: &Caller<'_>,
    id: ConnectionId,
    org: &OrgDomain,
    credential: &ServiceAppCredential,
    requested: &[String],
) -> Result<(Vec<String>, Vec<String>), ServiceError> {
    let deps = caller.deps();
    let (token, missing) = match access_token(deps, id, org, credential, requested).await {
        Ok(token) => (token, Vec::new()),
        Err(TokenError::MissingScopes(missing)) => {
            let rest: Vec<String> = (requested.iter())
                .filter(|s| !missing.contains(s))
                .cloned()
                .collect();
            if rest.is_empty() {
                return Err(TokenError::MissingScopes(missing).into());
            }
            (
                access_token(deps, id, org, credential, &rest).await?,
                missing,
            )
        }
        Err(e) => return Err(e.into()),
    };
    let granted = if token.scopes.is_empty() {
        requested
            .iter()
            .filter(|s| !missing.contains(s))
            .cloned()
            .collect()
    } else {
        token.scopes.clone()
    };
    if granted.iter().any(|s| s == "okta.users.read") {
        // A token is not enough: the app also needs an admin role for management calls.
        let client = OktaClient::new(
            deps.http,
            deps.clock,
            deps.rng,
            org,
            OktaAuth::ServiceApp(token),
        );
        match client.get("/api/v1/users?limit=1").await {
            Ok(_) => {}
            Err(OktaError::Forbidden { code, .. }) => {
                return Err(ServiceError::OktaRejected(format!(
                    "the service app got a token but may not read users ({code}): assign it an \
                     admin role"
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((granted, missing))
}

/// What `GET /connections/{id}` shows of a connection's health; never a secret.
pub fn health(row: &ConnectionRow, now: DateTime<Utc>) -> Value {
    let service_app = row.auth_type == AuthType::OauthPrivateKeyJwt;
    let state = if row.last_error.is_some() {
        "error"
    } else if row.verified_at.is_none() {
        "unverified"
    } else if !row.missing_scopes.is_empty() {
        "missing_scopes"
    } else {
        "ok"
    };
    let backup_ready = !service_app
        || READ_SCOPES
            .iter()
            .all(|s| row.granted_scopes.iter().any(|g| g == s));
    let token_expires_at = row
        .key_id
        .as_deref()
        .and_then(|kid| cached_token_expiry(row.id, kid, &row.granted_scopes, now));
    json!({
        "auth_type": if service_app { "service_app" } else { "api_token" },
        "state": state,
        "last_success_at": row.last_success_at,
        "last_error": row.last_error,
        "verified_at": row.verified_at,
        "key_created_at": row.key_created_at,
        "token_expires_at": token_expires_at,
        "granted_scopes": row.granted_scopes,
        "missing_scopes": row.missing_scopes,
        "backup_ready": backup_ready,
    })
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
        let row = block_on(create(&caller, world.connection_body(team)))
            .unwrap()
            .connection;
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
