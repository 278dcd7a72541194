//! The HTTP API: authenticate, route, build the request's [`Caller`], call a use case, map the
//! result. Runtime-neutral, so the whole request path runs in native tests; `platform` only
//! converts to and from Workers types.

mod authn;
mod body;
mod call;
mod edge;
pub mod error;
mod handlers;
pub mod http;
mod limits;
pub mod openapi;
pub mod routes;

use serde_json::json;

use crate::auth::apikey::KEY_PREFIX;
use crate::authz::matrix::scopes_allow;
use crate::ids::RequestId;
use crate::ports::{Method, RequestBody};
use crate::services::audit::{Actor, RequestMeta};
use crate::services::{Caller, Deps, Privileged, ServiceError};
use crate::store::Acting;
use call::Call;
use error::ApiError;
use http::{ApiRequest, ApiResponse};
use routes::{resolve, Access, Resolved, RouteDef};

/// What the edge needs after a request: the response, and fields for the one structured log
/// line (never secrets or bodies).
pub struct Handled {
    pub response: ApiResponse,
    pub route: Option<&'static str>,
    pub actor: Option<String>,
    /// The API key used, if any (its id, never its secret).
    pub key_id: Option<String>,
    /// Detail of an internal error, for the log only.
    pub internal_error: Option<String>,
}

/// Handles one request. `body` is the request's body stream (`None` when it has none): it is read
/// only after routing and authentication, and only as far as the route's cap allows.
pub async fn handle(
    deps: &Deps<'_>,
    mut request: ApiRequest,
    body: Option<&mut dyn RequestBody>,
) -> Handled {
    let meta = RequestMeta {
        // Always the worker's own: a client's id is kept beside it, never instead.
        request_id: RequestId::generate(deps.rng).to_string(),
        client_request_id: request
            .header("x-request-id")
            .and_then(RequestId::from_header)
            .map(|id| id.to_string()),
        // Set by Cloudflare's edge; a client cannot forge it through Cloudflare.
        source_ip: request
            .header("cf-connecting-ip")
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_string),
    };
    let mut handled = Handled {
        response: ApiResponse::json(200, &json!({})),
        route: None,
        actor: None,
        key_id: None,
        internal_error: None,
    };
    let result = match edge::require_https(deps.config, &request) {
        Err(e) => Err(e),
        Ok(()) if request.preflight => Ok(edge::preflight(deps.config, &request)),
        Ok(()) => dispatch(deps, &mut request, body, &meta, &mut handled).await,
    };
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            if error.internal.is_some() {
                handled.internal_error = error.internal.clone();
            }
            error.into_response(&meta.request_id)
        }
    };
    handled.response = edge::cors(deps.config, &request, response).secured(&meta.request_id);
    handled
}

async fn dispatch(
    deps: &Deps<'_>,
    request: &mut ApiRequest,
    body: Option<&mut dyn RequestBody>,
    meta: &RequestMeta,
    handled: &mut Handled,
) -> Result<ApiResponse, ApiError> {
    let (def, params) = match resolve(request.method, &request.path) {
        Resolved::Found(def, params) => (def, params),
        Resolved::MethodNotAllowed => {
            return Err(ApiError::new(
                405,
                "method_not_allowed",
                "method not allowed on this path",
            ))
        }
        Resolved::NotFound => return Err(ApiError::not_found()),
    };
    handled.route = Some(def.template);
    let body_kind = def.route.body();
    // Every refusal below drains what it did not read of the body (`body::discard`).
    let mut body = body;
    if let Err(e) = body::precheck(body_kind, request) {
        body::discard(body).await;
        return Err(e);
    }
    let caller = match admit(deps, def, request, meta, handled).await {
        Ok(caller) => caller,
        Err(e) => {
            body::discard(body).await;
            return Err(e);
        }
    };
    request.body = match body::read(body_kind, body.as_deref_mut()).await {
        Ok(read) => read,
        Err(e) => {
            body::discard(body).await;
            return Err(e);
        }
    };
    let request = &*request;
    let call = Call {
        deps,
        request,
        meta,
        params,
        caller,
    };
    handlers::route(def.route, &call).await
}

/// Authenticates, checks a key's scopes and spends the caller's rate limits: everything decided
/// before the body is read.
async fn admit<'a>(
    deps: &'a Deps<'a>,
    def: &RouteDef,
    request: &ApiRequest,
    meta: &RequestMeta,
    handled: &mut Handled,
) -> Result<Option<Caller<'a>>, ApiError> {
    let down = def.route.when_limiter_down();
    let ip = meta.source_ip.as_deref();
    Ok(match def.access {
        Access::Team(_) | Access::Account => {
            let system = deps.db.stores(Acting::System, &meta.request_id);
            let authenticated = authn::authenticate(deps, system.as_ref(), request, ip, down).await;
            let principal = match authenticated {
                Ok(principal) => principal,
                Err(e) if e.status == 401 => {
                    let failed = limits::failed_auth(deps.limiter, ip).await;
                    if failed.record {
                        if let Err(e) = record_failed_login(deps, request, meta).await {
                            handled.internal_error = Some(e.to_string());
                        }
                    }
                    return Err(failed.error);
                }
                Err(e) => return Err(e),
            };
            handled.actor = Some(principal.user.to_string());
            if let Some(key) = &principal.key {
                handled.key_id = Some(key.id.to_string());
                // A key reaches only what its scopes allow (and never the caller's own account);
                // its team is confined by `Caller::authorize` and by RLS.
                let allowed = match def.access {
                    Access::Team(action) => scopes_allow(&key.scopes, action),
                    _ => false,
                };
                if !allowed {
                    return Err(ServiceError::Forbidden.into());
                }
            }
            limits::spend_caller(deps.limiter, &principal, down).await?;
            Some(Caller::new(deps, principal, meta.clone()))
        }
        Access::SignedUrl => {
            limits::spend_download(deps.limiter, ip, down).await?;
            None
        }
        Access::Public | Access::Webhook => None,
    })
}

