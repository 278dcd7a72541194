//! The System Log: Okta's polling and bounded-query semantics, query validation, its rate
//! bucket, and events that conform to the spec's `LogEvent` schema.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use okta_emulator::{Bucket, EmulatorConfig, RateLimits};
use serde_json::{json, Value};

use crate::schema::Spec;
use crate::support::{assert_okta_error, get, get_ok, send, start, start_default, SSWS};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// An ISO 8601 time `ago` before now, URL-encoded for a query.
pub fn iso_ago(ago: Duration) -> String {
    iso(now_ms() - ago.as_millis() as u64)
}

pub fn iso(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, day) = (secs / 86_400, secs % 86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}%3A{:02}%3A{:02}.{:03}Z",
        day / 3600,
        day % 3600 / 60,
        day % 60,
        ms % 1000
    )
}

/// Posts a batch to `/__emulator/changes` with the default admin token; returns the results.
pub fn change(base: &str, batch: &Value) -> Vec<Value> {
    let response = send(
        "POST",
        &format!("{base}/__emulator/changes"),
        &[
            ("Authorization", SSWS),
            ("Content-Type", "application/json"),
        ],
        Some(&batch.to_string()),
    );
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()["results"].as_array().unwrap().clone()
}

/// One request in a batch; asserts its status and returns its result.
pub fn one(base: &str, method: &str, path: &str, body: Value, status: u16) -> Value {
    let request = json!({ "method": method, "path": path, "body": body });
    let result = change(base, &json!({ "requests": [request] })).remove(0);
    assert_eq!(result["status"], status, "{method} {path}: {result}");
    result
}

fn events(response: &crate::support::Response) -> Vec<Value> {
    response.json().as_array().unwrap().clone()
}

fn event_types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["eventType"].as_str().unwrap().to_owned())
        .collect()
}

fn new_group(base: &str, name: &str) -> Value {
    one(
        base,
        "POST",
        "/api/v1/groups",
        json!({ "profile": { "name": name } }),
        200,
    )
}

#[test]
fn every_event_conforms_to_the_log_event_schema() {
    let emulator = start_default();
    let base = emulator.base_url();
    let since = iso_ago(Duration::from_secs(2 * 86_400));
    // The seeded sign-in history first.
    let history = get_ok(&format!("{base}/api/v1/logs?since={since}&limit=1000"));
    let history = events(&history);
    assert_eq!(history.len(), 50);
    let types = event_types(&history);
    for kind in [
        "user.session.start",
        "policy.evaluate_sign_on",
        "user.authentication.sso",
    ] {
        assert!(types.iter().any(|t| t == kind), "{kind}");
    }
    // Then events of every kind of change.
    let group = new_group(&base, "Log schema group");
    let group_id = group["body"]["id"].as_str().unwrap();
    let user = emulator.tenant().users()[1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    one(
        &base,
        "PUT",
        &format!("/api/v1/groups/{group_id}/users/{user}"),
        Value::Null,
        204,
    );
    one(
        &base,
        "POST",
        &format!("/api/v1/users/{user}/roles"),
        json!({"type": "HELP_DESK_ADMIN"}),
        201,
    );
    let spec = Spec::load();
    let schema = spec.response("/api/v1/logs").clone();
    let all = emulator.log_events();
    assert!(all.len() > history.len());
    let errors = spec.violations(&Value::Array(all.clone()), &schema);
    assert!(errors.is_empty(), "{errors:#?}");
    // No event falls back to a generic message: each has Okta's.
    assert!(all.iter().all(|e| e["displayMessage"] != "Okta event"));
    // Events are distinct and typed as the schema declares.
    let uuids: std::collections::HashSet<&str> =
        all.iter().map(|e| e["uuid"].as_str().unwrap()).collect();
    assert_eq!(uuids.len(), all.len());
    assert!(all.iter().all(|e| e["version"] == "0"));
}

#[test]
fn polling_follows_next_links_forever_and_picks_up_new_events() {
    let emulator = start_default();
    let base = emulator.base_url();
    // Nothing has happened in the last minute: an empty page that still has a `next` link.
    let since = iso_ago(Duration::from_secs(60));
    let first = get_ok(&format!(
        "{base}/api/v1/logs?since={since}&sortOrder=ASCENDING&limit=2"
    ));
    assert_eq!(events(&first), Vec::<Value>::new());
    let next = first.next_link().expect("polling always has a next link");
    assert!(!next.contains("since="), "{next}");
    assert!(
        next.contains("limit=2") && next.contains("sortOrder=ASCENDING"),
        "{next}"
    );
    let again = get_ok(&next);
    assert_eq!(events(&again), Vec::<Value>::new());
    assert_eq!(
        again.next_link().unwrap(),
        next,
        "no new events: the cursor stays"
    );

    // Three changes: the same link now returns them, two a page.
    for n in 0..3 {
        new_group(&base, &format!("Polled group {n}"));
    }
    let page = get_ok(&next);
    let got = events(&page);
    assert_eq!(
        event_types(&got),
        ["group.lifecycle.create", "group.lifecycle.create"]
    );
    assert_eq!(got[0]["target"][0]["displayName"], "Polled group 0");
    let page = get_ok(&page.next_link().unwrap());
    let got = events(&page);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["target"][0]["displayName"], "Polled group 2");
    // Caught up: empty again, with a next link that will carry the next change.
    let caught_up = get_ok(&page.next_link().unwrap());
    assert!(events(&caught_up).is_empty());
    new_group(&base, "Polled group 3");
    let later = events(&get_ok(&caught_up.next_link().unwrap()));
    assert_eq!(later[0]["target"][0]["displayName"], "Polled group 3");
    // The cursor is Okta's shape: `<epoch ms>_<sequence>`.
    let cursor = next.split("after=").nth(1).unwrap();
    let (ms, seq) = cursor.split_once('_').unwrap();
    assert!(
        ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok(),
        "{cursor}"
    );
    // A polling request without `sortOrder` is ASCENDING too.
    assert!(get_ok(&format!("{base}/api/v1/logs?since={since}"))
        .next_link()
        .is_some());
}

