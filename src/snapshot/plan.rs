//! The collection plan: every step of a backup, the lane that runs it and where its requests go.
//!
//! Steps of one lane run in order, since a child step needs its parent's keys; lanes run
//! concurrently, one per Okta rate-limit family, so the slowest bucket (apps, about 100
//! requests a minute) is busy from the first second to the last instead of waiting its turn.
//! Step names are stable: checkpoints refer to them.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::tenant::ResourceType;

/// A sequence of steps sharing one family of Okta rate-limit buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Users,
    Groups,
    Apps,
    Config,
}

impl Lane {
    pub const ALL: [Lane; 4] = [Lane::Users, Lane::Groups, Lane::Apps, Lane::Config];
}

/// Where a step's items come from.
#[derive(Clone, Copy)]
pub enum Source {
    /// Top-level lists, each paged with `Link: rel="next"`, one after the other.
    Lists(&'static [&'static str]),
    /// One paged list per key of an earlier step of the same lane; each item is wrapped with
    /// the key it belongs to.
    Children {
        parent: &'static str,
        path: fn(&[&str]) -> String,
        wrap: Wrap,
    },
    /// A single document.
    Document(&'static str),
    /// The admin-role assignee list (`{"value": [...], "_links": {"next": ...}}`): only its
    /// user ids are kept, to read each assignee's roles.
    Assignees(&'static str),
}

/// How a child step records each item: an object naming the parent's key segments, then the
/// item itself (or only its id). The collector writes it straight from the raw bytes Okta sent
/// ([`Wrap::write`]) instead of parsing every item into a tree and serialising it again, which
/// was most of a backup's CPU; [`Wrap::apply`] is the same shape over parsed values.
#[derive(Clone, Copy, Debug)]
pub struct Wrap {
    /// One field per parent key segment, e.g. `["authServerId", "policyId"]`.
    pub parents: &'static [&'static str],
    /// The field that holds the item (or its id).
    pub field: &'static str,
    /// Keep only the item's `id` (group members: the user objects are in the users object).
    pub id_only: bool,
}

impl Wrap {
    const fn item(parents: &'static [&'static str], field: &'static str) -> Wrap {
        Wrap {
            parents,
            field,
            id_only: false,
        }
    }

    const fn id_only(parents: &'static [&'static str], field: &'static str) -> Wrap {
        Wrap {
            parents,
            field,
            id_only: true,
        }
    }

    /// The wrapped item as a value (`null` for an id-only item without an `id`).
    pub fn apply(&self, key: &[&str], item: Value) -> Value {
        let mut object = Map::new();
        for (field, segment) in self.parents.iter().zip(key) {
            object.insert((*field).into(), Value::String((*segment).into()));
        }
        let inner = match self.id_only {
            true => item.get("id").cloned().unwrap_or(Value::Null),
            false => item,
        };
        object.insert(self.field.into(), inner);
        Value::Object(object)
    }

    /// Appends the wrapped item to `out` as JSON, copying the item's bytes as Okta sent them.
    pub fn write(&self, key: &[&str], item: &RawValue, out: &mut Vec<u8>) {
        out.push(b'{');
        for (field, segment) in self.parents.iter().zip(key) {
            write_json_str(out, field);
            out.push(b':');
            write_json_str(out, segment);
            out.push(b',');
        }
        write_json_str(out, self.field);
        out.push(b':');
        match self.id_only {
            true => {
                out.extend_from_slice(raw_field_id(item).map_or("null", RawValue::get).as_bytes())
            }
            false => out.extend_from_slice(item.get().as_bytes()),
        }
        out.push(b'}');
    }
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing a string into memory cannot fail");
}

/// An item's `id` member as raw JSON, found without building the item's tree (serde skips
/// every other member). `None` if there is none, or the item is not an object with one `id`.
fn raw_field_id(item: &RawValue) -> Option<&RawValue> {
    #[derive(Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
    }
    // A derived struct would also accept an array; only an object has members.
    if !item.get().starts_with('{') {
        return None;
    }
    serde_json::from_str::<Id<'_>>(item.get()).ok()?.id
}

/// [`okta_id`] of a raw item.
pub fn raw_okta_id(item: &RawValue) -> Option<&str> {
    let raw = raw_field_id(item)?.get();
    let id = raw.strip_prefix('"')?.strip_suffix('"')?;
    plain_id(id).then_some(id)
}

fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[derive(Clone, Copy)]
pub struct Step {
    pub name: &'static str,
    pub lane: Lane,
    /// The object the items go into; `None` for a step that only gathers keys.
    pub object: Option<ResourceType>,
    pub source: Source,
    /// Remember every item's key (`id`, or `parent/id` for a child step) for later steps.
    pub keeps_keys: bool,
}

