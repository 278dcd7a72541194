//! What can go wrong, and the exit status each failure gives, so scripts can branch on the
//! kind of failure without parsing messages.

use serde_json::{json, Value};

/// The documented exit statuses (`butterfly --help`, README "The CLI").
pub const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  other failure (network, local file, unexpected reply)
  2  usage error (bad arguments; a restore apply declined, or without --yes and no terminal)
  3  not signed in, or the API refused the credential or the permission (401, 403)
  4  not found (404, 410)
  5  the API refused the request or the job failed (409, 422, 429, 5xx; a failed backup or restore)
  6  verification failed (an audit pack that does not verify)";

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("not signed in: run `butterfly login` or set BUTTERFLY_API_KEY")]
    NotSignedIn,
    /// An error answer of the API: its status and stable `code`.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// A backup or restore that ran and did not succeed.
    #[error("{0}")]
    JobFailed(String),
    #[error("{0}")]
    Verification(String),
    /// The API could not be reached, or answered something that is not its API.
    #[error("{0}")]
    Network(String),
    #[error("{0}")]
    Local(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::NotSignedIn => 3,
            CliError::Api { status, .. } => match status {
                401 | 403 => 3,
                404 | 410 => 4,
                _ => 5,
            },
            CliError::JobFailed(_) => 5,
            CliError::Verification(_) => 6,
            CliError::Network(_) | CliError::Local(_) => 1,
        }
    }

    /// The stable code: the API's own, or the CLI's for failures the API did not answer.
    pub fn code(&self) -> &str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::NotSignedIn => "not_signed_in",
            CliError::Api { code, .. } => code,
            CliError::JobFailed(_) => "job_failed",
            CliError::Verification(_) => "verification_failed",
            CliError::Network(_) => "network",
            CliError::Local(_) => "local",
        }
    }

    /// The error as `--json` prints it (on stderr).
    pub fn to_json(&self) -> Value {
        let mut error = json!({"code": self.code(), "message": self.to_string(), "exit_code": self.exit_code()});
        if let CliError::Api {
            status, request_id, ..
        } = self
        {
            error["status"] = json!(status);
            error["request_id"] = json!(request_id);
        }
        json!({ "error": error })
    }

    /// The error as a person reads it (on stderr).
    pub fn human(&self) -> String {
        match self {
            CliError::Api {
                status,
                code,
                message,
                request_id,
            } => {
                let id = request_id
                    .as_deref()
                    .map(|r| format!(", request {r}"))
                    .unwrap_or_default();
                format!("error: {message} ({code}, HTTP {status}{id})")
            }
            other => format!("error: {other}"),
        }
    }
}

pub fn local(context: impl std::fmt::Display, e: impl std::fmt::Display) -> CliError {
    CliError::Local(format!("{context}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> CliError {
        CliError::Api {
            status,
            code: "x".into(),
            message: "m".into(),
            request_id: Some("req_1".into()),
        }
    }

    #[test]
    fn each_kind_of_failure_has_its_documented_exit_code() {
        assert_eq!(CliError::Usage("u".into()).exit_code(), 2);
        assert_eq!(CliError::NotSignedIn.exit_code(), 3);
        assert_eq!(api(401).exit_code(), 3);
        assert_eq!(api(403).exit_code(), 3);
        assert_eq!(api(404).exit_code(), 4);
        assert_eq!(api(410).exit_code(), 4);
        for status in [400, 409, 422, 429, 500, 503] {
            assert_eq!(api(status).exit_code(), 5, "{status}");
        }
        assert_eq!(CliError::JobFailed("f".into()).exit_code(), 5);
        assert_eq!(CliError::Verification("v".into()).exit_code(), 6);
        assert_eq!(CliError::Network("n".into()).exit_code(), 1);
        assert_eq!(CliError::Local("l".into()).exit_code(), 1);
        // The help text documents every one of them.
        for code in 0..=6 {
            assert!(EXIT_CODES.contains(&format!("\n  {code}  ")), "{code}");
        }
    }

    #[test]
    fn api_errors_keep_the_apis_code_and_request_id() {
        let e = CliError::Api {
            status: 409,
            code: "backup_in_progress".into(),
            message: "a backup is running".into(),
            request_id: Some("req_abc".into()),
        };
        assert_eq!(
            e.human(),
            "error: a backup is running (backup_in_progress, HTTP 409, request req_abc)"
        );
        let j = e.to_json();
        assert_eq!(j["error"]["code"], "backup_in_progress");
        assert_eq!(j["error"]["status"], 409);
        assert_eq!(j["error"]["request_id"], "req_abc");
        assert_eq!(j["error"]["exit_code"], 5);
        assert_eq!(
            CliError::NotSignedIn.to_json()["error"]["code"],
            "not_signed_in"
        );
    }
}
