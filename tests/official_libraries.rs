//! Butterfly's webhook verifiers against the providers' own libraries: Node scripts in
//! `tests/official/` sign (or verify) with `stripe` and `@sendgrid/eventwebhook` from
//! `node_modules` (installed by scripts/bootstrap.sh) and print their verdicts; every verdict
//! must match ours. A verifier tested only against itself could agree with a wrong signer.

use std::path::Path;
use std::process::Command;

use butterfly::billing::stripe::signature::{verify, WebhookSecret};
use butterfly::email::event_webhook::{EventWebhookKey, EventWebhookVerifier};

/// Runs a script from tests/official and parses its JSON output.
fn node(script: &str) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("node")
        .arg(root.join("tests/official").join(script))
        .current_dir(root)
        .output()
        .expect("node is required for these tests (scripts/bootstrap.sh installs the packages)");
    assert!(
        output.status.success(),
        "{script} failed (run scripts/bootstrap.sh for node_modules): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("script prints JSON")
}

#[test]
fn stripe_signature_verdicts_match_stripes_library() {
    let cases = node("stripe_webhooks.cjs");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 10);
    let (mut accepted, mut refused) = (0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let secret = WebhookSecret::parse(case["secret"].as_str().unwrap()).unwrap();
        let ours = verify(
            case["payload"].as_str().unwrap().as_bytes(),
            case["header"].as_str(),
            &[secret],
            case["now"].as_i64().unwrap(),
            case["tolerance"].as_i64().unwrap(),
        );
        let stripe_ok = case["stripe_ok"].as_bool().unwrap();
        assert_eq!(
            ours.is_ok(),
            stripe_ok,
            "{name}: ours {ours:?}, Stripe's {stripe_ok}"
        );
        if stripe_ok {
            accepted += 1
        } else {
            refused += 1
        }
    }
    // Both verdicts are exercised, so agreement is not agreement on "always no".
    assert!(
        accepted >= 4 && refused >= 6,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn sendgrid_signature_verdicts_match_sendgrids_library() {
    let out = node("sendgrid_eventwebhook.cjs");
    let key = EventWebhookKey::parse(out["public_key"].as_str().unwrap()).unwrap();
    let verifier = EventWebhookVerifier::new(vec![key]);
    let cases = out["cases"].as_array().unwrap();
    let (mut accepted, mut refused) = (0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let ours = verifier.verify(
            case["payload"].as_str().unwrap().as_bytes(),
            case["signature"].as_str(),
            case["timestamp"].as_str(),
        );
        let theirs = case["sendgrid_ok"].as_bool().unwrap();
        assert_eq!(
            ours.is_ok(),
            theirs,
            "{name}: ours {ours:?}, SendGrid's {theirs}"
        );
        if theirs {
            accepted += 1
        } else {
            refused += 1
        }
    }
    assert!(
        accepted >= 2 && refused >= 4,
        "{accepted} accepted, {refused} refused"
    );
}
