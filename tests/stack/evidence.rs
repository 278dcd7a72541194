//! The evidence routes on the real worker: a team's chain verified through the API and checked
//! against the anchor the cron job wrote to R2 (and a rewrite after anchoring caught), the Trust
//! Center page under its CSP, security.txt, the audit-pack signing keys, and an audit pack
//! exported through the route and checked with the auditor's verifier.

use crate::support::*;
use butterfly::evidence::signing::{parse_jwks, parse_public_key_pem};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn get(path: &str) -> Reply {
    call("GET", &format!("{}{path}", worker()), &[], None)
}

fn verification(user: &User, team: &str) -> Value {
    let reply = user.api("GET", &format!("/teams/{team}/audit/verify"), None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["verification"].clone()
}

fn team_of(user: &User) -> String {
    psql(&format!(
        "select id from teams where created_by = '{}'",
        user.id
    ))
}

fn write_rows(team: &str, n: usize) {
    for i in 0..n {
        let row = json!({"team_id": team, "actor_type": "system", "actor_id": "cron",
                         "action": "backup.schedule", "target_type": "backup",
                         "target_id": format!("b-{i}"), "details": {"n": i}});
        let reply = service("POST", "rpc/audit_insert", Some(&json!({ "p_audit": row })));
        assert_eq!(reply.status, 204, "{}", reply.text());
    }
}

#[test]
fn the_anchor_job_anchors_each_head_and_verify_catches_a_rewrite_after_it() {
    let user = new_user();
    let team = team_of(&user);
    write_rows(&team, 5);
    let head: i64 = psql(&format!(
        "select seq from activity_chain_heads where chain_team = '{team}'"
    ))
    .parse()
    .unwrap();
    let before = verification(&user, &team);
    assert_eq!(before["status"], "intact", "{before}");

    let cron = butterfly::config::DEFAULT_ANCHOR_CRON.replace(' ', "+");
    let reply = get(&format!("/__scheduled?cron={cron}"));
    assert!(reply.status < 300, "{}", reply.text());
    let deadline = Instant::now() + Duration::from_secs(60);
    let anchored = loop {
        let v = verification(&user, &team);
        if v["latest_anchor"].is_object() {
            break v;
        }
        assert!(Instant::now() < deadline, "no anchor written: {v}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(anchored["status"], "intact", "{anchored}");
    assert_eq!(anchored["anchors_checked"], 1);
    let anchor = &anchored["latest_anchor"];
    assert_eq!(anchor["format"], "butterfly.chain-anchor.v1");
    assert_eq!(anchor["chain"], team.as_str());
    assert!(anchor["seq"].as_i64().unwrap() >= head, "{anchor}");

    // The database owner deletes row 2 and rewrites the rest consistently: every hash and the
    // head agree again, and only the anchor in R2 still remembers the old chain.
    psql(&format!(
        "begin; set local session_replication_role = replica; \
         delete from activity_logs where team_id = '{t}' and chain_seq = 2; \
         update activity_logs set chain_seq = chain_seq + 1000000 where team_id = '{t}' and chain_seq > 2; \
         update activity_logs set chain_seq = chain_seq - 1000001 where team_id = '{t}' and chain_seq > 1000000; \
         do $$ declare r activity_logs; prev text := activity_chain_genesis(); begin \
           for r in select * from activity_logs where team_id = '{t}' order by chain_seq loop \
             r.prev_hash := prev; r.row_hash := activity_chain_hash(r); \
             update activity_logs set prev_hash = r.prev_hash, row_hash = r.row_hash where id = r.id; \
             prev := r.row_hash; end loop; \
           update activity_chain_heads set seq = seq - 1, head_hash = prev where chain_team = '{t}'; end $$; \
         commit",
        t = team
    ));
    let after = verification(&user, &team);
    assert_eq!(after["status"], "broken", "{after}");
    let kinds: Vec<&str> = after["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"anchor_mismatch"), "{after}");

    // Another member's team is not this user's to verify.
    let stranger = new_user();
    let reply = stranger.api("GET", &format!("/teams/{team}/audit/verify"), None);
    assert_eq!(reply.status, 404, "{}", reply.text());
}

#[test]
fn the_trust_center_is_served_under_a_strict_csp() {
    let page = get("/trust");
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        page.header("content-security-policy"),
        Some(butterfly::evidence::trust::CSP)
    );
    let html = page.text();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "no script at all");
    assert!(html.contains("/trust.css"));
    assert!(html.contains("security.txt"));
    let css = get("/trust.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
}

#[test]
fn security_txt_follows_rfc_9116() {
    let reply = get("/.well-known/security.txt");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let text = reply.text();
    for field in [
        "Contact: mailto:",
        "Expires: ",
        "Preferred-Languages: en",
        "Policy: ",
    ] {
        assert!(text.contains(field), "{field} missing: {text}");
    }
    let canonical = format!("Canonical: {}/.well-known/security.txt", worker());
    assert!(text.contains(&canonical), "{text}");
    let expires = text
        .lines()
        .find_map(|l| l.strip_prefix("Expires: "))
        .unwrap();
    let expires: chrono::DateTime<chrono::Utc> = expires.parse().unwrap();
    let left = expires - chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    assert!(
        left > chrono::Duration::days(30) && left <= chrono::Duration::days(365),
        "Expires {expires} must be 30 days to a year ahead"
    );
}

#[test]
fn the_audit_signing_keys_are_published_by_id() {
    let reply = get("/.well-known/butterfly-audit-keys.json");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let keys = parse_jwks(&reply.text()).unwrap();
    assert_eq!(keys.len(), 1, "{}", reply.text());
    assert_eq!(keys[0].id.as_str(), "audit1");
    let pem = get("/.well-known/butterfly-audit-keys/audit1.pem");
    assert_eq!(pem.status, 200, "{}", pem.text());
    assert_eq!(parse_public_key_pem(&pem.text()).unwrap(), keys[0].key);
    for missing in ["audit2.pem", "audit1", "audit1.pem.pem"] {
        let reply = get(&format!("/.well-known/butterfly-audit-keys/{missing}"));
        assert_eq!(reply.status, 404, "{missing}");
    }
}

#[test]
fn an_exported_audit_pack_verifies_and_a_tampered_copy_does_not() {
    let user = new_user();
    let team = team_of(&user);
    let connection = user.create_connection();
    let backup = user.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    let run = user.api(
        "POST",
        &format!("/connections/{connection}/compliance-runs"),
        None,
    );
    assert_eq!(run.status, 201, "{}", run.text());

    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let now = chrono::DateTime::from_timestamp(secs as i64, 0).unwrap();
    let range = format!(
        "team_id={team}&from={}&to={}",
        (now - chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ"),
        (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ"),
    );
    // The unversioned path the Trust Center names, and the same route under /api/v1.
    let auth = format!("Bearer {}", user.jwt);
    let url = format!("{}/api/export/audit-pack?{range}", worker());
    let reply = call("GET", &url, &[("authorization", auth.as_str())], None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/zip"));
    let disposition = reply.header("content-disposition").unwrap().to_string();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"audit-pack-{team}-")),
        "{disposition}"
    );
    let bad = user.api("GET", &format!("/export/audit-pack?team_id={team}"), None);
    assert_eq!(bad.status, 422, "{}", bad.text());
    assert_eq!(bad.json()["error"]["field"], "from", "{}", bad.text());

    let jwks = get("/.well-known/butterfly-audit-keys.json").text();
    let keys = audit_verify::TrustedKeys::from_jwks(&jwks).unwrap();
    let pack = reply.body;
    let outcome = audit_verify::verify_pack(std::io::Cursor::new(&pack), &keys);
    assert!(outcome.ok(), "{:#?}", outcome.failures);
    assert!(outcome.summary.rows > 0, "{:?}", outcome.summary);
    assert_eq!(outcome.summary.backup_manifests, 1, "{:?}", outcome.summary);

    // The export recorded itself before streaming.
    let audited = psql(&format!(
        "select count(*) from activity_logs where team_id = '{team}' and action = 'audit.export'"
    ));
    assert_eq!(audited, "1");

    // One bit of the activity log's compressed bytes changed.
    let start = zip::ZipArchive::new(std::io::Cursor::new(&pack))
        .unwrap()
        .by_name("activity/activity_logs.jsonl")
        .unwrap()
        .data_start()
        .unwrap() as usize;
    let mut tampered = pack.clone();
    tampered[start + 8] ^= 0x01;
    let outcome = audit_verify::verify_pack(std::io::Cursor::new(&tampered), &keys);
    assert!(!outcome.ok(), "a changed activity log went unnoticed");
    let truncated = &pack[..pack.len() - 200];
    let outcome = audit_verify::verify_pack(std::io::Cursor::new(truncated), &keys);
    assert!(!outcome.ok(), "a truncated pack went unnoticed");
}
