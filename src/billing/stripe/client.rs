//! The Stripe API calls Butterfly makes, over the HTTP port.
//!
//! Hand-written rather than a crate: `async-stripe` and `stripe-rust` bring their own HTTP
//! stacks (hyper/reqwest), which do not run on Workers, and Butterfly needs six calls. Every
//! `POST` carries an [`IdempotencyKey`]; transient failures are retried with the same key (the
//! official libraries' rule: network errors, `409` and `5xx`, unless Stripe answers
//! `Stripe-Should-Retry: false`), so a retry can never create a second customer or session.

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::form::Form;
use super::objects::{CheckoutSession, Customer, DeletedCustomer, PortalSession, Subscription};
use super::API_VERSION;
use crate::ids::TeamId;
use crate::ports::{Clock, HttpClient, HttpRequest, Method};

/// Production API origin.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com";

/// Retries after the first attempt (the official libraries default to 1-2).
const MAX_RETRIES: u32 = 2;

/// A Stripe secret or restricted key (`sk_`/`rk_`, `live`/`test`). Never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<String>);

impl SecretKey {
    pub fn parse(value: &str) -> Option<SecretKey> {
        let value = value.trim();
        let ok = ["sk_live_", "sk_test_", "rk_live_", "rk_test_"]
            .iter()
            .any(|p| value.strip_prefix(p).is_some_and(|rest| rest.len() >= 16))
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then(|| SecretKey(Zeroizing::new(value.to_string())))
    }

    /// Live keys move real money; events must agree with the key's mode.
    pub fn livemode(&self) -> bool {
        self.0.contains("_live_")
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(live: {}, ..redacted..)", self.livemode())
    }
}

/// A Stripe object id used in a path (`cus_...`, `sub_...`): letters, digits and `_` only, so
/// it cannot change the path it is put in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeId(String);

impl StripeId {
    pub fn parse(value: &str) -> Option<StripeId> {
        let ok = (3..=255).contains(&value.len())
            && value.contains('_')
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then(|| StripeId(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `Idempotency-Key` of one logical operation. Stripe keeps a key 24 hours: the same key with
/// the same parameters replays the first response; with other parameters it is an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// `bf-<purpose>-<hash of the parts>`: deterministic, so a retried operation (a crashed
    /// invocation, a client resubmitting) reuses its key, and opaque, so no team id or email
    /// is sent to Stripe inside it.
    pub fn derive(purpose: &str, parts: &[&str]) -> IdempotencyKey {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        IdempotencyKey(format!(
            "bf-{purpose}-{}",
            hex::encode(&hash.finalize()[..16])
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A failed Stripe call.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error body (`{"error": {"type", "code", "message", "param"}}`).
    #[error("stripe {status} {kind}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        status: u16,
        /// `api_error`, `card_error`, `idempotency_error` or `invalid_request_error`.
        kind: String,
        code: Option<String>,
        message: String,
        param: Option<String>,
        request_id: Option<String>,
    },
    #[error("stripe unreachable: {0}")]
    Transport(String),
    #[error("stripe response not understood: {0}")]
    Decode(String),
}

impl StripeError {
    /// The key was first used with other parameters.
    pub fn is_idempotency_conflict(&self) -> bool {
        matches!(self, StripeError::Api { kind, .. } if kind == "idempotency_error")
    }

    /// The object does not exist (or no longer does).
    pub fn is_resource_missing(&self) -> bool {
        matches!(self, StripeError::Api { code: Some(code), .. } if code == "resource_missing")
    }
}

/// What a new team customer carries. `metadata[team_id]` ties it back to the team.
#[derive(Clone, Debug)]
pub struct NewCustomer<'a> {
    pub team: TeamId,
    pub name: &'a str,
    pub email: Option<&'a str>,
}

/// A subscription-mode Checkout Session for one price.
#[derive(Clone, Debug)]
pub struct NewCheckout<'a> {
    pub team: TeamId,
    pub customer: &'a StripeId,
    pub price: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// Days of trial, only for a team that never had one.
    pub trial_days: Option<u32>,
}

pub struct StripeClient<'a> {
    http: &'a dyn HttpClient,
    clock: &'a dyn Clock,
    base_url: String,
    key: &'a SecretKey,
}

impl<'a> StripeClient<'a> {
    /// `base_url` is [`STRIPE_API_BASE`] in production, the local fake otherwise.
    pub fn new(
        http: &'a dyn HttpClient,
        clock: &'a dyn Clock,
        base_url: &str,
        key: &'a SecretKey,
    ) -> StripeClient<'a> {
        StripeClient {
            http,
            clock,
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
        }
    }

    pub async fn create_customer(
        &self,
        customer: &NewCustomer<'_>,
        key: &IdempotencyKey,
    ) -> Result<Customer, StripeError> {
        let form = Form::new()
            .push("name", customer.name)
            .push_opt("email", customer.email)
            .push("metadata[team_id]", customer.team.to_string());
        self.post("/v1/customers", form, key).await
    }

    pub async fn create_checkout_session(
        &self,
        checkout: &NewCheckout<'_>,
        key: &IdempotencyKey,
    ) -> Result<CheckoutSession, StripeError> {
        let team = checkout.team.to_string();
        let form = Form::new()
            .push("mode", "subscription")
            .push("customer", checkout.customer.as_str())
            .push("client_reference_id", team.clone())
            .push("line_items[0][price]", checkout.price)
            .push("line_items[0][quantity]", "1")
            .push("success_url", checkout.success_url)
            .push("cancel_url", checkout.cancel_url)
            .push("metadata[team_id]", team.clone())
            .push("subscription_data[metadata][team_id]", team)
            .push_opt(
                "subscription_data[trial_period_days]",
                checkout.trial_days.map(|d| d.to_string()),
            );
        self.post("/v1/checkout/sessions", form, key).await
    }

    pub async fn create_portal_session(
        &self,
        customer: &StripeId,
        return_url: &str,
        key: &IdempotencyKey,
    ) -> Result<PortalSession, StripeError> {
        let form = Form::new()
            .push("customer", customer.as_str())
            .push("return_url", return_url);
        self.post("/v1/billing_portal/sessions", form, key).await
    }

    /// The subscription as Stripe has it now: the tie-breaker when two events of one
    /// subscription carry the same `created` second.
    pub async fn retrieve_subscription(&self, id: &StripeId) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", id.as_str());
        self.call(Method::Get, &path, None, None).await
    }

