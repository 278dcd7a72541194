//! The job runner: every job the worker does on its own, from a cron trigger or a queue message.
//!
//! A [`Job`] is one queue message. [`deliver`] runs one (each kind's `run`, in the file named
//! for it) and returns what the queue should do with the message; a job that goes on is sent
//! again through the [`JobQueue`](crate::ports::JobQueue) port. [`scheduled`] maps a cron
//! expression to the job kind it starts ([`Schedule`]) and fans its jobs out, one message per
//! connection. Long jobs run in bounded slices on the lease and checkpoint of [`lease`].
//!
//! A new kind of job is one variant of [`Job`] (and of [`Schedule`] if a cron starts it) plus its
//! own file; `platform` only converts types and hands messages and cron events over.

pub mod anchor;
pub mod backup;
pub mod compliance;
pub mod drift;
pub mod drill;
pub mod key_reseal;
pub mod key_rewrap;
pub mod lease;
pub mod outbox;
pub mod prune;
pub mod purge;
mod r2_sweep;
pub mod resource_index;
pub mod restore;

#[cfg(test)]
mod drill_tests;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::Config;
use crate::ids::{ConnectionId, RequestId, TeamId};
use crate::ports::QueueError;
use crate::services::audit::{Actor, Event, RequestMeta};
use crate::services::{Deps, Privileged, ServiceError};
use anchor::AnchorJob;
use backup::BackupJob;
use compliance::ComplianceJob;
use drift::DriftCheckJob;
use drill::DrillJob;
use key_reseal::KeyResealJob;
use key_rewrap::KeyRewrapJob;
use outbox::OutboxJob;
use prune::PruneJob;
use purge::PurgeJob;
use resource_index::ResourceIndexJob;
use restore::RestoreJob;

/// One queue message: a job and what it needs to run, tagged by kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    Backup(BackupJob),
    Compliance(ComplianceJob),
    KeyReseal(KeyResealJob),
    KeyRewrap(KeyRewrapJob),
    Anchor(AnchorJob),
    Prune(PruneJob),
    Purge(PurgeJob),
    ResourceIndex(ResourceIndexJob),
    DriftCheck(DriftCheckJob),
    Outbox(OutboxJob),
    Restore(RestoreJob),
    Drill(DrillJob),
}

impl Job {
    fn meta(&self) -> &RequestMeta {
        match self {
            Job::Backup(job) => &job.meta,
            Job::Compliance(job) => &job.meta,
            Job::KeyReseal(job) => &job.meta,
            Job::KeyRewrap(job) => &job.meta,
            Job::Anchor(job) => &job.meta,
            Job::Prune(job) => &job.meta,
            Job::Purge(job) => &job.meta,
            Job::ResourceIndex(job) => &job.meta,
            Job::DriftCheck(job) => &job.meta,
            Job::Outbox(job) => &job.meta,
            Job::Restore(job) => &job.meta,
            Job::Drill(job) => &job.meta,
        }
    }
}

/// What happens to a job's message after it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Done (its outcome is on the job's own row).
    Ack,
    /// The job goes on: send it again as a fresh message after this many seconds (so a long job
    /// is not bounded by the queue's retry limit).
    Resend(u32),
    /// Deliver this message again after this many seconds (counts against the retry limit).
    RetryAfter(u32),
}

/// A run's decision and its fields for the log.
pub struct Ran {
    pub next: Next,
    pub log: Value,
}

/// Runs one job.
pub async fn run(deps: &Deps<'_>, job: &Job) -> Ran {
    match job {
        Job::Backup(job) => backup::run(deps, job).await,
        Job::Compliance(job) => compliance::run(deps, job).await,
        Job::KeyReseal(job) => key_reseal::run(deps, job).await,
        Job::KeyRewrap(job) => key_rewrap::run(deps, job).await,
        Job::Anchor(job) => anchor::run(deps, job).await,
        Job::Prune(job) => prune::run(deps, job).await,
        Job::Purge(job) => purge::run(deps, job).await,
        Job::ResourceIndex(job) => resource_index::run(deps, job).await,
        Job::DriftCheck(job) => drift::run(deps, job).await,
        Job::Outbox(job) => outbox::run(deps, job).await,
        Job::Restore(job) => restore::run(deps, job).await,
        Job::Drill(job) => drill::run(deps, job).await,
    }
}

