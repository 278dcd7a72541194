//! A recovery drill's fidelity check (pure core): after a backup was restored into a sandbox,
//! the source is planned again against the sandbox as it now is. That plan is the drift
//! engine's diff of the two ([`super::plan`]), so every operation left in it is one
//! difference between the backup and what the restore produced.
//!
//! Each difference is either **documented** (a reason the restore cannot or does not write it:
//! a skip reason of the plan, a type the applier has no write for yet, a user whose activation
//! waits for a password Okta never returns) and listed without failing the drill, or
//! **unexplained**, which fails it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::apply::supported;
use super::blast::NotRestorable;
use super::operation::{Action, Operation, SkipReason};
use super::plan::Plan;
use crate::tenant::ResourceType;

/// Differences listed per report at most (counts stay complete).
pub const MAX_LISTED: usize = 200;

/// Why a difference is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Documented {
    /// The planner leaves it alone, for the plan's own reason.
    Skipped(SkipReason),
    /// The applier has no write for this type yet (docs/restore.md, "What each operation
    /// writes").
    Unsupported,
    /// A user's credentials: Okta never returns passwords or recovery answers, so a restored
    /// user has neither and stays PROVISIONED until they set a password (the source's ACTIVE,
    /// SUSPENDED, LOCKED_OUT, ... cannot be written); a directory or identity provider that
    /// masters a user's credentials sets them through its own integration.
    UserCredentials,
}

impl Documented {
    /// The reason as docs/restore.md names it.
    pub fn describe(self) -> &'static str {
        match self {
            Documented::Skipped(SkipReason::OnlyInTarget) => {
                "only in the sandbox (drills never delete from it)"
            }
            Documented::Skipped(SkipReason::SystemObject) => {
                "one of Okta's default objects: updated, never created or deleted"
            }
            Documented::Skipped(SkipReason::AmbiguousNaturalKey) => {
                "several objects share its natural key: nothing is guessed"
            }
            Documented::Skipped(SkipReason::NotRestorable) => {
                "Okta issues it; nothing can write one (API tokens)"
            }
            Documented::Skipped(SkipReason::Inherited) => {
                "held through a group: restored with the group's role"
            }
            Documented::Skipped(SkipReason::Managed) => "mastered by its app or by Okta",
            Documented::Unsupported => "restore has no write for this type yet",
            Documented::UserCredentials => {
                "Okta never returns passwords or recovery answers, and a directory or identity \
                 provider masters its users' credentials: the user stays PROVISIONED until they \
                 set a password"
            }
        }
    }
}

/// Per type: how the sandbox compares with the backup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeFidelity {
    /// Objects equal on both sides.
    pub matched: u64,
    /// Unexplained differences: each fails the drill.
    pub differing: u64,
    /// Documented differences, by reason.
    pub not_restorable: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, u64>,
}

/// One difference between the backup and the sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub resource: ResourceType,
    /// What a restore would still have to do to make them equal.
    pub action: Action,
    /// The object's key (the source's for a missing object, else the sandbox's).
    pub id: Option<String>,
    /// Changed field paths (no values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Why it is allowed; absent for an unexplained difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documented: Option<Documented>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The fidelity part of a drill report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fidelity {
    pub types: BTreeMap<ResourceType, TypeFidelity>,
    /// Unexplained differences in all: the drill passes only at 0.
    pub unexplained: u64,
    /// Documented differences in all.
    pub documented: u64,
    /// Up to [`MAX_LISTED`] differences, unexplained first.
    pub differences: Vec<Difference>,
    /// Types the backup or the sandbox does not hold (nothing compared).
    pub not_compared: Vec<ResourceType>,
    /// What the restore could not bring back by nature (secrets, keys), from the restore's
    /// plan, with the admin's step: listed, never failing.
    pub manual_steps: Vec<NotRestorable>,
}

impl Fidelity {
    pub fn passed(&self) -> bool {
        self.unexplained == 0
    }
}

/// User statuses only a user who has set a password can be in (Okta suspends only ACTIVE
/// users; the others are states of the credential): a restored user, PROVISIONED until they
/// set one, cannot be put there.
const NEEDS_PASSWORD: [&str; 5] = [
    "ACTIVE",
    "SUSPENDED",
    "LOCKED_OUT",
    "PASSWORD_EXPIRED",
    "RECOVERY",
];

