//! Declared fields: what of an Okta object a prompt may send, and in what form.
//!
//! A [`View`] lists the fields of one resource type a prompt sends, each with its
//! [`Treatment`]. [`project`] builds the outgoing object from the view alone, so a field that is
//! not declared cannot leave, and a declared one leaves only in its declared form: ids as
//! pseudonyms, timestamps as ages, free text scrubbed and bounded. `docs/ai.md` lists every
//! view; a test checks the list against these declarations.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::pseudonym::Kind;
use super::redact::Redactor;
use crate::tenant::ResourceType;

/// Longest enum-like value sent as is.
const MAX_ENUM_LEN: usize = 64;

/// How a declared field is sent.
#[derive(Clone, Copy, Debug)]
pub enum Treatment {
    /// An Okta enumeration or code (`ACTIVE`, `SAML_2_0`, `okta_verify`, `PT2H`): sent as is
    /// when it is short, has no spaces and survives scrubbing unchanged; otherwise withheld.
    Enum,
    /// An array of [`Treatment::Enum`] values.
    Enums,
    Number,
    Bool,
    /// A timestamp, sent as whole days before the request (negative: in the future).
    AgeDays,
    /// An object id, sent as the object's pseudonym.
    Ref(Kind),
    /// An array of object ids, sent as pseudonyms.
    Refs(Kind),
    /// A link (`{"href": ".../<id>"}` target) to an object, sent as the object's pseudonym.
    RefFromHref(Kind),
    /// An identifying value (an email, a name), sent as a pseudonym of this kind.
    Pseudonym(Kind),
    /// Free text: one line, scrubbed, at most this many characters, inside a JSON string.
    Quoted(usize),
    /// Sent only when it is one of these values (Okta's own, e.g. first-party app names).
    OneOf(&'static [&'static str]),
    /// The number of elements of an array.
    Count,
    /// An array of objects, each sent as these fields.
    Each(&'static [Field]),
}

impl Treatment {
    /// How `docs/ai.md` describes the treatment.
    pub fn describe(&self) -> String {
        match self {
            Treatment::Enum => "Okta enum/code".into(),
            Treatment::Enums => "list of Okta enums/codes".into(),
            Treatment::Number => "number".into(),
            Treatment::Bool => "boolean".into(),
            Treatment::AgeDays => "age in days".into(),
            Treatment::Ref(kind) | Treatment::RefFromHref(kind) => {
                format!("pseudonym ({}-N)", kind.prefix())
            }
            Treatment::Refs(kind) => format!("list of pseudonyms ({}-N)", kind.prefix()),
            Treatment::Pseudonym(Kind::Email) => {
                "pseudonym (the user's user-N if it is a user's, else email-N)".into()
            }
            Treatment::Pseudonym(kind) => format!("pseudonym ({}-N)", kind.prefix()),
            Treatment::Quoted(max) => format!("quoted text, scrubbed, ≤ {max} chars"),
            Treatment::OneOf(values) => format!("only if one of: {}", values.join(", ")),
            Treatment::Count => "count".into(),
            Treatment::Each(fields) => {
                let keys: Vec<&str> = fields.iter().map(|f| f.key).collect();
                format!("list of {{{}}}", keys.join(", "))
            }
        }
    }
}

/// One declared field: the key it is sent under and the JSON pointer it is read from.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub key: &'static str,
    pub path: &'static str,
    pub treatment: Treatment,
}

pub const fn field(key: &'static str, path: &'static str, treatment: Treatment) -> Field {
    Field {
        key,
        path,
        treatment,
    }
}

/// The declared fields of one resource type, and where its objects keep their id.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub resource: ResourceType,
    pub kind: Kind,
    pub id: &'static str,
    pub fields: &'static [Field],
}

impl View {
    /// The object of this view's resource with id `id`.
    pub fn find<'t>(&self, objects: &'t [Value], id: &str) -> Option<&'t Value> {
        objects
            .iter()
            .find(|o| o.pointer(self.id).and_then(Value::as_str) == Some(id))
    }
}

/// The declared fields of `object`, in their declared forms; absent fields are left out.
pub fn project(
    fields: &[Field],
    object: &Value,
    redactor: &mut Redactor,
    now: DateTime<Utc>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for f in fields {
        let Some(raw) = object.pointer(f.path).filter(|v| !v.is_null()) else {
            continue;
        };
        if let Some(value) = treat(f.treatment, raw, redactor, now) {
            out.insert(f.key.to_owned(), value);
        }
    }
    out
}

