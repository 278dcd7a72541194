//! `/api/v1/me/email/*`, `/api/v1/me/email-preferences`, the one-click unsubscribe link and
//! SendGrid's event webhook.

use serde::Deserialize;
use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::email::codes::CodePurpose;
use crate::email::messages::escape;
use crate::email::preferences::Category;
use crate::services::email::{self, EmailError, UnsubscribeRefused, WebhookRefused};

fn email_error(e: EmailError) -> ApiError {
    let message = e.to_string();
    match e {
        EmailError::Off => ApiError::new(503, "email_not_configured", message),
        EmailError::NoAddress => ApiError::new(409, "no_email_address", message),
        EmailError::RateLimited { retry_after_secs } => ApiError {
            retry_after: Some(retry_after_secs.clamp(1, 3600) as u32),
            ..ApiError::new(429, "code_rate_limited", message)
        },
        EmailError::NoCode => ApiError::new(404, "no_pending_code", message),
        EmailError::WrongCode { .. } => ApiError::new(400, "invalid_code", message),
        EmailError::Expired => ApiError::new(410, "code_expired", message),
        EmailError::Locked => ApiError::new(429, "too_many_attempts", message),
        EmailError::Undeliverable(_) => ApiError {
            internal: Some(message),
            ..ApiError::new(
                503,
                "email_unavailable",
                "the email could not be sent; try again later",
            )
        },
        EmailError::Service(e) => e.into(),
    }
}

/// `POST /me/email/verification`: mails a code to the account's address.
pub async fn request_verification(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let sent = email::request_code(call.caller()?, CodePurpose::VerifyEmail)
        .await
        .map_err(email_error)?;
    Ok(ApiResponse::json(
        202,
        &json!({"sent": true, "expires_at": sent.expires_at}),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::api) struct Confirm {
    code: String,
}

/// `POST /me/email/verification/confirm {"code": "123456"}`.
pub async fn confirm_verification(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let body: Confirm = call.body()?;
    email::confirm_code(call.caller()?, CodePurpose::VerifyEmail, &body.code)
        .await
        .map_err(email_error)?;
    Ok(ApiResponse::json(200, &json!({"verified": true})))
}

pub async fn preferences(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let settings = email::settings(call.caller()?).await?;
    Ok(ApiResponse::json(200, &settings))
}

pub async fn set_preferences(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let settings = email::set_preferences(call.caller()?, call.body()?).await?;
    Ok(ApiResponse::json(200, &settings))
}

/// The `token` query parameter of an unsubscribe link.
fn token(call: &Call<'_>) -> Option<String> {
    url::form_urlencoded::parse(call.request.query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

fn unsubscribe_error(e: UnsubscribeRefused) -> ApiError {
    match e {
        UnsubscribeRefused::Off => ApiError::not_found(),
        UnsubscribeRefused::BadLink => ApiError::new(
            400,
            "invalid_unsubscribe_link",
            "this unsubscribe link is not valid",
        ),
        UnsubscribeRefused::NotOneClick => ApiError::new(
            400,
            "not_one_click",
            "send List-Unsubscribe=One-Click as a form body",
        ),
        UnsubscribeRefused::Service(e) => e.into(),
    }
}

fn what(category: Category) -> &'static str {
    match category {
        Category::ProductUpdates => "product update emails",
        _ => "alert emails (drift, failed backups and drills)",
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title>\
         <body style=\"font-family:sans-serif;max-width:600px\"><h1>{title}</h1>{body}</body></html>"
    )
}

/// `GET /email/unsubscribe?token=`: a confirmation page; changes nothing (mail scanners follow
/// links). Its button sends the same one-click `POST` a mail client would.
pub async fn unsubscribe_page(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let token = token(call).unwrap_or_default();
    let category = email::unsubscribe_category(call.deps, &token).map_err(unsubscribe_error)?;
    let action = format!("/api/v1/email/unsubscribe?token={}", escape(&token));
    let body = format!(
        "<p>Stop receiving {} from Butterfly?</p><form method=post action=\"{action}\">\
         <input type=hidden name=List-Unsubscribe value=One-Click>\
         <button type=submit>Unsubscribe</button></form>",
        what(category)
    );
    Ok(ApiResponse::text(
        200,
        "text/html; charset=utf-8",
        page("Unsubscribe", &body),
    ))
}

/// `POST /email/unsubscribe?token=` with `List-Unsubscribe=One-Click` (RFC 8058).
pub async fn unsubscribe(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let token = token(call).unwrap_or_default();
    let category = email::unsubscribe(
        call.deps,
        call.meta,
        &token,
        call.request.header("content-type"),
        &call.request.body,
    )
    .await
    .map_err(unsubscribe_error)?;
    let body = format!(
        "<p>You will no longer receive {}. You can turn them on again in your settings.</p>",
        what(category)
    );
    Ok(ApiResponse::text(
        200,
        "text/html; charset=utf-8",
        page("Unsubscribed", &body),
    ))
}

/// Verified over the body exactly as received: nothing parses it before the signature holds.
pub async fn sendgrid_webhook(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    use crate::email::event_webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
    let applied = email::sendgrid_webhook(
        call.deps,
        call.meta,
        call.request.header(SIGNATURE_HEADER),
        call.request.header(TIMESTAMP_HEADER),
        &call.request.body,
    )
    .await
    .map_err(|e| match e {
        WebhookRefused::Disabled => ApiError::not_found(),
        WebhookRefused::Refused(reason) => ApiError {
            internal: Some(reason),
            ..ApiError::new(400, "invalid_webhook", "the event post was refused")
        },
        WebhookRefused::Retry(reason) => ApiError {
            internal: Some(reason),
            ..ApiError::new(503, "retry_later", "the events could not be processed now")
        },
    })?;
    Ok(ApiResponse::json(200, &applied))
}