    /// Cancels at once (account deletion). Canceling twice answers `resource_missing`.
    pub async fn cancel_subscription(&self, id: &StripeId) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", id.as_str());
        self.call(Method::Delete, &path, None, None).await
    }

    /// Deletes the customer and its payment methods (account deletion). Stripe keeps the
    /// invoices it must keep by law; Butterfly keeps nothing.
    pub async fn delete_customer(&self, id: &StripeId) -> Result<DeletedCustomer, StripeError> {
        let path = format!("/v1/customers/{}", id.as_str());
        self.call(Method::Delete, &path, None, None).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: Form,
        key: &IdempotencyKey,
    ) -> Result<T, StripeError> {
        self.call(Method::Post, path, Some(form), Some(key)).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: Option<Form>,
        key: Option<&IdempotencyKey>,
    ) -> Result<T, StripeError> {
        let mut request = HttpRequest {
            method,
            url: format!("{}{path}", self.base_url),
            headers: vec![
                (
                    "authorization".into(),
                    format!("Bearer {}", self.key.0.as_str()),
                ),
                ("stripe-version".into(), API_VERSION.into()),
                ("accept".into(), "application/json".into()),
            ],
            body: None,
        };
        if let Some(form) = form {
            request.headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
            request.body = Some(form.encode().into_bytes());
        }
        if let Some(key) = key {
            request
                .headers
                .push(("idempotency-key".into(), key.as_str().to_string()));
        }
        let mut attempt = 0;
        loop {
            let outcome = self.http.send(request.clone()).await;
            let retry = match &outcome {
                Err(_) => true,
                Ok(response) => match response.header("stripe-should-retry") {
                    Some("true") => true,
                    Some("false") => false,
                    _ => response.status == 409 || response.status >= 500,
                },
            };
            if retry && attempt < MAX_RETRIES {
                // 0.5 s, then 1 s: short, since a webhook or an API caller is waiting.
                self.clock
                    .sleep(Duration::from_millis(500 << attempt))
                    .await;
                attempt += 1;
                continue;
            }
            let response = outcome.map_err(|e| StripeError::Transport(e.0))?;
            if (200..300).contains(&response.status) {
                return serde_json::from_slice(&response.body)
                    .map_err(|e| StripeError::Decode(e.to_string()));
            }
            return Err(api_error(&response));
        }
    }
}

