//! The OpenAPI document as the worker serves it: public, cacheable, the same document the code
//! generates, and accepted by the standard validator (`openapi-spec-validator`, installed by
//! scripts/bootstrap.sh). Every other stack test checks its responses against it
//! (`support::call`).

use crate::support::{call, check_against_spec, worker, Reply};

#[test]
fn openapi_document_is_served_public_cached_and_valid() {
    let reply = call(
        "GET",
        &format!("{}/api/v1/openapi.json", worker()),
        &[],
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
    assert_eq!(reply.header("cache-control"), Some("public, max-age=300"));
    let served = reply.json();
    assert_eq!(served, butterfly::api::openapi::document_json());
    assert_eq!(served["openapi"], "3.1.0");
    assert!(served["paths"]["/api/v1/openapi.json"]["get"].is_object());

    let path = std::env::temp_dir().join(format!("served-openapi-{}.json", std::process::id()));
    std::fs::write(&path, &reply.body).unwrap();
    let validator = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.venv/bin/openapi-spec-validator"
    );
    let out = std::process::Command::new(validator)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("{validator}: {e} (run scripts/bootstrap.sh)"));
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "the served document is not valid OpenAPI:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The checker every call goes through refuses what the spec does not allow: a body that
    // breaks its schema, an undeclared status, an error code the route does not list.
    let fake = |status: u16, body: &str| Reply {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    };
    let refused = |path: &str, reply: Reply| {
        std::panic::catch_unwind(|| check_against_spec("GET", path, &reply)).is_err()
    };
    assert!(!refused("/api/v1/health", fake(200, r#"{"status":"ok"}"#)));
    assert!(refused("/api/v1/health", fake(200, r#"{"status":"nope"}"#)));
    assert!(refused("/api/v1/health", fake(401, r#"{}"#)));
    let error =
        |code: &str| format!(r#"{{"error":{{"code":"{code}","message":"m","request_id":"r"}}}}"#);
    assert!(!refused(
        "/api/v1/connections",
        fake(401, &error("unauthorized"))
    ));
    assert!(refused(
        "/api/v1/connections",
        fake(401, &error("forbidden"))
    ));
}
