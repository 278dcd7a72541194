//! The team deletion purge (GDPR Art. 17; docs/lifecycle.md, "Account deletion"): the daily
//! `PURGE_CRON` queues one job per deletion past its grace period or under way; each invocation
//! runs the purge's steps (`deletion::PurgeStep`) in order from the one the row names.
//!
//! Each step is the worker's part, if it has one (Stripe for `cancel_billing`, R2 for
//! `delete_objects`), then one database function that does the step's database part and moves
//! the row to the next step, in one transaction, only if that step was still the next one. So a
//! step redone after a crash changes nothing twice, and a step is never recorded before its
//! work is done. The worker's parts are idempotent: a cancelled subscription or deleted customer
//! is `resource_missing` to Stripe, a deleted object is not listed again.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::r2_sweep::{sweep, Budget, Swept};
use super::{FanOut, Job, Next, Ran};
use crate::billing::stripe::client::{StripeClient, StripeId};
use crate::ids::TeamId;
use crate::lifecycle::deletion::{DeletionState, PurgeStep};
use crate::services::audit::{Actor, Event, RequestMeta};
use crate::services::{Deps, Privileged, ServiceError};

/// R2 and database requests per invocation.
pub const REQUESTS_PER_SLICE: u32 = 400;
/// Delay before a job that met a failure is delivered again.
const RETRY_SECONDS: u32 = 300;
const JOB: Actor = Actor::System("deletion-purge");

/// Purge one team whose deletion is due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PurgeJob {
    pub team: TeamId,
    pub meta: RequestMeta,
}

/// One job per due or unfinished deletion.
pub async fn fan_out(sys: &Privileged<'_>) -> Result<FanOut, ServiceError> {
    let due = sys.stores().due_deletions().await?;
    Ok(FanOut {
        jobs: due
            .into_iter()
            .map(|d| {
                Job::Purge(PurgeJob {
                    team: d.team,
                    meta: sys.meta().clone(),
                })
            })
            .collect(),
        ..FanOut::default()
    })
}

/// How one invocation ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Purged {
    /// Every step is done.
    Complete,
    /// Out of budget mid-step: the job goes on in a new invocation.
    Paused(PurgeStep),
    /// Nothing to do (not due, cancelled, or already purged).
    NotDue,
}

pub async fn run(deps: &Deps<'_>, job: &PurgeJob) -> Ran {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    match purge(&sys, job.team).await {
        Ok(Purged::Paused(step)) => Ran {
            next: Next::Resend(0),
            log: json!({"outcome": "paused", "team": job.team, "step": step}),
        },
        Ok(done) => Ran {
            next: Next::Ack,
            log: json!({"outcome": format!("{done:?}"), "team": job.team}),
        },
        // Nothing was recorded past the last finished step: delivered again, it resumes there.
        Err(e) => Ran {
            next: Next::RetryAfter(RETRY_SECONDS),
            log: json!({"outcome": "failed", "team": job.team, "error": e.to_string()}),
        },
    }
}

/// Runs the purge of `team` from where its row says, as far as this invocation's budget goes.
pub async fn purge(sys: &Privileged<'_>, team: TeamId) -> Result<Purged, ServiceError> {
    let mut budget = Budget::new(REQUESTS_PER_SLICE);
    loop {
        if !budget.spend(2) {
            return Ok(Purged::Paused(PurgeStep::ALL[0]));
        }
        let Some(deletion) = sys.stores().team_deletion(team).await? else {
            return Ok(Purged::NotDue);
        };
        let step = match deletion.state {
            DeletionState::Requested => {
                let audit = sys.audit(Event {
                    team,
                    action: "team.purge_start",
                    target_type: "team",
                    target_id: team.to_string(),
                    details: json!({"requested_at": deletion.requested_at}),
                });
                if sys.stores().start_purge(team, &audit).await?.is_none() {
                    return Ok(Purged::NotDue);
                }
                continue;
            }
            DeletionState::Cancelled { .. } => return Ok(Purged::NotDue),
            DeletionState::Purged { .. } => return Ok(Purged::Complete),
            DeletionState::Purging { next, .. } => next,
        };
        if !worker_part(sys, team, step, &mut budget).await? {
            return Ok(Purged::Paused(step));
        }
        let next = step.next();
        let audit = sys.audit(Event {
            team,
            action: if next.is_none() {
                "team.purged"
            } else {
                "team.purge_step"
            },
            target_type: "team",
            target_id: team.to_string(),
            details: json!({"step": step.as_str()}),
        });
        // False: another invocation recorded it first; the row is read again either way.
        sys.stores().purge_step(team, step, next, &audit).await?;
    }
}

