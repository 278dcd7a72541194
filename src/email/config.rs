//! Email settings, read with the same lookup as `crate::config::Config` (phase 2 puts an
//! `email: Option<EmailConfig>` there).

use super::address::EmailAddress;
use super::codes::Pepper;
use super::event_webhook::{EventWebhookKey, EventWebhookVerifier};
use super::sendgrid::{SendGridKey, Sender, SENDGRID_API_BASE};
use super::unsubscribe::{UnsubscribeKey, UnsubscribeSigner};
use crate::config_error::ConfigError;
use crate::crypto::keys::Key256;

pub struct EmailConfig {
    /// `SENDGRID_API_KEY` (secret): a key restricted to Mail Send.
    pub api_key: SendGridKey,
    /// `SENDGRID_API_BASE` (var): only the local stack sets it (the fake).
    pub api_base: String,
    /// `EMAIL_FROM` (var): `Name <address>` of a verified sender.
    pub sender: Sender,
    /// `SENDGRID_WEBHOOK_PUBLIC_KEY` (var; comma-separated while rolling).
    pub webhook: EventWebhookVerifier,
    /// `UNSUBSCRIBE_SIGNING_KEYS` (secret): `id:base64key[,id:base64key]`, active first.
    pub unsubscribe: UnsubscribeSigner,
    /// `VERIFICATION_CODE_PEPPERS` (secret): `id:base64key[,id:base64key]`, active first.
    pub code_peppers: Vec<Pepper>,
}

/// `id:base64(32 bytes)` entries, comma-separated, ids unique and `[A-Za-z0-9_-]{1,32}`.
pub fn parse_keyring(value: &str) -> Option<Vec<(String, Key256)>> {
    let mut keys: Vec<(String, Key256)> = Vec::new();
    for entry in value.split(',') {
        let (id, key) = entry.trim().split_once(':')?;
        let id_ok = (1..=32).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok || keys.iter().any(|(k, _)| k == id) {
            return None;
        }
        keys.push((id.to_string(), Key256::from_base64(key).ok()?));
    }
    Some(keys)
}

impl EmailConfig {
    /// `Ok(None)` when `SENDGRID_API_KEY` is unset: email is off (nothing is queued for
    /// delivery and code-gated actions answer that email is not configured).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<EmailConfig>, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let Some(key) = get("SENDGRID_API_KEY") else {
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
        let api_key = SendGridKey::parse(&key).ok_or(invalid("SENDGRID_API_KEY"))?;
        let from = required("EMAIL_FROM")?;
        let sender = parse_sender(&from).ok_or(invalid("EMAIL_FROM"))?;
        let webhook_keys: Option<Vec<_>> = required("SENDGRID_WEBHOOK_PUBLIC_KEY")?
            .split(',')
            .map(EventWebhookKey::parse)
            .collect();
        let webhook =
            EventWebhookVerifier::new(webhook_keys.ok_or(invalid("SENDGRID_WEBHOOK_PUBLIC_KEY"))?);
        let unsubscribe = parse_keyring(&required("UNSUBSCRIBE_SIGNING_KEYS")?)
            .ok_or(invalid("UNSUBSCRIBE_SIGNING_KEYS"))?
            .into_iter()
            .map(|(id, key)| UnsubscribeKey { id, key })
            .collect();
        let code_peppers = parse_keyring(&required("VERIFICATION_CODE_PEPPERS")?)
            .ok_or(invalid("VERIFICATION_CODE_PEPPERS"))?
            .into_iter()
            .map(|(id, key)| Pepper { id, key })
            .collect();
        let api_base = match get("SENDGRID_API_BASE") {
            None => SENDGRID_API_BASE.to_string(),
            Some(base) => {
                let base = base.trim().trim_end_matches('/').to_string();
                let url = url::Url::parse(&base).map_err(|_| invalid("SENDGRID_API_BASE"))?;
                let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
                if url.scheme() != "https" && !loopback {
                    return Err(invalid("SENDGRID_API_BASE"));
                }
                base
            }
        };
        Ok(Some(EmailConfig {
            api_key,
            api_base,
            sender,
            webhook,
            unsubscribe: UnsubscribeSigner::new(unsubscribe),
            code_peppers,
        }))
    }
}

