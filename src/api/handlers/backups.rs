//! Backups of a connection, and downloads of their objects.

use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::{ApiResponse, Body};
use crate::ids::{BackupId, ConnectionId};
use crate::jobs::backup;
use crate::services::{downloads, ServiceError};

pub async fn create(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let row = backup::request(call.caller()?, id).await?;
    Ok(ApiResponse::json(202, &json!({ "backup": row })))
}

pub async fn list(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let stores = call.caller()?.stores();
    stores
        .connection(id)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(ApiError::not_found)?;
    let rows = stores.backups_of(id).await.map_err(ServiceError::from)?;
    Ok(ApiResponse::json(200, &json!({ "backups": rows })))
}

pub async fn get(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, BackupId::parse)?;
    let row = call
        .caller()?
        .stores()
        .backup(id)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(ApiError::not_found)?;
    Ok(ApiResponse::json(200, &json!({ "backup": row })))
}

pub async fn object_url(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, BackupId::parse)?;
    let object = call.params.get(1).ok_or_else(ApiError::not_found)?;
    let issued = downloads::issue_url(call.caller()?, id, object).await?;
    Ok(ApiResponse::json(
        200,
        &json!({ "url": issued.url, "expires_at": issued.expires_at }),
    ))
}

/// Authorised by the URL's signature alone (no session), checked in the service. The body is
/// streamed: a failure after the first piece aborts the transfer rather than changing the status.
pub async fn download(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let stream = downloads::serve(call.deps, call.meta, &call.request.query).await?;
    Ok(ApiResponse {
        status: 200,
        headers: vec![
            (
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("content-disposition".into(), "attachment".into()),
        ],
        body: Body::Object(Box::new(stream)),
    })
}
