//! Billing use cases: the team's plan and usage, Stripe Checkout and the Customer Portal for
//! owners, and the Stripe webhook that drives the plan in force (docs/lifecycle.md).
//!
//! The webhook trusts nothing but the signature: the raw body is verified before it is parsed,
//! the team an event concerns comes from what Butterfly itself put in Stripe (the Checkout's
//! `client_reference_id`, the subscription's `metadata[team_id]`) or from the customer it
//! stored, and the event machine refuses events of another customer or mode.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{Actor, Event as AuditEvent, RequestMeta};
use super::{Caller, Deps, Privileged, ServiceError};
use crate::authz::matrix::Action;
use crate::billing::account::{BillingAccount, BillingError, Effect};
use crate::billing::config::BillingConfig;
use crate::billing::plans::{Limit, LimitReport, PlanId, Retention, TRIAL};
use crate::billing::stripe::client::{
    IdempotencyKey, NewCheckout, NewCustomer, StripeClient, StripeId,
};
use crate::billing::stripe::objects::{Event, EventKind};
use crate::billing::stripe::signature;
use crate::config::Config;
use crate::ids::{ConnectionId, TeamId};
use crate::lifecycle::retention::{retention_at, shorter_retention_from, PlanPeriod};
use crate::store::{BillingRow, DbError, EventOutcome, StripeEventWrite};

/// Stripe's default tolerance for a webhook signature's age, in seconds.
const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// The plan in force for a team's billing state: what its subscription pays for (nothing
/// while billing is off), never less than the deployment's `DEFAULT_PLAN`.
pub fn plan_in_force(config: &Config, account: &BillingAccount, now: DateTime<Utc>) -> PlanId {
    let paid = match config.billing {
        Some(_) => account.plan_at(now),
        None => PlanId::Free,
    };
    paid.max(config.default_plan)
}

/// The team's plan periods as the deployment applies them (each at least `DEFAULT_PLAN`).
fn periods_in_force(config: &Config, history: Vec<PlanPeriod>) -> Vec<PlanPeriod> {
    history
        .into_iter()
        .map(|p| PlanPeriod {
            plan: p.plan.max(config.default_plan),
            ..p
        })
        .collect()
}

/// The retention the prune job applies to `team` at `now`: the longest of the plans in force
/// during the last 30 days (`retention::retention_at`, the downgrade notice).
pub async fn retention_in_force(
    sys: &Privileged<'_>,
    team: TeamId,
    now: DateTime<Utc>,
) -> Result<Retention, ServiceError> {
    let history = periods_in_force(sys.deps.config, sys.stores().plan_history(team).await?);
    Ok(retention_at(&history, now))
}

/// The one place plan limits are enforced: may `team` add one more `limit`? Services call it
/// right before the write it guards; `connection` names the connection a manual backup is for.
/// A refusal is `plan_limit_reached`: 402 when a larger plan allows it, 403 when none does.
pub async fn enforce(
    sys: &Privileged<'_>,
    team: TeamId,
    limit: Limit,
    connection: Option<ConnectionId>,
) -> Result<(), ServiceError> {
    let now = sys.deps.clock.now();
    let row = billing_row(sys, team).await?;
    let plan = plan_in_force(sys.deps.config, &row.account, now);
    let usage = sys.stores().usage(team, day_start(now), connection).await?;
    plan.plan()
        .allows(limit, usage.get(limit))
        .map_err(ServiceError::PlanLimit)
}

/// `GET /teams/{id}/plan`.
#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub team_id: TeamId,
    pub plan: PlanId,
    pub name: &'static str,
    /// The retention the prune job applies now (the longest of the last 30 days' plans).
    pub retention_in_force: Retention,
    /// When a downgrade's shorter retention takes over, if its notice is running.
    pub shorter_retention_from: Option<DateTime<Utc>>,
    pub limits: Vec<LimitReport>,
    pub subscription: Option<SubscriptionReport>,
    pub billing_enabled: bool,
}

