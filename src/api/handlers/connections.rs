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
    let row = connections::create(call.caller()?, call.body()?).await?;
    Ok(ApiResponse::json(201, &json!({ "connection": row })))
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
    Ok(ApiResponse::json(200, &json!({ "connection": row })))
}

pub async fn delete(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    connections::delete(call.caller()?, id).await?;
    Ok(ApiResponse::json(200, &json!({ "deleted": id })))
}
