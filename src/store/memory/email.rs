//! The email tables in memory, with migration 0022's rules: one row per idempotency key, claims
//! under a lease that only their holder settles, terminal rows erased, the failed-backup
//! trigger, one live code per user and purpose, events applied once per id.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::{MemoryDb, MemoryStores, Tables};
use crate::email::codes::{CodePurpose, StoredCode};
use crate::email::event_webhook::SuppressionReason;
use crate::email::outbox::{OutboxStatus, Settlement};
use crate::email::preferences::{Category, Preferences};
use crate::ids::{BackupId, CodeId, OutboxId, TeamId, UserId};
use crate::store::{
    Audience, AuditRecord, ClaimedRow, CodeRow, DbError, EmailStore, EventEffect, EventWrite,
    EventsApplied, RecipientState,
};

/// One `notification_outbox` row.
#[derive(Clone, Debug)]
pub struct OutboxEntry {
    pub id: OutboxId,
    pub key: String,
    pub team: Option<TeamId>,
    pub user: Option<UserId>,
    pub category: Category,
    pub recipient: Option<String>,
    pub payload: Option<Value>,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_token: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
}

#[derive(Default)]
pub(super) struct EmailTables {
    /// `auth.users.email`.
    users: BTreeMap<UserId, String>,
    outbox: Vec<OutboxEntry>,
    preferences: BTreeMap<UserId, Preferences>,
    suppressions: BTreeMap<String, SuppressionReason>,
    verified: BTreeSet<(UserId, String)>,
    /// Codes with their `superseded` flag.
    codes: Vec<(CodeId, StoredCode, bool)>,
    sendgrid_events: BTreeSet<String>,
    leases: u64,
}

impl EmailTables {
    /// What sign-up gives a user: an address (`World` callers sign in with the same one).
    pub(super) fn sign_up(&mut self, user: UserId) {
        self.users
            .entry(user)
            .or_insert_with(|| format!("{user}@test.local"));
    }

    /// One row per idempotency key, to a user with an address (as `notification_outbox`'s
    /// unique key and `auth.users` decide).
    pub(super) fn insert(
        &mut self,
        key: String,
        team: Option<TeamId>,
        user: UserId,
        category: Category,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Option<OutboxId> {
        let recipient = self.users.get(&user)?.clone();
        if self.outbox.iter().any(|o| o.key == key) {
            return None;
        }
        self.leases += 1;
        let id =
            OutboxId::parse(&format!("00000000-0000-4000-9000-{:012}", self.leases)).expect("id");
        self.outbox.push(OutboxEntry {
            id,
            key,
            team,
            user: Some(user),
            category,
            recipient: Some(recipient),
            payload: Some(payload.clone()),
            status: OutboxStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            lease_token: None,
            lease_until: None,
            last_error: None,
            provider_message_id: None,
        });
        Some(id)
    }
}

/// `notification_enqueue_team` over the tables (shared by the store and the trigger).
fn enqueue_team(
    t: &mut Tables,
    team: TeamId,
    audience: Audience,
    key: &str,
    category: Category,
    payload: &Value,
    now: DateTime<Utc>,
) -> Vec<OutboxId> {
    let members: Vec<UserId> = t
        .members
        .iter()
        .filter(|m| m.team_id == team && audience.roles().contains(&m.role.as_str()))
        .map(|m| m.user_id)
        .collect();
    let mut ids = Vec::new();
    for user in members {
        if let Some(id) = t.email.insert(
            format!("{key}:{user}"),
            Some(team),
            user,
            category,
            payload,
            now,
        ) {
            ids.push(id);
        }
    }
    ids
}

/// The `backups_failed_notify` trigger.
pub(super) fn backup_failed(
    t: &mut Tables,
    team: TeamId,
    backup: BackupId,
    connection_domain: &str,
    reason: &str,
    now: DateTime<Utc>,
) {
    let payload = json!({"kind": "backup_failed", "org_domain": connection_domain,
                         "backup_id": backup, "reason_code": reason});
    enqueue_team(
        t,
        team,
        Audience::Admins,
        &format!("backup_failed:{backup}"),
        Category::Alerts,
        &payload,
        now,
    );
}

impl MemoryDb {
    /// Every outbox row, for assertions.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        self.tables.borrow().email.outbox.clone()
    }

