//! The mailer: SendGrid v3 `POST /v3/mail/send` over the HTTP port.
//!
//! Hand-written: SendGrid's Rust crates wrap `reqwest`, which does not run on Workers, and the
//! call is one JSON POST. Click and open tracking are switched off (click tracking rewrites
//! links, which would break signed unsubscribe and review links; an open pixel is tracking
//! nobody asked for), and SendGrid's own subscription footer is off (Butterfly adds its own,
//! signed, link). The outbox row id travels as the `outbox_id` custom argument, so the event
//! webhook can tell which row a `processed` event confirms.

use serde_json::{json, Map, Value};
use std::fmt;
use zeroize::Zeroizing;

use super::address::EmailAddress;
use super::messages::Rendered;
use crate::ports::{HttpClient, HttpRequest, Method};

pub const SENDGRID_API_BASE: &str = "https://api.sendgrid.com";

/// `SENDGRID_API_KEY` (secret): `SG.<id>.<secret>`. Never printed.
#[derive(Clone)]
pub struct SendGridKey(Zeroizing<String>);

impl SendGridKey {
    pub fn parse(value: &str) -> Option<SendGridKey> {
        let value = value.trim();
        let mut parts = value.split('.');
        let ok = parts.next() == Some("SG")
            && parts.next().is_some_and(|p| p.len() >= 8)
            && parts.next().is_some_and(|p| p.len() >= 16)
            && parts.next().is_none()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        ok.then(|| SendGridKey(Zeroizing::new(value.to_string())))
    }
}

impl fmt::Debug for SendGridKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendGridKey(..redacted..)")
    }
}

/// The sender (`EMAIL_FROM`): a verified sender or an authenticated domain's address.
#[derive(Clone, Debug)]
pub struct Sender {
    pub address: EmailAddress,
    pub name: String,
}

/// One message for one recipient.
pub struct Outgoing<'a> {
    pub to: &'a EmailAddress,
    pub content: &'a Rendered,
    /// `security`, `alerts`, ...: SendGrid category, for its statistics.
    pub category: &'a str,
    /// RFC 8058 headers on non-transactional mail.
    pub headers: Vec<(String, String)>,
    /// The outbox row; `None` for mail sent directly (verification codes).
    pub outbox_id: Option<&'a str>,
}

/// SendGrid's answer to an accepted message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// `X-Message-Id`: the prefix of every `sg_message_id` in its events.
    pub message_id: Option<String>,
}

/// A message SendGrid did not accept. Messages SendGrid returns name fields, never values, so
/// they are safe to log; addresses are not in them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("sendgrid rejected the message ({status}): {}", messages.join("; "))]
    Rejected { status: u16, messages: Vec<String> },
    #[error("sendgrid refused the API key ({status})")]
    Unauthorized { status: u16 },
    #[error("sendgrid rate limit; retry after {retry_after_secs:?} s")]
    RateLimited { retry_after_secs: Option<u64> },
    #[error("sendgrid unavailable ({status})")]
    Unavailable { status: u16 },
    #[error("sendgrid unreachable")]
    Transport,
}

impl MailError {
    /// Worth another attempt later (the outbox backs off); the rest will fail the same way.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            MailError::RateLimited { .. } | MailError::Unavailable { .. } | MailError::Transport
        )
    }

    /// A stable code for the outbox row's `last_error`.
    pub fn code(&self) -> &'static str {
        match self {
            MailError::Rejected { .. } => "rejected",
            MailError::Unauthorized { .. } => "unauthorized",
            MailError::RateLimited { .. } => "rate_limited",
            MailError::Unavailable { .. } => "unavailable",
            MailError::Transport => "transport",
        }
    }
}

pub struct Mailer<'a> {
    http: &'a dyn HttpClient,
    base_url: String,
    key: &'a SendGridKey,
    sender: &'a Sender,
}

