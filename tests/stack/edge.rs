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
