//! The reusable machinery of long jobs: a lease on the job's checkpoint, held by one invocation
//! at a time, and a driver that runs one bounded slice of a job under it.
//!
//! Every commit names the lease token and the sequence number it builds on, so an invocation
//! that lost its lease (it was too slow and another took over) writes nothing; the job then stops
//! with [`Stop::Superseded`] and leaves the rest to its successor. A slice that pauses releases
//! the lease so the next message can start at once. Transient failures are counted on the
//! checkpoint row across invocations: after [`MAX_TRANSIENT_FAILURES`] in a row the job fails
//! instead of retrying for ever. Backups run on it; restores, drills, drift checks, pruning and
//! exports are meant to.

use std::cell::{Cell, RefCell};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Next;
use crate::ports::Rng;
use crate::services::{Privileged, ServiceError};
use crate::store::{Commit, DbError, JobKey, JobStateStore};

/// A slice's lease, renewed by every commit. Longer than any gap between commits (a
/// checkpoint interval, plus a full rate-limit window and the retries of one request), so a
/// live slice never loses it; short enough that a killed slice's successor waits minutes.
pub const LEASE_SECONDS: u32 = 300;

/// Slices in a row that may end in a transient failure before the job is failed.
pub const MAX_TRANSIENT_FAILURES: u32 = 5;

/// How long a message that found its job busy waits before it is delivered again: a held lease
/// is either renewed by a live invocation (which sends the job on itself) or lapses.
pub const BUSY_RETRY_SECONDS: u32 = 60;

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another invocation took the job over; this one must stop writing.
    #[error("the job's lease was lost")]
    Lost,
    #[error("checkpoint store unavailable: {0}")]
    Unavailable(String),
}

/// A held lease on a job's checkpoint, with the last state committed (or claimed).
pub struct Lease<'s, S> {
    store: &'s dyn JobStateStore,
    key: JobKey,
    token: String,
    seq: Cell<i64>,
    failures: Cell<u32>,
    last: RefCell<S>,
    first: bool,
    started_at: DateTime<Utc>,
}

impl<'s, S: Serialize + DeserializeOwned + Clone> Lease<'s, S> {
    /// Takes the job's lease; `None` when another invocation holds it or the job is over.
    pub async fn claim(
        store: &'s dyn JobStateStore,
        key: JobKey,
        rng: &dyn Rng,
    ) -> Result<Option<Lease<'s, S>>, ServiceError> {
        let token = {
            let mut bytes = [0u8; 16];
            rng.fill(&mut bytes);
            hex::encode(bytes)
        };
        let Some(claim) = store.claim_job(key, &token, LEASE_SECONDS).await? else {
            return Ok(None);
        };
        let state: S = serde_json::from_value(claim.state).map_err(|e| {
            ServiceError::Internal(format!(
                "{} {} checkpoint unreadable: {e}",
                key.kind, key.id
            ))
        })?;
        Ok(Some(Lease {
            store,
            key,
            token,
            seq: Cell::new(claim.seq),
            failures: Cell::new(claim.failures),
            last: RefCell::new(state),
            first: claim.seq == 0,
            started_at: claim.started_at,
        }))
    }

    /// The state to resume from (the last one committed).
    pub fn state(&self) -> S {
        self.last.borrow().clone()
    }

    /// Whether no invocation has committed anything yet (this is the job's first slice).
    pub fn is_first(&self) -> bool {
        self.first
    }

    /// When the job was opened.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// This invocation's token (unique per invocation, e.g. to name what it writes).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Commits `state` and renews the lease.
    pub async fn commit(&self, state: &S) -> Result<(), LeaseError> {
        self.write(state, self.failures.get(), false).await
    }

    /// Gives the lease up after a slice that went well (the failure count starts over).
    pub async fn release(&self) -> Result<(), LeaseError> {
        self.write(&self.state(), 0, true).await
    }

    async fn write(&self, state: &S, failures: u32, release: bool) -> Result<(), LeaseError> {
        let json =
            serde_json::to_value(state).map_err(|e| LeaseError::Unavailable(e.to_string()))?;
        let commit = Commit {
            seq: self.seq.get(),
            state: &json,
            failures,
            release,
        };
        match self
            .store
            .commit_job(self.key, &self.token, LEASE_SECONDS, commit)
            .await
        {
            Ok(Some(seq)) => {
                self.seq.set(seq);
                self.failures.set(failures);
                *self.last.borrow_mut() = state.clone();
                Ok(())
            }
            Ok(None) => Err(LeaseError::Lost),
            Err(e) => Err(LeaseError::Unavailable(e.to_string())),
        }
    }
}

