//! Snapshots: what a backup collects from Okta, how it is laid out in the object store, and the
//! manifest that makes it verifiable.

pub mod collect;
pub mod layout;
pub mod manifest;
pub mod resource;

pub use layout::SnapshotLayout;
pub use manifest::{Manifest, ObjectEntry};
pub use resource::ResourceType;
