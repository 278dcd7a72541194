//! The planner: the diff of the target's live state against the source, turned into ordered
//! operations with their checks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::access::{self, AccessCheck, Credential};
use super::blast::{self, BlastRadius, Collector};
use super::estimate::{self, Estimate, Limits, Tally};
use super::lockout::{self, Facts, LockoutCheck, Verdict};
use super::manual;
use super::operation::{Action, Operation, SkipReason};
use super::order::{phase, policy_type_rank};
use super::scope::Scope;
use super::system;
use super::PlanError;
use crate::drift::canonical::canonical_bytes;
use crate::drift::{
    diff_states, ChangeKind, DiffOptions, Filter, IdMap, MatchBy, NaturalKey, Normaliser,
    ResourceId, TenantItems,
};
use crate::tenant::ResourceType;

/// What the planner is given.
pub struct PlanInput<'a> {
    /// The state to restore (a backup).
    pub source: &'a dyn TenantItems,
    /// The target's live state.
    pub target: &'a dyn TenantItems,
    pub scope: &'a Scope,
    pub options: PlanOptions,
    /// The target's id of the admin the target's credential acts as, when known.
    pub restoring_admin: Option<&'a str>,
    pub credential: &'a Credential,
    pub limits: Limits,
}

/// Choices the admin makes when asking for a plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanOptions {
    /// Delete what the target has and the source does not (off: such objects are skipped).
    #[serde(default)]
    pub delete_missing: bool,
    /// Apply even though the lockout check found the plan would lock admins out.
    #[serde(default)]
    pub override_lockout: bool,
}

/// A source object and the target object it restores, where their ids differ.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdPair {
    pub resource: ResourceType,
    pub source_id: ResourceId,
    pub target_id: ResourceId,
}

/// Counts per type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCounts {
    pub create: u64,
    pub update: u64,
    pub skip: u64,
    pub delete: u64,
    pub unchanged: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub types: BTreeMap<ResourceType, TypeCounts>,
    /// Types the source or the target does not hold: nothing is planned for them.
    pub not_compared: Vec<ResourceType>,
}

impl Summary {
    pub fn total(&self, action: Action) -> u64 {
        self.types
            .values()
            .map(|c| match action {
                Action::Create => c.create,
                Action::Update => c.update,
                Action::Skip => c.skip,
                Action::Delete => c.delete,
            })
            .sum()
    }
}

/// A restore plan: ordered operations, the id map, and what applying it would do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub operations: Vec<Operation>,
    pub summary: Summary,
    pub ids: Vec<IdPair>,
    pub blast_radius: BlastRadius,
    pub lockout: LockoutCheck,
    pub lockout_overridden: bool,
    pub estimate: Estimate,
    pub access: AccessCheck,
    /// SHA-256 (hex) of the operations' canonical JSON: equal for two plans exactly when
    /// they would make the same writes, so re-planning against live state re-validates.
    pub digest: String,
}

/// What stops a plan from being applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blocker {
    /// The lockout check failed and was not overridden.
    Lockout,
    /// The target's credential cannot make every write.
    Access,
}

impl Plan {
    pub fn blockers(&self) -> Vec<Blocker> {
        let mut out = Vec::new();
        if self.lockout.verdict != Verdict::Clear && !self.lockout_overridden {
            out.push(Blocker::Lockout);
        }
        if !self.access.sufficient {
            out.push(Blocker::Access);
        }
        out
    }
}

/// One side's items of a type, by key.
fn index(resource: ResourceType, items: Option<&[Value]>) -> HashMap<String, &Value> {
    let n = Normaliser::of(resource);
    let mut out = HashMap::new();
    for (i, item) in items.unwrap_or_default().iter().enumerate() {
        if let Ok(key) = n.key(item, i as u64) {
            out.entry(key.as_str().to_string()).or_insert(item);
        }
    }
    out
}

struct Items<'v> {
    source: BTreeMap<ResourceType, HashMap<String, &'v Value>>,
    target: BTreeMap<ResourceType, HashMap<String, &'v Value>>,
}

impl<'v> Items<'v> {
    fn source(&self, t: ResourceType, key: Option<&ResourceId>) -> Option<&'v Value> {
        self.source.get(&t)?.get(key?.as_str()).copied()
    }
    fn target(&self, t: ResourceType, key: Option<&ResourceId>) -> Option<&'v Value> {
        self.target.get(&t)?.get(key?.as_str()).copied()
    }
}

