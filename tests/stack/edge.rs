//! The edge: authentication, headers, and bad input that must be refused without storing anything.

use crate::support::*;
use serde_json::json;

fn connection_count(user: &User) -> usize {
    let reply = service(
        "GET",
        &format!("okta_connections?created_by=eq.{}&select=id", user.id),
        None,
    );
    reply.json().as_array().unwrap().len()
}

#[test]
fn health_is_public_and_every_response_is_hardened() {
    let reply = call("GET", &format!("{}/api/v1/health", worker()), &[], None);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["status"], "ok");
    assert_eq!(
        reply.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert!(reply
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    assert!(reply.header("x-request-id").unwrap().starts_with("req_"));
    let echoed = call(
        "GET",
        &format!("{}/api/v1/health", worker()),
        &[("x-request-id", "client-req-12345")],
        None,
    );
    // The request id is always the worker's own; a client's is recorded beside it, never instead.
    let own = echoed.header("x-request-id").unwrap();
    assert!(
        own.starts_with("req_") && own != "client-req-12345",
        "{own}"
    );
}

#[test]
fn missing_or_bad_credentials_get_401_json() {
    let url = format!("{}/api/v1/connections", worker());
    let user = new_user();
    let expired = jwt_for(&user.id, "authenticated", now() - 10);
    let wrong_role = jwt_for(&user.id, "service_role", now() + 600);
    let mut tampered = user.jwt.clone();
    tampered.push('x');
    let none_alg = {
        let parts: Vec<&str> = user.jwt.split('.').collect();
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1])
    };
    for auth in [
        None,
        Some("Bearer".to_string()),
        Some("Basic dXNlcjpwYXNz".to_string()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {wrong_role}")),
        Some(format!("Bearer {tampered}")),
        Some(format!("Bearer {none_alg}")),
    ] {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let reply = call("GET", &url, &headers, None);
        assert_eq!(reply.status, 401, "{auth:?}");
        assert_eq!(reply.error_code(), "unauthorized");
        assert!(reply.json()["error"]["request_id"].is_string());
    }
}

#[test]
fn unknown_routes_methods_and_ids_are_clean_errors() {
    let user = new_user();
    assert_eq!(user.api("GET", "/nope", None).status, 404);
    let reply = user.api("PATCH", "/connections", None);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (405, "method_not_allowed")
    );
    let reply = user.api("GET", "/connections/not-a-uuid", None);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "not_found")
    );
    let reply = user.api("GET", "/backups/00000000-0000-4000-8000-000000000000", None);
    assert_eq!(reply.status, 404);
}

#[test]
fn bad_connection_input_is_refused_and_nothing_is_stored() {
    let user = new_user();
    let token = env("BF_OKTA_TOKEN");
    let cases = [
        (
            json!({"org_domain": "evil.example.com", "api_token": token}),
            422,
            "org_domain",
        ),
        (
            json!({"org_domain": "acme-admin.okta.com", "api_token": token}),
            422,
            "org_domain",
        ),
        (
            json!({"org_domain": okta_host(), "api_token": "short"}),
            422,
            "api_token",
        ),
        (json!({"org_domain": okta_host()}), 422, "api_token"),
        (
            json!({"org_domain": okta_host(), "api_token": token, "auth_type": "oauth_private_key_jwt"}),
            422,
            "auth_type",
        ),
        (
            json!({"org_domain": okta_host(), "api_token": token, "team_id": "nope"}),
            422,
            "team_id",
        ),
    ];
    for (body, status, field) in cases {
        let reply = user.api("POST", "/connections", Some(&body));
        assert_eq!(reply.status, status, "{body}: {}", reply.text());
        assert_eq!(reply.error_code(), "validation_failed");
        assert_eq!(reply.json()["error"]["field"], field);
    }
    // A well-formed token the org rejects.
    let reply = user.api(
        "POST",
        "/connections",
        Some(&json!({"org_domain": okta_host(), "api_token": "00WRONGtoken-aaaaaaaaaaaaaaaaaaaaaaaaaaaa"})),
    );
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (422, "okta_rejected"),
        "{}",
        reply.text()
    );
    assert!(!reply.text().contains("00WRONGtoken"));

    let url = format!("{}/api/v1/connections", worker());
    let auth = format!("Bearer {}", user.jwt);
    let json_headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let reply = call("POST", &url, &json_headers, Some(b"{\"org_domain\": "));
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "invalid_json")
    );
    let unknown =
        serde_json::to_vec(&json!({"org_domain": okta_host(), "api_token": token, "admin": true}))
            .unwrap();
    let reply = call("POST", &url, &json_headers, Some(&unknown));
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "invalid_json")
    );
    let reply = call(
        "POST",
        &url,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "text/plain"),
        ],
        Some(b"{}"),
    );
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (415, "unsupported_media_type")
    );
    let huge = vec![b' '; 100 * 1024];
    let reply = call("POST", &url, &json_headers, Some(&huge));
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (413, "payload_too_large")
    );

    assert_eq!(
        connection_count(&user),
        0,
        "a refused request stored a connection"
    );
    let team = psql(&format!(
        "select id from teams where created_by = '{}'",
        user.id
    ));
    assert!(
        activity(&team).is_empty(),
        "a refused request wrote an audit row"
    );
}

