//! The notifications outbox, email preferences, verification codes and SendGrid's events
//! (migrations 0009 and 0022). Everything but reading one's own preferences is the service
//! role's: the worker writes after it verified a signature, authenticated a user or as a job.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{AuditRecord, DbError};
use crate::email::codes::{CodePurpose, StoredCode};
use crate::email::event_webhook::SuppressionReason;
use crate::email::outbox::Settlement;
use crate::email::preferences::{Category, Preferences};
use crate::ids::{CodeId, OutboxId, TeamId, UserId};

/// A claimed outbox row: what one delivery attempt needs, under its lease.
#[derive(Clone, Debug)]
pub struct ClaimedRow {
    pub id: OutboxId,
    pub team: Option<TeamId>,
    pub user: Option<UserId>,
    /// As stored; parsed (and never logged) by the delivery job.
    pub recipient: String,
    pub payload: Value,
    /// Including this attempt.
    pub attempts: u32,
    pub lease_token: String,
    pub lease_until: DateTime<Utc>,
}

/// What the delivery decision needs to know about a claimed row's recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecipientState {
    pub id: OutboxId,
    pub preferences: Preferences,
    pub suppressed: Option<SuppressionReason>,
    /// The user proved this very address with a code.
    pub verified: bool,
}

/// Whom a team notification goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Owners and admins: failed backups and drills, drift alerts, restore receipts.
    Admins,
    /// Owners only: billing.
    Owners,
}

impl Audience {
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Audience::Admins => &["owner", "admin"],
            Audience::Owners => &["owner"],
        }
    }
}

/// A stored verification code with its row id.
#[derive(Clone, Debug)]
pub struct CodeRow {
    pub id: CodeId,
    pub code: StoredCode,
}

/// One actionable SendGrid event, ready for `sendgrid_apply_events`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventWrite {
    pub sg_event_id: Option<String>,
    pub effect: EventEffect,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventEffect {
    /// The address, lowercased.
    Suppress {
        email_normalized: String,
        reason: SuppressionReason,
    },
    Processed {
        outbox: OutboxId,
        message_id: Option<String>,
    },
    OptOut {
        email_normalized: String,
    },
}

/// What one webhook post changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventsApplied {
    pub duplicates: u32,
    pub suppressed: u32,
    pub settled: u32,
    pub opted_out: u32,
}

#[async_trait(?Send)]
pub trait EmailStore {
    /// Service role: one notification for `user` at their account's address, unless `key` was
    /// used before (or the user has no address). The new row's id.
    async fn enqueue_notification(
        &self,
        key: &str,
        team: Option<TeamId>,
        user: UserId,
        category: Category,
        payload: &Value,
    ) -> Result<Option<OutboxId>, DbError>;
    /// Service role: one notification per member of `team` in `audience`, keyed
    /// `<key>:<user id>`. The new rows' ids.
    async fn enqueue_team_notification(
        &self,
        team: TeamId,
        audience: Audience,
        key: &str,
        category: Category,
        payload: &Value,
    ) -> Result<Vec<OutboxId>, DbError>;
    /// Service role: up to `batch` due rows, each under a fresh lease (`outbox_claim`).
    async fn claim_outbox(
        &self,
        batch: u32,
        lease_seconds: u32,
        reclaim_seconds: u32,
    ) -> Result<Vec<ClaimedRow>, DbError>;
    /// Service role: the recipients' preferences, suppression and verification.
    async fn recipient_states(&self, ids: &[OutboxId]) -> Result<Vec<RecipientState>, DbError>;
    /// Service role: writes an attempt's outcome under the lease; `false` when it was lost.
    async fn settle_outbox(
        &self,
        id: OutboxId,
        lease_token: &str,
        settlement: &Settlement,
    ) -> Result<bool, DbError>;
    /// The user's preferences (their own row, through their JWT; defaults without one).
    async fn email_preferences(&self, user: UserId) -> Result<Preferences, DbError>;
    /// Service role: sets the given choices and returns them all.
    async fn set_email_preferences(
        &self,
        user: UserId,
        alerts: Option<bool>,
        product_updates: Option<bool>,
    ) -> Result<Preferences, DbError>;
    /// The addresses the user verified, lowercased (their own rows, through their JWT).
    async fn verified_emails(&self, user: UserId) -> Result<Vec<String>, DbError>;
    /// Service role: when this user's codes for `purpose` were issued since `since`.
    async fn codes_issued_since(
        &self,
        user: UserId,
        purpose: CodePurpose,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, DbError>;
    /// Service role: stores a new code, superseding the user's live one for its purpose.
    async fn issue_code(&self, code: &StoredCode) -> Result<CodeId, DbError>;
    /// Service role: withdraws a code that could not be mailed.
    async fn withdraw_code(&self, id: CodeId) -> Result<(), DbError>;
    /// Service role: the user's live (neither consumed nor superseded) code for `purpose`.
    async fn live_code(
        &self,
        user: UserId,
        purpose: CodePurpose,
    ) -> Result<Option<CodeRow>, DbError>;
    /// Service role: stores one attempt (compare-and-set on the attempt count); a consumed
    /// email code verifies its address, with `audit`. `false` when the row moved on.
    async fn record_code_attempt(
        &self,
        id: CodeId,
        expected_attempts: u32,
        after: &StoredCode,
        audit: Option<&AuditRecord>,
    ) -> Result<bool, DbError>;
    /// Service role: applies a verified webhook post's events, each once per event id.
    async fn apply_sendgrid_events(&self, events: &[EventWrite]) -> Result<EventsApplied, DbError>;
}
