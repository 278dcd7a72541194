//! Rate limits: the core decides which budget a request spends, in what order, what the caller
//! sees, and (per route) what a limiter that cannot count means; the counting is the
//! `RateLimiter` port (Workers Rate Limiting bindings, configured in wrangler.toml).

use super::error::ApiError;
use super::routes::LimiterDown;
use crate::authz::Principal;
use crate::ids::ApiKeyId;
use crate::ports::{RateBudget, RateLimiter, Verdict};

/// Seconds a client is told to wait when the limiter itself is down on a fail-closed route.
const LIMITER_DOWN_RETRY_SECS: u32 = 30;

fn limiter_unavailable() -> ApiError {
    ApiError {
        retry_after: Some(LIMITER_DOWN_RETRY_SECS),
        ..ApiError::new(
            503,
            "rate_limiter_unavailable",
            "this action is not served while its rate limit cannot be counted; retry later",
        )
    }
}

/// Spends one unit of `budget` for `key`; a limiter outage serves the request on a fail-open
/// route and refuses it (503) on a fail-closed one.
async fn spend(
    limiter: &dyn RateLimiter,
    budget: RateBudget,
    key: &str,
    down: LimiterDown,
) -> Result<(), ApiError> {
    match (limiter.spend(budget, key).await, down) {
        (Verdict::Allowed, _) | (Verdict::Unavailable, LimiterDown::Open) => Ok(()),
        (Verdict::Refused, _) => Err(ApiError::too_many_requests()),
        (Verdict::Unavailable, LimiterDown::Closed) => Err(limiter_unavailable()),
    }
}

fn ip_key(ip: Option<&str>) -> String {
    format!("ip:{}", ip.unwrap_or("unknown"))
}

/// Spends one unit of the caller's budget: always the user's, so a user's API keys (and
/// sessions) share one budget rather than each key adding another.
pub async fn spend_caller(
    limiter: &dyn RateLimiter,
    principal: &Principal,
    down: LimiterDown,
) -> Result<(), ApiError> {
    let key = format!("user:{}", principal.user);
    spend(limiter, RateBudget::Caller, &key, down).await
}

/// Before an API key's row is read with the service role: one unit per client IP and one per
/// key id, so neither a flood of made-up keys from one address nor many addresses hammering
/// one key id can turn into unbounded database lookups. Requests without a known IP share one
/// bucket.
pub async fn before_key_lookup(
    limiter: &dyn RateLimiter,
    ip: Option<&str>,
    key: ApiKeyId,
    down: LimiterDown,
) -> Result<(), ApiError> {
    spend(limiter, RateBudget::KeyLookup, &ip_key(ip), down).await?;
    spend(limiter, RateBudget::KeyLookup, &format!("key:{key}"), down).await
}

/// A signed-URL download, per client IP, before the link is even checked: a forged link costs
/// its sender a unit, never a team's budget.
pub async fn spend_download(
    limiter: &dyn RateLimiter,
    ip: Option<&str>,
    down: LimiterDown,
) -> Result<(), ApiError> {
    spend(limiter, RateBudget::Download, &ip_key(ip), down).await
}

/// A failed authentication, counted against the client IP after it failed.
pub struct FailedAuth {
    /// 401, or 429 once the IP has failed too often.
    pub error: ApiError,
    /// Within the IP's counted budget, so worth an audit row (a flood, or failures the limiter
    /// could not count, cost no writes).
    pub record: bool,
}

