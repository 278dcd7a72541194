//! AI settings from the Worker's environment. Keys are `wrangler secret`s
//! (`ANTHROPIC_API_KEY`, `OPENAI_API_KEY`); everything else is a plain var with a default.
//! A provider without a key is simply not configured; with neither, guidance is unavailable
//! whatever a team chose.

use std::time::Duration;

use zeroize::Zeroizing;

use super::budget::BudgetPolicy;
use super::cost::PriceTable;
use super::provider::{ProviderConfig, ProviderId};
use crate::config_error::ConfigError;

pub const ANTHROPIC_API_KEY: &str = "ANTHROPIC_API_KEY";
pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
pub const DEFAULT_ANTHROPIC_MODEL: &str = "claude-sonnet-4-5";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4.1";
const DEFAULT_TIMEOUT_SECONDS: u64 = 45;

pub struct AiConfig {
    /// Primary first (Anthropic), then the fallback (OpenAI).
    pub providers: Vec<ProviderConfig>,
    /// Longest wait for one provider's answer.
    pub timeout: Duration,
    pub prices: PriceTable,
    /// Limits of a team that has not been given its own.
    pub default_budget: BudgetPolicy,
}

impl AiConfig {
    /// Reads the settings through `get` (the Worker's env, or a map in tests).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut providers = Vec::new();
        for (id, key, model, url, default_model, default_url) in [
            (
                ProviderId::Anthropic,
                ANTHROPIC_API_KEY,
                "AI_ANTHROPIC_MODEL",
                "AI_ANTHROPIC_URL",
                DEFAULT_ANTHROPIC_MODEL,
                "https://api.anthropic.com",
            ),
            (
                ProviderId::OpenAi,
                OPENAI_API_KEY,
                "AI_OPENAI_MODEL",
                "AI_OPENAI_URL",
                DEFAULT_OPENAI_MODEL,
                "https://api.openai.com",
            ),
        ] {
            let Some(secret) = var(key) else { continue };
            let base = var(url).unwrap_or_else(|| default_url.to_owned());
            check_url(url, &base)?;
            let model = var(model).unwrap_or_else(|| default_model.to_owned());
            providers.push(ProviderConfig::new(
                id,
                &base,
                &model,
                Zeroizing::new(secret),
            ));
        }
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match var(name) {
                None => Ok(default),
                Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or(ConfigError {
                    name,
                    problem: "not a positive integer",
                }),
            }
        };
        let defaults = BudgetPolicy::default();
        let prices = match var("AI_PRICES") {
            None => PriceTable::built_in(),
            Some(spec) => PriceTable::with_overrides(&spec).map_err(|_| ConfigError {
                name: "AI_PRICES",
                problem: "malformed (model=input:output,...)",
            })?,
        };
        Ok(AiConfig {
            providers,
            timeout: Duration::from_secs(number("AI_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)?),
            prices,
            default_budget: BudgetPolicy {
                monthly_tokens: number("AI_MONTHLY_TOKENS", defaults.monthly_tokens)?,
                daily_requests: number("AI_DAILY_REQUESTS", defaults.daily_requests.into())?
                    .try_into()
                    .map_err(|_| ConfigError {
                        name: "AI_DAILY_REQUESTS",
                        problem: "too large",
                    })?,
                per_minute_requests: number(
                    "AI_PER_MINUTE_REQUESTS",
                    defaults.per_minute_requests.into(),
                )?
                .try_into()
                .map_err(|_| ConfigError {
                    name: "AI_PER_MINUTE_REQUESTS",
                    problem: "too large",
                })?,
            },
        })
    }
}

/// Provider origins must be HTTPS, except on loopback (the local fakes).
fn check_url(name: &'static str, url: &str) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(url).map_err(|_| ConfigError {
        name,
        problem: "not a URL",
    })?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let ok = parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback);
    let bare = parsed.path() == "/" && parsed.query().is_none() && parsed.username().is_empty();
    if ok && bare {
        Ok(())
    } else {
        Err(ConfigError {
            name,
            problem: "not an https origin (http only on loopback)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn providers_in_order_only_when_keyed() {
        let c = AiConfig::from_env(env(&[])).unwrap();
        assert!(c.providers.is_empty());
        let c = AiConfig::from_env(env(&[
            (OPENAI_API_KEY, "sk-o"),
            (ANTHROPIC_API_KEY, "sk-a"),
        ]))
        .unwrap();
        let ids: Vec<ProviderId> = c.providers.iter().map(|p| p.id).collect();
        assert_eq!(ids, [ProviderId::Anthropic, ProviderId::OpenAi]);
        assert_eq!(c.providers[0].model, DEFAULT_ANTHROPIC_MODEL);
        assert_eq!(c.providers[1].base_url, "https://api.openai.com");
        assert_eq!(c.timeout, Duration::from_secs(45));
    }

    #[test]
    fn overrides_and_their_checks() {
        let c = AiConfig::from_env(env(&[
            (ANTHROPIC_API_KEY, "sk-a"),
            ("AI_ANTHROPIC_URL", "http://127.0.0.1:8271"),
            ("AI_ANTHROPIC_MODEL", "claude-haiku-4-5"),
            ("AI_TIMEOUT_SECONDS", "5"),
            ("AI_DAILY_REQUESTS", "7"),
        ]))
        .unwrap();
        assert_eq!(c.providers[0].base_url, "http://127.0.0.1:8271");
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.default_budget.daily_requests, 7);
        for (name, value) in [
            ("AI_ANTHROPIC_URL", "http://api.anthropic.com"),
            ("AI_ANTHROPIC_URL", "https://api.anthropic.com/v1"),
            ("AI_TIMEOUT_SECONDS", "0"),
            ("AI_PRICES", "nonsense"),
        ] {
            let err = AiConfig::from_env(env(&[(ANTHROPIC_API_KEY, "sk-a"), (name, value)]))
                .err()
                .unwrap_or_else(|| panic!("{name}={value} accepted"));
            assert_eq!(err.name, name);
            assert!(!err.to_string().contains(value), "never echoes the value");
        }
    }
}
