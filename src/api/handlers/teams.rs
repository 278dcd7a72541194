//! `/api/v1/teams` and `/api/v1/invitations`.

use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::ids::{TeamId, UserId};
use crate::services::teams;

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
    call.no_body()?;
    teams::remove(call.caller()?, team, member).await?;
    Ok(ApiResponse::json(200, &json!({ "removed": member })))
}
