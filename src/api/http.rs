//! Runtime-neutral request and response types for the API.

use serde::Serialize;

use crate::ports::Method;
use crate::services::audit_pack::PackExport;
use crate::snapshot::ObjectStream;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct ApiRequest {
    /// `None` for methods the API never serves.
    pub method: Option<Method>,
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// The body as far as the core read it (`api::body`, within the route's cap): empty until
    /// routing and authentication are done.
    pub body: Vec<u8>,
    /// The URL scheme Cloudflare received was `https`.
    pub https: bool,
    /// An `OPTIONS` (CORS preflight) request.
    pub preflight: bool,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// A response body: bytes in hand, or a snapshot object's plaintext or an audit pack that the
/// platform pulls piece by piece while sending (so its size never has to fit in memory).
#[derive(Debug)]
pub enum Body {
    Bytes(Vec<u8>),
    Object(Box<ObjectStream>),
    Pack(Box<PackExport>),
}

impl Body {
    /// The bytes of a buffered body; `None` for a stream.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Bytes(bytes) => Some(bytes),
            Body::Object(_) | Body::Pack(_) => None,
        }
    }
}

impl ApiResponse {
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        ApiResponse {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: Body::Bytes(serde_json::to_vec(value).expect("response serializes")),
        }
    }

    /// A text body (`text/plain`, `text/html`, `text/css`, ...).
    pub fn text(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        ApiResponse {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: Body::Bytes(body.into().into_bytes()),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Headers every API response carries: HSTS, no sniffing, no framing, no caching, and a CSP
    /// that lets a browser do nothing with the body (unless the response set its own: the Trust
    /// Center's and the dashboard's pages). A response that sets its own `cache-control` (the
    /// public OpenAPI document, the dashboard's assets) keeps it.
    pub fn secured(mut self, request_id: &str) -> Self {
        let own = |name: &str| {
            self.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        let own_csp = own("content-security-policy");
        let own_cache = own("cache-control");
        for (name, value) in [
            (
                "strict-transport-security",
                "max-age=31536000; includeSubDomains",
            ),
            ("x-content-type-options", "nosniff"),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
        ] {
            let kept = (own_csp && name == "content-security-policy")
                || (own_cache && name == "cache-control");
            if !kept {
                self.headers.push((name.into(), value.into()));
            }
        }
        self.headers
            .push(("x-request-id".into(), request_id.to_string()));
        self
    }
}