/// Why a slice ended early.
#[derive(Debug)]
pub enum Stop {
    /// Another invocation took the lease: leave everything to it.
    Superseded,
    /// Worth another try later (the source, the object store or the database kept failing).
    Transient(ServiceError),
    /// The job cannot succeed.
    Failed(ServiceError),
}

impl From<ServiceError> for Stop {
    fn from(e: ServiceError) -> Stop {
        Stop::Failed(e)
    }
}

impl From<DbError> for Stop {
    fn from(e: DbError) -> Stop {
        Stop::Failed(e.into())
    }
}

/// One long job, as the driver sees it.
#[async_trait(?Send)]
pub trait SlicedJob {
    /// What the job checkpoints.
    type State: Serialize + DeserializeOwned + Clone;
    /// What a finished job hands to [`SlicedJob::finish`].
    type Done;

    fn key(&self) -> JobKey;
    /// Whether the job's own row still says it runs (tells "busy" from "over" when the lease
    /// cannot be taken).
    async fn is_running(&self, sys: &Privileged<'_>) -> Result<bool, ServiceError>;
    /// Once, on the first slice.
    async fn started(&self, sys: &Privileged<'_>) -> Result<(), ServiceError>;
    /// One bounded slice from the lease's state: `Some` once the job's work is done, `None`
    /// when its budget ran out (progress committed through the lease).
    async fn slice(
        &self,
        sys: &Privileged<'_>,
        lease: &Lease<'_, Self::State>,
    ) -> Result<Option<Self::Done>, Stop>;
    /// Records success; `Ok(false)` when another invocation recorded it first.
    async fn finish(&self, sys: &Privileged<'_>, done: Self::Done) -> Result<bool, ServiceError>;
    /// Records why the job failed (in words fit to show users: internal details belong in the
    /// worker log only).
    async fn fail(&self, sys: &Privileged<'_>, error: &ServiceError) -> Result<(), ServiceError>;
}

/// How one slice of a job ended.
#[derive(Debug, PartialEq, Eq)]
pub enum SliceEnd {
    /// The job's work is done and recorded.
    Finished,
    /// The budget ran out; the checkpoint is committed and the job must be sent again.
    Paused,
    /// Another invocation holds an unexpired lease: try again once it may have lapsed.
    Busy,
    /// Another invocation took the lease over mid-slice: it carries the job on.
    Superseded,
    /// A transient failure: progress is kept and the job must be sent again after a delay.
    RetryLater(String),
    /// The job had already ended (queues deliver at least once).
    Over,
    /// The job failed, and its row says why.
    Failed(String),
}

impl SliceEnd {
    /// What happens to the job's message.
    pub fn next(&self, retry_seconds: u32) -> Next {
        match self {
            SliceEnd::Paused => Next::Resend(0),
            SliceEnd::RetryLater(_) => Next::Resend(retry_seconds),
            SliceEnd::Busy => Next::RetryAfter(BUSY_RETRY_SECONDS),
            SliceEnd::Finished | SliceEnd::Superseded | SliceEnd::Over | SliceEnd::Failed(_) => {
                Next::Ack
            }
        }
    }
}

/// Runs one slice of `job` under its lease. Errors are only those of recording an outcome;
/// everything else ends up on the job's row.
pub async fn run_slice<J: SlicedJob>(
    sys: &Privileged<'_>,
    job: &J,
) -> Result<SliceEnd, ServiceError> {
    let Some(lease) = Lease::<J::State>::claim(sys.stores(), job.key(), sys.deps.rng).await? else {
        return Ok(if job.is_running(sys).await? {
            SliceEnd::Busy
        } else {
            SliceEnd::Over
        });
    };
    if lease.is_first() {
        job.started(sys).await?;
    }
    let stop = match job.slice(sys, &lease).await {
        Ok(None) => {
            return match lease.release().await {
                Ok(()) | Err(LeaseError::Lost) => Ok(SliceEnd::Paused),
                Err(e) => Err(ServiceError::Internal(e.to_string())),
            }
        }
        Ok(Some(done)) => {
            return Ok(if job.finish(sys, done).await? {
                SliceEnd::Finished
            } else {
                SliceEnd::Over
            })
        }
        Err(stop) => stop,
    };
    let e = match stop {
        Stop::Superseded => return Ok(SliceEnd::Superseded),
        Stop::Transient(e) if lease.failures.get() < MAX_TRANSIENT_FAILURES => {
            // Keep what was done; the job is sent again after a delay.
            let failures = lease.failures.get() + 1;
            return match lease.write(&lease.state(), failures, true).await {
                Ok(()) | Err(LeaseError::Lost) => Ok(SliceEnd::RetryLater(e.to_string())),
                Err(_) => Err(e),
            };
        }
        Stop::Transient(e) | Stop::Failed(e) => e,
    };
    job.fail(sys, &e).await?;
    Ok(SliceEnd::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::backup;
    use crate::store::JobStateStore;
    use crate::testing::world::World;
    use futures::executor::block_on;
    use serde_json::{json, Value};

    /// A running backup nobody works on, and its job key.
    fn running(world: &World) -> JobKey {
        let owner = world.user();
        let connection = world.connect(owner);
        let row = block_on(backup::request(&world.caller(owner), connection)).unwrap();
        JobKey {
            kind: backup::KIND,
            id: row.id.as_uuid(),
        }
    }

    fn claim<'s>(
        store: &'s dyn JobStateStore,
        key: JobKey,
        world: &World,
    ) -> Option<Lease<'s, Value>> {
        block_on(Lease::claim(store, key, world.deps.rng)).unwrap()
    }

    #[test]
    fn one_invocation_holds_the_lease_and_a_superseded_one_writes_nothing() {
        let world = World::new();
        let key = running(&world);
        let sys = world.system("test");
        let first = claim(sys.stores(), key, &world).expect("free");
        assert!(first.is_first());
        assert!(claim(sys.stores(), key, &world).is_none(), "held");
        block_on(first.commit(&json!({"n": 1}))).unwrap();
        // The holder dies; its lease lapses and a successor takes over from its last commit.
        world.db.expire_leases();
        let second = claim(sys.stores(), key, &world).expect("lapsed");
        assert!(!second.is_first());
        assert_eq!(second.state(), json!({"n": 1}));
        assert!(matches!(
            block_on(first.commit(&json!({"n": 2}))),
            Err(LeaseError::Lost)
        ));
        // Released at the end of a slice: the next message starts at once, from there.
        block_on(second.commit(&json!({"n": 3}))).unwrap();
        block_on(second.release()).unwrap();
        assert_eq!(
            claim(sys.stores(), key, &world).unwrap().state(),
            json!({"n": 3})
        );
    }

    #[test]
    fn a_finished_job_cannot_be_claimed() {
        let world = World::new();
        let key = running(&world);
        world.drain_queue();
        let sys = world.system("test");
        assert!(claim(sys.stores(), key, &world).is_none());
    }

    #[test]
    fn each_end_of_a_slice_decides_its_message() {
        assert_eq!(SliceEnd::Paused.next(60), Next::Resend(0));
        assert_eq!(SliceEnd::RetryLater("x".into()).next(60), Next::Resend(60));
        assert_eq!(
            SliceEnd::Busy.next(60),
            Next::RetryAfter(BUSY_RETRY_SECONDS)
        );
        for done in [
            SliceEnd::Finished,
            SliceEnd::Superseded,
            SliceEnd::Over,
            SliceEnd::Failed("x".into()),
        ] {
            assert_eq!(done.next(60), Next::Ack);
        }
    }
}