/// One value in the form `t` declares; `None` when it cannot be sent in that form.
pub fn treat(t: Treatment, raw: &Value, r: &mut Redactor, now: DateTime<Utc>) -> Option<Value> {
    match t {
        Treatment::Enum => raw.as_str().and_then(|s| enum_value(s, r)).map(Value::from),
        Treatment::Enums => Some(Value::Array(
            raw.as_array()?
                .iter()
                .filter_map(|v| v.as_str().and_then(|s| enum_value(s, r)))
                .map(Value::from)
                .collect(),
        )),
        Treatment::Number => raw.is_number().then(|| raw.clone()),
        Treatment::Bool => raw.as_bool().map(Value::from),
        Treatment::AgeDays => {
            let at = DateTime::parse_from_rfc3339(raw.as_str()?).ok()?;
            Some(Value::from((now - at.with_timezone(&Utc)).num_days()))
        }
        Treatment::Ref(kind) => raw.as_str().map(|id| Value::from(r.object(kind, id))),
        Treatment::Refs(kind) => Some(Value::Array(
            raw.as_array()?
                .iter()
                .filter_map(Value::as_str)
                .map(|id| Value::from(r.object(kind, id)))
                .collect(),
        )),
        Treatment::RefFromHref(kind) => {
            let href = raw.get("href").and_then(Value::as_str)?;
            let id = href.trim_end_matches('/').rsplit('/').next()?;
            Some(Value::from(r.object(kind, id)))
        }
        Treatment::Pseudonym(kind) => raw.as_str().map(|s| Value::from(r.value(kind, s))),
        Treatment::Quoted(max) => raw.as_str().map(|s| Value::from(r.free_text(s, max))),
        Treatment::OneOf(values) => raw.as_str().filter(|s| values.contains(s)).map(Value::from),
        Treatment::Count => raw.as_array().map(|a| Value::from(a.len())),
        Treatment::Each(fields) => Some(Value::Array(
            raw.as_array()?
                .iter()
                .map(|item| Value::Object(project(fields, item, r, now)))
                .collect(),
        )),
    }
}

/// An enum-like value, or `None` when it does not look like one or holds anything the
/// scrubber would change (an id, a domain, a name of the tenant's).
fn enum_value(s: &str, r: &mut Redactor) -> Option<String> {
    let shaped = !s.is_empty()
        && s.len() <= MAX_ENUM_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-/".contains(c));
    (shaped && r.free_text(s, MAX_ENUM_LEN) == s).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::index::TenantIndex;
    use crate::tenant::TenantSnapshot;
    use serde_json::json;

    const FIELDS: &[Field] = &[
        field("status", "/status", Treatment::Enum),
        field("mode", "/mode", Treatment::Enum),
        field("age", "/lastLogin", Treatment::AgeDays),
        field("owner", "/userId", Treatment::Ref(Kind::User)),
        field("groups", "/groups", Treatment::Refs(Kind::Group)),
        field(
            "policy",
            "/_links/accessPolicy",
            Treatment::RefFromHref(Kind::Policy),
        ),
        field("note_text", "/note", Treatment::Quoted(12)),
        field("app_name", "/name", Treatment::OneOf(&["saasure"])),
        field("zones", "/gateways", Treatment::Count),
        field("min", "/minLength", Treatment::Number),
        field(
            "constraints",
            "/constraints",
            Treatment::Each(&[field("pr", "/phishingResistant", Treatment::Enum)]),
        ),
    ];

    #[test]
    fn sends_declared_fields_only_in_declared_form() {
        let mut s = TenantSnapshot::default();
        s.resources.insert(
            ResourceType::Users,
            vec![json!({"id": "00u1", "profile": {"login": "a@acme.test"}})],
        );
        let index = TenantIndex::build(&s);
        let mut r = Redactor::new(&index);
        let now = DateTime::parse_from_rfc3339("2024-03-11T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let object = json!({
            "status": "ACTIVE", "mode": "not an enum", "lastLogin": "2024-03-01T12:00:00.000Z",
            "userId": "00u1", "groups": ["00g1", "00g2"], "secret": "s3cr3t",
            "_links": {"accessPolicy": {"href": "https://acme.okta.com/api/v1/policies/rst1"}},
            "note": "ask a@acme.test about it", "name": "acme_portal_1", "gateways": [{}, {}],
            "minLength": 8, "constraints": [{"phishingResistant": "REQUIRED", "x": 1}],
        });
        let out = Value::Object(project(FIELDS, &object, &mut r, now));
        assert_eq!(
            out,
            json!({"status": "ACTIVE", "age": 9, "owner": "user-1",
                   "groups": ["group-1", "group-2"], "policy": "policy-1",
                   "note_text": "ask user-1 a…", "zones": 2, "min": 8,
                   "constraints": [{"pr": "REQUIRED"}]})
        );
        let p = r.into_pseudonyms();
        assert_eq!(p.original("user-1"), Some("a@acme.test (00u1)"));
        assert_eq!(p.original("policy-1"), Some("rst1"));
    }

    #[test]
    fn enum_values_that_identify_are_withheld() {
        let mut s = TenantSnapshot::default();
        s.resources.insert(
            ResourceType::Org,
            vec![json!({"id": "00o1", "subdomain": "acme"})],
        );
        let index = TenantIndex::build(&s);
        let mut r = Redactor::new(&index);
        assert_eq!(
            enum_value("OKTA_SIGN_ON", &mut r).as_deref(),
            Some("OKTA_SIGN_ON")
        );
        assert_eq!(
            enum_value("urn:okta:expression:1.0", &mut r).as_deref(),
            Some("urn:okta:expression:1.0")
        );
        assert_eq!(enum_value("acme", &mut r), None);
        assert_eq!(enum_value("00u1abcdEFGH2345ijk6", &mut r), None);
        assert_eq!(enum_value("corp.acme.com", &mut r), None);
    }
}