#[derive(Debug, Serialize)]
pub struct SubscriptionReport {
    pub status: &'static str,
    pub plan: PlanId,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    /// End of the grace period after a failed payment, while one runs.
    pub grace_until: Option<DateTime<Utc>>,
}

fn at(unix: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(unix, 0)
}

/// Start of the current UTC day: the manual-backup quota's window.
pub fn day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(now, |d| d.and_utc())
}

pub async fn plan(caller: &Caller<'_>, team: TeamId) -> Result<PlanReport, ServiceError> {
    caller.authorize(team, Action::TeamRead).await?;
    let deps = caller.deps();
    let now = deps.clock.now();
    let row = billing_row(caller.system(), team).await?;
    let plan = plan_in_force(deps.config, &row.account, now);
    let history = periods_in_force(
        deps.config,
        caller.system().stores().plan_history(team).await?,
    );
    let usage = caller
        .system()
        .stores()
        .usage(team, day_start(now), None)
        .await?;
    let subscription = row
        .account
        .subscription
        .as_ref()
        .map(|s| SubscriptionReport {
            status: s.status.as_str(),
            plan: s.plan,
            current_period_end: at(s.current_period_end).filter(|_| s.current_period_end > 0),
            cancel_at_period_end: s.cancel_at_period_end,
            grace_until: row.account.grace_until().and_then(at),
        });
    Ok(PlanReport {
        team_id: team,
        plan,
        name: plan.plan().name,
        retention_in_force: retention_at(&history, now),
        shorter_retention_from: shorter_retention_from(&history, now),
        limits: plan.plan().report(&usage),
        subscription,
        billing_enabled: deps.config.billing.is_some(),
    })
}

async fn billing_row(sys: &Privileged<'_>, team: TeamId) -> Result<BillingRow, ServiceError> {
    sys.stores()
        .billing(team)
        .await?
        .ok_or_else(|| ServiceError::Internal(format!("team {team} has no billing row")))
}

fn billing_config<'a>(deps: &'a Deps<'_>) -> Result<&'a BillingConfig, ServiceError> {
    deps.config
        .billing
        .as_ref()
        .ok_or(ServiceError::Unavailable(
            "billing is not enabled on this deployment",
        ))
}

fn stripe<'a>(deps: &'a Deps<'_>, config: &'a BillingConfig) -> StripeClient<'a> {
    StripeClient::new(deps.http, deps.clock, &config.api_base, &config.secret_key)
}