    /// Changes a user's account address (`auth.users.email`).
    pub fn set_user_email(&self, user: UserId, email: &str) {
        self.tables
            .borrow_mut()
            .email
            .users
            .insert(user, email.to_string());
    }

    /// Marks an address as proven by its user (what a confirmed code does).
    pub fn verify_email(&self, user: UserId, email: &str) {
        self.tables
            .borrow_mut()
            .email
            .verified
            .insert((user, email.to_ascii_lowercase()));
    }

    /// The suppression of an address, if any.
    pub fn suppression(&self, email: &str) -> Option<SuppressionReason> {
        self.tables
            .borrow()
            .email
            .suppressions
            .get(&email.to_ascii_lowercase())
            .copied()
    }
}

impl MemoryStores<'_> {
    fn own(&self, user: UserId) -> bool {
        self.caller.as_ref().is_none_or(|(u, _)| *u == user)
    }
}

#[async_trait(?Send)]
impl EmailStore for MemoryStores<'_> {
    async fn enqueue_notification(
        &self,
        key: &str,
        team: Option<TeamId>,
        user: UserId,
        category: Category,
        payload: &Value,
    ) -> Result<Option<OutboxId>, DbError> {
        self.system("enqueue_notification")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        Ok(t.email
            .insert(key.to_string(), team, user, category, payload, now))
    }

    async fn enqueue_team_notification(
        &self,
        team: TeamId,
        audience: Audience,
        key: &str,
        category: Category,
        payload: &Value,
    ) -> Result<Vec<OutboxId>, DbError> {
        self.system("enqueue_team_notification")?;
        let now = self.now();
        Ok(enqueue_team(
            &mut self.db.tables.borrow_mut(),
            team,
            audience,
            key,
            category,
            payload,
            now,
        ))
    }

    async fn claim_outbox(
        &self,
        batch: u32,
        lease_seconds: u32,
        reclaim_seconds: u32,
    ) -> Result<Vec<ClaimedRow>, DbError> {
        self.system("claim_outbox")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let email = &mut t.email;
        let mut due: Vec<usize> = (0..email.outbox.len())
            .filter(|&i| {
                let o = &email.outbox[i];
                matches!(o.status, OutboxStatus::Pending | OutboxStatus::Sending)
                    && o.next_attempt_at <= now
            })
            .collect();
        due.sort_by_key(|&i| email.outbox[i].next_attempt_at);
        due.truncate(batch.clamp(1, 100) as usize);
        let mut claimed = Vec::new();
        for i in due {
            email.leases += 1;
            let token = format!("00000000-0000-4000-a000-{:012}", email.leases);
            let o = &mut email.outbox[i];
            o.status = OutboxStatus::Sending;
            o.attempts += 1;
            o.lease_token = Some(token.clone());
            o.lease_until = Some(now + Duration::seconds(lease_seconds.into()));
            o.next_attempt_at = now + Duration::seconds((lease_seconds + reclaim_seconds).into());
            claimed.push(ClaimedRow {
                id: o.id,
                team: o.team,
                user: o.user,
                recipient: o.recipient.clone().expect("live rows keep their recipient"),
                payload: o.payload.clone().expect("live rows keep their payload"),
                attempts: o.attempts,
                lease_token: token,
                lease_until: o.lease_until.expect("set"),
            });
        }
        Ok(claimed)
    }

    async fn recipient_states(&self, ids: &[OutboxId]) -> Result<Vec<RecipientState>, DbError> {
        self.system("recipient_states")?;
        let t = self.db.tables.borrow();
        let email = &t.email;
        Ok(email
            .outbox
            .iter()
            .filter(|o| ids.contains(&o.id))
            .filter_map(|o| {
                let address = o.recipient.as_ref()?.to_ascii_lowercase();
                Some(RecipientState {
                    id: o.id,
                    preferences: o
                        .user
                        .and_then(|u| email.preferences.get(&u).copied())
                        .unwrap_or_default(),
                    suppressed: email.suppressions.get(&address).copied(),
                    verified: o
                        .user
                        .is_some_and(|u| email.verified.contains(&(u, address))),
                })
            })
            .collect())
    }

    async fn settle_outbox(
        &self,
        id: OutboxId,
        lease_token: &str,
        settlement: &Settlement,
    ) -> Result<bool, DbError> {
        self.system("settle_outbox")?;
        let mut t = self.db.tables.borrow_mut();
        let Some(o) = t.email.outbox.iter_mut().find(|o| {
            o.id == id
                && o.status == OutboxStatus::Sending
                && o.lease_token.as_deref() == Some(lease_token)
        }) else {
            return Ok(false);
        };
        if settlement.status == OutboxStatus::Pending && settlement.next_attempt_at.is_none() {
            return Err(DbError::Constraint);
        }
        o.status = settlement.status;
        if let Some(at) = settlement.next_attempt_at {
            o.next_attempt_at = at;
        }
        o.last_error = settlement.last_error.map(str::to_string);
        if settlement.provider_message_id.is_some() {
            o.provider_message_id = settlement.provider_message_id.clone();
        }
        o.lease_token = None;
        o.lease_until = None;
        if settlement.status.is_terminal() {
            o.recipient = None;
            o.payload = None;
        }
        Ok(true)
    }

    async fn email_preferences(&self, user: UserId) -> Result<Preferences, DbError> {
        let t = self.read("email_preferences")?;
        Ok(if self.own(user) {
            t.email.preferences.get(&user).copied().unwrap_or_default()
        } else {
            Preferences::default()
        })
    }

    async fn set_email_preferences(
        &self,
        user: UserId,
        alerts: Option<bool>,
        product_updates: Option<bool>,
    ) -> Result<Preferences, DbError> {
        self.system("set_email_preferences")?;
        let mut t = self.db.tables.borrow_mut();
        let p = t.email.preferences.entry(user).or_default();
        if let Some(a) = alerts {
            p.alerts = a;
        }
        if let Some(u) = product_updates {
            p.product_updates = u;
        }
        Ok(*p)
    }

    async fn verified_emails(&self, user: UserId) -> Result<Vec<String>, DbError> {
        let t = self.read("verified_emails")?;
        Ok(t.email
            .verified
            .iter()
            .filter(|(u, _)| *u == user && self.own(user))
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn codes_issued_since(
        &self,
        user: UserId,
        purpose: CodePurpose,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, DbError> {
        self.system("codes_issued_since")?;
        let t = self.db.tables.borrow();
        Ok(t.email
            .codes
            .iter()
            .filter(|(_, c, _)| c.user == user && c.purpose == purpose && c.issued_at > since)
            .map(|(_, c, _)| c.issued_at)
            .collect())
    }

    async fn issue_code(&self, code: &StoredCode) -> Result<CodeId, DbError> {
        self.system("issue_code")?;
        if code.expires_at <= code.issued_at
            || code.expires_at > code.issued_at + Duration::minutes(10)
        {
            return Err(DbError::Constraint);
        }
        let mut t = self.db.tables.borrow_mut();
        for (_, c, superseded) in t.email.codes.iter_mut() {
            if c.user == code.user && c.purpose == code.purpose && c.consumed_at.is_none() {
                *superseded = true;
            }
        }
        t.email.leases += 1;
        let id =
            CodeId::parse(&format!("00000000-0000-4000-b000-{:012}", t.email.leases)).expect("id");
        t.email.codes.push((id, code.clone(), false));
        Ok(id)
    }

    async fn withdraw_code(&self, id: CodeId) -> Result<(), DbError> {
        self.system("withdraw_code")?;
        let mut t = self.db.tables.borrow_mut();
        for (cid, c, superseded) in t.email.codes.iter_mut() {
            if *cid == id && c.consumed_at.is_none() {
                *superseded = true;
            }
        }
        Ok(())
    }

    async fn live_code(
        &self,
        user: UserId,
        purpose: CodePurpose,
    ) -> Result<Option<CodeRow>, DbError> {
        self.system("live_code")?;
        let t = self.db.tables.borrow();
        Ok(t.email
            .codes
            .iter()
            .rev()
            .find(|(_, c, superseded)| {
                c.user == user && c.purpose == purpose && c.consumed_at.is_none() && !superseded
            })
            .map(|(id, c, _)| CodeRow {
                id: *id,
                code: c.clone(),
            }))
    }

    async fn record_code_attempt(
        &self,
        id: CodeId,
        expected_attempts: u32,
        after: &StoredCode,
        audit: Option<&AuditRecord>,
    ) -> Result<bool, DbError> {
        self.system("record_code_attempt")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let Some((_, c, _)) = t.email.codes.iter_mut().find(|(cid, c, superseded)| {
            *cid == id
                && c.attempts == expected_attempts
                && c.consumed_at.is_none()
                && !superseded
                && (after.consumed_at.is_none() || c.expires_at > now)
        }) else {
            return Ok(false);
        };
        c.attempts = after.attempts;
        c.consumed_at = after.consumed_at.map(|_| now);
        let (user, purpose, address) = (c.user, c.purpose, c.email.normalized());
        if after.consumed_at.is_some() && purpose == CodePurpose::VerifyEmail {
            t.email.verified.insert((user, address));
            drop(t);
            if let Some(audit) = audit {
                self.db.activity.borrow_mut().push(audit.clone());
            }
        }
        Ok(true)
    }

    async fn apply_sendgrid_events(&self, events: &[EventWrite]) -> Result<EventsApplied, DbError> {
        self.system("apply_sendgrid_events")?;
        let now = self.now();
        let mut t = self.db.tables.borrow_mut();
        let email = &mut t.email;
        let mut applied = EventsApplied::default();
        for event in events {
            if let Some(id) = &event.sg_event_id {
                if !email.sendgrid_events.insert(id.clone()) {
                    applied.duplicates += 1;
                    continue;
                }
            }
            match &event.effect {
                EventEffect::Suppress {
                    email_normalized,
                    reason,
                } => {
                    if !email.suppressions.contains_key(email_normalized) {
                        email.suppressions.insert(email_normalized.clone(), *reason);
                        applied.suppressed += 1;
                    }
                }
                EventEffect::Processed { outbox, message_id } => {
                    // `outbox_mark_processed`.
                    if let Some(o) = email.outbox.iter_mut().find(|o| {
                        o.id == *outbox
                            && matches!(o.status, OutboxStatus::Pending | OutboxStatus::Sending)
                            && o.attempts > 0
                    }) {
                        o.status = OutboxStatus::Sent;
                        o.lease_token = None;
                        o.lease_until = None;
                        o.recipient = None;
                        o.payload = None;
                        o.last_error = None;
                        o.next_attempt_at = now;
                        if message_id.is_some() {
                            o.provider_message_id = message_id.clone();
                        }
                        applied.settled += 1;
                    }
                }
                EventEffect::OptOut { email_normalized } => {
                    let users: Vec<UserId> = email
                        .users
                        .iter()
                        .filter(|(_, e)| e.to_ascii_lowercase() == *email_normalized)
                        .map(|(u, _)| *u)
                        .collect();
                    for user in users {
                        email.preferences.insert(
                            user,
                            Preferences {
                                alerts: false,
                                product_updates: false,
                            },
                        );
                        applied.opted_out += 1;
                    }
                }
            }
        }
        Ok(applied)
    }
}
