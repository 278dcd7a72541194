//! `job_checkpoints`, through `job_claim` and `job_commit` (service role only).

use async_trait::async_trait;
use serde_json::json;

use super::PgStores;
use crate::store::{Claim, Commit, DbError, JobKey, JobStateStore};

#[async_trait(?Send)]
impl JobStateStore for PgStores<'_> {
    async fn claim_job(
        &self,
        key: JobKey,
        token: &str,
        lease_seconds: u32,
    ) -> Result<Option<Claim>, DbError> {
        let mut rows: Vec<Claim> = self
            .call(
                "job_claim",
                &json!({"p_kind": key.kind, "p_id": key.id, "p_token": token,
                        "p_lease_seconds": lease_seconds}),
            )
            .await?;
        Ok(rows.pop())
    }

    async fn commit_job(
        &self,
        key: JobKey,
        token: &str,
        lease_seconds: u32,
        commit: Commit<'_>,
    ) -> Result<Option<i64>, DbError> {
        self.call(
            "job_commit",
            &json!({
                "p_kind": key.kind, "p_id": key.id, "p_token": token, "p_seq": commit.seq,
                "p_state": commit.state, "p_failures": commit.failures,
                "p_lease_seconds": lease_seconds, "p_release": commit.release,
            }),
        )
        .await
    }
}
