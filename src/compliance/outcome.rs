//! What a check returns.

use serde::{Deserialize, Serialize};

use crate::tenant::MissingResource;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    /// The control has nothing to act on in this tenant (e.g. no API tokens exist).
    NotApplicable,
    /// The check could not be evaluated: missing resource or data it cannot interpret.
    Error,
}

/// One offending object, so a finding can be acted on without re-reading the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub object_type: String,
    pub object_id: String,
    /// The offending value, e.g. `minLength 8`.
    pub detail: String,
}

impl Evidence {
    pub fn new(object_type: &str, object_id: &str, detail: impl Into<String>) -> Self {
        Self {
            object_type: object_type.to_owned(),
            object_id: object_id.to_owned(),
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub outcome: Outcome,
    pub evidence: Vec<Evidence>,
    pub message: String,
}

impl CheckResult {
    pub fn pass(message: impl Into<String>) -> Self {
        Self::new(Outcome::Pass, Vec::new(), message)
    }

    pub fn fail(message: impl Into<String>, evidence: Vec<Evidence>) -> Self {
        Self::new(Outcome::Fail, evidence, message)
    }

    pub fn not_applicable(message: impl Into<String>) -> Self {
        Self::new(Outcome::NotApplicable, Vec::new(), message)
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Outcome::Error, Vec::new(), message)
    }

    fn new(outcome: Outcome, evidence: Vec<Evidence>, message: impl Into<String>) -> Self {
        Self {
            outcome,
            evidence,
            message: message.into(),
        }
    }
}

impl From<MissingResource> for CheckResult {
    fn from(missing: MissingResource) -> Self {
        Self::error(missing.to_string())
    }
}