#[test]
fn bounded_queries_order_by_published_and_end() {
    let emulator = start_default();
    let base = emulator.base_url();
    // Backdated changes: stored now, published an hour and two hours ago.
    let two_hours = now_ms() - 2 * 3_600_000;
    for (name, published) in [("Late", now_ms() - 3_600_000), ("Early", two_hours)] {
        change(
            &base,
            &json!({
                "published": iso(published).replace("%3A", ":"),
                "requests": [{"method": "POST", "path": "/api/v1/groups", "body": {"profile": {"name": name}}}],
            }),
        );
    }
    let since = iso(two_hours - 60_000);
    let until = iso(now_ms() - 1_800_000);
    let filter = "filter=eventType%20eq%20%22group.lifecycle.create%22";
    let url = format!("{base}/api/v1/logs?since={since}&until={until}&{filter}&limit=1");
    let first = get_ok(&url);
    assert_eq!(events(&first)[0]["target"][0]["displayName"], "Early");
    let second = get_ok(&first.next_link().expect("more in the window"));
    assert_eq!(events(&second)[0]["target"][0]["displayName"], "Late");
    assert!(
        second.next_link().is_none(),
        "the last page of a bounded query ends"
    );
    // DESCENDING without `until` is bounded by now.
    let desc = events(&get_ok(&format!(
        "{base}/api/v1/logs?since={since}&{filter}&sortOrder=DESCENDING"
    )));
    assert_eq!(desc.len(), 2);
    assert_eq!(desc[0]["target"][0]["displayName"], "Late");
    assert_eq!(desc[1]["target"][0]["displayName"], "Early");
    assert!(get_ok(&format!(
        "{base}/api/v1/logs?since={since}&{filter}&sortOrder=DESCENDING"
    ))
    .next_link()
    .is_none());
    // Polling returns them in storage order instead: Late was stored first.
    let polled = events(&get_ok(&format!(
        "{base}/api/v1/logs?since={since}&{filter}"
    )));
    assert_eq!(polled[0]["target"][0]["displayName"], "Late");
}

#[test]
fn events_past_retention_are_gone_and_old_since_is_refused() {
    let emulator = start_default();
    let base = emulator.base_url();
    let day = 86_400_000;
    change(
        &base,
        &json!({
            "published": iso(now_ms() - 100 * day).replace("%3A", ":"),
            "requests": [{"method": "POST", "path": "/api/v1/groups", "body": {"profile": {"name": "Ancient"}}}],
        }),
    );
    let since = iso(now_ms() - 150 * day);
    let found = events(&get_ok(&format!(
        "{base}/api/v1/logs?since={since}&until={}&q=Ancient",
        iso(now_ms())
    )));
    assert!(found.is_empty(), "older than the 90-day retention");
    let old = get(
        &format!("{base}/api/v1/logs?since={}", iso(now_ms() - 181 * day)),
        SSWS,
    );
    let body = assert_okta_error(&old, 400, "E0000053");
    assert_eq!(
        body["errorSummary"],
        "Invalid parameter: The since parameter is over 180 days prior to the current day."
    );
}

