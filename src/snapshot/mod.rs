//! Snapshots: what a backup collects from Okta, how it is laid out in the object store, the
//! manifest that makes it verifiable, and reading a complete one back ([`reader`]).

pub mod collect;
pub mod layout;
pub mod manifest;
pub mod object_stream;
pub mod plan;
pub mod progress;
pub mod reader;
pub mod writer;

/// Snapshot objects are keyed by the tenant model's resource types.
pub use crate::tenant::ResourceType;
pub use layout::SnapshotLayout;
pub use manifest::{Manifest, ObjectEntry, Segment};
pub use object_stream::ObjectStream;
pub use progress::Progress;
pub use reader::{ReadError, SnapshotReader, SnapshotRef};
