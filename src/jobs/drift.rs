//! The drift check: live change capture from the Okta System Log, one connection per message.
//!
//! The `*/5` cron ([`fan_out`]) queues the connections whose own interval (default 15 minutes)
//! is due; the database moves each on as it hands it out. A check holds the lease on the
//! connection's long-lived checkpoint (`job_checkpoints`, kind `drift_check`, id = the
//! connection; it keeps the Okta rate windows between invocations), polls the System Log from
//! the stored cursor one page at a time, captures what each page changed
//! (`drift::capture::capture`) as a sealed delta under the base backup, and records the
//! capture, its alerts and notifications and the cursor after the page in one transaction that
//! only commits from the state it read. A check killed anywhere re-reads the page from the
//! committed cursor and records it once; a check racing another records nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::lease::Lease;
use super::{FanOut, Job, Next, Ran};
use crate::crypto::version_hash::VersionHashKey;
use crate::drift::canonical::canonical_bytes;
use crate::drift::capture::alerts::{dedup_key, default_rules, evaluate, AlertRule, Severity};
use crate::drift::capture::delta::{open_delta, write_delta, DeltaHeader, DeltaManifest, DeltaRef};
use crate::drift::capture::poll::{poll_page, Start, PAGE_LIMIT};
use crate::drift::capture::{capture, Baseline, Capture, CaptureError};
use crate::drift::Normaliser;
use crate::email::messages::Notification;
use crate::ids::{BackupId, ConnectionId, DriftAlertId, DriftCaptureId, TeamId};
use crate::okta::{OktaClient, OktaError, OrgDomain, Window};
use crate::services::audit::{Actor, Event, RequestMeta};
use crate::services::downloads::read_snapshot;
use crate::services::okta_auth::open_okta_auth;
use crate::services::tenant_keys::snapshot_key;
use crate::services::{Deps, Privileged, ServiceError};
use crate::snapshot::SnapshotLayout;
use crate::store::{
    Attribution, AuthType, DriftAdvance, DriftCaptureRow, JobKey, NewDriftAlert, NewVersion,
    RecordedCapture, VersionSource, VersionState, DRIFT_ERROR_PREFIX,
};

/// The checkpoint kind of drift checks.
pub const KIND: &str = "drift_check";
/// System Log pages one invocation reads at most before it sends itself on.
pub const MAX_PAGES: u32 = 5;
/// Connections one cron run queues at most (the rest are due at the next run).
const FAN_OUT_LIMIT: u32 = 1000;
/// Changes kept, with their field diffs, in a capture's summary (its counts cover all).
const SUMMARY_CHANGES: usize = 500;
/// Events an alert names as its attribution.
const ALERT_ATTRIBUTION: usize = 20;
const JOB: Actor = Actor::System("drift-check");
const CHECK_FAILED: &str = "drift.check_failed";

/// One connection's drift check: the queue message the cron sends (and a check with a backlog
/// sends again).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftCheckJob {
    pub team: TeamId,
    pub connection: ConnectionId,
    pub meta: RequestMeta,
}

/// What the checkpoint keeps between invocations.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CheckState {
    /// The System Log bucket's window, so the next check does not overrun it.
    #[serde(default)]
    pub rate_windows: BTreeMap<String, Window>,
}

/// The drift cron: one job per connection whose check is due.
pub async fn fan_out(sys: &Privileged<'_>) -> Result<FanOut, ServiceError> {
    let due = sys.stores().drift_due(FAN_OUT_LIMIT).await?;
    Ok(FanOut {
        jobs: due
            .into_iter()
            .map(|d| {
                Job::DriftCheck(DriftCheckJob {
                    team: d.team_id,
                    connection: d.connection_id,
                    meta: sys.meta().clone(),
                })
            })
            .collect(),
        ..FanOut::default()
    })
}

/// What one invocation did, for the log.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    pub outcome: &'static str,
    pub pages: u32,
    pub events: u32,
    pub captures: u32,
    pub changes: u32,
    pub alerts: u32,
    pub rereads: u32,
    /// A full page was the last one read: more events wait.
    pub backlog: bool,
    pub okta_buckets: Value,
}

/// Why a check stopped.
enum Failure {
    /// The credential or its permissions: noted on the connection until a later check works.
    Connection(String),
    /// Anything else: the next due check tries again from the committed cursor.
    Transient(String),
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Failure {
        Failure::Transient(e.to_string())
    }
}

impl From<crate::store::DbError> for Failure {
    fn from(e: crate::store::DbError) -> Failure {
        Failure::Transient(e.to_string())
    }
}

