//! Pairing the resources of two states: by key, then (optionally) by natural key.
//!
//! Within one org a resource keeps its id for life, so drift between two backups of the same
//! connection pairs by id only: a group deleted and re-created under the same name is a removal
//! and an addition. Between orgs (or when planning a restore against a tenant where objects were
//! re-created) ids differ, so resources left unpaired by id are paired by natural key — but only
//! where the natural key is unique on both sides: duplicates (two apps with the same label and
//! sign-on mode) are reported as ambiguous and left unpaired rather than guessed.
//!
//! The pairs of every type form the [`IdMap`] that rewrites references (group ids in policy
//! conditions, zone ids, ...) from one org's ids into the other's; a restore uses the same map.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::heap::entry_bytes;
use super::{NaturalKey, ResourceId, ResourceType};

/// How resources are paired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchBy {
    /// By key only: two states of the same org.
    #[default]
    Id,
    /// By key, then the rest by unique natural key: two orgs, or a restore plan.
    IdThenNaturalKey,
}

/// One side's resource, as matching sees it.
#[derive(Clone, Copy, Debug)]
pub struct Keyed<'a> {
    pub key: &'a ResourceId,
    pub natural: Option<&'a NaturalKey>,
}

/// The [`Keyed`] view of parallel key and natural-key lists.
pub fn keyed<'a>(keys: &'a [ResourceId], naturals: &'a [Option<NaturalKey>]) -> Vec<Keyed<'a>> {
    keys.iter()
        .zip(naturals)
        .map(|(key, natural)| Keyed {
            key,
            natural: natural.as_ref(),
        })
        .collect()
}

/// How a pair was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    Id,
    NaturalKey,
}

/// Indices into the `before` and `after` inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    pub before: usize,
    pub after: usize,
    pub how: How,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matching {
    /// In `before` order.
    pub pairs: Vec<Pair>,
    /// Unpaired, ascending.
    pub only_before: Vec<usize>,
    pub only_after: Vec<usize>,
    /// Natural keys present on both sides among unpaired resources but not unique on at least
    /// one: their resources stay unpaired.
    pub ambiguous: Vec<NaturalKey>,
}

/// Pairs `before` with `after` (see the module docs). Keys must be unique on each side; a
/// repeated key is left unpaired.
pub fn match_resources<'a>(before: &[Keyed<'a>], after: &[Keyed<'a>], by: MatchBy) -> Matching {
    let mut after_by_key: HashMap<&str, usize> = HashMap::with_capacity(after.len());
    // Resources that may still be paired: not yet paired, and not a repeated key.
    let mut open_after = vec![true; after.len()];
    for (j, a) in after.iter().enumerate() {
        match after_by_key.entry(a.key.as_str()) {
            Entry::Occupied(_) => open_after[j] = false,
            Entry::Vacant(e) => {
                e.insert(j);
            }
        }
    }
    let mut open_before = vec![true; before.len()];
    let mut pair_of_before: Vec<Option<(usize, How)>> = vec![None; before.len()];
    let mut seen_before: HashMap<&str, ()> = HashMap::with_capacity(before.len());
    for (i, b) in before.iter().enumerate() {
        if seen_before.insert(b.key.as_str(), ()).is_some() {
            open_before[i] = false;
            continue;
        }
        if let Some(&j) = after_by_key.get(b.key.as_str()) {
            if open_after[j] {
                open_after[j] = false;
                open_before[i] = false;
                pair_of_before[i] = Some((j, How::Id));
            }
        }
    }
    let mut ambiguous = BTreeSet::new();
    if by == MatchBy::IdThenNaturalKey {
        // Natural key -> (count, last index) among unpaired resources of each side.
        let count = |side: &[Keyed<'a>], open: &[bool]| {
            let mut out: HashMap<&'a NaturalKey, (usize, usize)> = HashMap::new();
            for (i, k) in side.iter().enumerate() {
                if let (true, Some(n)) = (open[i], k.natural) {
                    let e = out.entry(n).or_insert((0, i));
                    e.0 += 1;
                    e.1 = i;
                }
            }
            out
        };
        let b_counts = count(before, &open_before);
        let a_counts = count(after, &open_after);
        for (natural, &(nb, i)) in &b_counts {
            if let Some(&(na, j)) = a_counts.get(natural) {
                if nb == 1 && na == 1 {
                    open_after[j] = false;
                    pair_of_before[i] = Some((j, How::NaturalKey));
                } else {
                    ambiguous.insert((*natural).clone());
                }
            }
        }
    }
    let mut out = Matching {
        ambiguous: ambiguous.into_iter().collect(),
        ..Matching::default()
    };
    for (i, p) in pair_of_before.into_iter().enumerate() {
        match p {
            Some((after, how)) => out.pairs.push(Pair {
                before: i,
                after,
                how,
            }),
            None => out.only_before.push(i),
        }
    }
    let mut paired_after = vec![false; after.len()];
    for p in &out.pairs {
        paired_after[p.after] = true;
    }
    out.only_after = (0..after.len()).filter(|&j| !paired_after[j]).collect();
    out
}