/// Queues a job for now.
pub async fn send(deps: &Deps<'_>, job: &Job) -> Result<(), QueueError> {
    send_after(deps, job, 0).await
}

async fn send_after(deps: &Deps<'_>, job: &Job, delay_seconds: u32) -> Result<(), QueueError> {
    let message = serde_json::to_value(job).map_err(|e| QueueError(e.to_string()))?;
    deps.queue.send(&message, delay_seconds).await
}

/// What the queue does with a delivered message: acknowledge it (`None`), or deliver it again
/// after the given seconds. `log` is the invocation's log line.
pub struct Delivery {
    pub retry_after: Option<u32>,
    pub log: Value,
}

/// One delivered message: parse it, run the job, and carry the job on if it goes on.
pub async fn deliver(deps: &Deps<'_>, message: Value) -> Delivery {
    let job: Job = match serde_json::from_value(message) {
        Ok(job) => job,
        // A message no version of this worker sent: nothing can run it, so it is dropped.
        Err(e) => {
            return Delivery {
                retry_after: None,
                log: json!({"level": "error", "event": "queue.job", "error": format!("unreadable message: {e}")}),
            }
        }
    };
    let ran = run(deps, &job).await;
    let mut log = json!({
        "level": "info",
        "event": "queue.job",
        "request_id": job.meta().request_id,
        "job": job,
    });
    if let (Value::Object(line), Value::Object(fields)) = (&mut log, ran.log) {
        line.extend(fields);
    }
    let retry_after = match ran.next {
        Next::Ack => None,
        Next::RetryAfter(seconds) => Some(seconds),
        Next::Resend(delay) => match send_after(deps, &job, delay).await {
            Ok(()) => None,
            Err(e) => {
                log["enqueue_error"] = e.to_string().into();
                Some(0)
            }
        },
    };
    Delivery { retry_after, log }
}

/// What a cron trigger starts. The expressions are configuration (`BACKUP_CRON`,
/// `COMPLIANCE_CRON`, `ANCHOR_CRON`, `RETENTION_CRON`, `PURGE_CRON`, `DRIFT_CRON`, `OUTBOX_CRON`, `DRILL_CRON`), each of which build.rs checks against wrangler.toml's
/// triggers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    Backups,
    Compliance,
    KeyRewrap,
    /// Copies every activity chain's head to R2 (one job per chain).
    Anchors,
    /// Deletes backups older than each team's retention (one job per team).
    Retention,
    /// Purges the teams whose deletion is due (one job per team).
    Purge,
    /// Drift checks of the connections whose interval is due (one job per connection).
    DriftChecks,
    /// Delivers due notifications from the outbox (one job, which sends itself on).
    Outbox,
    /// Recovery drills of the connections whose drills are enabled (one job per connection).
    Drills,
}

impl Schedule {
    pub const ALL: [Schedule; 9] = [
        Schedule::Backups,
        Schedule::Compliance,
        Schedule::KeyRewrap,
        Schedule::Anchors,
        Schedule::Retention,
        Schedule::Purge,
        Schedule::DriftChecks,
        Schedule::Outbox,
        Schedule::Drills,
    ];

    fn cron(self, config: &Config) -> &str {
        match self {
            Schedule::Backups => &config.backup_cron,
            Schedule::Compliance => &config.compliance_cron,
            Schedule::KeyRewrap => &config.key_rewrap_cron,
            Schedule::Anchors => &config.anchor_cron,
            Schedule::Retention => &config.retention_cron,
            Schedule::Purge => &config.purge_cron,
            Schedule::DriftChecks => &config.drift_cron,
            Schedule::Outbox => &config.outbox_cron,
            Schedule::Drills => &config.drill_cron,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Schedule::Backups => "backups",
            Schedule::Compliance => "compliance",
            Schedule::KeyRewrap => "key_rewrap",
            Schedule::Anchors => "anchors",
            Schedule::Retention => "retention",
            Schedule::Purge => "purge",
            Schedule::DriftChecks => "drift_checks",
            Schedule::Outbox => "outbox",
            Schedule::Drills => "drills",
        }
    }

