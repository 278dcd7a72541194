//! Applying a plan: its operations, in the plan's order, as Okta writes through the paced
//! client, in bounded slices whose progress (the next operation, the ids Okta gave created
//! objects, every outcome) is checkpointed.
//!
//! **Never twice.** A create is the one write that is not idempotent, so before each one the
//! slice commits an *intent* (`in_flight`, with everything done so far). A slice killed after
//! that commit resumes at the same operation with the intent set, and first looks the object up
//! by its natural key (a group's name, a user's login): found, it is adopted (`reconciled`), not
//! created again. Every other write is idempotent (a full `PUT`, a user's partial update from
//! its current state, a membership `PUT`, a delete whose `404` means done), so what a killed
//! slice did after its last commit is simply done again. A create whose answer was lost in
//! transport or a 5xx is not retried blind: the job retries the slice, which reconciles.
//!
//! **References.** A create's content already names the target's objects where the target has
//! them (the planner rewrote it through the plan's id map); what is left are references to
//! objects the plan creates, resolved here through the ids Okta gave them (a new group's
//! membership names the new group).
//!
//! Writes exist for groups, users and group memberships; an operation on any other type is
//! recorded as `unsupported` (listed in the receipt as not restored), never guessed at.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::operation::{Action, Operation};
use super::plan::{IdPair, Plan};
use crate::drift::pointer::tokens;
use crate::drift::ResourceId;
use crate::okta::{OktaClient, OktaError, Window, WriteResponse};
use crate::ports::{Clock, Method};
use crate::snapshot::collect::CheckpointError;
use crate::tenant::ResourceType;

/// How one operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    /// A create interrupted before its answer was recorded, found in the target by natural
    /// key and adopted instead of created again.
    Reconciled,
    /// The target was already as planned (a delete of what is gone).
    AlreadyDone,
    /// The plan skips it (its reason is the plan's).
    Skipped,
    /// No write for this resource type is built: not restored.
    Unsupported,
    /// Okta refused it (`reason` is its error code).
    Failed,
}

/// One operation's outcome, as the receipt lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpOutcome {
    pub seq: u32,
    pub resource: ResourceType,
    pub action: Action,
    pub outcome: Outcome,
    /// The object's id in the target (a created object's new id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// Why it was not applied: Okta's error code, or one of the codes below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Counts for the API while the job runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub total: u32,
    pub done: u32,
    pub applied: u32,
    pub failed: u32,
    pub skipped: u32,
    pub unsupported: u32,
}

impl Progress {
    fn count(&mut self, outcome: Outcome) {
        self.done += 1;
        match outcome {
            Outcome::Applied | Outcome::Reconciled | Outcome::AlreadyDone => self.applied += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Unsupported => self.unsupported += 1,
        }
    }
}

/// What an apply checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplyState {
    /// Index of the next operation to run.
    #[serde(default)]
    pub next: usize,
    /// The `seq` of a create that may have been sent without its answer being recorded.
    #[serde(default)]
    pub in_flight: Option<u32>,
    /// Source id → the id Okta gave the object created for it.
    #[serde(default)]
    pub created: Vec<IdPair>,
    #[serde(default)]
    pub outcomes: Vec<OpOutcome>,
    /// Okta request ids of writes not yet recorded as Butterfly's.
    #[serde(default)]
    pub transactions: Vec<String>,
    /// The rate-limit windows seen, so the next slice paces from them.
    #[serde(default)]
    pub windows: BTreeMap<String, Window>,
    #[serde(default)]
    pub progress: Progress,
    /// When the last operation was done (fixed once, so a finishing successor agrees).
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// Where an apply's progress goes.
#[async_trait(?Send)]
pub trait ApplyCheckpoints {
    /// Records Okta request ids as Butterfly's own writes (before the state that drops them
    /// is committed; recording one twice is harmless).
    async fn record_writes(&self, transactions: &[String]) -> Result<(), CheckpointError>;
    /// Durably commits the state.
    async fn commit(&self, state: &ApplyState) -> Result<(), CheckpointError>;
}