/// What a flooding client saw: the response, how long it took to come, and how many body bytes
/// the worker had let in by then.
struct Flood {
    reply: Reply,
    waited: std::time::Duration,
    sent: u64,
}

/// Sends a chunked body of `total` bytes (64 KiB chunks) from a second thread over a raw
/// connection, and reads the response as soon as it comes, while the body is still going out.
fn chunked_flood(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    total: u64,
) -> Flood {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let address = base.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\ntransfer-encoding: chunked\r\n\
         content-type: application/json\r\nconnection: close\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();

    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let mut writer = stream.try_clone().unwrap();
    let started = std::time::Instant::now();
    let sender = std::thread::spawn(move || {
        let mut chunk = b"10000\r\n".to_vec();
        chunk.extend(std::iter::repeat_n(b' ', 64 * 1024));
        chunk.extend(b"\r\n");
        while counter.load(Ordering::SeqCst) < total {
            if writer.write_all(&chunk).is_err() {
                return;
            }
            counter.fetch_add(64 * 1024, Ordering::SeqCst);
        }
        let _ = writer.write_all(b"0\r\n\r\n");
    });

    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let waited = started.elapsed();
    let at_response = sent.load(Ordering::SeqCst);
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no status line: {status_line:?}"))
        .parse()
        .unwrap();
    let mut response_headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            response_headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize = response_headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("the error response has a length");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    sender.join().unwrap();
    Flood {
        reply: Reply {
            status,
            headers: response_headers,
            body,
        },
        waited,
        sent: at_response,
    }
}

/// Run alone (`--include-ignored`): wrangler dev's local proxy (not the worker) turns a response
/// sent while the body is still arriving into `503 Your worker restarted mid-request` at random,
/// and once left the stack unable to answer the tests after it. Cloudflare's edge passes the
/// worker's answer on; the cap itself is unit-tested on endless chunked streams (`api::body`),
/// and `a_chunked_body_over_the_cap_is_refused_and_the_connection_still_serves` runs in the suite.
#[test]
#[ignore = "wrangler dev's proxy answers 503 when the worker replies mid-body; run alone with --include-ignored"]
fn an_80_mb_chunked_body_is_refused_fast_without_being_read() {
    const TOTAL: u64 = 80 * 1024 * 1024;
    let user = new_user();
    let auth = format!("Bearer {}", user.jwt);
    let cases = [
        // A method the path does not serve: answered before any body is read.
        ("POST", "/api/v1/health", vec![], 405, "method_not_allowed"),
        // A route that takes one: read only until it passes 64 KiB.
        (
            "POST",
            "/api/v1/connections",
            vec![("authorization", auth.as_str())],
            413,
            "payload_too_large",
        ),
    ];
    for (method, path, headers, status, code) in cases {
        let flood = chunked_flood(&worker(), method, path, &headers, TOTAL);
        let what = format!(
            "{method} {path}: HTTP {} after {:?}, {} bytes sent",
            flood.reply.status, flood.waited, flood.sent
        );
        println!("{what}");
        assert_eq!(flood.reply.status, status, "{what}");
        assert_eq!(flood.reply.error_code(), code, "{what}");
        // Reading the whole body would have taken every byte; what got in is what the sockets
        // between client and worker hold, far from the 80 MB.
        assert!(flood.sent < TOTAL / 4, "{what}");
    }
    assert_eq!(
        connection_count(&user),
        0,
        "a refused body stored a connection"
    );
}

/// A chunked body (no `Content-Length`) over the route's 64 KiB cap, sent whole before the
/// answer: 413, nothing stored, and the stack answers the next request.
#[test]
fn a_chunked_body_over_the_cap_is_refused_and_the_connection_still_serves() {
    let user = new_user();
    let auth = format!("Bearer {}", user.jwt);
    let flood = chunked_flood(
        &worker(),
        "POST",
        "/api/v1/connections",
        &[("authorization", auth.as_str())],
        256 * 1024,
    );
    assert_eq!(
        (flood.reply.status, flood.reply.error_code().as_str()),
        (413, "payload_too_large"),
        "{}",
        flood.reply.text()
    );
    assert_eq!(connection_count(&user), 0);
    let next = call("GET", &format!("{}/api/v1/health", worker()), &[], None);
    assert_eq!(next.status, 200);
}
