//! Recovery drills: `PATCH /connections/{id}/environment`, `PUT`/`PATCH
//! /connections/{id}/drills/settings`, `POST /connections/{id}/drills` (run now),
//! `GET /connections/{id}/drills` (settings, history, trend) and `GET /drills/{id}` (a report).

use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::ids::{ConnectionId, DrillId};
use crate::jobs::drill as drill_job;
use crate::services::drills;

pub async fn set_environment(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    Ok(ApiResponse::json(
        200,
        &drills::set_environment(call.caller()?, id, call.body()?).await?,
    ))
}

pub async fn put_settings(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let set = drills::configure(call.caller()?, id, call.body()?, true).await?;
    Ok(ApiResponse::json(200, &json!({ "settings": set })))
}

pub async fn patch_settings(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let set = drills::configure(call.caller()?, id, call.body()?, false).await?;
    Ok(ApiResponse::json(200, &json!({ "settings": set })))
}

pub async fn run(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let row = drill_job::request(call.caller()?, id).await?;
    Ok(ApiResponse::json(202, &json!({ "drill": row })))
}

pub async fn list(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    Ok(ApiResponse::json(
        200,
        &drills::list(call.caller()?, id).await?,
    ))
}

pub async fn get(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, DrillId::parse)?;
    let row = drills::get(call.caller()?, id).await?;
    Ok(ApiResponse::json(200, &json!({ "drill": row })))
}
