//! Properties over random tenants (seeded, so failures reproduce): a state has no drift from
//! itself or from a copy with only noise changed; replaying diff(a, b) onto a gives b (modulo
//! normalisation and redaction), by id and across orgs; filters select a subset.

use std::collections::BTreeMap;

use serde_json::Value;

use super::gen::{mutate, noise, reorg, tenant, Rng, Shape};
use super::okta::State;
use crate::drift::compare::redact;
use crate::drift::normalise::Normaliser;
use crate::drift::{
    apply, diff_states, ChangeKind, DiffOptions, Filter, IdMap, MatchBy, ResourceId, ResourceType,
    TenantDiff,
};

/// Per property; each case is a whole random tenant (every type, up to six items each).
const CASES: u64 = 100;

pub const SHAPE: Shape = Shape {
    max_items: 6,
    names: 4,
    extra_fields: 3,
};

fn options(match_by: MatchBy) -> DiffOptions {
    DiffOptions {
        match_by,
        ..DiffOptions::default()
    }
}

/// One side's redacted normalised contents by key (first of a repeated key), with references
/// rewritten through `ids` and keys of paired resources given in the before side's ids.
fn contents(state: &State, t: ResourceType, ids: Option<&IdMap>) -> BTreeMap<ResourceId, Value> {
    let n = Normaliser::of(t);
    let mut out = BTreeMap::new();
    for (i, item) in state[&t].iter().enumerate() {
        let key = n.key(item, i as u64).unwrap();
        if out.contains_key(&key) {
            continue;
        }
        let mut content = n.content(item.clone(), ids);
        redact(n, &mut content);
        out.insert(key, content);
    }
    match ids {
        Some(ids) => out
            .into_iter()
            .map(|(k, v)| (ids.translate(t, k.as_str()).cloned().unwrap_or(k), v))
            .collect(),
        None => out,
    }
}

/// Replays `diff` onto `a` and checks the result is `b`, type by type. Paired resources are
/// keyed by their before-side key on both sides (an unpaired after-side key never equals a
/// before-side one: equal keys pair by id first).
fn assert_replays(a: &State, b: &State, diff: &TenantDiff, seed: u64) {
    for t in ResourceType::ALL {
        let mut expected = contents(a, t, None);
        let actual = contents(b, t, Some(&diff.ids));
        for change in diff.changes.iter().filter(|c| c.resource == t) {
            match change.kind {
                ChangeKind::Removed => {
                    assert!(
                        expected.remove(&change.id).is_some(),
                        "seed {seed}: {t} {} removed but absent before",
                        change.id
                    );
                }
                ChangeKind::Added => {
                    let previous =
                        expected.insert(change.id.clone(), change.after.clone().unwrap());
                    assert!(
                        previous.is_none(),
                        "seed {seed}: {t} {} added but present before",
                        change.id
                    );
                }
                ChangeKind::Changed => {
                    let content = expected.get_mut(&change.id).unwrap_or_else(|| {
                        panic!("seed {seed}: {t} {} changed but absent before", change.id)
                    });
                    apply(content, &change.fields)
                        .unwrap_or_else(|e| panic!("seed {seed}: {t} {}: {e}", change.id));
                }
            }
        }
        assert_eq!(expected, actual, "seed {seed}: {t}");
    }
}

#[test]
fn a_state_has_no_drift_from_itself_or_from_noise() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let a = tenant(&mut rng, SHAPE);
        let noisy = noise(&mut rng, &a);
        for by in [MatchBy::Id, MatchBy::IdThenNaturalKey] {
            for b in [&a, &noisy] {
                let diff = diff_states(&a, b, &options(by)).unwrap();
                assert!(
                    diff.changes.is_empty(),
                    "seed {seed} {by:?}: {:#?}",
                    diff.changes
                );
                for s in &diff.summary.types {
                    assert!(s.compared);
                    assert_eq!(s.unchanged, s.before, "seed {seed} {by:?} {}", s.resource);
                }
            }
        }
    }
}

