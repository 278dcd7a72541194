//! Plain HTTP refused through the worker: a second `wrangler dev` of the same build, configured
//! as production is (`REQUIRE_HTTPS` unset, so true; its public URLs https; no dev-only sign-in,
//! which the worker refuses beside required HTTPS), answers every
//! plain-HTTP request with 403 `https_required` before authenticating or storing anything. (The stack's own worker runs
//! with `REQUIRE_HTTPS=false`: wrangler dev serves loopback HTTP.)

use crate::support::*;
use crate::worker_instance::WorkerInstance;

#[test]
fn plain_http_is_refused_before_anything_else() {
    let user = new_user();
    let strict = WorkerInstance::start(
        "strict",
        &[
            ("PUBLIC_BASE_URL", "https://butterfly.example"),
            ("APP_URL", "https://butterfly.example"),
        ],
        &["REQUIRE_HTTPS", "DEV_SIGN_IN_USER"],
    );

    let health = call("GET", &format!("{}/api/v1/health", strict.url), &[], None);
    assert_eq!(
        (health.status, health.error_code()),
        (403, "https_required".into()),
        "{}",
        health.text()
    );
    assert_eq!(
        health.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );

    // A valid credential and a valid body: refused all the same, and nothing is stored.
    let count = || {
        service(
            "GET",
            &format!("okta_connections?created_by=eq.{}&select=id", user.id),
            None,
        )
        .json()
        .as_array()
        .unwrap()
        .len()
    };
    let body = serde_json::to_vec(&okta_connection_body()).unwrap();
    let auth = format!("Bearer {}", user.jwt);
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let refused = call(
        "POST",
        &format!("{}/api/v1/connections", strict.url),
        &headers,
        Some(&body),
    );
    assert_eq!(
        (refused.status, refused.error_code()),
        (403, "https_required".into())
    );
    assert!(!refused.text().contains(&user.id), "{}", refused.text());
    assert_eq!(count(), 0);

    // The same request to the stack's loopback-exempt worker is served: the refusal is the
    // setting's, not a broken request's.
    let served = call(
        "POST",
        &format!("{}/api/v1/connections", worker()),
        &headers,
        Some(&body),
    );
    assert_eq!(served.status, 201, "{}", served.text());
    assert_eq!(count(), 1);
    let id = served.json()["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    user.api("DELETE", &format!("/connections/{id}"), None);
}
