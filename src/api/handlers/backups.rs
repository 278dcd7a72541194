//! Backups of a connection, and downloads of their objects.

use serde_json::json;

use crate::api::call::{Call, Outcome};
use crate::api::error::ApiError;
use crate::api::http::{ApiResponse, Body};
use crate::ids::{BackupId, ConnectionId};
use crate::services::{backups, downloads, ServiceError};

pub async fn create(call: &Call<'_>) -> Result<Outcome, ApiError> {
    call.no_body()?;
    let id = call.id(0, ConnectionId::parse)?;
    let user = call.principal()?.user;
    let (row, job) =
        backups::request(call.deps, &call.repo()?, &call.system, user, call.meta, id).await?;
    Ok(Outcome {
        response: ApiResponse::json(202, &json!({ "backup": row })),
        job: Some(job),
    })
}

pub async fn list(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let repo = call.repo()?;
    repo.connection(id)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(ApiError::not_found)?;
    let rows = repo.backups_of(id).await.map_err(ServiceError::from)?;
    Ok(ApiResponse::json(200, &json!({ "backups": rows })).into())
}

pub async fn get(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let id = call.id(0, BackupId::parse)?;
    let row = call
        .repo()?
        .backup(id)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(ApiError::not_found)?;
    Ok(ApiResponse::json(200, &json!({ "backup": row })).into())
}

pub async fn object_url(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let id = call.id(0, BackupId::parse)?;
    let object = call.params.get(1).ok_or_else(ApiError::not_found)?;
    let user = call.principal()?.user;
    let issued = downloads::issue_url(
        call.deps,
        &call.repo()?,
        &call.system,
        user,
        call.meta,
        id,
        object,
    )
    .await?;
    Ok(ApiResponse::json(
        200,
        &json!({ "url": issued.url, "expires_at": issued.expires_at }),
    )
    .into())
}

/// Authorised by the URL's signature alone (no session), checked in the service. The body is
/// streamed: a failure after the first piece aborts the transfer rather than changing the status.
pub async fn download(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let stream = downloads::serve(call.deps, &call.system, &call.request.query).await?;
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
    }
    .into())
}
