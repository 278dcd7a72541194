//! Random tenants for property tests, shaped by the rule table itself: every type's key and
//! natural-key fields, volatile fields, sets, ordered arrays, secrets, references to other
//! generated resources and configuration links are filled in, around random free-form content.
//! A small seeded generator (splitmix64) keeps the tests deterministic and dependency-free.

use serde_json::{json, Map, Value};

use super::okta::State;
use crate::drift::pointer::tokens;
use crate::drift::rules::{Key, NaturalPart, COMMON, RULES};
use crate::drift::ResourceType;

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// How a tenant is generated.
#[derive(Clone, Copy)]
pub struct Shape {
    /// Items per type are 0..=max_items.
    pub max_items: usize,
    /// Natural-key names come from this many choices (small: collisions and ambiguity).
    pub names: usize,
    /// Free-form fields per item.
    pub extra_fields: usize,
}

fn id(rng: &mut Rng, prefix: &str) -> String {
    format!("{prefix}{:012x}", rng.next() & 0xFFFF_FFFF_FFFF)
}

fn scalar(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => json!(rng.below(1000)),
        1 => json!(rng.chance(50)),
        2 => Value::Null,
        3 => json!(format!("v{}", rng.below(20))),
        4 => json!(rng.below(7) as f64 / 4.0),
        _ => json!(format!("w/~{}", rng.below(5))),
    }
}

fn free_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 1 } else { 4 }) {
        0 => scalar(rng),
        1 => {
            let mut map = Map::new();
            for _ in 0..rng.below(4) {
                map.insert(format!("k{}", rng.below(6)), free_value(rng, depth + 1));
            }
            Value::Object(map)
        }
        2 => Value::Array((0..rng.below(4)).map(|_| scalar(rng)).collect()),
        _ => json!(format!("s{}", rng.below(50))),
    }
}

/// A concrete path a pattern matches: `*` as `0`, `**` dropped.
fn example(pattern: &str) -> Vec<String> {
    tokens(pattern)
        .unwrap()
        .into_iter()
        .filter(|t| t != "**")
        .map(|t| if t == "*" { "0".into() } else { t })
        .collect()
}

/// Sets `path` in `item`, creating objects; gives up where a parent is not an object.
pub fn put(item: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = item;
    for t in parents {
        let Value::Object(map) = here else { return };
        here = map.entry(t.clone()).or_insert_with(|| json!({}));
    }
    if let Value::Object(map) = here {
        map.insert(last.clone(), value);
    }
}

/// A random tenant holding every type.
pub fn tenant(rng: &mut Rng, shape: Shape) -> State {
    let mut state = State::new();
    for t in ResourceType::ALL {
        let items = generate_items(rng, shape, t, &state);
        state.insert(t, items);
    }
    state
}

