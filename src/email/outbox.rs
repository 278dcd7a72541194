//! The notifications outbox: how a notification is delivered once, with retries and backoff.
//!
//! Storage is `notification_outbox` (migration `0009_lifecycle.sql`); this module is the
//! policy the delivery job applies to a claimed row. The design, end to end:
//!
//! 1. **Enqueue exactly once.** Whatever raises a notification inserts a row with a
//!    deterministic `idempotency_key` (`drift:<alert id>:<user id>`, ...), unique in the table:
//!    a retried job or a replayed webhook inserts nothing new (`on conflict do nothing`).
//! 2. **Claim with a lease.** The delivery job calls `outbox_claim(n, lease)`, which takes due
//!    rows with `for update skip locked`, sets `status = sending`, a fresh `lease_token`,
//!    `attempts + 1`, and pushes `next_attempt_at` past the lease *and* the reconciliation wait
//!    ([`reclaim_after`]). Two workers can never hold one row at once.
//! 3. **Send, then settle under the lease.** `outbox_settle(id, token, ...)` records the outcome
//!    only if the token still matches; a worker whose lease was taken over cannot overwrite its
//!    successor's result. A terminal row has its recipient and payload erased.
//! 4. **The crash window.** SendGrid has no idempotency key, so one window remains: SendGrid
//!    accepted the message and the worker died before settling. The row is then `sending`
//!    with an expired lease. It is not resent at once: the `outbox_id` custom argument comes
//!    back in SendGrid's `processed` event, which settles the row as sent; only a row that
//!    has seen no such event [`RECONCILE_WAIT`] after its lease expired is sent again. A
//!    duplicate therefore needs SendGrid to accept, the worker to die in the same instant,
//!    *and* the event webhook to stay silent for ten minutes; that is the residual risk,
//!    and it errs on the side of delivering twice rather than never.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::preferences::Skip;
use super::sendgrid::MailError;
use crate::ports::Rng;

/// Attempts before a row is given up (`failed`).
pub const MAX_ATTEMPTS: u32 = 8;
/// How long a claim lasts; one send takes well under a second.
pub const LEASE: Duration = Duration::minutes(2);
/// How long after an expired lease a `processed` event is waited for before sending again.
pub const RECONCILE_WAIT: Duration = Duration::minutes(10);
const BASE_DELAY_SECS: i64 = 30;
const MAX_DELAY_SECS: i64 = 6 * 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    Pending,
    Sending,
    Sent,
    /// Gave up after [`MAX_ATTEMPTS`] or a permanent error.
    Failed,
    /// Not sent on purpose (opted out, suppressed, unverified address).
    Skipped,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Skipped => "skipped",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OutboxStatus::Sent | OutboxStatus::Failed | OutboxStatus::Skipped
        )
    }
}

/// When a claimed row may be claimed again if its worker never settles it.
pub fn reclaim_after(claimed_at: DateTime<Utc>) -> DateTime<Utc> {
    claimed_at + LEASE + RECONCILE_WAIT
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Sent { message_id: Option<String> },
    Failed(MailError),
    Skipped(Skip),
}

/// What `outbox_settle` must write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub status: OutboxStatus,
    /// For a retry.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<&'static str>,
    pub provider_message_id: Option<String>,
}

/// The row's next state after attempt number `attempts` (1-based, as claimed).
pub fn settle(attempt: Attempt, attempts: u32, now: DateTime<Utc>, rng: &dyn Rng) -> Settlement {
    match attempt {
        Attempt::Sent { message_id } => Settlement {
            status: OutboxStatus::Sent,
            next_attempt_at: None,
            last_error: None,
            provider_message_id: message_id,
        },
        Attempt::Skipped(skip) => Settlement {
            status: OutboxStatus::Skipped,
            next_attempt_at: None,
            last_error: Some(skip.as_str()),
            provider_message_id: None,
        },
        Attempt::Failed(error) if error.is_retryable() && attempts < MAX_ATTEMPTS => {
            let mut delay = backoff(attempts, rng);
            if let MailError::RateLimited {
                retry_after_secs: Some(s),
            } = error
            {
                delay = delay.max(Duration::seconds(s.min(MAX_DELAY_SECS as u64) as i64));
            }
            Settlement {
                status: OutboxStatus::Pending,
                next_attempt_at: Some(now + delay),
                last_error: Some(error.code()),
                provider_message_id: None,
            }
        }
        Attempt::Failed(error) => Settlement {
            status: OutboxStatus::Failed,
            next_attempt_at: None,
            last_error: Some(error.code()),
            provider_message_id: None,
        },
    }
}