/// A credential was presented and refused: an audited event of no team (only operators see
/// it), naming the address and the kind of credential, never the credential. Only failures
/// within the address's failed-login budget are recorded, so a flood costs no more writes than
/// the budget allows.
async fn record_failed_login(
    deps: &Deps<'_>,
    request: &ApiRequest,
    meta: &RequestMeta,
) -> Result<(), ServiceError> {
    let Some(authorization) = request.header("authorization") else {
        return Ok(());
    };
    let credential = match authorization.strip_prefix("Bearer ").map(str::trim) {
        Some(token) if token.starts_with(KEY_PREFIX) => "api_key",
        Some(_) => "jwt",
        None => "other",
    };
    let sys = Privileged::new(deps, Actor::Anonymous, meta.clone());
    let mut audit = sys.audit_untied(
        "auth.failed",
        "route",
        request.path.chars().take(100).collect(),
    );
    audit.details = json!({"credential": credential});
    sys.stores()
        .record(&audit)
        .await
        .map_err(|e| ServiceError::Internal(format!("failed-login audit: {e}")))
}

impl Method {
    /// Parses an HTTP method name; unsupported ones are `None`.
    pub fn parse(name: &str) -> Option<Method> {
        match name {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::RateBudget;
    use crate::services::api_keys::{self, CreateApiKey};
    use crate::store::Database;
    use crate::testing::world::World;
    use crate::testing::CountingLimiter;
    use futures::executor::block_on;

    fn get(path: &str, bearer: &str) -> ApiRequest {
        ApiRequest {
            method: Some(Method::Get),
            path: path.into(),
            query: String::new(),
            headers: vec![
                ("authorization".into(), format!("Bearer {bearer}")),
                ("cf-connecting-ip".into(), "203.0.113.9".into()),
            ],
            body: Vec::new(),
            https: true,
            preflight: false,
        }
    }

    fn new_key(world: &World) -> String {
        let owner = world.user();
        let body = CreateApiKey {
            name: "ci".into(),
            scopes: vec!["read".into()],
            team_id: None,
            expires_in_days: None,
        };
        let created = block_on(api_keys::create(&world.caller(owner), body)).unwrap();
        created["key"].as_str().unwrap().to_string()
    }

    #[test]
    fn an_api_key_is_looked_up_only_after_its_lookup_budget_is_charged() {
        let world = World::new();
        let key = new_key(&world);
        let spent = CountingLimiter::new(0);
        let deps = Deps {
            limiter: &spent,
            ..*world.deps
        };
        // Armed: the first lookup of a key's row fails loudly.
        world.db.fail_on("api_key_secret");
        let handled = block_on(handle(&deps, get("/api/v1/connections", &key), None));
        assert_eq!(handled.response.status, 429);
        assert_eq!(
            spent.asked.borrow()[0],
            (RateBudget::KeyLookup, "ip:203.0.113.9".to_string())
        );
        // The armed failure is still there: the refused request never read the key's row.
        let id = crate::auth::apikey::parse(&key).unwrap().0;
        let system = world.db.stores(Acting::System, "req_test");
        assert!(block_on(system.api_key_secret(id)).is_err());

        // Within budget, the key is charged per address and per key id, then per user.
        let generous = CountingLimiter::new(10);
        let deps = Deps {
            limiter: &generous,
            ..*world.deps
        };
        let handled = block_on(handle(&deps, get("/api/v1/connections", &key), None));
        assert_eq!(handled.response.status, 200);
        let budgets: Vec<RateBudget> = generous.asked.borrow().iter().map(|(b, _)| *b).collect();
        assert_eq!(
            budgets,
            [
                RateBudget::KeyLookup,
                RateBudget::KeyLookup,
                RateBudget::Caller
            ]
        );
    }

    #[test]
    fn a_malformed_key_is_never_looked_up_nor_charged_a_lookup() {
        let world = World::new();
        let limiter = CountingLimiter::new(10);
        let deps = Deps {
            limiter: &limiter,
            ..*world.deps
        };
        let handled = block_on(handle(&deps, get("/api/v1/connections", "bfk_guess"), None));
        assert_eq!(handled.response.status, 401);
        assert!(limiter
            .asked
            .borrow()
            .iter()
            .all(|(b, _)| *b == RateBudget::FailedAuth));
    }

    #[test]
    fn downloads_spend_the_download_budget_and_fail_closed_when_it_cannot_count() {
        let world = World::new();
        let limiter = CountingLimiter::new(1);
        let deps = Deps {
            limiter: &limiter,
            ..*world.deps
        };
        let link = |deps: &Deps<'_>| {
            let mut request = get("/api/v1/downloads", "-");
            request.query = "b=x&o=users&t=y&e=1&s=AAAA".into();
            block_on(handle(deps, request, None)).response.status
        };
        assert_eq!(link(&deps), 403);
        assert_eq!(link(&deps), 429);
        limiter.down.set(true);
        assert_eq!(link(&deps), 503);
    }
}