impl<'a> Mailer<'a> {
    pub fn new(
        http: &'a dyn HttpClient,
        base_url: &str,
        key: &'a SendGridKey,
        sender: &'a Sender,
    ) -> Mailer<'a> {
        Mailer {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            sender,
        }
    }

    /// The request body, as SendGrid's `mail/send` schema wants it.
    pub fn body(&self, message: &Outgoing<'_>) -> Value {
        let mut body = json!({
            "personalizations": [{"to": [{"email": message.to.as_str()}]}],
            "from": {"email": self.sender.address.as_str(), "name": self.sender.name},
            "subject": message.content.subject,
            // text/plain must come first (SendGrid's rule), then text/html.
            "content": [
                {"type": "text/plain", "value": message.content.text},
                {"type": "text/html", "value": message.content.html},
            ],
            "categories": [message.category],
            "tracking_settings": {
                "click_tracking": {"enable": false, "enable_text": false},
                "open_tracking": {"enable": false},
                "subscription_tracking": {"enable": false},
            },
        });
        if !message.headers.is_empty() {
            let headers: Map<String, Value> = message
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            body["headers"] = Value::Object(headers);
        }
        if let Some(id) = message.outbox_id {
            // Per personalization: the spec types the message-level `custom_args` as a string.
            body["personalizations"][0]["custom_args"] = json!({ "outbox_id": id });
        }
        body
    }

    pub async fn send(&self, message: &Outgoing<'_>) -> Result<Accepted, MailError> {
        let request = HttpRequest {
            method: Method::Post,
            url: format!("{}/v3/mail/send", self.base_url),
            headers: vec![
                (
                    "authorization".into(),
                    format!("Bearer {}", self.key.0.as_str()),
                ),
                ("content-type".into(), "application/json".into()),
            ],
            body: Some(serde_json::to_vec(&self.body(message)).expect("JSON")),
        };
        let response = self
            .http
            .send(request)
            .await
            .map_err(|_| MailError::Transport)?;
        match response.status {
            200..=299 => Ok(Accepted {
                message_id: response.header("x-message-id").map(str::to_string),
            }),
            401 | 403 => Err(MailError::Unauthorized {
                status: response.status,
            }),
            429 => Err(MailError::RateLimited {
                // X-RateLimit-Reset is a Unix time; the outbox converts it to a delay.
                retry_after_secs: response
                    .header("retry-after")
                    .and_then(|v| v.trim().parse().ok()),
            }),
            status @ 500..=599 => Err(MailError::Unavailable { status }),
            status => Err(MailError::Rejected {
                status,
                messages: error_messages(&response.body),
            }),
        }
    }
}

