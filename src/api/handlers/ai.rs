//! AI guidance: the team's switch, guidance requests and their records (docs/ai.md).

use serde::Deserialize;
use serde_json::json;

use crate::ai::record::RecordOutcome;
use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::ids::{ConnectionId, DriftAlertId, GuidanceRecordId, RestorePlanId, TeamId};
use crate::services::ai::{self, GuidanceView};
use crate::services::ServiceError;

pub async fn settings(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let view = ai::settings(call.caller()?, team).await?;
    Ok(ApiResponse::json(200, &json!({ "ai": view })))
}

/// `PATCH /teams/{id}/ai` body: either or both switches; anything else is refused.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::api) struct SettingsBody {
    enabled: Option<bool>,
    keep_answers: Option<bool>,
}

pub async fn set_settings(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let body: SettingsBody = call.body()?;
    if body.enabled.is_none() && body.keep_answers.is_none() {
        return Err(ServiceError::invalid("enabled", "give enabled or keep_answers").into());
    }
    let caller = call.caller()?;
    let current = ai::settings(caller, team).await?;
    let view = ai::set_settings(
        caller,
        team,
        body.enabled.unwrap_or(current.enabled),
        body.keep_answers.unwrap_or(current.keep_answers),
    )
    .await?;
    Ok(ApiResponse::json(200, &json!({ "ai": view })))
}

pub async fn delete_answers(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let erased = ai::delete_answers(call.caller()?, team).await?;
    Ok(ApiResponse::json(200, &json!({ "erased": erased })))
}

pub async fn records(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let rows = ai::records(call.caller()?, team).await?;
    Ok(ApiResponse::json(200, &json!({ "records": rows })))
}

pub async fn record(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, GuidanceRecordId::parse)?;
    let row = ai::record(call.caller()?, id).await?;
    Ok(ApiResponse::json(200, &json!({ "record": row })))
}

pub async fn finding(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let check_id = call.params.get(1).ok_or_else(ApiError::not_found)?;
    respond(
        ai::finding_guidance(call.caller()?, id, check_id).await?,
        call,
    )
}

pub async fn privileged_access(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    respond(
        ai::privileged_access_guidance(call.caller()?, id).await?,
        call,
    )
}

pub async fn drift_alert(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let alert = call.id(1, DriftAlertId::parse)?;
    respond(
        ai::drift_alert_guidance(call.caller()?, id, alert).await?,
        call,
    )
}

pub async fn restore_plan(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, RestorePlanId::parse)?;
    respond(ai::restore_guidance(call.caller()?, id).await?, call)
}

/// An answer is 200 with its text; a request the team's budget refused is 429 with
/// `Retry-After`; one no provider could answer is 503. Each names its record, which the records
/// list shows too.
fn respond(view: GuidanceView, call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let record_id = view.record.id.to_string();
    match view.record.outcome {
        RecordOutcome::OverBudget => {
            let secs = view
                .retry_at
                .map(|t| (t - call.deps.clock.now()).num_seconds().max(1))
                .unwrap_or(60);
            Err(ApiError {
                retry_after: Some(u32::try_from(secs).unwrap_or(u32::MAX)),
                ..ApiError::new(
                    429,
                    "ai_budget_exhausted",
                    format!(
                        "the team's AI budget refused this request ({}); record {record_id}",
                        view.record.error.as_deref().unwrap_or("budget")
                    ),
                )
            })
        }
        RecordOutcome::Unavailable | RecordOutcome::NoProviders => Err(ApiError::new(
            503,
            "ai_unavailable",
            format!("no AI provider could answer; record {record_id}"),
        )),
        _ => Ok(ApiResponse::json(
            200,
            &json!({
                "outcome": view.record.outcome,
                "advice": view.advice.map(|a| json!({
                    "text": a.text,
                    "provider": a.provider,
                    "model": a.model,
                    "advisory": true,
                })),
                "record": view.record,
            }),
        )),
    }
}
