//! Retention pruning (docs/lifecycle.md, "Retention"): the daily `RETENTION_CRON` queues one job
//! per team with backups older than the shortest retention; each invocation deletes, oldest
//! first, what the team's retention in force no longer keeps (`retention::plan_prune`), within a
//! request budget, and sends itself again while more is left.
//!
//! One backup goes in three idempotent steps: mark it (`backup_prune_mark`, refused while it
//! runs or a restore, drill or export holds it, and from then on nobody can hold it), delete
//! every R2 object under its prefix (snapshot segments, manifest, change-capture deltas), then
//! delete its row, sealed snapshot key and checkpoint with the audit row (`backup_prune`). A
//! marked backup is always finished first, whatever the retention says by then, so a killed
//! invocation never leaves a row whose objects are half gone. Two invocations racing do each
//! step at most once between them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::r2_sweep::{sweep, Budget, Swept};
use super::{FanOut, Job, Next, Ran};
use crate::billing::plans::{PlanId, Retention};
use crate::ids::{BackupId, ConnectionId, TeamId};
use crate::lifecycle::retention::{plan_prune, Artifact, ArtifactKind, ArtifactStatus};
use crate::services::audit::{Actor, Event, RequestMeta};
use crate::services::billing::retention_in_force;
use crate::services::{Deps, Privileged, ServiceError};
use crate::store::{BackupStatus, PruneCandidate, PruneMark};

/// Backups read per invocation.
pub const CANDIDATES_PER_SLICE: u32 = 200;
/// R2 and database requests per invocation.
pub const REQUESTS_PER_SLICE: u32 = 400;
/// Delay before a job that met a failure is delivered again.
const RETRY_SECONDS: u32 = 300;
const JOB: Actor = Actor::System("retention");

/// Prune one team's expired backups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneJob {
    pub team: TeamId,
    pub meta: RequestMeta,
}

/// One job per team with a backup older than the shortest retention of any plan (Free's).
pub async fn fan_out(sys: &Privileged<'_>) -> Result<FanOut, ServiceError> {
    let now = sys.deps.clock.now();
    let shortest = PlanId::Free
        .plan()
        .retention
        .as_duration()
        .unwrap_or_default();
    let teams = sys.stores().prune_teams(now - shortest).await?;
    Ok(FanOut {
        jobs: teams
            .into_iter()
            .map(|team| {
                Job::Prune(PruneJob {
                    team,
                    meta: sys.meta().clone(),
                })
            })
            .collect(),
        ..FanOut::default()
    })
}

pub async fn run(deps: &Deps<'_>, job: &PruneJob) -> Ran {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    match prune(&sys, job.team).await {
        Ok(report) => Ran {
            next: if report.more {
                Next::Resend(0)
            } else {
                Next::Ack
            },
            log: json!({"outcome": "pruned", "team": job.team, "deleted": report.deleted,
                "objects_deleted": report.objects, "held": report.held, "more": report.more}),
        },
        // Every step is idempotent: the message is simply delivered again.
        Err(e) => Ran {
            next: Next::RetryAfter(RETRY_SECONDS),
            log: json!({"outcome": "failed", "team": job.team, "error": e.to_string()}),
        },
    }
}

/// What one invocation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Backups deleted (row, key and objects).
    pub deleted: u32,
    /// R2 objects deleted.
    pub objects: u64,
    /// Expired backups kept because a restore, drill or export holds them, or a run started.
    pub held: u32,
    /// Whether more may be left for the next invocation.
    pub more: bool,
}

fn artifact(c: &PruneCandidate) -> Artifact {
    Artifact {
        id: c.id,
        connection: c.connection_id,
        kind: ArtifactKind::Snapshot,
        status: match c.status {
            BackupStatus::Running => ArtifactStatus::Running,
            BackupStatus::Complete => ArtifactStatus::Complete,
            BackupStatus::Failed => ArtifactStatus::Failed,
        },
        started_at: c.started_at,
        finished_at: c.finished_at,
    }
}

