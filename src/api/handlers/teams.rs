//! `/api/v1/teams` and `/api/v1/invitations`.

use serde_json::json;

use crate::api::call::{Call, Outcome};
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::ids::{TeamId, UserId};
use crate::services::teams;

pub async fn list(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let user = call.principal()?.user;
    let teams = teams::list(&call.repo()?, user).await?;
    Ok(ApiResponse::json(200, &json!({ "teams": teams })).into())
}

pub async fn members(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let user = call.principal()?.user;
    let members = teams::members(&call.repo()?, user, team).await?;
    Ok(ApiResponse::json(200, &json!({ "members": members })).into())
}

pub async fn invite(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let body = call.body()?;
    let user = call.principal()?.user;
    let created = teams::invite(
        call.deps,
        &call.repo()?,
        &call.system,
        user,
        call.meta,
        team,
        body,
    )
    .await?;
    Ok(ApiResponse::json(201, &created).into())
}

pub async fn accept(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let body = call.body()?;
    let principal = call.principal()?;
    let member = teams::accept(
        call.deps,
        &call.system,
        principal.user,
        principal.email.as_deref(),
        call.meta,
        body,
    )
    .await?;
    Ok(ApiResponse::json(200, &json!({ "member": member })).into())
}

pub async fn change_role(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let member = call.id(1, UserId::parse)?;
    let body = call.body()?;
    let user = call.principal()?.user;
    let row = teams::change_role(
        &call.repo()?,
        &call.system,
        user,
        call.meta,
        team,
        member,
        body,
    )
    .await?;
    Ok(ApiResponse::json(200, &json!({ "member": row })).into())
}

pub async fn remove(call: &Call<'_>) -> Result<Outcome, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let member = call.id(1, UserId::parse)?;
    call.no_body()?;
    let user = call.principal()?.user;
    teams::remove(&call.repo()?, &call.system, user, call.meta, team, member).await?;
    Ok(ApiResponse::json(200, &json!({ "removed": member })).into())
}
