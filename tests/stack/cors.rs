//! Browser policy through the real worker: CORS only for the configured allow-list (the local
//! stack allows `https://app.butterfly.test`), preflights answered accordingly.

use crate::support::*;

#[test]
fn cors_headers_only_for_allowed_origins_and_preflight_follows() {
    let url = format!("{}/api/v1/health", worker());
    let allowed = call(
        "GET",
        &url,
        &[("origin", "https://app.butterfly.test")],
        None,
    );
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.butterfly.test")
    );
    let other = call("GET", &url, &[("origin", "https://evil.example")], None);
    assert_eq!(other.status, 200);
    assert!(other
        .headers
        .iter()
        .all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control")));

    let pre = call(
        "OPTIONS",
        &format!("{}/api/v1/connections", worker()),
        &[
            ("origin", "https://app.butterfly.test"),
            ("access-control-request-method", "POST"),
        ],
        None,
    );
    assert_eq!(pre.status, 204);
    assert!(pre
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    let denied = call(
        "OPTIONS",
        &format!("{}/api/v1/connections", worker()),
        &[("origin", "https://evil.example")],
        None,
    );
    assert_eq!(denied.status, 403);
    assert!(denied.header("access-control-allow-origin").is_none());
}
