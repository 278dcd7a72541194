//! The web dashboard's routes: the shell page (its own strict CSP, never cached), its embedded
//! assets, and the local stack's dev sign-in.

use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::auth::jwt::sign_hs256;
use crate::services::audit::Actor;
use crate::services::{Privileged, ServiceError};
use crate::web::{self, Shell};

pub fn page(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let config = call.deps.config;
    let auth_url = web::auth_url(&config.postgrest_url);
    let html = web::render_shell(&Shell {
        auth_url: auth_url.as_deref(),
        anon_key: config.supabase_anon_key.as_deref(),
        dev_sign_in: config.dev_sign_in.is_some(),
    });
    Ok(ApiResponse::text(200, "text/html; charset=utf-8", html)
        .with_header("content-security-policy", web::csp(auth_url.as_deref())))
}

/// A script or stylesheet; revalidated on every load (`no-cache`), so a deploy is picked up at
/// once and the shell and its modules never disagree.
pub fn asset(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let name = call.params.first().map(String::as_str).unwrap_or("");
    let asset = web::asset(name).ok_or_else(ApiError::not_found)?;
    Ok(ApiResponse::text(200, asset.content_type, asset.body)
        .with_header("cache-control", "no-cache"))
}

/// Mints the configured demo user's JWT, shaped like Supabase Auth's token response. Without
/// `DEV_SIGN_IN_USER` (which the config refuses outside a loopback stack) it does not exist.
/// Every token it hands out is an audited `auth.dev_session` event of that user.
pub async fn dev_session(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let config = call.deps.config;
    let user = config.dev_sign_in.ok_or_else(ApiError::not_found)?;
    let now = call.deps.clock.now().timestamp();
    let claims = web::dev_claims(
        user,
        now,
        &config.jwt_audience,
        config.jwt_issuer.as_deref(),
    );
    let sys = Privileged::new(call.deps, Actor::User(user), call.meta.clone());
    let audit = sys.audit_untied("auth.dev_session", "user", user.to_string());
    sys.stores()
        .record(&audit)
        .await
        .map_err(|e| ServiceError::Internal(format!("dev session audit: {e}")))?;
    Ok(ApiResponse::json(
        200,
        &json!({
            "access_token": sign_hs256(&claims, &config.jwt_secret),
            "token_type": "bearer",
            "expires_in": web::DEV_TOKEN_SECONDS,
            "user": {"id": user.to_string()},
        }),
    ))
}

#[cfg(test)]
mod tests {
    use crate::api::handle;
    use crate::api::http::ApiRequest;
    use crate::auth::jwt::verify_hs256;
    use crate::ports::Method;
    use crate::testing::world::World;
    use futures::executor::block_on;

    fn request(method: Method, path: &str) -> ApiRequest {
        ApiRequest {
            method: Some(method),
            path: path.into(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            https: true,
            preflight: false,
        }
    }

    fn header<'a>(handled: &'a crate::api::Handled, name: &str) -> Vec<&'a str> {
        handled
            .response
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn the_dev_sign_in_does_not_exist_unless_configured() {
        let world = World::new();
        let handled = block_on(handle(
            world.deps,
            request(Method::Post, "/app/dev-session"),
            None,
        ));
        assert_eq!(handled.response.status, 404);
        assert!(world.db.activity.borrow().is_empty());
    }

    #[test]
    fn the_dev_sign_in_mints_an_audited_token_of_the_configured_user_only() {
        let user = "00000000-0000-4000-8000-00000000d3e0";
        let world = World::with_vars(&[("DEV_SIGN_IN_USER", user), ("REQUIRE_HTTPS", "false")]);
        let handled = block_on(handle(
            world.deps,
            request(Method::Post, "/app/dev-session"),
            None,
        ));
        assert_eq!(handled.response.status, 200);
        let body: serde_json::Value =
            serde_json::from_slice(handled.response.body.bytes().unwrap()).unwrap();
        let token = body["access_token"].as_str().unwrap();
        let config = world.deps.config;
        let now = world.deps.clock.now().timestamp();
        let claims = verify_hs256(token, &config.jwt_secret, now, &config.jwt_audience).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role.as_str()),
            (user, "authenticated")
        );
        assert_eq!(claims.exp - now, crate::web::DEV_TOKEN_SECONDS);
        assert_eq!(header(&handled, "cache-control"), ["no-store"]);
        let log = world.db.activity.borrow();
        assert_eq!(log.len(), 1);
        assert_eq!(
            (log[0].action, log[0].actor_id.as_str()),
            ("auth.dev_session", user)
        );
    }

    #[test]
    fn the_shell_carries_its_csp_and_is_never_cached_and_assets_are_served_by_name() {
        let world = World::new();
        let page = block_on(handle(world.deps, request(Method::Get, "/app"), None));
        assert_eq!(page.response.status, 200);
        assert_eq!(
            header(&page, "content-security-policy"),
            [crate::web::csp(None).as_str()]
        );
        assert_eq!(header(&page, "cache-control"), ["no-store"]);
        assert_eq!(header(&page, "x-content-type-options"), ["nosniff"]);
        let html = std::str::from_utf8(page.response.body.bytes().unwrap()).unwrap();
        assert!(html.contains("butterfly-dev-sign-in\" content=\"off\""));

        let script = block_on(handle(
            world.deps,
            request(Method::Get, "/app/assets/app.js"),
            None,
        ));
        assert_eq!(script.response.status, 200);
        assert_eq!(
            header(&script, "content-type"),
            ["text/javascript; charset=utf-8"]
        );
        assert_eq!(header(&script, "cache-control"), ["no-cache"]);
        let missing = block_on(handle(
            world.deps,
            request(Method::Get, "/app/assets/../../wrangler.toml"),
            None,
        ));
        assert_eq!(missing.response.status, 404);
        let unknown = block_on(handle(
            world.deps,
            request(Method::Get, "/app/assets/nope.js"),
            None,
        ));
        assert_eq!(unknown.response.status, 404);
    }
}
