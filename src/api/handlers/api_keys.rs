//! `/api/v1/api-keys`.

use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::ids::ApiKeyId;
use crate::services::api_keys;

pub async fn create(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let created = api_keys::create(call.caller()?, call.body()?).await?;
    Ok(ApiResponse::json(201, &created))
}

pub async fn list(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let keys = api_keys::list(call.caller()?).await?;
    Ok(ApiResponse::json(200, &json!({ "api_keys": keys })))
}

pub async fn revoke(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ApiKeyId::parse)?;
    let row = api_keys::revoke(call.caller()?, id).await?;
    Ok(ApiResponse::json(200, &json!({ "api_key": row })))
}
