//! The committed subset of Stripe's OpenAPI spec (`spec/openapi-subset.json`, made by
//! `scripts/extract-spec.py`): the fake checks every request's form parameters against it the
//! way Stripe does, and tests check every object the fake renders against its schemas.

use serde_json::Value;
use std::sync::OnceLock;

pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        serde_json::from_str(include_str!("../spec/openapi-subset.json"))
            .expect("spec subset parses")
    })
}

/// The API version the spec (and so every rendered object) is of.
pub fn api_version() -> &'static str {
    spec()["api_version"].as_str().expect("api_version")
}

/// A stripe-mock example object, the starting point of everything the fake renders.
pub fn fixture(name: &str) -> Value {
    spec()["fixtures"][name].clone()
}

/// A request Stripe would refuse, with the fields of Stripe's error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub code: &'static str,
    pub message: String,
    pub param: String,
}

/// Checks flattened form keys (`line_items[0][price]`) against the operation's parameters.
pub fn check_params(operation: &str, pairs: &[(String, String)]) -> Result<(), ParamError> {
    let op = &spec()["operations"][operation];
    let params = op["params"].as_object().expect("operation in spec subset");
    for (key, value) in pairs {
        let mut segments = key.split('[').map(|s| s.trim_end_matches(']'));
        let top = segments.next().unwrap_or_default();
        let unknown = || ParamError {
            code: "parameter_unknown",
            message: format!("Received unknown parameter: {key}"),
            param: key.clone(),
        };
        let Some(param) = params.get(top) else {
            return Err(unknown());
        };
        let rest: Vec<&str> = segments.collect();
        let kind = param["type"].as_str().unwrap_or("");
        match (kind, rest.as_slice()) {
            ("array", [index, field, ..]) => {
                let listed = param["item_properties"].as_array();
                if index.parse::<u32>().is_err()
                    || listed.is_some_and(|l| !l.iter().any(|f| f == field))
                {
                    return Err(unknown());
                }
            }
            ("object", [field, ..]) => {
                if let Some(listed) = param["properties"].as_array() {
                    if !listed.iter().any(|f| f == field) {
                        return Err(unknown());
                    }
                }
            }
            (_, []) => {
                if let Some(allowed) = param["enum"].as_array() {
                    if !allowed.iter().any(|a| a == value.as_str()) {
                        let list: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
                        return Err(ParamError {
                            code: "parameter_invalid_string",
                            message: format!("Invalid {top}: must be one of {}", list.join(", ")),
                            param: top.to_string(),
                        });
                    }
                }
                if kind == "integer" && value.parse::<i64>().is_err() {
                    return Err(ParamError {
                        code: "parameter_invalid_integer",
                        message: format!("Invalid integer: {value}"),
                        param: key.clone(),
                    });
                }
                if kind == "boolean" && value != "true" && value != "false" {
                    return Err(ParamError {
                        code: "parameter_invalid_boolean",
                        message: format!("Invalid boolean: {value}"),
                        param: key.clone(),
                    });
                }
            }
            // A nested key on a scalar (`mode[x]=`), or an object given as a scalar.
            _ if param.get("anyOf").is_some() => {}
            _ => return Err(unknown()),
        }
    }
    for required in op["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap_or_default();
        let present = pairs
            .iter()
            .any(|(k, _)| k == name || k.starts_with(&format!("{name}[")));
        if !present {
            return Err(ParamError {
                code: "parameter_missing",
                message: format!("Missing required param: {name}."),
                param: name.to_string(),
            });
        }
    }
    Ok(())
}

/// Validates `value` against the named component schema: required properties, types,
/// nullability, enums, arrays and nested objects, recursively. Returns the first violation
/// with its JSON path.
pub fn validate(schema: &str, value: &Value) -> Result<(), String> {
    let node = &spec()["schemas"][schema];
    if node.is_null() {
        return Err(format!("{schema}: not in the spec subset"));
    }
    check(node, value, schema)
}

