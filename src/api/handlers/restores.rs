//! Restore plans: `POST /connections/{id}/restores` (a dry run) and `GET /restores/{id}`.

use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::ids::{ConnectionId, RestorePlanId};
use crate::services::restores::{self, PlanView};

fn view(status: u16, v: &PlanView) -> ApiResponse {
    ApiResponse::json(
        status,
        &json!({ "restore": v.row, "expired": v.expired, "plan": v.plan }),
    )
}

pub async fn create(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let planned = restores::plan(call.caller()?, id, call.body()?).await?;
    Ok(view(201, &planned))
}

pub async fn get(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, RestorePlanId::parse)?;
    Ok(view(200, &restores::get(call.caller()?, id).await?))
}