/// A slice's bounds.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub deadline: DateTime<Utc>,
    pub max_operations: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Okta(#[from] OktaError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// How a slice ended.
#[derive(Debug)]
pub enum Sliced {
    /// The budget ran out; progress is committed.
    Paused,
    /// Every operation ran; the final state is committed.
    Finished(ApplyState),
}

/// Source id → target id: the plan's pairs, then the ids Okta gave created objects.
struct Ids(BTreeMap<(ResourceType, String), String>);

impl Ids {
    fn new(plan: &Plan, state: &ApplyState) -> Ids {
        let pairs = plan.ids.iter().chain(&state.created);
        Ids(pairs
            .map(|p| {
                (
                    (p.resource, p.source_id.as_str().to_string()),
                    p.target_id.as_str().to_string(),
                )
            })
            .collect())
    }

    /// The target's id of a source object: mapped, or its own (an object whose id is the same
    /// in both, or one a failed create never made, whose writes then fail visibly).
    fn target(&self, resource: ResourceType, source: &str) -> String {
        self.0
            .get(&(resource, source.to_string()))
            .cloned()
            .unwrap_or_else(|| source.to_string())
    }
}

/// What running one operation did.
struct Done {
    outcome: Outcome,
    target_id: Option<String>,
    reason: Option<String>,
    transactions: Vec<String>,
}

impl Done {
    fn new(outcome: Outcome, reason: Option<&str>) -> Done {
        Done {
            outcome,
            target_id: None,
            reason: reason.map(str::to_string),
            transactions: Vec::new(),
        }
    }

    /// After Okta's answers to the operation's writes (the last one decides).
    fn of(answers: Vec<WriteResponse>, target_id: Option<String>) -> Done {
        let transactions = answers
            .iter()
            .filter_map(|a| a.request_id.clone())
            .collect();
        let failed = answers.iter().find(|a| !a.ok());
        Done {
            outcome: if failed.is_some() {
                Outcome::Failed
            } else {
                Outcome::Applied
            },
            reason: failed.map(|a| a.error_code.clone().unwrap_or_else(|| a.status.to_string())),
            target_id,
            transactions,
        }
    }
}

/// Whether an operation of this type and action has a write here.
pub fn supported(resource: ResourceType, action: Action) -> bool {
    use ResourceType as T;
    match resource {
        T::Groups | T::Users | T::NetworkZones => action != Action::Skip,
        T::GroupMembers => matches!(action, Action::Create | Action::Delete),
        _ => false,
    }
}

/// Runs operations from `state` until they are all done or the budget runs out.
pub async fn apply_slice(
    okta: &OktaClient<'_>,
    clock: &dyn Clock,
    plan: &Plan,
    mut state: ApplyState,
    checkpoints: &dyn ApplyCheckpoints,
    budget: &Budget,
) -> Result<Sliced, ApplyError> {
    okta.restore_rate_windows(&state.windows);
    state.progress.total = plan.operations.len() as u32;
    let mut ids = Ids::new(plan, &state);
    let mut ran = 0u32;
    while let Some(op) = plan.operations.get(state.next) {
        if ran >= budget.max_operations || clock.now() >= budget.deadline {
            commit(okta, checkpoints, &mut state).await?;
            return Ok(Sliced::Paused);
        }
        let resumed = state.in_flight == Some(op.seq);
        if op.action == Action::Create && supported(op.resource, op.action) && !resumed {
            state.in_flight = Some(op.seq);
            commit(okta, checkpoints, &mut state).await?;
        }
        let done = run(okta, op, &ids, resumed).await?;
        if let (Action::Create, Some(target), Some(source)) =
            (op.action, &done.target_id, &op.source_id)
        {
            if target != source.as_str() {
                ids.0
                    .insert((op.resource, source.as_str().to_string()), target.clone());
                state.created.push(IdPair {
                    resource: op.resource,
                    source_id: source.clone(),
                    target_id: ResourceId::new(target.clone()),
                });
            }
        }
        state.transactions.extend(done.transactions);
        state.progress.count(done.outcome);
        state.outcomes.push(OpOutcome {
            seq: op.seq,
            resource: op.resource,
            action: op.action,
            outcome: done.outcome,
            target_id: done.target_id,
            reason: done.reason,
        });
        state.in_flight = None;
        state.next += 1;
        ran += 1;
    }
    if state.finished_at.is_none() {
        state.finished_at = Some(clock.now());
    }
    commit(okta, checkpoints, &mut state).await?;
    Ok(Sliced::Finished(state))
}

async fn commit(
    okta: &OktaClient<'_>,
    checkpoints: &dyn ApplyCheckpoints,
    state: &mut ApplyState,
) -> Result<(), CheckpointError> {
    if !state.transactions.is_empty() {
        checkpoints.record_writes(&state.transactions).await?;
        state.transactions.clear();
    }
    state.windows = okta.rate_windows();
    checkpoints.commit(state).await
}

fn text<'v>(v: Option<&'v Value>, ptr: &str) -> Option<&'v str> {
    v?.pointer(ptr)?.as_str()
}