pub async fn failed_auth(limiter: &dyn RateLimiter, ip: Option<&str>) -> FailedAuth {
    match limiter.spend(RateBudget::FailedAuth, &ip_key(ip)).await {
        Verdict::Allowed => FailedAuth {
            error: ApiError::unauthorized(),
            record: true,
        },
        Verdict::Refused => FailedAuth {
            error: ApiError::too_many_requests(),
            record: false,
        },
        Verdict::Unavailable => FailedAuth {
            error: ApiError::unauthorized(),
            record: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ApiKeyId, TeamId, UserId};
    use crate::testing::CountingLimiter;
    use futures::executor::block_on;

    fn user(n: u8) -> Principal {
        Principal {
            user: UserId::parse(&format!("00000000-0000-4000-8000-0000000000{n:02}")).unwrap(),
            jwt: String::new(),
            email: None,
            email_verified: false,
            key: None,
        }
    }

    fn keyed(n: u8, key: u8) -> Principal {
        Principal {
            key: Some(crate::authz::KeyGrant {
                id: ApiKeyId::parse(&format!("00000000-0000-4000-8000-0000000000{key:02x}"))
                    .unwrap(),
                team: TeamId::parse("00000000-0000-4000-8000-0000000000bb").unwrap(),
                scopes: Vec::new(),
            }),
            ..user(n)
        }
    }

    #[test]
    fn callers_have_separate_budgets_and_get_429_with_retry_after() {
        let limiter = CountingLimiter::new(2);
        let (a, b) = (user(1), user(2));
        let open = LimiterDown::Open;
        assert!(block_on(spend_caller(&limiter, &a, open)).is_ok());
        assert!(block_on(spend_caller(&limiter, &a, open)).is_ok());
        let err = block_on(spend_caller(&limiter, &a, open)).unwrap_err();
        assert_eq!((err.status, err.retry_after), (429, Some(60)));
        let response = err.into_response("req_1");
        assert!(response
            .headers
            .iter()
            .any(|(k, v)| k == "retry-after" && v == "60"));
        assert!(block_on(spend_caller(&limiter, &b, open)).is_ok());
    }

    #[test]
    fn a_users_keys_share_the_users_budget() {
        let limiter = CountingLimiter::new(3);
        let open = LimiterDown::Open;
        assert!(block_on(spend_caller(&limiter, &keyed(1, 0xa1), open)).is_ok());
        assert!(block_on(spend_caller(&limiter, &keyed(1, 0xa2), open)).is_ok());
        assert!(block_on(spend_caller(&limiter, &user(1), open)).is_ok());
        // A fourth key of the same user adds no budget of its own.
        let err = block_on(spend_caller(&limiter, &keyed(1, 0xa3), open)).unwrap_err();
        assert_eq!(err.status, 429);
        assert_eq!(
            block_on(spend_caller(&limiter, &user(1), open))
                .unwrap_err()
                .status,
            429
        );
        assert!(block_on(spend_caller(&limiter, &keyed(2, 0xb1), open)).is_ok());
    }

    #[test]
    fn key_lookups_are_budgeted_per_ip_and_per_key_id() {
        let limiter = CountingLimiter::new(2);
        let key = |n: u8| ApiKeyId::parse(&format!("00000000-0000-4000-8000-0000000000{n:02}"));
        let open = LimiterDown::Open;
        let ip = Some("203.0.113.9");
        assert!(block_on(before_key_lookup(&limiter, ip, key(1).unwrap(), open)).is_ok());
        assert!(block_on(before_key_lookup(&limiter, ip, key(2).unwrap(), open)).is_ok());
        // The address's budget is spent, whatever key it makes up next.
        let err = block_on(before_key_lookup(&limiter, ip, key(3).unwrap(), open)).unwrap_err();
        assert_eq!(err.status, 429);
        // One key id from many addresses is bounded too.
        let other = Some("203.0.113.10");
        let third = Some("203.0.113.11");
        assert!(block_on(before_key_lookup(&limiter, other, key(1).unwrap(), open)).is_ok());
        let err = block_on(before_key_lookup(&limiter, third, key(1).unwrap(), open)).unwrap_err();
        assert_eq!(err.status, 429);
    }

    #[test]
    fn a_limiter_outage_serves_fail_open_routes_and_refuses_fail_closed_ones() {
        let limiter = CountingLimiter::new(100);
        limiter.down.set(true);
        let a = user(1);
        assert!(block_on(spend_caller(&limiter, &a, LimiterDown::Open)).is_ok());
        let err = block_on(spend_caller(&limiter, &a, LimiterDown::Closed)).unwrap_err();
        assert_eq!(
            (err.status, err.code, err.retry_after),
            (503, "rate_limiter_unavailable", Some(30))
        );
        assert!(block_on(spend_download(&limiter, None, LimiterDown::Open)).is_ok());
        assert_eq!(
            block_on(spend_download(&limiter, None, LimiterDown::Closed))
                .unwrap_err()
                .status,
            503
        );
        // A failed login the limiter could not count is still a 401, and costs no audit write.
        let failed = block_on(failed_auth(&limiter, Some("203.0.113.9")));
        assert_eq!((failed.error.status, failed.record), (401, false));
    }

    #[test]
    fn downloads_are_limited_per_ip() {
        let limiter = CountingLimiter::new(2);
        let closed = LimiterDown::Closed;
        let ip = Some("203.0.113.9");
        assert!(block_on(spend_download(&limiter, ip, closed)).is_ok());
        assert!(block_on(spend_download(&limiter, ip, closed)).is_ok());
        assert_eq!(
            block_on(spend_download(&limiter, ip, closed))
                .unwrap_err()
                .status,
            429
        );
        assert!(block_on(spend_download(&limiter, Some("203.0.113.10"), closed)).is_ok());
    }

    #[test]
    fn failed_authentication_is_limited_per_ip() {
        let limiter = CountingLimiter::new(3);
        for _ in 0..3 {
            let failed = block_on(failed_auth(&limiter, Some("203.0.113.9")));
            assert_eq!((failed.error.status, failed.record), (401, true));
        }
        let failed = block_on(failed_auth(&limiter, Some("203.0.113.9")));
        assert_eq!((failed.error.status, failed.record), (429, false));
        let other = block_on(failed_auth(&limiter, Some("203.0.113.10")));
        assert_eq!(other.error.status, 401);
        assert_eq!(block_on(failed_auth(&limiter, None)).error.status, 401);
    }
}
