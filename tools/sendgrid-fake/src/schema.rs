//! Validation of `POST /v3/mail/send` bodies: the request schema from SendGrid's OpenAPI spec
//! (`spec/openapi-subset.json`), then the documented rules the schema cannot express.
//! Errors name the field the way SendGrid does (`personalizations.0.to.0.email`).

use serde_json::Value;
use std::sync::OnceLock;

pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        serde_json::from_str(include_str!("../spec/openapi-subset.json")).expect("spec parses")
    })
}

/// Headers SendGrid refuses in `headers` (it sets them itself).
const RESERVED_HEADERS: &[&str] = &[
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
];

type Invalid = (String, String);

pub fn check_mail(mail: &Value) -> Result<(), Invalid> {
    check(&spec()["mail_send"]["request"], mail, "")?;
    let has_template = mail["template_id"].is_string();
    let content = mail["content"].as_array();
    if !has_template {
        let Some(content) = content.filter(|c| !c.is_empty()) else {
            return Err(("Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.".into(), "content".into()));
        };
        let types: Vec<&str> = content.iter().filter_map(|c| c["type"].as_str()).collect();
        if let Some(plain) = types.iter().position(|t| *t == "text/plain") {
            if plain != 0 {
                return Err(("If present, text/plain must be first, followed by text/html, followed by any other content.".into(), "content".into()));
            }
        }
        if let (Some(html), Some(plain)) = (
            types.iter().position(|t| *t == "text/html"),
            types.iter().position(|t| *t == "text/plain"),
        ) {
            if html < plain {
                return Err(("If present, text/plain must be first, followed by text/html, followed by any other content.".into(), "content".into()));
            }
        }
    }
    let personalizations = mail["personalizations"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if personalizations.is_empty() {
        return Err((
            "The personalizations field is required and must have at least one personalization."
                .into(),
            "personalizations".into(),
        ));
    }
    for (i, p) in personalizations.iter().enumerate() {
        if p["to"].as_array().is_none_or(|t| t.is_empty()) {
            return Err(("The to array is required for all personalization objects, and must have at least one email object with a valid email address.".into(), format!("personalizations.{i}.to")));
        }
        if !has_template && !mail["subject"].is_string() && !p["subject"].is_string() {
            return Err(("The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.".into(), "subject".into()));
        }
        if let Some(args) = p["custom_args"].as_object() {
            if args.values().any(|v| !v.is_string()) {
                return Err((
                    "Custom args must be strings.".into(),
                    format!("personalizations.{i}.custom_args"),
                ));
            }
        }
    }
    for (name, value) in mail["headers"].as_object().into_iter().flatten() {
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err((
                format!("The header {name} is reserved and cannot be set."),
                "headers".into(),
            ));
        }
        if !value.is_string() {
            return Err((
                "Invalid type. Expected: string, given: non-string.".into(),
                format!("headers.{name}"),
            ));
        }
    }
    if let Some(categories) = mail["categories"].as_array() {
        let mut seen = std::collections::BTreeSet::new();
        for c in categories {
            let c = c.as_str().unwrap_or_default();
            if c.len() > 255 || !seen.insert(c) {
                return Err((
                    "Categories must be unique and at most 255 characters.".into(),
                    "categories".into(),
                ));
            }
        }
    }
    Ok(())
}

