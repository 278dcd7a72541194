//! Field-by-field comparison of two normalised contents of one resource, as JSON-Pointer
//! (RFC 6901) changes with secrets withheld.
//!
//! Objects are compared member by member; arrays the rules call sets are one change at the
//! array's path with the members added and removed; other arrays of equal length element by
//! element, and of different length as one replacement (positional changes of a shifted list
//! would be noise). A change at a secret path says only that the secret changed, was set or was
//! removed; a value shown whole (an added subtree, a replaced array) has every secret inside
//! replaced by [`REDACTED`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::canonical::canonical_bytes;
use super::normalise::{Here, Normaliser};
use super::pointer::{push_index, push_token, States};

/// Replaces secret values in shown content.
pub const REDACTED: &str = "[redacted]";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Added,
    Removed,
    Modified,
}

/// Members of a set-like array that changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetDelta {
    pub added: Vec<Value>,
    pub removed: Vec<Value>,
}

/// One changed field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// RFC 6901 pointer into the resource's normalised content.
    pub path: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// For arrays compared as sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<SetDelta>,
    /// A secret was withheld: the path is secret (then neither value is given), or values
    /// shown have secrets replaced by [`REDACTED`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// The changes that turn `before` into `after` (both normalised by `n`), in path order.
pub fn compare(n: &Normaliser, before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let root = n.root();
    let here = n.here(&root);
    let mut path = String::new();
    walk(n, &root, here, &mut path, before, after, &mut out);
    out
}

fn walk(
    n: &Normaliser,
    states: &States,
    here: Here,
    path: &mut String,
    before: &Value,
    after: &Value,
    out: &mut Vec<FieldChange>,
) {
    if here.secret {
        if before != after {
            out.push(secret_change(path, Op::Modified));
        }
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                let below = n.step(states, k);
                let child = n.here(&below);
                let len = path.len();
                push_token(path, k);
                match (b.get(k.as_str()), a.get(k.as_str())) {
                    (Some(bv), Some(av)) => walk(n, &below, child, path, bv, av, out),
                    (Some(bv), None) => out.push(whole(n, &below, child, path, Some(bv), None)),
                    (None, Some(av)) => out.push(whole(n, &below, child, path, None, Some(av))),
                    (None, None) => unreachable!("a key of either side"),
                }
                path.truncate(len);
            }
        }
        (Value::Array(b), Value::Array(a)) if here.set => {
            if b != a {
                let mut change = whole(n, states, here, path, Some(before), Some(after));
                change.members = Some(members(n, states, b, a, &mut change.secret));
                out.push(change);
            }
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                let below = n.step(states, &i.to_string());
                let child = n.here(&below);
                let len = path.len();
                push_index(path, i);
                walk(n, &below, child, path, bv, av, out);
                path.truncate(len);
            }
        }
        _ => {
            if before != after {
                out.push(whole(n, states, here, path, Some(before), Some(after)));
            }
        }
    }
}

fn secret_change(path: &str, op: Op) -> FieldChange {
    FieldChange {
        path: path.to_string(),
        op,
        before: None,
        after: None,
        members: None,
        secret: true,
    }
}

/// A change shown with whole (redacted) values.
fn whole(
    n: &Normaliser,
    states: &States,
    here: Here,
    path: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> FieldChange {
    let op = match (before, after) {
        (None, _) => Op::Added,
        (_, None) => Op::Removed,
        _ => Op::Modified,
    };
    if here.secret {
        return secret_change(path, op);
    }
    let mut secret = false;
    let mut show = |v: Option<&Value>| {
        v.map(|v| {
            let mut v = v.clone();
            secret |= redact_at(n, states, &mut v);
            v
        })
    };
    let (before, after) = (show(before), show(after));
    FieldChange {
        path: path.to_string(),
        op,
        before,
        after,
        members: None,
        secret,
    }
}

/// The multiset difference of two set-like arrays, members redacted.
fn members(
    n: &Normaliser,
    states: &States,
    before: &[Value],
    after: &[Value],
    secret: &mut bool,
) -> SetDelta {
    let mut b: Vec<(Vec<u8>, &Value)> = before.iter().map(|v| (canonical_bytes(v), v)).collect();
    let mut a: Vec<(Vec<u8>, &Value)> = after.iter().map(|v| (canonical_bytes(v), v)).collect();
    b.sort_by(|x, y| x.0.cmp(&y.0));
    a.sort_by(|x, y| x.0.cmp(&y.0));
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < b.len() || j < a.len() {
        let order = match (b.get(i), a.get(j)) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Equal => (i, j) = (i + 1, j + 1),
            std::cmp::Ordering::Less => {
                removed.push(b[i].1);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                added.push(a[j].1);
                j += 1;
            }
        }
    }
    // A member's own path has no stable index in a set: redact it as any member.
    let member = n.step(states, "0");
    let mut show = |v: &Value| {
        let mut v = v.clone();
        *secret |= redact_at(n, &member, &mut v);
        v
    };
    SetDelta {
        added: added.into_iter().map(&mut show).collect(),
        removed: removed.into_iter().map(&mut show).collect(),
    }
}

