//! A team's billing state and the webhook event → plan state machine.
//!
//! Stripe delivers events at least once and in any order. The machine is a pure function of
//! (state, event) with these rules, so replays and reordering change nothing:
//! - **Idempotent on event id**: the store records every applied id (`stripe_events`), and the
//!   machine itself is a no-op for an event it has already absorbed (same version, same view).
//! - **Versioned per subscription**: a subscription event applies only if its `created` is
//!   newer than the version stored with the subscription; an older one is stale and ignored.
//!   Two events of the same second that disagree cannot be ordered from their payloads, so the
//!   machine asks for the subscription from the API ([`Effect::RetrieveSubscription`]) and the
//!   answer is applied with [`BillingAccount::apply_retrieved`].
//! - **Terminal is terminal**: Stripe never revives a `canceled` or `incomplete_expired`
//!   subscription, so no later-delivered event of that subscription can restore its plan.
//! - **One live subscription**: an event of another subscription replaces the current one only
//!   if the current one is terminal or the other was created later; the cancellation of an old
//!   subscription never downgrades a team that has moved to a new one.
//! - **Dunning**: `invoice.payment_failed` (or the subscription turning `past_due`) starts a
//!   [`GRACE_PERIOD`] during which the paid plan stays in force; `invoice.paid` or the
//!   subscription returning to `active` ends it. Invoice events are versioned too.
//!
//! The effective plan is a function of the state and the clock ([`BillingAccount::plan_at`]),
//! so the downgrade at the end of the grace period needs no event: it happens when time passes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a subscription's state came from: an event's payload (ordered by its version), or the
/// API's answer to a retrieve (authoritative: it is the subscription as Stripe holds it now).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Event,
    Retrieved,
}

use super::plans::PlanId;
use super::stripe::objects::{
    CheckoutMode, CheckoutSession, Event, EventKind, Invoice, Subscription, SubscriptionStatus,
};
use crate::ids::TeamId;

/// How long a paid plan stays in force after the first failed payment. Stripe's Smart Retries
/// retry over up to two weeks by default; the grace period covers them.
pub const GRACE_PERIOD: chrono::Duration = chrono::Duration::days(14);

/// Maps Stripe price ids (config) to plans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceTable {
    prices: Vec<(String, PlanId)>,
}

impl PriceTable {
    pub fn new(prices: Vec<(String, PlanId)>) -> PriceTable {
        PriceTable { prices }
    }

    pub fn plan_of(&self, price: &str) -> Option<PlanId> {
        self.prices
            .iter()
            .find(|(p, _)| p == price)
            .map(|(_, plan)| *plan)
    }

    pub fn price_of(&self, plan: PlanId) -> Option<&str> {
        self.prices
            .iter()
            .find(|(_, p)| *p == plan)
            .map(|(price, _)| price.as_str())
    }
}

/// What Butterfly keeps of a team's subscription (a `team_billing` row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionView {
    pub id: String,
    pub status: SubscriptionStatus,
    pub plan: PlanId,
    pub price: String,
    /// When Stripe created the subscription (orders two subscriptions of one team).
    pub created: i64,
    pub current_period_end: i64,
    pub cancel_at_period_end: bool,
    /// `created` of the newest event (or retrieval) applied to this view.
    pub version: i64,
}

/// A team's billing state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingAccount {
    pub team: TeamId,
    /// Created once per team, reused for every Checkout (idempotency key per team).
    pub customer: Option<String>,
    pub subscription: Option<SubscriptionView>,
    /// Unix seconds of the first failed payment not yet made good.
    pub dunning_since: Option<i64>,
    /// `created` of the newest invoice event applied.
    pub invoice_version: i64,
    /// A team gets one trial; any subscription uses it up.
    pub trial_used: bool,
}