impl From<CaptureError> for Failure {
    fn from(e: CaptureError) -> Failure {
        match e {
            CaptureError::Okta(e) => e.into(),
            other => Failure::Transient(other.to_string()),
        }
    }
}

impl From<OktaError> for Failure {
    fn from(e: OktaError) -> Failure {
        match e {
            e @ (OktaError::Unauthorized { .. } | OktaError::Forbidden { .. }) => {
                Failure::Connection(e.to_string())
            }
            other => Failure::Transient(other.to_string()),
        }
    }
}

/// Runs one invocation of a connection's check.
pub async fn run(deps: &Deps<'_>, job: &DriftCheckJob) -> Ran {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    let mut report = CheckReport::default();
    let result = check(&sys, job, &mut report).await;
    let mut log = serde_json::to_value(&report).unwrap_or_default();
    let next = match result {
        Ok(()) if report.backlog => Next::Resend(0),
        Ok(()) => Next::Ack,
        Err(Failure::Connection(reason)) => {
            let audit = sys.audit(Event {
                team: job.team,
                action: CHECK_FAILED,
                target_type: "okta_connection",
                target_id: job.connection.to_string(),
                details: json!({"reason": reason}),
            });
            let note = format!("{DRIFT_ERROR_PREFIX}{reason}");
            if let Err(e) = sys
                .stores()
                .note_connection_error(job.connection, &note, &audit)
                .await
            {
                log["mark_error"] = e.to_string().into();
            }
            log["error"] = reason.into();
            Next::Ack
        }
        // The cron runs again within minutes, from the committed cursor.
        Err(Failure::Transient(reason)) => {
            log["error"] = reason.into();
            Next::Ack
        }
    };
    Ran { next, log }
}

async fn check(
    sys: &Privileged<'_>,
    job: &DriftCheckJob,
    report: &mut CheckReport,
) -> Result<(), Failure> {
    let deps = sys.deps;
    let key = JobKey {
        kind: KIND,
        id: job.connection.as_uuid(),
    };
    let Some(lease) = Lease::<CheckState>::claim(sys.stores(), key, deps.rng).await? else {
        report.outcome = "busy";
        return Ok(());
    };
    let result = check_under(sys, job, &lease, report).await;
    // A lost lease means a successor carries on; nothing of this invocation is left to keep.
    let _ = lease.release().await;
    result
}

