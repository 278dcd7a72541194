//! Okta's error responses: `errorCode`, `errorSummary`, `errorLink`, `errorId`, `errorCauses`.

use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    code: &'static str,
    summary: String,
    causes: Vec<String>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, summary: impl Into<String>) -> Self {
        Self {
            status,
            code,
            summary: summary.into(),
            causes: Vec::new(),
        }
    }

    /// Any error Okta documents by code and summary.
    pub(crate) fn custom(status: u16, code: &'static str, summary: impl Into<String>) -> Self {
        Self::new(status, code, summary)
    }

    /// An error whose `errorCauses` list each problem.
    pub(crate) fn with_causes(
        status: u16,
        code: &'static str,
        summary: impl Into<String>,
        causes: Vec<String>,
    ) -> Self {
        let mut error = Self::new(status, code, summary);
        error.causes = causes;
        error
    }

    /// 400 for a write whose body is missing or not a JSON object.
    pub(crate) fn malformed_body() -> Self {
        Self::new(400, "E0000003", "The request body was not well-formed.")
    }

    /// 400 for a bad query parameter, naming it as Okta does.
    pub(crate) fn validation(field: &str, cause: impl Into<String>) -> Self {
        let mut error = Self::new(400, "E0000001", format!("Api validation failed: {field}"));
        error.causes.push(cause.into());
        error
    }

    /// 400 for an `after` cursor that cannot be used (unknown, expired or stale): the error
    /// catalogue's "Invalid paging exception" (developer.okta.com/docs/reference/error-codes/).
    pub(crate) fn invalid_paging() -> Self {
        Self::new(400, "E0000029", "Invalid paging request.")
    }

    /// 400 for a policy `type` the org does not have: what Okta answers for a type outside its
    /// list, and for ACCESS_POLICY in an org without Identity Engine (recorded in
    /// github.com/okta/terraform-provider-okta issues 64 and 1202).
    pub(crate) fn invalid_policy_type() -> Self {
        Self::new(
            400,
            "E0000002",
            "The request was not valid: Invalid policy type specified",
        )
    }

    /// 400 for a `filter`/`search` expression the emulator cannot evaluate.
    pub(crate) fn invalid_search() -> Self {
        Self::new(400, "E0000031", "Invalid search criteria.")
    }

    pub(crate) fn invalid_token() -> Self {
        Self::new(401, "E0000011", "Invalid token provided")
    }

    pub(crate) fn access_denied() -> Self {
        Self::new(
            403,
            "E0000006",
            "You do not have permission to perform the requested action",
        )
    }

    /// 404 for an unknown object, e.g. `not_found("User", "00u...")`, or an unknown route.
    pub(crate) fn not_found(kind: &str, id: &str) -> Self {
        Self::new(
            404,
            "E0000007",
            format!("Not found: Resource not found: {id} ({kind})"),
        )
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            405,
            "E0000022",
            "The endpoint does not support the provided HTTP method",
        )
    }

    pub(crate) fn rate_limited() -> Self {
        Self::new(
            429,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        )
    }

    /// The error an injected fault answers with: Okta's own for the statuses it has one for,
    /// its generic server error otherwise.
    pub(crate) fn injected(status: u16) -> Self {
        match status {
            401 => Self::invalid_token(),
            403 => Self::access_denied(),
            404 => Self::not_found("Resource", "injected"),
            429 => Self::rate_limited(),
            400 => Self::validation("request", "Injected fault"),
            _ => {
                let summary = match status {
                    502 => "Bad Gateway",
                    503 => "Service Unavailable",
                    504 => "Gateway Timeout",
                    _ => "Internal Server Error",
                };
                Self::new(status, "E0000009", summary)
            }
        }
    }

    /// The JSON body; `error_id` doubles as the response's `X-Okta-Request-Id`.
    pub(crate) fn body(&self, error_id: &str) -> Value {
        let causes: Vec<Value> = self
            .causes
            .iter()
            .map(|c| json!({ "errorSummary": c }))
            .collect();
        json!({
            "errorCode": self.code,
            "errorSummary": self.summary,
            "errorLink": self.code,
            "errorId": error_id,
            "errorCauses": causes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_okta_shape() {
        let body = ApiError::rate_limited().body("oaeX");
        assert_eq!(
            body,
            json!({
                "errorCode": "E0000047",
                "errorSummary": "API call exceeded rate limit due to too many requests.",
                "errorLink": "E0000047",
                "errorId": "oaeX",
                "errorCauses": [],
            })
        );
        let body = ApiError::validation("limit", "bad").body("x");
        assert_eq!(body["errorCauses"], json!([{ "errorSummary": "bad" }]));
    }

    #[test]
    fn injected_statuses_keep_their_status() {
        for status in [400, 401, 403, 404, 429, 500, 502, 503, 504, 418] {
            assert_eq!(ApiError::injected(status).status, status);
        }
    }
}
