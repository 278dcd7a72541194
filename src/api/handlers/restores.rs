//! Restores: `POST /connections/{id}/restores` (a dry run), `GET /restores/{id}` (the plan and
//! an apply's progress), `POST /restores/{id}/apply`, `POST /restores/{id}/approvals`,
//! `GET /restores/{id}/receipt` and `PATCH /teams/{id}/restore-settings`.

use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::ids::{ConnectionId, RestorePlanId, TeamId};
use crate::jobs::restore as restore_job;
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

pub async fn apply(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, RestorePlanId::parse)?;
    Ok(view(202, &restore_job::request(call.caller()?, id).await?))
}

pub async fn approve(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, RestorePlanId::parse)?;
    Ok(ApiResponse::json(
        200,
        &restores::approve(call.caller()?, id).await?,
    ))
}

pub async fn receipt(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, RestorePlanId::parse)?;
    Ok(ApiResponse::json(
        200,
        &restores::receipt(call.caller()?, id).await?,
    ))
}

pub async fn set_settings(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    Ok(ApiResponse::json(
        200,
        &restores::set_settings(call.caller()?, team, call.body()?).await?,
    ))
}
