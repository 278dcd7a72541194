//! Chain-head anchoring: each cron run queues one job per activity chain, and each job copies
//! its chain's head to R2 as a write-once object ([`crate::evidence::anchor`]) unless that head
//! is already anchored. The anchor is what exposes a chain rewritten consistently by someone who
//! controls the database: every verification compares the rows with the latest anchor, and
//! because each row's hash covers the one before it, the latest anchor covers every row up to it.
//!
//! Writing an anchor is not itself an activity row: a row would move the head it just anchored,
//! so every run would find a new head to anchor. The log line records each write instead.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FanOut, Job, Next, Ran};
use crate::evidence::anchor::{latest_anchor, needs_anchor, write_anchor, Anchor, AnchorError};
use crate::ids::TeamId;
use crate::services::audit::RequestMeta;
use crate::services::{Deps, Privileged, ServiceError};

/// Retry delay after R2 or the database failed.
const RETRY_SECONDS: u32 = 300;

/// Anchor this head of this chain (read by the cron that queued the job).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorJob {
    pub meta: RequestMeta,
    /// `None`: the chain of rows without a team.
    pub team: Option<TeamId>,
    pub seq: i64,
    pub head_hash: String,
}

/// One job per chain with rows.
pub async fn fan_out(sys: &Privileged<'_>) -> Result<FanOut, ServiceError> {
    let heads = sys.stores().chain_heads().await?;
    Ok(FanOut {
        jobs: heads
            .into_iter()
            .map(|h| {
                Job::Anchor(AnchorJob {
                    meta: sys.meta().clone(),
                    team: h.team,
                    seq: h.seq,
                    head_hash: h.head_hash,
                })
            })
            .collect(),
        ..FanOut::default()
    })
}

pub async fn run(deps: &Deps<'_>, job: &AnchorJob) -> Ran {
    let latest = match latest_anchor(deps.store, job.team).await {
        Ok(latest) => latest,
        Err(e) => return failed(e),
    };
    if !needs_anchor(latest.as_ref(), job.seq) {
        return Ran {
            next: Next::Ack,
            log: json!({"anchor": "current", "latest_seq": latest.map(|a| a.seq)}),
        };
    }
    let anchor = Anchor::new(job.team, job.seq, &job.head_hash, deps.clock.now());
    match write_anchor(deps.store, &anchor).await {
        Ok(write) => Ran {
            next: Next::Ack,
            log: json!({"anchor": format!("{write:?}").to_lowercase(), "key": anchor.key()}),
        },
        Err(e) => failed(e),
    }
}

/// A store failure is retried; an existing anchor that disagrees with the head (or an object
/// that is not an anchor) is evidence of a rewrite: logged as an error, never overwritten, and
/// not retried (nothing a retry could change).
fn failed(e: AnchorError) -> Ran {
    match e {
        AnchorError::Store(e) => Ran {
            next: Next::RetryAfter(RETRY_SECONDS),
            log: json!({"level": "warn", "error": e.to_string()}),
        },
        other => Ran {
            next: Next::Ack,
            log: json!({"level": "error", "anchor": "refused", "error": other.to_string()}),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::anchor::chain_prefix;
    use crate::jobs::{deliver, scheduled};
    use crate::ports::ObjectStore;
    use crate::store::ChainHeadRow;
    use crate::testing::world::World;
    use futures::executor::block_on;

    #[test]
    fn each_chain_head_is_anchored_once_and_a_rewrite_is_never_overwritten() {
        let world = World::new();
        let now = world.deps.clock.now();
        let team = world.team_of(world.user());
        world.db.set_chain_heads(vec![
            ChainHeadRow {
                team: Some(team),
                seq: 7,
                head_hash: "a".repeat(64),
            },
            ChainHeadRow {
                team: None,
                seq: 2,
                head_hash: "b".repeat(64),
            },
        ]);
        let log = block_on(scheduled(world.deps, &world.deps.config.anchor_cron));
        assert_eq!(log["event"], "scheduled.anchors", "{log}");
        assert_eq!(log["queued"], 2, "{log}");
        for (message, _) in world.queue.sent.take() {
            let delivery = block_on(deliver(world.deps, message));
            assert_eq!(delivery.retry_after, None, "{}", delivery.log);
            assert_eq!(delivery.log["anchor"], "created", "{}", delivery.log);
        }
        let anchored = block_on(latest_anchor(world.objects, Some(team)))
            .unwrap()
            .unwrap();
        assert_eq!(
            (anchored.seq, anchored.head_hash.as_str()),
            (7, "a".repeat(64).as_str())
        );
        assert_eq!(
            block_on(world.objects.list(&chain_prefix(None)))
                .unwrap()
                .len(),
            1
        );

        // The next run with the same heads writes nothing.
        let writes = world.objects.writes();
        block_on(scheduled(world.deps, &world.deps.config.anchor_cron));
        for (message, _) in world.queue.sent.take() {
            let delivery = block_on(deliver(world.deps, message));
            assert_eq!(delivery.log["anchor"], "current", "{}", delivery.log);
        }
        assert_eq!(world.objects.writes(), writes);

        // An object in the chain's anchors that is not a valid anchor (written around the
        // job): the job refuses to go on, says so at error level, and leaves it for a human.
        let bogus = Anchor::new(Some(team), 9, &"d".repeat(64), now).key();
        block_on(world.objects.put(&bogus, b"{}".to_vec())).unwrap();
        let job = AnchorJob {
            meta: RequestMeta::internal("req_x".into()),
            team: Some(team),
            seq: 10,
            head_hash: "e".repeat(64),
        };
        let ran = block_on(run(world.deps, &job));
        assert_eq!(ran.next, Next::Ack);
        assert_eq!(
            (ran.log["level"].as_str(), ran.log["anchor"].as_str()),
            (Some("error"), Some("refused")),
            "{}",
            ran.log
        );
        assert_eq!(block_on(world.objects.get(&bogus)).unwrap().unwrap(), b"{}");
    }
}
