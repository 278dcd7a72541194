//! Live drift: a connection's alerts and captures, alert triage, and the check's settings.

use serde::Deserialize;
use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::drift::capture::alerts::AlertRule;
use crate::ids::{ConnectionId, DriftAlertId};
use crate::services::drift::{self, Transition};
use crate::services::ServiceError;
use crate::store::AlertStatus;

fn invalid(field: &'static str, message: &str) -> ApiError {
    ServiceError::invalid(field, message.to_string()).into()
}

/// `status` (open, acknowledged, accepted) is the only parameter, at most once.
fn parse_status(query: &str) -> Result<Option<AlertStatus>, ApiError> {
    let mut status = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "status" if status.is_none() => {
                status = Some(
                    AlertStatus::parse(&value)
                        .ok_or_else(|| invalid("status", "is not a known value"))?,
                )
            }
            "status" => return Err(invalid("query", "repeats a parameter")),
            _ => return Err(invalid("query", "has an unknown parameter")),
        }
    }
    Ok(status)
}

pub async fn view(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let status = parse_status(&call.request.query)?;
    let view = drift::view(call.caller()?, id, status).await?;
    Ok(ApiResponse::json(200, &json!(view)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::api) struct TransitionBody {
    to: String,
    note: Option<String>,
}

fn parse_transition(to: &str) -> Result<Transition, ApiError> {
    match to {
        "acknowledged" => Ok(Transition::Acknowledge),
        "accepted" => Ok(Transition::Accept),
        _ => Err(invalid("to", "must be acknowledged or accepted")),
    }
}

pub async fn transition(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let alert = call.id(1, DriftAlertId::parse)?;
    let body: TransitionBody = call.body()?;
    let to = parse_transition(&body.to)?;
    let row = drift::transition(call.caller()?, id, alert, to, body.note).await?;
    Ok(ApiResponse::json(200, &json!({ "alert": row })))
}

/// `rules: null` restores the defaults; both fields are required, so a client states both.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    interval_minutes: u32,
    rules: Option<Vec<AlertRule>>,
}

pub async fn set_settings(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let body: SettingsBody = call.body()?;
    let row = drift::set_settings(call.caller()?, id, body.interval_minutes, body.rules).await?;
    Ok(ApiResponse::json(200, &json!({ "settings": row })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_filter_and_transitions_accept_known_values_only() {
        assert_eq!(parse_status("").unwrap(), None);
        assert_eq!(
            parse_status("status=open").unwrap(),
            Some(AlertStatus::Open)
        );
        for bad in ["status=closed", "status=open&status=open", "limit=1"] {
            assert_eq!(parse_status(bad).unwrap_err().status, 422, "{bad}");
        }
        assert_eq!(parse_transition("accepted").unwrap(), Transition::Accept);
        assert_eq!(parse_transition("open").unwrap_err().status, 422);
    }
}
