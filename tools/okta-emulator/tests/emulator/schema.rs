//! A small validator for the OpenAPI 3.0 schemas in `tests/fixtures/okta/openapi-subset.json`.
//!
//! It is stricter than JSON Schema where strictness catches emulator drift: an object schema that
//! lists properties and says nothing about `additionalProperties` is treated as closed (properties
//! are merged across `allOf`, as inheritance in the spec intends), and `writeOnly` properties —
//! passwords, recovery answers — must never appear in a response (`readOnly` ones belong in
//! responses, so they need no check). `nullable` is honoured, on a schema or beside a `$ref`. `oneOf`/`anyOf` with a
//! `discriminator.mapping` pick their branch by the discriminator; a base schema with a
//! discriminator but no `oneOf` (e.g. `VerificationMethod`) dispatches to the mapped subtype when
//! used directly, and is plain when reached through that subtype's own `allOf`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/okta")
}

pub struct Spec {
    doc: Value,
}

/// Enum values the spec documents in prose (and sends in its own examples) but leaves out of the
/// enum itself. Only these are added; every other enum is taken as the spec states it.
const SPEC_ENUM_GAPS: &[(&str, &[&str])] = &[
    // `IdpPolicyRuleActionProvider.id`: "IdP types of `OKTA`, `AgentlessDSSO`, and `IWA` don't
    // require an ID"; the `policy-rules-idp-discovery` example routes to `{"type": "OKTA"}`.
    ("IdentityProviderType", &["OKTA", "AgentlessDSSO", "IWA"]),
];

/// Properties, required names and openness of an object schema, merged across `allOf`.
#[derive(Default)]
struct ObjectView<'s> {
    properties: BTreeMap<&'s str, Vec<&'s Value>>,
    required: Vec<&'s str>,
    additional: Vec<&'s Value>,
    open: bool,
}

impl Spec {
    pub fn load() -> Self {
        let path = fixtures_dir().join("openapi-subset.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
        let mut doc: Value = serde_json::from_str(&text).expect("subset is JSON");
        // System Log events carry nulls wherever a value is unknown (the spec's own `log-event`
        // example, and Okta's recorded events: `"target": null`, `"asNumber": null`, ...),
        // which the `Log*` schemas do not declare: their properties may be null.
        if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
            for (name, schema) in schemas.iter_mut() {
                if !name.starts_with("Log") {
                    continue;
                }
                for property in schema["properties"].as_object_mut().into_iter().flatten() {
                    property.1["nullable"] = Value::Bool(true);
                }
            }
        }
        for (schema, values) in SPEC_ENUM_GAPS {
            let list = doc["components"]["schemas"][schema]["enum"]
                .as_array_mut()
                .unwrap_or_else(|| panic!("{schema} has an enum"));
            list.extend(values.iter().map(|v| Value::from(*v)));
        }
        Self { doc }
    }

    /// The 200 response schema of a GET path template, e.g. `/api/v1/users/{id}`.
    pub fn response(&self, path: &str) -> &Value {
        let schema = &self.doc["paths"][path];
        assert!(!schema.is_null(), "no schema for {path} in the subset");
        schema
    }

    /// `{"$ref": "#/components/schemas/<name>"}`, for validating against a component.
    pub fn component(name: &str) -> Value {
        serde_json::json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// Every violation of `schema` by `value`, as `path: message` lines; empty when valid.
    pub fn violations(&self, value: &Value, schema: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(value, schema, "$", &mut errors);
        errors
    }

    fn lookup(&self, reference: &str) -> Option<&Value> {
        let name = reference.strip_prefix("#/components/schemas/")?;
        let schema = &self.doc["components"]["schemas"][name];
        (!schema.is_null()).then_some(schema)
    }

    /// Follows `$ref`s to a concrete schema, remembering the last component name.
    fn resolve<'s>(
        &'s self,
        mut schema: &'s Value,
        errors: &mut Vec<String>,
        at: &str,
    ) -> Option<(&'s Value, Option<&'s str>)> {
        let mut name = None;
        while let Some(reference) = schema["$ref"].as_str() {
            match self.lookup(reference) {
                Some(target) => {
                    name = Some(reference);
                    schema = target;
                }
                None => {
                    errors.push(format!("{at}: {reference} is not in the spec subset"));
                    return None;
                }
            }
        }
        Some((schema, name))
    }

