//! Outbox delivery: claims due notifications (`outbox_claim`, each under its own lease), decides
//! per recipient (preferences, suppression, a verified address for sensitive mail), renders,
//! sends through SendGrid and settles each row under its lease with the policy of
//! `email::outbox` (backoff, attempt limit, terminal rows erased). The cron (`OUTBOX_CRON`,
//! every two minutes) queues one job; whoever enqueues a notification may [`kick`] it at once.
//! A full batch sends the job on until nothing is due.
//!
//! Crash safety comes from the lease: a worker killed between SendGrid's acceptance and the
//! settle leaves the row `sending`; SendGrid's `processed` event settles it, and only without
//! one is it claimed again after the lease and the reconciliation wait (`email::outbox`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FanOut, Job, Next, Ran};
use crate::email::address::EmailAddress;
use crate::email::config::EmailConfig;
use crate::email::messages::Notification;
use crate::email::outbox::{self, Attempt, OutboxStatus, Settlement, LEASE, RECONCILE_WAIT};
use crate::email::preferences::{decide, Recipient};
use crate::email::sendgrid::{Mailer, Outgoing};
use crate::email::unsubscribe;
use crate::services::audit::{Actor, RequestMeta};
use crate::services::{Deps, Privileged, ServiceError};
use crate::store::{ClaimedRow, RecipientState};

/// Rows claimed per invocation: one SendGrid call and one settle each, well inside a
/// consumer's subrequest budget and the two-minute lease.
pub const BATCH: u32 = 10;
/// Retry delay after the database failed.
const RETRY_SECONDS: u32 = 60;
const JOB: Actor = Actor::System("outbox");

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxJob {
    pub meta: RequestMeta,
}

/// The cron: one delivery job (it finds out itself whether anything is due).
pub async fn fan_out(sys: &Privileged<'_>) -> Result<FanOut, ServiceError> {
    Ok(FanOut {
        jobs: vec![Job::Outbox(OutboxJob {
            meta: sys.meta().clone(),
        })],
        ..FanOut::default()
    })
}

/// Queues a delivery job now, after notifications were enqueued. Best effort: if the queue
/// refuses, the cron delivers them within two minutes, so the error is only reported.
pub async fn kick(deps: &Deps<'_>, meta: &RequestMeta) -> Result<(), crate::ports::QueueError> {
    super::send(deps, &Job::Outbox(OutboxJob { meta: meta.clone() })).await
}

pub async fn run(deps: &Deps<'_>, job: &OutboxJob) -> Ran {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    match deliver_batch(&sys).await {
        Ok(report) => Ran {
            next: if report.claimed >= BATCH {
                Next::Resend(0)
            } else {
                Next::Ack
            },
            log: json!({ "outbox": report }),
        },
        Err(e) => Ran {
            next: Next::RetryAfter(RETRY_SECONDS),
            log: json!({"level": "warn", "error": e.to_string()}),
        },
    }
}

/// What one batch did (counts and stable codes only: no address, no content).
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub claimed: u32,
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
    pub skipped: u32,
    /// Settles refused because a successor holds the row (it decides the outcome).
    pub lease_lost: u32,
    /// Rows left unsent because their lease ran out first (claimed again later).
    pub lease_expired: u32,
    /// The outcome codes of failures and skips, for the log.
    pub reasons: Vec<&'static str>,
}

