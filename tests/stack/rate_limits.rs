//! Rate limits through the Workers Rate Limiting bindings of wrangler.toml (simulated by
//! wrangler dev): failed authentications per client IP, calls per user.

use crate::support::*;

fn ip() -> String {
    format!("198.51.100.{}", now() % 200 + 1)
}

#[test]
fn failed_authentication_is_limited_per_ip_with_retry_after() {
    let url = format!("{}/api/v1/connections", worker());
    let attacker = ip();
    let mut limited = None;
    for attempt in 0..200 {
        let reply = call(
            "GET",
            &url,
            &[
                ("authorization", "Bearer bfk_guess"),
                ("cf-connecting-ip", &attacker),
            ],
            None,
        );
        match reply.status {
            401 => {}
            429 => {
                limited = Some((attempt, reply));
                break;
            }
            other => panic!("unexpected HTTP {other}"),
        }
    }
    let (attempt, reply) = limited.expect("failed authentications were never limited");
    assert!(attempt >= 10, "limited after only {attempt} attempts");
    assert_eq!(reply.header("retry-after"), Some("60"));
    assert_eq!(reply.error_code(), "rate_limited");

    // Another client is unaffected, and so is a valid caller.
    let other = call(
        "GET",
        &url,
        &[
            ("authorization", "Bearer bfk_guess"),
            ("cf-connecting-ip", "192.0.2.77"),
        ],
        None,
    );
    assert_eq!(other.status, 401);
    assert_eq!(new_user().api("GET", "/connections", None).status, 200);
}

#[test]
fn each_caller_has_its_own_request_budget() {
    let greedy = new_user();
    let mut limited = None;
    for attempt in 0..2000 {
        let reply = greedy.api("GET", "/teams", None);
        if reply.status == 429 {
            limited = Some((attempt, reply));
            break;
        }
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let (attempt, reply) = limited.expect("calls were never limited");
    assert!(attempt >= 100, "limited after only {attempt} calls");
    assert_eq!(reply.header("retry-after"), Some("60"));
    assert_eq!(new_user().api("GET", "/teams", None).status, 200);
}
