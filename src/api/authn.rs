//! Who is calling: a Supabase user JWT, or an API key. Every failure is the same bare 401.

use crate::auth::apikey::{self, KeyClaims, KEY_PREFIX, MINTED_TTL_SECS};
use crate::auth::jwks::{token_kid, verify_asymmetric};
use crate::auth::jwt::{sign_hs256, split, verify_hs256, Claims, JwtError};
use crate::authz::{KeyGrant, Principal};
use crate::ids::UserId;
use crate::services::{Deps, ServiceError};
use crate::store::Stores;

use super::error::ApiError;
use super::http::ApiRequest;
use super::limits;
use super::routes::LimiterDown;

/// `ip` is the client's address and `down` the route's choice for a limiter outage: an API key
/// spends the key-lookup budget before its row is read.
pub async fn authenticate(
    deps: &Deps<'_>,
    system: &dyn Stores,
    request: &ApiRequest,
    ip: Option<&str>,
    down: LimiterDown,
) -> Result<Principal, ApiError> {
    let token = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?
        .trim();
    if token.starts_with(KEY_PREFIX) {
        return authenticate_key(deps, system, token, ip, down).await;
    }
    let claims = verify_user_jwt(deps, token)
        .await
        .map_err(|_| ApiError::unauthorized())?;
    let issuer_ok = deps
        .config
        .jwt_issuer
        .as_deref()
        .is_none_or(|iss| claims.iss.as_deref() == Some(iss));
    if claims.role != "authenticated" || !issuer_ok {
        return Err(ApiError::unauthorized());
    }
    let user = UserId::parse(&claims.sub).map_err(|_| ApiError::unauthorized())?;
    // PostgREST verifies HS256 with the project secret; an asymmetric token is re-issued as a
    // short HS256 token with the same subject, role and audience, so RLS sees the same caller.
    let jwt = match split(token) {
        Ok((header, _, _)) if header.alg == "HS256" => token.to_string(),
        _ => {
            let now = deps.clock.now().timestamp();
            let reissued = Claims {
                iat: now,
                exp: claims.exp.min(now + MINTED_TTL_SECS),
                nbf: None,
                ..claims.clone()
            };
            sign_hs256(&reissued, &deps.config.jwt_secret)
        }
    };
    Ok(Principal {
        user,
        jwt,
        email: claims.email,
        email_verified: claims.email_verified,
        key: None,
    })
}

/// HS256 with the project secret, or RS256/ES256 with the project's JWKS when configured. The
/// header's `alg` only routes between the two; each path fixes its own algorithm.
async fn verify_user_jwt(deps: &Deps<'_>, token: &str) -> Result<Claims, JwtError> {
    let now = deps.clock.now().timestamp();
    let audience = &deps.config.jwt_audience;
    let (header, _, _) = split(token)?;
    if header.alg == "HS256" {
        return verify_hs256(token, &deps.config.jwt_secret, now, audience);
    }
    let url = deps
        .config
        .jwks_url
        .as_deref()
        .ok_or(JwtError::UnsupportedAlgorithm)?;
    let kid = token_kid(token)?;
    let keys = deps
        .jwks
        .keys_for(deps.http, deps.clock, url, &kid)
        .await
        .ok_or(JwtError::UnknownKey)?;
    verify_asymmetric(
        token,
        &keys,
        now,
        audience,
        deps.config.jwt_issuer.as_deref(),
    )
}

/// Checks the key against its stored hash, then mints a one-minute JWT for its user carrying the
/// key's team and scopes, so PostgREST's `public.can` confines the call exactly as the worker does.
/// Only a well-formed key is looked up, and only after the lookup budget is charged.
async fn authenticate_key(
    deps: &Deps<'_>,
    system: &dyn Stores,
    presented: &str,
    ip: Option<&str>,
    down: LimiterDown,
) -> Result<Principal, ApiError> {
    let (id, secret) = apikey::parse(presented).ok_or_else(ApiError::unauthorized)?;
    limits::before_key_lookup(deps.limiter, ip, id, down).await?;
    let row = system
        .api_key_secret(id)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(ApiError::unauthorized)?;
    let now = deps.clock.now();
    let valid = apikey::verify(&deps.config.api_key_pepper, id, secret, &row.secret_hash)
        && row.revoked_at.is_none()
        && row.expires_at.is_none_or(|at| at > now);
    if !valid {
        return Err(ApiError::unauthorized());
    }
    system
        .touch_api_key(id, now)
        .await
        .map_err(ServiceError::from)?;
    let claims = KeyClaims {
        sub: row.user_id,
        role: "authenticated",
        aud: &deps.config.jwt_audience,
        iat: now.timestamp(),
        exp: now.timestamp() + MINTED_TTL_SECS,
        key_id: id,
        key_team: row.team_id,
        scopes: &row.scopes,
    };
    Ok(Principal {
        user: row.user_id,
        jwt: sign_hs256(&claims, &deps.config.jwt_secret),
        email: None,
        email_verified: false,
        key: Some(KeyGrant {
            id,
            team: row.team_id,
            scopes: row.scopes,
        }),
    })
}
