//! `DELETE /api/v1/teams/{id}`, `/teams/{id}/deletion[/cancel]` and `/me/export`.

use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::{ApiResponse, Body};
use crate::ids::TeamId;
use crate::services::lifecycle::{self, DeleteOutcome};

/// The first call answers 200 with the confirmation to send back; the second 202 with the
/// deletion, which the purge job carries out after the grace period.
pub async fn delete_team(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    Ok(
        match lifecycle::request_deletion(call.caller()?, team, call.body()?).await? {
            DeleteOutcome::Confirm(confirmation) => {
                ApiResponse::json(200, &json!({ "confirmation": confirmation }))
            }
            DeleteOutcome::Requested(deletion) => {
                ApiResponse::json(202, &json!({ "deletion": lifecycle::view(&deletion) }))
            }
        },
    )
}

pub async fn cancel_deletion(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let deletion = lifecycle::cancel_deletion(call.caller()?, team).await?;
    Ok(ApiResponse::json(
        200,
        &json!({ "deletion": lifecycle::view(&deletion) }),
    ))
}

pub async fn deletion(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let deletion = lifecycle::deletion_status(call.caller()?, team).await?;
    Ok(ApiResponse::json(
        200,
        &json!({ "deletion": deletion.as_ref().map(lifecycle::view) }),
    ))
}

/// The export as a JSON file download.
pub async fn export(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let caller = call.caller()?;
    let export = lifecycle::export(caller).await?;
    Ok(ApiResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            (
                "content-disposition".into(),
                format!(
                    "attachment; filename=\"butterfly-export-{}.json\"",
                    caller.user()
                ),
            ),
        ],
        body: Body::Bytes(export.to_json()),
    })
}