/// The worker's part of `step`; false when the budget ran out before it was done.
async fn worker_part(
    sys: &Privileged<'_>,
    team: TeamId,
    step: PurgeStep,
    budget: &mut Budget,
) -> Result<bool, ServiceError> {
    match step {
        PurgeStep::CancelBilling => cancel_billing(sys, team).await.map(|()| true),
        PurgeStep::DeleteObjects => delete_objects(sys, team, budget).await,
        _ => Ok(true),
    }
}

/// Cancels the team's live subscription at once and deletes its Stripe customer. A deployment
/// without billing has neither.
async fn cancel_billing(sys: &Privileged<'_>, team: TeamId) -> Result<(), ServiceError> {
    let Some(config) = sys.deps.config.billing.as_ref() else {
        return Ok(());
    };
    let Some(row) = sys.stores().billing(team).await? else {
        return Ok(());
    };
    let stripe = StripeClient::new(
        sys.deps.http,
        sys.deps.clock,
        &config.api_base,
        &config.secret_key,
    );
    let gone_already = |e: crate::billing::stripe::client::StripeError| {
        if e.is_resource_missing() {
            Ok(())
        } else {
            Err(ServiceError::BillingProvider(e.to_string()))
        }
    };
    if let Some(subscription) = row.account.subscription.as_ref() {
        if !subscription.status.is_terminal() {
            let id = StripeId::parse(&subscription.id).ok_or_else(|| {
                ServiceError::Internal("stored subscription id unreadable".into())
            })?;
            stripe
                .cancel_subscription(&id)
                .await
                .map(|_| ())
                .or_else(gone_already)?;
        }
    }
    if let Some(customer) = row.account.customer.as_deref() {
        let id = StripeId::parse(customer)
            .ok_or_else(|| ServiceError::Internal("stored customer id unreadable".into()))?;
        stripe
            .delete_customer(&id)
            .await
            .map(|_| ())
            .or_else(gone_already)?;
    }
    Ok(())
}

/// Where a backup's R2 objects live: its connection's whole prefix
/// (`users/<user>/connections/<connection>/`, which holds its snapshots, change-capture deltas
/// and work files), or the backup's own prefix if it has another shape.
fn connection_root(prefix: &str) -> String {
    match prefix.find("/backups/") {
        Some(at) => prefix[..=at].to_string(),
        None => prefix.to_string(),
    }
}

