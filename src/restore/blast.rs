//! The blast radius of a plan: who and what applying it touches beyond the tenant's
//! configuration, shown before anything is written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::manual::{provisions, Missing};
use super::operation::{Action, Operation};
use crate::tenant::ResourceType;

/// How many objects each list names in full (counts are always complete).
pub const LISTED: usize = 200;

/// A user or app, as the admin recognises it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    /// The operation's sequence number in the plan.
    pub operation: u32,
    /// Login or label.
    pub name: String,
}

/// A counted list, at most [`LISTED`] named.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub count: u64,
    pub listed: Vec<Named>,
}

impl Counted {
    fn push(&mut self, operation: u32, name: &str) {
        self.count += 1;
        if self.listed.len() < LISTED {
            self.listed.push(Named {
                operation,
                name: name.to_string(),
            });
        }
    }
}

/// A provisioning app and how many of the plan's operations reach its downstream accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningApp {
    pub name: String,
    pub operations: u64,
}

/// Objects a restore cannot bring back, by what they lack, with the admin's step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotRestorable {
    pub missing: Missing,
    pub step: String,
    pub objects: Counted,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlastRadius {
    /// Users the restore would activate (created active, or moved to ACTIVE).
    pub users_activated: Counted,
    /// Of those, users Okta sends an activation email (Okta-mastered credentials).
    pub users_emailed: Counted,
    /// Users the restore would suspend, deactivate or delete.
    pub users_deactivated: Counted,
    /// SAML and WS-Federation apps whose signing certificate changes.
    pub signing_certificate_changes: Counted,
    /// Provisioning (SCIM) apps whose downstream accounts the plan reaches, by app.
    pub provisioning_apps: Vec<ProvisioningApp>,
    pub not_restorable: Vec<NotRestorable>,
}

/// The items an operation reads, as the planner hands them over.
pub struct Sides<'a> {
    pub source: Option<&'a Value>,
    pub target: Option<&'a Value>,
}

const ACTIVE: [&str; 4] = ["ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"];

fn s<'v>(v: Option<&'v Value>, ptr: &str) -> Option<&'v str> {
    v?.pointer(ptr)?.as_str()
}

/// Collects the blast radius over the plan's operations.
#[derive(Default)]
pub struct Collector {
    out: BlastRadius,
    missing: BTreeMap<Missing, Counted>,
    /// App id -> (label, provisions, operations that reach it).
    apps: BTreeMap<String, (String, bool, u64)>,
}

impl Collector {
    pub fn note(&mut self, op: &Operation, sides: Sides<'_>, missing: &[Missing]) {
        use ResourceType as T;
        let name = display_name(op.resource, sides.source.or(sides.target));
        for m in missing {
            self.missing.entry(*m).or_default().push(op.seq, &name);
        }
        match (op.resource, op.action) {
            (T::Users, Action::Create | Action::Update) => {
                let after = s(sides.source, "/status").unwrap_or_default();
                let before = s(sides.target, "/status");
                let becomes_active =
                    ACTIVE.contains(&after) && before.is_none_or(|b| !ACTIVE.contains(&b));
                if becomes_active {
                    self.out.users_activated.push(op.seq, &name);
                    let provider = s(sides.source, "/credentials/provider/type");
                    if provider.is_none_or(|p| p == "OKTA") {
                        self.out.users_emailed.push(op.seq, &name);
                    }
                }
                let leaves = matches!(after, "SUSPENDED" | "DEPROVISIONED")
                    && before.is_some_and(|b| ACTIVE.contains(&b));
                if leaves {
                    self.out.users_deactivated.push(op.seq, &name);
                }
            }
            (T::Users, Action::Delete) => self.out.users_deactivated.push(op.seq, &name),
            (T::Apps, Action::Create | Action::Update | Action::Delete)
                if missing.contains(&Missing::AppSigningCertificate) =>
            {
                self.out.signing_certificate_changes.push(op.seq, &name);
            }
            _ => {}
        }
    }

    /// Counts an operation on an app or one of its assignments (`app`: the app's id in the
    /// target's id space, or its source id if the plan creates it).
    pub fn touch_app(&mut self, app: &str) {
        self.apps
            .entry(app.to_string())
            .or_insert((String::new(), false, 0))
            .2 += 1;
    }

    /// Records an app's name and whether it provisions, by the same id as [`Self::touch_app`].
    pub fn app(&mut self, id: &str, item: &Value) {
        let e = self
            .apps
            .entry(id.to_string())
            .or_insert((String::new(), false, 0));
        if e.0.is_empty() {
            e.0 = display_name(ResourceType::Apps, Some(item));
        }
        e.1 |= provisions(item);
    }

    pub fn finish(mut self) -> BlastRadius {
        self.out.provisioning_apps = self
            .apps
            .into_values()
            .filter(|(_, provisions, n)| *provisions && *n > 0)
            .map(|(name, _, operations)| ProvisioningApp { name, operations })
            .collect();
        self.out.not_restorable = self
            .missing
            .into_iter()
            .map(|(missing, objects)| NotRestorable {
                missing,
                step: missing.step().to_string(),
                objects,
            })
            .collect();
        self.out
    }
}

/// What an admin calls an object: a user's login, an app's label, a group's name, else its
/// `name`.
pub fn display_name(resource: ResourceType, item: Option<&Value>) -> String {
    use ResourceType as T;
    let Some(item) = item else {
        return String::new();
    };
    let ptr = match resource {
        T::Users => "/profile/login",
        T::Groups => "/profile/name",
        T::Apps => "/label",
        T::GroupMembers => "/userId",
        T::AppUserAssignments => "/user/id",
        T::AppGroupAssignments => "/group/id",
        T::PolicyRules | T::AuthorizationServerPolicyRules => "/rule/name",
        T::AuthorizationServerPolicies => "/policy/name",
        T::AuthorizationServerScopes | T::AuthorizationServerClaims => "/item/name",
        T::UserRoles | T::GroupRoles => "/role/label",
        _ => "/name",
    };
    item.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
