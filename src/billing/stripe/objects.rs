//! The parts of Stripe's objects Butterfly reads, as API version [`super::API_VERSION`] shapes
//! them (`tests/fixtures/stripe/openapi-subset.json` is the spec they follow). Unknown fields
//! are ignored, so additive changes on Stripe's side cannot break parsing; anything Butterfly
//! relies on is required here and a payload without it is refused.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// An id that Stripe may send either as a string or, when expanded, as the object itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expandable(pub String);

impl<'de> Deserialize<'de> for Expandable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Id(String),
            Object { id: String },
        }
        Ok(match Either::deserialize(d)? {
            Either::Id(id) | Either::Object { id } => Expandable(id),
        })
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
}

/// `DELETE /v1/customers/{id}` answers a `deleted_customer`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct DeletedCustomer {
    pub id: String,
    pub deleted: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutMode {
    Payment,
    Setup,
    Subscription,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub mode: CheckoutMode,
    #[serde(default)]
    pub customer: Option<Expandable>,
    #[serde(default)]
    pub subscription: Option<Expandable>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    /// `open`, `complete` or `expired`.
    #[serde(default)]
    pub status: Option<String>,
    /// Present while the session is open.
    #[serde(default)]
    pub url: Option<String>,
    pub livemode: bool,
    pub created: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PortalSession {
    pub id: String,
    pub customer: String,
    pub url: String,
    pub livemode: bool,
}

/// A subscription's status (Stripe's eight).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Incomplete,
    IncompleteExpired,
    Trialing,
    Active,
    PastDue,
    Canceled,
    Unpaid,
    Paused,
}

impl SubscriptionStatus {
    /// Statuses a subscription never leaves (Stripe cannot reactivate them).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Incomplete => "incomplete",
            SubscriptionStatus::IncompleteExpired => "incomplete_expired",
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Canceled => "canceled",
            SubscriptionStatus::Unpaid => "unpaid",
            SubscriptionStatus::Paused => "paused",
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Price {
    pub id: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct SubscriptionItem {
    pub id: String,
    pub price: Price,
    #[serde(default)]
    pub quantity: Option<u64>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct SubscriptionItems {
    pub data: Vec<SubscriptionItem>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub customer: Expandable,
    pub status: SubscriptionStatus,
    pub items: SubscriptionItems,
    pub created: i64,
    pub current_period_end: i64,
    pub cancel_at_period_end: bool,
    #[serde(default)]
    pub trial_end: Option<i64>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    #[serde(default)]
    pub customer: Option<Expandable>,
    #[serde(default)]
    pub subscription: Option<Expandable>,
    pub attempt_count: u64,
    #[serde(default)]
    pub next_payment_attempt: Option<i64>,
    pub livemode: bool,
}

/// The envelope of every webhook delivery.
#[derive(Clone, Debug, Deserialize)]
pub struct RawEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    pub livemode: bool,
    #[serde(default)]
    pub api_version: Option<String>,
    pub data: RawEventData,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RawEventData {
    pub object: serde_json::Value,
}

/// The events that move a team's plan; everything else is acknowledged and ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    CheckoutCompleted(CheckoutSession),
    SubscriptionCreated(Subscription),
    SubscriptionUpdated(Subscription),
    SubscriptionDeleted(Subscription),
    InvoicePaymentFailed(Invoice),
    /// Ends dunning when a retried payment succeeds.
    InvoicePaid(Invoice),
    Ignored(String),
}

/// A verified, parsed webhook event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    /// Unix seconds; orders events of one object (Stripe may deliver out of order).
    pub created: i64,
    pub livemode: bool,
    pub kind: EventKind,
}

/// A payload that is genuine but not an event Butterfly can read.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event payload is not valid: {0}")]
    Malformed(String),
    #[error("event was rendered for API version {0}, not the pinned one")]
    WrongApiVersion(String),
}