/// Why a remaining operation is allowed, if it is.
fn documented(op: &Operation) -> Option<Documented> {
    if op.action == Action::Skip {
        return op.reason.map(Documented::Skipped);
    }
    if !supported(op.resource, op.action) {
        return Some(Documented::Unsupported);
    }
    let credentials_only = op.resource == ResourceType::Users
        && op.action == Action::Update
        && !op.fields.is_empty()
        && op.fields.iter().all(|f| match f.path.as_str() {
            // A restored user waits for a password: PROVISIONED, never a state that needs one.
            "/status" => {
                f.before.as_ref().and_then(|v| v.as_str()) == Some("PROVISIONED")
                    && f.after
                        .as_ref()
                        .and_then(|v| v.as_str())
                        .is_some_and(|s| NEEDS_PASSWORD.contains(&s))
            }
            // Write-only secrets (a set password reads `{}`), and the directory or identity
            // provider that masters a user's credentials (set by that integration, not by the
            // Users API).
            "/credentials/password" | "/credentials/recovery_question" => true,
            path => path.starts_with("/credentials/provider"),
        });
    credentials_only.then_some(Documented::UserCredentials)
}

/// Compares a backup with the sandbox it was restored into: `verification` is the plan of the
/// backup against the sandbox after the restore, `restored` the plan the restore applied (for
/// its manual steps).
pub fn fidelity(verification: &Plan, restored: &Plan) -> Fidelity {
    let mut out = Fidelity {
        not_compared: verification.summary.not_compared.clone(),
        manual_steps: restored.blast_radius.not_restorable.clone(),
        ..Fidelity::default()
    };
    for (resource, counts) in &verification.summary.types {
        out.types.entry(*resource).or_default().matched = counts.unchanged;
    }
    let mut listed = Vec::new();
    for op in &verification.operations {
        let entry = out.types.entry(op.resource).or_default();
        let why = documented(op);
        match why {
            Some(why) => {
                entry.not_restorable += 1;
                *entry.reasons.entry(reason_code(why)).or_default() += 1;
                out.documented += 1;
            }
            None => {
                entry.differing += 1;
                out.unexplained += 1;
            }
        }
        listed.push(Difference {
            resource: op.resource,
            action: op.action,
            id: op.subject_id().map(str::to_string),
            fields: op.fields.iter().map(|f| f.path.clone()).collect(),
            documented: why,
            reason: why.map(|w| w.describe().to_string()),
        });
    }
    // Unexplained first (stable within each group: plan order).
    listed.sort_by_key(|d| d.documented.is_some());
    listed.truncate(MAX_LISTED);
    out.differences = listed;
    out
}

fn reason_code(why: Documented) -> String {
    match why {
        Documented::Skipped(reason) => serde_json::to_value(reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "skipped".into()),
        Documented::Unsupported => "unsupported".into(),
        Documented::UserCredentials => "user_credentials".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(value: serde_json::Value) -> Operation {
        let mut base =
            json!({"seq": 1, "action": "update", "resource": "users", "target_id": "00u1"});
        base.as_object_mut()
            .unwrap()
            .extend(value.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn only_documented_differences_are_allowed() {
        // A restored user waiting for their password.
        let pending = op(json!({"fields": [{"path": "/status", "op": "modified",
                                            "before": "PROVISIONED", "after": "ACTIVE"}]}));
        assert_eq!(documented(&pending), Some(Documented::UserCredentials));
        let secrets = op(json!({"fields": [
            {"path": "/credentials/password", "op": "added", "secret": true},
            {"path": "/credentials/recovery_question", "op": "added", "secret": true},
            {"path": "/credentials/provider/type", "op": "modified", "before": "OKTA", "after": "ACTIVE_DIRECTORY"},
            {"path": "/status", "op": "modified", "before": "PROVISIONED", "after": "SUSPENDED"}]}));
        assert_eq!(documented(&secrets), Some(Documented::UserCredentials));
        // Any other change of a user, or a status the restore should have written, is not.
        let profile = op(
            json!({"fields": [{"path": "/profile/firstName", "op": "modified",
                                            "before": "Anna", "after": "Ann"}]}),
        );
        assert_eq!(documented(&profile), None);
        let suspended = op(json!({"fields": [{"path": "/status", "op": "modified",
                                              "before": "ACTIVE", "after": "SUSPENDED"}]}));
        assert_eq!(documented(&suspended), None);
        let deprovisioned = op(json!({"fields": [{"path": "/status", "op": "modified",
                                                  "before": "PROVISIONED", "after": "DEPROVISIONED"}]}));
        assert_eq!(documented(&deprovisioned), None);
        let missing_group =
            op(json!({"action": "create", "resource": "groups", "source_id": "00g1"}));
        assert_eq!(documented(&missing_group), None);
        // Types without a write yet, and the planner's own skips.
        let policy = op(json!({"resource": "policies"}));
        assert_eq!(documented(&policy), Some(Documented::Unsupported));
        let managed =
            op(json!({"action": "skip", "resource": "group_members", "reason": "managed"}));
        assert_eq!(
            documented(&managed),
            Some(Documented::Skipped(SkipReason::Managed))
        );
        assert_eq!(
            reason_code(Documented::Skipped(SkipReason::OnlyInTarget)),
            "only_in_target"
        );
    }
}
