//! `/api/v1/teams/{id}/plan`, `/api/v1/billing/*` and the Stripe webhook.

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::ids::TeamId;
use crate::services::billing::{self, WebhookError};

pub async fn plan(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let report = billing::plan(call.caller()?, team).await?;
    Ok(ApiResponse::json(200, &report))
}

pub async fn checkout(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let session = billing::checkout(call.caller()?, call.body()?).await?;
    Ok(ApiResponse::json(201, &session))
}

pub async fn portal(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let session = billing::portal(call.caller()?, call.body()?).await?;
    Ok(ApiResponse::json(201, &session))
}

/// Verified over the body exactly as received: nothing parses it before the signature holds.
pub async fn stripe_webhook(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let receipt = billing::stripe_webhook(
        call.deps,
        call.meta,
        call.request.header("stripe-signature"),
        &call.request.body,
    )
    .await
    .map_err(|e| match e {
        WebhookError::Disabled => ApiError::not_found(),
        WebhookError::Refused(reason) => ApiError {
            internal: Some(reason),
            ..ApiError::new(400, "invalid_webhook", "the event was refused")
        },
        WebhookError::Retry(reason) => ApiError {
            internal: Some(reason),
            ..ApiError::new(503, "retry_later", "the event could not be processed now")
        },
    })?;
    Ok(ApiResponse::json(200, &receipt))
}