/// Something the caller must do after applying an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Retrieve this subscription and apply it with [`BillingAccount::apply_retrieved`].
    RetrieveSubscription(String),
    /// The effective plan changed; record it in the plan history (retention notice) and tell
    /// the owners.
    PlanChanged { from: PlanId, to: PlanId },
    /// A payment failed for the first time in this dunning cycle: warn the owners.
    PaymentFailed { grace_until: i64 },
}

/// The result of applying an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub account: BillingAccount,
    pub effects: Vec<Effect>,
    /// Why nothing changed, when nothing did (for the webhook's log line).
    pub ignored: Option<&'static str>,
}

/// An event that must not be applied to this team. The webhook answers 2xx anyway (a
/// redelivery would be refused the same way) and logs the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    #[error("event belongs to another Stripe customer")]
    ForeignCustomer,
    #[error("checkout session names another team")]
    ForeignTeam,
    #[error("event livemode does not match the API key's mode")]
    WrongMode,
    /// A price not in the configuration: answered 5xx so Stripe redelivers once it is fixed.
    #[error("subscription price {0} is not configured")]
    UnknownPrice(String),
}

impl BillingAccount {
    pub fn new(team: TeamId) -> BillingAccount {
        BillingAccount {
            team,
            customer: None,
            subscription: None,
            dunning_since: None,
            invoice_version: 0,
            trial_used: false,
        }
    }

    /// The plan in force at `now`.
    pub fn plan_at(&self, now: DateTime<Utc>) -> PlanId {
        let Some(sub) = &self.subscription else {
            return PlanId::Free;
        };
        match sub.status {
            SubscriptionStatus::Active | SubscriptionStatus::Trialing => sub.plan,
            SubscriptionStatus::PastDue => match self.dunning_since {
                Some(since) if now.timestamp() < since + GRACE_PERIOD.num_seconds() => sub.plan,
                // past_due without a recorded failure: the status event is the start.
                None if now.timestamp() < sub.version + GRACE_PERIOD.num_seconds() => sub.plan,
                _ => PlanId::Free,
            },
            SubscriptionStatus::Incomplete
            | SubscriptionStatus::IncompleteExpired
            | SubscriptionStatus::Canceled
            | SubscriptionStatus::Unpaid
            | SubscriptionStatus::Paused => PlanId::Free,
        }
    }

    /// When the grace period of a failed payment ends, if one is running.
    pub fn grace_until(&self) -> Option<i64> {
        let sub = self.subscription.as_ref()?;
        (sub.status == SubscriptionStatus::PastDue)
            .then(|| self.dunning_since.unwrap_or(sub.version) + GRACE_PERIOD.num_seconds())
    }

    /// May this team's next Checkout include the trial?
    pub fn trial_available(&self) -> bool {
        !self.trial_used && self.subscription.is_none()
    }

    /// Applies a verified event. `livemode` is the configured key's mode.
    pub fn apply(
        &self,
        event: &Event,
        prices: &PriceTable,
        livemode: bool,
        now: DateTime<Utc>,
    ) -> Result<Transition, BillingError> {
        if event.livemode != livemode {
            return Err(BillingError::WrongMode);
        }
        let mut next = self.clone();
        let mut effects = Vec::new();
        let ignored = match &event.kind {
            EventKind::CheckoutCompleted(session) => {
                next.checkout_completed(session, &mut effects)?
            }
            EventKind::SubscriptionCreated(sub)
            | EventKind::SubscriptionUpdated(sub)
            | EventKind::SubscriptionDeleted(sub) => {
                next.subscription_event(sub, event.created, Source::Event, prices, &mut effects)?
            }
            EventKind::InvoicePaymentFailed(invoice) => {
                next.invoice_event(invoice, event.created, true, &mut effects)?
            }
            EventKind::InvoicePaid(invoice) => {
                next.invoice_event(invoice, event.created, false, &mut effects)?
            }
            EventKind::Ignored(_) => Some("event type does not affect billing"),
        };
        Ok(self.finish(next, effects, ignored, now))
    }

