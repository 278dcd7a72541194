//! Durable state of long jobs (`job_checkpoints`, service role only): a lease that one
//! invocation holds at a time, and the checkpoint it commits, guarded by a sequence number so an
//! invocation that lost its lease can never overwrite newer progress. `crate::jobs::lease` is the
//! mechanism built on it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::DbError;

/// Which job a checkpoint belongs to: its kind (e.g. `backup`) and the id of its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobKey {
    pub kind: &'static str,
    pub id: Uuid,
}

/// A lease taken, with the checkpoint to resume from.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Claim {
    pub seq: i64,
    /// `{}` before the first commit.
    pub state: Value,
    /// When the job was opened.
    pub started_at: DateTime<Utc>,
    /// Invocations in a row that ended in a transient failure.
    pub failures: u32,
}

/// One checkpoint write.
#[derive(Clone, Copy, Debug)]
pub struct Commit<'a> {
    /// The sequence number the write builds on.
    pub seq: i64,
    pub state: &'a Value,
    pub failures: u32,
    /// Give the lease up (the slice is over), instead of renewing it.
    pub release: bool,
}

#[async_trait(?Send)]
pub trait JobStateStore {
    /// Takes the lease of a live job for `lease_seconds`; `None` when another invocation holds
    /// an unexpired one or the job is over.
    async fn claim_job(
        &self,
        key: JobKey,
        token: &str,
        lease_seconds: u32,
    ) -> Result<Option<Claim>, DbError>;
    /// Replaces the checkpoint if `token` still holds the lease and `commit.seq` is current;
    /// the new sequence number, or `None` when the lease was lost (nothing is written then).
    async fn commit_job(
        &self,
        key: JobKey,
        token: &str,
        lease_seconds: u32,
        commit: Commit<'_>,
    ) -> Result<Option<i64>, DbError>;
}
