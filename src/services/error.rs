//! Use-case errors: each variant is something the edge can show a caller as a stable code.
//! `Internal` carries detail for the log only.

use crate::okta::OktaError;
use crate::snapshot::ReadError;
use crate::store::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// The team's IP allow-list does not admit the caller's address.
    #[error("this team does not allow API access from your address")]
    AddressNotAllowed,
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: &'static str,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("Okta rejected the credential: {0}")]
    OktaRejected(String),
    #[error("Okta could not be reached")]
    OktaUnavailable,
    #[error("download link is invalid or expired")]
    LinkDenied,
    /// The data-key version that seals the backup's snapshot key was retired or destroyed:
    /// the backup can never be read again (crypto-shredding).
    #[error("the backup's snapshot key was destroyed")]
    SnapshotKeyDestroyed,
    /// The caller's token does not say their email address is confirmed.
    #[error("email address not confirmed")]
    EmailNotVerified,
    /// The team's plan does not allow one more of something.
    #[error("{0}")]
    PlanLimit(crate::billing::plans::PlanError),
    /// Stripe refused or could not be reached; detail for the log only.
    #[error("billing provider: {0}")]
    BillingProvider(String),
    /// A dependency the request needs (the job queue) is down; nothing was left half done.
    #[error("{0}")]
    Unavailable(&'static str),
    /// This deployment lacks what the feature needs (audit packs without signing keys).
    #[error("{message}")]
    NotConfigured {
        code: &'static str,
        message: &'static str,
    },
    #[error("internal: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// Maps a unique-constraint conflict to a named conflict the caller can act on; every other
/// database error maps as usual.
pub fn conflict_as(
    code: &'static str,
    message: &'static str,
) -> impl FnOnce(DbError) -> ServiceError {
    move |e| match e {
        DbError::Conflict => ServiceError::Conflict { code, message },
        other => other.into(),
    }
}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Forbidden => ServiceError::Forbidden,
            DbError::Conflict => ServiceError::Conflict {
                code: "conflict",
                message: "the request conflicts with the current state",
            },
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl From<OktaError> for ServiceError {
    fn from(e: OktaError) -> Self {
        match e {
            OktaError::Unauthorized { .. } | OktaError::Forbidden { .. } => {
                ServiceError::OktaRejected(e.to_string())
            }
            OktaError::GaveUp { .. } => ServiceError::OktaUnavailable,
            other => ServiceError::OktaRejected(other.to_string()),
        }
    }
}

impl From<ReadError> for ServiceError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotCollected(_) => ServiceError::NotFound,
            other => ServiceError::Internal(other.to_string()),
        }
    }
}