    /// Applies a subscription retrieved from the API after [`Effect::RetrieveSubscription`].
    /// It is Stripe's state at `now`, so it outranks every event created up to then.
    pub fn apply_retrieved(
        &self,
        sub: &Subscription,
        prices: &PriceTable,
        livemode: bool,
        now: DateTime<Utc>,
    ) -> Result<Transition, BillingError> {
        if sub.livemode != livemode {
            return Err(BillingError::WrongMode);
        }
        let mut next = self.clone();
        let mut effects = Vec::new();
        let version = now.timestamp().max(self.current_version(&sub.id));
        let ignored =
            next.subscription_event(sub, version, Source::Retrieved, prices, &mut effects)?;
        Ok(self.finish(next, effects, ignored, now))
    }

    fn current_version(&self, id: &str) -> i64 {
        self.subscription
            .as_ref()
            .filter(|s| s.id == id)
            .map_or(0, |s| s.version)
    }

    fn finish(
        &self,
        next: BillingAccount,
        mut effects: Vec<Effect>,
        ignored: Option<&'static str>,
        now: DateTime<Utc>,
    ) -> Transition {
        let (from, to) = (self.plan_at(now), next.plan_at(now));
        if from != to {
            effects.push(Effect::PlanChanged { from, to });
        }
        Transition {
            account: next,
            effects,
            ignored,
        }
    }

    fn claim_customer(&mut self, customer: Option<&str>) -> Result<(), BillingError> {
        match (self.customer.as_deref(), customer) {
            (_, None) => Ok(()),
            (None, Some(c)) => {
                self.customer = Some(c.to_string());
                Ok(())
            }
            (Some(mine), Some(c)) if mine == c => Ok(()),
            (Some(_), Some(_)) => Err(BillingError::ForeignCustomer),
        }
    }