    fn accepts_null(&self, schema: &Value) -> bool {
        if schema["nullable"] == true {
            return true;
        }
        if let Some(target) = schema["$ref"].as_str().and_then(|r| self.lookup(r)) {
            return self.accepts_null(target);
        }
        if schema.get("type").is_some() {
            return false;
        }
        if let Some(values) = schema["enum"].as_array() {
            return values.contains(&Value::Null);
        }
        if let Some(parts) = schema["allOf"].as_array() {
            return parts.iter().all(|s| self.accepts_null(s));
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(parts) = schema[key].as_array() {
                return parts.iter().any(|s| self.accepts_null(s));
            }
        }
        true
    }

    /// Full validation of a value against a schema it is used as directly (a property, an item, a
    /// branch or the root) — as opposed to a base reached through `allOf`, which `check_node` and
    /// `collect` handle without discriminator dispatch.
    fn check(&self, value: &Value, schema: &Value, at: &str, errors: &mut Vec<String>) {
        if value.is_null() {
            if !self.accepts_null(schema) {
                errors.push(format!("{at}: null is not allowed"));
            }
            return;
        }
        let Some((schema, name)) = self.resolve(schema, errors, at) else {
            return;
        };

        let polymorphic = schema.get("oneOf").is_some() || schema.get("anyOf").is_some();
        if !polymorphic {
            if let Some(target) = self.discriminated(value, schema) {
                if Some(target) != name {
                    let subtype = serde_json::json!({ "$ref": target });
                    return self.check(value, &subtype, at, errors);
                }
            }
        }

        let before = errors.len();
        self.check_node(value, schema, at, errors);
        if errors.len() > before {
            return;
        }
        if let Some(object) = value.as_object() {
            let mut view = ObjectView::default();
            self.collect(schema, &mut view, errors, at);
            for (key, item) in object {
                let here = format!("{at}.{key}");
                match view.properties.get(key.as_str()) {
                    Some(schemas) => {
                        for s in schemas {
                            if self
                                .resolve(s, errors, &here)
                                .is_some_and(|(r, _)| r["writeOnly"] == true)
                                || s["writeOnly"] == true
                            {
                                errors.push(format!("{here}: writeOnly property in a response"));
                            }
                            self.check(item, s, &here, errors);
                        }
                    }
                    None if !view.additional.is_empty() => {
                        for s in &view.additional {
                            self.check(item, s, &here, errors);
                        }
                    }
                    None if !view.open && !view.properties.is_empty() => {
                        errors.push(format!("{here}: property not defined by the schema"));
                    }
                    None => {}
                }
            }
            for required in &view.required {
                if !object.contains_key(*required) {
                    errors.push(format!("{at}: missing required property {required}"));
                }
            }
        }
    }

    /// The mapped subtype for `value`'s discriminator, if the schema has one and it matches.
    fn discriminated<'s>(&'s self, value: &Value, schema: &'s Value) -> Option<&'s str> {
        let discriminator = schema.get("discriminator")?;
        let property = discriminator["propertyName"].as_str()?;
        discriminator["mapping"][value[property].as_str()?].as_str()
    }

