//! Fault kinds: 429 bursts in Okta's shape, connection resets and malformed (cut-short) pages.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::support::{assert_okta_error, get, get_ok, send, start_default, Response, SSWS};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn inject(base: &str, fault: &Value) -> Response {
    send(
        "POST",
        &format!("{base}/__emulator/faults"),
        &[("Content-Type", "application/json")],
        Some(&fault.to_string()),
    )
}

/// Sends a keep-alive GET on a fresh connection and reads until the server closes it: what came
/// back, or the error that ended the read.
fn raw_get(base: &str, path: &str) -> Result<Vec<u8>, std::io::Error> {
    let authority = base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: {SSWS}\r\nConnection: keep-alive\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map(|_| raw)
}

#[test]
fn a_429_burst_answers_like_okta_then_recovers() {
    let emulator = start_default();
    let base = emulator.base_url();
    let queued = inject(
        &base,
        &json!({"path_prefix": "/api/v1/groups", "status": 429, "count": 3}),
    );
    assert_eq!(queued.status, 200);
    assert_eq!(queued.json()["pending"], 3);
    for _ in 0..3 {
        let limited = get(&format!("{base}/api/v1/groups"), SSWS);
        let body = assert_okta_error(&limited, 429, "E0000047");
        assert_eq!(
            body["errorSummary"],
            "API call exceeded rate limit due to too many requests."
        );
        assert_eq!(limited.rate_header("X-Rate-Limit-Limit"), 600);
        assert_eq!(limited.rate_header("X-Rate-Limit-Remaining"), 0);
        // The end of the bucket's current window.
        let reset = limited.rate_header("X-Rate-Limit-Reset");
        assert!(reset >= now() && reset <= now() + 61, "{reset}");
    }
    let ok = get_ok(&format!("{base}/api/v1/groups"));
    assert!(ok.rate_header("X-Rate-Limit-Remaining") > 0);

    // `reset_in_s` brings the reset closer, so a test need not wait out a whole window.
    inject(
        &base,
        &json!({"path_prefix": "/api/v1/org", "status": 429, "reset_in_s": 1}),
    );
    let limited = get(&format!("{base}/api/v1/org"), SSWS);
    assert_okta_error(&limited, 429, "E0000047");
    let reset = limited.rate_header("X-Rate-Limit-Reset");
    assert!(reset >= now() && reset <= now() + 2, "{reset}");

    let stats = get_ok(&format!("{base}/__emulator/stats")).json();
    assert_eq!(stats["faults_pending"], 0);
    assert_eq!(stats["buckets"]["groups"]["rate_limited"], 3);
    assert_eq!(stats["buckets"]["org"]["rate_limited"], 1);
}

#[test]
fn a_reset_closes_the_connection_without_a_response() {
    let emulator = start_default();
    let base = emulator.base_url();
    let queued = inject(
        &base,
        &json!({"path_prefix": "/api/v1/users", "kind": "reset", "count": 2}),
    );
    assert_eq!(
        queued.status,
        200,
        "{}",
        String::from_utf8_lossy(&queued.body)
    );
    let stats = get_ok(&format!("{base}/__emulator/stats")).json();
    assert_eq!(stats["faults_pending"], 2);
    // Other paths are untouched.
    get_ok(&format!("{base}/api/v1/groups"));
    for _ in 0..2 {
        // Even on a keep-alive connection: closed (or reset) with not one byte of response.
        match raw_get(&base, "/api/v1/users?limit=2") {
            Ok(raw) => assert!(raw.is_empty(), "{}", String::from_utf8_lossy(&raw)),
            Err(err) => assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}"),
        }
    }
    let users = get_ok(&format!("{base}/api/v1/users?limit=2")).json();
    assert_eq!(users.as_array().unwrap().len(), 2);
    // The reset requests were received and counted, like any other.
    let stats = get_ok(&format!("{base}/__emulator/stats")).json();
    assert_eq!(stats["buckets"]["users"]["requests"], 3);
}

