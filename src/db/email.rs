//! The outbox, preferences, verification codes and SendGrid's events (migrations 0009, 0022).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::PgStores;
use crate::email::address::EmailAddress;
use crate::email::codes::{CodePurpose, StoredCode};
use crate::email::event_webhook::SuppressionReason;
use crate::email::outbox::Settlement;
use crate::email::preferences::{Category, Preferences};
use crate::ids::{CodeId, OutboxId, TeamId, UserId};
use crate::store::{
    Audience, AuditRecord, ClaimedRow, CodeRow, DbError, EmailStore, EventEffect, EventWrite,
    EventsApplied, RecipientState,
};

const CODE_COLUMNS: &str =
    "id,user_id,purpose,email,code_hash,pepper_id,issued_at,expires_at,attempts,consumed_at";

/// A `notification_outbox` row as `outbox_claim` returns it.
#[derive(Deserialize)]
struct Claimed {
    id: OutboxId,
    team_id: Option<TeamId>,
    user_id: Option<UserId>,
    recipient: Option<String>,
    payload: Option<Value>,
    attempts: u32,
    lease_token: Option<String>,
    lease_until: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Recipient {
    id: OutboxId,
    alerts: bool,
    product_updates: bool,
    suppressed: Option<String>,
    verified: bool,
}

#[derive(Deserialize)]
struct Code {
    id: CodeId,
    user_id: UserId,
    purpose: CodePurpose,
    email: EmailAddress,
    code_hash: String,
    pepper_id: String,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    attempts: u32,
    consumed_at: Option<DateTime<Utc>>,
}

/// The `p_events` element `sendgrid_apply_events` reads.
fn event_json(event: &EventWrite) -> Value {
    let mut v = match &event.effect {
        EventEffect::Suppress {
            email_normalized,
            reason,
        } => json!({"action": "suppress", "email": email_normalized, "reason": reason.as_str()}),
        EventEffect::Processed { outbox, message_id } => {
            json!({"action": "processed", "outbox_id": outbox, "message_id": message_id})
        }
        EventEffect::OptOut { email_normalized } => {
            json!({"action": "opt_out", "email": email_normalized})
        }
    };
    v["sg_event_id"] = json!(event.sg_event_id);
    v
}

#[async_trait(?Send)]
impl EmailStore for PgStores<'_> {
    async fn enqueue_notification(
        &self,
        key: &str,
        team: Option<TeamId>,
        user: UserId,
        category: Category,
        payload: &Value,
    ) -> Result<Option<OutboxId>, DbError> {
        self.call(
            "notification_enqueue",
            &json!({"p_key": key, "p_team": team, "p_user": user,
                    "p_category": category.as_str(), "p_payload": payload}),
        )
        .await
    }

    async fn enqueue_team_notification(
        &self,
        team: TeamId,
        audience: Audience,
        key: &str,
        category: Category,
        payload: &Value,
    ) -> Result<Vec<OutboxId>, DbError> {
        self.call(
            "notification_enqueue_team",
            &json!({"p_team": team, "p_roles": audience.roles(), "p_key": key,
                    "p_category": category.as_str(), "p_payload": payload}),
        )
        .await
    }

    async fn claim_outbox(
        &self,
        batch: u32,
        lease_seconds: u32,
        reclaim_seconds: u32,
    ) -> Result<Vec<ClaimedRow>, DbError> {
        let rows: Vec<Claimed> = self
            .call(
                "outbox_claim",
                &json!({"batch": batch, "lease_seconds": lease_seconds,
                        "reclaim_seconds": reclaim_seconds}),
            )
            .await?;
        rows.into_iter()
            .map(
                |r| match (r.recipient, r.payload, r.lease_token, r.lease_until) {
                    (Some(recipient), Some(payload), Some(lease_token), Some(lease_until)) => {
                        Ok(ClaimedRow {
                            id: r.id,
                            team: r.team_id,
                            user: r.user_id,
                            recipient,
                            payload,
                            attempts: r.attempts,
                            lease_token,
                            lease_until,
                        })
                    }
                    _ => Err(DbError::Unexpected(format!(
                        "claimed outbox row {} lacks its lease or content",
                        r.id
                    ))),
                },
            )
            .collect()
    }