    fn checkout_completed(
        &mut self,
        session: &CheckoutSession,
        effects: &mut Vec<Effect>,
    ) -> Result<Option<&'static str>, BillingError> {
        if session.mode != CheckoutMode::Subscription {
            return Ok(Some("checkout session is not in subscription mode"));
        }
        if session.client_reference_id.as_deref() != Some(self.team.to_string().as_str()) {
            return Err(BillingError::ForeignTeam);
        }
        self.claim_customer(session.customer.as_ref().map(|c| c.0.as_str()))?;
        let Some(sub) = &session.subscription else {
            return Ok(Some("checkout session has no subscription yet"));
        };
        // The session does not say the subscription's status or price: ask Stripe, unless a
        // subscription event already told us about this one.
        if self.subscription.as_ref().map(|s| s.id.as_str()) != Some(sub.0.as_str()) {
            effects.push(Effect::RetrieveSubscription(sub.0.clone()));
        }
        Ok(None)
    }

    fn subscription_event(
        &mut self,
        sub: &Subscription,
        version: i64,
        source: Source,
        prices: &PriceTable,
        effects: &mut Vec<Effect>,
    ) -> Result<Option<&'static str>, BillingError> {
        self.claim_customer(Some(&sub.customer.0))?;
        let price = sub
            .items
            .data
            .first()
            .map(|item| item.price.id.clone())
            .unwrap_or_default();
        let plan = prices
            .plan_of(&price)
            .ok_or_else(|| BillingError::UnknownPrice(price.clone()))?;
        let view = SubscriptionView {
            id: sub.id.clone(),
            status: sub.status,
            plan,
            price,
            created: sub.created,
            current_period_end: sub.current_period_end,
            cancel_at_period_end: sub.cancel_at_period_end,
            version,
        };
        if let Some(current) = &self.subscription {
            if current.id == sub.id {
                if current.status.is_terminal() {
                    return Ok(Some("subscription already ended"));
                }
                if version < current.version {
                    return Ok(Some("stale event"));
                }
                if version == current.version {
                    let same = SubscriptionView {
                        version,
                        ..current.clone()
                    } == view;
                    if same {
                        return Ok(Some("already applied"));
                    }
                    // The API's answer is Stripe's state now: it settles the disagreement.
                    if source == Source::Event {
                        effects.push(Effect::RetrieveSubscription(sub.id.clone()));
                        return Ok(Some("same-second events disagree; retrieving"));
                    }
                }
            } else if !current.status.is_terminal()
                && (view.status.is_terminal() || view.created < current.created)
            {
                return Ok(Some("event of a superseded subscription"));
            }
        }
        match view.status {
            SubscriptionStatus::PastDue if self.dunning_since.is_none() => {
                self.dunning_since = Some(version);
                effects.push(Effect::PaymentFailed {
                    grace_until: version + GRACE_PERIOD.num_seconds(),
                });
            }
            SubscriptionStatus::Active | SubscriptionStatus::Trialing => self.dunning_since = None,
            _ => {}
        }
        self.trial_used = true;
        self.subscription = Some(view);
        Ok(None)
    }

    fn invoice_event(
        &mut self,
        invoice: &Invoice,
        created: i64,
        failed: bool,
        effects: &mut Vec<Effect>,
    ) -> Result<Option<&'static str>, BillingError> {
        self.claim_customer(invoice.customer.as_ref().map(|c| c.0.as_str()))?;
        let ours = match (&self.subscription, &invoice.subscription) {
            (Some(current), Some(sub)) => current.id == sub.0,
            _ => false,
        };
        if !ours {
            return Ok(Some("invoice is not for the team's current subscription"));
        }
        if created < self.invoice_version {
            return Ok(Some("stale event"));
        }
        self.invoice_version = created;
        if failed {
            if self.dunning_since.is_none() {
                self.dunning_since = Some(created);
                effects.push(Effect::PaymentFailed {
                    grace_until: created + GRACE_PERIOD.num_seconds(),
                });
            }
        } else {
            self.dunning_since = None;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::stripe::objects::{Expandable, Price, SubscriptionItem, SubscriptionItems};
    use std::collections::BTreeMap;

    const T0: i64 = 1_700_000_000;

    fn team() -> TeamId {
        TeamId::parse("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f").unwrap()
    }

    fn prices() -> PriceTable {
        PriceTable::new(vec![
            ("price_std".into(), PlanId::Standard),
            ("price_biz".into(), PlanId::Business),
        ])
    }

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap()
    }

    fn sub(id: &str, status: SubscriptionStatus, price: &str, created: i64) -> Subscription {
        Subscription {
            id: id.into(),
            customer: Expandable("cus_1".into()),
            status,
            items: SubscriptionItems {
                data: vec![SubscriptionItem {
                    id: "si_1".into(),
                    price: Price { id: price.into() },
                    quantity: Some(1),
                }],
            },
            created,
            current_period_end: created + 30 * 86_400,
            cancel_at_period_end: false,
            trial_end: None,
            metadata: BTreeMap::new(),
            livemode: false,
        }
    }

    fn event(id: &str, created: i64, kind: EventKind) -> Event {
        Event {
            id: id.into(),
            created,
            livemode: false,
            kind,
        }
    }

    fn updated(id: &str, created: i64, s: Subscription) -> Event {
        event(id, created, EventKind::SubscriptionUpdated(s))
    }

    fn invoice(sub: &str) -> Invoice {
        Invoice {
            id: "in_1".into(),
            customer: Some(Expandable("cus_1".into())),
            subscription: Some(Expandable(sub.into())),
            attempt_count: 1,
            next_payment_attempt: None,
            livemode: false,
        }
    }

    /// Applies events in order, following retrieval effects with `retrieved`.
    fn run(events: &[Event], now: i64) -> (BillingAccount, Vec<Effect>) {
        let mut account = BillingAccount::new(team());
        let mut effects = Vec::new();
        for e in events {
            let t = account.apply(e, &prices(), false, at(now)).unwrap();
            account = t.account;
            effects.extend(t.effects);
        }
        (account, effects)
    }

    #[test]
    fn checkout_then_subscription_gives_the_paid_plan() {
        let session = CheckoutSession {
            id: "cs_1".into(),
            mode: CheckoutMode::Subscription,
            customer: Some(Expandable("cus_1".into())),
            subscription: Some(Expandable("sub_1".into())),
            client_reference_id: Some(team().to_string()),
            status: Some("complete".into()),
            url: None,
            livemode: false,
            created: T0,
            expires_at: T0 + 86_400,
        };
        let account = BillingAccount::new(team());
        assert!(account.trial_available());
        let t = account
            .apply(
                &event("evt_1", T0, EventKind::CheckoutCompleted(session)),
                &prices(),
                false,
                at(T0),
            )
            .unwrap();
        assert_eq!(t.account.customer.as_deref(), Some("cus_1"));
        assert_eq!(
            t.effects,
            vec![Effect::RetrieveSubscription("sub_1".into())]
        );

        let retrieved = sub("sub_1", SubscriptionStatus::Trialing, "price_std", T0);
        let t = t
            .account
            .apply_retrieved(&retrieved, &prices(), false, at(T0 + 1))
            .unwrap();
        assert_eq!(t.account.plan_at(at(T0 + 1)), PlanId::Standard);
        assert_eq!(
            t.effects,
            vec![Effect::PlanChanged {
                from: PlanId::Free,
                to: PlanId::Standard
            }]
        );
        assert!(!t.account.trial_available());
    }

    #[test]
    fn replaying_every_event_changes_nothing() {
        let events = [
            event(
                "evt_1",
                T0,
                EventKind::SubscriptionCreated(sub(
                    "sub_1",
                    SubscriptionStatus::Active,
                    "price_std",
                    T0,
                )),
            ),
            updated(
                "evt_2",
                T0 + 60,
                sub("sub_1", SubscriptionStatus::Active, "price_biz", T0),
            ),
            event(
                "evt_3",
                T0 + 120,
                EventKind::InvoicePaymentFailed(invoice("sub_1")),
            ),
        ];
        let (once, _) = run(&events, T0 + 200);
        let mut twice = events.to_vec();
        twice.extend(events.iter().cloned());
        let (replayed, _) = run(&twice, T0 + 200);
        assert_eq!(once, replayed);
        // And a replay of any single event on the final state is a no-op without effects.
        for e in &events {
            let t = once.apply(e, &prices(), false, at(T0 + 200)).unwrap();
            assert_eq!(t.account, once, "{}", e.id);
            assert!(t.effects.is_empty(), "{}: {:?}", e.id, t.effects);
        }
    }

    #[test]
    fn out_of_order_delivery_ends_in_the_same_state() {
        let created = event(
            "evt_1",
            T0,
            EventKind::SubscriptionCreated(sub(
                "sub_1",
                SubscriptionStatus::Incomplete,
                "price_std",
                T0,
            )),
        );
        let active = updated(
            "evt_2",
            T0 + 5,
            sub("sub_1", SubscriptionStatus::Active, "price_std", T0),
        );
        let upgraded = updated(
            "evt_3",
            T0 + 50,
            sub("sub_1", SubscriptionStatus::Active, "price_biz", T0),
        );
        let deleted = event(
            "evt_4",
            T0 + 90,
            EventKind::SubscriptionDeleted(sub(
                "sub_1",
                SubscriptionStatus::Canceled,
                "price_biz",
                T0,
            )),
        );
        let in_order = [
            created.clone(),
            active.clone(),
            upgraded.clone(),
            deleted.clone(),
        ];
        let (expected, _) = run(&in_order, T0 + 100);
        assert_eq!(expected.plan_at(at(T0 + 100)), PlanId::Free);
        // Every permutation of the four deliveries ends in the same state.
        let mut orders = vec![vec![0, 1, 2, 3]];
        for a in 0..4 {
            for b in 0..4 {
                for c in 0..4 {
                    for d in 0..4 {
                        let o = vec![a, b, c, d];
                        let mut sorted = o.clone();
                        sorted.sort();
                        if sorted == [0, 1, 2, 3] {
                            orders.push(o);
                        }
                    }
                }
            }
        }
        for order in orders {
            let events: Vec<_> = order.iter().map(|i| in_order[*i].clone()).collect();
            let (got, _) = run(&events, T0 + 100);
            assert_eq!(got.subscription, expected.subscription, "order {order:?}");
            assert_eq!(got.plan_at(at(T0 + 100)), PlanId::Free, "order {order:?}");
        }

        // An old "active" delivered after the upgrade leaves the upgrade in place.
        let (account, _) = run(&[created, upgraded, active], T0 + 100);
        assert_eq!(account.plan_at(at(T0 + 100)), PlanId::Business);
    }

    #[test]
    fn same_second_disagreement_asks_stripe() {
        let a = updated(
            "evt_a",
            T0,
            sub("sub_1", SubscriptionStatus::Active, "price_std", T0),
        );
        let b = updated(
            "evt_b",
            T0,
            sub("sub_1", SubscriptionStatus::Active, "price_biz", T0),
        );
        let (account, _) = run(&[a], T0 + 1);
        let t = account.apply(&b, &prices(), false, at(T0 + 1)).unwrap();
        assert_eq!(t.account, account, "nothing applied on a tie");
        assert_eq!(
            t.effects,
            vec![Effect::RetrieveSubscription("sub_1".into())]
        );
        // The retrieved object wins and outranks both events.
        let now = sub("sub_1", SubscriptionStatus::Active, "price_biz", T0);
        let t = account
            .apply_retrieved(&now, &prices(), false, at(T0 + 2))
            .unwrap();
        assert_eq!(t.account.plan_at(at(T0 + 2)), PlanId::Business);
        let late = account.apply(&b, &prices(), false, at(T0 + 3)).unwrap();
        assert_eq!(
            late.effects,
            vec![Effect::RetrieveSubscription("sub_1".into())]
        );
        let after = t.account.apply(&b, &prices(), false, at(T0 + 3)).unwrap();
        assert_eq!(after.ignored, Some("stale event"));
    }

    /// Stripe answers within the second of the events it settles: its answer still wins (a
    /// cancellation that arrived in the second of the update before it was once lost).
    #[test]
    fn a_retrieve_in_the_same_second_settles_the_tie() {
        let a = updated(
            "evt_a",
            T0,
            sub("sub_1", SubscriptionStatus::Active, "price_biz", T0),
        );
        let (account, _) = run(&[a], T0);
        let ended = sub("sub_1", SubscriptionStatus::Canceled, "price_biz", T0);
        let t = account
            .apply_retrieved(&ended, &prices(), false, at(T0))
            .unwrap();
        assert_eq!(t.ignored, None);
        assert_ne!(t.account.plan_at(at(T0)), PlanId::Business);
    }

    #[test]
    fn failed_payment_keeps_the_plan_for_the_grace_period_then_downgrades() {
        let (account, effects) = run(
            &[
                event(
                    "evt_1",
                    T0,
                    EventKind::SubscriptionCreated(sub(
                        "sub_1",
                        SubscriptionStatus::Active,
                        "price_std",
                        T0,
                    )),
                ),
                event(
                    "evt_2",
                    T0 + 100,
                    EventKind::InvoicePaymentFailed(invoice("sub_1")),
                ),
                updated(
                    "evt_3",
                    T0 + 101,
                    sub("sub_1", SubscriptionStatus::PastDue, "price_std", T0),
                ),
                event(
                    "evt_4",
                    T0 + 200,
                    EventKind::InvoicePaymentFailed(invoice("sub_1")),
                ),
            ],
            T0 + 300,
        );
        let grace_end = T0 + 100 + GRACE_PERIOD.num_seconds();
        assert_eq!(
            effects
                .iter()
                .filter(|e| matches!(e, Effect::PaymentFailed { .. }))
                .count(),
            1,
            "owners are warned once per dunning cycle: {effects:?}"
        );
        assert!(effects.contains(&Effect::PaymentFailed {
            grace_until: grace_end
        }));
        assert_eq!(account.grace_until(), Some(grace_end));
        assert_eq!(account.plan_at(at(grace_end - 1)), PlanId::Standard);
        assert_eq!(account.plan_at(at(grace_end)), PlanId::Free);

        // Paying ends dunning; a failure delivered late (older) does not restart it.
        let paid = account
            .apply(
                &event("evt_5", T0 + 400, EventKind::InvoicePaid(invoice("sub_1"))),
                &prices(),
                false,
                at(T0 + 400),
            )
            .unwrap()
            .account;
        assert_eq!(paid.dunning_since, None);
        let late = paid
            .apply(
                &event(
                    "evt_2",
                    T0 + 100,
                    EventKind::InvoicePaymentFailed(invoice("sub_1")),
                ),
                &prices(),
                false,
                at(T0 + 500),
            )
            .unwrap();
        assert_eq!(late.ignored, Some("stale event"));
        assert_eq!(late.account.dunning_since, None);
    }

    #[test]
    fn a_new_subscription_is_not_undone_by_the_old_ones_cancellation() {
        let (account, _) = run(
            &[
                event(
                    "evt_1",
                    T0,
                    EventKind::SubscriptionCreated(sub(
                        "sub_old",
                        SubscriptionStatus::Active,
                        "price_std",
                        T0,
                    )),
                ),
                event(
                    "evt_2",
                    T0 + 500,
                    EventKind::SubscriptionCreated(sub(
                        "sub_new",
                        SubscriptionStatus::Active,
                        "price_biz",
                        T0 + 500,
                    )),
                ),
                event(
                    "evt_3",
                    T0 + 600,
                    EventKind::SubscriptionDeleted(sub(
                        "sub_old",
                        SubscriptionStatus::Canceled,
                        "price_std",
                        T0,
                    )),
                ),
                updated(
                    "evt_4",
                    T0 + 700,
                    sub("sub_old", SubscriptionStatus::Active, "price_std", T0),
                ),
            ],
            T0 + 800,
        );
        assert_eq!(account.subscription.as_ref().unwrap().id, "sub_new");
        assert_eq!(account.plan_at(at(T0 + 800)), PlanId::Business);
    }

    #[test]
    fn foreign_or_misconfigured_events_are_refused() {
        let (account, _) = run(
            &[event(
                "evt_1",
                T0,
                EventKind::SubscriptionCreated(sub(
                    "sub_1",
                    SubscriptionStatus::Active,
                    "price_std",
                    T0,
                )),
            )],
            T0,
        );
        let mut foreign = sub("sub_2", SubscriptionStatus::Active, "price_std", T0 + 1);
        foreign.customer = Expandable("cus_other".into());
        assert_eq!(
            account.apply(&updated("evt_2", T0 + 1, foreign), &prices(), false, at(T0)),
            Err(BillingError::ForeignCustomer)
        );
        assert_eq!(
            account.apply(
                &updated(
                    "evt_3",
                    T0 + 1,
                    sub("sub_1", SubscriptionStatus::Active, "price_gold", T0)
                ),
                &prices(),
                false,
                at(T0)
            ),
            Err(BillingError::UnknownPrice("price_gold".into()))
        );
        assert_eq!(
            account.apply(
                &updated(
                    "evt_4",
                    T0 + 1,
                    sub("sub_1", SubscriptionStatus::Active, "price_std", T0)
                ),
                &prices(),
                true,
                at(T0)
            ),
            Err(BillingError::WrongMode)
        );
    }
}
