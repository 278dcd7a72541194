//! Transport and browser policy at the edge: HTTPS only (unless configured off for the loopback
//! stack), and CORS only for an explicit allow-list of origins (none by default).

use super::error::ApiError;
use super::http::{ApiRequest, ApiResponse, Body};
use crate::config::Config;

/// Plain HTTP is refused (not redirected: a redirect would already have sent the credentials in
/// clear, and API clients should fail loudly). The URL scheme is what Cloudflare received; a
/// client-set `X-Forwarded-Proto` is not trusted.
pub fn require_https(config: &Config, request: &ApiRequest) -> Result<(), ApiError> {
    if !config.require_https || request.https {
        Ok(())
    } else {
        Err(ApiError::new(
            403,
            "https_required",
            "this API is served over HTTPS only",
        ))
    }
}

fn allowed_origin<'a>(config: &Config, request: &'a ApiRequest) -> Option<&'a str> {
    let origin = request.header("origin")?;
    config
        .cors_origins
        .iter()
        .any(|o| o == origin)
        .then_some(origin)
}

/// Adds CORS headers when the request's `Origin` is on the allow-list.
pub fn cors(config: &Config, request: &ApiRequest, response: ApiResponse) -> ApiResponse {
    match allowed_origin(config, request) {
        Some(origin) => response
            .with_header("access-control-allow-origin", origin)
            .with_header("vary", "Origin"),
        None => response,
    }
}

/// Answers an `OPTIONS` preflight: 204 for an allowed origin, 403 otherwise.
pub fn preflight(config: &Config, request: &ApiRequest) -> ApiResponse {
    match allowed_origin(config, request) {
        Some(_) => ApiResponse {
            status: 204,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
        .with_header(
            "access-control-allow-methods",
            "GET, POST, PUT, PATCH, DELETE",
        )
        .with_header(
            "access-control-allow-headers",
            "authorization, content-type, x-request-id",
        )
        .with_header("access-control-max-age", "600"),
        None => ApiError::new(403, "cors_denied", "origin not allowed").into_response(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(require_https: bool, origins: &[&str]) -> Config {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let origins = origins.join(",");
        Config::from_lookup(|name| {
            Some(match name {
                "SUPABASE_JWT_SECRET" => "x".repeat(40),
                "PUBLIC_BASE_URL" => "https://b.example".into(),
                "POSTGREST_URL" => "http://db".into(),
                "SUPABASE_SERVICE_ROLE_KEY" => "s".into(),
                "MASTER_KEYS" => format!("k1:{key}"),
                "SNAPSHOT_MASTER_SECRET" | "DOWNLOAD_SIGNING_KEY" | "API_KEY_PEPPER" => key.into(),
                "REQUIRE_HTTPS" => require_https.to_string(),
                "CORS_ALLOWED_ORIGINS" => origins.clone(),
                _ => return None,
            })
        })
        .unwrap()
    }

    fn request(https: bool, origin: Option<&str>) -> ApiRequest {
        ApiRequest {
            method: None,
            path: "/api/v1/health".into(),
            query: String::new(),
            headers: origin
                .map(|o| vec![("Origin".to_string(), o.to_string())])
                .unwrap_or_default(),
            body: Vec::new(),
            https,
            preflight: false,
        }
    }

    #[test]
    fn plain_http_is_refused_unless_configured_off() {
        let strict = config(true, &[]);
        assert!(require_https(&strict, &request(true, None)).is_ok());
        let err = require_https(&strict, &request(false, None)).unwrap_err();
        assert_eq!((err.status, err.code), (403, "https_required"));
        assert!(require_https(&config(false, &[]), &request(false, None)).is_ok());
    }

    #[test]
    fn cors_only_for_listed_origins() {
        let none = config(true, &[]);
        let ok = || ApiResponse::json(200, &serde_json::json!({}));
        let r = cors(&none, &request(true, Some("https://app.example")), ok());
        assert!(r
            .headers
            .iter()
            .all(|(k, _)| !k.starts_with("access-control")));
        assert_eq!(
            preflight(&none, &request(true, Some("https://app.example"))).status,
            403
        );

        let listed = config(true, &["https://app.example"]);
        let r = cors(&listed, &request(true, Some("https://app.example")), ok());
        assert!(r.headers.contains(&(
            "access-control-allow-origin".into(),
            "https://app.example".into()
        )));
        let r = cors(&listed, &request(true, Some("https://evil.example")), ok());
        assert!(r
            .headers
            .iter()
            .all(|(k, _)| !k.starts_with("access-control")));
        assert_eq!(
            preflight(&listed, &request(true, Some("https://app.example"))).status,
            204
        );
        assert_eq!(preflight(&listed, &request(true, None)).status, 403);
    }
}
