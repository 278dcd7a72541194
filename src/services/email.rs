//! Email use cases over the cores in `crate::email`: verification codes (sent while the user
//! waits, never queued), preferences, one-click unsubscribe, SendGrid's signed event webhook,
//! and raising notifications into the outbox (the `outbox` job delivers them).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{Actor, RequestMeta};
use super::{Caller, Deps, Privileged, ServiceError};
use crate::email::address::EmailAddress;
use crate::email::codes::{CodeError, CodeHasher, CodePurpose, Verdict};
use crate::email::config::EmailConfig;
use crate::email::event_webhook::{DeliveryEvent, EventAction};
use crate::email::messages::{verification_code, Notification};
use crate::email::preferences::Category;
use crate::email::sendgrid::{MailError, Mailer, Outgoing};
use crate::email::unsubscribe;
use crate::ids::{OutboxId, TeamId, UserId};
use crate::store::{Audience, DbError, EventEffect, EventWrite, EventsApplied};

/// What the email routes answer beyond the usual service errors.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("email is not configured on this deployment")]
    Off,
    #[error("your account has no usable email address")]
    NoAddress,
    #[error("too many codes requested; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: i64 },
    #[error("no code is pending; request a new one")]
    NoCode,
    #[error("the code is wrong; {attempts_left} attempts left")]
    WrongCode { attempts_left: u32 },
    #[error("the code expired; request a new one")]
    Expired,
    #[error("too many wrong attempts; request a new code")]
    Locked,
    /// SendGrid did not take the message (its stable code is for the log).
    #[error("the email could not be sent: {}", .0.code())]
    Undeliverable(MailError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<DbError> for EmailError {
    fn from(e: DbError) -> Self {
        EmailError::Service(e.into())
    }
}

fn configured<'a>(deps: &'a Deps<'_>) -> Result<&'a EmailConfig, EmailError> {
    deps.config.email.as_ref().ok_or(EmailError::Off)
}

fn hasher(config: &EmailConfig) -> CodeHasher {
    CodeHasher::new(config.code_peppers.clone())
}

/// A code on its way.
#[derive(Debug, Serialize)]
pub struct CodeSent {
    pub expires_at: DateTime<Utc>,
}

/// Mails a fresh code for `purpose` to the caller's account address (superseding any earlier
/// one), within the code core's rate limits. A code SendGrid did not take is withdrawn.
pub async fn request_code(
    caller: &Caller<'_>,
    purpose: CodePurpose,
) -> Result<CodeSent, EmailError> {
    let deps = caller.deps();
    let config = configured(deps)?;
    let address = caller
        .principal()
        .email
        .as_deref()
        .and_then(|e| EmailAddress::parse(e).ok())
        .ok_or(EmailError::NoAddress)?;
    let user = caller.user();
    let store = caller.system().stores();
    let now = deps.clock.now();
    let recent = store
        .codes_issued_since(user, purpose, now - Duration::hours(1))
        .await?;
    let (code, stored) = hasher(config)
        .issue(deps.rng, user, purpose, address.clone(), &recent, now)
        .map_err(|e| match e {
            CodeError::RateLimited { retry_after_secs } => {
                EmailError::RateLimited { retry_after_secs }
            }
            other => EmailError::Service(ServiceError::Internal(other.to_string())),
        })?;
    // A concurrent request issued one first: this one counts as too soon.
    let id = store.issue_code(&stored).await.map_err(|e| match e {
        DbError::Conflict => EmailError::RateLimited {
            retry_after_secs: crate::email::codes::RESEND_COOLDOWN.num_seconds(),
        },
        other => other.into(),
    })?;
    let content = verification_code(code.digits(), purpose);
    let mailer = Mailer::new(deps.http, &config.api_base, &config.api_key, &config.sender);
    let sent = mailer
        .send(&Outgoing {
            to: &address,
            content: &content,
            category: Category::Security.as_str(),
            headers: Vec::new(),
            outbox_id: None,
        })
        .await;
    if let Err(e) = sent {
        store.withdraw_code(id).await?;
        return Err(EmailError::Undeliverable(e));
    }
    Ok(CodeSent {
        expires_at: stored.expires_at,
    })
}

/// Checks a submitted code against the caller's live code for `purpose`, counting the attempt.
/// A right `verify_email` code makes the address it was sent to verified (audited).
pub async fn confirm_code(
    caller: &Caller<'_>,
    purpose: CodePurpose,
    submitted: &str,
) -> Result<(), EmailError> {
    let deps = caller.deps();
    let config = configured(deps)?;
    let user = caller.user();
    let store = caller.system().stores();
    let row = store
        .live_code(user, purpose)
        .await?
        .ok_or(EmailError::NoCode)?;
    let (verdict, after) = hasher(config).check(&row.code, submitted, deps.clock.now());
    match verdict {
        Verdict::Expired => return Err(EmailError::Expired),
        Verdict::AlreadyUsed => return Err(EmailError::NoCode),
        Verdict::Locked if after.attempts == row.code.attempts => return Err(EmailError::Locked),
        _ => {}
    }
    let audit = (verdict == Verdict::Verified && purpose == CodePurpose::VerifyEmail).then(|| {
        caller
            .system()
            .audit_untied("email.verified", "user", user.to_string())
    });
    let recorded = store
        .record_code_attempt(row.id, row.code.attempts, &after, audit.as_ref())
        .await?;
    if !recorded {
        // Another attempt counted (or a new code came) in between: this one is not judged.
        return Err(EmailError::Service(ServiceError::Conflict {
            code: "code_changed",
            message: "the code changed meanwhile; try again",
        }));
    }
    match verdict {
        Verdict::Verified => Ok(()),
        Verdict::Wrong { attempts_left } => Err(EmailError::WrongCode { attempts_left }),
        _ => Err(EmailError::Locked),
    }
}

/// `GET /me/email-preferences`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct EmailSettings {
    pub alerts: bool,
    pub product_updates: bool,
    /// The account's address was proven with a code: sensitive mail can reach it.
    pub email_verified: bool,
}

