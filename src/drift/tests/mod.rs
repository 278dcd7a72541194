//! Tests of the drift engine as a whole: real Okta payloads for every resource type, the rule
//! table's consistency with those payloads and with docs/drift.md, properties over random
//! tenants, and the streaming diff against the in-memory one.

mod bench;
mod docs;
mod gen;
pub(crate) mod okta;
mod okta_payloads;
mod properties;
mod rules_table;
mod streaming;
