//! Compliance runs over the emulator's demo tenant: known findings from a real backup, the daily
//! cron, the remediation workflow with its audit trail, and tenancy.

use crate::support::*;
use butterfly::compliance::{evaluate, EvalContext, Outcome};
use butterfly::tenant::{ResourceType, TenantSnapshot};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Every check's outcome on the emulator's demo tenant. The tenant is generated from a fixed seed
/// with 2024 timestamps, so the result does not depend on the day the suite runs. Why each holds
/// (see `tools/okta-emulator/src/tenant/`):
/// - password policies: `minLength` 8/14, `historyCount` 4, `maxAttempts` 10, SMS/voice recovery,
///   a 0-minute minimum age and a policy without every character class → the password checks fail;
/// - global session rules: idle 120/30 minutes, lifetimes over 18 h → fail;
/// - no authentication rule asks for registered or assured devices → CIS 1.3/1.4 fail;
/// - 5 apps, all active and assigned, one to Everyone, no SWA shared credentials, no implicit
///   grant or SHA-1 → inventory passes, the Everyone assignment fails;
/// - users: 2024 sign-ins (dormant), stale STAGED/PROVISIONED, PASSWORD_EXPIRED and LOCKED_OUT
///   accounts, suspended users still assigned → the lifecycle checks fail;
/// - zones, authenticators, admin roles, ThreatInsight, API tokens and IdPs come from the
///   emulator's spec-example payloads, so those checks pass or fail on real shapes;
/// - the apps list has no first-party `saasure`/`okta_enduser` app → the four Admin Console and
///   Dashboard app-policy checks (BF-CIS4-004..007) are `error`, never `pass`.
const EXPECTED: &[(&str, &str)] = &[
    ("BF-CIS1-001", "pass"),
    ("BF-CIS1-002", "pass"),
    ("BF-CIS1-003", "fail"),
    ("BF-CIS1-004", "fail"),
    ("BF-CIS2-001", "pass"),
    ("BF-CIS2-002", "pass"),
    ("BF-CIS2-003", "pass"),
    ("BF-CIS2-004", "fail"),
    ("BF-CIS2-005", "pass"),
    ("BF-CIS2-006", "pass"),
    ("BF-CIS2-007", "pass"),
    ("BF-CIS4-001", "fail"),
    ("BF-CIS4-002", "fail"),
    ("BF-CIS4-003", "pass"),
    ("BF-CIS4-004", "error"),
    ("BF-CIS4-005", "error"),
    ("BF-CIS4-006", "error"),
    ("BF-CIS4-007", "error"),
    ("BF-CIS4-008", "pass"),
    ("BF-CIS4-009", "pass"),
    ("BF-CIS4-010", "pass"),
    ("BF-CIS4-011", "fail"),
    ("BF-CIS4-012", "fail"),
    ("BF-CIS4-013", "fail"),
    ("BF-CIS4-014", "fail"),
    ("BF-CIS4-015", "fail"),
    ("BF-CIS5-001", "fail"),
    ("BF-CIS5-002", "fail"),
    ("BF-CIS5-003", "pass"),
    ("BF-CIS5-004", "fail"),
    ("BF-CIS5-005", "fail"),
    ("BF-CIS5-006", "fail"),
    ("BF-CIS5-007", "pass"),
    ("BF-CIS5-008", "fail"),
    ("BF-CIS5-009", "fail"),
    ("BF-CIS5-010", "pass"),
    ("BF-CIS5-011", "fail"),
    ("BF-CIS5-012", "fail"),
    ("BF-CIS5-013", "fail"),
    ("BF-CIS5-014", "fail"),
    ("BF-CIS5-015", "fail"),
    ("BF-CIS5-016", "fail"),
    ("BF-CIS5-017", "pass"),
    ("BF-CIS5-018", "pass"),
];

/// Checks that need a resource type the backup does not collect: they must report `error`.
fn needs_uncollected() -> Vec<String> {
    let mut snapshot = TenantSnapshot::default();
    for t in ResourceType::ALL {
        snapshot.resources.insert(t, Vec::new());
    }
    let now = chrono::DateTime::from_timestamp(now(), 0).unwrap();
    evaluate(&snapshot, &EvalContext::at(now))
        .into_iter()
        .filter(|f| f.outcome == Outcome::Error && f.message.contains("not in snapshot"))
        .map(|f| f.check_id.to_string())
        .collect()
}

