//! The edge's error contract: a stable `code`, a human `message`, optionally the offending
//! `field`, and the request id. Internal details are logged, never returned.

use serde_json::json;

use super::http::ApiResponse;
use crate::billing::plans::{PlanError, PlanId};
use crate::services::ServiceError;

#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
    /// For the worker log only.
    pub internal: Option<String>,
    /// Seconds, sent as `Retry-After` (429 only).
    pub retry_after: Option<u32>,
    /// The cheapest plan that would allow what a `plan_limit_reached` refused.
    pub upgrade_to: Option<PlanId>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            internal: None,
            retry_after: None,
            upgrade_to: None,
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::new(401, "unauthorized", "missing or invalid credentials")
    }

    pub fn not_found() -> Self {
        ApiError::new(404, "not_found", "no such resource")
    }

    pub fn invalid_json(detail: &str) -> Self {
        ApiError::new(
            400,
            "invalid_json",
            format!("request body is not valid: {detail}"),
        )
    }

    pub fn into_response(self, request_id: &str) -> ApiResponse {
        let mut error =
            json!({"code": self.code, "message": self.message, "request_id": request_id});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        if let Some(plan) = self.upgrade_to {
            error["upgrade_to"] = json!(plan);
        }
        let response = ApiResponse::json(self.status, &json!({ "error": error }));
        match self.retry_after {
            Some(secs) => response.with_header("retry-after", secs.to_string()),
            None => response,
        }
    }

    /// 429: the caller spent its budget; the limiter's window is one minute.
    pub fn too_many_requests() -> Self {
        ApiError {
            retry_after: Some(60),
            ..ApiError::new(429, "rate_limited", "too many requests; retry later")
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound => ApiError::not_found(),
            ServiceError::Forbidden => {
                ApiError::new(403, "forbidden", "your role does not allow this")
            }
            ServiceError::AddressNotAllowed => ApiError::new(
                403,
                "address_not_allowed",
                "this team does not allow API access from your address",
            ),
            ServiceError::Conflict { code, message } => ApiError::new(409, code, message),
            ServiceError::Invalid { field, message } => ApiError {
                field: Some(field),
                ..ApiError::new(422, "validation_failed", format!("{field} {message}"))
            },
            ServiceError::OktaRejected(message) => ApiError::new(422, "okta_rejected", message),
            ServiceError::OktaUnavailable => ApiError::new(
                502,
                "okta_unavailable",
                "Okta could not be reached; try again later",
            ),
            ServiceError::LinkDenied => ApiError::new(
                403,
                "link_denied",
                "download link is invalid, expired or not yours",
            ),
            ServiceError::SnapshotKeyDestroyed => ApiError::new(
                410,
                "snapshot_key_destroyed",
                "this backup's encryption key was destroyed; it can no longer be read",
            ),
            ServiceError::EmailNotVerified => ApiError::new(
                403,
                "email_not_verified",
                "confirm your email address, then sign in again to accept the invitation",
            ),
            ServiceError::PlanLimit(e) => {
                let mut error = ApiError::new(e.http_status(), PlanError::CODE, e.to_string());
                error.upgrade_to = e.upgrade_to;
                error
            }
            ServiceError::BillingProvider(detail) => ApiError {
                internal: Some(detail),
                ..ApiError::new(
                    502,
                    "billing_unavailable",
                    "the billing provider could not complete the request; try again later",
                )
            },
            ServiceError::Unavailable(message) => {
                ApiError::new(503, "service_unavailable", message)
            }
            ServiceError::NotConfigured { code, message } => ApiError::new(503, code, message),
            ServiceError::Internal(detail) => ApiError {
                internal: Some(detail),
                ..ApiError::new(500, "internal_error", "internal error")
            },
        }
    }
}