fn check(node: &Value, value: &Value, path: &str) -> Result<(), String> {
    if let Some(reference) = node["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return check(&spec()["schemas"][name], value, path);
    }
    if value.is_null() {
        return if node["nullable"] == true {
            Ok(())
        } else {
            Err(format!("{path}: null but not nullable"))
        };
    }
    if let Some(alternatives) = node["anyOf"].as_array() {
        return if alternatives
            .iter()
            .any(|alt| check(alt, value, path).is_ok())
        {
            Ok(())
        } else {
            Err(format!("{path}: matches no alternative"))
        };
    }
    if let Some(allowed) = node["enum"].as_array() {
        if !allowed.contains(value) {
            return Err(format!("{path}: {value} not in {allowed:?}"));
        }
    }
    match node["type"].as_str() {
        Some("string") if !value.is_string() => Err(format!("{path}: not a string")),
        Some("integer") if !value.is_i64() && !value.is_u64() => {
            Err(format!("{path}: not an integer"))
        }
        Some("number") if !value.is_number() => Err(format!("{path}: not a number")),
        Some("boolean") if !value.is_boolean() => Err(format!("{path}: not a boolean")),
        Some("array") => {
            let items = value.as_array().ok_or(format!("{path}: not an array"))?;
            for (i, item) in items.iter().enumerate() {
                check(&node["items"], item, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Some("object") | None if node.get("properties").is_some() => {
            let object = value.as_object().ok_or(format!("{path}: not an object"))?;
            for required in node["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    return Err(format!("{path}.{name}: required but missing"));
                }
            }
            let properties = node["properties"].as_object().expect("properties");
            for (name, field) in object {
                match properties.get(name) {
                    Some(schema) => check(schema, field, &format!("{path}.{name}"))?,
                    None => return Err(format!("{path}.{name}: not in the schema")),
                }
            }
            Ok(())
        }
        Some("object") => {
            let object = value.as_object().ok_or(format!("{path}: not an object"))?;
            if let Some(extra) = node.get("additionalProperties").filter(|e| e.is_object()) {
                for (name, field) in object {
                    check(extra, field, &format!("{path}.{name}"))?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn params_are_checked_like_stripe_does() {
        let op = "POST /v1/checkout/sessions";
        let good = pairs(&[
            ("mode", "subscription"),
            ("success_url", "https://x.example"),
            ("line_items[0][price]", "price_1"),
            ("line_items[0][quantity]", "1"),
            ("metadata[team_id]", "t"),
            ("subscription_data[trial_period_days]", "14"),
            ("subscription_data[metadata][team_id]", "t"),
        ]);
        assert_eq!(check_params(op, &good), Ok(()));
        let err = check_params(op, &pairs(&[("success_url", "u"), ("bogus", "1")])).unwrap_err();
        assert_eq!(
            (err.code, err.param.as_str()),
            ("parameter_unknown", "bogus")
        );
        let err = check_params(
            op,
            &pairs(&[("success_url", "u"), ("subscription_data[nope]", "1")]),
        )
        .unwrap_err();
        assert_eq!(err.code, "parameter_unknown");
        let err = check_params(op, &pairs(&[("mode", "subscription")])).unwrap_err();
        assert_eq!(err.message, "Missing required param: success_url.");
        let err =
            check_params(op, &pairs(&[("success_url", "u"), ("mode", "rental")])).unwrap_err();
        assert_eq!(err.code, "parameter_invalid_string");
    }

    #[test]
    fn fixtures_match_their_schemas() {
        for name in [
            "customer",
            "deleted_customer",
            "checkout.session",
            "billing_portal.session",
            "subscription",
            "invoice",
        ] {
            validate(name, &fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
        }
        let mut bad = fixture("subscription");
        bad["status"] = "sleeping".into();
        assert!(validate("subscription", &bad)
            .unwrap_err()
            .contains("status"));
        bad = fixture("subscription");
        bad.as_object_mut().unwrap().remove("items");
        assert!(validate("subscription", &bad)
            .unwrap_err()
            .contains("items: required"));
    }
}
