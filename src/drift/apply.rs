//! Replaying field changes onto a normalised content: what the other side looks like, given one
//! side and the diff. Secret values are not in a diff, so a secret set or changed by it becomes
//! [`REDACTED`]; replaying `compare(a, b)` onto `a` therefore gives `b` with its secrets
//! redacted (see [`super::compare::redact`]).

use serde_json::{Map, Value};

use super::compare::{FieldChange, Op, REDACTED};
use super::pointer::tokens;

/// Why a change does not fit the content it is applied to (the diff was made from another).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot apply the change at {path:?}: {what}")]
pub struct ApplyError {
    pub path: String,
    pub what: &'static str,
}

/// Applies `changes` to `content` in order.
pub fn apply(content: &mut Value, changes: &[FieldChange]) -> Result<(), ApplyError> {
    for change in changes {
        let err = |what| ApplyError {
            path: change.path.clone(),
            what,
        };
        let toks = tokens(&change.path).map_err(|_| err("not a JSON pointer"))?;
        let value = match (change.op, &change.after) {
            (Op::Removed, _) => None,
            (_, Some(v)) => Some(v.clone()),
            (_, None) if change.secret => Some(Value::String(REDACTED.to_string())),
            (_, None) => return Err(err("no value to set")),
        };
        let Some((last, parents)) = toks.split_last() else {
            match value {
                Some(v) => *content = v,
                None => return Err(err("cannot remove the whole content")),
            }
            continue;
        };
        let mut here = &mut *content;
        for t in parents {
            here = match here {
                Value::Object(map) => map
                    .entry(t.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                Value::Array(items) => {
                    let i = index(t, items.len()).ok_or_else(|| err("no such array index"))?;
                    &mut items[i]
                }
                _ => return Err(err("a parent is not an object or array")),
            };
        }
        match (here, value) {
            (Value::Object(map), Some(v)) => {
                map.insert(last.clone(), v);
            }
            (Value::Object(map), None) => {
                map.remove(last).ok_or_else(|| err("nothing to remove"))?;
            }
            (Value::Array(items), Some(v)) => {
                let i = index(last, items.len() + 1).ok_or_else(|| err("no such array index"))?;
                if i == items.len() {
                    items.push(v);
                } else {
                    items[i] = v;
                }
            }
            (Value::Array(items), None) => {
                let i = index(last, items.len()).ok_or_else(|| err("no such array index"))?;
                items.remove(i);
            }
            _ => return Err(err("the parent is not an object or array")),
        }
    }
    Ok(())
}

fn index(token: &str, len: usize) -> Option<usize> {
    let valid =
        token == "0" || (!token.starts_with('0') && token.bytes().all(|b| b.is_ascii_digit()));
    token.parse().ok().filter(|&i| valid && i < len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::compare::{compare, redact};
    use crate::drift::normalise::Normaliser;
    use crate::drift::ResourceType;
    use serde_json::json;

    #[test]
    fn replaying_a_diff_gives_the_other_side_with_secrets_redacted() {
        let n = Normaliser::of(ResourceType::Apps);
        let a = n.content(
            json!({"id": "x", "label": "A", "settings": {"signOn": {"spCertificate": {"x5c": ["1", "2"]}}},
                   "credentials": {"oauthClient": {"client_secret": "s1", "client_id": "c"}}}),
            None,
        );
        let b = n.content(
            json!({"id": "x", "label": "B", "settings": {"signOn": {"spCertificate": {"x5c": ["2", "1", "3"]}}},
                   "credentials": {"oauthClient": {"client_secret": "s2"}}, "visibility": {"hide": {"web": true}}}),
            None,
        );
        let changes = compare(n, &a, &b);
        let mut replayed = a.clone();
        redact(n, &mut replayed);
        apply(&mut replayed, &changes).unwrap();
        let mut expected = b.clone();
        redact(n, &mut expected);
        assert_eq!(replayed, expected);
    }

    #[test]
    fn a_change_that_does_not_fit_is_an_error() {
        let change = |path: &str, op| FieldChange {
            path: path.into(),
            op,
            before: None,
            after: Some(json!(1)),
            members: None,
            secret: false,
        };
        let mut v = json!({"a": [1], "s": "x"});
        assert_eq!(
            apply(&mut v, &[change("/s/t", Op::Added)])
                .unwrap_err()
                .what,
            "the parent is not an object or array"
        );
        assert!(apply(&mut v, &[change("/a/5", Op::Modified)]).is_err());
        assert!(apply(&mut v, &[change("/a/01", Op::Modified)]).is_err());
        assert!(apply(&mut v, &[change("/gone", Op::Removed)]).is_err());
        apply(&mut v, &[change("/a/1", Op::Added)]).unwrap();
        assert_eq!(v, json!({"a": [1, 1], "s": "x"}));
    }
}