async fn check_under(
    sys: &Privileged<'_>,
    job: &DriftCheckJob,
    lease: &Lease<'_, CheckState>,
    report: &mut CheckReport,
) -> Result<(), Failure> {
    let deps = sys.deps;
    let stores = sys.stores();
    let Some(conn) = stores
        .connection_secret(job.connection)
        .await?
        .filter(|c| c.team_id == job.team && c.auth_type == AuthType::ApiToken)
    else {
        report.outcome = "connection_gone";
        return Ok(());
    };
    let Some(state) = stores.drift_state(job.connection).await? else {
        report.outcome = "no_settings";
        return Ok(());
    };
    let Some(base) = stores.latest_complete_backup(job.connection).await? else {
        report.outcome = "no_backup";
        return Ok(());
    };
    let org = OrgDomain::parse(&conn.org_domain, deps.config.okta_domains)
        .map_err(|_| Failure::Connection("the org domain is no longer allowed".into()))?;
    let auth = open_okta_auth(sys, &conn, &org).await?;
    let okta = OktaClient::new(deps.http, deps.clock, deps.rng, &org, auth);
    let mut kept = lease.state();
    okta.restore_rate_windows(&kept.rate_windows);
    let snapshot_key = snapshot_key(sys, job.team, base.id, job.connection).await?;
    let reader = read_snapshot(sys, deps.store, &base).await?;
    let layout = SnapshotLayout::from_prefix(&base.r2_prefix);
    let owner = (
        base.id.to_string(),
        job.team.to_string(),
        job.connection.to_string(),
    );
    // Captures chain to the latest complete backup; a newer one starts a new chain.
    let same_base = state.base_backup_id == Some(base.id);
    let mut deltas: Vec<DeltaManifest> = Vec::new();
    if same_base {
        for row in stores.drift_captures_of(base.id).await? {
            let delta = DeltaRef {
                seq: row.seq,
                manifest_sha256: row.manifest_sha256,
            };
            let owner = (owner.0.as_str(), owner.1.as_str(), owner.2.as_str());
            deltas.push(
                open_delta(deps.store, &layout, owner, &delta)
                    .await
                    .map_err(|e| Failure::Transient(e.to_string()))?,
            );
        }
    }
    let rules = state.rules.clone().unwrap_or_else(default_rules);
    let mut from = Stood {
        cursor: state.cursor.clone(),
        base: state.base_backup_id,
        seq: state.last_seq,
    };
    let mut seq = if same_base { state.last_seq } else { 0 };
    report.outcome = "caught_up";
    for _ in 0..MAX_PAGES {
        let start = match &from.cursor {
            Some(link) => Start::Next(link.clone()),
            None => Start::Since(base.started_at),
        };
        let url = start.url(&okta, deps.clock.now());
        let polled = poll_page(&okta, &url).await?;
        report.pages += 1;
        report.events += polled.events.len() as u32;
        let full = polled.events.len() as u32 >= PAGE_LIMIT;
        let mut advance = DriftAdvance {
            connection_id: job.connection,
            from_cursor: from.cursor.clone(),
            from_base: from.base,
            from_seq: from.seq,
            cursor: polled.next.clone(),
            base_backup_id: base.id,
            seq,
        };
        let mut recorded = None;
        if !polled.events.is_empty() {
            let transactions: Vec<String> = polled
                .events
                .iter()
                .filter_map(|e| e.transaction.as_ref().and_then(|t| t.id.clone()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let ours: BTreeSet<String> = stores
                .butterfly_writes(job.connection, &transactions)
                .await?
                .into_iter()
                .collect();
            let baseline = Baseline {
                store: deps.store,
                base: &reader,
                key: &snapshot_key,
                deltas: &deltas,
            };
            let captured = capture(&okta, &baseline, &polled.events, &ours).await?;
            report.rereads += captured.rereads as u32;
            if !captured.changes.is_empty() {
                advance.seq = seq + 1;
                let (first, last) = covered(&polled.events);
                let header = DeltaHeader {
                    backup_id: owner.0.clone(),
                    team_id: owner.1.clone(),
                    connection_id: owner.2.clone(),
                    seq: advance.seq,
                    covers_from: first.to_rfc3339_opts(SecondsFormat::Millis, true),
                    covers_to: last.to_rfc3339_opts(SecondsFormat::Millis, true),
                    events: polled.events.len() as u32,
                };
                let (manifest, sha) = write_delta(
                    deps.store,
                    deps.seal,
                    &snapshot_key,
                    deps.rng,
                    &layout,
                    header,
                    &captured.items,
                )
                .await
                .map_err(|e| Failure::Transient(e.to_string()))?;
                let row = capture_row(job, base.id, &manifest, (first, last), &captured, sha, deps);
                let alerts = alerts_for(&rules, &captured, &conn.org_domain, job, deps);
                let versions = capture_versions(deps, job, &row, &captured, base.started_at);
                recorded = Some((row, alerts, versions, manifest));
            }
        }
        let moved = advance.cursor != from.cursor.clone().unwrap_or_default()
            || from.base != Some(base.id)
            || recorded.is_some();
        // The last page is recorded even when it moved nothing, so every finished check leaves
        // its time (`last_checked_at`: "checked, nothing changed" is what admins look for).
        if moved || !full {
            let ok = match &recorded {
                Some((row, alerts, versions, _)) => {
                    let audit = sys.audit(Event {
                        team: job.team,
                        action: "drift.capture",
                        target_type: "okta_connection",
                        target_id: job.connection.to_string(),
                        details: json!({"capture_id": row.id, "backup_id": base.id, "seq": row.seq,
                            "changes": row.changes, "events": row.events, "counts": row.counts,
                            "alerts": alerts.len()}),
                    });
                    let capture = RecordedCapture {
                        row,
                        alerts,
                        versions,
                    };
                    stores
                        .record_drift(&advance, Some(capture), Some(&audit))
                        .await?
                }
                None => stores.record_drift(&advance, None, None).await?,
            };
            if !ok {
                // Another check moved this connection on: it has this page.
                report.outcome = "superseded";
                break;
            }
        }
        if let Some((row, alerts, _, manifest)) = recorded {
            report.captures += 1;
            report.changes += row.changes;
            report.alerts += alerts.len() as u32;
            deltas.push(manifest);
            seq = advance.seq;
        }
        from = Stood {
            cursor: Some(advance.cursor.clone()),
            base: Some(base.id),
            seq: advance.seq,
        };
        kept.rate_windows = okta.rate_windows();
        if lease.commit(&kept).await.is_err() {
            report.outcome = "superseded";
            break;
        }
        report.backlog = full;
        if !full {
            break;
        }
    }
    report.okta_buckets = serde_json::to_value(okta.stats()).unwrap_or_default();
    Ok(())
}

/// Where the connection's check stood: what a record must still find to commit.
struct Stood {
    cursor: Option<String>,
    base: Option<BackupId>,
    seq: u32,
}

fn covered(
    events: &[crate::drift::capture::events::LogEvent],
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let first = events.iter().map(|e| e.published).min().unwrap_or_default();
    let last = events.iter().map(|e| e.published).max().unwrap_or_default();
    (first, last)
}

/// The capture's row for the delta just written.
fn capture_row(
    job: &DriftCheckJob,
    base: BackupId,
    delta: &DeltaManifest,
    (first, last): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    captured: &Capture,
    manifest_sha256: String,
    deps: &Deps<'_>,
) -> DriftCaptureRow {
    let mut counts = Map::new();
    for c in &captured.changes {
        let n = counts
            .entry(c.change.resource.as_str().to_string())
            .or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
    }
    let summary: Vec<Value> = captured
        .changes
        .iter()
        .take(SUMMARY_CHANGES)
        .map(|c| {
            let mut v = serde_json::to_value(&c.change).unwrap_or_default();
            v["attribution"] = serde_json::to_value(&c.attribution).unwrap_or_default();
            v
        })
        .collect();
    DriftCaptureRow {
        id: DriftCaptureId::generate(deps.rng),
        team_id: job.team,
        connection_id: job.connection,
        backup_id: base,
        seq: delta.seq,
        covers_from: first,
        covers_to: last,
        events: delta.events,
        changes: captured.changes.len() as u32,
        counts: Value::Object(counts),
        manifest_sha256,
        summary: Value::Array(summary),
        created_at: deps.clock.now(),
    }
}

/// The capture's entries in the version index: each changed resource's new state as item
/// `position` of its type's object in the delta (a removal has none), hashed as backup indexing
/// hashes (`jobs::resource_index`), so the next backup records nothing for a resource it finds
/// as captured. A version is attributed to the last event that touched the resource and dated
/// by it (the capture's last event if none is known), but never before its base backup began:
/// the version follows the base's in the history (an event polled late can predate the base
/// when a newer backup started the chain).
fn capture_versions(
    deps: &Deps<'_>,
    job: &DriftCheckJob,
    row: &DriftCaptureRow,
    captured: &Capture,
    base_started: chrono::DateTime<chrono::Utc>,
) -> Vec<NewVersion> {
    let (key_id, secret) = deps.config.snapshot_secret.active();
    let hasher = VersionHashKey::derive(secret, &job.team.to_string(), &job.connection.to_string());
    let mut out = Vec::new();
    for (resource, items) in &captured.items {
        let n = Normaliser::of(*resource);
        for (position, item) in items.iter().enumerate() {
            let last = item.attribution.last();
            let (state, content_hash, position) = match &item.item {
                Some(value) => (
                    VersionState::Present,
                    Some(hasher.hash(&canonical_bytes(&n.content(value.clone(), None)))),
                    Some(position as u32),
                ),
                None => (VersionState::Removed, None, None),
            };
            out.push(NewVersion {
                team_id: job.team,
                connection_id: job.connection,
                resource_type: *resource,
                resource_id: item.key.clone(),
                state,
                content_hash,
                hash_key: key_id.to_string(),
                source: VersionSource::Capture {
                    capture_id: row.id.as_uuid(),
                },
                position,
                captured_at: last
                    .map_or(row.covers_to, |a| a.published)
                    .max(base_started),
                attribution: last
                    .map(|a| Attribution {
                        actor_id: a.actor_id.clone(),
                        actor_type: a.actor_type.clone(),
                        actor_display_name: a.actor_display_name.clone(),
                        client_ip: a.client_ip.clone(),
                        user_agent: a.user_agent.clone(),
                        transaction_id: a.transaction_id.clone(),
                        event_type: Some(a.event_type.clone()),
                    })
                    .unwrap_or_default(),
            });
        }
    }
    out
}

/// The alerts a capture raises under the connection's rules: none for a change every event
/// of which Butterfly recorded as its own write.
fn alerts_for(
    rules: &[AlertRule],
    captured: &Capture,
    org_domain: &str,
    job: &DriftCheckJob,
    deps: &Deps<'_>,
) -> Vec<NewDriftAlert> {
    use crate::drift::capture::events::Origin;
    let mut out = Vec::new();
    for c in &captured.changes {
        let ours = !c.attribution.is_empty()
            && c.attribution.iter().all(|a| a.origin == Origin::Butterfly);
        if ours {
            continue;
        }
        let Some(rule) = evaluate(rules, &c.change, c.content.as_ref()) else {
            continue;
        };
        let id = DriftAlertId::generate(deps.rng);
        let notification = Notification::DriftAlert {
            org_domain: org_domain.to_string(),
            changes: 1,
            high_severity: u64::from(rule.severity == Severity::High),
            report_url: format!(
                "{}/connections/{}/drift?alert={id}",
                deps.config.app_url.trim_end_matches('/'),
                job.connection
            ),
        };
        out.push(NewDriftAlert {
            id,
            dedup_key: dedup_key(c.change.resource, c.change.id.as_str(), &rule.id),
            resource_type: c.change.resource.as_str().to_string(),
            resource_id: c.change.id.as_str().chars().take(300).collect(),
            kind: serde_json::to_value(c.change.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_string))
                .unwrap_or_default(),
            severity: rule.severity,
            rule_id: rule.id.clone(),
            fields: c.change.fields.iter().map(|f| f.path.clone()).collect(),
            attribution: serde_json::to_value(
                c.attribution
                    .iter()
                    .take(ALERT_ATTRIBUTION)
                    .collect::<Vec<_>>(),
            )
            .unwrap_or_default(),
            notification: serde_json::to_value(&notification).unwrap_or_default(),
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::authz::matrix::Role;
    use crate::drift::capture::events::tests::spec_event;
    use crate::services::drift::{self as uses, Transition};
    use crate::store::{AlertStatus, BackupStatus};
    use crate::testing::json_response;
    use crate::testing::world::World;
    use futures::executor::block_on;

    const NEXT: &str = "https://acme.okta.com/api/v1/logs?after=1772366400000_7&limit=1000";

    fn target(kind: &str, id: &str) -> Value {
        json!({"id": id, "type": kind, "alternateId": "unknown", "displayName": id,
               "detailEntry": null})
    }

    fn event(uuid: &str, event_type: &str, targets: Value, transaction: &str) -> Value {
        let mut e = spec_event(event_type, targets);
        e["uuid"] = json!(uuid);
        e["client"]["ipAddress"] = json!("203.0.113.7");
        e["actor"]["displayName"] = json!("Mallory Admin");
        e["transaction"]["id"] = json!(transaction);
        e
    }

    fn answer(world: &World, prefix: &str, status: u16, body: Value, next: Option<&str>) {
        let link = next.map(|n| format!("<{n}>; rel=\"next\""));
        let headers: Vec<(&str, &str)> = link.iter().map(|l| ("link", l.as_str())).collect();
        world
            .okta_answers
            .borrow_mut()
            .push((prefix.to_string(), json_response(status, &body, &headers)));
    }

    fn zone(name: &str) -> Value {
        json!({"id": "nzo1", "type": "IP", "name": name, "status": "ACTIVE", "usage": "POLICY",
               "gateways": [{"type": "CIDR", "value": "203.0.113.0/24"}]})
    }

    /// A backed-up (empty) org in which an admin then created a user and a network zone (the
    /// guidance tests explain the alert it raises).
    pub(crate) fn changed_org(world: &World) -> (ConnectionId, crate::ids::UserId) {
        let owner = world.user();
        let (connection, backup) = world.backed_up(owner);
        assert_eq!(backup.status, BackupStatus::Complete);
        let page = json!([
            event(
                "e1",
                "user.lifecycle.create",
                json!([target("User", "00u1")]),
                "t1"
            ),
            event(
                "e2",
                "zone.create",
                json!([target("NetworkZone", "nzo1")]),
                "t2"
            ),
            event("e3", "user.session.start", Value::Null, "t3"),
        ]);
        answer(world, "/api/v1/logs?since=", 200, page, Some(NEXT));
        answer(world, "/api/v1/logs?after=", 200, json!([]), Some(NEXT));
        answer(
            world,
            "/api/v1/users/00u1",
            200,
            json!({"id": "00u1", "status": "ACTIVE", "profile": {"login": "new@example.com"}}),
            None,
        );
        answer(world, "/api/v1/zones/nzo1", 200, zone("Anywhere"), None);
        (connection, owner)
    }

    pub(crate) fn cron(world: &World) -> Value {
        let log = block_on(super::super::scheduled(
            world.deps,
            &world.deps.config.drift_cron,
        ));
        world.drain_queue();
        log
    }

    #[test]
    fn a_check_captures_attributed_changes_alerts_once_and_keeps_its_cursor() {
        let world = World::new();
        let (connection, owner) = changed_org(&world);
        let log = cron(&world);
        assert_eq!(log["event"], "scheduled.drift_checks");
        assert_eq!(log["queued"], 1, "{log}");
        let captures = world.db.drift_captures();
        assert_eq!(captures.len(), 1);
        let capture = &captures[0];
        assert_eq!((capture.seq, capture.events, capture.changes), (1, 3, 2));
        assert_eq!(capture.counts, json!({"users": 1, "network_zones": 1}));
        let zone_change = &capture.summary[1];
        assert_eq!(zone_change["resource"], "network_zones");
        assert_eq!(zone_change["kind"], "added");
        assert_eq!(zone_change["attribution"][0]["client_ip"], "203.0.113.7");
        assert_eq!(
            zone_change["attribution"][0]["actor_display_name"],
            "Mallory Admin"
        );
        assert_eq!(zone_change["attribution"][0]["transaction_id"], "t2");
        // The delta lies under the base backup's prefix.
        let base = &world.db.backups()[0];
        let delta = format!("{}deltas/000001/delta.json", base.r2_prefix);
        assert!(world.objects.objects.borrow().contains_key(&delta));
        // A new network zone is high; a new user raises nothing by default.
        let alerts = world.db.drift_alerts();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].resource_type, "network_zones");
        assert_eq!(alerts[0].severity, Severity::High);
        assert_eq!(alerts[0].status, AlertStatus::Open);
        let outbox = world.db.outbox();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].key, format!("drift:{}:{owner}", alerts[0].id));
        let payload = outbox[0]
            .payload
            .as_ref()
            .expect("a pending row keeps its payload");
        assert_eq!(payload["kind"], "drift_alert");
        assert_eq!(payload["high_severity"], 1);
        assert_eq!(
            world.db.drift_cursor(connection),
            Some((Some(NEXT.to_string()), Some(base.id), 1))
        );
        assert_eq!(world.db.actions(), ["drift.capture"]);

        // Not due again yet: nothing is queued.
        assert_eq!(cron(&world)["queued"], 0);
        // Due: the stored link is polled, finds nothing new, records nothing.
        world.db.drift_due_now();
        assert_eq!(cron(&world)["queued"], 1);
        assert_eq!(world.db.drift_captures().len(), 1);
        assert_eq!(world.db.drift_alerts().len(), 1);
        let polled: Vec<String> = world
            .http
            .requests
            .borrow()
            .iter()
            .filter(|r| r.url.contains("/api/v1/logs"))
            .map(|r| r.url.clone())
            .collect();
        assert_eq!(polled.len(), 2);
        assert!(polled[0].contains("since=") && polled[0].contains("sortOrder=ASCENDING"));
        assert_eq!(polled[1], NEXT, "the next link, unchanged");

        // The zone changes again while its alert is open: one more occurrence, no new email.
        answer(
            &world,
            "/api/v1/logs?after=",
            200,
            json!([event(
                "e4",
                "zone.update",
                json!([target("NetworkZone", "nzo1")]),
                "t4"
            )]),
            Some(NEXT),
        );
        answer(&world, "/api/v1/zones/nzo1", 200, zone("Everywhere"), None);
        world.db.drift_due_now();
        cron(&world);
        assert_eq!(world.db.drift_captures().len(), 2);
        let alerts = world.db.drift_alerts();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].occurrences, 2);
        assert_eq!(alerts[0].attribution[0]["event_uuid"], "e4");
        assert_eq!(world.db.outbox().len(), 1);
    }

    fn okta_user(status: &str, title: &str) -> Value {
        json!({"id": "00u1", "status": status, "lastLogin": "2026-02-01T00:00:00.000Z",
               "profile": {"login": "ann@example.com", "title": title},
               "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}}})
    }

    /// One page with one event on user `00u1`, published at `at`, and the user as re-read.
    fn user_changed(world: &World, uuid: &str, event_type: &str, at: &str, now: Value) {
        let mut e = event(uuid, event_type, json!([target("User", "00u1")]), uuid);
        e["published"] = json!(at);
        answer(world, "/api/v1/logs?", 200, json!([e]), Some(NEXT));
        answer(world, "/api/v1/users/00u1", 200, now, None);
        world.db.drift_due_now();
        cron(world);
        answer(world, "/api/v1/logs?", 200, json!([]), Some(NEXT));
    }

    fn fields(change: &crate::services::resource_history::Change) -> Value {
        use crate::services::resource_history::Change;
        match change {
            Change::Changed { fields } => serde_json::to_value(fields).unwrap(),
            other => panic!("not a change: {other:?}"),
        }
    }

    #[test]
    fn captured_versions_join_the_history_between_backups_with_their_attribution() {
        use crate::services::resource_history::{history, Change};
        use crate::store::VersionSource;
        use crate::tenant::ResourceType;
        let world = World::new();
        let owner = world.user();
        *world.okta_users.borrow_mut() = vec![okta_user("ACTIVE", "Engineer")];
        let (connection, _) = world.backed_up(owner);
        user_changed(
            &world,
            "e1",
            "user.account.update_profile",
            "2026-03-01T12:10:00.000Z",
            okta_user("ACTIVE", "Director"),
        );
        user_changed(
            &world,
            "e2",
            "user.lifecycle.suspend",
            "2026-03-01T12:20:00.000Z",
            okta_user("SUSPENDED", "Director"),
        );
        assert_eq!(world.db.drift_captures().len(), 2);
        // Changed again without an event the check saw: the next backup records it.
        world.okta_answers.borrow_mut().clear();
        *world.okta_users.borrow_mut() = vec![okta_user("SUSPENDED", "VP")];
        world.back_up_again(owner, connection);

        let h = block_on(history(
            &world.caller(owner),
            connection,
            ResourceType::Users,
            "00u1",
            None,
            10,
        ))
        .unwrap();
        let sources: Vec<&str> = (h.versions.iter())
            .map(|v| match v.version.source {
                VersionSource::Backup { .. } => "backup",
                VersionSource::Capture { .. } => "capture",
            })
            .collect();
        assert_eq!(sources, ["backup", "capture", "capture", "backup"]);
        assert!(matches!(h.versions[0].change, Change::Initial { .. }));
        assert_eq!(
            fields(&h.versions[1].change),
            json!([{"path": "/profile/title", "op": "modified", "before": "Engineer",
                    "after": "Director"}])
        );
        assert_eq!(
            fields(&h.versions[2].change),
            json!([{"path": "/status", "op": "modified", "before": "ACTIVE",
                    "after": "SUSPENDED"}])
        );
        assert_eq!(
            fields(&h.versions[3].change),
            json!([{"path": "/profile/title", "op": "modified", "before": "Director",
                    "after": "VP"}])
        );
        let suspended = &h.versions[2].version;
        assert_eq!(
            suspended.captured_at.to_rfc3339(),
            "2026-03-01T12:20:00+00:00"
        );
        let by = &suspended.attribution;
        assert_eq!(by.actor_display_name.as_deref(), Some("Mallory Admin"));
        assert_eq!(by.client_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(by.transaction_id.as_deref(), Some("e2"));
        assert_eq!(by.event_type.as_deref(), Some("user.lifecycle.suspend"));
        assert!(by.user_agent.is_some() && by.actor_id.is_some());
        assert_eq!(h.versions[3].version.attribution, Default::default());

        // Paged one version at a time, every diff is the same (a page's base may be a capture).
        let whole: Vec<Value> = (h.versions.iter())
            .map(|v| serde_json::to_value(&v.change).unwrap())
            .collect();
        let mut cursor = None;
        let mut paged = Vec::new();
        loop {
            let page = block_on(history(
                &world.caller(owner),
                connection,
                ResourceType::Users,
                "00u1",
                cursor.as_deref(),
                1,
            ))
            .unwrap();
            paged.extend((page.versions.iter()).map(|v| serde_json::to_value(&v.change).unwrap()));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(paged, whole);
    }

    #[test]
    fn a_finished_check_clears_the_error_a_refused_check_noted_and_only_that() {
        let world = World::new();
        let (connection, owner) = changed_org(&world);
        let refused = json!({"errorCode": "E0000011", "errorSummary": "Invalid token provided",
                             "errorLink": "E0000011", "errorId": "x", "errorCauses": []});
        answer(&world, "/api/v1/logs?since=", 401, refused, None);
        cron(&world);
        let noted = world.db.connection_error(connection).expect("noted");
        assert!(noted.starts_with(DRIFT_ERROR_PREFIX), "{noted}");
        assert_eq!(world.db.actions(), [CHECK_FAILED]);
        assert!(world.db.drift_captures().is_empty());

        // The token works again: the next check finishes and the note is gone.
        answer(&world, "/api/v1/logs?since=", 200, json!([]), Some(NEXT));
        world.db.drift_due_now();
        cron(&world);
        assert_eq!(world.db.connection_error(connection), None);

        // Another job's note is not the check's to clear.
        let sys = world.system("test");
        let audit = sys.audit(Event {
            team: world.team_of(owner),
            action: "backup.schedule_failed",
            target_type: "okta_connection",
            target_id: connection.to_string(),
            details: json!({}),
        });
        block_on(
            sys.stores()
                .note_connection_error(connection, "no snapshot key", &audit),
        )
        .unwrap();
        world.db.drift_due_now();
        cron(&world);
        assert_eq!(
            world.db.connection_error(connection).as_deref(),
            Some("no snapshot key")
        );
    }

    #[test]
    fn a_check_that_fails_to_record_records_the_page_once_on_the_next_run() {
        let world = World::new();
        let (connection, _) = changed_org(&world);
        world.db.fail_on("record_drift");
        let log = cron(&world);
        assert_eq!(log["queued"], 1);
        assert!(world.db.drift_captures().is_empty());
        assert_eq!(world.db.drift_cursor(connection).unwrap().0, None);
        world.db.drift_due_now();
        cron(&world);
        world.db.drift_due_now();
        cron(&world);
        assert_eq!(world.db.drift_captures().len(), 1);
        assert_eq!(world.db.drift_alerts().len(), 1);
        assert_eq!(world.db.outbox().len(), 1);
    }

    #[test]
    fn butterflys_recorded_writes_are_captured_but_raise_no_alert() {
        let world = World::new();
        let (connection, _) = changed_org(&world);
        world.db.add_butterfly_write(connection, "t2");
        cron(&world);
        let capture = &world.db.drift_captures()[0];
        assert_eq!(capture.summary[1]["attribution"][0]["origin"], "butterfly");
        assert!(world.db.drift_alerts().is_empty());
    }

    #[test]
    fn alerts_are_acknowledged_and_accepted_by_roles_that_may_and_audited() {
        let world = World::new();
        let (connection, owner) = changed_org(&world);
        cron(&world);
        let alert = world.db.drift_alerts()[0].id;
        let team = world.team_of(owner);
        let viewer = world.member(team, Role::Viewer);
        let operator = world.member(team, Role::Operator);
        let stranger = world.user();
        world.db.activity.borrow_mut().clear();
        let refused = block_on(uses::transition(
            &world.caller(viewer),
            connection,
            alert,
            Transition::Acknowledge,
            None,
        ));
        assert!(
            matches!(refused, Err(ServiceError::Forbidden)),
            "{refused:?}"
        );
        let hidden = block_on(uses::transition(
            &world.caller(stranger),
            connection,
            alert,
            Transition::Acknowledge,
            None,
        ));
        assert!(matches!(hidden, Err(ServiceError::NotFound)));
        // An operator acknowledges but may not accept a new baseline.
        let acked = block_on(uses::transition(
            &world.caller(operator),
            connection,
            alert,
            Transition::Acknowledge,
            Some("looking".into()),
        ))
        .unwrap();
        assert_eq!(acked.status, AlertStatus::Acknowledged);
        assert_eq!(acked.status_by, Some(operator));
        assert!(matches!(
            block_on(uses::transition(
                &world.caller(operator),
                connection,
                alert,
                Transition::Accept,
                None
            )),
            Err(ServiceError::Forbidden)
        ));
        let again = block_on(uses::transition(
            &world.caller(owner),
            connection,
            alert,
            Transition::Acknowledge,
            None,
        ));
        assert!(matches!(
            again,
            Err(ServiceError::Conflict {
                code: "invalid_transition",
                ..
            })
        ));
        let accepted = block_on(uses::transition(
            &world.caller(owner),
            connection,
            alert,
            Transition::Accept,
            None,
        ))
        .unwrap();
        assert_eq!(accepted.status, AlertStatus::Accepted);
        assert_eq!(
            world.db.actions(),
            ["drift.alert_acknowledge", "drift.alert_accept"]
        );
        let view = block_on(uses::view(&world.caller(viewer), connection, None)).unwrap();
        assert_eq!(view.alerts.len(), 1);
        assert_eq!(view.interval_minutes, 15);
        assert!(!view.custom_rules);
    }

    #[test]
    fn the_interval_is_set_per_connection_audited_and_bounded() {
        let world = World::new();
        let (connection, owner) = changed_org(&world);
        let team = world.team_of(owner);
        let operator = world.member(team, Role::Operator);
        assert!(matches!(
            block_on(uses::set_settings(
                &world.caller(operator),
                connection,
                30,
                None
            )),
            Err(ServiceError::Forbidden)
        ));
        for bad in [0, 4, 1441] {
            let err = block_on(uses::set_settings(
                &world.caller(owner),
                connection,
                bad,
                None,
            ))
            .unwrap_err();
            assert!(matches!(
                err,
                ServiceError::Invalid {
                    field: "interval_minutes",
                    ..
                }
            ));
        }
        let row = block_on(uses::set_settings(
            &world.caller(owner),
            connection,
            60,
            None,
        ))
        .unwrap();
        assert_eq!(row.interval_minutes, 60);
        assert_eq!(world.db.actions(), ["drift.settings"]);
        // The first check moves the next one an hour on.
        cron(&world);
        let view = block_on(uses::view(&world.caller(owner), connection, None)).unwrap();
        assert_eq!(view.interval_minutes, 60);
        assert_eq!(
            view.next_due_at,
            Some(world.deps.clock.now() + chrono::Duration::minutes(60))
        );
    }
}