/// Where resources paired by natural key have different ids: the `after` side's key of each
/// such pair mapped to the `before` side's. Lookups of anything else return `None` (the id is
/// the same on both sides, or has no counterpart).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    map: HashMap<ResourceType, HashMap<ResourceId, ResourceId>>,
}

impl IdMap {
    /// Records that `after` (in the after side's ids) is `before` (in the before side's).
    pub fn insert(&mut self, resource: ResourceType, after: ResourceId, before: ResourceId) {
        if after != before {
            self.map.entry(resource).or_default().insert(after, before);
        }
    }

    /// The before side's id for the after side's `id` of a `resource`, if they differ.
    pub fn translate(&self, resource: ResourceType, id: &str) -> Option<&ResourceId> {
        self.map.get(&resource)?.get(id)
    }

    /// Pairs of ids that differ, per type: (after id, before id).
    pub fn entries(&self) -> impl Iterator<Item = (ResourceType, &ResourceId, &ResourceId)> {
        self.map
            .iter()
            .flat_map(|(t, m)| m.iter().map(move |(a, b)| (*t, a, b)))
    }

    pub fn is_empty(&self) -> bool {
        self.map.values().all(HashMap::is_empty)
    }

    /// Estimated heap bytes held.
    pub fn retained_bytes(&self) -> u64 {
        self.entries()
            .map(|(_, a, b)| entry_bytes(a.as_str().len() + b.as_str().len()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(items: &[(ResourceId, Option<NaturalKey>)]) -> Vec<Keyed<'_>> {
        items
            .iter()
            .map(|(k, n)| Keyed {
                key: k,
                natural: n.as_ref(),
            })
            .collect()
    }

    fn item(id: &str, natural: Option<&str>) -> (ResourceId, Option<NaturalKey>) {
        (
            ResourceId::new(id),
            natural.map(|n| NaturalKey(format!("[\"{n}\"]"))),
        )
    }

    #[test]
    fn pairs_by_id_first_then_by_unique_natural_key() {
        let before = [
            item("a1", Some("eng")),
            item("a2", Some("ops")),
            item("a3", Some("dup")),
            item("a4", Some("dup")),
            item("a5", None),
            item("a6", Some("gone")),
        ];
        let after = [
            item("b2", Some("ops")),
            item("a1", Some("renamed")),
            item("b3", Some("dup")),
            item("b5", None),
            item("b7", Some("eng")),
        ];
        let (b, a) = (view(&before), view(&after));
        let by_id = match_resources(&b, &a, MatchBy::Id);
        assert_eq!(
            by_id.pairs,
            [Pair {
                before: 0,
                after: 1,
                how: How::Id
            }]
        );
        assert_eq!(by_id.only_before, [1, 2, 3, 4, 5]);
        assert_eq!(by_id.only_after, [0, 2, 3, 4]);
        assert!(by_id.ambiguous.is_empty());

        let m = match_resources(&b, &a, MatchBy::IdThenNaturalKey);
        assert_eq!(
            m.pairs,
            [
                Pair {
                    before: 0,
                    after: 1,
                    how: How::Id
                },
                Pair {
                    before: 1,
                    after: 0,
                    how: How::NaturalKey
                },
            ],
            "a1 stays paired by id although b7 now has its old name"
        );
        assert_eq!(m.only_before, [2, 3, 4, 5]);
        assert_eq!(m.only_after, [2, 3, 4]);
        assert_eq!(m.ambiguous, [NaturalKey("[\"dup\"]".into())]);
    }

    #[test]
    fn repeated_keys_are_left_unpaired() {
        let before = [item("a", None), item("a", None)];
        let after = [item("a", None)];
        let m = match_resources(&view(&before), &view(&after), MatchBy::Id);
        assert_eq!(m.pairs.len(), 1);
        assert_eq!(m.only_before, [1]);
    }

    #[test]
    fn id_map_keeps_only_ids_that_differ() {
        let mut map = IdMap::default();
        map.insert(
            ResourceType::Groups,
            ResourceId::new("00gB"),
            ResourceId::new("00gA"),
        );
        map.insert(
            ResourceType::Groups,
            ResourceId::new("00gC"),
            ResourceId::new("00gC"),
        );
        assert_eq!(
            map.translate(ResourceType::Groups, "00gB")
                .map(|i| i.as_str()),
            Some("00gA")
        );
        assert_eq!(map.translate(ResourceType::Groups, "00gC"), None);
        assert_eq!(map.translate(ResourceType::Users, "00gB"), None);
        assert_eq!(map.entries().count(), 1);
        assert!(map.retained_bytes() > 0);
    }
}
