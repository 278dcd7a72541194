//! The activity chain's heads, the database's verification of a chain, and the pages of an audit
//! pack (service role: the heads and salts tables have no policy for anyone else, and the verify
//! and export routes authorise the caller first).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::PgStores;
use crate::evidence::anchor::{Anchor, NO_TEAM_CHAIN};
use crate::evidence::chain::{format_time, ChainedRow};
use crate::ids::TeamId;
use crate::store::{
    ActivityQuery, ChainHeadRow, DbError, EvidenceQuery, EvidenceStore, EvidenceTable,
};

/// Every column an exported activity row carries, its salt embedded from `activity_log_salts`.
const ACTIVITY_COLUMNS: &str = "id,team_id,occurred_at,actor_type,actor_id,action,target_type,\
target_id,request_id,source_ip,actor_email,actor_name,key_id,client_request_id,chain_version,\
details,chain_seq,prev_hash,row_hash,identity_commitment,activity_log_salts(salt)";

/// Moves the embedded salt (`[{"salt": ...}]`, `{"salt": ...}` or null) to `identity_salt`.
fn chained_row(mut raw: Value) -> Result<ChainedRow, DbError> {
    let embedded = raw
        .as_object_mut()
        .and_then(|o| o.remove("activity_log_salts"))
        .unwrap_or(Value::Null);
    let embedded = match embedded {
        Value::Array(items) => items.into_iter().next().unwrap_or(Value::Null),
        other => other,
    };
    raw["identity_salt"] = embedded.get("salt").cloned().unwrap_or(Value::Null);
    serde_json::from_value(raw).map_err(|e| DbError::Unexpected(format!("activity row: {e}")))
}

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

    async fn chain_head(&self, team: TeamId) -> Result<Option<ChainHeadRow>, DbError> {
        let query = self
            .db
            .from("activity_chain_heads")
            .select("chain_team,seq,head_hash")
            .eq("chain_team", team.to_string())
            .gt("seq", "0")
            .limit(1);
        let rows: Vec<HeadRow> = self.db.fetch(query).await?;
        Ok(rows.into_iter().next().map(|r| ChainHeadRow {
            team: Some(team),
            seq: r.seq,
            head_hash: r.head_hash,
        }))
    }

    async fn activity_page(&self, q: &ActivityQuery) -> Result<Vec<ChainedRow>, DbError> {
        let mut query = self
            .db
            .from("activity_logs")
            .select(ACTIVITY_COLUMNS)
            .eq("team_id", q.team.to_string())
            .gt("chain_seq", q.after_seq.to_string())
            .lte("chain_seq", q.max_seq.to_string())
            .gte("occurred_at", format_time(&q.from))
            .lt("occurred_at", format_time(&q.to));
        if let Some(prefix) = q.action_prefix {
            query = query.like("action", format!("{prefix}*"));
        }
        let query = query.order("chain_seq.asc").limit(q.limit);
        let rows: Vec<Value> = self.db.fetch(query).await?;
        rows.into_iter().map(chained_row).collect()
    }

    async fn evidence_page(&self, q: &EvidenceQuery) -> Result<Vec<Value>, DbError> {
        // Backups and runs are in the range by when they started, guidance records by when they
        // were made; remediations are current state.
        let (table, columns, ranged): (_, _, Option<&str>) = match q.table {
            EvidenceTable::Backups => (
                "backups",
                super::backups::COLUMNS.to_string(),
                Some("started_at"),
            ),
            EvidenceTable::ComplianceRuns => (
                "compliance_runs",
                super::compliance::RUN_COLUMNS.to_string(),
                Some("started_at"),
            ),
            EvidenceTable::Remediations => (
                "compliance_remediations",
                format!("id,{}", super::compliance::REMEDIATION_COLUMNS),
                None,
            ),
            EvidenceTable::AiGuidance => (
                "guidance_records",
                super::ai::RECORD_COLUMNS.to_string(),
                Some("created_at"),
            ),
        };
        let mut query = self
            .db
            .from(table)
            .select(columns)
            .eq("team_id", q.team.to_string());
        if let Some(at) = ranged {
            query = query
                .gte(at, format_time(&q.from))
                .lt(at, format_time(&q.to));
        }
        if let Some(after) = &q.after {
            query = query.gt("id", after.as_str());
        }
        let query = query.order("id.asc").limit(q.limit);
        self.db.fetch(query).await
    }

    async fn run_findings(&self, team: TeamId, runs: &[String]) -> Result<Vec<Value>, DbError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let query = self
            .db
            .from("compliance_findings")
            .select(super::compliance::FINDING_COLUMNS)
            .eq("team_id", team.to_string())
            .in_("run_id", runs)
            .order("run_id.asc,check_id.asc");
        self.db.fetch(query).await
    }
}