fn path_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The two ids of a membership key (`<group>/<user>`).
fn pair(key: Option<&ResourceId>) -> Option<(&str, &str)> {
    key?.as_str().split_once('/')
}

/// Sets (or, with `None`, removes) the value at `pointer` inside `doc`, making objects on the
/// way. `false` when the pointer crosses something that is not an object.
fn put_at(doc: &mut Value, pointer: &str, value: Option<Value>) -> bool {
    let Ok(toks) = tokens(pointer) else {
        return false;
    };
    let Some((last, parents)) = toks.split_last() else {
        return false;
    };
    let mut at = doc;
    for t in parents {
        let Some(obj) = at.as_object_mut() else {
            return false;
        };
        at = obj
            .entry(t.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let Some(obj) = at.as_object_mut() else {
        return false;
    };
    match value {
        Some(v) => {
            obj.insert(last.clone(), v);
        }
        None => {
            obj.remove(last);
        }
    }
    true
}

/// The object with an update's field changes applied at their paths under `prefix` (what else
/// the update changes is returned by path, for the caller to act on or report).
fn changed(current: &Value, op: &Operation, prefix: &str) -> (Value, Vec<String>) {
    let mut doc = current.clone();
    let mut other = Vec::new();
    for f in &op.fields {
        let applied = f.path.starts_with(prefix)
            && !f.secret
            && f.members.is_none()
            && put_at(&mut doc, &f.path, f.after.clone());
        if !applied {
            other.push(f.path.clone());
        }
    }
    (doc, other)
}

/// The object with every field change of an update replayed onto it, arrays compared as sets
/// included (set to the source's whole array): for objects Okta replaces whole (`PUT`), whose
/// every field the plan compared. Secrets are not in a plan and are left as they are.
fn replayed(current: &Value, op: &Operation) -> Value {
    let mut doc = current.clone();
    for f in op.fields.iter().filter(|f| !f.secret) {
        put_at(&mut doc, &f.path, f.after.clone());
    }
    doc
}

/// Looks a created object up by its natural key (after an interrupted create).
async fn find_created(okta: &OktaClient<'_>, op: &Operation) -> Result<Option<String>, OktaError> {
    let content = op.content.as_ref();
    let id_of = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_string);
    match op.resource {
        ResourceType::Groups => {
            let Some(name) = text(content, "/profile/name") else {
                return Ok(None);
            };
            let found = okta
                .list_all(&format!(
                    "/api/v1/groups?q={}&limit=200",
                    path_segment(name)
                ))
                .await?;
            Ok(found
                .iter()
                .find(|g| g["type"] == "OKTA_GROUP" && text(Some(g), "/profile/name") == Some(name))
                .and_then(id_of))
        }
        ResourceType::Users => {
            let Some(login) = text(content, "/profile/login") else {
                return Ok(None);
            };
            match okta
                .get(&format!("/api/v1/users/{}", path_segment(login)))
                .await
            {
                Ok(user) => Ok(id_of(&user)),
                Err(OktaError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        }
        ResourceType::NetworkZones => {
            let Some(name) = text(content, "/name") else {
                return Ok(None);
            };
            let zones = okta.list_all("/api/v1/zones?limit=200").await?;
            Ok(zones
                .iter()
                .find(|z| text(Some(z), "/name") == Some(name))
                .and_then(id_of))
        }
        _ => Ok(None),
    }
}

/// A network zone as Okta's create and replace take it: the zone without what Okta owns (its
/// id, times, links, `system` flag) or sets through the lifecycle calls (`status`).
fn zone_body(zone: &Value) -> Value {
    let mut body = zone.clone();
    if let Some(fields) = body.as_object_mut() {
        for owned in ["id", "created", "lastUpdated", "_links", "system", "status"] {
            fields.remove(owned);
        }
    }
    body
}

/// The lifecycle call that moves a zone from status `from` to `to`, if one is needed.
fn zone_lifecycle(from: &str, to: &str) -> Option<&'static str> {
    match (from, to) {
        ("ACTIVE", "INACTIVE") => Some("deactivate"),
        ("INACTIVE", "ACTIVE") => Some("activate"),
        _ => None,
    }
}

/// Deactivates a user (idempotent: deactivating a deactivated user changes nothing).
async fn deactivate(okta: &OktaClient<'_>, id: &str) -> Result<WriteResponse, OktaError> {
    let path = format!("/api/v1/users/{}/lifecycle/deactivate", path_segment(id));
    okta.write(Method::Post, &path, None, true).await
}

/// A create's answer: the new object's id.
fn created(answer: WriteResponse) -> Done {
    let id = answer
        .body
        .as_ref()
        .and_then(|b| b.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Done::of(vec![answer], id)
}

/// GETs an object an update or delete acts on; `None` when it is gone.
async fn current(okta: &OktaClient<'_>, path: &str) -> Result<Option<Value>, OktaError> {
    match okta.get(path).await {
        Ok(v) => Ok(Some(v)),
        Err(OktaError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Okta's lifecycle call that moves a user from `from` towards `to`, if there is one.
fn lifecycle(from: &str, to: &str) -> Option<&'static str> {
    match (from, to) {
        (f, t) if f == t => None,
        (_, "DEPROVISIONED") => Some("deactivate"),
        ("SUSPENDED", _) => Some("unsuspend"),
        (_, "SUSPENDED") => Some("suspend"),
        ("DEPROVISIONED" | "STAGED", "ACTIVE" | "PROVISIONED") => Some("activate?sendEmail=false"),
        ("LOCKED_OUT", _) => Some("unlock"),
        _ => None,
    }
}

/// Runs one operation. Errors are the job's (a rejected credential, Okta unreachable, or a
/// create's lost answer); Okta refusing the write is the operation's outcome.
async fn run(
    okta: &OktaClient<'_>,
    op: &Operation,
    ids: &Ids,
    resumed: bool,
) -> Result<Done, OktaError> {
    use ResourceType as T;
    if op.action == Action::Skip {
        let reason = op
            .reason
            .and_then(|r| serde_json::to_value(r).ok())
            .and_then(|v| v.as_str().map(str::to_string));
        return Ok(Done::new(Outcome::Skipped, reason.as_deref()));
    }
    if !supported(op.resource, op.action) {
        return Ok(Done::new(Outcome::Unsupported, Some("no_write_for_type")));
    }
    let target = op.target_id.as_ref().map(ResourceId::as_str);
    let gone = || Done::new(Outcome::AlreadyDone, None);
    match (op.resource, op.action) {
        (T::Groups | T::Users, Action::Create) => {
            let content = op.content.clone().unwrap_or_default();
            // A deactivated user is created STAGED (no activation) and then deactivated.
            let deprovisioned =
                op.resource == T::Users && text(Some(&content), "/status") == Some("DEPROVISIONED");
            if resumed {
                if let Some(id) = find_created(okta, op).await? {
                    let mut done = Done::new(Outcome::Reconciled, None);
                    if deprovisioned {
                        let deactivated = deactivate(okta, &id).await?;
                        done.transactions.extend(deactivated.request_id);
                    }
                    done.target_id = Some(id);
                    return Ok(done);
                }
            }
            let profile = content.get("profile").cloned().unwrap_or_default();
            let answer = if op.resource == T::Groups {
                let body = json!({ "profile": profile });
                okta.write(Method::Post, "/api/v1/groups", Some(&body), false)
                    .await?
            } else {
                // Okta's states a restore can create in: STAGED, or activated (PROVISIONED
                // until the user sets a password, without an email from the restore).
                let staged = matches!(
                    text(Some(&content), "/status"),
                    Some("STAGED" | "DEPROVISIONED") | None
                );
                let body = json!({ "profile": profile });
                let path = format!("/api/v1/users?activate={}", !staged);
                okta.write(Method::Post, &path, Some(&body), false).await?
            };
            let done = created(answer);
            match (&done.target_id, deprovisioned) {
                (Some(id), true) if done.outcome == Outcome::Applied => {
                    let deactivated = deactivate(okta, id).await?;
                    let mut both = Done::of(vec![deactivated], Some(id.clone()));
                    both.transactions.splice(0..0, done.transactions);
                    Ok(both)
                }
                _ => Ok(done),
            }
        }
        (T::Groups, Action::Update) => {
            let id = target.unwrap_or_default();
            let path = format!("/api/v1/groups/{id}");
            let Some(now) = current(okta, &path).await? else {
                return Ok(Done::new(Outcome::Failed, Some("not_found")));
            };
            let (next, _) = changed(&now, op, "/profile/");
            let body = json!({ "profile": next["profile"] });
            let answer = okta.write(Method::Put, &path, Some(&body), true).await?;
            Ok(Done::of(vec![answer], Some(id.to_string())))
        }
        (T::Users, Action::Update) => {
            let id = target.unwrap_or_default();
            let path = format!("/api/v1/users/{id}");
            let Some(now) = current(okta, &path).await? else {
                return Ok(Done::new(Outcome::Failed, Some("not_found")));
            };
            let (next, _) = changed(&now, op, "/profile/");
            let mut answers = Vec::new();
            if next["profile"] != now["profile"] {
                let body = json!({ "profile": next["profile"] });
                answers.push(okta.write(Method::Post, &path, Some(&body), true).await?);
            }
            let status = |v: &Value| v["status"].as_str().unwrap_or_default().to_string();
            let wanted = op
                .fields
                .iter()
                .find(|f| f.path == "/status")
                .and_then(|f| f.after.as_ref())
                .and_then(Value::as_str);
            if let Some(to) = wanted {
                // From the state the user is in now, so doing it again after a kill is a no-op.
                if let Some(call) = lifecycle(&status(&now), to) {
                    let path = format!("{path}/lifecycle/{call}");
                    answers.push(okta.write(Method::Post, &path, None, true).await?);
                }
            }
            Ok(Done::of(answers, Some(id.to_string())))
        }
        (T::Groups | T::Users, Action::Delete) => {
            let id = target.unwrap_or_default();
            let path = if op.resource == T::Groups {
                format!("/api/v1/groups/{id}")
            } else {
                format!("/api/v1/users/{id}")
            };
            let Some(now) = current(okta, &path).await? else {
                return Ok(gone());
            };
            let mut answers = Vec::new();
            // Okta deletes a user only once deactivated.
            if op.resource == T::Users && now["status"] != "DEPROVISIONED" {
                let deactivate = format!("{path}/lifecycle/deactivate");
                answers.push(okta.write(Method::Post, &deactivate, None, true).await?);
            }
            let answer = okta.write(Method::Delete, &path, None, true).await?;
            if answer.status == 404 {
                return Ok(gone());
            }
            answers.push(answer);
            Ok(Done::of(answers, Some(id.to_string())))
        }
        (T::NetworkZones, Action::Create) => {
            let content = op.content.clone().unwrap_or_default();
            let found = if resumed {
                find_created(okta, op).await?
            } else {
                None
            };
            let (mut done, id) = match found {
                Some(id) => {
                    let mut done = Done::new(Outcome::Reconciled, None);
                    done.target_id = Some(id.clone());
                    (done, id)
                }
                None => {
                    let body = zone_body(&content);
                    let answer = okta
                        .write(Method::Post, "/api/v1/zones", Some(&body), false)
                        .await?;
                    let done = created(answer);
                    match (done.outcome, done.target_id.clone()) {
                        (Outcome::Applied, Some(id)) => (done, id),
                        _ => return Ok(done),
                    }
                }
            };
            // Okta creates a zone ACTIVE; one the backup held INACTIVE is deactivated after,
            // also when a resumed create finds the zone it made before the kill.
            if text(Some(&content), "/status") == Some("INACTIVE") {
                let path = format!("/api/v1/zones/{id}");
                if current(okta, &path)
                    .await?
                    .is_some_and(|z| z["status"] == "ACTIVE")
                {
                    let deactivate = format!("{path}/lifecycle/deactivate");
                    let answer = okta.write(Method::Post, &deactivate, None, true).await?;
                    let then = Done::of(vec![answer], Some(id));
                    done.transactions.extend(then.transactions);
                    if then.outcome == Outcome::Failed {
                        done.outcome = Outcome::Failed;
                        done.reason = then.reason;
                    }
                }
            }
            Ok(done)
        }
        (T::NetworkZones, Action::Update) => {
            let id = target.unwrap_or_default();
            let path = format!("/api/v1/zones/{id}");
            let Some(now) = current(okta, &path).await? else {
                return Ok(Done::new(Outcome::Failed, Some("not_found")));
            };
            let next = replayed(&now, op);
            let mut answers = Vec::new();
            if zone_body(&next) != zone_body(&now) {
                answers.push(
                    okta.write(Method::Put, &path, Some(&zone_body(&next)), true)
                        .await?,
                );
            }
            let status = |v: &Value| v["status"].as_str().unwrap_or_default().to_string();
            // From the status the zone is in now, so doing it again after a kill is a no-op.
            if let Some(call) = zone_lifecycle(&status(&now), &status(&next)) {
                let path = format!("{path}/lifecycle/{call}");
                answers.push(okta.write(Method::Post, &path, None, true).await?);
            }
            Ok(Done::of(answers, Some(id.to_string())))
        }
        (T::NetworkZones, Action::Delete) => {
            let id = target.unwrap_or_default();
            let path = format!("/api/v1/zones/{id}");
            let Some(now) = current(okta, &path).await? else {
                return Ok(gone());
            };
            let mut answers = Vec::new();
            // Identity Engine deletes only INACTIVE zones.
            if now["status"] == "ACTIVE" {
                let deactivate = format!("{path}/lifecycle/deactivate");
                answers.push(okta.write(Method::Post, &deactivate, None, true).await?);
            }
            let answer = okta.write(Method::Delete, &path, None, true).await?;
            if answer.status == 404 {
                return Ok(gone());
            }
            answers.push(answer);
            Ok(Done::of(answers, Some(id.to_string())))
        }
        (T::GroupMembers, Action::Create | Action::Delete) => {
            let (group, user) = if op.action == Action::Create {
                let Some((g, u)) = pair(op.source_id.as_ref()) else {
                    return Ok(Done::new(Outcome::Failed, Some("malformed_key")));
                };
                (ids.target(T::Groups, g), ids.target(T::Users, u))
            } else {
                let Some((g, u)) = pair(op.target_id.as_ref()) else {
                    return Ok(Done::new(Outcome::Failed, Some("malformed_key")));
                };
                (g.to_string(), u.to_string())
            };
            let path = format!("/api/v1/groups/{group}/users/{user}");
            let method = if op.action == Action::Create {
                Method::Put
            } else {
                Method::Delete
            };
            let answer = okta.write(method, &path, None, true).await?;
            if op.action == Action::Delete && answer.status == 404 {
                return Ok(gone());
            }
            Ok(Done::of(vec![answer], Some(format!("{group}/{user}"))))
        }
        _ => Ok(Done::new(Outcome::Unsupported, Some("no_write_for_type"))),
    }
}
