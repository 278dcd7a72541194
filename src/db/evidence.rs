//! The activity chain's heads and the database's verification of a chain (service role: the
//! heads table has no policy for anyone else, and the verify route authorises the caller first).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::PgStores;
use crate::evidence::anchor::{Anchor, NO_TEAM_CHAIN};
use crate::ids::TeamId;
use crate::store::{ChainHeadRow, DbError, EvidenceStore};

#[derive(Deserialize)]
struct HeadRow {
    chain_team: String,
    seq: i64,
    head_hash: String,
}

#[async_trait(?Send)]
impl EvidenceStore for PgStores<'_> {
    async fn chain_heads(&self) -> Result<Vec<ChainHeadRow>, DbError> {
        let query = self
            .db
            .from("activity_chain_heads")
            .select("chain_team,seq,head_hash")
            .gt("seq", "0")
            .order("chain_team.asc");
        let rows: Vec<HeadRow> = self.db.fetch(query).await?;
        rows.into_iter()
            .map(|r| {
                let team = if r.chain_team == NO_TEAM_CHAIN {
                    None
                } else {
                    Some(TeamId::parse(&r.chain_team).map_err(|_| {
                        DbError::Unexpected(format!("chain head of {:?}", r.chain_team))
                    })?)
                };
                Ok(ChainHeadRow {
                    team,
                    seq: r.seq,
                    head_hash: r.head_hash,
                })
            })
            .collect()
    }

    async fn verify_chain(&self, team: TeamId, anchors: &[Anchor]) -> Result<Value, DbError> {
        let anchors: Vec<Value> = anchors
            .iter()
            .map(|a| json!({"seq": a.seq, "head_hash": a.head_hash}))
            .collect();
        self.call(
            "activity_chain_verify_unchecked",
            &json!({"team": team, "from_seq": 1, "expected_prev": null, "anchors": anchors}),
        )
        .await
    }
}