#[test]
fn a_malformed_page_keeps_the_headers_but_cuts_the_body() {
    let emulator = start_default();
    let base = emulator.base_url();
    let url = format!("{base}/api/v1/users?limit=3");
    let normal = get_ok(&url);
    let queued = inject(
        &base,
        &json!({"path_prefix": "/api/v1/users", "kind": "malformed"}),
    );
    assert_eq!(queued.status, 200);
    // `send` checks that Content-Length matches the (cut) body.
    let cut = get(&url, SSWS);
    assert_eq!(cut.status, 200);
    assert_eq!(cut.header("Content-Type"), Some("application/json"));
    assert_eq!(cut.all("Link"), normal.all("Link"));
    for name in ["X-Rate-Limit-Limit", "X-Rate-Limit-Reset"] {
        assert!(cut.header(name).is_some(), "{name}");
    }
    assert!(cut.rate_header("X-Rate-Limit-Remaining") > 0);
    assert!(cut.header("X-Okta-Request-Id").is_some());
    assert!(!cut.body.is_empty() && cut.body.len() < normal.body.len());
    assert!(normal.body.starts_with(&cut.body), "not the same page, cut");
    assert!(serde_json::from_slice::<Value>(&cut.body).is_err());
    // Single objects too, and then the fault is spent.
    inject(
        &base,
        &json!({"path_prefix": "/api/v1/org", "kind": "malformed", "delay_ms": 50}),
    );
    let org = get(&format!("{base}/api/v1/org"), SSWS);
    assert_eq!(org.status, 200);
    assert!(serde_json::from_slice::<Value>(&org.body).is_err());
    assert_eq!(get_ok(&url).body, normal.body);
    get_ok(&format!("{base}/api/v1/org")).json();
}

#[test]
fn bad_kinds_are_rejected() {
    let emulator = start_default();
    let base = emulator.base_url();
    for fault in [
        json!({"path_prefix": "/api", "kind": "teapot"}),
        json!({"path_prefix": "/api", "kind": "malformed", "status": 503}),
        json!({"path_prefix": "/api", "status": 500, "reset_in_s": 1}),
    ] {
        assert_okta_error(&inject(&base, &fault), 400, "E0000001");
    }
}

#[test]
fn a_loop_next_link_points_back_at_the_first_page() {
    let emulator = start_default();
    let base = emulator.base_url();
    let first = get_ok(&format!("{base}/api/v1/users?limit=5"));
    let second_url = first.next_link().unwrap();
    let second = get_ok(&second_url);
    inject(
        &base,
        &json!({"path_prefix": "/api/v1/users", "kind": "loop_next"}),
    );
    // Taken by the next list page: its `next` link leads back to where the list started.
    let looped = get_ok(&second.next_link().unwrap());
    assert_eq!(
        looped.next_link().unwrap(),
        format!("{base}/api/v1/users?limit=5")
    );
    assert_eq!(get_ok(&looped.next_link().unwrap()).body, first.body);
    // List pages after it are normal again.
    assert_eq!(get_ok(&second_url).next_link(), second.next_link());
    // Single objects do not take it: it waits for a list.
    inject(
        &base,
        &json!({"path_prefix": "/api/v1/users", "kind": "loop_next"}),
    );
    get_ok(&format!("{base}/api/v1/users/me"));
    let stats = get_ok(&format!("{base}/__emulator/stats")).json();
    assert_eq!(stats["faults_pending"], 1);
    assert!(get_ok(&format!("{base}/api/v1/users?limit=5"))
        .next_link()
        .unwrap()
        .ends_with("/api/v1/users?limit=5"));
}

