//! Drift: the semantic diff of two tenant states (pure core).
//!
//! Two states of an Okta tenant (two backups, a backup and the live tenant, or two orgs) are
//! compared resource by resource and field by field. What "the same resource" and "the same
//! value" mean for each resource type is data, in [`rules`]: identity (Okta id, parents' ids for
//! child resources), the natural key that identifies a resource across orgs, the volatile fields
//! ignored, the arrays compared as sets, the secrets never shown and the fields that reference
//! other resources. The rest is generic:
//!
//! - [`normalise`] turns a snapshot item into its key, natural key and comparable content;
//! - [`matching`] pairs the resources of two states (by id, then by natural key) and yields the
//!   id map a cross-org restore rewrites references with;
//! - [`compare`] produces JSON-Pointer field changes with secrets withheld, and [`apply`] replays
//!   them;
//! - [`diff`] compares two states held in memory; [`stream`] compares two snapshots of any size
//!   in memory proportional to their number of resources, with paged output.
//!
//! See docs/drift.md for the normalisation table (generated from [`rules`]) and the algorithms.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The resource types compared. Imported from here only, so moving the type to the shared
/// tenant model is a one-line change.
pub use crate::tenant::ResourceType;

pub mod apply;
pub mod canonical;
pub mod capture;
pub mod compare;
pub mod diff;
mod heap;
pub mod matching;
pub mod normalise;
pub mod pointer;
pub mod rules;
pub mod stream;

pub use apply::{apply, ApplyError};
pub use compare::{compare, FieldChange, Op, SetDelta, REDACTED};
pub use diff::{
    diff_states, ChangeKind, DiffOptions, Filter, ResourceChange, Summary, TenantDiff, TenantItems,
    TypeSummary,
};
pub use matching::{keyed, match_resources, How, IdMap, Keyed, MatchBy, Matching, Pair};
pub use normalise::{NaturalKeys, Normaliser, ParentKeys};
pub use stream::{
    index_changes, ChangeIndex, ChangeRef, Cursor, ItemSource, ItemStream, ObjectItems,
    ObjectSource, Page, SourceError, Usage,
};

/// A resource's identity within one org: its Okta id, or its parents' ids and its own joined
/// with `/` for child resources (e.g. `groupId/userId`), or a fixed name for singletons.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceId(String);

impl ResourceId {
    pub fn new(id: impl Into<String>) -> ResourceId {
        ResourceId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ids it is made of (one for a top-level resource).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

/// Lets maps keyed by id be searched with a `&str`.
impl std::borrow::Borrow<str> for ResourceId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What identifies a resource across orgs (see [`rules::NaturalPart`]): a JSON array of its
/// parts, parents' natural keys nested, e.g. `[["OKTA_GROUP","Engineering"],"ann@example.com"]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NaturalKey(String);

impl NaturalKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NaturalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a diff could not be computed. Messages name the resource type, the item's position and
/// the rule's path, never tenant data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    #[error("{resource} item {position}: no string id at {path}")]
    MissingKey {
        resource: ResourceType,
        position: u64,
        path: &'static str,
    },
    #[error("{resource} item {position} is not JSON ({what})")]
    BadItem {
        resource: ResourceType,
        position: u64,
        what: String,
    },
    #[error("{resource} changed while it was compared: {what}")]
    Unstable {
        resource: ResourceType,
        what: &'static str,
    },
    #[error("reading {resource}: {source}")]
    Source {
        resource: ResourceType,
        source: SourceError,
    },
}

#[cfg(test)]
pub(crate) mod tests;
