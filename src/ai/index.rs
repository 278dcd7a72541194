//! What in a tenant identifies someone or something, found once per request.
//!
//! Built from the snapshot so the scrubber can recognise the tenant's own values anywhere in
//! free text: object ids (mapped to the object's pseudonym), users' logins and emails (mapped to
//! the user), names of people and of the objects an org names itself (groups, apps, policies,
//! zones, ...), its company name, address and subdomain, and every host name the tenant mentions.
//! Pattern scanning (emails, URLs, IPs, phone numbers, id-shaped words) catches the rest.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::pseudonym::Kind;
use super::tenant::{text, TenantView};
use crate::tenant::ResourceType;

/// How to find an object's id and label, and which of its fields are names.
struct Shape {
    resource: ResourceType,
    kind: Kind,
    id: &'static str,
    label: &'static str,
    /// Fields whose values identify on their own, wherever they appear in free text.
    names: &'static [&'static str],
}

const SHAPES: &[Shape] = &[
    Shape {
        resource: ResourceType::Users,
        kind: Kind::User,
        id: "/id",
        label: "/profile/login",
        names: &[
            "/profile/firstName",
            "/profile/lastName",
            "/profile/middleName",
            "/profile/displayName",
            "/profile/nickName",
        ],
    },
    Shape {
        resource: ResourceType::Groups,
        kind: Kind::Group,
        id: "/id",
        label: "/profile/name",
        names: &["/profile/name"],
    },
    Shape {
        resource: ResourceType::Apps,
        kind: Kind::App,
        id: "/id",
        label: "/label",
        names: &["/label", "/name"],
    },
    Shape {
        resource: ResourceType::Policies,
        kind: Kind::Policy,
        id: "/id",
        label: "/name",
        names: &["/name"],
    },
    Shape {
        resource: ResourceType::PolicyRules,
        kind: Kind::Rule,
        id: "/rule/id",
        label: "/rule/name",
        names: &["/rule/name"],
    },
    Shape {
        resource: ResourceType::GroupRules,
        kind: Kind::GroupRule,
        id: "/id",
        label: "/name",
        names: &["/name"],
    },
    Shape {
        resource: ResourceType::NetworkZones,
        kind: Kind::Zone,
        id: "/id",
        label: "/name",
        names: &["/name"],
    },
    Shape {
        resource: ResourceType::Idps,
        kind: Kind::Idp,
        id: "/id",
        label: "/name",
        names: &["/name"],
    },
    Shape {
        resource: ResourceType::Authenticators,
        kind: Kind::Authenticator,
        id: "/id",
        label: "/name",
        names: &[],
    },
    Shape {
        resource: ResourceType::EventHooks,
        kind: Kind::Hook,
        id: "/id",
        label: "/name",
        names: &["/name"],
    },
    Shape {
        resource: ResourceType::InlineHooks,
        kind: Kind::Hook,
        id: "/id",
        label: "/name",
        names: &["/name"],
    },
    Shape {
        resource: ResourceType::ApiTokens,
        kind: Kind::Token,
        id: "/id",
        label: "/name",
        names: &["/name"],
    },
    Shape {
        resource: ResourceType::UserRoles,
        kind: Kind::Role,
        id: "/role/id",
        label: "/role/label",
        names: &[],
    },
    Shape {
        resource: ResourceType::GroupRoles,
        kind: Kind::Role,
        id: "/role/id",
        label: "/role/label",
        names: &[],
    },
    Shape {
        resource: ResourceType::AuthorizationServers,
        kind: Kind::AuthServer,
        id: "/id",
        label: "/name",
        names: &["/name"],
    },
    Shape {
        resource: ResourceType::AuthorizationServerScopes,
        kind: Kind::Id,
        id: "/item/id",
        label: "/item/name",
        names: &[],
    },
    Shape {
        resource: ResourceType::AuthorizationServerClaims,
        kind: Kind::Id,
        id: "/item/id",
        label: "/item/name",
        names: &["/item/name"],
    },
    Shape {
        resource: ResourceType::AuthorizationServerPolicies,
        kind: Kind::Policy,
        id: "/policy/id",
        label: "/policy/name",
        names: &["/policy/name"],
    },
    Shape {
        resource: ResourceType::AuthorizationServerPolicyRules,
        kind: Kind::Rule,
        id: "/rule/id",
        label: "/rule/name",
        names: &["/rule/name"],
    },
    Shape {
        resource: ResourceType::Org,
        kind: Kind::Org,
        id: "/id",
        label: "/companyName",
        names: &[
            "/companyName",
            "/subdomain",
            "/address1",
            "/address2",
            "/city",
            "/postalCode",
        ],
    },
];

