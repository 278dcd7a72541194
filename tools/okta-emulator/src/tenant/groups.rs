//! Groups: the built-in `Everyone` group and OKTA_GROUP groups with seeded memberships.

use serde_json::{json, Value};

use super::names::GROUPS;
use super::{link, random_instant, stamp, DAY_MS, ORIGIN_PLACEHOLDER};
use crate::prng::SplitMix64;

pub(super) struct SeededGroup {
    pub(super) group: Value,
    /// Indexes into the user list.
    pub(super) members: Vec<usize>,
}

/// `Everyone` (every user that is not DEPROVISIONED — Okta removes deprovisioned users from groups)
/// followed by `count` OKTA_GROUP groups. The first one, "IT Admins", always holds the super admin.
pub(super) fn generate(rng: &mut SplitMix64, count: usize, users: &[Value]) -> Vec<SeededGroup> {
    let eligible: Vec<usize> = (0..users.len())
        .filter(|&i| users[i]["status"] != "DEPROVISIONED")
        .collect();
    let mut groups = Vec::with_capacity(count + 1);
    groups.push(SeededGroup {
        group: group(
            rng,
            "BUILT_IN",
            "Everyone",
            "All users in your organization",
            0,
        ),
        members: eligible.clone(),
    });
    for n in 0..count {
        let (name, description) = match GROUPS.get(n) {
            Some(&(name, description)) => (name.to_owned(), description.to_owned()),
            None => (
                format!("Project Team {}", n + 1 - GROUPS.len()),
                format!("Members of project team {}", n + 1 - GROUPS.len()),
            ),
        };
        let created = random_instant(rng, 120);
        // 1–4 in ten users per group in a small org; with many groups each gets fewer, so a user
        // belongs to a handful of groups whatever the org's size.
        let per_mille = (100 + rng.below(300)) * 10 / (count.max(10) as u64);
        let members = eligible
            .iter()
            .copied()
            .filter(|&i| (n == 0 && i == 0) || rng.below(1000) < per_mille)
            .collect();
        groups.push(SeededGroup {
            group: group(rng, "OKTA_GROUP", &name, &description, created),
            members,
        });
    }
    groups
}

fn group(rng: &mut SplitMix64, kind: &str, name: &str, description: &str, created: i64) -> Value {
    let id = rng.okta_id("00g");
    let last_updated = created + random_instant(rng, 60);
    let membership_updated = last_updated + random_instant(rng, 300) + DAY_MS;
    let logo = |size: &str| {
        json!({
            "name": size,
            "href": format!("{ORIGIN_PLACEHOLDER}/img/logos/groups/okta-{size}.png"),
            "type": "image/png",
        })
    };
    json!({
        "id": id,
        "created": stamp(created),
        "lastUpdated": stamp(last_updated),
        "lastMembershipUpdated": stamp(membership_updated),
        "objectClass": ["okta:user_group"],
        "type": kind,
        "profile": { "name": name, "description": description },
        "_links": {
            "logo": [logo("medium"), logo("large")],
            "users": link(&format!("/api/v1/groups/{id}/users")),
            "apps": link(&format!("/api/v1/groups/{id}/apps")),
        },
    })
}