fn stripe_failed(e: crate::billing::stripe::client::StripeError) -> ServiceError {
    ServiceError::BillingProvider(e.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub team_id: Option<TeamId>,
    pub plan: PlanId,
}

#[derive(Debug, Serialize)]
pub struct SessionCreated {
    pub url: String,
    pub id: String,
}

/// `POST /billing/checkout`: a subscription-mode Checkout Session for a paid plan, for the
/// team's one Stripe customer (created on first use), with the trial if the team never had one.
pub async fn checkout(
    caller: &Caller<'_>,
    request: CheckoutRequest,
) -> Result<SessionCreated, ServiceError> {
    let team = caller.team_or_default(request.team_id).await?;
    caller.authorize(team, Action::BillingManage).await?;
    let deps = caller.deps();
    let config = billing_config(deps)?;
    let price = config
        .prices
        .price_of(request.plan)
        .ok_or_else(|| ServiceError::invalid("plan", "must be standard or business"))?;
    let row = billing_row(caller.system(), team).await?;
    if row
        .account
        .subscription
        .as_ref()
        .is_some_and(|s| !s.status.is_terminal())
    {
        return Err(ServiceError::Conflict {
            code: "subscription_exists",
            message: "the team already has a subscription; change it in the billing portal",
        });
    }
    let client = stripe(deps, config);
    let customer = match row.account.customer.clone() {
        Some(customer) => customer,
        None => create_customer(caller, &client, team).await?,
    };
    let customer_id = StripeId::parse(&customer)
        .ok_or_else(|| ServiceError::Internal("stored Stripe customer id is malformed".into()))?;
    let trial_days =
        (row.account.trial_available() && request.plan == TRIAL.plan).then_some(TRIAL.days);
    let team_text = team.to_string();
    let trial_text = trial_days.unwrap_or(0).to_string();
    // One key per request: retries of this call replay its session, a new click makes a new one.
    let key = IdempotencyKey::derive(
        "checkout",
        &[&team_text, price, &trial_text, &caller.meta().request_id],
    );
    let success_url = format!("{}/billing?checkout=success", deps.config.app_url);
    let cancel_url = format!("{}/billing?checkout=cancelled", deps.config.app_url);
    let session = client
        .create_checkout_session(
            &NewCheckout {
                team,
                customer: &customer_id,
                price,
                success_url: &success_url,
                cancel_url: &cancel_url,
                trial_days,
            },
            &key,
        )
        .await
        .map_err(stripe_failed)?;
    let url = session
        .url
        .clone()
        .ok_or_else(|| ServiceError::BillingProvider("checkout session has no url".into()))?;
    caller
        .system()
        .record(AuditEvent {
            team,
            action: "billing.checkout_started",
            target_type: "team",
            target_id: team_text,
            details: json!({"plan": request.plan, "trial_days": trial_days}),
        })
        .await?;
    Ok(SessionCreated {
        url,
        id: session.id,
    })
}

/// The team's Stripe customer, created once: the idempotency key is the team's, so concurrent
/// first checkouts get the same customer from Stripe, and the database keeps the first stored.
async fn create_customer(
    caller: &Caller<'_>,
    client: &StripeClient<'_>,
    team: TeamId,
) -> Result<String, ServiceError> {
    let name = caller
        .stores()
        .teams()
        .await?
        .into_iter()
        .find(|t| t.id == team)
        .map(|t| t.name)
        .unwrap_or_default();
    let team_text = team.to_string();
    let key = IdempotencyKey::derive("customer", &[&team_text]);
    let created = client
        .create_customer(
            &NewCustomer {
                team,
                name: &name,
                email: caller.principal().email.as_deref(),
            },
            &key,
        )
        .await
        .map_err(stripe_failed)?;
    let audit = caller.audit(AuditEvent {
        team,
        action: "billing.customer_created",
        target_type: "team",
        target_id: team_text,
        details: json!({}),
    });
    Ok(caller
        .system()
        .stores()
        .set_stripe_customer(team, &created.id, &audit)
        .await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalRequest {
    pub team_id: Option<TeamId>,
}

/// `POST /billing/portal`: a Customer Portal session for the team's customer.
pub async fn portal(
    caller: &Caller<'_>,
    request: PortalRequest,
) -> Result<SessionCreated, ServiceError> {
    let team = caller.team_or_default(request.team_id).await?;
    caller.authorize(team, Action::BillingManage).await?;
    let deps = caller.deps();
    let config = billing_config(deps)?;
    let row = billing_row(caller.system(), team).await?;
    let customer = row
        .account
        .customer
        .as_deref()
        .and_then(StripeId::parse)
        .ok_or(ServiceError::Conflict {
            code: "no_billing_account",
            message: "the team has no billing account yet; start with a checkout",
        })?;
    let return_url = format!("{}/billing", deps.config.app_url);
    let key = IdempotencyKey::derive("portal", &[customer.as_str(), &caller.meta().request_id]);
    let session = stripe(deps, config)
        .create_portal_session(&customer, &return_url, &key)
        .await
        .map_err(stripe_failed)?;
    caller
        .system()
        .record(AuditEvent {
            team,
            action: "billing.portal_opened",
            target_type: "team",
            target_id: team.to_string(),
            details: json!({}),
        })
        .await?;
    Ok(SessionCreated {
        url: session.url,
        id: session.id,
    })
}

/// Why the webhook refused an event; each maps to the status Stripe needs to see.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Billing is off: there is no endpoint.
    #[error("billing is not enabled")]
    Disabled,
    /// 400: not from Stripe, or not an event Butterfly can read. Stripe retries 4xx too, but
    /// a forged or stale request must never be processed.
    #[error("{0}")]
    Refused(String),
    /// 5xx: try again later (a race, Stripe or the database unreachable, an unknown price).
    #[error("{0}")]
    Retry(String),
}

/// What the webhook did with a genuine event.
#[derive(Debug, Serialize)]
pub struct WebhookReceipt {
    pub received: bool,
    /// `applied`, `recorded` or `duplicate`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

/// `POST /api/webhooks/stripe`.
pub async fn stripe_webhook(
    deps: &Deps<'_>,
    meta: &RequestMeta,
    signature_header: Option<&str>,
    raw_body: &[u8],
) -> Result<WebhookReceipt, WebhookError> {
    let config = deps.config.billing.as_ref().ok_or(WebhookError::Disabled)?;
    let now = deps.clock.now();
    signature::verify(
        raw_body,
        signature_header,
        &config.webhook_secrets,
        now.timestamp(),
        SIGNATURE_TOLERANCE_SECS,
    )
    .map_err(|e| WebhookError::Refused(e.to_string()))?;
    let event = Event::parse(raw_body).map_err(|e| WebhookError::Refused(e.to_string()))?;
    let sys = Privileged::new(deps, Actor::System("stripe-webhook"), meta.clone());
    let db_retry = |e: DbError| WebhookError::Retry(format!("database: {e}"));
    let team = match event_team(&sys, &event).await.map_err(db_retry)? {
        Some(team) => team,
        None => {
            return record_only(&sys, &event, None, Some("no team for this event".into())).await
        }
    };
    let Some(row) = sys.stores().billing(team).await.map_err(db_retry)? else {
        return record_only(&sys, &event, None, Some("team has no billing row".into())).await;
    };
    let livemode = config.secret_key.livemode();
    let mut transition = match row.account.apply(&event, &config.prices, livemode, now) {
        Ok(t) => t,
        Err(e @ BillingError::UnknownPrice(_)) => return Err(WebhookError::Retry(e.to_string())),
        Err(e) => return record_only(&sys, &event, Some(team), Some(e.to_string())).await,
    };
    let mut effects = std::mem::take(&mut transition.effects);
    let mut account = transition.account;
    let mut ignored = transition.ignored.map(str::to_string);
    // The machine asks for the subscription when an event cannot say (a checkout, or
    // same-second events that disagree); Stripe's answer is its state now.
    if let Some(id) = effects.iter().find_map(|e| match e {
        Effect::RetrieveSubscription(id) => Some(id.clone()),
        _ => None,
    }) {
        let id = StripeId::parse(&id)
            .ok_or_else(|| WebhookError::Refused("malformed subscription id".into()))?;
        let sub = stripe(deps, config)
            .retrieve_subscription(&id)
            .await
            .map_err(|e| WebhookError::Retry(e.to_string()))?;
        match account.apply_retrieved(&sub, &config.prices, livemode, now) {
            Ok(t) => {
                account = t.account;
                effects.extend(t.effects);
                ignored = t.ignored.map(str::to_string);
            }
            Err(e @ BillingError::UnknownPrice(_)) => {
                return Err(WebhookError::Retry(e.to_string()))
            }
            Err(e) => return record_only(&sys, &event, Some(team), Some(e.to_string())).await,
        }
    }
    if account == row.account {
        return record_only(&sys, &event, Some(team), ignored).await;
    }
    let (from, to) = (row.account.plan_at(now), account.plan_at(now));
    let payment_failed = effects.iter().find_map(|e| match e {
        Effect::PaymentFailed { grace_until } => Some(*grace_until),
        _ => None,
    });
    let audit = sys.audit(AuditEvent {
        team,
        action: if from != to {
            "billing.plan_changed"
        } else {
            "billing.subscription_updated"
        },
        target_type: "team",
        target_id: team.to_string(),
        details: json!({
            "stripe_event": event.id,
            "from": from,
            "to": to,
            "status": account.subscription.as_ref().map(|s| s.status.as_str()),
            "grace_until": payment_failed.and_then(at),
        }),
    });
    let outcome = sys
        .stores()
        .apply_stripe_event(&StripeEventWrite {
            event_id: &event.id,
            event_type: event_type(&event),
            team: Some(team),
            state: Some((&account, &row.updated_at)),
            new_plan: (from != to).then_some(to),
            audit: Some(&audit),
        })
        .await
        .map_err(|e| match e {
            DbError::Conflict => WebhookError::Retry("billing state changed concurrently".into()),
            other => db_retry(other),
        })?;
    Ok(receipt(outcome, ignored))
}

fn receipt(outcome: EventOutcome, ignored: Option<String>) -> WebhookReceipt {
    WebhookReceipt {
        received: true,
        outcome: match outcome {
            EventOutcome::Applied => "applied",
            EventOutcome::Recorded => "recorded",
            EventOutcome::Duplicate => "duplicate",
        },
        ignored,
    }
}

/// Records a genuine event that changes nothing (so its redelivery is a no-op too).
async fn record_only(
    sys: &Privileged<'_>,
    event: &Event,
    team: Option<TeamId>,
    ignored: Option<String>,
) -> Result<WebhookReceipt, WebhookError> {
    let outcome = sys
        .stores()
        .apply_stripe_event(&StripeEventWrite {
            event_id: &event.id,
            event_type: event_type(event),
            team,
            state: None,
            new_plan: None,
            audit: None,
        })
        .await
        .map_err(|e| WebhookError::Retry(format!("database: {e}")))?;
    Ok(receipt(outcome, ignored))
}

fn event_type(event: &Event) -> &str {
    match &event.kind {
        EventKind::CheckoutCompleted(_) => "checkout.session.completed",
        EventKind::SubscriptionCreated(_) => "customer.subscription.created",
        EventKind::SubscriptionUpdated(_) => "customer.subscription.updated",
        EventKind::SubscriptionDeleted(_) => "customer.subscription.deleted",
        EventKind::InvoicePaymentFailed(_) => "invoice.payment_failed",
        EventKind::InvoicePaid(_) => "invoice.paid",
        EventKind::Ignored(kind) => kind.as_str(),
    }
}

/// The team an event concerns: the id Butterfly put in Stripe, else the stored customer's team.
async fn event_team(sys: &Privileged<'_>, event: &Event) -> Result<Option<TeamId>, DbError> {
    let (named, customer) = match &event.kind {
        EventKind::CheckoutCompleted(s) => (s.client_reference_id.clone(), s.customer.clone()),
        EventKind::SubscriptionCreated(s)
        | EventKind::SubscriptionUpdated(s)
        | EventKind::SubscriptionDeleted(s) => {
            (s.metadata.get("team_id").cloned(), Some(s.customer.clone()))
        }
        EventKind::InvoicePaymentFailed(i) | EventKind::InvoicePaid(i) => {
            (None, i.customer.clone())
        }
        EventKind::Ignored(_) => (None, None),
    };
    if let Some(team) = named.as_deref().and_then(|t| TeamId::parse(t).ok()) {
        return Ok(Some(team));
    }
    match customer {
        Some(c) => sys.stores().team_of_customer(&c.0).await,
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::Role;
    use crate::billing::stripe::signature::{sign_header, WebhookSecret};
    use crate::services::api_keys::{self, CreateApiKey};
    use crate::testing::world::{World, BILLING_VARS};
    use futures::executor::block_on;
    use serde_json::Value;

    fn key_body(team: TeamId) -> CreateApiKey {
        serde_json::from_value(json!({"name": "ci", "scopes": ["read"], "team_id": team})).unwrap()
    }

    #[test]
    fn limits_refuse_with_402_naming_the_upgrade_and_403_at_the_top() {
        let world = World::with_vars(&[]);
        let owner = world.user();
        let team = world.team_of(owner);
        let caller = world.caller(owner);
        for _ in 0..2 {
            block_on(api_keys::create(&caller, key_body(team))).unwrap();
        }
        match block_on(api_keys::create(&caller, key_body(team))) {
            Err(ServiceError::PlanLimit(e)) => {
                assert_eq!((e.plan, e.limit, e.max), (PlanId::Free, Limit::ApiKeys, 2));
                assert_eq!(e.upgrade_to, Some(PlanId::Standard));
                assert_eq!(e.http_status(), 402);
            }
            other => panic!("expected a plan limit, got {other:?}"),
        }
        // Business is the top: its ceiling is a 403 with nothing to upgrade to.
        let world = World::with_vars(&[("DEFAULT_PLAN", "business")]);
        let owner = world.user();
        let team = world.team_of(owner);
        let caller = world.caller(owner);
        // A user holds at most 20 active keys, so five admins fill the team's 100.
        for _ in 0..5 {
            let admin = world.caller(world.member(team, Role::Admin));
            for _ in 0..20 {
                block_on(api_keys::create(&admin, key_body(team))).unwrap();
            }
        }
        match block_on(api_keys::create(&caller, key_body(team))) {
            Err(ServiceError::PlanLimit(e)) => {
                assert_eq!(
                    (e.plan, e.upgrade_to, e.http_status()),
                    (PlanId::Business, None, 403)
                );
            }
            other => panic!("expected a plan limit, got {other:?}"),
        }
    }

    fn subscription_event(
        id: &str,
        team: TeamId,
        status: &str,
        price: &str,
        created: i64,
    ) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": id, "object": "event", "type": "customer.subscription.updated",
            "created": created, "livemode": false, "api_version": "2023-08-16",
            "data": {"object": {
                "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
                "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item",
                          "price": {"id": price, "object": "price"}, "quantity": 1}]},
                "created": created - 10, "current_period_end": created + 2_592_000,
                "cancel_at_period_end": false, "trial_end": null,
                "metadata": {"team_id": team.to_string()}, "livemode": false
            }}
        }))
        .unwrap()
    }

    fn deliver(world: &World, body: &[u8]) -> Result<WebhookReceipt, WebhookError> {
        let secret = WebhookSecret::parse(BILLING_VARS[1].1).unwrap();
        let header = sign_header(body, &secret, world.deps.clock.now().timestamp());
        let meta = RequestMeta::internal("req_webhook".into());
        block_on(stripe_webhook(world.deps, &meta, Some(&header), body))
    }

    #[test]
    fn a_signed_subscription_event_sets_the_plan_once_and_forgeries_change_nothing() {
        let world = World::with_vars(BILLING_VARS);
        let owner = world.user();
        let team = world.team_of(owner);
        let now = world.deps.clock.now().timestamp();
        let plan_of = || block_on(plan(&world.caller(owner), team)).unwrap();
        assert_eq!(plan_of().plan, PlanId::Free);

        let body = subscription_event("evt_1", team, "active", "price_std", now - 5);
        // A forged signature, a tampered body and a missing header are refused.
        let secret = WebhookSecret::parse("whsec_ffffffffffffffff0000000000").unwrap();
        let forged = sign_header(&body, &secret, now);
        let meta = RequestMeta::internal("r".into());
        let refused = block_on(stripe_webhook(world.deps, &meta, Some(&forged), &body));
        assert!(matches!(refused, Err(WebhookError::Refused(_))));
        let mut tampered = body.clone();
        tampered.extend_from_slice(b" ");
        let good = sign_header(
            &body,
            &WebhookSecret::parse(BILLING_VARS[1].1).unwrap(),
            now,
        );
        let refused = block_on(stripe_webhook(world.deps, &meta, Some(&good), &tampered));
        assert!(matches!(refused, Err(WebhookError::Refused(_))));
        assert!(matches!(
            block_on(stripe_webhook(world.deps, &meta, None, &body)),
            Err(WebhookError::Refused(_))
        ));
        assert_eq!(plan_of().plan, PlanId::Free);

        let receipt = deliver(&world, &body).unwrap();
        assert_eq!(receipt.outcome, "applied");
        let report = plan_of();
        assert_eq!(report.plan, PlanId::Standard);
        assert_eq!(report.subscription.as_ref().unwrap().status, "active");
        assert_eq!(world.db.actions(), ["billing.plan_changed"]);
        let periods: Vec<PlanId> = world.db.plan_periods(team).iter().map(|p| p.plan).collect();
        assert_eq!(periods, [PlanId::Free, PlanId::Standard]);

        // The same event again changes nothing; an older one is stale.
        assert_eq!(deliver(&world, &body).unwrap().outcome, "duplicate");
        let stale = subscription_event("evt_0", team, "canceled", "price_std", now - 60);
        let receipt = deliver(&world, &stale).unwrap();
        assert_eq!(
            (receipt.outcome, receipt.ignored.as_deref()),
            ("recorded", Some("stale event"))
        );
        assert_eq!(plan_of().plan, PlanId::Standard);
        assert_eq!(world.db.actions(), ["billing.plan_changed"]);

        // An unconfigured price asks Stripe to redeliver once it is configured.
        let unknown = subscription_event("evt_2", team, "active", "price_other", now);
        assert!(matches!(
            deliver(&world, &unknown),
            Err(WebhookError::Retry(_))
        ));

        // Cancellation brings the team back to Free; a limit then applies at once.
        let deleted = subscription_event("evt_3", team, "canceled", "price_std", now);
        assert_eq!(deliver(&world, &deleted).unwrap().outcome, "applied");
        assert_eq!(plan_of().plan, PlanId::Free);
        let periods: Vec<Value> = world
            .db
            .plan_periods(team)
            .iter()
            .map(|p| json!(p.plan))
            .collect();
        assert_eq!(periods, [json!("free"), json!("standard"), json!("free")]);
    }

    #[test]
    fn billing_is_owner_only_and_off_without_stripe() {
        let world = World::with_vars(BILLING_VARS);
        let owner = world.user();
        let team = world.team_of(owner);
        let admin = world.member(team, crate::authz::matrix::Role::Admin);
        let request = || CheckoutRequest {
            team_id: Some(team),
            plan: PlanId::Standard,
        };
        assert!(matches!(
            block_on(checkout(&world.caller(admin), request())),
            Err(ServiceError::Forbidden)
        ));
        assert!(matches!(
            block_on(portal(
                &world.caller(owner),
                PortalRequest {
                    team_id: Some(team)
                }
            )),
            Err(ServiceError::Conflict {
                code: "no_billing_account",
                ..
            })
        ));
        let off = World::with_vars(&[]);
        let owner = off.user();
        let team = off.team_of(owner);
        let request = CheckoutRequest {
            team_id: Some(team),
            plan: PlanId::Standard,
        };
        assert!(matches!(
            block_on(checkout(&off.caller(owner), request)),
            Err(ServiceError::Unavailable(_))
        ));
        let meta = RequestMeta::internal("r".into());
        assert!(matches!(
            block_on(stripe_webhook(off.deps, &meta, Some("t=1,v1=00"), b"{}")),
            Err(WebhookError::Disabled)
        ));
    }
}