/// Replaces every secret inside `value` (which sits at `states`) with [`REDACTED`]; whether
/// anything was replaced.
pub(crate) fn redact_at(n: &Normaliser, states: &States, value: &mut Value) -> bool {
    if n.here(states).secret {
        *value = Value::String(REDACTED.to_string());
        return true;
    }
    let mut any = false;
    match value {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                any |= redact_at(n, &n.step(states, k), child);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                any |= redact_at(n, &n.step(states, &i.to_string()), child);
            }
        }
        _ => {}
    }
    any
}

/// Replaces every secret in a whole normalised content of `n`'s type with [`REDACTED`] (for
/// showing an added or removed resource); whether anything was replaced.
pub fn redact(n: &Normaliser, content: &mut Value) -> bool {
    redact_at(n, &n.root(), content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::ResourceType;
    use serde_json::json;

    fn diff(t: ResourceType, before: Value, after: Value) -> Vec<FieldChange> {
        let n = Normaliser::of(t);
        compare(n, &n.content(before, None), &n.content(after, None))
    }

    #[test]
    fn objects_compare_member_by_member_with_rfc6901_paths() {
        let changes = diff(
            ResourceType::Users,
            json!({"id": "u", "status": "ACTIVE", "profile": {"a/b": 1, "gone": true}}),
            json!({"id": "u", "status": "SUSPENDED", "profile": {"a/b": 2, "new": "x"}}),
        );
        let summary: Vec<(&str, Op, Option<&Value>, Option<&Value>)> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.op, c.before.as_ref(), c.after.as_ref()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "/profile/a~1b",
                    Op::Modified,
                    Some(&json!(1)),
                    Some(&json!(2))
                ),
                ("/profile/gone", Op::Removed, Some(&json!(true)), None),
                ("/profile/new", Op::Added, None, Some(&json!("x"))),
                (
                    "/status",
                    Op::Modified,
                    Some(&json!("ACTIVE")),
                    Some(&json!("SUSPENDED"))
                ),
            ]
        );
    }

    #[test]
    fn sets_report_members_and_ordered_arrays_positions() {
        let changes = diff(
            ResourceType::Policies,
            json!({"id": "p", "conditions": {"people": {"groups": {"include": ["g1", "g2", "g2"]}}}}),
            json!({"id": "p", "conditions": {"people": {"groups": {"include": ["g3", "g2"]}}}}),
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "/conditions/people/groups/include");
        assert_eq!(
            changes[0].members,
            Some(SetDelta {
                added: vec![json!("g3")],
                removed: vec![json!("g1"), json!("g2")],
            }),
            "a multiset: one of two g2 went"
        );
        let reordered = diff(
            ResourceType::Policies,
            json!({"id": "p", "conditions": {"people": {"groups": {"include": ["g1", "g2"]}}}}),
            json!({"id": "p", "conditions": {"people": {"groups": {"include": ["g2", "g1"]}}}}),
        );
        assert!(reordered.is_empty());
        let positional = diff(
            ResourceType::Apps,
            json!({"id": "a", "settings": {"signOn": {"spCertificate": {"x5c": ["leaf", "ca"]}}}}),
            json!({"id": "a", "settings": {"signOn": {"spCertificate": {"x5c": ["ca", "leaf"]}}}}),
        );
        let paths: Vec<&str> = positional.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/settings/signOn/spCertificate/x5c/0",
                "/settings/signOn/spCertificate/x5c/1"
            ]
        );
    }

    #[test]
    fn secrets_are_never_shown() {
        let before = json!({"id": "0oa1", "credentials": {"oauthClient": {"client_id": "c", "client_secret": "s1"}}});
        let after = json!({"id": "0oa1", "credentials": {"oauthClient": {"client_id": "c", "client_secret": "s2"}}});
        let changes = diff(ResourceType::Apps, before, after);
        assert_eq!(
            changes,
            [FieldChange {
                path: "/credentials/oauthClient/client_secret".into(),
                op: Op::Modified,
                before: None,
                after: None,
                members: None,
                secret: true,
            }]
        );
        let added = diff(
            ResourceType::Apps,
            json!({"id": "0oa1"}),
            json!({"id": "0oa1", "credentials": {"oauthClient": {"client_id": "c", "client_secret": "s2"}}}),
        );
        assert_eq!(added.len(), 1);
        assert!(added[0].secret);
        assert_eq!(
            added[0].after,
            Some(json!({"oauthClient": {"client_id": "c", "client_secret": REDACTED}}))
        );
        let text = serde_json::to_string(&added).unwrap();
        assert!(!text.contains("s2"), "{text}");
    }

    #[test]
    fn secrets_inside_set_members_are_redacted() {
        let hook = |v: &str| json!({"id": "who", "channel": {"config": {"headers": [{"key": "X-Api-Key", "value": v}]}}});
        let changes = diff(ResourceType::EventHooks, hook("k1"), hook("k2"));
        assert_eq!(changes.len(), 1);
        let text = serde_json::to_string(&changes).unwrap();
        assert!(!text.contains("k1") && !text.contains("k2"), "{text}");
        assert!(changes[0].secret);
        let members = changes[0].members.as_ref().unwrap();
        assert_eq!(
            members.added,
            [json!({"key": "X-Api-Key", "value": REDACTED})]
        );
    }
}
