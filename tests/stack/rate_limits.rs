//! Rate limits through the Workers Rate Limiting bindings of wrangler.toml (simulated by
//! wrangler dev): failed authentications per client IP, calls per user (keys included), API-key
//! lookups per client IP before the key is read, signed-URL downloads per client IP.

use crate::access::{create_key, personal_team};
use crate::support::*;
use butterfly::authz::matrix::Scope;
use std::sync::atomic::{AtomicU32, Ordering};

/// A client address no other test (or earlier run within the limiter's minute) used.
fn ip() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst) as i64;
    let x = now() * 7 + n * 13;
    format!("10.{}.{}.{}", x % 250 + 1, (x / 250) % 250 + 1, n % 250 + 1)
}

fn get_from(ip: &str, path: &str, bearer: Option<&str>) -> Reply {
    let auth = bearer.map(|b| format!("Bearer {b}"));
    let mut headers = vec![("cf-connecting-ip", ip)];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth.as_str()));
    }
    call("GET", &format!("{}/api/v1{path}", worker()), &headers, None)
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

#[test]
fn a_users_api_keys_share_the_users_budget() {
    let user = new_user();
    let team = personal_team(&user);
    let (_, first) = create_key(&user, &team, &[Scope::Read]);
    let (_, second) = create_key(&user, &team, &[Scope::Read]);
    let from = ip();
    let mut limited = None;
    for attempt in 0..2000 {
        let reply = get_from(&from, "/teams", Some(&first));
        if reply.status == 429 {
            limited = Some(attempt);
            break;
        }
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let attempt = limited.expect("the first key was never limited");
    assert!(attempt >= 100, "limited after only {attempt} calls");
    // The second key and the user's own session draw on the same, spent budget.
    let reply = get_from(&ip(), "/teams", Some(&second));
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (429, "rate_limited")
    );
    assert_eq!(user.api("GET", "/teams", None).status, 429);
    assert_eq!(new_user().api("GET", "/teams", None).status, 200);
}

#[test]
fn api_key_lookups_are_budgeted_per_address_before_the_key_is_read() {
    let user = new_user();
    let team = personal_team(&user);
    let (_, valid) = create_key(&user, &team, &[Scope::Read]);
    let from = ip();
    // Made-up keys of the right shape: each would be a service-role lookup of its id.
    let made_up = |n: u32| format!("bfk_000000000000400080000000{n:08x}_{}", "A".repeat(43));
    let mut refused_valid = None;
    for n in 0..3000 {
        let reply = get_from(&from, "/connections", Some(&made_up(n)));
        assert!(matches!(reply.status, 401 | 429), "HTTP {}", reply.status);
        if n % 50 == 49 {
            // The address's lookups are budgeted, not only its failures: once that budget is
            // spent, even a valid key from it is not looked up.
            let probe = get_from(&from, "/connections", Some(&valid));
            if probe.status == 429 {
                refused_valid = Some(n);
                break;
            }
            assert_eq!(probe.status, 200, "{}", probe.text());
        }
    }
    let n = refused_valid.expect("a flood of made-up keys was looked up without limit");
    assert!(n >= 500, "lookups limited after only {n} attempts");
    // Another address with the same valid key is served.
    assert_eq!(get_from(&ip(), "/connections", Some(&valid)).status, 200);
}

#[test]
fn downloads_are_limited_per_address_before_the_link_is_checked() {
    let from = ip();
    let path = "/downloads?b=00000000-0000-4000-8000-000000000000&o=users&t=00000000-0000-4000-8000-000000000001&e=9999999999&s=AAAA";
    let mut limited = None;
    for attempt in 0..1000 {
        let reply = get_from(&from, path, None);
        match reply.status {
            403 => assert_eq!(reply.error_code(), "link_denied"),
            429 => {
                limited = Some((attempt, reply));
                break;
            }
            other => panic!("unexpected HTTP {other}: {}", reply.text()),
        }
    }
    let (attempt, reply) = limited.expect("downloads were never limited");
    assert!(attempt >= 50, "limited after only {attempt} downloads");
    assert_eq!(reply.header("retry-after"), Some("60"));
    assert_eq!(get_from(&ip(), path, None).status, 403);
}
