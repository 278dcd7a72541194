//! Integration tests: the emulator over real HTTP, and its payloads against Okta's OpenAPI spec.

mod api;
mod changes;
mod conformance;
mod faults;
mod schema;
mod support;
mod syslog;
mod tenant;
mod throttling;
mod writes;
