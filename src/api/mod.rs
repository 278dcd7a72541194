//! The HTTP API: authenticate, route, build the request's [`Caller`], call a use case, map the
//! result. Runtime-neutral, so the whole request path runs in native tests; `platform` only
//! converts to and from Workers types.

mod authn;
mod call;
mod edge;
pub mod error;
mod handlers;
pub mod http;
mod limits;
pub mod routes;

use serde_json::json;

use crate::auth::apikey::KEY_PREFIX;
use crate::authz::matrix::scopes_allow;
use crate::ids::RequestId;
use crate::ports::Method;
use crate::services::audit::{Actor, RequestMeta};
use crate::services::{Caller, Deps, Privileged, ServiceError};
use crate::store::Acting;
use call::Call;
use error::ApiError;
use http::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use routes::{resolve, Access, Resolved};

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

pub async fn handle(deps: &Deps<'_>, request: ApiRequest) -> Handled {
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
        Ok(()) => dispatch(deps, &request, &meta, &mut handled).await,
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
    request: &ApiRequest,
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
    if request.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            413,
            "payload_too_large",
            format!("request body exceeds {MAX_BODY_BYTES} bytes"),
        ));
    }
    let caller = match def.access {
        Access::Team(_) | Access::Account => {
            let system = deps.db.stores(Acting::System, &meta.request_id);
            let principal = match authn::authenticate(deps, system.as_ref(), request).await {
                Ok(principal) => principal,
                Err(e) if e.status == 401 => {
                    let refused =
                        limits::failed_auth(deps.limiter, meta.source_ip.as_deref()).await;
                    if refused.status == 401 {
                        if let Err(e) = record_failed_login(deps, request, meta).await {
                            handled.internal_error = Some(e.to_string());
                        }
                    }
                    return Err(refused);
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
            limits::spend_caller(deps.limiter, &principal).await?;
            Some(Caller::new(deps, principal, meta.clone()))
        }
        Access::Public | Access::SignedUrl => None,
    };
    let call = Call {
        deps,
        request,
        meta,
        params,
        caller,
    };
    handlers::route(def.route, &call).await
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
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
}