#[test]
fn replaying_the_diff_by_id_gives_the_other_state() {
    for seed in 0..CASES {
        let mut rng = Rng::new(1000 + seed);
        let a = tenant(&mut rng, SHAPE);
        let noisy = noise(&mut rng, &a);
        let b = mutate(&mut rng, SHAPE, &noisy);
        let diff = diff_states(&a, &b, &options(MatchBy::Id)).unwrap();
        assert!(diff.ids.is_empty());
        assert_replays(&a, &b, &diff, seed);
        let reverse = diff_states(&b, &a, &options(MatchBy::Id)).unwrap();
        assert_replays(&b, &a, &reverse, seed);
        assert_eq!(
            reverse
                .summary
                .types
                .iter()
                .map(|t| (t.added, t.removed, t.changed))
                .collect::<Vec<_>>(),
            diff.summary
                .types
                .iter()
                .map(|t| (t.removed, t.added, t.changed))
                .collect::<Vec<_>>(),
            "seed {seed}: the reverse diff mirrors the diff"
        );
    }
}

#[test]
fn replaying_the_diff_across_orgs_gives_the_other_state() {
    let mut paired = 0;
    for seed in 0..CASES {
        let mut rng = Rng::new(2000 + seed);
        let a = tenant(&mut rng, SHAPE);
        let elsewhere = reorg(&mut rng, &a);
        let b = mutate(&mut rng, SHAPE, &elsewhere);
        let diff = diff_states(&a, &b, &options(MatchBy::IdThenNaturalKey)).unwrap();
        paired += diff
            .summary
            .types
            .iter()
            .map(|t| t.paired_by_natural_key)
            .sum::<u64>();
        assert_replays(&a, &b, &diff, seed);
    }
    assert!(paired > 1000, "natural keys paired {paired} resources");
}

#[test]
fn a_faithful_copy_in_another_org_has_no_drift_when_names_are_unique() {
    let shape = Shape {
        names: 1000,
        ..SHAPE
    };
    for seed in 0..CASES {
        let mut rng = Rng::new(3000 + seed);
        let a = tenant(&mut rng, shape);
        let b = reorg(&mut rng, &a);
        let diff = diff_states(&a, &b, &options(MatchBy::IdThenNaturalKey)).unwrap();
        // Resources whose parent is missing (orphans) or whose natural key repeats can only
        // be matched by id, which differs: they alone may show as removed and added.
        for change in &diff.changes {
            assert_ne!(change.kind, ChangeKind::Changed, "seed {seed}: {change:#?}");
        }
        let s = &diff.summary;
        assert_eq!(
            s.types.iter().map(|t| t.added).sum::<u64>(),
            s.types.iter().map(|t| t.removed).sum::<u64>(),
            "seed {seed}"
        );
    }
}

#[test]
fn filters_select_a_subset_of_the_full_diff() {
    for seed in 0..CASES {
        let mut rng = Rng::new(4000 + seed);
        let a = tenant(&mut rng, SHAPE);
        let b = mutate(&mut rng, SHAPE, &a);
        for by in [MatchBy::Id, MatchBy::IdThenNaturalKey] {
            let full = diff_states(&a, &b, &options(by)).unwrap();
            let types: std::collections::BTreeSet<ResourceType> = ResourceType::ALL
                .into_iter()
                .filter(|_| rng.chance(30))
                .collect();
            let id = full
                .changes
                .get(rng.below(full.changes.len().max(1)))
                .map(|c| c.id.components().next().unwrap().to_string());
            for filter in [
                Filter {
                    resources: Some(types.clone()),
                    id: None,
                },
                Filter {
                    resources: None,
                    id: id.clone(),
                },
            ] {
                let options = DiffOptions {
                    match_by: by,
                    filter: filter.clone(),
                };
                let part = diff_states(&a, &b, &options).unwrap();
                let expected: Vec<_> = full
                    .changes
                    .iter()
                    .filter(|c| filter.admits_type(c.resource))
                    .filter(|c| {
                        filter.admits_id(&c.id)
                            || c.after_id.as_ref().is_some_and(|i| filter.admits_id(i))
                    })
                    .cloned()
                    .collect();
                assert_eq!(part.changes, expected, "seed {seed} {by:?} {filter:?}");
                if let Some(id) = &filter.id {
                    assert!(
                        !part.changes.is_empty(),
                        "seed {seed}: {id} selects its own change"
                    );
                }
            }
        }
    }
}