fn outcomes(findings: &Value) -> BTreeMap<String, String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check_id"].as_str().unwrap().to_string(),
                f["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A user with a connection, a complete backup, and one on-demand compliance run of it.
struct Evaluated {
    user: User,
    connection: String,
    team: String,
    backup: String,
    run: Value,
    findings: Value,
}

fn evaluated() -> Evaluated {
    let user = new_user();
    let connection = user.create_connection();
    let backup = user.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    let reply = user.api(
        "POST",
        &format!("/connections/{connection}/compliance-runs"),
        None,
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    Evaluated {
        team: backup["team_id"].as_str().unwrap().to_string(),
        backup: backup["id"].as_str().unwrap().to_string(),
        run: body["run"].clone(),
        findings: body["findings"].clone(),
        user,
        connection,
    }
}

/// Deletes a test's connection so later cron tests (which visit every active connection, and
/// back up each in one invocation) do not carry it.
fn retire(user: &User, connection: &str) {
    let reply = user.api("DELETE", &format!("/connections/{connection}"), None);
    assert!(reply.status < 300, "{}", reply.text());
}

fn first_failing(findings: &Value) -> String {
    findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["outcome"] == "fail")
        .expect("the demo tenant fails at least one check")["check_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn remediation(connection: &str, check: &str) -> Value {
    service(
        "GET",
        &format!("compliance_remediations?connection_id=eq.{connection}&check_id=eq.{check}"),
        None,
    )
    .json()[0]
        .clone()
}

#[test]
fn a_run_over_the_demo_tenant_yields_the_known_findings() {
    let e = evaluated();
    let run = &e.run;
    assert_eq!(run["status"], "complete", "{run}");
    assert_eq!(run["backup_id"], json!(e.backup));
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["requested_by"], json!(e.user.id));

    let got = outcomes(&e.findings);
    assert_eq!(got.len(), butterfly::compliance::catalog().len());
    // Every resource type the engine reads is collected by the backup.
    assert_eq!(needs_uncollected(), Vec::<String>::new());
    let expected: BTreeMap<String, String> = EXPECTED
        .iter()
        .map(|(id, o)| (id.to_string(), o.to_string()))
        .collect();
    assert_eq!(got, expected);
    let count = |o: &str| got.values().filter(|v| *v == o).count() as u64;
    assert_eq!(run["pass_count"], count("pass"));
    assert_eq!(run["fail_count"], count("fail"));
    assert_eq!(run["error_count"], count("error"));
    assert_eq!(run["not_applicable_count"], count("not_applicable"));

    // Stored as returned; every failure opened a remediation, each with a system audit row.
    let stored = service(
        "GET",
        &format!(
            "compliance_findings?run_id=eq.{}&select=check_id,outcome",
            run["id"].as_str().unwrap()
        ),
        None,
    )
    .json();
    assert_eq!(stored.as_array().unwrap().len(), got.len());
    let open = service(
        "GET",
        &format!(
            "compliance_remediations?connection_id=eq.{}&select=check_id,state",
            e.connection
        ),
        None,
    )
    .json();
    assert_eq!(open.as_array().unwrap().len() as u64, count("fail"));
    assert!(open
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["state"] == "open"));
    let log = activity(&e.team);
    let transitions: Vec<&Value> = log
        .iter()
        .filter(|r| r["action"] == "finding.transition")
        .collect();
    assert_eq!(transitions.len() as u64, count("fail"));
    assert!(transitions.iter().all(|r| r["actor_type"] == "system"
        && r["actor_id"] == "compliance"
        && r["details"]["to"] == "open"));
    for action in ["compliance.start", "compliance.complete"] {
        let row = log
            .iter()
            .find(|r| r["action"] == action && r["target_id"] == run["id"])
            .unwrap_or_else(|| panic!("{action} event"));
        assert_eq!(row["actor_id"], json!(e.user.id));
    }

    // A second run reads the same snapshot only: with every Okta endpoint failing, it still
    // completes with the same findings.
    let fault = emulator(
        "POST",
        "/__emulator/faults",
        Some(&json!({"path_prefix": "/api/v1", "status": 503, "count": 100000})),
    );
    assert!(fault.status < 300, "{}", fault.text());
    let reply = e.user.api(
        "POST",
        &format!("/connections/{}/compliance-runs", e.connection),
        None,
    );
    let okta_down = emulator("GET", "/api/v1/org", None).status;
    assert!(emulator("POST", "/__emulator/reset", None).status < 300);
    assert_eq!(okta_down, 503, "the fault was in force during the run");
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json()["run"]["status"], "complete");
    assert_eq!(outcomes(&reply.json()["findings"]), got);

    // Runs are listed, fetched one by one, and feed the team's trend.
    let runs = e
        .user
        .api(
            "GET",
            &format!("/connections/{}/compliance-runs", e.connection),
            None,
        )
        .json();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 2);
    let one = e.user.api(
        "GET",
        &format!("/compliance-runs/{}", run["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(one.status, 200);
    assert_eq!(outcomes(&one.json()["findings"]), got);
    let trend = e
        .user
        .api("GET", &format!("/teams/{}/compliance-trend", e.team), None);
    assert_eq!(trend.status, 200, "{}", trend.text());
    let points = trend.json()["trend"].as_array().unwrap().clone();
    assert_eq!(points.len(), 1, "one point per connection and day");
    let rate = points[0]["pass_rate"].as_f64().unwrap();
    let expected = count("pass") as f64 / (count("pass") + count("fail")) as f64;
    assert!((rate - expected).abs() < 0.001, "{rate} vs {expected}");
    retire(&e.user, &e.connection);
}

#[test]
fn a_connection_without_a_complete_backup_cannot_be_evaluated_on_demand() {
    let user = new_user();
    let connection = user.create_connection();
    let reply = user.api(
        "POST",
        &format!("/connections/{connection}/compliance-runs"),
        None,
    );
    assert_eq!(reply.status, 409, "{}", reply.text());
    assert_eq!(reply.error_code(), "no_complete_backup");
    let runs = service(
        "GET",
        &format!("compliance_runs?connection_id=eq.{connection}"),
        None,
    )
    .json();
    assert_eq!(runs, json!([]));
    retire(&user, &connection);
}

#[test]
fn the_daily_cron_evaluates_connections_and_records_skips() {
    let e = evaluated();
    let other = new_user();
    let never_backed_up = other.create_connection();
    let reply = call(
        "GET",
        &format!("{}/__scheduled?cron=23+4+*+*+*", worker()),
        &[],
        None,
    );
    assert!(reply.status < 300, "{}", reply.text());

    let deadline = Instant::now() + Duration::from_secs(300);
    let scheduled = |user: &User, connection: &str| -> Option<Value> {
        let runs = user
            .api(
                "GET",
                &format!("/connections/{connection}/compliance-runs"),
                None,
            )
            .json();
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["trigger"] == "schedule" && r["status"] != "running")
            .cloned()
    };
    let (done, skipped) = loop {
        if let (Some(a), Some(b)) = (
            scheduled(&e.user, &e.connection),
            scheduled(&other, &never_backed_up),
        ) {
            break (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "the cron did not evaluate both connections"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(done["status"], "complete", "{done}");
    assert!(done["requested_by"].is_null());
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert!(skipped["error"]
        .as_str()
        .unwrap()
        .contains("no complete backup"));

    let log = activity(&e.team);
    for action in ["compliance.start", "compliance.complete"] {
        let row = log
            .iter()
            .find(|r| r["action"] == action && r["target_id"] == done["id"])
            .unwrap_or_else(|| panic!("{action} event"));
        assert_eq!(row["actor_type"], "system");
        assert_eq!(row["actor_id"], "compliance");
    }
    let other_team = psql(&format!(
        "select id from teams where created_by = '{}'",
        other.id
    ));
    assert!(activity(&other_team)
        .iter()
        .any(|r| r["action"] == "compliance.skip" && r["target_id"] == skipped["id"]));
    retire(&e.user, &e.connection);
    retire(&other, &never_backed_up);
}

#[test]
fn findings_move_through_the_workflow_with_an_audit_row_each() {
    let e = evaluated();
    let check = first_failing(&e.findings);
    let path = format!("/connections/{}/findings/{check}/transitions", e.connection);
    let audit_count = || {
        activity(&e.team)
            .iter()
            .filter(|r| r["action"] == "finding.transition" && r["actor_type"] == "user")
            .count()
    };

    let ack = e
        .user
        .api("POST", &path, Some(&json!({"to": "acknowledged"})));
    assert_eq!(ack.status, 200, "{}", ack.text());
    assert_eq!(ack.json()["remediation"]["state"], "acknowledged");
    assert_eq!(remediation(&e.connection, &check)["state"], "acknowledged");

    // Bad input is refused and changes nothing.
    let expires = |days: i64| {
        chrono::DateTime::from_timestamp(now() + days * 86_400, 0)
            .unwrap()
            .to_rfc3339()
    };
    for (body, status, field) in [
        (json!({"to": "resolved"}), 422, Some("to")),
        (
            json!({"to": "risk_accepted", "expires_at": expires(30)}),
            422,
            Some("justification"),
        ),
        (
            json!({"to": "risk_accepted", "justification": "vendor fix due"}),
            422,
            Some("expires_at"),
        ),
        (
            json!({"to": "risk_accepted", "justification": "vendor fix due", "expires_at": expires(400)}),
            422,
            Some("expires_at"),
        ),
        (
            json!({"to": "risk_accepted", "justification": " ", "expires_at": expires(30)}),
            422,
            Some("justification"),
        ),
        (
            json!({"to": "open", "justification": "x"}),
            422,
            Some("justification"),
        ),
        (json!({"to": "acknowledged", "note": "x"}), 400, None),
        (json!({"to": "acknowledged"}), 409, None),
    ] {
        let reply = e.user.api("POST", &path, Some(&body));
        assert_eq!(reply.status, status, "{body}: {}", reply.text());
        if let Some(field) = field {
            assert_eq!(reply.json()["error"]["field"], field, "{body}");
        }
    }
    let unknown = e.user.api(
        "POST",
        &format!(
            "/connections/{}/findings/BF-CIS9-999/transitions",
            e.connection
        ),
        Some(&json!({"to": "acknowledged"})),
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(remediation(&e.connection, &check)["state"], "acknowledged");
    assert_eq!(audit_count(), 1);

    // An operator may acknowledge and reopen but not accept risk; a viewer may only read.
    let operator = new_user();
    let viewer = new_user();
    psql(&format!(
        "insert into team_members (team_id, user_id, role) values ('{0}', '{1}', 'operator'), ('{0}', '{2}', 'viewer')",
        e.team, operator.id, viewer.id
    ));
    let accept = json!({"to": "risk_accepted", "justification": "compensating control: IP allow-list", "expires_at": expires(90)});
    assert_eq!(operator.api("POST", &path, Some(&accept)).status, 403);
    assert_eq!(
        viewer
            .api("POST", &path, Some(&json!({"to": "open"})))
            .status,
        403
    );
    assert_eq!(
        viewer
            .api(
                "GET",
                &format!("/connections/{}/findings", e.connection),
                None
            )
            .status,
        200
    );
    assert_eq!(audit_count(), 1);

    // The owner accepts the risk and is recorded as approver; an operator reopens it.
    let accepted = e.user.api("POST", &path, Some(&accept));
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    let row = remediation(&e.connection, &check);
    assert_eq!(row["state"], "risk_accepted");
    assert_eq!(row["approved_by"], json!(e.user.id));
    assert_eq!(row["justification"], "compensating control: IP allow-list");
    let reopened = operator.api("POST", &path, Some(&json!({"to": "open"})));
    assert_eq!(reopened.status, 200, "{}", reopened.text());
    let row = remediation(&e.connection, &check);
    assert_eq!(row["state"], "open");
    assert!(row["justification"].is_null() && row["expires_at"].is_null());

    let log = activity(&e.team);
    let user_rows: Vec<&Value> = log
        .iter()
        .filter(|r| r["action"] == "finding.transition" && r["actor_type"] == "user")
        .collect();
    let steps: Vec<(String, String, String)> = user_rows
        .iter()
        .map(|r| {
            (
                r["actor_id"].as_str().unwrap().to_string(),
                r["details"]["from"].as_str().unwrap().to_string(),
                r["details"]["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (e.user.id.clone(), "open".into(), "acknowledged".into()),
            (
                e.user.id.clone(),
                "acknowledged".into(),
                "risk_accepted".into()
            ),
            (operator.id.clone(), "risk_accepted".into(), "open".into()),
        ]
    );
    assert!(user_rows
        .iter()
        .all(|r| r["target_id"] == json!(format!("{}/{check}", e.connection))));

    // Filters: each returned finding matches; unknown values are refused with their field.
    let list = |q: &str| {
        e.user.api(
            "GET",
            &format!("/connections/{}/findings?{q}", e.connection),
            None,
        )
    };
    let high = list("severity=high&outcome=fail").json();
    assert!(high["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["severity"] == "high" && f["outcome"] == "fail"));
    let pci = list("framework=pci_dss_4").json();
    assert!(pci["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["mappings"]["pci_dss_4"]
            .as_array()
            .is_some_and(|c| !c.is_empty())));
    let open = list("state=open").json();
    assert!(open["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["check_id"] == json!(check)));
    let cis = list("control=5.3").json();
    assert!(cis["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["cis_safeguard"] == "5.3"));
    for (q, field) in [
        ("framework=sox", "framework"),
        ("severity=urgent", "severity"),
        ("outcome=passed", "outcome"),
        ("state=closed", "state"),
        ("control=nope", "control"),
        ("page=2", "query"),
    ] {
        let reply = list(q);
        assert_eq!(reply.status, 422, "{q}");
        assert_eq!(reply.json()["error"]["field"], field, "{q}");
    }
    retire(&e.user, &e.connection);
}

#[test]
fn the_next_run_resolves_passing_findings_and_reopens_failing_ones() {
    let e = evaluated();
    let got = outcomes(&e.findings);
    let passing = got
        .iter()
        .find(|(_, o)| *o == "pass")
        .expect("the demo tenant passes at least one check")
        .0
        .clone();
    let failing = first_failing(&e.findings);
    // As if the passing check had failed before and been acknowledged, and the failing one had
    // been accepted with an acceptance that has since expired.
    psql(&format!(
        "insert into compliance_remediations (connection_id, check_id, team_id, state) values ('{}', '{passing}', '{}', 'acknowledged');
         update compliance_remediations set state = 'risk_accepted', justification = 'temporary', approved_by = '{}', expires_at = now() - interval '1 minute'
           where connection_id = '{}' and check_id = '{failing}'",
        e.connection, e.team, e.user.id, e.connection
    ));
    let reply = e.user.api(
        "POST",
        &format!("/connections/{}/compliance-runs", e.connection),
        None,
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let run_id = reply.json()["run"]["id"].clone();
    assert_eq!(remediation(&e.connection, &passing)["state"], "resolved");
    let reopened = remediation(&e.connection, &failing);
    assert_eq!(reopened["state"], "open");
    assert!(reopened["approved_by"].is_null());
    let log = activity(&e.team);
    for (check, from, to) in [
        (&passing, "acknowledged", "resolved"),
        (&failing, "risk_accepted", "open"),
    ] {
        assert!(
            log.iter().any(|r| r["action"] == "finding.transition"
                && r["actor_id"] == "compliance"
                && r["details"]["check_id"] == json!(check)
                && r["details"]["from"] == from
                && r["details"]["to"] == to
                && r["details"]["run_id"] == run_id),
            "{check}: {from} -> {to}"
        );
    }
    retire(&e.user, &e.connection);
}

#[test]
fn another_team_neither_sees_nor_moves_findings() {
    let e = evaluated();
    let check = first_failing(&e.findings);
    let run_id = e.run["id"].as_str().unwrap();
    let bob = new_user();
    for (method, path, body) in [
        (
            "GET",
            format!("/connections/{}/findings", e.connection),
            None,
        ),
        (
            "GET",
            format!("/connections/{}/compliance-runs", e.connection),
            None,
        ),
        (
            "POST",
            format!("/connections/{}/compliance-runs", e.connection),
            None,
        ),
        ("GET", format!("/compliance-runs/{run_id}"), None),
        ("GET", format!("/teams/{}/compliance-trend", e.team), None),
        (
            "POST",
            format!("/connections/{}/findings/{check}/transitions", e.connection),
            Some(json!({"to": "acknowledged"})),
        ),
    ] {
        let reply = bob.api(method, &path, body.as_ref());
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text());
    }
    for table in [
        "compliance_runs",
        "compliance_findings",
        "compliance_remediations",
        "compliance_trend",
    ] {
        let rows = bob.rest(
            "GET",
            &format!("{table}?connection_id=eq.{}", e.connection),
            None,
        );
        assert_eq!(rows.status, 200, "{table}: {}", rows.text());
        assert_eq!(rows.json(), json!([]), "{table}");
        // Members read their own team's rows directly.
        let mine = e.user.rest(
            "GET",
            &format!("{table}?connection_id=eq.{}", e.connection),
            None,
        );
        assert!(!mine.json().as_array().unwrap().is_empty(), "{table}");
    }
    // Nobody writes results or states around the worker, not even the owner.
    let forged = e.user.rest(
        "PATCH",
        &format!(
            "compliance_remediations?connection_id=eq.{}&check_id=eq.{check}",
            e.connection
        ),
        Some(&json!({"state": "resolved"})),
    );
    assert!(
        forged.status == 401 || forged.status == 403,
        "{}",
        forged.text()
    );
    let forged = e.user.rest(
        "POST",
        "compliance_runs",
        Some(&json!({"id": "00000000-0000-4000-8000-000000000001", "team_id": e.team, "connection_id": e.connection, "trigger": "schedule", "status": "running"})),
    );
    assert!(
        forged.status == 401 || forged.status == 403,
        "{}",
        forged.text()
    );
    assert_eq!(remediation(&e.connection, &check)["state"], "open");
    retire(&e.user, &e.connection);
}