/// Claims up to [`BATCH`] due rows and delivers each.
pub async fn deliver_batch(sys: &Privileged<'_>) -> Result<Report, ServiceError> {
    let deps = sys.deps;
    let store = sys.stores();
    let rows = store
        .claim_outbox(
            BATCH,
            LEASE.num_seconds() as u32,
            RECONCILE_WAIT.num_seconds() as u32,
        )
        .await?;
    let mut report = Report {
        claimed: rows.len() as u32,
        ..Report::default()
    };
    if rows.is_empty() {
        return Ok(report);
    }
    let states = match &deps.config.email {
        Some(_) => {
            let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
            store.recipient_states(&ids).await?
        }
        None => Vec::new(),
    };
    for row in &rows {
        let now = deps.clock.now();
        if now >= row.lease_until {
            report.lease_expired += 1;
            continue;
        }
        let settlement = match &deps.config.email {
            // Email off: nothing will ever send it, so no address waits for a mailer.
            None => local(OutboxStatus::Skipped, "email_off"),
            Some(config) => {
                let state = states.iter().find(|s| s.id == row.id);
                match attempt(deps, config, row, state).await {
                    Ok(attempt) => outbox::settle(attempt, row.attempts, now, deps.rng),
                    Err(code) => local(OutboxStatus::Failed, code),
                }
            }
        };
        match store
            .settle_outbox(row.id, &row.lease_token, &settlement)
            .await
        {
            Ok(true) => report.count(&settlement),
            Ok(false) => report.lease_lost += 1,
            // The row stays `sending`: SendGrid's event or the reclaim settles it.
            Err(e) => return Err(e.into()),
        }
    }
    Ok(report)
}

impl Report {
    fn count(&mut self, s: &Settlement) {
        match s.status {
            OutboxStatus::Sent => self.sent += 1,
            OutboxStatus::Pending => self.retried += 1,
            OutboxStatus::Failed => self.failed += 1,
            OutboxStatus::Skipped => self.skipped += 1,
            OutboxStatus::Sending => {}
        }
        if s.status != OutboxStatus::Sent {
            self.reasons.extend(s.last_error);
        }
    }
}

/// A terminal outcome decided here, not by SendGrid.
fn local(status: OutboxStatus, code: &'static str) -> Settlement {
    Settlement {
        status,
        next_attempt_at: None,
        last_error: Some(code),
        provider_message_id: None,
    }
}

