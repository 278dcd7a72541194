//! The one place `ai` reads a tenant: the objects of a resource type, as the backup wrote them.
//!
//! Kept to a single trait method so that the planned typed tenant model (`src/tenant`) replaces
//! [`TenantSnapshot`] with a one-impl edit here, and nothing else in `ai` changes.

use serde_json::Value;

use crate::tenant::ResourceType;
use crate::tenant::TenantSnapshot;

/// Read access to one snapshot of a tenant.
pub trait TenantView {
    /// The collected objects of `resource`; `None` when the backup did not collect it.
    fn objects(&self, resource: ResourceType) -> Option<&[Value]>;

    /// Like [`TenantView::objects`], with "not collected" read as "none".
    fn all(&self, resource: ResourceType) -> &[Value] {
        self.objects(resource).unwrap_or_default()
    }
}

impl TenantView for TenantSnapshot {
    fn objects(&self, resource: ResourceType) -> Option<&[Value]> {
        self.resources.get(&resource).map(Vec::as_slice)
    }
}

/// A string field of a JSON object.
pub(crate) fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Not explicitly switched off (Okta's `INACTIVE`/`DELETED`); a missing status counts as in
/// force so it cannot hide an object that grants something.
pub(crate) fn in_force(v: &Value) -> bool {
    !matches!(text(v, "/status"), Some("INACTIVE" | "DELETED"))
}
