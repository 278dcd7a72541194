//! How long applying a plan takes at least: its writes counted per Okta rate-limit bucket and
//! divided by the bucket's write limit.
//!
//! The apply writes type by type (each phase needs the previous one's ids), and within a phase
//! requests to different buckets proceed side by side, so the floor is the sum over phases of
//! the slowest bucket's time in that phase. Limits are Okta's published Enterprise defaults for
//! the management endpoints (developer.okta.com/docs/reference/rl-global-mgmt/); an org may have
//! higher ones, and Okta gives each API token a share of a bucket (50% unless an admin changes
//! it), which [`Limits::token_share`] applies. Network latency is not in the floor.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::operation::{Action, Operation};
use super::order::phase;
use crate::tenant::ResourceType;

/// An Okta rate-limit bucket a write counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bucket {
    /// `POST /api/v1/users`.
    Users,
    /// `POST`/`PUT`/`DELETE /api/v1/users/{id}` and its lifecycle.
    UserWrites,
    /// `/api/v1/groups` and `/api/v1/groups/*` but the group itself.
    Groups,
    /// `/api/v1/groups/{id}`.
    Group,
    /// `/api/v1/apps` and `/api/v1/apps/*` but the app itself.
    Apps,
    /// `/api/v1/apps/{id}`.
    App,
    /// Everything else ("most other API actions").
    Other,
}

/// Requests per minute per bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub per_minute: BTreeMap<Bucket, u32>,
    /// The share of each bucket the restore's token may use (0 < share <= 1).
    pub token_share: f64,
}

impl Default for Limits {
    fn default() -> Limits {
        use Bucket as B;
        Limits {
            per_minute: [
                (B::Users, 600),
                (B::UserWrites, 600),
                (B::Groups, 600),
                (B::Group, 600),
                (B::Apps, 100),
                (B::App, 600),
                (B::Other, 600),
            ]
            .into_iter()
            .collect(),
            token_share: 0.5,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Write requests the apply makes, per bucket.
    pub requests: BTreeMap<Bucket, u64>,
    /// The write-rate floor in seconds.
    pub floor_seconds: f64,
    pub limits: Limits,
}

fn status(v: Option<&Value>) -> &str {
    v.and_then(|v| v.get("status"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The requests applying one operation makes, by bucket.
pub fn requests(op: &Operation, source: Option<&Value>, target: Option<&Value>) -> Vec<Bucket> {
    use Bucket as B;
    use ResourceType as T;
    match (op.resource, op.action) {
        (_, Action::Skip) => Vec::new(),
        (T::Users, Action::Create) => match status(source) {
            // Created STAGED, then moved to the source's state.
            "SUSPENDED" | "DEPROVISIONED" => vec![B::Users, B::UserWrites, B::UserWrites],
            _ => vec![B::Users],
        },
        (T::Users, Action::Update) if status(source) != status(target) => {
            vec![B::UserWrites, B::UserWrites]
        }
        (T::Users, Action::Update) => vec![B::UserWrites],
        // The first DELETE deactivates, the second deletes.
        (T::Users, Action::Delete) => vec![B::UserWrites, B::UserWrites],
        (T::Groups, Action::Create) => vec![B::Groups],
        (T::Groups, _) => vec![B::Group],
        (T::GroupMembers, _) => vec![B::Groups],
        // Rules are created INACTIVE (then activated) and edited only while INACTIVE.
        (T::GroupRules, Action::Create) if status(source) == "ACTIVE" => vec![B::Groups, B::Groups],
        (T::GroupRules, Action::Create) => vec![B::Groups],
        (T::GroupRules, Action::Update) => vec![B::Groups, B::Groups, B::Groups],
        (T::GroupRules, Action::Delete) => vec![B::Groups, B::Groups],
        (T::Apps, Action::Create) => vec![B::Apps],
        (T::Apps, Action::Update) => vec![B::App],
        // Deactivated first (an ACTIVE app cannot be deleted).
        (T::Apps, Action::Delete) => vec![B::Apps, B::App],
        (T::AppUserAssignments | T::AppGroupAssignments, _) => vec![B::Apps],
        (
            T::Policies
            | T::PolicyRules
            | T::NetworkZones
            | T::Idps
            | T::EventHooks
            | T::InlineHooks,
            Action::Delete,
        ) => {
            // Deactivated, then deleted.
            vec![B::Other, B::Other]
        }
        // Okta creates these active: an inactive one is deactivated after.
        (T::Authenticators | T::Idps | T::EventHooks | T::InlineHooks, Action::Create)
            if status(source) == "INACTIVE" =>
        {
            vec![B::Other, B::Other]
        }
        _ => vec![B::Other],
    }
}

/// Sums the plan's requests into the floor.
#[derive(Default)]
pub struct Tally {
    /// Per phase, per bucket.
    by_phase: BTreeMap<(bool, usize), BTreeMap<Bucket, u64>>,
}

impl Tally {
    pub fn add(&mut self, op: &Operation, buckets: &[Bucket]) {
        let key = (op.action == Action::Delete, phase(op.resource));
        let entry = self.by_phase.entry(key).or_default();
        for b in buckets {
            *entry.entry(*b).or_default() += 1;
        }
    }

    pub fn finish(self, limits: Limits) -> Estimate {
        let mut requests: BTreeMap<Bucket, u64> = BTreeMap::new();
        let mut floor_seconds = 0.0;
        for buckets in self.by_phase.values() {
            let mut slowest: f64 = 0.0;
            for (b, n) in buckets {
                *requests.entry(*b).or_default() += n;
                let per_minute =
                    f64::from(*limits.per_minute.get(b).unwrap_or(&600)) * limits.token_share;
                slowest = slowest.max(*n as f64 * 60.0 / per_minute.max(1.0));
            }
            floor_seconds += slowest;
        }
        Estimate {
            requests,
            floor_seconds,
            limits,
        }
    }
}
