//! The spec subset the conformance tests validate against (`tests/fixtures/okta/
//! openapi-subset.json`), checked with the emulator's validator in its strict response mode:
//! closed objects, no write-only property (see `okta_emulator::schema`).

use std::path::PathBuf;

use okta_emulator::schema::{Mode, Schemas};
use serde_json::Value;

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/okta")
}

pub struct Spec {
    schemas: Schemas,
}

/// Okta's first-party apps are OIDC apps with names of their own (`saasure`, `okta_enduser`),
/// which the spec's `OpenIdConnectApplication` (`name: oidc_client`) does not allow.
const FIRST_PARTY_OIDC_NAMES: [&str; 2] = ["saasure", "okta_enduser"];

impl Spec {
    pub fn load() -> Self {
        let path = fixtures_dir().join("openapi-subset.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
        let mut schemas = Schemas::new(serde_json::from_str(&text).expect("subset is JSON"));
        let doc = schemas.doc_mut();
        // System Log events carry nulls wherever a value is unknown (the spec's own `log-event`
        // example, and Okta's recorded events: `"target": null`, `"asNumber": null`, ...),
        // which the `Log*` schemas do not declare: their properties may be null.
        if let Some(components) = doc["components"]["schemas"].as_object_mut() {
            for (name, schema) in components.iter_mut() {
                if !name.starts_with("Log") {
                    continue;
                }
                for property in schema["properties"].as_object_mut().into_iter().flatten() {
                    property.1["nullable"] = Value::Bool(true);
                }
            }
        }
        for part in doc["components"]["schemas"]["OpenIdConnectApplication"]["allOf"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if let Some(names) = part["properties"]["name"]["enum"].as_array_mut() {
                names.extend(FIRST_PARTY_OIDC_NAMES.iter().map(|n| Value::from(*n)));
            }
        }
        Self { schemas }
    }

    /// The 200 response schema of a GET path template, e.g. `/api/v1/users/{id}`.
    pub fn response(&self, path: &str) -> &Value {
        self.schemas
            .path(path)
            .unwrap_or_else(|| panic!("no schema for {path} in the subset"))
    }

    /// `{"$ref": "#/components/schemas/<name>"}`, for validating against a component.
    pub fn component(name: &str) -> Value {
        Schemas::component(name)
    }

    /// Every violation of `schema` by `value` (as a response); empty when valid.
    pub fn violations(&self, value: &Value, schema: &Value) -> Vec<String> {
        self.schemas.violations(value, schema, Mode::Response)
    }
}