/// Policy types read by a backup: every `PolicyType` of Okta's management spec. Okta requires
/// `type` on `/api/v1/policies`.
pub const POLICY_TYPES: &[&str] = &[
    "OKTA_SIGN_ON",
    "PASSWORD",
    "MFA_ENROLL",
    "IDP_DISCOVERY",
    "ACCESS_POLICY",
    "PROFILE_ENROLLMENT",
    "ENTITY_RISK",
    "POST_AUTH_SESSION",
    "DEVICE_SIGNAL_COLLECTION",
    "SESSION_VIOLATION_DETECTION",
    "CLIENT_UPDATE",
    "IDENTITY_CLAIM_SOURCING",
];

/// Policy types every org has (Classic and Identity Engine alike). The others depend on the
/// org's edition and licence, and Okta answers `400 E0000002` for a type the org cannot list:
/// a backup records such a type as unavailable instead of failing. A refusal of one of these
/// is an error.
pub const CORE_POLICY_TYPES: &[&str] = &["OKTA_SIGN_ON", "PASSWORD", "MFA_ENROLL", "IDP_DISCOVERY"];

/// Whether Okta may refuse the list at `path` because the org's licence lacks it.
pub fn may_be_unlicensed(path: &str) -> bool {
    path.strip_prefix("/api/v1/policies?type=")
        .is_some_and(|t| POLICY_TYPES.contains(&t) && !CORE_POLICY_TYPES.contains(&t))
}

const fn list(
    name: &'static str,
    lane: Lane,
    object: ResourceType,
    paths: &'static [&'static str],
) -> Step {
    Step {
        name,
        lane,
        object: Some(object),
        source: Source::Lists(paths),
        keeps_keys: false,
    }
}

const fn keyed(step: Step) -> Step {
    Step {
        keeps_keys: true,
        ..step
    }
}

const fn children(
    name: &'static str,
    lane: Lane,
    object: ResourceType,
    parent: &'static str,
    path: fn(&[&str]) -> String,
    wrap: Wrap,
) -> Step {
    Step {
        name,
        lane,
        object: Some(object),
        source: Source::Children { parent, path, wrap },
        keeps_keys: false,
    }
}

const fn document(name: &'static str, object: ResourceType, path: &'static str) -> Step {
    Step {
        name,
        lane: Lane::Config,
        object: Some(object),
        source: Source::Document(path),
        keeps_keys: false,
    }
}