/// `{"errors": [{"message", "field", "help"}]}` → the messages.
fn error_messages(body: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        message: Option<String>,
        field: Option<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) => b
            .errors
            .into_iter()
            .map(|e| match (e.field, e.message) {
                (Some(f), Some(m)) => format!("{f}: {m}"),
                (None, Some(m)) => m,
                (Some(f), None) => f,
                (None, None) => "unspecified".into(),
            })
            .collect(),
        Err(_) => vec!["unreadable error body".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::messages::Notification;
    use crate::email::unsubscribe;
    use crate::ports::{HttpResponse, TransportError};
    use crate::testing::{json_response, ScriptedHttp};
    use futures::executor::block_on;

    fn key() -> SendGridKey {
        SendGridKey::parse("SG.abcdefghij.0123456789abcdefghijklmnop").unwrap()
    }

    fn sender() -> Sender {
        Sender {
            address: EmailAddress::parse("notifications@butterfly.example").unwrap(),
            name: "Butterfly".into(),
        }
    }

    #[test]
    fn sends_sendgrids_v3_body_with_one_click_headers() {
        let http = ScriptedHttp::new(|_| {
            Ok(HttpResponse {
                status: 202,
                headers: vec![("X-Message-Id".into(), "abc123".into())],
                body: vec![],
            })
        });
        let key = key();
        let sender = sender();
        let mailer = Mailer::new(&http, "http://127.0.0.1:8262", &key, &sender);
        let to = EmailAddress::parse("ops@acme.example").unwrap();
        let link = unsubscribe::link("https://b.example", "v1.k1.p.m");
        let content = Notification::DriftAlert {
            org_domain: "acme.okta.com".into(),
            changes: 2,
            high_severity: 0,
            report_url: "https://b.example/d/1".into(),
        }
        .render(Some(&link));
        let accepted = block_on(mailer.send(&Outgoing {
            to: &to,
            content: &content,
            category: "alerts",
            headers: unsubscribe::headers(&link),
            outbox_id: Some("0b7e..."),
        }))
        .unwrap();
        assert_eq!(accepted.message_id.as_deref(), Some("abc123"));

        let request = &http.requests.borrow()[0];
        assert_eq!(request.url, "http://127.0.0.1:8262/v3/mail/send");
        assert!(request.headers.contains(&(
            "authorization".into(),
            "Bearer SG.abcdefghij.0123456789abcdefghijklmnop".into()
        )));
        let body: Value = serde_json::from_slice(request.body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body["personalizations"][0]["to"][0]["email"],
            "ops@acme.example"
        );
        assert_eq!(body["content"][0]["type"], "text/plain");
        assert_eq!(body["content"][1]["type"], "text/html");
        assert_eq!(body["headers"]["List-Unsubscribe"], format!("<{link}>"));
        assert_eq!(
            body["headers"]["List-Unsubscribe-Post"],
            "List-Unsubscribe=One-Click"
        );
        assert_eq!(
            body["personalizations"][0]["custom_args"]["outbox_id"],
            "0b7e..."
        );
        assert_eq!(body["tracking_settings"]["click_tracking"]["enable"], false);
    }

    #[test]
    fn failures_are_classified_for_the_outbox() {
        let key = key();
        let sender = sender();
        let to = EmailAddress::parse("ops@acme.example").unwrap();
        let content = Notification::DeletionCompleted {
            requested_at: "2026-03-01T12:00:00Z".into(),
        }
        .render(None);
        let send = |status: u16, body: serde_json::Value, headers: &[(&str, &str)]| {
            let response = json_response(status, &body, headers);
            let http = ScriptedHttp::new(move |_| Ok(response.clone()));
            let mailer = Mailer::new(&http, SENDGRID_API_BASE, &key, &sender);
            block_on(mailer.send(&Outgoing {
                to: &to,
                content: &content,
                category: "security",
                headers: vec![],
                outbox_id: None,
            }))
        };
        let err = send(400, json!({"errors": [{"message": "Does not contain a valid address.", "field": "personalizations.0.to.0.email", "help": null}]}), &[]).unwrap_err();
        assert_eq!(
            err,
            MailError::Rejected {
                status: 400,
                messages: vec![
                    "personalizations.0.to.0.email: Does not contain a valid address.".into()
                ]
            }
        );
        assert!(!err.is_retryable());
        assert_eq!(send(401, json!({"errors": [{"message": "The provided authorization grant is invalid, expired, or revoked", "field": null}]}), &[]).unwrap_err(), MailError::Unauthorized { status: 401 });
        let limited = send(
            429,
            json!({"errors": [{"message": "too many requests"}]}),
            &[("retry-after", "30")],
        )
        .unwrap_err();
        assert_eq!(
            limited,
            MailError::RateLimited {
                retry_after_secs: Some(30)
            }
        );
        assert!(limited.is_retryable());
        assert!(send(503, json!({}), &[]).unwrap_err().is_retryable());
        let http = ScriptedHttp::new(|_| Err(TransportError("reset".into())));
        let mailer = Mailer::new(&http, SENDGRID_API_BASE, &key, &sender);
        let err = block_on(mailer.send(&Outgoing {
            to: &to,
            content: &content,
            category: "security",
            headers: vec![],
            outbox_id: None,
        }))
        .unwrap_err();
        assert_eq!(err, MailError::Transport);
        // No address or body in an error's text.
        assert!(!format!("{err} {err:?}").contains("acme.example"));
        assert!(send(202, json!({}), &[]).unwrap().message_id.is_none());
    }

    #[test]
    fn keys_are_checked_and_redacted() {
        assert!(SendGridKey::parse("sk_test_0123456789abcdef").is_none());
        assert!(SendGridKey::parse("SG.short.x").is_none());
        assert_eq!(format!("{:?}", key()), "SendGridKey(..redacted..)");
    }
}
