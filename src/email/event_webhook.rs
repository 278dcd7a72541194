//! SendGrid's signed event webhook: verification and what each event means for Butterfly.
//!
//! SendGrid signs `timestamp ‖ raw body` with ECDSA P-256 / SHA-256 and sends the DER
//! signature base64-encoded in `X-Twilio-Email-Event-Webhook-Signature`, the timestamp in
//! `X-Twilio-Email-Event-Webhook-Timestamp`; the verification key is the base64
//! SubjectPublicKeyInfo from the Mail Settings page. That is exactly what
//! `@sendgrid/eventwebhook` checks (`tests/official_libraries.rs` compares verdicts). Like that
//! library, no age limit is put on the timestamp: SendGrid redelivers failed posts for up to
//! 24 hours, and every effect here is idempotent per `sg_event_id` (a replayed bounce
//! suppresses an address that is already suppressed).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

use super::address::EmailAddress;

pub const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

/// A verification key (`SENDGRID_WEBHOOK_PUBLIC_KEY`).
#[derive(Clone, Debug)]
pub struct EventWebhookKey(VerifyingKey);

impl EventWebhookKey {
    /// Base64 DER SubjectPublicKeyInfo, as SendGrid shows it; PEM armour is tolerated.
    pub fn parse(value: &str) -> Option<EventWebhookKey> {
        let body: String = value
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = STANDARD.decode(body).ok()?;
        VerifyingKey::from_public_key_der(&der)
            .ok()
            .map(EventWebhookKey)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventWebhookError {
    #[error("signature or timestamp header missing")]
    MissingHeader,
    #[error("signature is not base64 DER")]
    MalformedSignature,
    #[error("signature does not verify")]
    BadSignature,
}

/// Verifies with any of the configured keys (two while a new key is being rolled out).
#[derive(Clone, Debug)]
pub struct EventWebhookVerifier {
    keys: Vec<EventWebhookKey>,
}

impl EventWebhookVerifier {
    pub fn new(keys: Vec<EventWebhookKey>) -> EventWebhookVerifier {
        EventWebhookVerifier { keys }
    }

    pub fn verify(
        &self,
        raw_body: &[u8],
        signature: Option<&str>,
        timestamp: Option<&str>,
    ) -> Result<(), EventWebhookError> {
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return Err(EventWebhookError::MissingHeader);
        };
        let der = STANDARD
            .decode(signature.trim())
            .map_err(|_| EventWebhookError::MalformedSignature)?;
        let signature =
            Signature::from_der(&der).map_err(|_| EventWebhookError::MalformedSignature)?;
        let mut message = Vec::with_capacity(timestamp.len() + raw_body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.extend_from_slice(raw_body);
        // Either S form verifies, as in SendGrid's verifier (ECDSA itself does not care).
        let candidates = [Some(signature), signature.normalize_s()];
        let ok = self.keys.iter().any(|key| {
            candidates
                .iter()
                .flatten()
                .any(|sig| key.0.verify(&message, sig).is_ok())
        });
        if ok {
            Ok(())
        } else {
            Err(EventWebhookError::BadSignature)
        }
    }
}

/// One event of a webhook post (a JSON array of them). Fields Butterfly does not use are
/// ignored; `outbox_id` is the custom argument the mailer puts on every message.
#[derive(Clone, Debug, Deserialize)]
pub struct DeliveryEvent {
    pub email: String,
    pub event: String,
    #[serde(default)]
    pub sg_event_id: Option<String>,
    #[serde(default)]
    pub sg_message_id: Option<String>,
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// For `bounce`: `bounce` (permanent) or `blocked` (temporary).
    #[serde(default, rename = "type")]
    pub bounce_type: Option<String>,
    /// For `dropped`: why SendGrid did not send.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub outbox_id: Option<String>,
}

/// Why an address must get no more mail (`email_suppressions.reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuppressionReason {
    /// A permanent bounce: the mailbox does not exist.
    Bounce,
    /// The recipient marked a message as spam: send nothing again, not even alerts.
    SpamReport,
    /// SendGrid already holds the address on one of its suppression lists.
    ProviderSuppressed,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Bounce => "bounce",
            SuppressionReason::SpamReport => "spam_report",
            SuppressionReason::ProviderSuppressed => "provider_suppressed",
        }
    }

    pub fn parse(s: &str) -> Option<SuppressionReason> {
        [
            SuppressionReason::Bounce,
            SuppressionReason::SpamReport,
            SuppressionReason::ProviderSuppressed,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// What one event asks Butterfly to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventAction {
    /// Stop mailing this address (every category except verification codes the user asks
    /// for again after fixing the address).
    Suppress {
        address: EmailAddress,
        reason: SuppressionReason,
    },
    /// SendGrid accepted the outbox row's message: reconcile a row whose worker died after
    /// sending but before recording it (see `outbox`).
    Processed {
        outbox_id: String,
    },
    /// The user used SendGrid's own unsubscribe (if enabled): opt out of optional mail.
    OptOut {
        address: EmailAddress,
    },
    Nothing,
}

impl DeliveryEvent {
    /// Parses a verified post body.
    pub fn parse_batch(raw_body: &[u8]) -> Result<Vec<DeliveryEvent>, serde_json::Error> {
        serde_json::from_slice(raw_body)
    }

    pub fn action(&self) -> EventAction {
        let address = || EmailAddress::parse(&self.email).ok();
        let suppress = |reason| match address() {
            Some(address) => EventAction::Suppress { address, reason },
            None => EventAction::Nothing,
        };
        match self.event.as_str() {
            "bounce" if self.bounce_type.as_deref() != Some("blocked") => {
                suppress(SuppressionReason::Bounce)
            }
            "spamreport" => suppress(SuppressionReason::SpamReport),
            "dropped" => {
                let reason = self.reason.as_deref().unwrap_or_default();
                if reason.contains("Bounced Address") {
                    suppress(SuppressionReason::Bounce)
                } else if reason.contains("Spam Reporting Address") {
                    suppress(SuppressionReason::SpamReport)
                } else if reason.contains("Unsubscribed Address") || reason.contains("Invalid") {
                    suppress(SuppressionReason::ProviderSuppressed)
                } else {
                    EventAction::Nothing
                }
            }
            "unsubscribe" | "group_unsubscribe" => match address() {
                Some(address) => EventAction::OptOut { address },
                None => EventAction::Nothing,
            },
            "processed" | "delivered" => match &self.outbox_id {
                Some(id) => EventAction::Processed {
                    outbox_id: id.clone(),
                },
                None => EventAction::Nothing,
            },
            _ => EventAction::Nothing,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::EncodePublicKey;

    pub(crate) fn keypair(seed: u8) -> (SigningKey, String) {
        let signing = SigningKey::from_bytes(&[seed; 32].into()).unwrap();
        let spki = p256::PublicKey::from(signing.verifying_key())
            .to_public_key_der()
            .unwrap()
            .into_vec();
        (signing, STANDARD.encode(spki))
    }

    fn sign(key: &SigningKey, ts: &str, body: &[u8]) -> String {
        let mut msg = ts.as_bytes().to_vec();
        msg.extend_from_slice(body);
        let sig: Signature = key.sign(&msg);
        STANDARD.encode(sig.to_der().as_bytes())
    }

    #[test]
    fn verifies_timestamp_and_body_under_any_configured_key() {
        let (signing, public) = keypair(7);
        let (_, other_public) = keypair(9);
        let verifier = EventWebhookVerifier::new(vec![
            EventWebhookKey::parse(&other_public).unwrap(),
            EventWebhookKey::parse(&public).unwrap(),
        ]);
        let body = br#"[{"email":"a@example.com","event":"bounce"}]"#;
        let sig = sign(&signing, "1700000000", body);
        assert_eq!(
            verifier.verify(body, Some(&sig), Some("1700000000")),
            Ok(())
        );
        assert_eq!(
            verifier.verify(body, Some(&sig), Some("1700000001")),
            Err(EventWebhookError::BadSignature)
        );
        assert_eq!(
            verifier.verify(b"[]", Some(&sig), Some("1700000000")),
            Err(EventWebhookError::BadSignature)
        );
        assert_eq!(
            verifier.verify(body, None, Some("1")),
            Err(EventWebhookError::MissingHeader)
        );
        assert_eq!(
            verifier.verify(body, Some("AAAA"), Some("1")),
            Err(EventWebhookError::MalformedSignature)
        );
        let only_other =
            EventWebhookVerifier::new(vec![EventWebhookKey::parse(&other_public).unwrap()]);
        assert_eq!(
            only_other.verify(body, Some(&sig), Some("1700000000")),
            Err(EventWebhookError::BadSignature)
        );
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{public}\n-----END PUBLIC KEY-----\n");
        assert!(EventWebhookKey::parse(&pem).is_some());
        assert!(EventWebhookKey::parse("bm90IGEga2V5").is_none());
    }

    fn event(json: serde_json::Value) -> DeliveryEvent {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn bounces_and_spam_reports_suppress_and_blocks_do_not() {
        let suppressed = |e: DeliveryEvent| match e.action() {
            EventAction::Suppress { reason, address } => {
                assert_eq!(address.as_str(), "a@example.com");
                Some(reason)
            }
            _ => None,
        };
        use serde_json::json;
        assert_eq!(
            suppressed(event(
                json!({"email": "a@example.com", "event": "bounce", "type": "bounce"})
            )),
            Some(SuppressionReason::Bounce)
        );
        assert_eq!(
            suppressed(event(
                json!({"email": "a@example.com", "event": "bounce", "type": "blocked"})
            )),
            None
        );
        assert_eq!(
            suppressed(event(
                json!({"email": "a@example.com", "event": "spamreport"})
            )),
            Some(SuppressionReason::SpamReport)
        );
        assert_eq!(
            suppressed(event(
                json!({"email": "a@example.com", "event": "dropped", "reason": "Bounced Address"})
            )),
            Some(SuppressionReason::Bounce)
        );
        assert_eq!(
            suppressed(event(
                json!({"email": "a@example.com", "event": "dropped", "reason": "Spam Content"})
            )),
            None
        );
        assert_eq!(
            suppressed(event(json!({"email": "a@example.com", "event": "open"}))),
            None
        );
        assert_eq!(
            event(json!({"email": "a@example.com", "event": "processed", "outbox_id": "o-1"}))
                .action(),
            EventAction::Processed {
                outbox_id: "o-1".into()
            }
        );
        assert_eq!(
            event(json!({"email": "not an address", "event": "spamreport"})).action(),
            EventAction::Nothing
        );
        let batch = DeliveryEvent::parse_batch(
            br#"[{"email":"a@example.com","event":"delivered","sg_event_id":"x","timestamp":1}]"#,
        )
        .unwrap();
        assert_eq!(batch[0].sg_event_id.as_deref(), Some("x"));
    }
}