fn check(node: &Value, value: &Value, path: &str) -> Result<(), Invalid> {
    let field = || path.trim_start_matches('.').to_string();
    if value.is_null() {
        return if node["nullable"] == true {
            Ok(())
        } else {
            Err((
                "Invalid type. Expected a value, given: null.".into(),
                field(),
            ))
        };
    }
    match node["type"].as_str() {
        Some("string") => {
            let s = value
                .as_str()
                .ok_or(("Invalid type. Expected: string.".to_string(), field()))?;
            if node["minLength"]
                .as_u64()
                .is_some_and(|m| (s.chars().count() as u64) < m)
            {
                return Err((
                    format!(
                        "The {} must be at least {} characters.",
                        field(),
                        node["minLength"]
                    ),
                    field(),
                ));
            }
            if node["maxLength"]
                .as_u64()
                .is_some_and(|m| (s.chars().count() as u64) > m)
            {
                return Err((
                    format!(
                        "The {} must be at most {} characters.",
                        field(),
                        node["maxLength"]
                    ),
                    field(),
                ));
            }
            if node["format"] == "email" && !plausible_email(s) {
                return Err(("Does not contain a valid address.".into(), field()));
            }
            Ok(())
        }
        Some("integer") if !value.is_i64() && !value.is_u64() => {
            Err(("Invalid type. Expected: integer.".into(), field()))
        }
        Some("boolean") if !value.is_boolean() => {
            Err(("Invalid type. Expected: boolean.".into(), field()))
        }
        Some("array") => {
            let items = value
                .as_array()
                .ok_or(("Invalid type. Expected: array.".to_string(), field()))?;
            if node["maxItems"]
                .as_u64()
                .is_some_and(|m| items.len() as u64 > m)
            {
                return Err((format!("Too many items in {}.", field()), field()));
            }
            for (i, item) in items.iter().enumerate() {
                check(&node["items"], item, &format!("{path}.{i}"))?;
            }
            Ok(())
        }
        Some("object") => {
            let object = value
                .as_object()
                .ok_or(("Invalid type. Expected: object.".to_string(), field()))?;
            for required in node["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    return Err((
                        format!("The {name} parameter is required."),
                        format!("{}.{name}", field())
                            .trim_start_matches('.')
                            .to_string(),
                    ));
                }
            }
            if let Some(properties) = node["properties"].as_object() {
                for (name, field_value) in object {
                    if let Some(schema) = properties.get(name) {
                        check(schema, field_value, &format!("{path}.{name}"))?;
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn plausible_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "personalizations": [{"to": [{"email": "a@example.com"}], "custom_args": {"outbox_id": "o1"}}],
            "from": {"email": "n@butterfly.example", "name": "Butterfly"},
            "subject": "Hi",
            "content": [{"type": "text/plain", "value": "x"}, {"type": "text/html", "value": "<p>x</p>"}],
            "headers": {"List-Unsubscribe": "<https://b.example/u>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            "categories": ["alerts"],
        })
    }

    #[test]
    fn accepts_a_well_formed_message_and_names_the_bad_field() {
        assert_eq!(check_mail(&good()), Ok(()));
        let field = |mutate: &dyn Fn(&mut Value)| {
            let mut m = good();
            mutate(&mut m);
            check_mail(&m).unwrap_err().1
        };
        assert_eq!(
            field(&|m| {
                m.as_object_mut().unwrap().remove("from");
            }),
            "from"
        );
        assert_eq!(
            field(&|m| m["personalizations"][0]["to"][0]["email"] = json!("nope")),
            "personalizations.0.to.0.email"
        );
        assert_eq!(
            field(
                &|m| m["content"] = json!([{"type": "text/html", "value": "h"}, {"type": "text/plain", "value": "t"}])
            ),
            "content"
        );
        assert_eq!(
            field(&|m| m["content"][0]["value"] = json!("")),
            "content.0.value"
        );
        assert_eq!(field(&|m| m["headers"]["Subject"] = json!("x")), "headers");
        assert_eq!(
            field(&|m| {
                m.as_object_mut().unwrap().remove("subject");
            }),
            "subject"
        );
        assert_eq!(
            field(&|m| m["personalizations"] = json!([])),
            "personalizations"
        );
        assert_eq!(
            field(&|m| m["categories"] = json!(["a", "a"])),
            "categories"
        );
        assert_eq!(
            field(&|m| m["personalizations"][0]["custom_args"] = json!({"n": 1})),
            "personalizations.0.custom_args"
        );
    }
}