/// Exponential backoff with jitter: 30 s × 2^(n-1), capped at 6 h, drawn uniformly from the
/// upper half so retries of a burst spread out but never come sooner than half the step.
pub fn backoff(attempts: u32, rng: &dyn Rng) -> Duration {
    let step = BASE_DELAY_SECS
        .saturating_mul(1i64 << attempts.saturating_sub(1).min(20))
        .min(MAX_DELAY_SECS);
    let mut b = [0u8; 8];
    rng.fill(&mut b);
    let half = step / 2;
    let jitter = (u64::from_le_bytes(b) % (half as u64 + 1)) as i64;
    Duration::seconds(half + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::event_webhook::SuppressionReason;
    use crate::testing::SeqRng;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn retryable_failures_back_off_then_give_up() {
        let rng = SeqRng::new(1);
        let mut previous_max = 0;
        for attempts in 1..MAX_ATTEMPTS {
            let s = settle(
                Attempt::Failed(MailError::Unavailable { status: 503 }),
                attempts,
                t0(),
                &rng,
            );
            assert_eq!(s.status, OutboxStatus::Pending);
            let delay = (s.next_attempt_at.unwrap() - t0()).num_seconds();
            let step = (30i64 << (attempts - 1)).min(6 * 3600);
            assert!(
                (step / 2..=step).contains(&delay),
                "attempt {attempts}: {delay}"
            );
            assert!(step >= previous_max);
            previous_max = step;
        }
        let last = settle(
            Attempt::Failed(MailError::Transport),
            MAX_ATTEMPTS,
            t0(),
            &rng,
        );
        assert_eq!(last.status, OutboxStatus::Failed);
        assert_eq!(last.last_error, Some("transport"));
    }

    #[test]
    fn permanent_failures_and_skips_are_terminal_at_once() {
        let rng = SeqRng::new(2);
        let rejected = MailError::Rejected {
            status: 400,
            messages: vec![],
        };
        assert_eq!(
            settle(Attempt::Failed(rejected), 1, t0(), &rng).status,
            OutboxStatus::Failed
        );
        let unauthorized = MailError::Unauthorized { status: 401 };
        assert_eq!(
            settle(Attempt::Failed(unauthorized), 1, t0(), &rng).status,
            OutboxStatus::Failed
        );
        let skipped = settle(
            Attempt::Skipped(Skip::Suppressed(SuppressionReason::Bounce)),
            1,
            t0(),
            &rng,
        );
        assert_eq!(
            (skipped.status, skipped.last_error),
            (OutboxStatus::Skipped, Some("suppressed"))
        );
        let sent = settle(
            Attempt::Sent {
                message_id: Some("m1".into()),
            },
            3,
            t0(),
            &rng,
        );
        assert_eq!(sent.status, OutboxStatus::Sent);
        assert_eq!(sent.provider_message_id.as_deref(), Some("m1"));
        assert!(OutboxStatus::Sent.is_terminal() && !OutboxStatus::Sending.is_terminal());
    }

    #[test]
    fn rate_limits_wait_at_least_as_long_as_sendgrid_asks() {
        let rng = SeqRng::new(3);
        let s = settle(
            Attempt::Failed(MailError::RateLimited {
                retry_after_secs: Some(900),
            }),
            1,
            t0(),
            &rng,
        );
        assert_eq!(s.next_attempt_at, Some(t0() + Duration::seconds(900)));
    }

    #[test]
    fn a_dead_workers_row_waits_for_reconciliation() {
        assert_eq!(reclaim_after(t0()), t0() + Duration::minutes(12));
    }
}
