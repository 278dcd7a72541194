//! Writes through the API itself: who Okta says made them, payloads checked against the spec's
//! request schemas, write rate limits and the concurrency limit, Okta's default objects, and the
//! empty sandbox org.

use std::thread;
use std::time::Duration;

use okta_emulator::{BearerToken, Bucket, EmulatorConfig, RateLimits};
use serde_json::{json, Value};

use crate::support::{assert_okta_error, get, get_ok, send, start, start_default, Response, SSWS};
use crate::syslog::iso_ago;

fn write(method: &str, url: &str, auth: &str, body: &Value) -> Response {
    send(
        method,
        url,
        &[
            ("Authorization", auth),
            ("Content-Type", "application/json"),
            ("User-Agent", "butterfly-restore/1.0"),
        ],
        Some(&body.to_string()),
    )
}

fn new_user(login: &str) -> Value {
    json!({"profile": {"firstName": "Ada", "lastName": "Lovelace", "email": login, "login": login}})
}

#[test]
fn api_writes_are_logged_as_the_token_owner_from_the_caller() {
    let emulator = start(EmulatorConfig {
        bearer_tokens: vec![
            BearerToken {
                token: "reader".to_owned(),
                scopes: vec!["okta.users.read".to_owned()],
            },
            BearerToken {
                token: "manager".to_owned(),
                scopes: vec!["okta.users.manage".to_owned()],
            },
        ],
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let since = iso_ago(Duration::from_secs(60));
    let created = write(
        "POST",
        &format!("{base}/api/v1/users?activate=false"),
        SSWS,
        &new_user("ada@example.com"),
    );
    assert_eq!(
        created.status,
        200,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let user = created.json();
    assert_eq!(user["status"], "STAGED");
    assert!(user["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .starts_with(&base));
    let request_id = created.header("X-Okta-Request-Id").unwrap().to_owned();
    // Writes count against Okta's buckets and say so.
    assert_eq!(created.rate_header("X-Rate-Limit-Limit"), 600);
    let events = get_ok(&format!("{base}/api/v1/logs?since={since}")).json();
    let event = &events[0];
    assert_eq!(event["eventType"], "user.lifecycle.create");
    assert_eq!(event["actor"]["id"], emulator.tenant().super_admin()["id"]);
    assert_eq!(event["client"]["ipAddress"], "127.0.0.1");
    assert_eq!(
        event["client"]["userAgent"]["rawUserAgent"],
        "butterfly-restore/1.0"
    );
    assert_eq!(event["transaction"]["id"], request_id.as_str());
    assert_eq!(event["target"][0]["id"], user["id"]);
    // An access token needs the `.manage` scope to write, and acts as its service app.
    let denied = write(
        "POST",
        &format!("{base}/api/v1/users"),
        "Bearer reader",
        &new_user("bo@example.com"),
    );
    assert_okta_error(&denied, 403, "E0000006");
    let allowed = write(
        "POST",
        &format!("{base}/api/v1/users"),
        "Bearer manager",
        &new_user("bo@example.com"),
    );
    assert_eq!(allowed.status, 200);
    let events = get_ok(&format!("{base}/api/v1/logs?since={since}")).json();
    let last = events.as_array().unwrap().last().unwrap();
    assert_eq!(last["actor"]["type"], "PublicClientApp");
    assert!(
        !last.to_string().contains("manager"),
        "the token never reaches the log"
    );
    // 204s have no body; deleting twice deletes.
    let id = user["id"].as_str().unwrap();
    for _ in 0..2 {
        let deleted = write(
            "DELETE",
            &format!("{base}/api/v1/users/{id}"),
            SSWS,
            &Value::Null,
        );
        assert_eq!(deleted.status, 204);
        assert!(deleted.body.is_empty());
    }
    assert_okta_error(
        &get(&format!("{base}/api/v1/users/{id}"), SSWS),
        404,
        "E0000007",
    );
}

#[test]
fn payloads_are_checked_against_the_spec_request_schemas() {
    let emulator = start_default();
    let base = emulator.base_url();
    // Not JSON at all.
    let garbled = send(
        "POST",
        &format!("{base}/api/v1/groups"),
        &[("Authorization", SSWS)],
        Some("{\"profile\": "),
    );
    assert_okta_error(&garbled, 400, "E0000003");
    // A SAML app without the sign-on settings the spec requires.
    let saml = json!({"label": "Half SAML", "signOnMode": "SAML_2_0", "settings": {"signOn": {"ssoAcsUrl": "https://x/acs"}}});
    let refused = write("POST", &format!("{base}/api/v1/apps"), SSWS, &saml);
    let body = assert_okta_error(&refused, 400, "E0000001");
    let causes: Vec<&str> = body["errorCauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["errorSummary"].as_str().unwrap())
        .collect();
    assert!(
        causes.iter().any(|c| c.contains("responseSigned")),
        "{causes:?}"
    );
    // Wrong types and enum values, in nested objects too.
    let bad_zone = json!({"type": "IP", "name": "Bad", "usage": "SOMETIMES"});
    assert_okta_error(
        &write("POST", &format!("{base}/api/v1/zones"), SSWS, &bad_zone),
        400,
        "E0000001",
    );
    let bad_user =
        json!({"profile": {"firstName": "A", "lastName": "B", "email": "a@b.c", "login": 42}});
    assert_okta_error(
        &write("POST", &format!("{base}/api/v1/users"), SSWS, &bad_user),
        400,
        "E0000001",
    );
    // Read-only fields a client sends back with a payload it read are ignored, not refused.
    let zone = get_ok(&format!("{base}/api/v1/zones/nzowc1U5Jh5xuAK0o0g3")).json();
    let mut renamed = zone.clone();
    renamed["name"] = json!("LegacyIpZone");
    let round_trip = write(
        "PUT",
        &format!("{base}/api/v1/zones/nzowc1U5Jh5xuAK0o0g3"),
        SSWS,
        &renamed,
    );
    assert_eq!(
        round_trip.status,
        200,
        "{}",
        String::from_utf8_lossy(&round_trip.body)
    );
    assert_eq!(round_trip.json()["id"], zone["id"]);
    // Nothing was changed by the refused writes.
    assert_eq!(
        get_ok(&format!("{base}/api/v1/apps"))
            .json()
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn writes_have_oktas_rate_limits_and_the_concurrency_limit() {
    let mut limits = RateLimits::default();
    limits.set(Bucket::UserWrites, 2);
    limits.set(Bucket::Apps, 1_000);
    let emulator = start(EmulatorConfig {
        rate_limits: limits,
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let user = emulator.tenant().users()[1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let update = json!({"profile": {"title": "Principal"}});
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            write(
                "POST",
                &format!("{base}/api/v1/users/{user}"),
                SSWS,
                &update,
            )
            .status
        })
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    let limited = write(
        "POST",
        &format!("{base}/api/v1/users/{user}"),
        SSWS,
        &update,
    );
    if limited.status == 429 {
        assert_okta_error(&limited, 429, "E0000047");
        assert_eq!(limited.rate_header("X-Rate-Limit-Limit"), 2);
    }
    // Reads of the same user are another bucket.
    get_ok(&format!("{base}/api/v1/users/{user}"));
    let stats = get_ok(&format!("{base}/__emulator/stats")).json();
    assert!(
        stats["rate_limit_buckets"]["user-writes"]["rate_limited"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(stats["rate_limit_buckets"]["user"]["rate_limited"], 0);

    // The org-wide concurrency limit counts writes as well.
    let emulator = start(EmulatorConfig {
        concurrency_limit: 1,
        page_delay: Duration::from_millis(300),
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let results: Vec<u16> = thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|n| {
                let base = &base;
                scope.spawn(move || {
                    let group = json!({"profile": {"name": format!("Concurrent {n}")}});
                    write("POST", &format!("{base}/api/v1/groups"), SSWS, &group).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        results.contains(&429) && results.contains(&200),
        "{results:?}"
    );
    let created = results.iter().filter(|s| **s == 200).count();
    assert_eq!(emulator.tenant().groups().len(), 7 + created);
}

#[test]
fn every_org_has_oktas_default_objects() {
    let emulator = start(EmulatorConfig {
        okta_defaults: true,
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let zones = get_ok(&format!("{base}/api/v1/zones")).json();
    let names: Vec<&str> = zones
        .as_array()
        .unwrap()
        .iter()
        .filter(|z| z["system"] == true)
        .map(|z| z["name"].as_str().unwrap())
        .collect();
    for zone in [
        "LegacyIpZone",
        "BlockedIpZone",
        "DefaultEnhancedDynamicZone",
        "DefaultExemptIpZone",
    ] {
        assert!(names.contains(&zone), "{zone}: {names:?}");
    }
    let apps = get_ok(&format!("{base}/api/v1/apps")).json();
    let console = apps
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "saasure")
        .expect("the Admin Console");
    assert_eq!(console["label"], "Okta Admin Console");
    // Its app sign-in policy exists and is one of the org's ACCESS_POLICY policies.
    let policy_href = console["_links"]["accessPolicy"]["href"].as_str().unwrap();
    let policy = get_ok(policy_href).json();
    assert_eq!(policy["type"], "ACCESS_POLICY");
    assert_eq!(policy["name"], "Okta Admin Console");
    assert!(apps
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "okta_enduser"));
    // First-party apps are updated, never deactivated or deleted; system objects likewise.
    let id = console["id"].as_str().unwrap();
    let refused = write(
        "POST",
        &format!("{base}/api/v1/apps/{id}/lifecycle/deactivate"),
        SSWS,
        &Value::Null,
    );
    assert_okta_error(&refused, 403, "E0000143");
    assert_okta_error(
        &write(
            "DELETE",
            &format!("{base}/api/v1/apps/{id}"),
            SSWS,
            &Value::Null,
        ),
        403,
        "E0000143",
    );
    let everyone = emulator.tenant().groups()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_okta_error(
        &write(
            "DELETE",
            &format!("{base}/api/v1/groups/{everyone}"),
            SSWS,
            &Value::Null,
        ),
        403,
        "E0000111",
    );
    get_ok(&format!("{base}/api/v1/authorizationServers/default"));
}

#[test]
fn a_sandbox_org_is_empty_but_for_oktas_defaults() {
    let production = start_default();
    let sandbox = start(EmulatorConfig {
        sandbox: true,
        seed: 2,
        ..EmulatorConfig::default()
    });
    assert_ne!(production.port(), sandbox.port());
    let base = sandbox.base_url();
    let org = get_ok(&format!("{base}/api/v1/org")).json();
    assert_ne!(
        org["id"],
        get_ok(&format!("{}/api/v1/org", production.base_url())).json()["id"]
    );
    assert_eq!(org["subdomain"], "example-sandbox");
    let users = get_ok(&format!("{base}/api/v1/users")).json();
    assert_eq!(users.as_array().unwrap().len(), 1, "only the super admin");
    let groups = get_ok(&format!("{base}/api/v1/groups")).json();
    assert_eq!(groups.as_array().unwrap().len(), 1);
    assert_eq!(groups[0]["profile"]["name"], "Everyone");
    let apps = get_ok(&format!("{base}/api/v1/apps")).json();
    let names: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["saasure", "okta_enduser"]);
    // Each policy type has only its defaults; custom rules are gone.
    for kind in okta_emulator::POLICY_TYPES {
        let policies = get_ok(&format!("{base}/api/v1/policies?type={kind}")).json();
        for policy in policies.as_array().unwrap() {
            let first_party =
                policy["name"] == "Okta Admin Console" || policy["name"] == "Okta Dashboard";
            assert!(policy["system"] == true || first_party, "{kind}: {policy}");
            let rules = get_ok(&format!(
                "{base}/api/v1/policies/{}/rules",
                policy["id"].as_str().unwrap()
            ))
            .json();
            assert!(
                rules
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r["system"] == true),
                "{kind}"
            );
        }
    }
    for empty in ["groups/rules", "idps", "eventHooks", "inlineHooks"] {
        assert_eq!(
            get_ok(&format!("{base}/api/v1/{empty}")).json(),
            json!([]),
            "{empty}"
        );
    }
    let zones = get_ok(&format!("{base}/api/v1/zones")).json();
    assert!(zones
        .as_array()
        .unwrap()
        .iter()
        .all(|z| z["system"] == true));
    assert_eq!(zones.as_array().unwrap().len(), 4);
    // It takes writes like any org, e.g. a restore recreating a group.
    let group = write(
        "POST",
        &format!("{base}/api/v1/groups"),
        SSWS,
        &json!({"profile": {"name": "Engineering"}}),
    );
    assert_eq!(group.status, 200);
    assert_eq!(sandbox.tenant().groups().len(), 2);
    assert_eq!(
        production.tenant().groups().len(),
        7,
        "the production org is untouched"
    );
    // The command line has it too.
    let config = EmulatorConfig::from_args(["--sandbox"]).unwrap();
    assert!(config.sandbox);
    assert_eq!(okta_emulator::tenant(&config).users().len(), 1);
}

#[test]
fn deleting_the_current_token_revokes_it() {
    let emulator = start(EmulatorConfig {
        api_tokens: vec!["mine".to_owned(), "other".to_owned()],
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let since = iso_ago(Duration::from_secs(60));
    let revoked = write(
        "DELETE",
        &format!("{base}/api/v1/api-tokens/current"),
        "SSWS mine",
        &Value::Null,
    );
    assert_eq!(revoked.status, 204);
    assert_okta_error(
        &get(&format!("{base}/api/v1/users"), "SSWS mine"),
        401,
        "E0000011",
    );
    let events = get(&format!("{base}/api/v1/logs?since={since}"), "SSWS other").json();
    let events: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["system.api_token.revoke"]);
}
