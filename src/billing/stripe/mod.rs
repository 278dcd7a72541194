//! Stripe: the API client, webhook signatures and the objects Butterfly reads.

pub mod client;
pub mod form;
pub mod objects;
pub mod signature;

/// The Stripe API version every request pins (`Stripe-Version`) and every webhook endpoint must
/// be created with, so request and event payloads have the shapes in `objects` (checked
/// against Stripe's OpenAPI spec of this version, `tests/fixtures/stripe/`).
pub const API_VERSION: &str = "2023-08-16";