fn api_error(response: &crate::ports::HttpResponse) -> StripeError {
    #[derive(serde::Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(serde::Deserialize)]
    struct Detail {
        #[serde(rename = "type")]
        kind: String,
        code: Option<String>,
        message: Option<String>,
        param: Option<String>,
    }
    let request_id = response.header("request-id").map(str::to_string);
    match serde_json::from_slice::<Body>(&response.body) {
        Ok(Body { error }) => StripeError::Api {
            status: response.status,
            kind: error.kind,
            code: error.code,
            message: error.message.unwrap_or_default(),
            param: error.param,
            request_id,
        },
        Err(_) => StripeError::Decode(format!("status {} without an error body", response.status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{HttpResponse, TransportError};
    use crate::testing::{json_response, ManualClock, ScriptedHttp};
    use futures::executor::block_on;
    use serde_json::json;
    use std::cell::Cell;

    fn key() -> SecretKey {
        SecretKey::parse("sk_test_0123456789abcdefABCDEF").unwrap()
    }

    fn clock() -> ManualClock {
        ManualClock::at(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap())
    }

    fn team() -> TeamId {
        TeamId::parse("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f").unwrap()
    }

    fn session_json() -> serde_json::Value {
        json!({"id": "cs_test_1", "object": "checkout.session", "mode": "subscription",
               "customer": "cus_1", "subscription": null, "client_reference_id": team().to_string(),
               "status": "open", "url": "https://checkout.stripe.com/c/pay/cs_test_1",
               "livemode": false, "created": 1_700_000_000, "expires_at": 1_700_086_400})
    }

    #[test]
    fn checkout_sends_stripes_wire_format() {
        let http = ScriptedHttp::new(|_| Ok(json_response(200, &session_json(), &[])));
        let clock = clock();
        let key = key();
        let client = StripeClient::new(&http, &clock, "http://127.0.0.1:8261/", &key);
        let customer = StripeId::parse("cus_1").unwrap();
        let idem = IdempotencyKey::derive("checkout", &[&team().to_string(), "standard", "r1"]);
        let session = block_on(client.create_checkout_session(
            &NewCheckout {
                team: team(),
                customer: &customer,
                price: "price_std",
                success_url: "https://app.example/billing/done",
                cancel_url: "https://app.example/billing",
                trial_days: Some(14),
            },
            &idem,
        ))
        .unwrap();
        assert_eq!(
            session.url.as_deref(),
            Some("https://checkout.stripe.com/c/pay/cs_test_1")
        );

        let requests = http.requests.borrow();
        let request = &requests[0];
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.url, "http://127.0.0.1:8261/v1/checkout/sessions");
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            header("authorization"),
            Some("Bearer sk_test_0123456789abcdefABCDEF")
        );
        assert_eq!(header("stripe-version"), Some(API_VERSION));
        assert_eq!(header("idempotency-key"), Some(idem.as_str()));
        assert_eq!(
            header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let body = String::from_utf8(request.body.clone().unwrap()).unwrap();
        for part in [
            "mode=subscription",
            "customer=cus_1",
            "line_items[0][price]=price_std",
            "line_items[0][quantity]=1",
            "subscription_data[trial_period_days]=14",
            &format!("subscription_data[metadata][team_id]={}", team()),
            &format!("client_reference_id={}", team()),
        ] {
            assert!(
                body.split('&').any(|p| p == part),
                "{part} missing from {body}"
            );
        }
    }

    #[test]
    fn transient_failures_retry_with_the_same_key_then_give_up() {
        let calls = std::rc::Rc::new(Cell::new(0));
        let seen = calls.clone();
        let http = ScriptedHttp::new(move |_| {
            seen.set(seen.get() + 1);
            match seen.get() {
                1 => Err(TransportError("reset".into())),
                2 => Ok(json_response(
                    500,
                    &json!({"error": {"type": "api_error", "message": "boom"}}),
                    &[],
                )),
                _ => Ok(json_response(
                    200,
                    &json!({"id": "cus_1", "livemode": false}),
                    &[],
                )),
            }
        });
        let clock = clock();
        let key = key();
        let client = StripeClient::new(&http, &clock, STRIPE_API_BASE, &key);
        let idem = IdempotencyKey::derive("customer", &["t"]);
        let customer = block_on(client.create_customer(
            &NewCustomer {
                team: team(),
                name: "Acme",
                email: Some("it@acme.example"),
            },
            &idem,
        ))
        .unwrap();
        assert_eq!(customer.id, "cus_1");
        assert_eq!(calls.get(), 3);
        let keys: Vec<_> = http
            .requests
            .borrow()
            .iter()
            .map(|r| {
                r.headers
                    .iter()
                    .find(|(k, _)| k == "idempotency-key")
                    .unwrap()
                    .1
                    .clone()
            })
            .collect();
        assert!(keys.iter().all(|k| k == idem.as_str()), "{keys:?}");
        assert_eq!(
            *clock.sleeps.borrow(),
            vec![Duration::from_millis(500), Duration::from_millis(1000)]
        );

        // Always failing: three attempts, then the last error.
        let http = ScriptedHttp::new(|_| Err(TransportError("down".into())));
        let client = StripeClient::new(&http, &clock, STRIPE_API_BASE, &key);
        let err =
            block_on(client.retrieve_subscription(&StripeId::parse("sub_1").unwrap())).unwrap_err();
        assert!(matches!(err, StripeError::Transport(_)));
        assert_eq!(http.requests.borrow().len(), 3);
    }

    #[test]
    fn errors_keep_stripes_fields_and_are_not_retried_when_final() {
        let http = ScriptedHttp::new(|_| {
            let mut r = json_response(
                400,
                &json!({"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}}),
                &[("request-id", "req_123"), ("stripe-should-retry", "false")],
            );
            r.status = 400;
            Ok(r)
        });
        let clock = clock();
        let key = key();
        let client = StripeClient::new(&http, &clock, STRIPE_API_BASE, &key);
        let err = block_on(client.create_portal_session(
            &StripeId::parse("cus_1").unwrap(),
            "https://app.example/billing",
            &IdempotencyKey::derive("portal", &["x"]),
        ))
        .unwrap_err();
        assert!(err.is_idempotency_conflict());
        assert!(matches!(&err, StripeError::Api { request_id: Some(r), .. } if r == "req_123"));
        assert_eq!(http.requests.borrow().len(), 1);

        let http = ScriptedHttp::new(|_| {
            Ok(HttpResponse {
                status: 502,
                headers: vec![],
                body: b"<html>bad gateway".to_vec(),
            })
        });
        let client = StripeClient::new(&http, &clock, STRIPE_API_BASE, &key);
        let err = block_on(client.delete_customer(&StripeId::parse("cus_1").unwrap())).unwrap_err();
        assert!(matches!(err, StripeError::Decode(_)), "{err}");
    }

    #[test]
    fn keys_and_ids_are_checked_and_never_printed() {
        assert!(SecretKey::parse("pk_test_0123456789abcdef").is_none());
        assert!(SecretKey::parse("sk_test_short").is_none());
        assert!(SecretKey::parse("sk_live_0123456789abcdef")
            .unwrap()
            .livemode());
        assert!(!format!("{:?}", key()).contains("0123456789"));
        assert!(StripeId::parse("sub_1").is_some());
        for bad in ["../customers", "sub_1/x", "sub 1", "nounderscore", ""] {
            assert!(StripeId::parse(bad).is_none(), "{bad}");
        }
        let a = IdempotencyKey::derive("customer", &["ab", "c"]);
        let b = IdempotencyKey::derive("customer", &["a", "bc"]);
        assert_ne!(a, b, "parts are length-prefixed");
        assert_eq!(a, IdempotencyKey::derive("customer", &["ab", "c"]));
        assert!(a.as_str().starts_with("bf-customer-") && a.as_str().len() < 255);
    }
}
