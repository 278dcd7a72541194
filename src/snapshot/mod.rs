//! Snapshots: what a backup collects from Okta, how it is laid out in the object store, and the
//! manifest that makes it verifiable.

pub mod collect;
pub mod layout;
pub mod manifest;
pub mod object_stream;
pub mod plan;
pub mod progress;
pub mod resource;
mod writer;

pub use layout::SnapshotLayout;
pub use manifest::{Manifest, ObjectEntry, Segment};
pub use object_stream::ObjectStream;
pub use progress::Progress;
pub use resource::ResourceType;
