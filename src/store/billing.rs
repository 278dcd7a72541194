//! A team's billing state (`team_billing`), its plan history and what its plan limits count.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AuditRecord, DbError};
use crate::billing::account::BillingAccount;
use crate::billing::plans::{PlanId, Usage};
use crate::ids::{ConnectionId, TeamId};
use crate::lifecycle::retention::PlanPeriod;

/// A team's billing state as stored, with the version its next write must name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingRow {
    pub account: BillingAccount,
    /// `team_billing.updated_at` exactly as read: the compare-and-set token of the next write.
    pub updated_at: String,
}

/// What `billing_apply_event` did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    /// The event id was seen before: nothing changed.
    Duplicate,
    /// Recorded; the state was already right.
    Recorded,
    /// Recorded and the new state written.
    Applied,
}

/// One verified Stripe event, ready to be recorded.
#[derive(Clone, Debug)]
pub struct StripeEventWrite<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// The team it concerns, when one was found.
    pub team: Option<TeamId>,
    /// The new state and the version it replaces; `None` records the id only.
    pub state: Option<(&'a BillingAccount, &'a str)>,
    /// The plan in force from now, when it changed.
    pub new_plan: Option<PlanId>,
    /// Written with a state change.
    pub audit: Option<&'a AuditRecord>,
}

#[async_trait(?Send)]
pub trait BillingStore {
    /// The team's billing state, if the acting role may see it.
    async fn billing(&self, team: TeamId) -> Result<Option<BillingRow>, DbError>;
    /// Service role: the team whose Stripe customer this is.
    async fn team_of_customer(&self, customer: &str) -> Result<Option<TeamId>, DbError>;
    /// Service role: stores the team's customer unless it has one; the customer in force.
    async fn set_stripe_customer(
        &self,
        team: TeamId,
        customer: &str,
        audit: &AuditRecord,
    ) -> Result<String, DbError>;
    /// Service role: records a Stripe event (once per id) and writes its state change with a
    /// compare-and-set; a lost race is `Conflict` and records nothing.
    async fn apply_stripe_event(
        &self,
        write: &StripeEventWrite<'_>,
    ) -> Result<EventOutcome, DbError>;
    /// The team's plan periods, oldest first.
    async fn plan_history(&self, team: TeamId) -> Result<Vec<PlanPeriod>, DbError>;
    /// Service role: what the plan limits count now. `day_start` bounds the manual backups
    /// counted; with `connection` they are that connection's, else the busiest one's.
    async fn usage(
        &self,
        team: TeamId,
        day_start: DateTime<Utc>,
        connection: Option<ConnectionId>,
    ) -> Result<Usage, DbError>;
}
