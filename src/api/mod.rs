//! The HTTP API: authenticate, route, call a use case, map the result. Runtime-neutral, so the
//! whole request path runs in native tests; `platform` only converts to and from Workers types.

mod authn;
mod call;
mod edge;
pub mod error;
mod handlers;
pub mod http;
mod limits;
pub mod routes;

use serde_json::json;

use crate::authz::matrix::{route_action, scopes_allow};
use crate::ids::RequestId;
use crate::ports::Method;
use crate::services::audit::RequestMeta;
use crate::services::backups::BackupJob;
use crate::services::{Deps, ServiceError};
use call::Call;
use error::ApiError;
use http::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use routes::{resolve, Access, Resolved};

/// What the edge needs after a request: the response, work to continue after responding, and
/// fields for the one structured log line (never secrets or bodies).
pub struct Handled {
    pub response: ApiResponse,
    pub job: Option<BackupJob>,
    pub route: Option<&'static str>,
    pub actor: Option<String>,
    /// The API key used, if any (its id, never its secret).
    pub key_id: Option<String>,
    /// Detail of an internal error, for the log only.
    pub internal_error: Option<String>,
}

pub async fn handle(deps: &Deps<'_>, request: ApiRequest) -> Handled {
    let request_id = request
        .header("x-request-id")
        .and_then(RequestId::from_header)
        .unwrap_or_else(|| RequestId::generate(deps.rng));
    let meta = RequestMeta {
        request_id: request_id.to_string(),
        // Set by Cloudflare's edge; a client cannot forge it through Cloudflare.
        source_ip: request
            .header("cf-connecting-ip")
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_string),
    };
    let mut handled = Handled {
        response: ApiResponse::json(200, &json!({})),
        job: None,
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
            handled.internal_error = error.internal.clone();
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
    let system = deps.system_repo(&meta.request_id);
    let principal = match def.access {
        Access::User => {
            let principal = match authn::authenticate(deps, &system, request).await {
                Ok(principal) => principal,
                Err(e) if e.status == 401 => {
                    return Err(limits::failed_auth(deps.limiter, meta.source_ip.as_deref()).await)
                }
                Err(e) => return Err(e),
            };
            handled.actor = Some(principal.user.to_string());
            if let Some(key) = &principal.key {
                handled.key_id = Some(key.id.to_string());
                // A key reaches only what its scopes allow; its team is confined by RLS.
                let allowed =
                    route_action(def.route).is_some_and(|action| scopes_allow(&key.scopes, action));
                if !allowed {
                    return Err(ServiceError::Forbidden.into());
                }
            }
            limits::spend_caller(deps.limiter, &principal).await?;
            Some(principal)
        }
        Access::Public | Access::SignedUrl => None,
    };
    let call = Call {
        deps,
        request,
        meta,
        params,
        principal,
        system,
    };
    let outcome = handlers::route(def.route, &call).await?;
    handled.job = outcome.job;
    Ok(outcome.response)
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
