//! `/api/v1/connections`.

use serde_json::json;

use crate::api::call::{Call, Outcome};
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::ids::ConnectionId;
use crate::services::{connections, ServiceError};

pub async fn list(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let rows = call
        .repo()?
        .connections()
        .await
        .map_err(ServiceError::from)?;
    Ok(ApiResponse::json(200, &json!({ "connections": rows })).into())
}

pub async fn create(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let mut body: connections::CreateConnection = call.body()?;
    let principal = call.principal()?;
    // An API key acts in its own team unless the body names one (which RLS then checks).
    if let (None, Some(key)) = (&body.team_id, &principal.key) {
        body.team_id = Some(key.team.to_string());
    }
    let user = principal.user;
    let row = connections::create(
        call.deps,
        &call.repo()?,
        &call.system,
        user,
        call.meta,
        body,
    )
    .await?;
    Ok(ApiResponse::json(201, &json!({ "connection": row })).into())
}

pub async fn get(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let row = call
        .repo()?
        .connection(id)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(ApiError::not_found)?;
    Ok(ApiResponse::json(200, &json!({ "connection": row })).into())
}

pub async fn delete(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let user = call.principal()?.user;
    connections::delete(call.deps, &call.repo()?, &call.system, user, call.meta, id).await?;
    Ok(ApiResponse::json(200, &json!({ "deleted": id })).into())
}
