//! Per-team token budgets and request rate limits, as pure accounting.
//!
//! A request is admitted against the team's [`Usage`] before anything is sent, reserving its
//! worst case (estimated input plus the prompt's output cap), and settled with the provider's
//! real counts afterwards. The caller stores `Usage` between requests (phase 2: one row per
//! team, updated with a compare-and-set on `version` so concurrent requests cannot both spend
//! the last of a budget).

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A team's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetPolicy {
    /// Input plus output tokens per calendar month (UTC).
    pub monthly_tokens: u64,
    /// Requests per UTC day.
    pub daily_requests: u32,
    /// Requests per rolling minute.
    pub per_minute_requests: u32,
}

impl Default for BudgetPolicy {
    fn default() -> Self {
        BudgetPolicy {
            monthly_tokens: 2_000_000,
            daily_requests: 200,
            per_minute_requests: 10,
        }
    }
}

/// What a team has spent, as stored between requests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// First day of the month `month_tokens` counts.
    pub month: Option<chrono::NaiveDate>,
    pub month_tokens: u64,
    /// Tokens reserved by admitted requests not yet settled.
    pub reserved_tokens: u64,
    pub day: Option<chrono::NaiveDate>,
    pub day_requests: u32,
    /// Start times of the requests in the last minute.
    pub recent: Vec<DateTime<Utc>>,
    /// Bumped on every change, for compare-and-set storage.
    pub version: u64,
}

/// Why a request is refused before anything is sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("the team's monthly AI token budget is spent")]
    MonthlyTokens { retry_at: DateTime<Utc> },
    #[error("the team's daily AI request limit is reached")]
    DailyRequests { retry_at: DateTime<Utc> },
    #[error("too many AI requests in the last minute")]
    PerMinute { retry_at: DateTime<Utc> },
}

impl BudgetError {
    pub fn retry_at(&self) -> DateTime<Utc> {
        match self {
            BudgetError::MonthlyTokens { retry_at }
            | BudgetError::DailyRequests { retry_at }
            | BudgetError::PerMinute { retry_at } => *retry_at,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            BudgetError::MonthlyTokens { .. } => "monthly_tokens",
            BudgetError::DailyRequests { .. } => "daily_requests",
            BudgetError::PerMinute { .. } => "per_minute",
        }
    }
}

/// An admitted request's reservation, settled by [`settle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a reservation must be settled"]
pub struct Reservation {
    pub tokens: u64,
}

/// A rough token count for `text` (four bytes a token, rounded up), used only to reserve.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// Admits a request that may spend up to `worst_case_tokens`, or says why not and until when.
pub fn admit(
    policy: &BudgetPolicy,
    usage: &mut Usage,
    now: DateTime<Utc>,
    worst_case_tokens: u64,
) -> Result<Reservation, BudgetError> {
    roll(usage, now);
    if usage.month_tokens + usage.reserved_tokens + worst_case_tokens > policy.monthly_tokens {
        return Err(BudgetError::MonthlyTokens {
            retry_at: next_month(now),
        });
    }
    if usage.day_requests >= policy.daily_requests {
        let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
        return Err(BudgetError::DailyRequests {
            retry_at: tomorrow.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
        });
    }
    if usage.recent.len() as u32 >= policy.per_minute_requests {
        let oldest = usage.recent.iter().min().copied().unwrap_or(now);
        return Err(BudgetError::PerMinute {
            retry_at: oldest + Duration::minutes(1),
        });
    }
    usage.reserved_tokens += worst_case_tokens;
    usage.day_requests += 1;
    usage.recent.push(now);
    usage.version += 1;
    Ok(Reservation {
        tokens: worst_case_tokens,
    })
}

/// Replaces a reservation by what the request really spent (0 when nothing was sent).
pub fn settle(usage: &mut Usage, now: DateTime<Utc>, reservation: Reservation, spent: u64) {
    roll(usage, now);
    usage.reserved_tokens = usage.reserved_tokens.saturating_sub(reservation.tokens);
    usage.month_tokens += spent;
    usage.version += 1;
}

/// Starts new periods and forgets requests older than a minute.
fn roll(usage: &mut Usage, now: DateTime<Utc>) {
    let month = now.date_naive().with_day(1);
    if usage.month != month {
        usage.month = month;
        usage.month_tokens = 0;
    }
    if usage.day != Some(now.date_naive()) {
        usage.day = Some(now.date_naive());
        usage.day_requests = 0;
    }
    usage
        .recent
        .retain(|t| *t > now - Duration::minutes(1) && *t <= now);
}

fn next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    chrono::NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("first of a month")
        .and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn reserves_worst_case_then_settles_actual() {
        let policy = BudgetPolicy {
            monthly_tokens: 10_000,
            ..Default::default()
        };
        let mut u = Usage::default();
        let now = at("2025-03-10T12:00:00Z");
        let r1 = admit(&policy, &mut u, now, 6_000).unwrap();
        assert_eq!(
            admit(&policy, &mut u, now, 6_000),
            Err(BudgetError::MonthlyTokens {
                retry_at: at("2025-04-01T00:00:00Z")
            }),
            "the reservation counts while the first request is in flight"
        );
        settle(&mut u, now, r1, 2_500);
        assert_eq!((u.month_tokens, u.reserved_tokens), (2_500, 0));
        let r2 = admit(&policy, &mut u, now, 6_000).unwrap();
        settle(&mut u, now, r2, 0);
        assert_eq!(
            u.month_tokens, 2_500,
            "a request that sent nothing costs nothing"
        );
        let next = at("2025-04-01T00:00:01Z");
        let r3 = admit(&policy, &mut u, next, 9_000).unwrap();
        settle(&mut u, next, r3, 9_000);
        assert_eq!(u.month_tokens, 9_000, "a new month starts from zero");
    }

    #[test]
    fn rate_limits_per_minute_and_per_day() {
        let policy = BudgetPolicy {
            monthly_tokens: u64::MAX / 2,
            daily_requests: 5,
            per_minute_requests: 2,
        };
        let mut u = Usage::default();
        let t0 = at("2025-12-31T23:50:00Z");
        let _ = admit(&policy, &mut u, t0, 1).unwrap();
        let _ = admit(&policy, &mut u, t0 + Duration::seconds(10), 1).unwrap();
        assert_eq!(
            admit(&policy, &mut u, t0 + Duration::seconds(20), 1),
            Err(BudgetError::PerMinute {
                retry_at: t0 + Duration::seconds(60)
            })
        );
        let _ = admit(&policy, &mut u, t0 + Duration::seconds(61), 1).unwrap();
        let _ = admit(&policy, &mut u, t0 + Duration::seconds(200), 1).unwrap();
        let _ = admit(&policy, &mut u, t0 + Duration::seconds(300), 1).unwrap();
        let err = admit(&policy, &mut u, t0 + Duration::seconds(400), 1).unwrap_err();
        assert_eq!(err.retry_at(), at("2026-01-01T00:00:00Z"));
        assert_eq!(err.code(), "daily_requests");
        let _ = admit(&policy, &mut u, at("2026-01-01T00:00:00Z"), 1).unwrap();
        assert!(u.version >= 6);
    }

    #[test]
    fn estimates_round_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcde"), 2);
    }
}