    async fn fan_out(self, sys: &Privileged<'_>) -> Result<FanOut, ServiceError> {
        match self {
            Schedule::Backups => backup::fan_out(sys).await,
            Schedule::Compliance => compliance::fan_out(sys).await,
            Schedule::KeyRewrap => key_rewrap::fan_out(sys).await,
            Schedule::Anchors => anchor::fan_out(sys).await,
            Schedule::Retention => prune::fan_out(sys).await,
            Schedule::Purge => purge::fan_out(sys).await,
            Schedule::DriftChecks => drift::fan_out(sys).await,
            Schedule::Outbox => outbox::fan_out(sys).await,
            Schedule::Drills => drill::fan_out(sys).await,
        }
    }
}

/// The jobs a cron run starts, and what it left out.
#[derive(Default)]
pub struct FanOut {
    pub jobs: Vec<Job>,
    /// Connections that already had a run in flight.
    pub skipped: usize,
    /// Connections that could not be scheduled, each with its reason (for the log).
    pub failures: Vec<Value>,
}

impl FanOut {
    /// Contains one connection's failure: logged here, noted on the connection's row with an
    /// audit row (`action`), and the cron goes on with the others.
    async fn failed(
        &mut self,
        sys: &Privileged<'_>,
        connection: Option<(ConnectionId, TeamId)>,
        action: &'static str,
        error: &str,
    ) {
        let mut entry = json!({"connection_id": connection.map(|c| c.0), "error": error});
        if let Some((id, team)) = connection {
            let reason: String = error.chars().take(500).collect();
            let audit = sys.audit(Event {
                team,
                action,
                target_type: "okta_connection",
                target_id: id.to_string(),
                details: json!({"reason": reason}),
            });
            if let Err(e) = sys
                .stores()
                .note_connection_error(id, &reason, &audit)
                .await
            {
                entry["mark_error"] = e.to_string().into();
            }
        }
        self.failures.push(entry);
    }
}

