//! Billing settings, read from the Worker's vars and secrets with the same lookup as
//! `crate::config::Config` (phase 2 puts a `billing: Option<BillingConfig>` there).

use super::account::PriceTable;
use super::plans::PlanId;
use super::stripe::client::{SecretKey, STRIPE_API_BASE};
use super::stripe::signature::WebhookSecret;
use crate::config_error::ConfigError;

#[derive(Debug)]
pub struct BillingConfig {
    /// `STRIPE_SECRET_KEY` (secret): a restricted key with write access to Customers, Checkout
    /// Sessions, Customer Portal and Subscriptions is enough.
    pub secret_key: SecretKey,
    /// `STRIPE_WEBHOOK_SECRET` (secret): the endpoint's `whsec_...`, comma-separated while
    /// rolling to a new one.
    pub webhook_secrets: Vec<WebhookSecret>,
    /// `STRIPE_PRICE_STANDARD`, `STRIPE_PRICE_BUSINESS` (vars): the recurring prices.
    pub prices: PriceTable,
    /// `STRIPE_API_BASE` (var): the API origin; only the local stack sets it (the fake).
    pub api_base: String,
}

impl BillingConfig {
    /// `Ok(None)` when `STRIPE_SECRET_KEY` is unset: billing is off and every team is on Free.
    /// Once it is set, every other billing setting is required.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<BillingConfig>, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let Some(key) = get("STRIPE_SECRET_KEY") else {
            return Ok(None);
        };
        let required = |name: &'static str| {
            get(name).ok_or(ConfigError {
                name,
                problem: "missing",
            })
        };
        let invalid = |name: &'static str| ConfigError {
            name,
            problem: "invalid",
        };
        let secret_key = SecretKey::parse(&key).ok_or(invalid("STRIPE_SECRET_KEY"))?;
        let webhook_secrets = WebhookSecret::parse_list(&required("STRIPE_WEBHOOK_SECRET")?)
            .ok_or(invalid("STRIPE_WEBHOOK_SECRET"))?;
        let mut prices = Vec::new();
        for (name, plan) in [
            ("STRIPE_PRICE_STANDARD", PlanId::Standard),
            ("STRIPE_PRICE_BUSINESS", PlanId::Business),
        ] {
            let price = required(name)?.trim().to_string();
            if !price.starts_with("price_") || prices.iter().any(|(p, _)| *p == price) {
                return Err(invalid(name));
            }
            prices.push((price, plan));
        }
        let api_base = match get("STRIPE_API_BASE") {
            None => STRIPE_API_BASE.to_string(),
            Some(base) => {
                let base = base.trim().trim_end_matches('/').to_string();
                let parsed = url::Url::parse(&base).map_err(|_| invalid("STRIPE_API_BASE"))?;
                let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost"));
                // Plain HTTP only to the local fake: a live key never crosses the network in clear.
                let plain_ok = loopback && !secret_key.livemode();
                if parsed.scheme() != "https" && !plain_ok {
                    return Err(invalid("STRIPE_API_BASE"));
                }
                base
            }
        };
        Ok(Some(BillingConfig {
            secret_key,
            webhook_secrets,
            prices: PriceTable::new(prices),
            api_base,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const FULL: &[(&str, &str)] = &[
        ("STRIPE_SECRET_KEY", "sk_test_0123456789abcdefABCDEF"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_0123456789abcdefABCDEF"),
        ("STRIPE_PRICE_STANDARD", "price_std123"),
        ("STRIPE_PRICE_BUSINESS", "price_biz456"),
    ];

    #[test]
    fn off_without_a_key_complete_with_all() {
        assert!(BillingConfig::from_lookup(vars(&[])).unwrap().is_none());
        let config = BillingConfig::from_lookup(vars(FULL)).unwrap().unwrap();
        assert_eq!(
            config.prices.plan_of("price_biz456"),
            Some(PlanId::Business)
        );
        assert_eq!(
            config.prices.price_of(PlanId::Standard),
            Some("price_std123")
        );
        assert_eq!(config.api_base, STRIPE_API_BASE);
    }

    #[test]
    fn partial_or_bad_settings_name_the_setting() {
        let err = |pairs: &[(&str, &str)]| {
            BillingConfig::from_lookup(vars(pairs))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&FULL[..2]),
            "configuration STRIPE_PRICE_STANDARD is missing"
        );
        let mut same_price = FULL.to_vec();
        same_price[3] = ("STRIPE_PRICE_BUSINESS", "price_std123");
        assert_eq!(
            err(&same_price),
            "configuration STRIPE_PRICE_BUSINESS is invalid"
        );
        let mut bad_secret = FULL.to_vec();
        bad_secret[1] = ("STRIPE_WEBHOOK_SECRET", "sk_test_0123456789abcdef");
        assert_eq!(
            err(&bad_secret),
            "configuration STRIPE_WEBHOOK_SECRET is invalid"
        );

        let mut local = FULL.to_vec();
        local.push(("STRIPE_API_BASE", "http://127.0.0.1:8261/"));
        let config = BillingConfig::from_lookup(vars(&local)).unwrap().unwrap();
        assert_eq!(config.api_base, "http://127.0.0.1:8261");
        let mut remote = FULL.to_vec();
        remote.push(("STRIPE_API_BASE", "http://stripe.example"));
        assert_eq!(err(&remote), "configuration STRIPE_API_BASE is invalid");
        let mut live = local.clone();
        live[0] = ("STRIPE_SECRET_KEY", "sk_live_0123456789abcdefABCDEF");
        assert_eq!(err(&live), "configuration STRIPE_API_BASE is invalid");
    }
}
