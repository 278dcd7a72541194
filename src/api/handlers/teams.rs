//! `/api/v1/teams` and `/api/v1/invitations`.

use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::{ApiResponse, Body};
use crate::ids::{InvitationId, TeamId, UserId};
use crate::jobs::key_reseal;
use crate::services::{allowlist, audit_pack, evidence, teams};

pub async fn list(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let teams = teams::list(call.caller()?).await?;
    Ok(ApiResponse::json(200, &json!({ "teams": teams })))
}

pub async fn members(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let members = teams::members(call.caller()?, team).await?;
    Ok(ApiResponse::json(200, &json!({ "members": members })))
}

pub async fn invite(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let created = teams::invite(call.caller()?, team, call.body()?).await?;
    Ok(ApiResponse::json(201, &created))
}

pub async fn invitations(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let rows = teams::invitations(call.caller()?, team).await?;
    Ok(ApiResponse::json(200, &json!({ "invitations": rows })))
}

pub async fn revoke_invitation(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let id = call.id(1, InvitationId::parse)?;
    let revoked = teams::revoke_invitation(call.caller()?, team, id).await?;
    Ok(ApiResponse::json(200, &revoked))
}

pub async fn settings(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let settings = teams::settings(call.caller()?, team).await?;
    Ok(ApiResponse::json(200, &json!({ "settings": settings })))
}

pub async fn change_settings(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let settings = teams::change_settings(call.caller()?, team, call.body()?).await?;
    Ok(ApiResponse::json(200, &json!({ "settings": settings })))
}

pub async fn accept(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let member = teams::accept(call.caller()?, call.body()?).await?;
    Ok(ApiResponse::json(200, &json!({ "member": member })))
}

pub async fn change_role(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let member = call.id(1, UserId::parse)?;
    let row = teams::change_role(call.caller()?, team, member, call.body()?).await?;
    Ok(ApiResponse::json(200, &json!({ "member": row })))
}

pub async fn remove(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let member = call.id(1, UserId::parse)?;
    teams::remove(call.caller()?, team, member).await?;
    Ok(ApiResponse::json(200, &json!({ "removed": member })))
}

/// Rotates the team's data key; the re-seal job runs in the background (202).
pub async fn rotate_data_key(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let rotated = key_reseal::start(call.caller()?, team).await?;
    Ok(ApiResponse::json(202, &json!({ "rotation": rotated })))
}

/// The team's activity chain as the database finds it, checked against its latest R2 anchor.
pub async fn verify_audit_chain(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let report = evidence::verify(call.caller()?, team).await?;
    Ok(ApiResponse::json(200, &json!({ "verification": report })))
}

/// A signed audit pack of a team and a time range, streamed as a zip: authorised and audited
/// before the first byte; a failure after it aborts the transfer (a truncated archive).
pub async fn audit_pack(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let export = audit_pack::start(call.caller()?, &call.request.query).await?;
    Ok(ApiResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/zip".into()),
            (
                "content-disposition".into(),
                format!("attachment; filename=\"{}\"", export.file_name()),
            ),
        ],
        body: Body::Pack(Box::new(export)),
    })
}

pub async fn allow_list(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let entries = allowlist::get(call.caller()?, team).await?;
    Ok(ApiResponse::json(200, &json!({ "entries": entries })))
}

pub async fn set_allow_list(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let entries = allowlist::set(call.caller()?, team, call.body()?).await?;
    Ok(ApiResponse::json(200, &json!({ "entries": entries })))
}