#[test]
fn an_empty_next_page_ends_the_list_after_its_last_page() {
    let emulator = start_default();
    let base = emulator.base_url();
    inject(
        &base,
        &json!({"path_prefix": "/api/v1/groups", "kind": "empty_next"}),
    );
    // A page that has a `next` link of its own does not take the fault.
    let first = get_ok(&format!("{base}/api/v1/groups?limit=4"));
    let last = get_ok(&first.next_link().unwrap());
    let last_id = last.json().as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let next = last.next_link().expect("the last page gained a next link");
    assert_eq!(
        next,
        format!("{base}/api/v1/groups?limit=4&after={last_id}")
    );
    let empty = get_ok(&next);
    assert_eq!(empty.json(), json!([]));
    assert!(empty.next_link().is_none());
    let (groups, _) = crate::support::collect_all(&format!("{base}/api/v1/groups?limit=4"));
    assert_eq!(groups.len(), emulator.tenant().groups().len());
}

#[test]
fn an_expired_cursor_is_refused_with_an_invalid_paging_error() {
    let emulator = start_default();
    let base = emulator.base_url();
    inject(
        &base,
        &json!({"path_prefix": "/api/v1/users", "kind": "expired_cursor", "count": 2}),
    );
    // First pages carry no cursor and are answered.
    let first = get_ok(&format!("{base}/api/v1/users?limit=5"));
    let next = first.next_link().unwrap();
    for _ in 0..2 {
        let refused = get(&next, SSWS);
        let body = assert_okta_error(&refused, 400, "E0000029");
        assert_eq!(body["errorSummary"], "Invalid paging request.");
        assert!(refused.header("X-Rate-Limit-Remaining").is_some());
    }
    get_ok(&next);
}

#[test]
fn cursors_expire_after_their_ttl() {
    let emulator = crate::support::start(okta_emulator::EmulatorConfig {
        cursor_ttl: Some(Duration::from_secs(1)),
        ..okta_emulator::EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let first = get_ok(&format!("{base}/api/v1/users?limit=5"));
    let next = first.next_link().unwrap();
    // Still an opaque cursor that starts with the last item's id.
    let last = first.json()[4]["id"].as_str().unwrap().to_owned();
    assert!(next.contains(&format!("after={last}.")), "{next}");
    get_ok(&next);
    std::thread::sleep(Duration::from_millis(1100));
    assert_okta_error(&get(&next, SSWS), 400, "E0000029");
    // A cursor a client built itself was never valid.
    let built = format!("{base}/api/v1/users?limit=5&after={last}");
    assert_okta_error(&get(&built, SSWS), 400, "E0000029");
}

#[test]
fn a_token_revoked_mid_run_gets_oktas_401_from_then_on() {
    let emulator = crate::support::start(okta_emulator::EmulatorConfig {
        api_tokens: vec!["first".to_owned(), "second".to_owned()],
        ..okta_emulator::EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let users = format!("{base}/api/v1/users");
    assert_eq!(get(&users, "SSWS first").status, 200);
    // The fault revokes whichever token the matching request carries.
    inject(
        &base,
        &json!({"path_prefix": "/api/v1/groups", "kind": "revoke_token"}),
    );
    assert_eq!(get(&users, "SSWS first").status, 200);
    let revoked = get(&format!("{base}/api/v1/groups"), "SSWS first");
    let body = assert_okta_error(&revoked, 401, "E0000011");
    assert_eq!(body["errorSummary"], "Invalid token provided");
    assert_okta_error(&get(&users, "SSWS first"), 401, "E0000011");
    assert_eq!(get(&users, "SSWS second").status, 200);

    // The control API revokes a named token, or all of them.
    let revoke = |body: &str| {
        send(
            "POST",
            &format!("{base}/__emulator/tokens/revoke"),
            &[],
            Some(body),
        )
    };
    assert_okta_error(&revoke(r#"{"token": "unknown"}"#), 400, "E0000001");
    assert_eq!(revoke(r#"{"token": "second"}"#).json()["revoked"], 2);
    assert_okta_error(&get(&users, "SSWS second"), 401, "E0000011");
    // `reset` brings them back.
    send("POST", &format!("{base}/__emulator/reset"), &[], None);
    assert_eq!(get(&users, "SSWS first").status, 200);
    assert_eq!(revoke("").json()["revoked"], 2);
    assert_okta_error(&get(&users, "SSWS second"), 401, "E0000011");
}