/// One invocation's pruning of `team`.
pub async fn prune(sys: &Privileged<'_>, team: TeamId) -> Result<Pruned, ServiceError> {
    let now = sys.deps.clock.now();
    let retention = retention_in_force(sys, team, now).await?;
    // Unlimited retention: only backups already marked are finished.
    let before = retention
        .as_duration()
        .map_or(DateTime::<Utc>::MIN_UTC, |d| now - d);
    let stores = sys.stores();
    let candidates = stores
        .prune_candidates(team, before, CANDIDATES_PER_SLICE)
        .await?;
    let held: BTreeSet<BackupId> = stores.held_backups(team).await?.into_iter().collect();
    let mut budget = Budget::new(REQUESTS_PER_SLICE.saturating_sub(3));
    // The core needs each connection's newest complete backup to keep it.
    let mut artifacts: Vec<Artifact> = candidates.iter().map(artifact).collect();
    let connections: BTreeSet<ConnectionId> = candidates.iter().map(|c| c.connection_id).collect();
    for connection in connections {
        budget.spend(1);
        if let Some(newest) = stores.latest_complete_backup(connection).await? {
            if !artifacts.iter().any(|a| a.id == newest.id) {
                artifacts.push(Artifact {
                    id: newest.id,
                    connection,
                    kind: ArtifactKind::Snapshot,
                    status: ArtifactStatus::Complete,
                    started_at: newest.started_at,
                    finished_at: newest.finished_at,
                });
            }
        }
    }
    let plan = plan_prune(&artifacts, &held, retention, now);
    let by_id: BTreeMap<BackupId, &PruneCandidate> = candidates.iter().map(|c| (c.id, c)).collect();
    // Marked ones first (their deletion is under way), then the plan's, oldest first.
    let mut queue: Vec<&PruneCandidate> = candidates
        .iter()
        .filter(|c| c.pruning_at.is_some())
        .collect();
    queue.extend(
        plan.delete
            .iter()
            .filter_map(|id| by_id.get(id).copied())
            .filter(|c| c.pruning_at.is_none()),
    );
    let mut report = Pruned::default();
    for candidate in queue {
        // Mark, at least one list and delete, and the row's deletion.
        if budget.left() < 4 {
            report.more = true;
            break;
        }
        budget.spend(1);
        match stores.mark_pruning(candidate.id).await? {
            PruneMark::Marked => {}
            PruneMark::Held | PruneMark::Running => {
                report.held += 1;
                continue;
            }
            PruneMark::Gone => continue,
        }
        let swept = sweep(
            sys.deps.store,
            &candidate.r2_prefix,
            &mut budget,
            &mut report.objects,
        )
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if swept == Swept::OutOfBudget || !budget.spend(1) {
            report.more = true;
            break;
        }
        let audit = sys.audit(Event {
            team,
            action: "backup.prune",
            target_type: "backup",
            target_id: candidate.id.to_string(),
            details: json!({
                "connection_id": candidate.connection_id,
                "finished_at": candidate.finished_at,
                "retention_days": match retention {
                    Retention::Days(d) => Some(d),
                    Retention::Unlimited => None,
                },
            }),
        });
        if stores.prune_backup(candidate.id, &audit).await? {
            report.deleted += 1;
        }
    }
    // A full page that deleted something may hide more expired backups behind it.
    if report.deleted > 0 && candidates.len() as u32 == CANDIDATES_PER_SLICE {
        report.more = true;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{backup, scheduled};
    use crate::store::HoldKind;
    use crate::testing::world::World;
    use chrono::Duration;
    use futures::executor::block_on;
    use uuid::Uuid;

    /// A Free world (7 days) whose owner has `n` complete backups, one a day, the oldest first.
    fn backed_up_daily(world: &World, n: usize) -> (TeamId, Vec<crate::store::BackupRow>) {
        let owner = world.user();
        let team = world.team_of(owner);
        let connection = world.connect(owner);
        let mut rows = Vec::new();
        for _ in 0..n {
            let row = block_on(backup::request(&world.caller(owner), connection)).unwrap();
            world.drain_queue();
            rows.push(row);
            world.advance(Duration::days(1));
        }
        world.db.activity.borrow_mut().clear();
        (team, rows)
    }

    fn free_world() -> World {
        World::with_vars(&[("DEFAULT_PLAN", "free")])
    }

    fn objects_under(world: &World, prefix: &str) -> usize {
        world
            .objects
            .objects
            .borrow()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .count()
    }

    #[test]
    fn expired_backups_go_with_their_objects_and_an_audit_row_each() {
        let world = free_world();
        let (team, rows) = backed_up_daily(&world, 10);
        assert!(objects_under(&world, &rows[0].r2_prefix) > 0);
        // Day 10: backups finished on days 0, 1 and 2 are 8 or more days old (7-day retention).
        let log = block_on(scheduled(world.deps, &world.deps.config.retention_cron));
        assert_eq!(log["queued"], 1, "{log}");
        world.drain_queue();
        let left: Vec<_> = world.db.backups().iter().map(|b| b.id).collect();
        let ids: Vec<_> = rows.iter().map(|b| b.id).collect();
        assert_eq!(left, ids[3..], "the three oldest went, oldest first");
        for gone in &rows[..3] {
            assert_eq!(objects_under(&world, &gone.r2_prefix), 0);
            assert!(
                world.db.backup_key(gone.id).is_none(),
                "its sealed key went too"
            );
        }
        assert!(objects_under(&world, &rows[3].r2_prefix) > 0);
        assert_eq!(world.db.actions(), ["backup.prune"; 3]);
        let audit = world.db.activity.borrow()[0].clone();
        assert_eq!(audit.target_id, rows[0].id.to_string());
        assert_eq!(audit.team_id, Some(team));
        assert_eq!(audit.details["retention_days"], 7);
        // Nothing more to do the next day but the one that expired overnight.
        world.advance(Duration::days(1));
        assert_eq!(
            block_on(prune(&world.system("t"), team)).unwrap().deleted,
            1
        );
    }

    #[test]
    fn a_held_backup_stays_until_released_and_the_newest_always_stays() {
        let world = free_world();
        let (team, rows) = backed_up_daily(&world, 3);
        let sys = world.system("t");
        let restore = Uuid::from_u128(7);
        assert!(block_on(
            sys.stores()
                .hold_backup(rows[0].id, team, HoldKind::Restore, restore)
        )
        .unwrap());
        world.advance(Duration::days(30));
        let report = block_on(prune(&sys, team)).unwrap();
        // Backup 1 went; 0 is held; 2 is the connection's newest complete backup.
        assert_eq!(report.deleted, 1);
        let left: Vec<_> = world.db.backups().iter().map(|b| b.id).collect();
        assert_eq!(left, [rows[0].id, rows[2].id]);
        block_on(
            sys.stores()
                .release_backup_hold(rows[0].id, HoldKind::Restore, restore),
        )
        .unwrap();
        assert_eq!(block_on(prune(&sys, team)).unwrap().deleted, 1);
        assert_eq!(world.db.backups().len(), 1, "the newest stays, however old");
        // A backup being pruned cannot be held any more.
        assert!(!block_on(
            sys.stores()
                .hold_backup(rows[0].id, team, HoldKind::Drill, restore)
        )
        .unwrap());
    }

    #[test]
    fn a_downgrade_shortens_retention_only_after_the_notice() {
        let world = free_world();
        let (team, rows) = backed_up_daily(&world, 3);
        // Standard (90 days) from day 3, Free again from day 40.
        let start = world.deps.clock.now();
        world.db.add_plan_period(team, PlanId::Standard, start);
        world
            .db
            .add_plan_period(team, PlanId::Free, start + Duration::days(37));
        world.advance(Duration::days(37 + 29));
        let sys = world.system("t");
        assert_eq!(
            block_on(prune(&sys, team)).unwrap().deleted,
            0,
            "notice running"
        );
        world.advance(Duration::days(1));
        assert_eq!(
            block_on(prune(&sys, team)).unwrap().deleted,
            2,
            "notice over"
        );
        assert_eq!(world.db.backups()[0].id, rows[2].id);
    }

    #[test]
    fn a_killed_invocation_is_finished_by_the_next_and_thousands_go_in_bounded_slices() {
        let world = free_world();
        let (team, rows) = backed_up_daily(&world, 4);
        world.advance(Duration::days(20));
        // Killed after marking the oldest and deleting its objects, before its row went.
        world.db.fail_on("prune_backup");
        assert!(block_on(prune(&world.system("t"), team)).is_err());
        assert_eq!(objects_under(&world, &rows[0].r2_prefix), 0);
        assert_eq!(
            world.db.backups().len(),
            4,
            "the row outlives its objects only marked"
        );
        // The next invocation finishes the marked one first, then the other expired ones.
        let report = block_on(prune(&world.system("t"), team)).unwrap();
        assert_eq!(report.deleted, 3);
        assert_eq!(world.db.actions(), ["backup.prune"; 3]);

        // A team with 1,200 expired backups: each invocation stays within its budget and
        // sends itself on; the queue ends with only the newest.
        let world = free_world();
        let owner = world.user();
        let team = world.team_of(owner);
        let connection = world.connect(owner);
        for i in 0..1200 {
            world.db.insert_backup_row(
                team,
                connection,
                world.deps.clock.now() - Duration::days(1300 - i),
            );
        }
        block_on(crate::jobs::send(
            world.deps,
            &Job::Prune(PruneJob {
                team,
                meta: RequestMeta::internal("req".into()),
            }),
        ))
        .unwrap();
        let delivered = world.drain_queue();
        assert!(delivered > 3, "{delivered} invocations");
        assert_eq!(world.db.backups().len(), 1);
        assert_eq!(world.db.actions().len(), 1199);
    }
}
