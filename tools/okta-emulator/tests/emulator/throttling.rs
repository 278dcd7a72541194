//! Rate limits, the concurrency limit, fault injection and the `/__emulator/` controls.

use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use okta_emulator::{Bucket, EmulatorConfig, RateLimits};
use serde_json::json;

use crate::support::{assert_okta_error, get, get_ok, send, start, start_default, SSWS};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn limits(bucket: Bucket, per_minute: u32) -> RateLimits {
    let mut limits = RateLimits::default();
    limits.set(bucket, per_minute);
    limits
}

fn post_json(url: &str, body: &serde_json::Value) -> crate::support::Response {
    send(
        "POST",
        url,
        &[("Content-Type", "application/json")],
        Some(&body.to_string()),
    )
}

#[test]
fn every_response_carries_rate_limit_headers() {
    let emulator = start_default();
    let base = emulator.base_url();
    let tenant = emulator.tenant();
    let user = tenant.users()[0]["id"].as_str().unwrap().to_owned();
    let group = tenant.groups()[0]["id"].as_str().unwrap().to_owned();
    let app = tenant.apps()[0]["id"].as_str().unwrap().to_owned();
    // Okta's Enterprise defaults, each bucket counted on its own.
    for (path, limit) in [
        ("/api/v1/users".to_owned(), 600),
        (format!("/api/v1/users/{user}"), 1000),
        ("/api/v1/users/me".to_owned(), 1000),
        (format!("/api/v1/users/{user}/roles"), 600),
        ("/api/v1/groups".to_owned(), 600),
        (format!("/api/v1/groups/{group}"), 600),
        (format!("/api/v1/groups/{group}/users"), 600),
        ("/api/v1/groups/rules".to_owned(), 600),
        ("/api/v1/apps".to_owned(), 100),
        (format!("/api/v1/apps/{app}"), 600),
        (format!("/api/v1/apps/{app}/users"), 100),
        ("/api/v1/policies?type=PASSWORD".to_owned(), 600),
        ("/api/v1/org".to_owned(), 600),
    ] {
        let response = get_ok(&format!("{base}{path}"));
        assert_eq!(response.rate_header("X-Rate-Limit-Limit"), limit, "{path}");
        assert!(response.rate_header("X-Rate-Limit-Reset") as f64 > now() - 1.0);
    }
    // Requests share a bucket's window: groups list, group members and group rules used three of
    // `/api/v1/groups*`; `/api/v1/users/{id}/roles` counts with the org, policies and everything
    // else under `/api/v1`.
    let stats = get_ok(&format!("{base}/__emulator/stats")).json();
    let buckets = &stats["rate_limit_buckets"];
    for (bucket, requests, limit) in [
        ("users", 1, 600),
        ("user", 2, 1000),
        ("groups", 3, 600),
        ("group", 1, 600),
        ("apps", 2, 100),
        ("app", 1, 600),
        ("other", 3, 600),
    ] {
        assert_eq!(buckets[bucket]["requests"], requests, "{bucket}: {buckets}");
        assert_eq!(buckets[bucket]["limit"], limit, "{bucket}");
    }
    assert_eq!(buckets["apps"]["pattern"], "/api/v1/apps*");
    assert_eq!(
        get_ok(&format!("{base}/api/v1/groups/rules")).rate_header("X-Rate-Limit-Remaining"),
        600 - 4
    );
    // Endpoint families are counted as well: `buckets.policies` is every policy request.
    assert_eq!(stats["buckets"]["policies"]["requests"], 1);
    assert_eq!(stats["buckets"]["groups"]["requests"], 4);
}

#[test]
fn legacy_bucket_names_set_the_bucket_now_covering_those_paths() {
    let config =
        EmulatorConfig::from_args(["--rate-limit", "policies=7", "--rate-limit", "org=9"]).unwrap();
    assert_eq!(config.rate_limits.get(Bucket::Other), 9);
    let emulator = start(config);
    let response = get_ok(&format!("{}/api/v1/zones", emulator.base_url()));
    assert_eq!(response.rate_header("X-Rate-Limit-Limit"), 9);
}