pub async fn settings(caller: &Caller<'_>) -> Result<EmailSettings, ServiceError> {
    let user = caller.user();
    let preferences = caller.stores().email_preferences(user).await?;
    let address = caller
        .principal()
        .email
        .as_deref()
        .and_then(|e| EmailAddress::parse(e).ok());
    let verified = match address {
        Some(a) => caller
            .stores()
            .verified_emails(user)
            .await?
            .contains(&a.normalized()),
        None => false,
    };
    Ok(EmailSettings {
        alerts: preferences.alerts,
        product_updates: preferences.product_updates,
        email_verified: verified,
    })
}

/// `PATCH /me/email-preferences`: the optional categories only (the others cannot be left).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesPatch {
    pub alerts: Option<bool>,
    pub product_updates: Option<bool>,
}

pub async fn set_preferences(
    caller: &Caller<'_>,
    patch: PreferencesPatch,
) -> Result<EmailSettings, ServiceError> {
    if patch.alerts.is_none() && patch.product_updates.is_none() {
        return Err(ServiceError::invalid(
            "alerts",
            "or product_updates must be given",
        ));
    }
    caller
        .system()
        .stores()
        .set_email_preferences(caller.user(), patch.alerts, patch.product_updates)
        .await?;
    settings(caller).await
}

