//! What a restore covers: the whole tenant, some resource types, or listed resources.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::drift::ResourceId;
use crate::tenant::ResourceType;

/// Most resources one restore may list; a larger selection is a type or tenant restore.
pub const MAX_LISTED: usize = 1000;

/// One resource of the source, by its type and its id in the source.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRef {
    pub resource: ResourceType,
    pub id: String,
}

/// The part of the source a restore brings back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scope {
    /// Every resource type the source holds.
    Tenant,
    /// Only these types.
    Types { resources: BTreeSet<ResourceType> },
    /// Only these resources, and the child resources whose key names them (a group's
    /// memberships, app assignments and roles), as the drift filter selects by id.
    Resources { items: BTreeSet<ResourceRef> },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope lists no resource types")]
    NoTypes,
    #[error("scope lists no resources")]
    NoResources,
    #[error("scope lists more than {MAX_LISTED} resources")]
    TooMany,
    #[error("scope names an empty id")]
    EmptyId,
}

impl Scope {
    /// Checks a scope as a caller sent it.
    pub fn validate(&self) -> Result<(), ScopeError> {
        match self {
            Scope::Tenant => Ok(()),
            Scope::Types { resources } if resources.is_empty() => Err(ScopeError::NoTypes),
            Scope::Types { .. } => Ok(()),
            Scope::Resources { items } if items.is_empty() => Err(ScopeError::NoResources),
            Scope::Resources { items } if items.len() > MAX_LISTED => Err(ScopeError::TooMany),
            Scope::Resources { items } if items.iter().any(|i| i.id.is_empty()) => {
                Err(ScopeError::EmptyId)
            }
            Scope::Resources { .. } => Ok(()),
        }
    }

    /// Whether the whole tenant is restored (which, into production, needs a second approver).
    pub fn is_tenant(&self) -> bool {
        matches!(self, Scope::Tenant)
    }

    /// Whether resources of this type can be in scope at all.
    pub fn admits_type(&self, resource: ResourceType) -> bool {
        match self {
            Scope::Tenant => true,
            Scope::Types { resources } => resources.contains(&resource),
            // A listed resource also selects children of other types that name it.
            Scope::Resources { .. } => true,
        }
    }

    /// Whether the resource with this key in the source is in scope.
    pub fn admits(&self, resource: ResourceType, source_key: &ResourceId) -> bool {
        match self {
            Scope::Tenant => true,
            Scope::Types { resources } => resources.contains(&resource),
            Scope::Resources { items } => items.iter().any(|i| {
                (i.resource == resource && i.id == source_key.as_str())
                    || (i.resource != resource && source_key.components().any(|c| c == i.id))
            }),
        }
    }

    /// Whether resources that exist only in the target can be in scope: only whole types are,
    /// since a listed resource names something in the source.
    pub fn admits_target_only(&self, resource: ResourceType) -> bool {
        match self {
            Scope::Resources { .. } => false,
            _ => self.admits_type(resource),
        }
    }
}