#[test]
fn query_errors_are_oktas() {
    let emulator = start_default();
    let base = emulator.base_url();
    let logs = format!("{base}/api/v1/logs");
    let bad_date = get(&format!("{logs}?until=yesterday"), SSWS);
    let body = assert_okta_error(&bad_date, 400, "E0000001");
    assert_eq!(body["errorCauses"].as_array().unwrap().len(), 2);
    assert!(body["errorSummary"]
        .as_str()
        .unwrap()
        .contains("'until': The date format in your query is not recognized"));
    let bad_op = get(
        &format!("{logs}?filter=display_message%20eqq%20%22Create%20okta%20user%22"),
        SSWS,
    );
    let body = assert_okta_error(&bad_op, 400, "E0000053");
    assert_eq!(
        body["errorSummary"],
        "Invalid filter 'display_message eqq \"Create okta user\"': Unrecognized attribute operator 'eqq' at position 16. Expected: eq,co,sw,pr,gt,ge,lt,le"
    );
    assert_okta_error(
        &get(
            &format!("{logs}?filter=published%20gt%20%222024-01-01T00:00:00Z%22"),
            SSWS,
        ),
        400,
        "E0000053",
    );
    let long = "x".repeat(41);
    let body = assert_okta_error(&get(&format!("{logs}?q={long}"), SSWS), 400, "E0000001");
    assert!(body["errorSummary"]
        .as_str()
        .unwrap()
        .contains("longer than 40 characters"));
    let eleven = (0..11)
        .map(|i| format!("k{i}"))
        .collect::<Vec<_>>()
        .join("+");
    assert_okta_error(&get(&format!("{logs}?q={eleven}"), SSWS), 400, "E0000001");
    for query in ["limit=-1", "limit=x", "sortOrder=SIDEWAYS"] {
        assert_okta_error(&get(&format!("{logs}?{query}"), SSWS), 400, "E0000001");
    }
    // `since` and `after` exclude each other; a cursor must be one of Okta's.
    let since = iso_ago(Duration::from_secs(60));
    assert_okta_error(
        &get(&format!("{logs}?since={since}&after=1_1"), SSWS),
        400,
        "E0000001",
    );
    assert_okta_error(
        &get(&format!("{logs}?after=nonsense"), SSWS),
        400,
        "E0000029",
    );
    // Large limits are clamped to 1000.
    let page = get_ok(&format!(
        "{logs}?since={}&limit=5000",
        iso_ago(Duration::from_secs(2 * 86_400))
    ));
    assert_eq!(events(&page).len(), 50);
}

#[test]
fn filter_and_keywords_select_events() {
    let emulator = start_default();
    let base = emulator.base_url();
    let group = new_group(&base, "Finance Reviewers");
    let group_id = group["body"]["id"].as_str().unwrap().to_owned();
    new_group(&base, "Unrelated-Team");
    let since = iso_ago(Duration::from_secs(120));
    let by_target = events(&get_ok(&format!(
        "{base}/api/v1/logs?since={since}&filter=target.id%20eq%20%22{group_id}%22"
    )));
    assert_eq!(by_target.len(), 1);
    assert_eq!(by_target[0]["target"][0]["id"], group_id.as_str());
    // Keywords match whole words, case-insensitively; hyphenated words in parts too.
    let words = events(&get_ok(&format!(
        "{base}/api/v1/logs?since={since}&q=finance+REVIEWERS"
    )));
    assert_eq!(words.len(), 1);
    let part = events(&get_ok(&format!("{base}/api/v1/logs?since={since}&q=team")));
    assert_eq!(part[0]["target"][0]["displayName"], "Unrelated-Team");
    assert!(events(&get_ok(&format!(
        "{base}/api/v1/logs?since={since}&q=financ"
    )))
    .is_empty());
    let sw = events(&get_ok(&format!(
        "{base}/api/v1/logs?since={since}&filter=eventType%20sw%20%22group.%22%20and%20not%20(target.id%20eq%20%22{group_id}%22)"
    )));
    assert_eq!(sw.len(), 1);
    assert_eq!(sw[0]["target"][0]["displayName"], "Unrelated-Team");
}

#[test]
fn the_system_log_has_its_own_rate_bucket() {
    let emulator = start_default();
    let logs = format!("{}/api/v1/logs", emulator.base_url());
    let response = get_ok(&logs);
    assert_eq!(response.rate_header("X-Rate-Limit-Limit"), 50);
    let mut limits = RateLimits::default();
    limits.set(Bucket::Logs, 2);
    let emulator = start(EmulatorConfig {
        rate_limits: limits,
        ..EmulatorConfig::default()
    });
    let logs = format!("{}/api/v1/logs", emulator.base_url());
    let statuses: Vec<u16> = (0..4).map(|_| get(&logs, SSWS).status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    // Other buckets are untouched.
    get_ok(&format!("{}/api/v1/users", emulator.base_url()));
}

#[test]
fn scopes_guard_the_system_log() {
    let emulator = start(EmulatorConfig {
        bearer_tokens: vec![
            okta_emulator::BearerToken {
                token: "logs".to_owned(),
                scopes: vec!["okta.logs.read".to_owned()],
            },
            okta_emulator::BearerToken {
                token: "users".to_owned(),
                scopes: vec!["okta.users.read".to_owned()],
            },
        ],
        ..EmulatorConfig::default()
    });
    let logs = format!("{}/api/v1/logs", emulator.base_url());
    assert_eq!(get(&logs, "Bearer logs").status, 200);
    assert_okta_error(&get(&logs, "Bearer users"), 403, "E0000006");
}