/// Why an unsubscribe link was refused.
#[derive(Debug, thiserror::Error)]
pub enum UnsubscribeRefused {
    #[error("email is not configured on this deployment")]
    Off,
    #[error("the unsubscribe link is invalid")]
    BadLink,
    #[error("the request is not an RFC 8058 one-click unsubscribe")]
    NotOneClick,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Reads a link's token (the `GET` confirmation page changes nothing).
pub fn unsubscribe_category(deps: &Deps<'_>, token: &str) -> Result<Category, UnsubscribeRefused> {
    let config = deps.config.email.as_ref().ok_or(UnsubscribeRefused::Off)?;
    config
        .unsubscribe
        .verify(token)
        .map(|claim| claim.category)
        .map_err(|_| UnsubscribeRefused::BadLink)
}

/// The one-click `POST`: turns the link's category off for its user.
pub async fn unsubscribe(
    deps: &Deps<'_>,
    meta: &RequestMeta,
    token: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Category, UnsubscribeRefused> {
    let config = deps.config.email.as_ref().ok_or(UnsubscribeRefused::Off)?;
    let claim = config
        .unsubscribe
        .verify(token)
        .map_err(|_| UnsubscribeRefused::BadLink)?;
    if !unsubscribe::is_one_click(content_type, body) {
        return Err(UnsubscribeRefused::NotOneClick);
    }
    let (alerts, product_updates) = match claim.category {
        Category::Alerts => (Some(false), None),
        Category::ProductUpdates => (None, Some(false)),
        Category::Security | Category::Billing => return Err(UnsubscribeRefused::BadLink),
    };
    let sys = Privileged::new(deps, Actor::Anonymous, meta.clone());
    sys.stores()
        .set_email_preferences(claim.user, alerts, product_updates)
        .await
        .map_err(ServiceError::from)?;
    Ok(claim.category)
}

/// Why a SendGrid event post was not applied.
#[derive(Debug, thiserror::Error)]
pub enum WebhookRefused {
    #[error("email is off")]
    Disabled,
    /// Not SendGrid's, or not readable: 400, reason for the log.
    #[error("{0}")]
    Refused(String),
    /// The database could not take it now: 5xx, so SendGrid posts it again.
    #[error("{0}")]
    Retry(String),
}

/// `POST /api/webhooks/sendgrid`: verified over the raw body before anything parses it; each
/// actionable event applied once per `sg_event_id`.
pub async fn sendgrid_webhook(
    deps: &Deps<'_>,
    meta: &RequestMeta,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
) -> Result<EventsApplied, WebhookRefused> {
    let config = deps.config.email.as_ref().ok_or(WebhookRefused::Disabled)?;
    config
        .webhook
        .verify(body, signature, timestamp)
        .map_err(|e| WebhookRefused::Refused(e.to_string()))?;
    let events = DeliveryEvent::parse_batch(body)
        .map_err(|_| WebhookRefused::Refused("the events are not a JSON array of events".into()))?;
    let writes: Vec<EventWrite> = events
        .iter()
        .filter_map(|event| {
            let effect = match event.action() {
                EventAction::Suppress { address, reason } => EventEffect::Suppress {
                    email_normalized: address.normalized(),
                    reason,
                },
                EventAction::Processed { outbox_id } => EventEffect::Processed {
                    outbox: OutboxId::parse(&outbox_id).ok()?,
                    message_id: event.sg_message_id.clone(),
                },
                EventAction::OptOut { address } => EventEffect::OptOut {
                    email_normalized: address.normalized(),
                },
                EventAction::Nothing => return None,
            };
            Some(EventWrite {
                sg_event_id: event.sg_event_id.clone(),
                effect,
            })
        })
        .collect();
    if writes.is_empty() {
        return Ok(EventsApplied::default());
    }
    let sys = Privileged::new(deps, Actor::System("sendgrid-webhook"), meta.clone());
    sys.stores()
        .apply_sendgrid_events(&writes)
        .await
        .map_err(|e| WebhookRefused::Retry(e.to_string()))
}

/// Queues `notification` for the members of `team` in `audience`, once per `key` and member
/// (the key names the event: `drift:<alert id>`, `restore:<restore id>`). With email off nothing
/// is queued. Returns the new rows; the caller kicks the delivery job (`jobs::outbox::kick`).
pub async fn notify_team(
    sys: &Privileged<'_>,
    team: TeamId,
    audience: Audience,
    key: &str,
    notification: &Notification,
) -> Result<Vec<OutboxId>, ServiceError> {
    if sys.deps.config.email.is_none() {
        return Ok(Vec::new());
    }
    let payload = json!(notification);
    Ok(sys
        .stores()
        .enqueue_team_notification(team, audience, key, notification.category(), &payload)
        .await?)
}

/// Queues `notification` for one user (at their account's address), once per `key`.
pub async fn notify_user(
    sys: &Privileged<'_>,
    team: Option<TeamId>,
    user: UserId,
    key: &str,
    notification: &Notification,
) -> Result<Option<OutboxId>, ServiceError> {
    if sys.deps.config.email.is_none() {
        return Ok(None);
    }
    let payload = json!(notification);
    Ok(sys
        .stores()
        .enqueue_notification(key, team, user, notification.category(), &payload)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::event_webhook::tests::keypair;
    use crate::email::event_webhook::SuppressionReason;
    use crate::testing::world::World;
    use base64::Engine as _;
    use futures::executor::block_on;
    use p256::ecdsa::signature::Signer;

    /// The code in the last verification email.
    fn mailed_code(world: &World) -> String {
        let mail = world.mail_sent().pop().expect("a code was mailed");
        let subject = mail["subject"].as_str().unwrap();
        subject.rsplit(' ').next().unwrap().to_string()
    }

    #[test]
    fn a_mailed_code_verifies_the_address_once_and_wrong_or_late_codes_do_not() {
        let world = World::with_email();
        let user = world.user();
        let caller = world.caller(user);
        assert!(!block_on(settings(&caller)).unwrap().email_verified);
        block_on(request_code(&caller, CodePurpose::VerifyEmail)).unwrap();
        let code = mailed_code(&world);
        assert_eq!(code.len(), 6);
        let mail = world.mail_sent().pop().unwrap();
        assert_eq!(
            mail["personalizations"][0]["to"][0]["email"],
            format!("{user}@test.local")
        );
        assert!(
            mail["headers"].is_null(),
            "a code is transactional: no unsubscribe link"
        );
        // A second request within the minute is refused.
        assert!(matches!(
            block_on(request_code(&caller, CodePurpose::VerifyEmail)),
            Err(EmailError::RateLimited {
                retry_after_secs: 60
            })
        ));
        let wrong = if code == "000000" { "000001" } else { "000000" };
        assert!(matches!(
            block_on(confirm_code(&caller, CodePurpose::VerifyEmail, wrong)),
            Err(EmailError::WrongCode { attempts_left: 4 })
        ));
        block_on(confirm_code(&caller, CodePurpose::VerifyEmail, &code)).unwrap();
        assert!(block_on(settings(&caller)).unwrap().email_verified);
        assert_eq!(world.db.actions(), ["email.verified"]);
        // Used: the same code again finds nothing pending.
        assert!(matches!(
            block_on(confirm_code(&caller, CodePurpose::VerifyEmail, &code)),
            Err(EmailError::NoCode)
        ));

        // A code ten minutes old is expired and verifies nothing.
        let other = world.user();
        let other_caller = world.caller(other);
        block_on(request_code(&other_caller, CodePurpose::VerifyEmail)).unwrap();
        let late = mailed_code(&world);
        world.advance(Duration::minutes(10));
        assert!(matches!(
            block_on(confirm_code(&other_caller, CodePurpose::VerifyEmail, &late)),
            Err(EmailError::Expired)
        ));
        assert!(!block_on(settings(&other_caller)).unwrap().email_verified);
    }

    #[test]
    fn five_wrong_codes_lock_it_and_an_unsent_code_is_withdrawn() {
        let world = World::with_email();
        let user = world.user();
        let caller = world.caller(user);
        world.mail_faults.borrow_mut().push(503);
        assert!(matches!(
            block_on(request_code(&caller, CodePurpose::VerifyEmail)),
            Err(EmailError::Undeliverable(MailError::Unavailable {
                status: 503
            }))
        ));
        assert!(matches!(
            block_on(confirm_code(&caller, CodePurpose::VerifyEmail, "123456")),
            Err(EmailError::NoCode)
        ));
        world.advance(Duration::minutes(1));
        block_on(request_code(&caller, CodePurpose::VerifyEmail)).unwrap();
        let code = mailed_code(&world);
        let wrong = if code == "999999" { "999998" } else { "999999" };
        for left in (1..5).rev() {
            assert!(matches!(
                block_on(confirm_code(&caller, CodePurpose::VerifyEmail, wrong)),
                Err(EmailError::WrongCode { attempts_left }) if attempts_left == left
            ));
        }
        assert!(matches!(
            block_on(confirm_code(&caller, CodePurpose::VerifyEmail, wrong)),
            Err(EmailError::Locked)
        ));
        assert!(matches!(
            block_on(confirm_code(&caller, CodePurpose::VerifyEmail, &code)),
            Err(EmailError::Locked)
        ));
        assert!(!block_on(settings(&caller)).unwrap().email_verified);
        // Without a configured mailer nothing is sent and the route says why.
        let off = World::new();
        let u = off.user();
        assert!(matches!(
            block_on(request_code(&off.caller(u), CodePurpose::VerifyEmail)),
            Err(EmailError::Off)
        ));
    }

    #[test]
    fn the_one_click_link_turns_its_category_off_and_nothing_else() {
        let world = World::with_email();
        let user = world.user();
        let caller = world.caller(user);
        let patch = PreferencesPatch {
            alerts: None,
            product_updates: Some(true),
        };
        let now = block_on(set_preferences(&caller, patch)).unwrap();
        assert_eq!((now.alerts, now.product_updates), (true, true));
        let signer = &world.deps.config.email.as_ref().unwrap().unsubscribe;
        let token = signer.token(user, Category::ProductUpdates, 1).unwrap();
        // The page changes nothing; a POST without the one-click body neither.
        assert_eq!(
            unsubscribe_category(world.deps, &token).unwrap(),
            Category::ProductUpdates
        );
        let meta = RequestMeta::internal("req_u".into());
        assert!(matches!(
            block_on(unsubscribe(world.deps, &meta, &token, None, b"")),
            Err(UnsubscribeRefused::NotOneClick)
        ));
        assert!(block_on(settings(&caller)).unwrap().product_updates);
        let forged = token.replace("v1.u1.", "v1.u1.x");
        assert!(matches!(
            block_on(unsubscribe(
                world.deps,
                &meta,
                &forged,
                None,
                b"List-Unsubscribe=One-Click"
            )),
            Err(UnsubscribeRefused::BadLink)
        ));
        let form = Some("application/x-www-form-urlencoded");
        let left = block_on(unsubscribe(
            world.deps,
            &meta,
            &token,
            form,
            b"List-Unsubscribe=One-Click",
        ))
        .unwrap();
        assert_eq!(left, Category::ProductUpdates);
        let after = block_on(settings(&caller)).unwrap();
        assert_eq!((after.alerts, after.product_updates), (true, false));
        assert!(block_on(set_preferences(
            &caller,
            PreferencesPatch {
                alerts: None,
                product_updates: None
            }
        ))
        .is_err());
    }

    fn signed(body: &str) -> (String, String) {
        let (key, _) = keypair(5);
        let ts = "1700000000".to_string();
        let sig: p256::ecdsa::Signature = key.sign(format!("{ts}{body}").as_bytes());
        (
            base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes()),
            ts,
        )
    }

    #[test]
    fn signed_events_suppress_settle_and_apply_once_and_forgeries_change_nothing() {
        let world = World::with_email();
        let meta = RequestMeta::internal("req_w".into());
        let user = world.user();
        let team = world.team_of(user);
        let sys = world.system("t");
        let note = Notification::DeletionCompleted {
            requested_at: "2026-03-01T12:00:00Z".into(),
        };
        let id = block_on(notify_user(&sys, Some(team), user, "del:1", &note))
            .unwrap()
            .unwrap();
        block_on(sys.stores().claim_outbox(10, 120, 600)).unwrap();
        let body = format!(
            "[{{\"email\":\"Bounced@Example.com\",\"event\":\"bounce\",\"type\":\"bounce\",\"sg_event_id\":\"e1\"}},\
              {{\"email\":\"x@example.com\",\"event\":\"processed\",\"sg_event_id\":\"e2\",\"sg_message_id\":\"m.1\",\"outbox_id\":\"{id}\"}},\
              {{\"email\":\"x@example.com\",\"event\":\"open\",\"sg_event_id\":\"e3\"}}]\r\n"
        );
        let (sig, ts) = signed(&body);
        let forged = block_on(sendgrid_webhook(
            world.deps,
            &meta,
            Some(&sig),
            Some("1700000001"),
            body.as_bytes(),
        ));
        assert!(matches!(forged, Err(WebhookRefused::Refused(_))));
        assert!(world.db.suppression("bounced@example.com").is_none());
        let applied = block_on(sendgrid_webhook(
            world.deps,
            &meta,
            Some(&sig),
            Some(&ts),
            body.as_bytes(),
        ))
        .unwrap();
        assert_eq!(
            applied,
            EventsApplied {
                duplicates: 0,
                suppressed: 1,
                settled: 1,
                opted_out: 0
            }
        );
        assert_eq!(
            world.db.suppression("bounced@example.com"),
            Some(SuppressionReason::Bounce)
        );
        let row = world.db.outbox().into_iter().find(|o| o.id == id).unwrap();
        assert_eq!(row.status, crate::email::outbox::OutboxStatus::Sent);
        // SendGrid posts it again: nothing changes.
        let again = block_on(sendgrid_webhook(
            world.deps,
            &meta,
            Some(&sig),
            Some(&ts),
            body.as_bytes(),
        ))
        .unwrap();
        assert_eq!(again.duplicates, 2);
        assert_eq!((again.suppressed, again.settled), (0, 0));
        let unreadable = "{\"not\":\"a list\"}";
        let (sig, ts) = signed(unreadable);
        assert!(matches!(
            block_on(sendgrid_webhook(
                world.deps,
                &meta,
                Some(&sig),
                Some(&ts),
                unreadable.as_bytes()
            )),
            Err(WebhookRefused::Refused(_))
        ));
    }
}
