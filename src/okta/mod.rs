//! Okta management API: org domains, the paginating/pacing client, and its errors.

pub mod client;
pub mod domain;
mod link;
mod pacing;

pub use client::{OktaAuth, OktaClient, OktaError, Page, WriteResponse, RESTORE_USER_AGENT};
pub use domain::{DomainPolicy, OrgDomain};
pub use pacing::Window;
