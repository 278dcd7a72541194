//! Rate limits: the core decides which budget a request spends and what the caller sees; the
//! counting is the `RateLimiter` port (Workers Rate Limiting binding, configured in wrangler.toml).

use super::error::ApiError;
use crate::authz::Principal;
use crate::ports::{RateBudget, RateLimiter};

/// Spends one unit of the caller's budget: per API key when one is used, else per user.
pub async fn spend_caller(
    limiter: &dyn RateLimiter,
    principal: &Principal,
) -> Result<(), ApiError> {
    let key = match &principal.key {
        Some(grant) => format!("key:{}", grant.id),
        None => format!("user:{}", principal.user),
    };
    if limiter.allow(RateBudget::Caller, &key).await {
        Ok(())
    } else {
        Err(ApiError::too_many_requests())
    }
}

/// After a failed authentication: counts it against the client IP, and turns the 401 into a 429
/// once that IP has failed too often. Requests without a known IP share one bucket.
pub async fn failed_auth(limiter: &dyn RateLimiter, ip: Option<&str>) -> ApiError {
    let key = format!("ip:{}", ip.unwrap_or("unknown"));
    if limiter.allow(RateBudget::FailedAuth, &key).await {
        ApiError::unauthorized()
    } else {
        ApiError::too_many_requests()
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
            key: None,
        }
    }

    #[test]
    fn callers_have_separate_budgets_and_get_429_with_retry_after() {
        let limiter = CountingLimiter::new(2);
        let (a, b) = (user(1), user(2));
        assert!(block_on(spend_caller(&limiter, &a)).is_ok());
        assert!(block_on(spend_caller(&limiter, &a)).is_ok());
        let err = block_on(spend_caller(&limiter, &a)).unwrap_err();
        assert_eq!((err.status, err.retry_after), (429, Some(60)));
        let response = err.into_response("req_1");
        assert!(response
            .headers
            .iter()
            .any(|(k, v)| k == "retry-after" && v == "60"));
        assert!(block_on(spend_caller(&limiter, &b)).is_ok());
        // A key of user A has its own budget, separate from A's sessions.
        let keyed = Principal {
            key: Some(crate::authz::KeyGrant {
                id: ApiKeyId::parse("00000000-0000-4000-8000-0000000000aa").unwrap(),
                team: TeamId::parse("00000000-0000-4000-8000-0000000000bb").unwrap(),
                scopes: Vec::new(),
            }),
            ..user(1)
        };
        assert!(block_on(spend_caller(&limiter, &keyed)).is_ok());
    }

    #[test]
    fn failed_authentication_is_limited_per_ip() {
        let limiter = CountingLimiter::new(3);
        for _ in 0..3 {
            assert_eq!(
                block_on(failed_auth(&limiter, Some("203.0.113.9"))).status,
                401
            );
        }
        assert_eq!(
            block_on(failed_auth(&limiter, Some("203.0.113.9"))).status,
            429
        );
        assert_eq!(
            block_on(failed_auth(&limiter, Some("203.0.113.10"))).status,
            401
        );
        assert_eq!(block_on(failed_auth(&limiter, None)).status, 401);
    }
}