fn str_at<'v>(v: Option<&'v Value>, ptr: &str) -> Option<&'v str> {
    v?.pointer(ptr)?.as_str()
}

/// Why an object cannot be written as an ordinary create/update/delete, if it cannot.
fn skip_reason(
    t: ResourceType,
    item: Option<&Value>,
    groups: &HashMap<String, &Value>,
) -> Option<SkipReason> {
    use ResourceType as T;
    let group_type = |id: Option<&str>| str_at(id.and_then(|id| groups.get(id).copied()), "/type");
    match t {
        T::ApiTokens => Some(SkipReason::NotRestorable),
        T::UserRoles if str_at(item, "/role/assignmentType") == Some("GROUP") => {
            Some(SkipReason::Inherited)
        }
        T::Groups if str_at(item, "/type") == Some("APP_GROUP") => Some(SkipReason::Managed),
        T::GroupMembers
            if matches!(
                group_type(str_at(item, "/groupId")),
                Some("APP_GROUP" | "BUILT_IN")
            ) =>
        {
            Some(SkipReason::Managed)
        }
        _ if item.is_some_and(|i| system::is_system(t, i)) => Some(SkipReason::SystemObject),
        _ => None,
    }
}

/// The order of an operation within its type: policies by type then priority, rules by their
/// policy's order then priority, the rest by natural key then id.
fn rank(
    op: &Operation,
    item: Option<&Value>,
    policies: &dyn Fn(&str) -> Option<(usize, i64)>,
) -> (usize, i64, i64) {
    use ResourceType as T;
    let priority = |v: Option<&Value>| {
        v.and_then(|v| v.get("priority"))
            .and_then(Value::as_i64)
            .unwrap_or(i64::MAX)
    };
    match op.resource {
        T::Policies => (
            policy_type_rank(str_at(item, "/type").unwrap_or_default()),
            priority(item),
            0,
        ),
        T::PolicyRules => {
            let (r, p) = str_at(item, "/policyId")
                .and_then(policies)
                .unwrap_or((usize::MAX, i64::MAX));
            (r, p, priority(item.and_then(|i| i.get("rule"))))
        }
        T::AuthorizationServerPolicies => (0, priority(item.and_then(|i| i.get("policy"))), 0),
        T::AuthorizationServerPolicyRules => (0, 0, priority(item.and_then(|i| i.get("rule")))),
        _ => (0, 0, 0),
    }
}

