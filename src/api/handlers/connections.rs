//! `/api/v1/connections`.

use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::ids::ConnectionId;
use crate::services::{connections, ServiceError};

pub async fn list(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let rows = call
        .caller()?
        .stores()
        .connections()
        .await
        .map_err(ServiceError::from)?;
    Ok(ApiResponse::json(200, &json!({ "connections": rows })))
}

pub async fn create(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let created = connections::create(call.caller()?, call.body()?).await?;
    let mut body = json!({ "connection": created.connection });
    if let Some(setup) = created.setup {
        body["setup"] = setup;
    }
    Ok(ApiResponse::json(201, &body))
}

pub async fn verify(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let caller = call.caller()?;
    let row = connections::verify(caller, id).await?;
    let health = connections::health(&row, caller.deps().clock.now());
    Ok(ApiResponse::json(
        200,
        &json!({ "connection": row, "health": health }),
    ))
}

pub async fn get(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let row = call
        .caller()?
        .stores()
        .connection(id)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(ApiError::not_found)?;
    let health = connections::health(&row, call.caller()?.deps().clock.now());
    Ok(ApiResponse::json(
        200,
        &json!({ "connection": row, "health": health }),
    ))
}

pub async fn delete(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    connections::delete(call.caller()?, id).await?;
    Ok(ApiResponse::json(200, &json!({ "deleted": id })))
}