impl Event {
    /// Parses a verified payload. Events rendered for another API version are refused: the
    /// webhook endpoint must be created with the pinned version (docs/lifecycle.md).
    pub fn parse(raw_body: &[u8]) -> Result<Event, EventError> {
        let raw: RawEvent =
            serde_json::from_slice(raw_body).map_err(|e| EventError::Malformed(e.to_string()))?;
        if let Some(version) = &raw.api_version {
            if version != super::API_VERSION {
                return Err(EventError::WrongApiVersion(version.clone()));
            }
        }
        fn object<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, EventError> {
            serde_json::from_value(v).map_err(|e| EventError::Malformed(e.to_string()))
        }
        let data = raw.data.object;
        let kind = match raw.kind.as_str() {
            "checkout.session.completed" => EventKind::CheckoutCompleted(object(data)?),
            "customer.subscription.created" => EventKind::SubscriptionCreated(object(data)?),
            "customer.subscription.updated" => EventKind::SubscriptionUpdated(object(data)?),
            "customer.subscription.deleted" => EventKind::SubscriptionDeleted(object(data)?),
            "invoice.payment_failed" => EventKind::InvoicePaymentFailed(object(data)?),
            "invoice.paid" => EventKind::InvoicePaid(object(data)?),
            _ => EventKind::Ignored(raw.kind.clone()),
        };
        Ok(Event {
            id: raw.id,
            created: raw.created,
            livemode: raw.livemode,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn subscription_json(status: &str) -> serde_json::Value {
        json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
            "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item",
                      "price": {"id": "price_std", "object": "price"}, "quantity": 1}]},
            "created": 1_700_000_000, "current_period_end": 1_702_592_000,
            "cancel_at_period_end": false, "trial_end": null, "metadata": {"team_id": "t"},
            "livemode": false
        })
    }

    #[test]
    fn parses_the_events_that_move_a_plan() {
        let body = json!({
            "id": "evt_1", "object": "event", "type": "customer.subscription.updated",
            "created": 1_700_000_100, "livemode": false, "api_version": super::super::API_VERSION,
            "pending_webhooks": 1, "data": {"object": subscription_json("past_due")}
        });
        let event = Event::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(event.created, 1_700_000_100);
        let EventKind::SubscriptionUpdated(sub) = event.kind else {
            panic!("wrong kind: {:?}", event.kind)
        };
        assert_eq!(sub.status, SubscriptionStatus::PastDue);
        assert_eq!(sub.items.data[0].price.id, "price_std");
        assert_eq!(sub.customer, Expandable("cus_1".into()));
    }

    #[test]
    fn expanded_ids_read_as_ids() {
        let mut sub = subscription_json("active");
        sub["customer"] = json!({"id": "cus_9", "object": "customer"});
        let sub: Subscription = serde_json::from_value(sub).unwrap();
        assert_eq!(sub.customer.0, "cus_9");
    }

    #[test]
    fn unknown_events_are_ignored_and_bad_ones_refused() {
        let body = json!({"id": "evt_2", "type": "charge.refunded", "created": 1, "livemode": false,
                          "data": {"object": {}}});
        let event = Event::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(event.kind, EventKind::Ignored("charge.refunded".into()));

        let missing_status = {
            let mut s = subscription_json("active");
            s.as_object_mut().unwrap().remove("status");
            s
        };
        let body = json!({"id": "evt_3", "type": "customer.subscription.created", "created": 1,
                          "livemode": false, "data": {"object": missing_status}});
        assert!(matches!(
            Event::parse(body.to_string().as_bytes()),
            Err(EventError::Malformed(_))
        ));

        let body = json!({"id": "evt_4", "type": "invoice.paid", "created": 1, "livemode": false,
                          "api_version": "2020-08-27", "data": {"object": {}}});
        assert!(matches!(
            Event::parse(body.to_string().as_bytes()),
            Err(EventError::WrongApiVersion(v)) if v == "2020-08-27"
        ));
    }
}