/// Makes the plan (see the module docs of [`super`]).
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let filter = Filter {
        resources: match input.scope {
            Scope::Types { resources } => Some(resources.clone()),
            _ => None,
        },
        id: None,
    };
    let diff = diff_states(
        input.target,
        input.source,
        &DiffOptions {
            match_by: MatchBy::IdThenNaturalKey,
            filter,
        },
    )?;
    let mut summary = Summary::default();
    let mut sides = Items {
        source: BTreeMap::new(),
        target: BTreeMap::new(),
    };
    for ts in &diff.summary.types {
        if !ts.compared {
            summary.not_compared.push(ts.resource);
            continue;
        }
        summary.types.entry(ts.resource).or_default();
    }
    for t in ResourceType::ALL {
        sides.source.insert(t, index(t, input.source.items(t)));
        sides.target.insert(t, index(t, input.target.items(t)));
    }
    // Natural keys of target objects left unpaired: a source object sharing one is ambiguous.
    let mut unpaired_target: BTreeSet<(ResourceType, &NaturalKey)> = BTreeSet::new();
    for c in &diff.changes {
        if let (ChangeKind::Removed, Some(nk)) = (c.kind, &c.natural_key) {
            unpaired_target.insert((c.resource, nk));
        }
    }
    let no_groups = HashMap::new();
    let source_groups = sides
        .source
        .get(&ResourceType::Groups)
        .unwrap_or(&no_groups);
    let target_groups = sides
        .target
        .get(&ResourceType::Groups)
        .unwrap_or(&no_groups);

    let mut ops = Vec::new();
    for c in &diff.changes {
        let t = c.resource;
        let op = match c.kind {
            ChangeKind::Added => {
                if !input.scope.admits(t, &c.id) {
                    continue;
                }
                let item = sides.source(t, Some(&c.id));
                let reason = skip_reason(t, item, source_groups)
                    .or_else(|| system::singleton(t).then_some(SkipReason::SystemObject))
                    .or_else(|| {
                        c.natural_key
                            .as_ref()
                            .filter(|nk| unpaired_target.contains(&(t, *nk)))
                            .map(|_| SkipReason::AmbiguousNaturalKey)
                    });
                Operation {
                    seq: 0,
                    action: if reason.is_some() {
                        Action::Skip
                    } else {
                        Action::Create
                    },
                    resource: t,
                    source_id: Some(c.id.clone()),
                    target_id: None,
                    natural_key: c.natural_key.clone(),
                    system: item.is_some_and(|i| system::is_system(t, i)),
                    fields: Vec::new(),
                    content: c.after.clone(),
                    reason,
                }
            }
            ChangeKind::Changed => {
                let source_id = c.after_id.clone().unwrap_or_else(|| c.id.clone());
                if !input.scope.admits(t, &source_id) {
                    continue;
                }
                let target = sides.target(t, Some(&c.id));
                let reason = skip_reason(t, target, target_groups)
                    .filter(|r| *r != SkipReason::SystemObject);
                Operation {
                    seq: 0,
                    action: if reason.is_some() {
                        Action::Skip
                    } else {
                        Action::Update
                    },
                    resource: t,
                    source_id: Some(source_id),
                    target_id: Some(c.id.clone()),
                    natural_key: c.natural_key.clone(),
                    system: target.is_some_and(|i| system::is_system(t, i)),
                    fields: c.fields.clone(),
                    content: None,
                    reason,
                }
            }
            ChangeKind::Removed => {
                if !input.scope.admits_target_only(t) {
                    continue;
                }
                let item = sides.target(t, Some(&c.id));
                let reason = skip_reason(t, item, target_groups)
                    .or_else(|| system::singleton(t).then_some(SkipReason::SystemObject))
                    .or((!input.options.delete_missing).then_some(SkipReason::OnlyInTarget));
                Operation {
                    seq: 0,
                    action: if reason.is_some() {
                        Action::Skip
                    } else {
                        Action::Delete
                    },
                    resource: t,
                    source_id: None,
                    target_id: Some(c.id.clone()),
                    natural_key: c.natural_key.clone(),
                    system: item.is_some_and(|i| system::is_system(t, i)),
                    fields: Vec::new(),
                    content: c.before.clone(),
                    reason,
                }
            }
        };
        ops.push(op);
    }

    // Order: by phase (deletes last, in reverse), then within the type.
    let policy_rank = |items: &HashMap<String, &Value>, id: &str| {
        items.get(id).map(|p| {
            (
                policy_type_rank(str_at(Some(p), "/type").unwrap_or_default()),
                p.get("priority")
                    .and_then(Value::as_i64)
                    .unwrap_or(i64::MAX),
            )
        })
    };
    let (sp, tp) = (
        sides
            .source
            .get(&ResourceType::Policies)
            .unwrap_or(&no_groups),
        sides
            .target
            .get(&ResourceType::Policies)
            .unwrap_or(&no_groups),
    );
    let item_of = |op: &Operation| match op.action {
        Action::Create => sides.source(op.resource, op.source_id.as_ref()),
        _ => sides
            .source(op.resource, op.source_id.as_ref())
            .or_else(|| sides.target(op.resource, op.target_id.as_ref())),
    };
    let mut keyed: Vec<_> = ops
        .into_iter()
        .map(|op| {
            let from_source = op.source_id.is_some();
            let lookup = |id: &str| {
                if from_source {
                    policy_rank(sp, id)
                } else {
                    policy_rank(tp, id)
                }
            };
            let r = rank(&op, item_of(&op), &lookup);
            let p = phase(op.resource);
            let delete = op.action == Action::Delete;
            let key = (
                delete,
                if delete { usize::MAX - p } else { p },
                r,
                op.natural_key.clone(),
                op.subject_id().map(str::to_string),
            );
            (key, op)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut operations: Vec<Operation> = keyed.into_iter().map(|(_, op)| op).collect();
    for (i, op) in operations.iter_mut().enumerate() {
        op.seq = i as u32 + 1;
    }

    // Counts, blast radius, not-restorable items, estimate, writes per type.
    let mut collector = Collector::default();
    for (id, app) in sides.target.get(&ResourceType::Apps).into_iter().flatten() {
        collector.app(id, app);
    }
    let tr_source = |t: ResourceType, id: &str| translate(&diff.ids, t, id);
    let mut tally = Tally::default();
    let mut writes: BTreeMap<ResourceType, u64> = BTreeMap::new();
    for op in &operations {
        let counts = summary.types.entry(op.resource).or_default();
        match op.action {
            Action::Create => counts.create += 1,
            Action::Update => counts.update += 1,
            Action::Skip => counts.skip += 1,
            Action::Delete => counts.delete += 1,
        }
        let source = sides.source(op.resource, op.source_id.as_ref());
        let target = sides.target(op.resource, op.target_id.as_ref());
        let missing = match (op.action, op.reason) {
            (Action::Create, _) | (Action::Skip, Some(SkipReason::NotRestorable)) => source
                .map(|s| manual::on_create(op.resource, s))
                .unwrap_or_default(),
            (Action::Update, _) => match (source, target) {
                (Some(s), Some(t)) => manual::on_update(op.resource, s, t),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        if op.action != Action::Skip {
            *writes.entry(op.resource).or_default() += 1;
            let app = match op.resource {
                ResourceType::Apps => op.subject_id().map(str::to_string),
                ResourceType::AppUserAssignments | ResourceType::AppGroupAssignments => {
                    let item = source.or(target);
                    str_at(item, "/appId").map(|a| {
                        if op.action == Action::Create {
                            tr_source(ResourceType::Apps, a)
                        } else {
                            a.to_string()
                        }
                    })
                }
                _ => None,
            };
            if let Some(app) = app {
                if op.action == Action::Create && op.resource == ResourceType::Apps {
                    if let Some(s) = source {
                        collector.app(&app, s);
                    }
                } else if let Some(s) =
                    sides.source(ResourceType::Apps, Some(&ResourceId::new(app.clone())))
                {
                    collector.app(&app, s);
                }
                collector.touch_app(&app);
            }
        }
        collector.note(op, blast::Sides { source, target }, &missing);
        tally.add(op, &estimate::requests(op, source, target));
    }
    for ts in &diff.summary.types {
        if let Some(c) = summary.types.get_mut(&ts.resource) {
            c.unchanged = ts.unchanged;
        }
    }

    // The lockout check: the admins' access now and after the plan.
    let identity = |_: ResourceType, id: &str| id.to_string();
    let mut now = Facts::default();
    for t in lockout::TYPES {
        for item in input.target.items(t).unwrap_or_default() {
            if let Some((k, f)) = lockout::fact(t, item, &identity) {
                now.insert(t, k, f);
            }
        }
    }
    let mut after = now.clone();
    for op in operations
        .iter()
        .filter(|op| lockout::TYPES.contains(&op.resource))
    {
        match op.action {
            Action::Create | Action::Update => {
                if let Some(target_id) = &op.target_id {
                    after.remove(op.resource, target_id.as_str());
                }
                let source = sides.source(op.resource, op.source_id.as_ref());
                if let Some((k, f)) = source.and_then(|s| lockout::fact(op.resource, s, &tr_source))
                {
                    after.insert(op.resource, k, f);
                }
            }
            Action::Delete => {
                if let Some(target_id) = &op.target_id {
                    after.remove(op.resource, target_id.as_str());
                }
            }
            Action::Skip => {}
        }
    }
    let lockout = lockout::check(&now, &after, input.restoring_admin);

    let mut ids: Vec<IdPair> = diff
        .ids
        .entries()
        .map(|(resource, source_id, target_id)| IdPair {
            resource,
            source_id: source_id.clone(),
            target_id: target_id.clone(),
        })
        .collect();
    ids.sort();
    let digest = hex::encode(Sha256::digest(canonical_bytes(
        &serde_json::to_value(&operations).expect("operations serialise"),
    )));
    Ok(Plan {
        operations,
        summary,
        ids,
        blast_radius: collector.finish(),
        lockout_overridden: input.options.override_lockout && lockout.verdict != Verdict::Clear,
        lockout,
        estimate: tally.finish(input.limits.clone()),
        access: access::check(input.credential, &writes),
        digest,
    })
}

/// A source id in the target's id space: the target's id of the object it restores, or
/// itself for an object the plan creates.
pub fn translate(ids: &IdMap, resource: ResourceType, id: &str) -> String {
    ids.translate(resource, id)
        .map(|t| t.as_str().to_string())
        .unwrap_or_else(|| id.to_string())
}
