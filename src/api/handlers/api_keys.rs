//! `/api/v1/api-keys`.

use serde_json::json;

use crate::api::call::{Call, Outcome};
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::ids::ApiKeyId;
use crate::services::{api_keys, ServiceError};

pub async fn create(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let body = call.body()?;
    let user = call.principal()?.user;
    let created = api_keys::create(
        call.deps,
        &call.repo()?,
        &call.system,
        user,
        call.meta,
        body,
    )
    .await?;
    Ok(ApiResponse::json(201, &created).into())
}

pub async fn list(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let rows = call.repo()?.api_keys().await.map_err(ServiceError::from)?;
    let keys: Vec<_> = rows.iter().map(api_keys::view).collect();
    Ok(ApiResponse::json(200, &json!({ "api_keys": keys })).into())
}

pub async fn revoke(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let id = call.id(0, ApiKeyId::parse)?;
    call.no_body()?;
    let user = call.principal()?.user;
    let row = api_keys::revoke(call.deps, &call.repo()?, &call.system, user, call.meta, id).await?;
    Ok(ApiResponse::json(200, &json!({ "api_key": row })).into())
}
