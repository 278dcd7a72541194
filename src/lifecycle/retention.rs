//! Retention: which snapshots and deltas a team's plan lets it keep at time `t`.
//!
//! Rules (docs/lifecycle.md, "Retention"):
//! 1. **Retention in force** is the longest retention of any plan the team held at any moment
//!    of the last [`DOWNGRADE_NOTICE`]. An upgrade applies at once; a downgrade shortens
//!    retention only when the notice period has passed, so a team that stops paying (or
//!    picks a smaller plan) has 30 days to download or re-subscribe before anything goes.
//! 2. A complete backup **expires** when it finished longer ago than the retention in force.
//!    Failed runs (partial objects) expire the same way, counted from when they started.
//! 3. **Never deleted**: a running backup; a backup a running restore, drill or export uses;
//!    the newest complete backup of each connection (a Free team whose backups fail for a
//!    week still has its last good one); anything a kept artifact depends on (a kept delta
//!    keeps its base snapshot, transitively).
//!
//! The prune job (phase 2, on the job runner) computes a plan with [`plan_prune`] and
//! deletes its `delete` list in slices, oldest first: each deletion is idempotent (marking the
//! row, deleting its R2 prefix, then the row), so a killed slice is simply redone.

use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet};

use crate::billing::plans::{PlanId, Retention};
use crate::ids::{BackupId, ConnectionId};

/// How long a shorter retention waits after a downgrade.
pub const DOWNGRADE_NOTICE: Duration = Duration::days(30);

/// The plan a team held from `from` until the next entry (`plan_history` rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanPeriod {
    pub plan: PlanId,
    pub from: DateTime<Utc>,
}

/// The retention in force at `now` (rule 1). `history` in any order; empty means Free.
pub fn retention_at(history: &[PlanPeriod], now: DateTime<Utc>) -> Retention {
    let mut periods: Vec<_> = history.iter().filter(|p| p.from <= now).collect();
    periods.sort_by_key(|p| p.from);
    let window_start = now - DOWNGRADE_NOTICE;
    let mut retention = None::<Retention>;
    for (i, period) in periods.iter().enumerate() {
        let until = periods.get(i + 1).map(|next| next.from);
        // Held at some moment of [window_start, now]?
        if until.is_none_or(|u| u > window_start) {
            let r = period.plan.plan().retention;
            retention = Some(retention.map_or(r, |acc| acc.longest(r)));
        }
    }
    retention.unwrap_or(PlanId::Free.plan().retention)
}

/// When the current plan's (shorter) retention takes over, if a downgrade's notice is running.
pub fn shorter_retention_from(history: &[PlanPeriod], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut periods: Vec<_> = history.iter().filter(|p| p.from <= now).collect();
    periods.sort_by_key(|p| p.from);
    let current = periods.last()?.plan.plan().retention;
    if retention_at(history, now) == current {
        return None;
    }
    // The notice ends DOWNGRADE_NOTICE after the last moment a longer plan was held: the start
    // of the period that followed the last period of a longer plan.
    periods
        .windows(2)
        .filter(|w| w[0].plan.plan().retention.longest(current) != current)
        .map(|w| w[1].from + DOWNGRADE_NOTICE)
        .max()
}

