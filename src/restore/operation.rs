//! One step of a restore plan: what it does to which object, and why it is skipped if it is.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::drift::{FieldChange, NaturalKey, ResourceId};
use crate::tenant::ResourceType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Skip,
    Delete,
}

/// Why an object the source and target disagree on is left alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Only in the target, and deletes were not asked for.
    OnlyInTarget,
    /// One of Okta's default objects that the target lacks (it is never created) or has
    /// and the source does not (it is never deleted).
    SystemObject,
    /// Several objects share its natural key on one side: which one it is cannot be told, so
    /// nothing is guessed.
    AmbiguousNaturalKey,
    /// Okta cannot be given it (API tokens are issued, never written).
    NotRestorable,
    /// Held through a group: restored with the group's role.
    Inherited,
    /// Mastered by an app or by Okta (app groups and their memberships, `Everyone`'s members).
    Managed,
}

/// One step of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Position in the plan, from 1.
    pub seq: u32,
    pub action: Action,
    pub resource: ResourceType,
    /// The object's key in the source (absent for deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<ResourceId>,
    /// The object's key in the target (absent for creates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<ResourceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub natural_key: Option<NaturalKey>,
    /// One of Okta's default objects.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub system: bool,
    /// What an update changes (target now → source), secrets withheld.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// A create's normalised content (references in the target's ids where the target has
    /// them), or a delete's, secrets redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<SkipReason>,
}

impl Operation {
    /// The key the operation acts on: the source's for a create, else the target's.
    pub fn subject_id(&self) -> Option<&str> {
        match self.action {
            Action::Create => self.source_id.as_ref(),
            _ => self.target_id.as_ref().or(self.source_id.as_ref()),
        }
        .map(ResourceId::as_str)
    }
}