/// User profile fields holding email addresses.
const USER_EMAILS: [&str; 3] = ["/profile/login", "/profile/email", "/profile/secondEmail"];
/// Fields holding phone numbers.
const PHONES: [&str; 4] = [
    "/profile/mobilePhone",
    "/profile/primaryPhone",
    "/phoneNumber",
    "/supportPhoneNumber",
];

/// Built-in names Okta gives every org: vocabulary, not identifiers.
const BUILT_IN_NAMES: [&str; 1] = ["everyone"];
/// Okta's own apps, present in every org under these `name`s.
pub const FIRST_PARTY_APPS: [&str; 3] = ["saasure", "okta_enduser", "okta_browser_plugin"];

/// A known object: its kind and the label shown in its place after re-identification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub kind: Kind,
    pub id: String,
    pub label: String,
}

/// The identifying values of one tenant.
#[derive(Debug, Default)]
pub struct TenantIndex {
    ids: HashMap<String, Known>,
    /// Lower-case email → the user's id.
    emails: HashMap<String, String>,
    /// Normalised name (see [`normalize`]) → what it is and how to show it.
    names: HashMap<String, (Kind, String)>,
    /// Most words in any name, bounding the phrase lengths the scrubber tries.
    longest_name: usize,
    /// Digits of every phone number.
    phones: HashSet<String>,
    /// Lower-case host names the tenant mentions (links, emails, app settings).
    hosts: HashSet<String>,
}

impl TenantIndex {
    pub fn build(tenant: &dyn TenantView) -> Self {
        let mut index = TenantIndex::default();
        for shape in SHAPES {
            for object in tenant.all(shape.resource) {
                index.add_object(shape, object);
            }
        }
        for user in tenant.all(ResourceType::Users) {
            if let Some(id) = text(user, "/id") {
                for field in USER_EMAILS {
                    if let Some(email) = text(user, field).filter(|e| e.contains('@')) {
                        index.emails.insert(email.to_lowercase(), id.to_owned());
                    }
                }
            }
        }
        for resource in ResourceType::ALL {
            for object in tenant.all(resource) {
                index.add_strings(object);
            }
        }
        index
    }

    fn add_object(&mut self, shape: &Shape, object: &Value) {
        let Some(id) = text(object, shape.id) else {
            return;
        };
        let label = text(object, shape.label).unwrap_or(id).to_owned();
        self.ids.entry(id.to_owned()).or_insert(Known {
            kind: shape.kind,
            id: id.to_owned(),
            label,
        });
        // Okta's own apps carry Okta's names, which identify no one.
        let first_party = shape.kind == Kind::App
            && text(object, "/name").is_some_and(|n| FIRST_PARTY_APPS.contains(&n));
        for field in shape.names.iter().filter(|_| !first_party) {
            if let Some(name) = text(object, field) {
                self.add_name(Kind::Name, name);
            }
        }
        for field in PHONES {
            if let Some(phone) = text(object, field) {
                let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
                if digits.len() >= 7 {
                    self.phones.insert(digits);
                }
            }
        }
    }

    fn add_name(&mut self, kind: Kind, name: &str) {
        let key = normalize(name);
        let words = key.split(' ').count();
        if key.chars().count() < 2 || BUILT_IN_NAMES.contains(&key.as_str()) {
            return;
        }
        self.longest_name = self.longest_name.max(words);
        self.names.entry(key).or_insert((kind, name.to_owned()));
    }

