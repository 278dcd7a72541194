//! Integration tests: the emulator over real HTTP, and its payloads against Okta's OpenAPI spec.

mod api;
mod conformance;
mod faults;
mod schema;
mod support;
mod tenant;
mod throttling;