/// A cron trigger: open the runs its schedule starts and queue one message per connection.
/// Returns the log line.
pub async fn scheduled(deps: &Deps<'_>, cron: &str) -> Value {
    let meta = RequestMeta::internal(RequestId::generate(deps.rng).to_string());
    let Some(schedule) = Schedule::ALL
        .into_iter()
        .find(|s| s.cron(deps.config) == cron)
    else {
        return json!({"level": "warn", "event": "scheduled", "cron": cron, "error": "no job for this schedule"});
    };
    let event = format!("scheduled.{}", schedule.name());
    let sys = Privileged::new(deps, Actor::System("cron"), meta.clone());
    let fan_out = match schedule.fan_out(&sys).await {
        Ok(f) => f,
        Err(e) => {
            return json!({"level": "error", "event": event, "request_id": meta.request_id, "error": e.to_string()})
        }
    };
    // One message per connection: each consumer invocation does one connection's work. A run
    // whose message cannot be sent never checkpoints, and the next run's stale sweep fails it.
    let (mut queued, mut unsent) = (0, Vec::new());
    for job in &fan_out.jobs {
        match send(deps, job).await {
            Ok(()) => queued += 1,
            Err(e) => unsent.push(json!({"job": job, "error": e.to_string()})),
        }
    }
    json!({
        "level": if fan_out.failures.is_empty() && unsent.is_empty() { "info" } else { "error" },
        "event": event,
        "request_id": meta.request_id,
        "queued": queued,
        "skipped_running": fan_out.skipped,
        "failed": fan_out.failures,
        "unsent": unsent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::BackupId;
    use crate::store::{BackupStatus, UnreadableRow};
    use crate::testing::world::World;
    use futures::executor::block_on;

    #[test]
    fn messages_are_tagged_by_kind_and_round_trip() {
        let meta = RequestMeta {
            request_id: "req_1".into(),
            client_request_id: Some("theirs-12345".into()),
            source_ip: None,
        };
        let team = TeamId::parse("11111111-1111-4111-8111-111111111111").unwrap();
        let connection = ConnectionId::parse("22222222-2222-4222-8222-222222222222").unwrap();
        let jobs = [
            Job::Compliance(ComplianceJob {
                team,
                connection,
                meta: meta.clone(),
            }),
            Job::Backup(BackupJob {
                backup: BackupId::parse("33333333-3333-4333-8333-333333333333").unwrap(),
                team,
                connection,
                r2_prefix: "users/x/".into(),
                meta,
            }),
        ];
        for job in jobs {
            let json = serde_json::to_value(&job).unwrap();
            assert!(
                json["kind"] == "backup" || json["kind"] == "compliance",
                "{json}"
            );
            assert_eq!(serde_json::from_value::<Job>(json).unwrap(), job);
        }
        // A message sent before the client's request id was carried still reads.
        let old = serde_json::json!({"kind": "compliance", "team": team, "connection": connection,
            "meta": {"request_id": "req_1", "source_ip": null}});
        assert!(serde_json::from_value::<Job>(old).is_ok());
    }

    #[test]
    fn an_unreadable_message_is_dropped_and_logged() {
        let world = World::new();
        let delivery = block_on(deliver(world.deps, json!({"kind": "drill"})));
        assert_eq!(delivery.retry_after, None);
        assert_eq!(delivery.log["level"], "error");
    }

    #[test]
    fn one_connection_that_cannot_be_scheduled_stops_nobody_else() {
        let world = World::new();
        let first = world.user();
        let failing = world.connect(first);
        let victim = world.user();
        let scheduled_one = world.connect(victim);
        // A row the worker cannot read, and a connection whose run the database refuses.
        world.db.add_unreadable_connection(UnreadableRow {
            id: None,
            team_id: None,
            error: "invalid value: integer `-1`, expected u32".into(),
        });
        world.db.fail_on("open_backup");
        let log = block_on(scheduled(world.deps, &world.deps.config.backup_cron));
        assert_eq!(log["queued"], 1, "{log}");
        assert_eq!(log["failed"].as_array().unwrap().len(), 2, "{log}");
        assert_eq!(log["level"], "error");
        let backups = world.db.backups();
        assert_eq!(backups.len(), 1);
        assert_eq!(backups[0].connection_id, scheduled_one);
        assert!(world.db.connection_error(failing).is_some());
        assert_eq!(
            world.db.actions(),
            ["backup.schedule_failed", "backup.schedule"]
        );
        // The next cron schedules it, and clears the mark.
        world.drain_queue();
        block_on(scheduled(world.deps, &world.deps.config.backup_cron));
        assert!(world.db.connection_error(failing).is_none());
        assert!(world
            .db
            .backups()
            .iter()
            .any(|b| b.connection_id == failing && b.status == BackupStatus::Running));
    }

    #[test]
    fn each_cron_starts_its_own_job_and_an_unknown_one_nothing() {
        let world = World::new();
        let owner = world.user();
        world.connect(owner);
        let log = block_on(scheduled(world.deps, &world.deps.config.compliance_cron));
        assert_eq!(log["event"], "scheduled.compliance");
        let sent = world.queue.sent.borrow().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0["kind"], "compliance");
        assert!(world.db.backups().is_empty());
        let log = block_on(scheduled(world.deps, "0 0 1 1 *"));
        assert_eq!(log["level"], "warn");
        assert_eq!(world.queue.sent.borrow().len(), 1);
    }

    /// `platform` converts types and calls the core's three entry points; it names no job, no
    /// outcome and no schedule, so every decision stays in code the native tests run.
    #[test]
    fn platform_decides_nothing() {
        let sources = [
            ("mod.rs", include_str!("../platform/mod.rs")),
            ("queue.rs", include_str!("../platform/queue.rs")),
            ("adapters.rs", include_str!("../platform/adapters.rs")),
            ("seal.rs", include_str!("../platform/seal.rs")),
        ];
        let allowed = [
            "crate::ai::breaker::Breakers",
            "crate::api::handle",
            "crate::api::http::",
            "crate::auth::jwks::JwksCache",
            "crate::config::Config",
            "crate::db::PostgrestDb",
            // Runs an audit pack's writer inside its response stream (plumbing, no decision).
            "crate::evidence::pack::pull::pull",
            "crate::jobs::deliver",
            "crate::jobs::scheduled",
            "crate::jobs`",
            "crate::ports::",
            "crate::services::Deps",
            "crate::services::audit_pack::PackExport",
            "crate::snapshot::ObjectStream",
        ];
        for (file, source) in sources {
            for (at, _) in source.match_indices("crate::") {
                let path: String = source[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':' || *c == '`')
                    .collect();
                assert!(
                    allowed.iter().any(|a| path.starts_with(a)),
                    "platform/{file} reaches into the core at {path}"
                );
            }
            for word in [
                "Next",
                "Resend",
                "RetryAfter",
                "SliceEnd",
                "Job::",
                "Schedule::",
                "_cron",
            ] {
                assert!(!source.contains(word), "platform/{file} names {word}");
            }
        }
    }
}