    /// Host names in URLs and email addresses anywhere in an object.
    fn add_strings(&mut self, value: &Value) {
        match value {
            Value::String(s) => {
                if let Some(host) = url_host(s) {
                    self.hosts.insert(host);
                } else if let Some((_, domain)) = s.rsplit_once('@') {
                    if domain.contains('.') && !domain.contains(char::is_whitespace) {
                        self.hosts.insert(domain.to_lowercase());
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.add_strings(v)),
            Value::Object(map) => map.values().for_each(|v| self.add_strings(v)),
            _ => {}
        }
    }

    /// The object with this id, if the tenant has one.
    pub fn object(&self, id: &str) -> Option<&Known> {
        self.ids.get(id)
    }

    /// The user whose login or email this is.
    pub fn user_by_email(&self, email: &str) -> Option<&Known> {
        self.emails
            .get(&email.to_lowercase())
            .and_then(|id| self.ids.get(id))
    }

    /// A name of the tenant's, by its normalised form.
    pub fn name(&self, normalized: &str) -> Option<&(Kind, String)> {
        self.names.get(normalized)
    }

    pub fn longest_name(&self) -> usize {
        self.longest_name
    }

    pub fn is_phone(&self, digits: &str) -> bool {
        self.phones.contains(digits)
    }

    pub fn is_host(&self, host: &str) -> bool {
        let host = host.to_lowercase();
        // A subdomain of a known host identifies as much as the host does.
        self.hosts.contains(&host)
            || self
                .hosts
                .iter()
                .any(|known| host.ends_with(&format!(".{known}")))
    }
}

/// Lower case, words of letters and digits joined by single spaces: `"Finance-Admins"` and
/// `"finance admins"` are the same name.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// The lower-case host of an absolute URL (`scheme://host[:port]/...`).
pub fn url_host(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+')
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host_port.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::TenantSnapshot;
    use serde_json::json;

    fn tenant() -> TenantSnapshot {
        let mut s = TenantSnapshot::default();
        let put = |s: &mut TenantSnapshot, r: ResourceType, v: Value| {
            s.resources.insert(r, v.as_array().unwrap().clone());
        };
        put(
            &mut s,
            ResourceType::Users,
            json!([{"id": "00u1", "profile": {"login": "Alice.Smith@acme.test", "firstName": "Alice",
                "lastName": "Smith", "displayName": "Alice Smith", "mobilePhone": "+1 (555) 010-7788"},
                "_links": {"self": {"href": "https://acme.okta.com/api/v1/users/00u1"}}}]),
        );
        put(
            &mut s,
            ResourceType::Groups,
            json!([{"id": "00g1", "type": "BUILT_IN", "profile": {"name": "Everyone"}},
                   {"id": "00g2", "profile": {"name": "Finance-Admins"}}]),
        );
        put(
            &mut s,
            ResourceType::Apps,
            json!([{"id": "0oa1", "name": "saasure", "label": "Okta Admin Console"}]),
        );
        s
    }

    #[test]
    fn finds_ids_emails_names_phones_and_hosts() {
        let index = TenantIndex::build(&tenant());
        let alice = index.object("00u1").unwrap();
        assert_eq!(
            (alice.kind, alice.label.as_str()),
            (Kind::User, "Alice.Smith@acme.test")
        );
        assert_eq!(
            index.user_by_email("alice.smith@ACME.test").unwrap().id,
            "00u1"
        );
        assert_eq!(index.name("finance admins").unwrap().1, "Finance-Admins");
        assert_eq!(index.name("alice smith").unwrap().0, Kind::Name);
        assert!(index.name("smith").is_some());
        assert!(
            index.name("everyone").is_none(),
            "built-in names are vocabulary"
        );
        assert!(
            index.name("saasure").is_none(),
            "first-party app names are vocabulary"
        );
        assert!(
            index.name("okta admin console").is_none(),
            "nor are their labels"
        );
        assert_eq!(index.longest_name(), 2, "finance admins");
        assert!(index.is_phone("15550107788"));
        assert!(index.is_host("acme.okta.com") && index.is_host("ACME.test"));
        assert!(
            index.is_host("login.acme.test"),
            "subdomains of known hosts"
        );
        assert!(!index.is_host("okta.com"));
    }

    #[test]
    fn normalizes_names_and_parses_hosts() {
        assert_eq!(normalize("  Finance—Admins (EU) "), "finance admins eu");
        assert_eq!(
            url_host("https://u:p@Acme.okta.com:443/x?y"),
            Some("acme.okta.com".into())
        );
        assert_eq!(
            url_host("http://[2001:db8::1]:80/"),
            Some("2001:db8::1".into())
        );
        assert_eq!(url_host("no url"), None);
        assert_eq!(url_host("://x"), None);
    }
}