/// Empties every R2 prefix of the team; false when the budget ran out first.
async fn delete_objects(
    sys: &Privileged<'_>,
    team: TeamId,
    budget: &mut Budget,
) -> Result<bool, ServiceError> {
    let roots: BTreeSet<String> = sys
        .stores()
        .team_backup_prefixes(team)
        .await?
        .iter()
        .map(|p| connection_root(p))
        .collect();
    let mut deleted = 0;
    for root in roots {
        let swept = sweep(sys.deps.store, &root, budget, &mut deleted)
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if swept == Swept::OutOfBudget {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::Role;
    use crate::jobs::scheduled;
    use crate::services::lifecycle::{self, DeleteOutcome, DeleteTeam};
    use crate::services::tenant_keys::{open_backup_key, open_sealed};
    use crate::store::ActorType;
    use crate::testing::world::{World, ORG};
    use chrono::Duration;
    use futures::executor::block_on;

    /// Asks for the deletion of `owner`'s personal team through both confirmation calls.
    fn request(world: &World, owner: crate::ids::UserId) -> TeamId {
        let team = world.team_of(owner);
        let caller = world.caller(owner);
        let first = block_on(lifecycle::request_deletion(
            &caller,
            team,
            DeleteTeam {
                confirm_name: "team".into(),
                confirmation_token: None,
            },
        ))
        .unwrap();
        let DeleteOutcome::Confirm(confirmation) = first else {
            panic!("the first call only confirms");
        };
        let token = confirmation["confirmation_token"]
            .as_str()
            .unwrap()
            .to_string();
        let second = block_on(lifecycle::request_deletion(
            &caller,
            team,
            DeleteTeam {
                confirm_name: "team".into(),
                confirmation_token: Some(token),
            },
        ))
        .unwrap();
        assert!(matches!(second, DeleteOutcome::Requested(_)));
        team
    }

    #[test]
    fn the_purge_waits_for_the_grace_period_then_removes_and_shreds_everything() {
        let world = World::new();
        let owner = world.user();
        let admin = world.member(world.team_of(owner), Role::Admin);
        let (connection, backup) = world.backed_up(owner);
        let bystander = world.user();
        let (_, kept) = world.backed_up(bystander);
        let sys = world.system("test");
        // What a database backup taken before the purge would still hold.
        let secret = block_on(sys.stores().connection_secret(connection))
            .unwrap()
            .unwrap();
        let key_row = world.db.backup_key(backup.id).unwrap();
        let team = request(&world, owner);
        assert!(world
            .objects
            .objects
            .borrow()
            .keys()
            .any(|k| k.starts_with(&backup.r2_prefix)));

        // In the grace period nothing happens.
        world.advance(Duration::days(6));
        block_on(scheduled(world.deps, &world.deps.config.purge_cron));
        world.drain_queue();
        assert!(world.db.team_exists(team));
        world.advance(Duration::days(2));
        let log = block_on(scheduled(world.deps, &world.deps.config.purge_cron));
        assert_eq!(log["queued"], 1, "{log}");
        world.drain_queue();

        let deletion = block_on(sys.stores().team_deletion(team)).unwrap().unwrap();
        assert!(
            matches!(deletion.state, DeletionState::Purged { .. }),
            "{deletion:?}"
        );
        assert_eq!(world.db.team_rows(team), Vec::<&str>::new());
        assert!(!world
            .objects
            .objects
            .borrow()
            .keys()
            .any(|k| k.contains(&connection.to_string())));
        // Crypto-shredding: the copies taken before can no longer be opened.
        assert!(block_on(open_sealed(&sys, &secret, ORG)).is_err());
        let sealed = key_row.sealed_key.clone().unwrap();
        assert!(matches!(
            block_on(open_backup_key(&sys, &key_row, &sealed)),
            Err(ServiceError::SnapshotKeyDestroyed)
        ));
        // The other team is untouched.
        assert!(world.db.backups().iter().any(|b| b.id == kept.id));
        assert!(world
            .objects
            .objects
            .borrow()
            .keys()
            .any(|k| k.starts_with(&kept.r2_prefix)));
        // The team's activity names nobody any more; every step is in it.
        let activity = world.db.activity.borrow();
        let ours: Vec<_> = activity
            .iter()
            .filter(|r| r.team_id == Some(team))
            .collect();
        for row in &ours {
            assert!(row.source_ip.is_none());
            if matches!(row.actor_type, ActorType::User | ActorType::ApiKey) {
                assert!(row.actor_id.starts_with("erased-"), "{row:?}");
            }
            assert_ne!(row.actor_id, owner.to_string());
            assert_ne!(row.actor_id, admin.to_string());
        }
        let steps = ours
            .iter()
            .filter(|r| r.action == "team.purge_step")
            .count();
        assert_eq!(steps, PurgeStep::ALL.len() - 1);
        assert_eq!(ours.last().unwrap().action, "team.purged");
    }

    #[test]
    fn a_crashed_purge_resumes_at_its_step_and_does_nothing_twice() {
        let world = World::new();
        let owner = world.user();
        world.backed_up(owner);
        let team = request(&world, owner);
        world.advance(Duration::days(8));
        let sys = world.system("test");
        // Four invocations die recording their first step (the database is unreachable).
        for _ in 0..4 {
            world.db.fail_on("purge_step");
        }
        for _ in 0..4 {
            assert!(block_on(purge(&sys, team)).is_err());
        }
        let d = block_on(sys.stores().team_deletion(team)).unwrap().unwrap();
        assert!(matches!(
            d.state,
            DeletionState::Purging {
                next: PurgeStep::Freeze,
                ..
            }
        ));
        // The next one starts where the row says, and a redelivered message changes nothing.
        assert_eq!(block_on(purge(&sys, team)).unwrap(), Purged::Complete);
        assert_eq!(block_on(purge(&sys, team)).unwrap(), Purged::Complete);
        let starts = world
            .db
            .actions()
            .iter()
            .filter(|a| **a == "team.purge_start")
            .count();
        assert_eq!(starts, 1);
        let steps = world
            .db
            .actions()
            .iter()
            .filter(|a| **a == "team.purge_step")
            .count();
        assert_eq!(steps, PurgeStep::ALL.len() - 1, "each step recorded once");
        // Stepping out of order is refused by the store.
        let audit = sys.audit(Event {
            team,
            action: "team.purge_step",
            target_type: "team",
            target_id: team.to_string(),
            details: json!({}),
        });
        assert!(!block_on(sys.stores().purge_step(
            team,
            PurgeStep::Freeze,
            Some(PurgeStep::CancelBilling),
            &audit
        ))
        .unwrap());
    }

    #[test]
    fn a_cancelled_deletion_never_purges_and_only_owners_ask() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let admin = world.member(team, Role::Admin);
        let body = || DeleteTeam {
            confirm_name: "team".into(),
            confirmation_token: None,
        };
        assert!(matches!(
            block_on(lifecycle::request_deletion(
                &world.caller(admin),
                team,
                body()
            )),
            Err(ServiceError::Forbidden)
        ));
        // A wrong name, and a token for someone else, are refused.
        let wrong = DeleteTeam {
            confirm_name: "Team".into(),
            confirmation_token: None,
        };
        assert!(matches!(
            block_on(lifecycle::request_deletion(
                &world.caller(owner),
                team,
                wrong
            )),
            Err(ServiceError::Invalid {
                field: "confirm_name",
                ..
            })
        ));
        let forged = DeleteTeam {
            confirm_name: "team".into(),
            confirmation_token: Some("v1.legacy.99999999999.AAAA".into()),
        };
        assert!(matches!(
            block_on(lifecycle::request_deletion(
                &world.caller(owner),
                team,
                forged
            )),
            Err(ServiceError::Invalid {
                field: "confirmation_token",
                ..
            })
        ));
        assert!(block_on(world.system("t").stores().team_deletion(team))
            .unwrap()
            .is_none());
        request(&world, owner);
        // Asking twice is a conflict; the admin can read the state but not cancel.
        assert!(matches!(
            block_on(lifecycle::request_deletion(
                &world.caller(owner),
                team,
                body()
            )),
            Err(ServiceError::Conflict {
                code: "deletion_pending",
                ..
            })
        ));
        assert!(
            block_on(lifecycle::deletion_status(&world.caller(admin), team))
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            block_on(lifecycle::cancel_deletion(&world.caller(admin), team)),
            Err(ServiceError::Forbidden)
        ));
        world.advance(Duration::days(3));
        let cancelled = block_on(lifecycle::cancel_deletion(&world.caller(owner), team)).unwrap();
        assert!(matches!(cancelled.state, DeletionState::Cancelled { .. }));
        world.advance(Duration::days(30));
        block_on(scheduled(world.deps, &world.deps.config.purge_cron));
        world.drain_queue();
        assert!(world.db.team_exists(team));
        assert_eq!(
            world.db.actions(),
            ["team.deletion_request", "team.deletion_cancel"]
        );
        // After a cancellation a new request starts over.
        request(&world, owner);
    }

    #[test]
    fn the_export_is_the_signed_in_users_own_data_and_never_a_keys() {
        use crate::authz::matrix::Scope;
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        world.connect(owner);
        let export = block_on(lifecycle::export(&world.caller(owner))).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&export.to_json()).unwrap();
        assert_eq!(json["format"], "butterfly.user-export.v1");
        assert_eq!(json["profile"]["id"], owner.to_string());
        assert_eq!(json["memberships"][0]["team_id"], team.to_string());
        assert_eq!(world.db.actions(), ["user.export"]);
        let key = world.key_caller(owner, team, &[Scope::Admin]);
        assert!(matches!(
            block_on(lifecycle::export(&key)),
            Err(ServiceError::Forbidden)
        ));
    }
}