/// Every step, in lane order. Deprovisioned users are only listed when asked for by status;
/// admin roles are read for role assignees only (not one request per user of a large org).
pub const PLAN: &[Step] = &[
    list(
        "users",
        Lane::Users,
        ResourceType::Users,
        &[
            "/api/v1/users?limit=200",
            "/api/v1/users?limit=200&filter=status%20eq%20%22DEPROVISIONED%22",
        ],
    ),
    keyed(list(
        "groups",
        Lane::Groups,
        ResourceType::Groups,
        &["/api/v1/groups?limit=10000"],
    )),
    children(
        "group_members",
        Lane::Groups,
        ResourceType::GroupMembers,
        "groups",
        |k| format!("/api/v1/groups/{}/users?limit=1000", k[0]),
        Wrap::id_only(&["groupId"], "userId"),
    ),
    children(
        "group_roles",
        Lane::Groups,
        ResourceType::GroupRoles,
        "groups",
        |k| format!("/api/v1/groups/{}/roles", k[0]),
        Wrap::item(&["groupId"], "role"),
    ),
    keyed(list(
        "apps",
        Lane::Apps,
        ResourceType::Apps,
        &["/api/v1/apps?limit=200"],
    )),
    children(
        "app_user_assignments",
        Lane::Apps,
        ResourceType::AppUserAssignments,
        "apps",
        |k| format!("/api/v1/apps/{}/users?limit=500", k[0]),
        Wrap::item(&["appId"], "user"),
    ),
    children(
        "app_group_assignments",
        Lane::Apps,
        ResourceType::AppGroupAssignments,
        "apps",
        |k| format!("/api/v1/apps/{}/groups?limit=200", k[0]),
        Wrap::item(&["appId"], "group"),
    ),
    keyed(list(
        "policies",
        Lane::Config,
        ResourceType::Policies,
        &[
            "/api/v1/policies?type=OKTA_SIGN_ON",
            "/api/v1/policies?type=PASSWORD",
            "/api/v1/policies?type=MFA_ENROLL",
            "/api/v1/policies?type=IDP_DISCOVERY",
            "/api/v1/policies?type=ACCESS_POLICY",
            "/api/v1/policies?type=PROFILE_ENROLLMENT",
            "/api/v1/policies?type=ENTITY_RISK",
            "/api/v1/policies?type=POST_AUTH_SESSION",
            "/api/v1/policies?type=DEVICE_SIGNAL_COLLECTION",
            "/api/v1/policies?type=SESSION_VIOLATION_DETECTION",
            "/api/v1/policies?type=CLIENT_UPDATE",
            "/api/v1/policies?type=IDENTITY_CLAIM_SOURCING",
        ],
    )),
    children(
        "policy_rules",
        Lane::Config,
        ResourceType::PolicyRules,
        "policies",
        |k| format!("/api/v1/policies/{}/rules", k[0]),
        Wrap::item(&["policyId"], "rule"),
    ),
    list(
        "group_rules",
        Lane::Config,
        ResourceType::GroupRules,
        &["/api/v1/groups/rules?limit=200"],
    ),
    list(
        "authenticators",
        Lane::Config,
        ResourceType::Authenticators,
        &["/api/v1/authenticators"],
    ),
    list(
        "network_zones",
        Lane::Config,
        ResourceType::NetworkZones,
        &["/api/v1/zones"],
    ),
    list(
        "idps",
        Lane::Config,
        ResourceType::Idps,
        &["/api/v1/idps?limit=200"],
    ),
    list(
        "event_hooks",
        Lane::Config,
        ResourceType::EventHooks,
        &["/api/v1/eventHooks"],
    ),
    list(
        "inline_hooks",
        Lane::Config,
        ResourceType::InlineHooks,
        &["/api/v1/inlineHooks"],
    ),
    list(
        "api_tokens",
        Lane::Config,
        ResourceType::ApiTokens,
        &["/api/v1/api-tokens"],
    ),
    Step {
        name: "role_assignees",
        lane: Lane::Config,
        object: None,
        source: Source::Assignees("/api/v1/iam/assignees/users?limit=100"),
        keeps_keys: true,
    },
    children(
        "user_roles",
        Lane::Config,
        ResourceType::UserRoles,
        "role_assignees",
        |k| format!("/api/v1/users/{}/roles", k[0]),
        Wrap::item(&["userId"], "role"),
    ),
    keyed(list(
        "authorization_servers",
        Lane::Config,
        ResourceType::AuthorizationServers,
        &["/api/v1/authorizationServers?limit=200"],
    )),
    children(
        "authorization_server_scopes",
        Lane::Config,
        ResourceType::AuthorizationServerScopes,
        "authorization_servers",
        |k| format!("/api/v1/authorizationServers/{}/scopes", k[0]),
        Wrap::item(&["authServerId"], "item"),
    ),
    children(
        "authorization_server_claims",
        Lane::Config,
        ResourceType::AuthorizationServerClaims,
        "authorization_servers",
        |k| format!("/api/v1/authorizationServers/{}/claims", k[0]),
        Wrap::item(&["authServerId"], "item"),
    ),
    keyed(children(
        "authorization_server_policies",
        Lane::Config,
        ResourceType::AuthorizationServerPolicies,
        "authorization_servers",
        |k| format!("/api/v1/authorizationServers/{}/policies", k[0]),
        Wrap::item(&["authServerId"], "policy"),
    )),
    children(
        "authorization_server_policy_rules",
        Lane::Config,
        ResourceType::AuthorizationServerPolicyRules,
        "authorization_server_policies",
        |k| {
            format!(
                "/api/v1/authorizationServers/{}/policies/{}/rules",
                k[0], k[1]
            )
        },
        Wrap::item(&["authServerId", "policyId"], "rule"),
    ),
    document(
        "threat_insight",
        ResourceType::ThreatInsight,
        "/api/v1/threats/configuration",
    ),
    document("org", ResourceType::Org, "/api/v1/org"),
];

/// The step called `name`.
pub fn step(name: &str) -> Option<&'static Step> {
    PLAN.iter().find(|s| s.name == name)
}

