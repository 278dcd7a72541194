//! The public evidence routes: the Trust Center page and its stylesheet, `security.txt` and the
//! audit-pack signing keys. No credentials; nothing here reads the database.

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::evidence::security_txt;
use crate::evidence::signing::{jwks, public_key_pem};
use crate::evidence::trust::{self, content::TRUST_CENTER, Links};

/// The page answers with its own CSP (same-origin stylesheet, nothing else), which the edge's
/// default `default-src 'none'` would otherwise replace.
pub fn page(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let links = Links {
        source_base: call.deps.config.source_url.as_deref(),
        security_txt: "/.well-known/security.txt",
    };
    Ok(ApiResponse::text(
        200,
        "text/html; charset=utf-8",
        trust::render(&TRUST_CENTER, &links),
    )
    .with_header("content-security-policy", trust::CSP))
}

pub fn stylesheet() -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::text(
        200,
        "text/css; charset=utf-8",
        trust::STYLESHEET,
    ))
}

/// RFC 9116. A deployment without `SECURITY_CONTACTS` has no file to serve (a security.txt
/// without a contact is invalid), so it answers 404 rather than invent an address.
pub fn security_txt(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let config = call.deps.config;
    let contacts: Vec<&str> = config
        .security_contacts
        .iter()
        .map(String::as_str)
        .collect();
    match security_txt::render(&config.public_base_url, &contacts) {
        Ok(text) => Ok(ApiResponse::text(200, "text/plain; charset=utf-8", text)),
        Err(e) => Err(ApiError {
            internal: Some(format!("security.txt not served: {e}")),
            ..ApiError::not_found()
        }),
    }
}

/// Every audit-pack signing key's public half as a JWKS (active key first; retired keys stay
/// listed so old packs keep verifying). Empty when signing is not configured.
pub fn keys(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let keys = call
        .deps
        .config
        .audit_signing_keys
        .as_ref()
        .map(|ring| ring.public_keys())
        .unwrap_or_default();
    Ok(ApiResponse::json(200, &jwks(&keys)))
}

/// One key as SPKI PEM (`/.well-known/butterfly-audit-keys/<kid>.pem`), for `openssl pkeyutl`.
pub fn key_pem(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let kid = call
        .params
        .first()
        .and_then(|p| p.strip_suffix(".pem"))
        .ok_or_else(ApiError::not_found)?;
    let key = call
        .deps
        .config
        .audit_signing_keys
        .as_ref()
        .and_then(|ring| {
            ring.public_keys()
                .into_iter()
                .find(|k| k.id.as_str() == kid)
        })
        .ok_or_else(ApiError::not_found)?;
    Ok(ApiResponse::text(
        200,
        "application/x-pem-file",
        public_key_pem(&key.key),
    ))
}
