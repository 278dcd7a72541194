//! Okta management API: org domains, the paginating/pacing client, and its errors; service-app
//! (OAuth 2.0) credentials.

pub mod client;
pub mod domain;
mod link;
mod pacing;
pub mod service_app;

pub use client::{OktaAuth, OktaClient, OktaError, Page, WriteResponse, RESTORE_USER_AGENT};
pub use domain::{DomainPolicy, OrgDomain};
pub use pacing::Window;
