//! The HTTP API: authenticate, route, call a use case, map the result. Runtime-neutral, so the
//! whole request path runs in native tests; `platform` only converts to and from Workers types.

pub mod error;
pub mod http;
pub mod routes;

use serde::de::DeserializeOwned;
use serde_json::json;

use crate::auth::jwt::verify_hs256;
use crate::ids::{BackupId, ConnectionId, RequestId, UserId};
use crate::ports::Method;
use crate::services::audit::RequestMeta;
use crate::services::backups::{self, BackupJob};
use crate::services::{connections, downloads, Deps};
use error::ApiError;
use http::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use routes::{resolve, Access, Resolved, Route};

/// A verified caller.
struct Principal {
    user: UserId,
    jwt: String,
}

/// What the edge needs after a request: the response, work to continue after responding, and
/// fields for the one structured log line (never secrets or bodies).
pub struct Handled {
    pub response: ApiResponse,
    pub job: Option<BackupJob>,
    pub route: Option<&'static str>,
    pub actor: Option<String>,
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
        internal_error: None,
    };
    let result = dispatch(deps, &request, &meta, &mut handled).await;
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            handled.internal_error = error.internal.clone();
            error.into_response(&meta.request_id)
        }
    };
    handled.response = response.secured(&meta.request_id);
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
    let principal = match def.access {
        Access::User => {
            let principal = authenticate(deps, request)?;
            handled.actor = Some(principal.user.to_string());
            Some(principal)
        }
        Access::Public | Access::SignedUrl => None,
    };
    let rid = meta.request_id.as_str();
    let system = deps.system_repo(rid);

    match (def.route, principal) {
        (Route::Health, _) => Ok(ApiResponse::json(200, &json!({"status": "ok"}))),
        (Route::Download, _) => {
            let body = downloads::serve(deps, &system, &request.query).await?;
            Ok(ApiResponse {
                status: 200,
                headers: vec![
                    (
                        "content-type".into(),
                        "application/json; charset=utf-8".into(),
                    ),
                    ("content-disposition".into(), "attachment".into()),
                ],
                body,
            })
        }
        (route, Some(p)) => {
            let repo = deps.user_repo(&p.jwt, rid);
            match route {
                Route::ListConnections => {
                    let rows = repo
                        .connections()
                        .await
                        .map_err(crate::services::ServiceError::from)?;
                    Ok(ApiResponse::json(200, &json!({ "connections": rows })))
                }
                Route::CreateConnection => {
                    let body = parse_body(request)?;
                    let row = connections::create(deps, &repo, &system, p.user, meta, body).await?;
                    Ok(ApiResponse::json(201, &json!({ "connection": row })))
                }
                Route::GetConnection => {
                    let id = path_id(ConnectionId::parse(&params[0]))?;
                    let row = repo
                        .connection(id)
                        .await
                        .map_err(crate::services::ServiceError::from)?
                        .ok_or_else(ApiError::not_found)?;
                    Ok(ApiResponse::json(200, &json!({ "connection": row })))
                }
                Route::DeleteConnection => {
                    let id = path_id(ConnectionId::parse(&params[0]))?;
                    connections::delete(deps, &repo, &system, p.user, meta, id).await?;
                    Ok(ApiResponse::json(200, &json!({ "deleted": id })))
                }
                Route::CreateBackup => {
                    reject_body(request)?;
                    let id = path_id(ConnectionId::parse(&params[0]))?;
                    let (row, job) =
                        backups::request(deps, &repo, &system, p.user, meta, id).await?;
                    handled.job = Some(job);
                    Ok(ApiResponse::json(202, &json!({ "backup": row })))
                }
                Route::ListBackups => {
                    let id = path_id(ConnectionId::parse(&params[0]))?;
                    repo.connection(id)
                        .await
                        .map_err(crate::services::ServiceError::from)?
                        .ok_or_else(ApiError::not_found)?;
                    let rows = repo
                        .backups_of(id)
                        .await
                        .map_err(crate::services::ServiceError::from)?;
                    Ok(ApiResponse::json(200, &json!({ "backups": rows })))
                }
                Route::GetBackup => {
                    let id = path_id(BackupId::parse(&params[0]))?;
                    let row = repo
                        .backup(id)
                        .await
                        .map_err(crate::services::ServiceError::from)?
                        .ok_or_else(ApiError::not_found)?;
                    Ok(ApiResponse::json(200, &json!({ "backup": row })))
                }
                Route::ObjectUrl => {
                    let id = path_id(BackupId::parse(&params[0]))?;
                    let issued =
                        downloads::issue_url(deps, &repo, &system, p.user, meta, id, &params[1])
                            .await?;
                    Ok(ApiResponse::json(
                        200,
                        &json!({ "url": issued.url, "expires_at": issued.expires_at }),
                    ))
                }
                Route::Health | Route::Download => unreachable!("public routes handled above"),
            }
        }
        (_, None) => Err(ApiError::unauthorized()),
    }
}

/// Ids are checked before any lookup; a malformed one is simply not found.
fn path_id<T>(parsed: Result<T, crate::ids::InvalidId>) -> Result<T, ApiError> {
    parsed.map_err(|_| ApiError::not_found())
}

fn authenticate(deps: &Deps<'_>, request: &ApiRequest) -> Result<Principal, ApiError> {
    let token = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?
        .trim();
    let claims = verify_hs256(
        token,
        &deps.config.jwt_secret,
        deps.clock.now().timestamp(),
        &deps.config.jwt_audience,
    )
    .map_err(|_| ApiError::unauthorized())?;
    if claims.role != "authenticated" {
        return Err(ApiError::unauthorized());
    }
    let user = UserId::parse(&claims.sub).map_err(|_| ApiError::unauthorized())?;
    Ok(Principal {
        user,
        jwt: token.to_string(),
    })
}

fn parse_body<T: DeserializeOwned>(request: &ApiRequest) -> Result<T, ApiError> {
    let json_type = request.header("content-type").is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json_type {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    serde_json::from_slice(&request.body).map_err(|e| {
        let mut detail = e.to_string();
        detail.truncate(200);
        ApiError::invalid_json(&detail)
    })
}

fn reject_body(request: &ApiRequest) -> Result<(), ApiError> {
    let empty = request.body.iter().all(u8::is_ascii_whitespace) || request.body == b"{}";
    if empty {
        Ok(())
    } else {
        Err(ApiError::invalid_json("this endpoint takes no body"))
    }
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
