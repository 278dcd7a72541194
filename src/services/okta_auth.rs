//! The one way anything opens a connection's Okta credential (backups, compliance, drift checks,
//! restores, verification): the sealed secret is opened under the team's data key, then an API
//! token becomes `SSWS` auth and a service app's key gets an access token (from the isolate's
//! cache while it lives, else from Okta's token endpoint) for the scopes Okta granted it.

use zeroize::Zeroizing;

use super::tenant_keys::open_credential;
use super::{Deps, Privileged, ServiceError};
use crate::ids::ConnectionId;
use crate::okta::service_app::{
    request_token, with_cache, AccessToken, ServiceAppCredential, TokenCache, TokenError,
};
use crate::okta::{OktaAuth, OrgDomain};
use crate::store::{AuthType, ConnectionSecretRow};

/// The auth a client of `connection`'s org uses.
pub async fn open_okta_auth(
    sys: &Privileged<'_>,
    connection: &ConnectionSecretRow,
    org: &OrgDomain,
) -> Result<OktaAuth, ServiceError> {
    let plain = open_credential(sys, connection, org).await?;
    match connection.auth_type {
        AuthType::ApiToken => {
            let token = String::from_utf8(plain.to_vec())
                .map_err(|_| ServiceError::Internal("credential is not UTF-8".into()))?;
            Ok(OktaAuth::ApiToken(Zeroizing::new(token)))
        }
        AuthType::OauthPrivateKeyJwt => {
            if connection.granted_scopes.is_empty() {
                return Err(ServiceError::OktaRejected(
                    "the service app is not verified yet: register its public key in Okta, \
                     grant the scopes, then verify the connection"
                        .into(),
                ));
            }
            let credential = ServiceAppCredential::from_sealed_plaintext(&plain)?;
            let token = access_token(
                sys.deps,
                connection.id,
                org,
                &credential,
                &connection.granted_scopes,
            )
            .await?;
            Ok(OktaAuth::ServiceApp(token))
        }
    }
}

/// A service app's access token for `scopes`: the cached one while it has time left, else a new
/// one (which is cached until shortly before it expires, and never stored).
pub(crate) async fn access_token(
    deps: &Deps<'_>,
    connection: ConnectionId,
    org: &OrgDomain,
    credential: &ServiceAppCredential,
    scopes: &[String],
) -> Result<AccessToken, TokenError> {
    let key = TokenCache::key(&connection.to_string(), credential.key.kid(), scopes);
    let now = deps.clock.now();
    if let Some(token) = with_cache(|cache| cache.get(&key, now)) {
        return Ok(token);
    }
    let token = request_token(deps.http, deps.clock, deps.rng, org, credential, scopes).await?;
    with_cache(|cache| {
        // Also under the scopes Okta granted: a verification records those, and jobs ask for them.
        if !token.scopes.is_empty() && token.scopes != scopes {
            let granted =
                TokenCache::key(&connection.to_string(), credential.key.kid(), &token.scopes);
            cache.put(granted, token.clone());
        }
        cache.put(key, token.clone());
    });
    Ok(token)
}

/// The expiry of `connection`'s cached token, if this isolate holds one.
pub fn cached_token_expiry(
    connection: ConnectionId,
    kid: &str,
    scopes: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let key = TokenCache::key(&connection.to_string(), kid, scopes);
    with_cache(|cache| cache.get(&key, now)).map(|t| t.expires_at)
}

impl From<TokenError> for ServiceError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Unreachable(_) => ServiceError::OktaUnavailable,
            TokenError::Credential(what) => ServiceError::Internal(what.into()),
            other => ServiceError::OktaRejected(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::backup;
    use crate::services::connections::{self, CreateConnection};
    use crate::store::BackupStatus;
    use crate::testing::json_response;
    use crate::testing::world::{World, OKTA_TOKEN, ORG};
    use futures::executor::block_on;
    use serde_json::json;

    fn secret(world: &World, id: ConnectionId) -> (ConnectionSecretRow, OrgDomain) {
        let sys = world.system("test");
        let row = block_on(sys.stores().connection_secret(id))
            .unwrap()
            .unwrap();
        let org = OrgDomain::parse(&row.org_domain, world.deps.config.okta_domains).unwrap();
        (row, org)
    }

    fn token_requests(world: &World) -> usize {
        (world.http.requests.borrow().iter())
            .filter(|r| r.url.ends_with("/oauth2/v1/token"))
            .count()
    }

    #[test]
    fn api_tokens_and_service_apps_open_through_one_function() {
        let world = World::new();
        let sys = world.system("test");
        let (row, org) = secret(&world, world.connect(world.user()));
        let auth = block_on(open_okta_auth(&sys, &row, &org)).unwrap();
        assert!(matches!(&auth, OktaAuth::ApiToken(t) if t.as_str() == OKTA_TOKEN));

        let owner = world.user();
        let body = CreateConnection {
            org_domain: ORG.into(),
            auth_type: "service_app".into(),
            api_token: None,
            client_id: Some("0oaSVC123".into()),
            restore: false,
            team_id: None,
        };
        let created = block_on(connections::create(&world.caller(owner), body)).unwrap();
        let setup = created.setup.expect("a service app gets its setup");
        assert!(setup["public_jwk"].get("d").is_none());
        let id = created.connection.id;
        // Not verified yet: nothing to ask Okta for.
        let (row, org) = secret(&world, id);
        assert!(matches!(
            block_on(open_okta_auth(&sys, &row, &org)),
            Err(ServiceError::OktaRejected(_))
        ));
        world.okta_answers.borrow_mut().push((
            "/oauth2/v1/token".into(),
            json_response(
                200,
                &json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "at-1",
                        "scope": "okta.users.read okta.groups.read"}),
                &[],
            ),
        ));
        let verified = block_on(connections::verify(&world.caller(owner), id)).unwrap();
        assert_eq!(
            verified.granted_scopes,
            ["okta.users.read", "okta.groups.read"]
        );
        assert!(verified.verified_at.is_some());
        assert_eq!(token_requests(&world), 1);
        assert_eq!(
            world.db.actions().last().copied(),
            Some("connection.verify")
        );
        // The verification's token is cached for exactly these scopes: jobs reuse it.
        let (row, org) = secret(&world, id);
        let auth = block_on(open_okta_auth(&sys, &row, &org)).unwrap();
        assert!(matches!(&auth, OktaAuth::ServiceApp(t) if t.token.as_str() == "at-1"));
        assert_eq!(token_requests(&world), 1);
        // Near its expiry the token is refreshed.
        world.advance(chrono::Duration::seconds(3600 - 300));
        block_on(open_okta_auth(&sys, &row, &org)).unwrap();
        assert_eq!(token_requests(&world), 2);

        // A backup runs on the service app's token.
        let run = block_on(backup::request(&world.caller(owner), id)).unwrap();
        world.drain_queue();
        let done = (world.db.backups().into_iter())
            .find(|b| b.id == run.id)
            .unwrap();
        assert_eq!(done.status, BackupStatus::Complete, "{done:?}");
        let bearer = (world.http.requests.borrow().iter())
            .filter(|r| r.url.contains("/api/v1/"))
            .any(|r| {
                r.headers
                    .iter()
                    .any(|(k, v)| k == "authorization" && v == "Bearer at-1")
            });
        assert!(bearer);
    }
}
