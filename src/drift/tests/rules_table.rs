//! The rule table against itself and against real payloads: every array Okta returns has an
//! explicit decision, no decision is hidden under an ignored path, and every field the table
//! says is compared is compared.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::okta::tenant;
use crate::drift::normalise::Normaliser;
use crate::drift::pointer::{pointer, tokens, Pattern, States};
use crate::drift::rules::{Key, COMMON, RULES};
use crate::drift::{compare, ResourceType};

/// Paths (indices as `*`) of arrays in `value` that no set or ordered rule covers.
fn unclassified(
    n: &Normaliser,
    states: &States,
    path: &mut Vec<String>,
    value: &Value,
    out: &mut BTreeSet<String>,
) {
    match value {
        Value::Object(map) => {
            for (k, child) in map {
                path.push(k.clone());
                unclassified(n, &n.step(states, k), path, child, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            let here = n.here(states);
            if !here.set && !here.ordered {
                out.insert(pointer(path));
            }
            if !here.set {
                for child in items {
                    path.push("*".into());
                    unclassified(n, &n.step(states, "0"), path, child, out);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

#[test]
fn every_array_in_okta_payloads_is_declared_a_set_or_ordered() {
    let mut missing = BTreeSet::new();
    for (t, items) in tenant() {
        let n = Normaliser::of(t);
        for item in items {
            let content = n.content(item, None);
            let mut found = BTreeSet::new();
            unclassified(n, &n.root(), &mut Vec::new(), &content, &mut found);
            missing.extend(found.into_iter().map(|p| format!("{t} {p}")));
        }
    }
    assert!(
        missing.is_empty(),
        "arrays without a decision (add them to `sets` or `ordered` in drift/rules.rs):\n{}",
        missing.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// A concrete path a pattern matches (`*` as `0`, `**` as nothing).
fn example(pattern: &str) -> Vec<String> {
    tokens(pattern)
        .unwrap()
        .into_iter()
        .filter(|t| t != "**")
        .map(|t| if t == "*" { "0".into() } else { t })
        .collect()
}

#[test]
fn no_decision_sits_under_an_ignored_path() {
    for rules in RULES {
        let ignores: Vec<Pattern> = COMMON
            .ignore
            .iter()
            .chain(rules.ignore)
            .map(|f| Pattern::parse(f.path).unwrap())
            .collect();
        let decided = rules
            .sets
            .iter()
            .chain(rules.ordered)
            .chain(rules.kept)
            .chain(rules.secrets)
            .map(|f| f.path)
            .chain(rules.references.iter().map(|r| r.path));
        for path in decided {
            let toks = example(path);
            for end in 1..=toks.len() {
                for ignore in &ignores {
                    assert!(
                        !ignore.matches(&toks[..end]),
                        "{}: {path} is under an ignored path",
                        rules.resource
                    );
                }
            }
        }
        if let Key::Fields(paths) = rules.key {
            for path in paths {
                assert!(
                    !rules.natural_key.is_empty() && tokens(path).is_ok(),
                    "{}: {path}",
                    rules.resource
                );
            }
        }
        for r in rules.references {
            assert!(
                matches!(crate::drift::rules::rules(r.resource).key, Key::Fields(k) if k.len() == 1),
                "{}: {} refers to {}, whose ids are not plain Okta ids",
                rules.resource,
                r.path,
                r.resource
            );
        }
    }
}

#[test]
fn every_kept_field_present_in_okta_payloads_is_compared() {
    let state = tenant();
    let mut checked = 0;
    for rules in RULES {
        let n = Normaliser::of(rules.resource);
        for kept in rules.kept {
            for item in &state[&rules.resource] {
                if item.pointer(kept.path).is_none() {
                    continue;
                }
                let mut edited = item.clone();
                *edited.pointer_mut(kept.path).unwrap() = json!("edited by the test");
                let before = n.content(item.clone(), None);
                let after = n.content(edited, None);
                let changes = compare(n, &before, &after);
                assert!(
                    !changes.is_empty() && changes.iter().all(|c| c.path.starts_with(kept.path)),
                    "{} {}: {changes:?}",
                    rules.resource,
                    kept.path
                );
                checked += 1;
                break;
            }
        }
    }
    assert!(checked >= 40, "kept fields found in fixtures: {checked}");
}

#[test]
fn every_ignored_field_present_in_okta_payloads_is_ignored() {
    let state = tenant();
    let mut checked = BTreeSet::new();
    for rules in RULES {
        let n = Normaliser::of(rules.resource);
        for ignored in rules.ignore {
            for item in &state[&rules.resource] {
                if item.pointer(ignored.path).is_none() {
                    continue;
                }
                let mut edited = item.clone();
                *edited.pointer_mut(ignored.path).unwrap() = json!("edited by the test");
                assert_eq!(
                    n.content(item.clone(), None),
                    n.content(edited, None),
                    "{} {}",
                    rules.resource,
                    ignored.path
                );
                checked.insert(rules.resource);
                break;
            }
        }
    }
    let without: Vec<ResourceType> = ResourceType::ALL
        .into_iter()
        .filter(|t| {
            !checked.contains(t)
                && !RULES
                    .iter()
                    .any(|r| r.resource == *t && r.ignore.is_empty())
        })
        .collect();
    assert!(
        without.is_empty(),
        "ignored fields never seen in fixtures: {without:?}"
    );
}