/// Keys of existing resources of `t` (as their key-path values).
fn keys_of(state: &State, t: ResourceType) -> Vec<Vec<String>> {
    let Key::Fields(paths) = crate::drift::rules::rules(t).key else {
        return Vec::new();
    };
    state
        .get(&t)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    paths
                        .iter()
                        .map(|p| i.pointer(p).and_then(Value::as_str).map(str::to_string))
                        .collect::<Option<Vec<String>>>()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn generate_items(rng: &mut Rng, shape: Shape, t: ResourceType, state: &State) -> Vec<Value> {
    let rules = RULES.iter().find(|r| r.resource == t).unwrap();
    let count = match rules.key {
        Key::Singleton(_) => 1,
        _ if t == ResourceType::Org => 1,
        _ => rng.below(shape.max_items + 1),
    };
    // Keys are unique within a generated state: repeated keys come from `mutate` only.
    let n = crate::drift::normalise::Normaliser::of(t);
    let mut seen = std::collections::HashSet::new();
    (0..count)
        .map(|_| generate_item(rng, shape, t, state))
        .filter(|item| seen.insert(n.key(item, 0).unwrap()))
        .collect()
}

/// One random item of `t`, with parents chosen among `state`'s resources.
pub fn generate_item(rng: &mut Rng, shape: Shape, t: ResourceType, state: &State) -> Value {
    let rules = RULES.iter().find(|r| r.resource == t).unwrap();
    let mut item = json!({});
    for _ in 0..shape.extra_fields {
        let k = format!("f{}", rng.below(8));
        put(&mut item, &[k], free_value(rng, 0));
    }
    for f in rules.ignore {
        if rng.chance(70) {
            put(
                &mut item,
                &example(f.path),
                json!(format!("2024-01-{:02}", 1 + rng.below(28))),
            );
        }
    }
    for f in rules.sets.iter().chain(rules.ordered) {
        if rng.chance(70) {
            let len = rng.below(4);
            let members = (0..len)
                .map(|_| match rng.below(3) {
                    0 => json!(format!("m{}", rng.below(4))),
                    1 => json!({"key": format!("k{}", rng.below(3)), "value": format!("x{}", rng.below(3))}),
                    _ => json!({"n": [rng.below(3), rng.below(3)]}),
                })
                .collect();
            put(&mut item, &example(f.path), Value::Array(members));
        }
    }
    for f in rules.kept {
        if rng.chance(60) {
            put(&mut item, &example(f.path), scalar(rng));
        }
    }
    for f in COMMON.secrets.iter().chain(COMMON.sets) {
        if rng.chance(15) {
            put(
                &mut item,
                &example(f.path),
                json!([format!("c{}", rng.below(3)), "c0"]),
            );
        }
    }
    for f in rules.secrets {
        if rng.chance(60) {
            put(
                &mut item,
                &example(f.path),
                json!(format!("secret-{}", rng.next())),
            );
        }
    }
    for r in rules.references {
        let targets = keys_of(state, r.resource);
        if targets.is_empty() || !rng.chance(70) {
            continue;
        }
        let path = example(r.path);
        if r.path.ends_with("/*") {
            let list: Vec<Value> = (0..1 + rng.below(3))
                .map(|_| json!(rng.pick(&targets)[0]))
                .collect();
            put(&mut item, &path[..path.len() - 1], Value::Array(list));
        } else if r.path.contains("/*/") {
            // A list of objects whose member holds the id (e.g. providers/*/id).
            let star = tokens(r.path)
                .unwrap()
                .iter()
                .position(|t| t == "*")
                .unwrap();
            let member: Vec<String> = path[star + 1..].to_vec();
            let list: Vec<Value> = (0..1 + rng.below(2))
                .map(|_| {
                    let mut m = json!({"type": "X"});
                    put(&mut m, &member, json!(rng.pick(&targets)[0]));
                    m
                })
                .collect();
            put(&mut item, &path[..star], Value::Array(list));
        } else {
            put(&mut item, &path, json!(rng.pick(&targets)[0]));
        }
    }
    for l in rules.links {
        let targets = keys_of(state, l.resource);
        if !targets.is_empty() && rng.chance(70) {
            let href = format!("https://acme.okta.com/api/v1/x/{}", rng.pick(&targets)[0]);
            put(&mut item, &example(l.path), json!({"href": href}));
        }
    }
    put(
        &mut item,
        &["_links".into(), "self".into()],
        json!({"href": format!("https://acme.okta.com/{}", rng.next())}),
    );
    for part in rules.natural_key {
        match part {
            NaturalPart::Text(p) | NaturalPart::Folded(p) => {
                let name = format!("Name {}", rng.below(shape.names));
                let name = if matches!(part, NaturalPart::Folded(_)) && rng.chance(30) {
                    name.to_uppercase()
                } else {
                    name
                };
                put(&mut item, &example(p), json!(name));
            }
            NaturalPart::Parent { .. } | NaturalPart::Fixed(_) => {}
        }
    }
    // Parents (chosen among existing resources, rarely an orphan), then fresh ids for the
    // rest of the key.
    for part in rules.natural_key {
        if let NaturalPart::Parent { resource, key } = part {
            let targets = keys_of(state, *resource);
            let values = if targets.is_empty() || rng.chance(5) {
                key.iter().map(|_| id(rng, "orphan")).collect()
            } else {
                rng.pick(&targets).clone()
            };
            for (p, v) in key.iter().zip(values) {
                put(&mut item, &tokens(p).unwrap(), json!(v));
            }
        }
    }
    if let Key::Fields(paths) = rules.key {
        for p in paths {
            if item.pointer(p).is_none() {
                put(&mut item, &tokens(p).unwrap(), json!(id(rng, "r")));
            }
        }
    }
    item
}

/// Edits that change nothing the diff compares: list order, set order, volatile fields,
/// `_links`, and null members.
pub fn noise(rng: &mut Rng, state: &State) -> State {
    let mut out = state.clone();
    for (t, items) in out.iter_mut() {
        let rules = RULES.iter().find(|r| r.resource == *t).unwrap();
        rng.shuffle(items);
        for item in items.iter_mut() {
            for f in rules.ignore {
                if rng.chance(50) {
                    put(item, &example(f.path), json!("2030-01-01T00:00:00.000Z"));
                }
            }
            for f in rules.sets {
                if let Some(Value::Array(a)) =
                    item.pointer_mut(&crate::drift::pointer::pointer(&example(f.path)))
                {
                    rng.shuffle(a);
                }
            }
            put(
                item,
                &["_links".into(), "self".into()],
                json!({"href": "https://elsewhere"}),
            );
            put(item, &["nullField".into()], Value::Null);
        }
    }
    out
}

/// Random changes: edited, added, removed and duplicated items.
pub fn mutate(rng: &mut Rng, shape: Shape, state: &State) -> State {
    let mut out = state.clone();
    for t in ResourceType::ALL {
        let rules = RULES.iter().find(|r| r.resource == t).unwrap();
        let items = out.get_mut(&t).unwrap();
        for item in items.iter_mut() {
            if !rng.chance(40) {
                continue;
            }
            match rng.below(7) {
                0 => {
                    let k = format!("f{}", rng.below(8));
                    put(item, &[k], free_value(rng, 0));
                }
                1 => {
                    if let Some(f) = rules.secrets.first() {
                        put(
                            item,
                            &example(f.path),
                            json!(format!("secret-{}", rng.next())),
                        );
                    }
                }
                2 => {
                    if !rules.sets.is_empty() {
                        let f = rng.pick(rules.sets);
                        put(item, &example(f.path), json!(["changed", {"n": [1]}]));
                    }
                }
                3 => {
                    if !rules.ordered.is_empty() {
                        let f = rng.pick(rules.ordered);
                        if let Some(Value::Array(a)) =
                            item.pointer_mut(&crate::drift::pointer::pointer(&example(f.path)))
                        {
                            a.reverse();
                        }
                    }
                }
                4 => {
                    if let Value::Object(map) = item {
                        let keys: Vec<String> = map.keys().cloned().collect();
                        if !keys.is_empty() {
                            let k = rng.pick(&keys).clone();
                            let key_fields = match rules.key {
                                Key::Fields(p) => p.iter().any(|p| {
                                    p.trim_start_matches('/').split('/').next() == Some(k.as_str())
                                }),
                                Key::Singleton(_) => false,
                            };
                            if !key_fields {
                                map.remove(&k);
                            }
                        }
                    }
                }
                5 => {
                    if !rules.kept.is_empty() {
                        let f = rng.pick(rules.kept);
                        put(item, &example(f.path), scalar(rng));
                    }
                }
                _ => {
                    for part in rules.natural_key {
                        if let NaturalPart::Text(p) = part {
                            put(
                                item,
                                &example(p),
                                json!(format!("Renamed {}", rng.below(shape.names))),
                            );
                        }
                    }
                }
            }
        }
        if matches!(rules.key, Key::Fields(_)) && t != ResourceType::Org {
            if !items.is_empty() && rng.chance(30) {
                let i = rng.below(items.len());
                items.remove(i);
            }
            if rng.chance(30) {
                // Parents come from the unmutated state (some may since have gone: orphans).
                items.push(generate_item(rng, shape, t, state));
            }
            if !items.is_empty() && rng.chance(15) {
                let i = rng.below(items.len());
                let mut dup = items[i].clone();
                put(&mut dup, &["f0".into()], json!("a later duplicate"));
                items.push(dup);
            }
        }
    }
    out
}

/// The same tenant in another org: every resource id replaced consistently, lists shuffled.
pub fn reorg(rng: &mut Rng, state: &State) -> State {
    let mut ids = Vec::new();
    for (t, items) in state {
        if let Key::Fields(paths) = crate::drift::rules::rules(*t).key {
            for item in items {
                for p in paths {
                    if let Some(s) = item.pointer(p).and_then(Value::as_str) {
                        ids.push(s.to_string());
                    }
                }
            }
        }
    }
    ids.sort();
    ids.dedup();
    let map: std::collections::HashMap<String, String> = ids
        .into_iter()
        .map(|i| {
            let new = format!("B{i}");
            (i, new)
        })
        .collect();
    fn rewrite(v: &mut Value, map: &std::collections::HashMap<String, String>) {
        match v {
            Value::String(s) => {
                if let Some(new) = map.get(s.as_str()) {
                    *s = new.clone();
                } else if let Some((base, last)) = s.rsplit_once('/') {
                    if let Some(new) = map.get(last) {
                        *s = format!("{base}/{new}");
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| rewrite(i, map)),
            Value::Object(m) => m.values_mut().for_each(|i| rewrite(i, map)),
            _ => {}
        }
    }
    let mut out = state.clone();
    for items in out.values_mut() {
        rng.shuffle(items);
        for item in items.iter_mut() {
            rewrite(item, &map);
        }
    }
    out
}