#[test]
fn exceeding_a_bucket_gives_okta_429() {
    let emulator = start(EmulatorConfig {
        rate_limits: limits(Bucket::Users, 3),
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let url = format!("{base}/api/v1/users?limit=1");
    // A window can roll over mid-test; a fresh window only delays the 429 by up to three requests.
    let mut responses = Vec::new();
    let mut sent_at = now();
    while responses.len() < 8 {
        sent_at = now();
        let response = get(&url, SSWS);
        let limited = response.status == 429;
        responses.push(response);
        if limited {
            break;
        }
    }
    let limited = responses.last().unwrap();
    let body = assert_okta_error(limited, 429, "E0000047");
    assert_eq!(
        body["errorSummary"],
        "API call exceeded rate limit due to too many requests."
    );
    assert_eq!(limited.rate_header("X-Rate-Limit-Limit"), 3);
    assert_eq!(limited.rate_header("X-Rate-Limit-Remaining"), 0);
    let reset = limited.rate_header("X-Rate-Limit-Reset") as f64;
    assert!(
        reset > sent_at && reset <= sent_at + 61.0,
        "reset {reset} is in the minute after {sent_at}"
    );
    let before = &responses[responses.len() - 2];
    assert_eq!(before.rate_header("X-Rate-Limit-Remaining"), 0);

    // Other buckets are unaffected, and the stats saw it all.
    get_ok(&format!("{base}/api/v1/groups"));
    let stats = get_ok(&format!("{base}/__emulator/stats")).json();
    assert_eq!(
        stats["buckets"]["users"]["requests"],
        responses.len() as u64
    );
    assert_eq!(stats["buckets"]["users"]["rate_limited"], 1);
    assert_eq!(stats["buckets"]["groups"]["requests"], 1);
    assert_eq!(stats["total"], responses.len() as u64 + 1);
}

#[test]
fn time_scale_shrinks_the_window() {
    // 60 s / 120 = half-second windows.
    let emulator = start(EmulatorConfig {
        rate_limits: limits(Bucket::Apps, 2),
        time_scale: 120.0,
        ..EmulatorConfig::default()
    });
    let url = format!("{}/api/v1/apps", emulator.base_url());
    let started = Instant::now();
    let limited = loop {
        let response = get(&url, SSWS);
        if response.status == 429 {
            break response;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never limited");
    };
    let reset = limited.rate_header("X-Rate-Limit-Reset") as f64;
    assert!(reset - now() <= 1.5, "reset within a scaled window");
    thread::sleep(Duration::from_secs_f64((reset - now()).max(0.0) + 0.05));
    get_ok(&url);
}

#[test]
fn concurrency_limit_rejects_excess_in_flight_requests() {
    let emulator = start(EmulatorConfig {
        concurrency_limit: 2,
        page_delay: Duration::from_millis(300),
        ..EmulatorConfig::default()
    });
    let url = format!("{}/api/v1/groups", emulator.base_url());
    let statuses: Vec<(u16, String, u64, u64)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    let response = get(&url, SSWS);
                    let code = response.json()["errorCode"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    let limit = response.rate_header("X-Rate-Limit-Limit");
                    let remaining = response.rate_header("X-Rate-Limit-Remaining");
                    (response.status, code, limit, remaining)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses.iter().filter(|(s, ..)| *s == 200).count();
    let limited: Vec<_> = statuses.iter().filter(|(s, ..)| *s == 429).collect();
    assert!((1..=3).contains(&ok), "{statuses:?}");
    assert!(!limited.is_empty(), "{statuses:?}");
    assert!(limited.iter().all(|(_, code, ..)| code == "E0000047"));
    // Okta's concurrency 429s report 0 for the limit and the remaining count.
    assert!(
        limited
            .iter()
            .all(|(_, _, limit, rem)| (*limit, *rem) == (0, 0)),
        "{limited:?}"
    );
    assert_eq!(ok + limited.len(), 6);
    let stats = get_ok(&format!("{}/__emulator/stats", emulator.base_url())).json();
    assert!(stats["max_in_flight"].as_u64().unwrap() >= 3);
    assert_eq!(
        stats["buckets"]["groups"]["rate_limited"],
        limited.len() as u64
    );
}

#[test]
fn injected_faults_fail_the_next_matching_requests() {
    let emulator = start_default();
    let base = emulator.base_url();
    let faults = format!("{base}/__emulator/faults");
    let queued = post_json(
        &faults,
        &json!({"path_prefix": "/api/v1/apps", "status": 503, "count": 2}),
    );
    assert_eq!(queued.status, 200);
    assert_eq!(queued.json()["pending"], 2);

    get_ok(&format!("{base}/api/v1/users"));
    for _ in 0..2 {
        let failed = get(&format!("{base}/api/v1/apps"), SSWS);
        let body = assert_okta_error(&failed, 503, "E0000009");
        assert_eq!(body["errorSummary"], "Service Unavailable");
        assert!(failed.header("X-Rate-Limit-Limit").is_some());
    }
    get_ok(&format!("{base}/api/v1/apps"));

    post_json(
        &faults,
        &json!({"path_prefix": "/api/v1/users", "status": 429}),
    );
    let limited = get(&format!("{base}/api/v1/users"), SSWS);
    assert_okta_error(&limited, 429, "E0000047");
    assert_eq!(limited.rate_header("X-Rate-Limit-Remaining"), 0);
    get_ok(&format!("{base}/api/v1/users"));

    post_json(
        &faults,
        &json!({"path_prefix": "/api/v1/org", "delay_ms": 250}),
    );
    let started = Instant::now();
    get_ok(&format!("{base}/api/v1/org"));
    assert!(started.elapsed() >= Duration::from_millis(250));

    let stats = get_ok(&format!("{base}/__emulator/stats")).json();
    assert_eq!(stats["buckets"]["users"]["rate_limited"], 1);
    assert_eq!(stats["buckets"]["apps"]["requests"], 3);
}

#[test]
fn bad_fault_specs_are_rejected() {
    let emulator = start_default();
    let faults = format!("{}/__emulator/faults", emulator.base_url());
    for body in [
        "not json",
        r#"{"status": 503}"#,
        r#"{"path_prefix": "/api", "status": 200}"#,
    ] {
        let response = send("POST", &faults, &[], Some(body));
        assert_okta_error(&response, 400, "E0000001");
    }
    assert_okta_error(&send("GET", &faults, &[], None), 405, "E0000022");
    let unknown = send(
        "GET",
        &format!("{}/__emulator/nope", emulator.base_url()),
        &[],
        None,
    );
    assert_okta_error(&unknown, 404, "E0000007");
}

#[test]
fn reset_clears_counters_windows_and_faults() {
    let emulator = start(EmulatorConfig {
        rate_limits: limits(Bucket::Other, 1),
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let org = format!("{base}/api/v1/org");
    get(&org, SSWS);
    get(&org, SSWS);
    post_json(
        &format!("{base}/__emulator/faults"),
        &json!({"path_prefix": "/api/v1/org", "status": 500, "count": 5}),
    );
    let reset = send("POST", &format!("{base}/__emulator/reset"), &[], None);
    assert_eq!(reset.status, 200);
    let stats = get_ok(&format!("{base}/__emulator/stats")).json();
    assert_eq!(stats["total"], 0);
    assert_eq!(stats["rate_limited"], 0);
    get_ok(&org);
}