/// What a stored artifact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    Snapshot,
    /// Change capture since `base` (drift); useless without its base.
    Delta {
        base: BackupId,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactStatus {
    Running,
    Complete,
    Failed,
}

/// A backup row as the prune job sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub id: BackupId,
    pub connection: ConnectionId,
    pub kind: ArtifactKind,
    pub status: ArtifactStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Why an expired-looking artifact stays (reported by the job, and tested).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    WithinRetention,
    Running,
    InUse,
    NewestOfConnection,
    NeededBy(BackupId),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrunePlan {
    /// Oldest first.
    pub delete: Vec<BackupId>,
    pub keep: BTreeMap<BackupId, Keep>,
}

/// Applies rules 2 and 3. `in_use`: backups that a running restore, drill or export holds.
pub fn plan_prune(
    artifacts: &[Artifact],
    in_use: &BTreeSet<BackupId>,
    retention: Retention,
    now: DateTime<Utc>,
) -> PrunePlan {
    let mut keep: BTreeMap<BackupId, Keep> = BTreeMap::new();
    let mut newest: BTreeMap<ConnectionId, &Artifact> = BTreeMap::new();
    for a in artifacts {
        if a.status == ArtifactStatus::Complete && a.kind == ArtifactKind::Snapshot {
            let slot = newest.entry(a.connection).or_insert(a);
            if a.finished_at > slot.finished_at {
                *slot = a;
            }
        }
    }
    for a in artifacts {
        let reason = if a.status == ArtifactStatus::Running {
            Some(Keep::Running)
        } else if in_use.contains(&a.id) {
            Some(Keep::InUse)
        } else if newest.get(&a.connection).is_some_and(|n| n.id == a.id) {
            Some(Keep::NewestOfConnection)
        } else {
            let at = a.finished_at.unwrap_or(a.started_at);
            match retention.as_duration() {
                None => Some(Keep::WithinRetention),
                Some(d) if at + d > now => Some(Keep::WithinRetention),
                Some(_) => None,
            }
        };
        if let Some(reason) = reason {
            keep.insert(a.id, reason);
        }
    }
    // Dependencies of kept artifacts are kept, transitively.
    let by_id: BTreeMap<BackupId, &Artifact> = artifacts.iter().map(|a| (a.id, a)).collect();
    let mut stack: Vec<BackupId> = keep.keys().copied().collect();
    while let Some(id) = stack.pop() {
        if let Some(ArtifactKind::Delta { base }) = by_id.get(&id).map(|a| a.kind) {
            if by_id.contains_key(&base) && !keep.contains_key(&base) {
                keep.insert(base, Keep::NeededBy(id));
                stack.push(base);
            }
        }
    }
    let mut delete: Vec<&Artifact> = artifacts
        .iter()
        .filter(|a| !keep.contains_key(&a.id))
        .collect();
    delete.sort_by_key(|a| (a.finished_at.unwrap_or(a.started_at), a.id));
    PrunePlan {
        delete: delete.into_iter().map(|a| a.id).collect(),
        keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + Duration::days(days)
    }

    fn id(n: u8) -> BackupId {
        BackupId::parse(&format!("00000000-0000-4000-8000-0000000000{n:02x}")).unwrap()
    }

    fn conn(n: u8) -> ConnectionId {
        ConnectionId::parse(&format!("10000000-0000-4000-8000-0000000000{n:02x}")).unwrap()
    }

    fn snap(n: u8, c: u8, day: i64) -> Artifact {
        Artifact {
            id: id(n),
            connection: conn(c),
            kind: ArtifactKind::Snapshot,
            status: ArtifactStatus::Complete,
            started_at: t(day) - Duration::minutes(5),
            finished_at: Some(t(day)),
        }
    }

    fn period(plan: PlanId, day: i64) -> PlanPeriod {
        PlanPeriod { plan, from: t(day) }
    }

    #[test]
    fn upgrades_apply_at_once_and_downgrades_after_the_notice() {
        assert_eq!(retention_at(&[], t(0)), Retention::Days(7));
        let history = [
            period(PlanId::Free, 0),
            period(PlanId::Standard, 10),
            period(PlanId::Free, 100),
        ];
        assert_eq!(retention_at(&history, t(9)), Retention::Days(7));
        assert_eq!(
            retention_at(&history, t(10)),
            Retention::Days(90),
            "upgrade: at once"
        );
        assert_eq!(retention_at(&history, t(100)), Retention::Days(90));
        assert_eq!(
            retention_at(&history, t(129)),
            Retention::Days(90),
            "notice running"
        );
        assert_eq!(
            retention_at(&history, t(130)),
            Retention::Days(7),
            "notice over"
        );
        assert_eq!(shorter_retention_from(&history, t(101)), Some(t(130)));
        assert_eq!(shorter_retention_from(&history, t(131)), None);
        // Order of the rows does not matter.
        let shuffled = [history[2], history[0], history[1]];
        assert_eq!(retention_at(&shuffled, t(129)), Retention::Days(90));
        // Business → Standard keeps everything for the notice period.
        let biz = [period(PlanId::Business, 0), period(PlanId::Standard, 400)];
        assert_eq!(retention_at(&biz, t(420)), Retention::Unlimited);
        assert_eq!(retention_at(&biz, t(430)), Retention::Days(90));
    }

    /// The notice counts from the last moment a longer plan was held, not from when the
    /// current plan began: Business until day 400, a short Free spell, then Standard from day
    /// 420 means Standard's 90 days apply from day 430 (the Business notice ends), not 450.
    #[test]
    fn the_notice_ends_thirty_days_after_the_longer_plan_was_last_held() {
        let history = [
            period(PlanId::Business, 0),
            period(PlanId::Free, 400),
            period(PlanId::Standard, 420),
        ];
        assert_eq!(retention_at(&history, t(429)), Retention::Unlimited);
        assert_eq!(retention_at(&history, t(430)), Retention::Days(90));
        assert_eq!(shorter_retention_from(&history, t(421)), Some(t(430)));
        // A plan recorded again (same plan, new row) does not restart the notice.
        let repeated = [
            period(PlanId::Standard, 0),
            period(PlanId::Free, 100),
            period(PlanId::Free, 110),
        ];
        assert_eq!(retention_at(&repeated, t(130)), Retention::Days(7));
        assert_eq!(shorter_retention_from(&repeated, t(111)), Some(t(130)));
    }

    #[test]
    fn expired_snapshots_go_oldest_first_and_the_newest_per_connection_stays() {
        let artifacts = [
            snap(1, 1, 0),
            snap(2, 1, 5),
            snap(5, 1, 15),
            snap(3, 1, 20),
            snap(4, 2, 1),
        ];
        let plan = plan_prune(&artifacts, &BTreeSet::new(), Retention::Days(7), t(21));
        assert_eq!(plan.delete, vec![id(1), id(2)]);
        assert_eq!(plan.keep[&id(5)], Keep::WithinRetention);
        assert_eq!(plan.keep[&id(3)], Keep::NewestOfConnection);
        // Connection 2's only backup is 20 days old but is its newest: kept.
        assert_eq!(plan.keep[&id(4)], Keep::NewestOfConnection);
        // Boundary: exactly 7 days old is expired.
        let plan = plan_prune(
            &[snap(1, 1, 0), snap(2, 1, 14)],
            &BTreeSet::new(),
            Retention::Days(7),
            t(7),
        );
        assert_eq!(plan.delete, vec![id(1)]);
        // Unlimited keeps everything.
        let plan = plan_prune(
            &artifacts,
            &BTreeSet::new(),
            Retention::Unlimited,
            t(10_000),
        );
        assert!(plan.delete.is_empty());
    }

    #[test]
    fn in_use_running_and_depended_on_artifacts_are_never_deleted() {
        let mut running = snap(5, 1, 0);
        running.status = ArtifactStatus::Running;
        running.finished_at = None;
        let mut failed = snap(6, 1, 1);
        failed.status = ArtifactStatus::Failed;
        failed.finished_at = None;
        let base = snap(7, 1, 2);
        let mut delta = snap(8, 1, 3);
        delta.kind = ArtifactKind::Delta { base: id(7) };
        let mut delta2 = snap(9, 1, 4);
        delta2.kind = ArtifactKind::Delta { base: id(8) };
        let restore_source = snap(10, 1, 2);
        let newest = snap(11, 1, 60);
        let artifacts = [running, failed, base, delta, delta2, restore_source, newest];
        let in_use: BTreeSet<_> = [id(10), id(9)].into_iter().collect();
        let plan = plan_prune(&artifacts, &in_use, Retention::Days(7), t(60));
        assert_eq!(plan.keep[&id(5)], Keep::Running);
        assert_eq!(plan.keep[&id(10)], Keep::InUse);
        assert_eq!(plan.keep[&id(9)], Keep::InUse);
        assert_eq!(plan.keep[&id(8)], Keep::NeededBy(id(9)));
        assert_eq!(plan.keep[&id(7)], Keep::NeededBy(id(8)), "transitively");
        assert_eq!(plan.delete, vec![id(6)], "only the failed run expires");
    }

    #[test]
    fn a_thousand_expired_snapshots_are_planned_in_order() {
        let artifacts: Vec<_> = (0..1000u32)
            .map(|i| Artifact {
                id: BackupId::parse(&format!("00000000-0000-4000-8000-{i:012x}")).unwrap(),
                ..snap(0, 1, i64::from(i) / 10)
            })
            .collect();
        let plan = plan_prune(&artifacts, &BTreeSet::new(), Retention::Days(7), t(200));
        assert_eq!(plan.delete.len(), 999);
        assert_eq!(plan.delete[0], artifacts[0].id);
    }
}