    /// Keyword checks of one schema and its `allOf` parts, everything but object properties.
    fn check_node(&self, value: &Value, schema: &Value, at: &str, errors: &mut Vec<String>) {
        let Some((schema, _)) = self.resolve(schema, errors, at) else {
            return;
        };
        if let Some(kind) = schema["type"].as_str() {
            let ok = match kind {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                _ => true,
            };
            if !ok {
                errors.push(format!("{at}: expected {kind}, got {value}"));
                return;
            }
        }
        if let Some(values) = schema["enum"].as_array() {
            if !values.contains(value) {
                errors.push(format!(
                    "{at}: {value} is not one of {}",
                    Value::Array(values.clone())
                ));
            }
        }
        if let Some(text) = value.as_str() {
            match schema["format"].as_str() {
                Some("date-time") if !is_date_time(text) => {
                    errors.push(format!("{at}: {text:?} is not an RFC 3339 date-time"));
                }
                Some("email") if !text.contains('@') => {
                    errors.push(format!("{at}: {text:?} is not an email"))
                }
                _ => {}
            }
            let length = text.chars().count() as u64;
            if schema["minLength"].as_u64().is_some_and(|min| length < min)
                || schema["maxLength"].as_u64().is_some_and(|max| length > max)
            {
                errors.push(format!("{at}: length {length} out of bounds"));
            }
        }
        if let Some(number) = value.as_f64() {
            if schema["minimum"].as_f64().is_some_and(|min| number < min)
                || schema["maximum"].as_f64().is_some_and(|max| number > max)
            {
                errors.push(format!("{at}: {number} out of bounds"));
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.check(item, items, &format!("{at}[{i}]"), errors);
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = schema[key].as_array() {
                self.check_branches(value, schema, key, branches, at, errors);
            }
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.check_node(value, part, at, errors);
        }
    }

    fn check_branches(
        &self,
        value: &Value,
        schema: &Value,
        key: &str,
        branches: &[Value],
        at: &str,
        errors: &mut Vec<String>,
    ) {
        if let Some(discriminator) = schema.get("discriminator") {
            let property = discriminator["propertyName"].as_str().unwrap_or_default();
            let tag = value[property].as_str().unwrap_or_default();
            match discriminator["mapping"][tag].as_str() {
                Some(target) => {
                    let subtype = serde_json::json!({ "$ref": target });
                    self.check(value, &subtype, at, errors);
                }
                None => errors.push(format!(
                    "{at}: {property} {tag:?} is not in the discriminator mapping"
                )),
            }
            return;
        }
        let outcomes: Vec<Vec<String>> = branches
            .iter()
            .map(|b| self.violations_at(value, b, at))
            .collect();
        let passing = outcomes.iter().filter(|o| o.is_empty()).count();
        let ok = if key == "oneOf" {
            passing == 1
        } else {
            passing >= 1
        };
        if !ok {
            errors.push(format!(
                "{at}: {passing} {key} branches match; first branch says {:?}",
                outcomes.first()
            ));
        }
    }

    fn violations_at(&self, value: &Value, schema: &Value, at: &str) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(value, schema, at, &mut errors);
        errors
    }

    /// Merges the object keywords of a schema and its `allOf` parts.
    fn collect<'s>(
        &'s self,
        schema: &'s Value,
        view: &mut ObjectView<'s>,
        errors: &mut Vec<String>,
        at: &str,
    ) {
        let Some((schema, _)) = self.resolve(schema, errors, at) else {
            return;
        };
        if let Some(properties) = schema["properties"].as_object() {
            for (name, s) in properties {
                view.properties.entry(name.as_str()).or_default().push(s);
            }
        }
        view.required.extend(
            schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
        match &schema["additionalProperties"] {
            Value::Bool(true) => view.open = true,
            additional @ Value::Object(_) => view.additional.push(additional),
            _ => {}
        }
        // Extensible profiles take custom attributes; polymorphic parts judge their own properties.
        if schema["x-okta-extensible"] == true
            || schema.get("oneOf").is_some()
            || schema.get("anyOf").is_some()
        {
            view.open = true;
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.collect(part, view, errors, at);
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
fn is_date_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(99);
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    if !(1..=12).contains(&number(5..7))
        || !(1..=31).contains(&number(8..10))
        || number(11..13) > 23
        || number(14..16) > 59
        || number(17..19) > 60
    {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return false;
        }
        rest = &fraction[len..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

#[test]
fn date_times() {
    for ok in [
        "2024-01-01T00:00:00.000Z",
        "2024-07-21T14:15:22Z",
        "2013-06-24T16:39:18+02:00",
    ] {
        assert!(is_date_time(ok), "{ok}");
    }
    for bad in [
        "createdDate",
        "2024-01-01",
        "2024-13-01T00:00:00Z",
        "2024-01-01T00:00:00",
        "2024-01-01T00:00:00.Z",
        "2024-01-01 00:00:00Z",
    ] {
        assert!(!is_date_time(bad), "{bad}");
    }
}
