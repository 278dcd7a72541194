//! The tenant model: what an Okta tenant is made of as Butterfly sees it, shared by everything that
//! reads a backup (compliance today; drift and restore next).
//!
//! [`ResourceType`] names the kinds of object a snapshot holds (the snapshot format's names), and
//! [`TenantSnapshot`] gives typed access to one point-in-time copy of a tenant's objects. The
//! snapshot module writes and reads the sealed objects; this module is only the model.

mod resource;
mod snapshot;

pub use resource::ResourceType;
pub use snapshot::{MissingResource, TenantSnapshot};
