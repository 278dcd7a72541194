//! Email through SendGrid: the mailer, the outbox delivery policy, verification codes,
//! preferences and one-click unsubscribe, and the signed event webhook. Pure core: HTTP goes
//! through `ports::HttpClient`; no address or body is ever formatted into a log line (the
//! types that hold them redact their `Debug`).

pub mod address;
pub mod codes;
pub mod config;
pub mod event_webhook;
pub mod messages;
pub mod outbox;
pub mod preferences;
pub mod sendgrid;
pub mod unsubscribe;