    async fn recipient_states(&self, ids: &[OutboxId]) -> Result<Vec<RecipientState>, DbError> {
        let rows: Vec<Recipient> = self
            .call("outbox_recipients", &json!({ "p_ids": ids }))
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| RecipientState {
                id: r.id,
                preferences: Preferences {
                    alerts: r.alerts,
                    product_updates: r.product_updates,
                },
                // An unknown reason still suppresses: the address is on the list.
                suppressed: r.suppressed.map(|s| {
                    SuppressionReason::parse(&s).unwrap_or(SuppressionReason::ProviderSuppressed)
                }),
                verified: r.verified,
            })
            .collect())
    }

    async fn settle_outbox(
        &self,
        id: OutboxId,
        lease_token: &str,
        settlement: &Settlement,
    ) -> Result<bool, DbError> {
        self.call(
            "outbox_settle",
            &json!({
                "p_id": id,
                "p_lease_token": lease_token,
                "p_status": settlement.status.as_str(),
                "p_retry_at": settlement.next_attempt_at,
                "p_error": settlement.last_error,
                "p_message_id": settlement.provider_message_id,
            }),
        )
        .await
    }

    async fn email_preferences(&self, user: UserId) -> Result<Preferences, DbError> {
        let query = self
            .db
            .from("email_preferences")
            .select("alerts,product_updates")
            .eq("user_id", user.to_string());
        let row: Option<Preferences> = self.one(query).await?;
        Ok(row.unwrap_or_default())
    }

    async fn set_email_preferences(
        &self,
        user: UserId,
        alerts: Option<bool>,
        product_updates: Option<bool>,
    ) -> Result<Preferences, DbError> {
        self.call(
            "email_preferences_set",
            &json!({"p_user": user, "p_alerts": alerts, "p_product_updates": product_updates}),
        )
        .await
    }

    async fn verified_emails(&self, user: UserId) -> Result<Vec<String>, DbError> {
        #[derive(Deserialize)]
        struct Verified {
            email_normalized: String,
        }
        let query = self
            .db
            .from("verified_emails")
            .select("email_normalized")
            .eq("user_id", user.to_string());
        let rows: Vec<Verified> = self.db.fetch(query).await?;
        Ok(rows.into_iter().map(|r| r.email_normalized).collect())
    }

    async fn codes_issued_since(
        &self,
        user: UserId,
        purpose: CodePurpose,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, DbError> {
        #[derive(Deserialize)]
        struct Issued {
            issued_at: DateTime<Utc>,
        }
        let query = self
            .db
            .from("email_verification_codes")
            .select("issued_at")
            .eq("user_id", user.to_string())
            .eq("purpose", purpose.as_str())
            .gt("issued_at", since.to_rfc3339());
        let rows: Vec<Issued> = self.db.fetch(query).await?;
        Ok(rows.into_iter().map(|r| r.issued_at).collect())
    }

    async fn issue_code(&self, code: &StoredCode) -> Result<CodeId, DbError> {
        self.call(
            "email_code_issue",
            &json!({
                "p_user": code.user,
                "p_purpose": code.purpose.as_str(),
                "p_email": code.email.as_str(),
                "p_hash": code.hash,
                "p_pepper_id": code.pepper_id,
                "p_issued_at": code.issued_at,
                "p_expires_at": code.expires_at,
            }),
        )
        .await
    }

    async fn withdraw_code(&self, id: CodeId) -> Result<(), DbError> {
        self.call::<_, Value>("email_code_withdraw", &json!({ "p_id": id }))
            .await
            .map(drop)
    }

    async fn live_code(
        &self,
        user: UserId,
        purpose: CodePurpose,
    ) -> Result<Option<CodeRow>, DbError> {
        let query = self
            .db
            .from("email_verification_codes")
            .select(CODE_COLUMNS)
            .eq("user_id", user.to_string())
            .eq("purpose", purpose.as_str())
            .is("consumed_at", "null")
            .eq("superseded", "false")
            .order("issued_at.desc")
            .limit(1);
        let row: Option<Code> = self.one(query).await?;
        Ok(row.map(|c| CodeRow {
            id: c.id,
            code: StoredCode {
                user: c.user_id,
                purpose: c.purpose,
                email: c.email,
                hash: c.code_hash,
                pepper_id: c.pepper_id,
                issued_at: c.issued_at,
                expires_at: c.expires_at,
                attempts: c.attempts,
                consumed_at: c.consumed_at,
            },
        }))
    }

    async fn record_code_attempt(
        &self,
        id: CodeId,
        expected_attempts: u32,
        after: &StoredCode,
        audit: Option<&AuditRecord>,
    ) -> Result<bool, DbError> {
        self.call(
            "email_code_attempt",
            &json!({
                "p_id": id,
                "p_expected_attempts": expected_attempts,
                "p_attempts": after.attempts,
                "p_consumed": after.consumed_at.is_some(),
                "p_audit": audit,
            }),
        )
        .await
    }

    async fn apply_sendgrid_events(&self, events: &[EventWrite]) -> Result<EventsApplied, DbError> {
        let events: Vec<Value> = events.iter().map(event_json).collect();
        self.call("sendgrid_apply_events", &json!({ "p_events": events }))
            .await
    }
}
