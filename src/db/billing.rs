//! Billing state, plan history and usage counts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::PgStores;
use crate::billing::account::{BillingAccount, SubscriptionView};
use crate::billing::plans::{PlanId, Usage};
use crate::billing::stripe::objects::SubscriptionStatus;
use crate::ids::{ConnectionId, TeamId};
use crate::lifecycle::retention::PlanPeriod;
use crate::store::{
    AuditRecord, BillingRow, BillingStore, DbError, EventOutcome, StripeEventWrite,
};

const BILLING_COLUMNS: &str = "team_id,stripe_customer_id,subscription_id,subscription_status,\
subscription_plan,price_id,subscription_created,current_period_end,cancel_at_period_end,\
subscription_version,dunning_since,invoice_version,trial_used,updated_at";

/// A `team_billing` row as PostgREST returns it.
#[derive(Deserialize)]
struct Row {
    team_id: TeamId,
    stripe_customer_id: Option<String>,
    subscription_id: Option<String>,
    subscription_status: Option<SubscriptionStatus>,
    subscription_plan: Option<PlanId>,
    price_id: Option<String>,
    subscription_created: Option<i64>,
    current_period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    subscription_version: i64,
    dunning_since: Option<DateTime<Utc>>,
    invoice_version: i64,
    trial_used: bool,
    updated_at: String,
}

impl Row {
    fn into_billing(self) -> BillingRow {
        let subscription = match (
            self.subscription_id,
            self.subscription_status,
            self.subscription_plan,
        ) {
            (Some(id), Some(status), Some(plan)) => Some(SubscriptionView {
                id,
                status,
                plan,
                price: self.price_id.unwrap_or_default(),
                created: self.subscription_created.unwrap_or_default(),
                current_period_end: self.current_period_end.map_or(0, |t| t.timestamp()),
                cancel_at_period_end: self.cancel_at_period_end,
                version: self.subscription_version,
            }),
            _ => None,
        };
        BillingRow {
            account: BillingAccount {
                team: self.team_id,
                customer: self.stripe_customer_id,
                subscription,
                dunning_since: self.dunning_since.map(|t| t.timestamp()),
                invoice_version: self.invoice_version,
                trial_used: self.trial_used,
            },
            updated_at: self.updated_at,
        }
    }
}

/// The `p_state` argument of `billing_apply_event` (migration 0009 reads these keys).
pub(crate) fn state_json(account: &BillingAccount) -> Value {
    let sub = account.subscription.as_ref();
    json!({
        "customer": account.customer,
        "subscription_id": sub.map(|s| &s.id),
        "subscription_status": sub.map(|s| s.status.as_str()),
        "subscription_plan": sub.map(|s| s.plan.as_str()),
        "price_id": sub.map(|s| &s.price),
        "subscription_created": sub.map(|s| s.created),
        "current_period_end": sub.map(|s| s.current_period_end),
        "cancel_at_period_end": sub.is_some_and(|s| s.cancel_at_period_end),
        "subscription_version": sub.map_or(0, |s| s.version),
        "dunning_since": account.dunning_since,
        "invoice_version": account.invoice_version,
        "trial_used": account.trial_used,
    })
}

#[async_trait(?Send)]
impl BillingStore for PgStores<'_> {
    async fn billing(&self, team: TeamId) -> Result<Option<BillingRow>, DbError> {
        let query = self
            .db
            .from("team_billing")
            .select(BILLING_COLUMNS)
            .eq("team_id", team.to_string());
        let row: Option<Row> = self.one(query).await?;
        Ok(row.map(Row::into_billing))
    }

    async fn team_of_customer(&self, customer: &str) -> Result<Option<TeamId>, DbError> {
        #[derive(Deserialize)]
        struct Team {
            team_id: TeamId,
        }
        let query = self
            .db
            .from("team_billing")
            .select("team_id")
            .eq("stripe_customer_id", customer);
        let row: Option<Team> = self.one(query).await?;
        Ok(row.map(|r| r.team_id))
    }

    async fn set_stripe_customer(
        &self,
        team: TeamId,
        customer: &str,
        audit: &AuditRecord,
    ) -> Result<String, DbError> {
        self.call(
            "billing_set_customer",
            &json!({"p_team": team, "p_customer": customer, "p_audit": audit}),
        )
        .await
    }

    async fn apply_stripe_event(
        &self,
        write: &StripeEventWrite<'_>,
    ) -> Result<EventOutcome, DbError> {
        let (state, expected) = match write.state {
            Some((account, expected)) => (Some(state_json(account)), Some(expected)),
            None => (None, None),
        };
        let outcome: String = self
            .call(
                "billing_apply_event",
                &json!({
                    "p_event_id": write.event_id,
                    "p_event_type": write.event_type,
                    "p_team": write.team,
                    "p_expected_updated_at": expected,
                    "p_state": state,
                    "p_new_plan": write.new_plan.map(PlanId::as_str),
                    "p_audit": write.audit,
                }),
            )
            .await?;
        match outcome.as_str() {
            "duplicate" => Ok(EventOutcome::Duplicate),
            "recorded" => Ok(EventOutcome::Recorded),
            "applied" => Ok(EventOutcome::Applied),
            other => Err(DbError::Unexpected(format!("billing_apply_event: {other}"))),
        }
    }

    async fn plan_history(&self, team: TeamId) -> Result<Vec<PlanPeriod>, DbError> {
        #[derive(Deserialize)]
        struct Period {
            effective_at: DateTime<Utc>,
            plan: PlanId,
        }
        let query = self
            .db
            .from("plan_history")
            .select("effective_at,plan")
            .eq("team_id", team.to_string())
            .order("effective_at.asc");
        let rows: Vec<Period> = self.db.fetch(query).await?;
        Ok(rows
            .into_iter()
            .map(|p| PlanPeriod {
                plan: p.plan,
                from: p.effective_at,
            })
            .collect())
    }

    async fn usage(
        &self,
        team: TeamId,
        day_start: DateTime<Utc>,
        connection: Option<ConnectionId>,
    ) -> Result<Usage, DbError> {
        self.call(
            "team_usage",
            &json!({"p_team": team, "p_day_start": day_start, "p_connection": connection}),
        )
        .await
    }
}
