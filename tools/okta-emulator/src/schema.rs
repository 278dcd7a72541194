//! A validator for the OpenAPI 3.0 schemas of Okta's management spec, used at runtime to check
//! write payloads against the spec's request schemas, and by the tests to check every payload
//! the emulator serves against the response schemas.
//!
//! It follows OpenAPI's `type`, `enum`, `format` (`date-time`, `email`), length and range
//! keywords, `items`, `allOf` (properties merged, as the spec's inheritance intends), `oneOf` and
//! `anyOf` (by `discriminator.mapping` when there is one; a base schema with a discriminator but
//! no `oneOf`, e.g. `VerificationMethod`, dispatches to the mapped subtype when used directly),
//! `required` and `nullable` (on a schema or beside a `$ref`). The two uses differ:
//!
//! - [`Mode::Response`] is stricter than JSON Schema where strictness catches emulator drift: an
//!   object schema that lists properties and says nothing about `additionalProperties` is
//!   closed, and `writeOnly` properties (passwords, recovery answers) must never appear;
//! - [`Mode::Request`] accepts what Okta accepts from a client that sends back a payload it
//!   read: properties the schema does not list, and `readOnly` ones (ids, timestamps, links),
//!   which are neither checked nor required.

use std::collections::BTreeMap;

use serde_json::Value;

/// What a payload is checked as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Response,
    Request,
}

/// A spec subset: `{"paths": {...}, "components": {"schemas": {...}}}`.
pub struct Schemas {
    doc: Value,
}

/// Enum values the spec documents in prose (and sends in its own examples) but leaves out of the
/// enum itself. Only these are added; every other enum is taken as the spec states it.
const SPEC_ENUM_GAPS: &[(&str, &[&str])] = &[
    // `IdpPolicyRuleActionProvider.id`: "IdP types of `OKTA`, `AgentlessDSSO`, and `IWA` don't
    // require an ID"; the `policy-rules-idp-discovery` example routes to `{"type": "OKTA"}`.
    ("IdentityProviderType", &["OKTA", "AgentlessDSSO", "IWA"]),
];

/// Properties of the schemas extracted for the emulator.
#[derive(Default)]
struct ObjectView<'s> {
    properties: BTreeMap<&'s str, Vec<&'s Value>>,
    required: Vec<&'s str>,
    additional: Vec<&'s Value>,
    open: bool,
}

impl Schemas {
    /// A subset as `scripts/extract-spec.py` writes it, with the spec's documented enum gaps
    /// filled in.
    pub fn new(mut doc: Value) -> Self {
        for (schema, values) in SPEC_ENUM_GAPS {
            if let Some(list) = doc["components"]["schemas"][schema]["enum"].as_array_mut() {
                list.extend(values.iter().map(|v| Value::from(*v)));
            }
        }
        Self { doc }
    }

    /// The whole subset, for callers that adjust it further.
    pub fn doc_mut(&mut self) -> &mut Value {
        &mut self.doc
    }

    /// The schema a subset keeps under `paths` for `key` (a path template, or `METHOD template`).
    pub fn path(&self, key: &str) -> Option<&Value> {
        let schema = &self.doc["paths"][key];
        (!schema.is_null()).then_some(schema)
    }

    /// The `paths` keys, for matching a request to its template.
    pub fn path_keys(&self) -> impl Iterator<Item = &str> {
        self.doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|paths| paths.keys().map(String::as_str))
    }

    /// `{"$ref": "#/components/schemas/<name>"}`, for validating against a component.
    pub fn component(name: &str) -> Value {
        serde_json::json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// Every violation of `schema` by `value`, as `path: message` lines; empty when valid.
    pub fn violations(&self, value: &Value, schema: &Value, mode: Mode) -> Vec<String> {
        let mut errors = Vec::new();
        Checker { spec: self, mode }.check(value, schema, "$", &mut errors);
        errors
    }
}

struct Checker<'a> {
    spec: &'a Schemas,
    mode: Mode,
}

impl Checker<'_> {
    fn lookup(&self, reference: &str) -> Option<&Value> {
        let name = reference.strip_prefix("#/components/schemas/")?;
        let schema = &self.spec.doc["components"]["schemas"][name];
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
                            let marked = |flag: &str| {
                                s[flag] == true
                                    || self
                                        .resolve(s, &mut Vec::new(), &here)
                                        .is_some_and(|(r, _)| r[flag] == true)
                            };
                            match self.mode {
                                Mode::Response if marked("writeOnly") => {
                                    errors.push(format!("{here}: writeOnly property in a response"))
                                }
                                // The server owns read-only properties and ignores a
                                // client's values for them.
                                Mode::Request if marked("readOnly") => continue,
                                _ => {}
                            }
                            self.check(item, s, &here, errors);
                        }
                    }
                    None if !view.additional.is_empty() => {
                        for s in &view.additional {
                            self.check(item, s, &here, errors);
                        }
                    }
                    None if self.mode == Mode::Response
                        && !view.open
                        && !view.properties.is_empty() =>
                    {
                        errors.push(format!("{here}: property not defined by the schema"));
                    }
                    None => {}
                }
            }
            for required in &view.required {
                let read_only = view.properties.get(required).is_some_and(|schemas| {
                    schemas.iter().any(|s| {
                        s["readOnly"] == true
                            || self
                                .resolve(s, &mut Vec::new(), at)
                                .is_some_and(|(r, _)| r["readOnly"] == true)
                    })
                });
                if self.mode == Mode::Request && read_only {
                    continue;
                }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
