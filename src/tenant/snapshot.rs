//! A point-in-time copy of a tenant: one JSON array per resource type a backup collected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ResourceType;

/// The collected objects of a tenant, by resource type.
///
/// A type that is absent means "not collected", which is different from an empty array
/// ("collected, none exist"): readers must report the former as unknown, never as compliant or
/// unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantSnapshot {
    pub resources: BTreeMap<ResourceType, Vec<Value>>,
}

/// A reader needed a resource type the snapshot does not contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("resource `{0}` not in snapshot")]
pub struct MissingResource(pub ResourceType);

impl TenantSnapshot {
    /// The collected objects of one resource type.
    pub fn get(&self, resource: ResourceType) -> Result<&[Value], MissingResource> {
        self.resources
            .get(&resource)
            .map(Vec::as_slice)
            .ok_or(MissingResource(resource))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_is_not_empty_and_keys_serialise_by_their_format_names() {
        let mut snapshot = TenantSnapshot::default();
        snapshot.resources.insert(ResourceType::Users, Vec::new());
        assert_eq!(snapshot.get(ResourceType::Users).unwrap(), &[] as &[Value]);
        assert_eq!(
            snapshot.get(ResourceType::Apps).unwrap_err().to_string(),
            "resource `apps` not in snapshot"
        );
        assert_eq!(
            serde_json::to_value(&snapshot).unwrap(),
            json!({"resources": {"users": []}})
        );
    }
}