/// One attempt at one row. `Err` is a permanent local failure (its code): the row can never be
/// sent as stored.
async fn attempt(
    deps: &Deps<'_>,
    config: &EmailConfig,
    row: &ClaimedRow,
    state: Option<&RecipientState>,
) -> Result<Attempt, &'static str> {
    let notification: Notification =
        serde_json::from_value(row.payload.clone()).map_err(|_| "unreadable_payload")?;
    let address = EmailAddress::parse(&row.recipient).map_err(|_| "invalid_address")?;
    let recipient = Recipient {
        preferences: state.map(|s| s.preferences).unwrap_or_default(),
        suppressed: state.and_then(|s| s.suppressed),
        verified: state.is_some_and(|s| s.verified),
    };
    let category = notification.category();
    if let Err(skip) = decide(category, notification.sensitive(), false, &recipient) {
        return Ok(Attempt::Skipped(skip));
    }
    // Optional mail carries the signed one-click link (RFC 8058) in the body and headers.
    let link = if category.optional() {
        let user = row.user.ok_or("no_unsubscribe_link")?;
        let token = config
            .unsubscribe
            .token(user, category, deps.clock.now().timestamp())
            .map_err(|_| "no_unsubscribe_link")?;
        Some(unsubscribe::link(&deps.config.public_base_url, &token))
    } else {
        None
    };
    let content = notification.render(link.as_deref());
    let outbox_id = row.id.to_string();
    let mailer = Mailer::new(deps.http, &config.api_base, &config.api_key, &config.sender);
    let sent = mailer
        .send(&Outgoing {
            to: &address,
            content: &content,
            category: category.as_str(),
            headers: link
                .as_deref()
                .map(unsubscribe::headers)
                .unwrap_or_default(),
            outbox_id: Some(&outbox_id),
        })
        .await;
    Ok(match sent {
        Ok(accepted) => Attempt::Sent {
            message_id: accepted.message_id,
        },
        Err(e) => Attempt::Failed(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::Role;
    use crate::email::event_webhook::SuppressionReason;
    use crate::ids::{TeamId, UserId};
    use crate::jobs::scheduled;
    use crate::services::email::notify_team;
    use crate::store::{Audience, EventEffect, EventWrite};
    use crate::testing::world::{OktaMode, World};
    use chrono::Duration;
    use futures::executor::block_on;
    use serde_json::Value;

    fn alert() -> Notification {
        Notification::DriftAlert {
            org_domain: "acme.okta.com".into(),
            changes: 3,
            high_severity: 1,
            report_url: "https://butterfly.test/drift/1".into(),
        }
    }

    /// A team whose owner proved their address, and an admin who did not.
    fn team(world: &World) -> (TeamId, UserId, UserId) {
        let owner = world.user();
        let team = world.team_of(owner);
        let admin = world.member(team, Role::Admin);
        world.db.verify_email(owner, &format!("{owner}@test.local"));
        (team, owner, admin)
    }

    fn notify(world: &World, team: TeamId, key: &str, n: &Notification) -> usize {
        block_on(notify_team(
            &world.system("test"),
            team,
            Audience::Admins,
            key,
            n,
        ))
        .unwrap()
        .len()
    }

    /// The outbox cron, then every message it sends on.
    fn cron(world: &World) -> Value {
        let log = block_on(scheduled(world.deps, &world.deps.config.outbox_cron));
        assert_eq!(log["event"], "scheduled.outbox", "{log}");
        world.drain_queue();
        log
    }

    fn status(world: &World, user: UserId) -> (OutboxStatus, Option<String>) {
        let row = world
            .db
            .outbox()
            .into_iter()
            .find(|o| o.user == Some(user))
            .expect("row");
        (row.status, row.last_error)
    }

    #[test]
    fn an_alert_goes_once_to_verified_admins_with_its_one_click_link() {
        let world = World::with_email();
        let (team, owner, admin) = team(&world);
        assert_eq!(notify(&world, team, "drift:1", &alert()), 2);
        // The same event raised again (a retried job) queues nothing new.
        assert_eq!(notify(&world, team, "drift:1", &alert()), 0);
        cron(&world);
        let sent = world.mail_sent();
        assert_eq!(sent.len(), 1, "only the verified owner gets tenant details");
        let mail = &sent[0];
        assert_eq!(
            mail["personalizations"][0]["to"][0]["email"],
            format!("{owner}@test.local")
        );
        let row = world
            .db
            .outbox()
            .into_iter()
            .find(|o| o.user == Some(owner))
            .unwrap();
        assert_eq!(
            mail["personalizations"][0]["custom_args"]["outbox_id"],
            row.id.to_string()
        );
        let link = mail["headers"]["List-Unsubscribe"].as_str().unwrap();
        assert!(
            link.starts_with("<https://butterfly.test/api/v1/email/unsubscribe?token=v1.u1."),
            "{link}"
        );
        assert_eq!(
            mail["headers"]["List-Unsubscribe-Post"],
            "List-Unsubscribe=One-Click"
        );
        assert!(mail["content"][0]["value"]
            .as_str()
            .unwrap()
            .contains("Unsubscribe from these emails"));
        assert_eq!(mail["categories"], json!(["alerts"]));
        // Settled: sent, with nothing of the address or the content left behind.
        assert_eq!(
            (row.status, row.recipient, row.payload),
            (OutboxStatus::Sent, None, None)
        );
        assert_eq!(row.provider_message_id.as_deref(), Some("msg-0"));
        assert_eq!(
            status(&world, admin),
            (OutboxStatus::Skipped, Some("unverified".into()))
        );
        // Running again sends nothing more.
        cron(&world);
        assert_eq!(world.mail_sent().len(), 1);
    }

    #[test]
    fn preferences_and_suppressions_are_honoured_and_transactional_mail_has_no_link() {
        let world = World::with_email();
        let (team, owner, _) = team(&world);
        let sys = world.system("test");
        block_on(sys.stores().set_email_preferences(owner, Some(false), None)).unwrap();
        notify(&world, team, "drift:2", &alert());
        // Product news: nobody opted in, so it is skipped even when queued.
        let news = Notification::ProductUpdate {
            subject: "New".into(),
            text: "Hello".into(),
        };
        block_on(crate::services::email::notify_user(
            &sys,
            None,
            owner,
            "product:x",
            &news,
        ))
        .unwrap();
        // Billing mail ignores the alert preference and carries no unsubscribe link.
        let billing = Notification::PaymentFailed {
            grace_until: "2026-03-15".into(),
            portal_url: "https://b/p".into(),
        };
        block_on(crate::services::email::notify_user(
            &sys,
            Some(team),
            owner,
            "pay:1",
            &billing,
        ))
        .unwrap();
        cron(&world);
        let sent = world.mail_sent();
        assert_eq!(sent.len(), 1);
        assert!(sent[0]["headers"].is_null(), "{}", sent[0]);
        assert_eq!(sent[0]["categories"], json!(["billing"]));
        let reasons: Vec<_> = world
            .db
            .outbox()
            .into_iter()
            .filter_map(|o| o.last_error)
            .collect();
        assert_eq!(reasons, ["opted_out", "unverified", "opted_out"]);

        // Opted in, product news goes; a suppressed address then gets nothing but codes.
        block_on(
            sys.stores()
                .set_email_preferences(owner, Some(true), Some(true)),
        )
        .unwrap();
        block_on(crate::services::email::notify_user(
            &sys,
            None,
            owner,
            "product:y",
            &news,
        ))
        .unwrap();
        cron(&world);
        assert_eq!(world.mail_sent().len(), 2);
        block_on(sys.stores().apply_sendgrid_events(&[EventWrite {
            sg_event_id: Some("ev-1".into()),
            effect: EventEffect::Suppress {
                email_normalized: format!("{owner}@test.local"),
                reason: SuppressionReason::Bounce,
            },
        }]))
        .unwrap();
        notify(&world, team, "drift:3", &alert());
        cron(&world);
        assert_eq!(world.mail_sent().len(), 2);
        let last = world
            .db
            .outbox()
            .into_iter()
            .find(|o| o.key.starts_with("drift:3"))
            .unwrap();
        assert_eq!(last.last_error.as_deref(), Some("suppressed"));
    }

    #[test]
    fn retryable_failures_back_off_and_permanent_ones_end_the_row() {
        let world = World::with_email();
        let (team, owner, _) = team(&world);
        world.mail_faults.borrow_mut().push(503);
        notify(&world, team, "drift:4", &alert());
        cron(&world);
        let row = world
            .db
            .outbox()
            .into_iter()
            .find(|o| o.user == Some(owner))
            .unwrap();
        assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 1));
        assert_eq!(row.last_error.as_deref(), Some("unavailable"));
        let wait = row.next_attempt_at - world.deps.clock.now();
        assert!(
            (Duration::seconds(15)..=Duration::seconds(30)).contains(&wait),
            "{wait}"
        );
        // Not due yet: nothing is sent; once due, the second attempt goes through.
        cron(&world);
        assert_eq!(world.mail_sent().len(), 1);
        world.advance(Duration::seconds(31));
        cron(&world);
        assert_eq!(world.mail_sent().len(), 2);
        assert_eq!(status(&world, owner).0, OutboxStatus::Sent);

        // A 400 is final: the row fails at once and keeps nothing.
        world.mail_faults.borrow_mut().push(400);
        notify(&world, team, "drift:5", &alert());
        cron(&world);
        let failed = world
            .db
            .outbox()
            .into_iter()
            .find(|o| o.key.starts_with("drift:5") && o.user == Some(owner))
            .unwrap();
        assert_eq!(
            (failed.status, failed.last_error.as_deref()),
            (OutboxStatus::Failed, Some("rejected"))
        );
        assert!(failed.recipient.is_none() && failed.payload.is_none());

        // A payload no notification reads fails without a send.
        block_on(world.system("t").stores().enqueue_notification(
            "odd:1",
            None,
            owner,
            crate::email::preferences::Category::Alerts,
            &json!({"kind": "nope"}),
        ))
        .unwrap();
        let before = world.mail_sent().len();
        cron(&world);
        assert_eq!(world.mail_sent().len(), before);
        let odd = world
            .db
            .outbox()
            .into_iter()
            .find(|o| o.key == "odd:1")
            .unwrap();
        assert_eq!(odd.last_error.as_deref(), Some("unreadable_payload"));
    }

    #[test]
    fn a_worker_that_died_after_sending_is_settled_by_the_processed_event_or_resent_later() {
        let world = World::with_email();
        let (team, owner, _) = team(&world);
        let other = world.user();
        let other_team = world.team_of(other);
        world.db.verify_email(other, &format!("{other}@test.local"));
        notify(&world, team, "drift:6", &alert());
        notify(&world, other_team, "drift:7", &alert());
        // A worker claims both, sends, and dies before settling.
        let sys = world.system("t");
        let claimed = block_on(sys.stores().claim_outbox(10, 120, 600)).unwrap();
        assert_eq!(claimed.len(), 3);
        // Held rows are not claimed again within lease + reconciliation wait.
        cron(&world);
        assert!(world.mail_sent().is_empty());
        // SendGrid's `processed` event for the first settles it as sent.
        let first = claimed.iter().find(|r| r.user == Some(owner)).unwrap();
        block_on(sys.stores().apply_sendgrid_events(&[EventWrite {
            sg_event_id: Some("ev-p".into()),
            effect: EventEffect::Processed {
                outbox: first.id,
                message_id: Some("sg-1".into()),
            },
        }]))
        .unwrap();
        assert_eq!(status(&world, owner).0, OutboxStatus::Sent);
        // The dead worker's late settle of it changes nothing.
        let late = outbox::settle(
            Attempt::Sent { message_id: None },
            1,
            world.deps.clock.now(),
            world.deps.rng,
        );
        assert!(!block_on(
            sys.stores()
                .settle_outbox(first.id, &first.lease_token, &late)
        )
        .unwrap());
        // The other, with no event, is sent again once the wait is over, and only then.
        world.advance(Duration::minutes(11));
        cron(&world);
        assert!(world.mail_sent().is_empty());
        world.advance(Duration::minutes(2));
        cron(&world);
        let sent = world.mail_sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0]["personalizations"][0]["to"][0]["email"],
            format!("{other}@test.local")
        );
        let row = world
            .db
            .outbox()
            .into_iter()
            .find(|o| o.user == Some(other))
            .unwrap();
        assert_eq!((row.status, row.attempts), (OutboxStatus::Sent, 2));
    }

    #[test]
    fn a_failed_backup_alerts_the_owners_and_admins_once() {
        let world = World::with_email();
        let (team, owner, admin) = team(&world);
        world.db.verify_email(admin, &format!("{admin}@test.local"));
        let viewer = world.member(team, Role::Viewer);
        world
            .db
            .verify_email(viewer, &format!("{viewer}@test.local"));
        let connection = world.connect(owner);
        block_on(crate::jobs::backup::request(
            &world.caller(owner),
            connection,
        ))
        .unwrap();
        world.okta.set(OktaMode::Revoked);
        let message = world.queue.sent.borrow()[0].0.clone();
        world.drain_queue();
        assert_eq!(
            world.db.backups()[0].status,
            crate::store::BackupStatus::Failed
        );
        // The job's message delivered again (a redelivery) fails nothing new.
        block_on(crate::jobs::deliver(world.deps, message));
        world.drain_queue();
        cron(&world);
        let sent = world.mail_sent();
        let mut to: Vec<String> = sent
            .iter()
            .map(|m| {
                m["personalizations"][0]["to"][0]["email"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        to.sort();
        let mut expected = vec![format!("{owner}@test.local"), format!("{admin}@test.local")];
        expected.sort();
        assert_eq!(
            to, expected,
            "owners and admins, once each; never the viewer"
        );
        assert!(sent[0]["subject"]
            .as_str()
            .unwrap()
            .contains("Backup of acme.okta.com failed"));
    }

    #[test]
    fn with_email_off_due_rows_are_skipped_and_erased() {
        let world = World::new();
        let (team, owner, _) = team(&world);
        block_on(world.system("t").stores().enqueue_team_notification(
            team,
            Audience::Admins,
            "k",
            crate::email::preferences::Category::Alerts,
            &json!(alert()),
        ))
        .unwrap();
        cron(&world);
        let row = world
            .db
            .outbox()
            .into_iter()
            .find(|o| o.user == Some(owner))
            .unwrap();
        assert_eq!(
            (row.status, row.last_error.as_deref()),
            (OutboxStatus::Skipped, Some("email_off"))
        );
        assert!(row.recipient.is_none());
        assert!(world
            .http
            .requests
            .borrow()
            .iter()
            .all(|r| !r.url.contains("sendgrid")));
    }
}
