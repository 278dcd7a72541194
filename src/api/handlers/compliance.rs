//! Compliance runs, findings with their remediation workflow, and the team trend.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::compliance::remediation::{Request, State};
use crate::compliance::{Framework, Outcome as CheckOutcome, Severity};
use crate::ids::{ComplianceRunId, ConnectionId, TeamId};
use crate::services::compliance::{self, FindingFilter};
use crate::services::ServiceError;

fn invalid(field: &'static str, message: &str) -> ApiError {
    ServiceError::invalid(field, message.to_string()).into()
}

pub async fn create_run(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let view = compliance::request(call.caller()?, id).await?;
    Ok(ApiResponse::json(
        201,
        &json!({ "run": view.run, "findings": view.findings }),
    ))
}

pub async fn list_runs(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let stores = call.caller()?.stores();
    stores
        .connection(id)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(ApiError::not_found)?;
    let runs = stores
        .compliance_runs_of(id)
        .await
        .map_err(ServiceError::from)?;
    Ok(ApiResponse::json(200, &json!({ "runs": runs })))
}

pub async fn get_run(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ComplianceRunId::parse)?;
    let view = compliance::run_view(call.caller()?, id).await?;
    Ok(ApiResponse::json(
        200,
        &json!({ "run": view.run, "findings": view.findings }),
    ))
}

/// Parses a closed set of values through its serde names, so the API accepts exactly what it
/// returns.
fn closed<T: for<'de> Deserialize<'de>>(field: &'static str, value: &str) -> Result<T, ApiError> {
    serde_json::from_value(json!(value)).map_err(|_| invalid(field, "is not a known value"))
}

/// `framework`, `control`, `severity`, `outcome`, `state`; anything else, a repeat or an unknown
/// value is refused with the offending field.
fn parse_filter(query: &str) -> Result<FindingFilter, ApiError> {
    let mut filter = FindingFilter::default();
    let mut seen: Vec<String> = Vec::new();
    let mut control = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if seen.contains(&key.to_string()) {
            return Err(invalid("query", "repeats a parameter"));
        }
        seen.push(key.to_string());
        match key.as_ref() {
            "framework" => filter.framework = Some(closed::<Framework>("framework", &value)?),
            "severity" => filter.severity = Some(closed::<Severity>("severity", &value)?),
            "outcome" => filter.outcome = Some(closed::<CheckOutcome>("outcome", &value)?),
            "state" => {
                filter.state = Some(
                    State::parse(&value).ok_or_else(|| invalid("state", "is not a known value"))?,
                )
            }
            "control" => control = Some(value.into_owned()),
            _ => return Err(invalid("query", "has an unknown parameter")),
        }
    }
    if let Some(c) = control {
        if !compliance::known_control(filter.framework, &c) {
            return Err(invalid("control", "is not a control any check maps to"));
        }
        filter.control = Some(c);
    }
    Ok(filter)
}

pub async fn list_findings(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let filter = parse_filter(&call.request.query)?;
    let view = compliance::latest_findings(call.caller()?, id, &filter).await?;
    let body = match view {
        Some(v) => json!({ "run": v.run, "findings": v.findings }),
        None => json!({ "run": null, "findings": [] }),
    };
    Ok(ApiResponse::json(200, &body))
}

/// `POST .../transitions` body. Unknown fields are rejected; `justification` and `expires_at`
/// belong to risk acceptance only.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::api) struct TransitionBody {
    to: String,
    justification: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<DateTime<Utc>>,
}

fn parse_transition(body: TransitionBody) -> Result<Request, ApiError> {
    match (body.to.as_str(), body.justification, body.expires_at) {
        ("risk_accepted", Some(justification), Some(expires_at)) => Ok(Request::AcceptRisk {
            justification,
            expires_at,
        }),
        ("risk_accepted", None, _) => Err(invalid("justification", "is required")),
        ("risk_accepted", _, None) => Err(invalid("expires_at", "is required")),
        ("acknowledged" | "open", Some(_), _) => {
            Err(invalid("justification", "applies only to risk_accepted"))
        }
        ("acknowledged" | "open", _, Some(_)) => {
            Err(invalid("expires_at", "applies only to risk_accepted"))
        }
        ("acknowledged", None, None) => Ok(Request::Acknowledge),
        ("open", None, None) => Ok(Request::Reopen),
        _ => Err(invalid("to", "must be acknowledged, risk_accepted or open")),
    }
}

pub async fn transition(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let check_id = call.params.get(1).ok_or_else(ApiError::not_found)?;
    let request = parse_transition(call.body()?)?;
    let row = compliance::transition(call.caller()?, id, check_id, request).await?;
    Ok(ApiResponse::json(200, &json!({ "remediation": row })))
}

pub async fn trend(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let team = call.id(0, TeamId::parse)?;
    let points = compliance::trend(call.caller()?, team).await?;
    Ok(ApiResponse::json(200, &json!({ "trend": points })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: ApiError) -> Option<&'static str> {
        assert_eq!(e.status, 422);
        e.field
    }

    #[test]
    fn filters_accept_known_values_only() {
        let f = parse_filter("framework=pci_dss_4&severity=high&outcome=fail&state=open").unwrap();
        assert_eq!(f.framework, Some(Framework::PciDss4));
        assert_eq!(f.severity, Some(Severity::High));
        assert_eq!(f.outcome, Some(CheckOutcome::Fail));
        assert_eq!(f.state, Some(State::Open));
        assert_eq!(parse_filter("").unwrap(), FindingFilter::default());
        assert_eq!(
            parse_filter("control=5.3").unwrap().control.as_deref(),
            Some("5.3")
        );
        for (q, want) in [
            ("framework=sox", "framework"),
            ("severity=urgent", "severity"),
            ("outcome=passed", "outcome"),
            ("state=closed", "state"),
            ("control=Z.99", "control"),
            ("limit=5", "query"),
            ("severity=high&severity=low", "query"),
        ] {
            assert_eq!(field(parse_filter(q).unwrap_err()), Some(want), "{q}");
        }
    }

    fn body(to: &str, justification: Option<&str>, expires: bool) -> TransitionBody {
        TransitionBody {
            to: to.into(),
            justification: justification.map(str::to_string),
            expires_at: expires.then(|| DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
        }
    }

    #[test]
    fn transition_bodies_are_strict() {
        assert_eq!(
            parse_transition(body("acknowledged", None, false)).unwrap(),
            Request::Acknowledge
        );
        assert_eq!(
            parse_transition(body("open", None, false)).unwrap(),
            Request::Reopen
        );
        assert!(matches!(
            parse_transition(body("risk_accepted", Some("why"), true)).unwrap(),
            Request::AcceptRisk { .. }
        ));
        for (b, want) in [
            (body("resolved", None, false), "to"),
            (body("risk_accepted", None, true), "justification"),
            (body("risk_accepted", Some("why"), false), "expires_at"),
            (body("acknowledged", Some("why"), false), "justification"),
            (body("open", None, true), "expires_at"),
        ] {
            assert_eq!(field(parse_transition(b).unwrap_err()), Some(want));
        }
        assert!(serde_json::from_str::<TransitionBody>(r#"{"to":"open","extra":1}"#).is_err());
    }
}