/// Okta ids are short alphanumerics; anything else is not used to build a URL.
pub fn okta_id(item: &Value) -> Option<&str> {
    let id = item.get("id")?.as_str()?;
    plain_id(id).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_resource_is_collected_by_exactly_one_step_after_its_parent() {
        let objects: Vec<ResourceType> = PLAN.iter().filter_map(|s| s.object).collect();
        let mut sorted = objects.clone();
        sorted.sort();
        let mut all = ResourceType::ALL.to_vec();
        all.sort();
        assert_eq!(sorted, all);
        for (i, s) in PLAN.iter().enumerate() {
            assert_eq!(step(s.name).map(|x| x.name), Some(s.name), "unique names");
            if let Source::Children { parent, .. } = s.source {
                let p = PLAN.iter().position(|x| x.name == parent).unwrap();
                assert!(p < i, "{} runs after its parent", s.name);
                assert_eq!(PLAN[p].lane, s.lane, "{} shares its parent's lane", s.name);
                assert!(PLAN[p].keeps_keys, "{parent} keeps keys");
            }
        }
        let Source::Lists(paths) = step("policies").unwrap().source else {
            panic!()
        };
        let wanted: Vec<String> = POLICY_TYPES
            .iter()
            .map(|t| format!("/api/v1/policies?type={t}"))
            .collect();
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        assert_eq!(paths, wanted, "one list per policy type, in order");
    }

    #[test]
    fn every_policy_type_of_the_spec_is_read_and_only_licensed_ones_may_be_missing() {
        // The spec's `PolicyType` enum (tests/fixtures/okta/openapi-subset.json).
        let spec: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/okta/openapi-subset.json"
        ))
        .unwrap();
        let mut listed: Vec<&str> = spec["components"]["schemas"]["PolicyType"]["enum"]
            .as_array()
            .expect("PolicyType in the spec subset")
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let mut ours = POLICY_TYPES.to_vec();
        listed.sort();
        ours.sort();
        assert_eq!(ours, listed);
        for t in CORE_POLICY_TYPES {
            assert!(!may_be_unlicensed(&format!("/api/v1/policies?type={t}")));
        }
        for t in ["ENTITY_RISK", "POST_AUTH_SESSION", "ACCESS_POLICY"] {
            assert!(may_be_unlicensed(&format!("/api/v1/policies?type={t}")));
        }
        assert!(!may_be_unlicensed("/api/v1/policies?type=NOT_A_TYPE"));
        assert!(!may_be_unlicensed("/api/v1/groups/rules?limit=200"));
    }

    /// Every child step's wrapper, written from raw bytes, is the same JSON as its value form,
    /// and keeps the item's bytes as Okta sent them.
    #[test]
    fn raw_wrappers_match_their_values_and_keep_okta_bytes() {
        let items = [
            r#"{"id":"00u1","profile":{"z":1,"a":[1.5,"\u00e9"]},"status":"ACTIVE"}"#,
            r#"{"status":"ACTIVE"}"#,
            r#"{"id":7}"#,
            r#"{"id":"x","id":"y"}"#,
        ];
        for step in PLAN {
            let Source::Children { wrap, .. } = step.source else {
                continue;
            };
            let key = ["aus1", "pol1"];
            for raw in items {
                let raw: Box<RawValue> = serde_json::from_str(raw).unwrap();
                let mut out = Vec::new();
                wrap.write(&key, &raw, &mut out);
                let written: Value = serde_json::from_slice(&out).unwrap();
                let duplicate_id = raw.get().matches("\"id\"").count() > 1;
                let expected = wrap.apply(&key, serde_json::from_str(raw.get()).unwrap());
                if !(wrap.id_only && duplicate_id) {
                    assert_eq!(written, expected, "{} {raw}", step.name);
                }
                if !wrap.id_only {
                    let text = String::from_utf8(out).unwrap();
                    assert!(text.contains(raw.get()), "{} keeps Okta's bytes", step.name);
                }
            }
        }
    }

    #[test]
    fn raw_ids_are_the_plain_ids_of_their_values() {
        for raw in [
            r#"{"id":"00g1ab","x":{"id":"no"}}"#,
            r#"{"x":1,"id":"0oa2"}"#,
            r#"{"id":"../x"}"#,
            r#"{"id":""}"#,
            r#"{"id":5}"#,
            r#"{"id":"\u0030"}"#,
            r#"{}"#,
            r#"[1]"#,
            r#"["00u1"]"#,
        ] {
            let raw: Box<RawValue> = serde_json::from_str(raw).unwrap();
            let value: Value = serde_json::from_str(raw.get()).unwrap();
            let plain = okta_id(&value).filter(|id| raw.get().contains(&format!("\"{id}\"")));
            assert_eq!(raw_okta_id(&raw), plain, "{raw}");
        }
    }

    #[test]
    fn only_plain_okta_ids_become_url_segments() {
        assert_eq!(okta_id(&json!({"id": "00g1ab"})), Some("00g1ab"));
        for bad in [
            json!({"id": "../x"}),
            json!({"id": ""}),
            json!({"id": 5}),
            json!({}),
        ] {
            assert_eq!(okta_id(&bad), None);
        }
    }
}