/// `Name <address>` or a bare address.
fn parse_sender(value: &str) -> Option<Sender> {
    let value = value.trim();
    match value.strip_suffix('>').and_then(|v| v.rsplit_once('<')) {
        Some((name, address)) => {
            let name = name.trim().trim_matches('"').to_string();
            let printable = !name.is_empty() && !name.chars().any(|c| c.is_control());
            Some(Sender {
                address: EmailAddress::parse(address).ok()?,
                name: if printable { name } else { return None },
            })
        }
        None => Some(Sender {
            address: EmailAddress::parse(value).ok()?,
            name: "Butterfly".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn vars(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn full() -> Vec<(&'static str, String)> {
        vec![
            (
                "SENDGRID_API_KEY",
                "SG.abcdefghij.0123456789abcdefghijklmnop".into(),
            ),
            (
                "EMAIL_FROM",
                "Butterfly Alerts <alerts@butterfly.example>".into(),
            ),
            (
                "SENDGRID_WEBHOOK_PUBLIC_KEY",
                crate::email::event_webhook::tests::keypair(3).1,
            ),
            (
                "UNSUBSCRIBE_SIGNING_KEYS",
                format!("u2:{KEY_B64},u1:{KEY_B64}"),
            ),
            ("VERIFICATION_CODE_PEPPERS", format!("c1:{KEY_B64}")),
        ]
    }

    #[test]
    fn reads_a_complete_configuration() {
        assert!(EmailConfig::from_lookup(vars(&[])).unwrap().is_none());
        let config = EmailConfig::from_lookup(vars(&full())).unwrap().unwrap();
        assert_eq!(config.sender.name, "Butterfly Alerts");
        assert_eq!(config.sender.address.as_str(), "alerts@butterfly.example");
        assert_eq!(config.api_base, SENDGRID_API_BASE);
        assert_eq!(config.code_peppers[0].id, "c1");
    }

    #[test]
    fn names_the_bad_setting() {
        let err = |change: (&'static str, &str)| {
            let mut v = full();
            v.retain(|(k, _)| *k != change.0);
            if !change.1.is_empty() {
                v.push((change.0, change.1.to_string()));
            }
            EmailConfig::from_lookup(vars(&v))
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(
            err(("EMAIL_FROM", "")),
            Some("configuration EMAIL_FROM is missing".into())
        );
        assert_eq!(
            err(("EMAIL_FROM", "Bob <not-an-address>")),
            Some("configuration EMAIL_FROM is invalid".into())
        );
        assert_eq!(
            err(("SENDGRID_WEBHOOK_PUBLIC_KEY", "bm9wZQ==")),
            Some("configuration SENDGRID_WEBHOOK_PUBLIC_KEY is invalid".into())
        );
        let dup = format!("a:{KEY_B64},a:{KEY_B64}");
        assert_eq!(
            err(("UNSUBSCRIBE_SIGNING_KEYS", &dup)),
            Some("configuration UNSUBSCRIBE_SIGNING_KEYS is invalid".into())
        );
        assert_eq!(
            err(("VERIFICATION_CODE_PEPPERS", "c1:c2hvcnQ=")),
            Some("configuration VERIFICATION_CODE_PEPPERS is invalid".into())
        );
        assert_eq!(
            err(("SENDGRID_API_BASE", "http://sendgrid.example")),
            Some("configuration SENDGRID_API_BASE is invalid".into())
        );
        assert_eq!(err(("SENDGRID_API_BASE", "http://127.0.0.1:8262")), None);
    }
}
