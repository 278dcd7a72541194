//! The activity log's hash chain in the real database (migrations/0008_activity_chain.sql):
//! tampering by the database owner with triggers off is found and located, concurrent writers
//! never fork a chain, the deletion purge erases identities while the chain still verifies, and
//! the database's hashes are the ones the Rust verifier (and so audit-verify) recomputes.

use crate::support::*;
use butterfly::evidence::chain::{ChainVerifier, ChainedRow, SegmentStart};
use serde_json::{json, Value};

struct Chain {
    user: User,
    team: String,
}

const ACTOR: &str = "6f1c1a8e-6f7a-4d8a-9d2e-1d1f2a3b4c5d";

/// A fresh team with `n` activity rows written as the worker writes them (service role), some
/// naming people: a user actor, a source IP, an invited email.
fn chain_with(n: usize) -> Chain {
    let user = new_user();
    let team = psql(&format!(
        "select id from teams where created_by = '{}'",
        user.id
    ));
    for i in 1..=n {
        let row = if i % 3 == 0 {
            json!({"team_id": team, "actor_type": "system", "actor_id": "cron", "action": "backup.schedule",
                   "target_type": "backup", "target_id": format!("b-{i}"), "details": {"n": i}})
        } else {
            json!({"team_id": team, "actor_type": "user", "actor_id": ACTOR, "action": "member.invite",
                   "target_type": "team_invitation", "target_id": format!("inv-{i}"), "request_id": format!("req-{i}"),
                   "source_ip": format!("203.0.113.{i}"), "actor_email": "ada@example.com",
                   "details": {"email": format!("invitee-{i}@example.com"), "role": "viewer", "n": i}})
        };
        let reply = audit(&row);
        assert_eq!(reply.status, 204, "{}", reply.text());
    }
    Chain { user, team }
}

/// One row through `audit_insert`, the only way into the log (migration 0010).
fn audit(row: &Value) -> Reply {
    service("POST", "rpc/audit_insert", Some(&json!({ "p_audit": row })))
}

fn verify(team: &str) -> Value {
    serde_json::from_str(&psql(&format!(
        "select activity_chain_verify_unchecked('{team}')"
    )))
    .unwrap()
}

/// Runs `sql` as the database owner with every trigger off for this session only (other
/// sessions, and so the rest of the suite, keep theirs).
fn as_owner_without_triggers(sql: &str) {
    psql(&format!(
        "begin; set local session_replication_role = replica; {sql}; commit"
    ));
}

fn problems(report: &Value) -> Vec<(String, i64)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["seq"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn id_at(team: &str, seq: i64) -> String {
    psql(&format!(
        "select id from activity_logs where team_id = '{team}' and chain_seq = {seq}"
    ))
}

#[test]
fn tampering_as_the_database_owner_is_detected_and_located() {
    let intact = chain_with(8);
    let report = verify(&intact.team);
    assert_eq!(report["status"], "intact", "{report}");
    assert_eq!(report["rows"], 8);
    assert_eq!(report["identities"]["opened"], 6);

    // A row deleted from the middle.
    let c = chain_with(8);
    as_owner_without_triggers(&format!(
        "delete from activity_logs where team_id = '{}' and chain_seq = 4",
        c.team
    ));
    let report = verify(&c.team);
    assert_eq!(report["status"], "broken");
    assert_eq!(
        problems(&report),
        [("missing_rows".to_string(), 4)],
        "{report}"
    );
    assert_eq!(
        report["problems"][0]["message"],
        "row seq 4 is missing (seq 5 follows seq 3)"
    );

    // The newest rows deleted: caught against the chain head.
    let c = chain_with(8);
    as_owner_without_triggers(&format!(
        "delete from activity_logs where team_id = '{}' and chain_seq >= 7",
        c.team
    ));
    let report = verify(&c.team);
    assert_eq!(
        problems(&report),
        [("missing_rows".to_string(), 7)],
        "{report}"
    );

    // A row's content edited.
    let c = chain_with(8);
    let edited = id_at(&c.team, 5);
    as_owner_without_triggers(&format!(
        "update activity_logs set details = details || '{{\"role\": \"owner\"}}' where id = {edited}"
    ));
    let report = verify(&c.team);
    assert_eq!(
        problems(&report),
        [("content_mismatch".to_string(), 5)],
        "{report}"
    );
    assert_eq!(report["problems"][0]["id"].to_string(), edited);

    // An identifying value edited (it is outside the hashed content, inside the commitment).
    let c = chain_with(8);
    as_owner_without_triggers(&format!(
        "update activity_logs set source_ip = '198.51.100.66' where team_id = '{}' and chain_seq = 2",
        c.team
    ));
    let report = verify(&c.team);
    assert_eq!(
        problems(&report),
        [("identity_mismatch".to_string(), 2)],
        "{report}"
    );

    // Two rows reordered (their positions swapped).
    let c = chain_with(8);
    as_owner_without_triggers(&format!(
        "update activity_logs set chain_seq = 1000000 where team_id = '{t}' and chain_seq = 3; \
         update activity_logs set chain_seq = 3 where team_id = '{t}' and chain_seq = 4; \
         update activity_logs set chain_seq = 4 where team_id = '{t}' and chain_seq = 1000000",
        t = c.team
    ));
    let report = verify(&c.team);
    assert_eq!(report["status"], "broken");
    assert_eq!(
        problems(&report)[0],
        ("content_mismatch".to_string(), 3),
        "{report}"
    );

    // A whole chain rewritten consistently after a deletion: only an anchor can tell.
    let c = chain_with(6);
    let anchored = psql(&format!(
        "select row_hash from activity_logs where team_id = '{}' and chain_seq = 5",
        c.team
    ));
    as_owner_without_triggers(&format!(
        "delete from activity_logs where team_id = '{t}' and chain_seq = 2; \
         update activity_logs set chain_seq = chain_seq + 1000000 where team_id = '{t}' and chain_seq > 2; \
         update activity_logs set chain_seq = chain_seq - 1000001 where team_id = '{t}' and chain_seq > 1000000; \
         do $$ declare r activity_logs; prev text := repeat('0', 64); begin \
           for r in select * from activity_logs where team_id = '{t}' order by chain_seq loop \
             r.prev_hash := prev; r.row_hash := activity_chain_hash(r); \
             update activity_logs set prev_hash = r.prev_hash, row_hash = r.row_hash where id = r.id; \
             prev := r.row_hash; end loop; \
           update activity_chain_heads set seq = seq - 1, head_hash = prev where chain_team = '{t}'; end $$",
        t = c.team
    ));
    assert_eq!(
        verify(&c.team)["status"],
        "intact",
        "the rewrite is internally consistent"
    );
    let with_anchor: Value = serde_json::from_str(&psql(&format!(
        "select activity_chain_verify_unchecked('{}', 1, null, '[{{\"seq\": 5, \"head_hash\": \"{anchored}\"}}]')",
        c.team
    )))
    .unwrap();
    assert_eq!(
        problems(&with_anchor),
        [("anchor_mismatch".to_string(), 5)],
        "{with_anchor}"
    );

    // The first team was never touched.
    assert_eq!(verify(&intact.team)["status"], "intact");
}

#[test]
fn writers_cannot_bypass_or_rewrite_the_chain() {
    let c = chain_with(3);
    // Nobody inserts around audit_insert, not even the service role.
    let reply = service(
        "POST",
        "activity_logs",
        Some(&json!({"team_id": c.team, "actor_type": "system", "actor_id": "x", "action": "x.y"})),
    );
    assert!(matches!(reply.status, 401 | 403), "{}", reply.text());
    // Even the table owner's chain fields and time are overwritten by the trigger.
    let forged = "f".repeat(64);
    let row = psql(&format!(
        "insert into activity_logs (team_id, actor_type, actor_id, action, chain_seq, prev_hash,
           row_hash, occurred_at)
         values ('{}', 'system', 'x', 'x.y', 1, '{forged}', '{forged}', '2000-01-01T00:00:00Z')
         returning chain_seq || ' ' || row_hash || ' ' || extract(year from occurred_at)",
        c.team
    ));
    let fields: Vec<&str> = row.split(' ').collect();
    assert_eq!(fields[0], "4", "{row}");
    assert_ne!(fields[1], forged);
    assert_ne!(fields[2], "2000");
    // A number the canonical form cannot hold exactly is refused, not silently rounded.
    let reply = audit(
        &json!({"team_id": c.team, "actor_type": "system", "actor_id": "x", "action": "x.y", "details": {"ratio": 0.5}}),
    );
    assert!(reply.status >= 400, "{}", reply.text());
    // Updates other than erasure and every delete stay refused, for the owner too.
    let reply = service(
        "PATCH",
        &format!("activity_logs?team_id=eq.{}", c.team),
        Some(&json!({"source_ip": null})),
    );
    assert!(reply.status >= 400, "{}", reply.text());
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            &env("BF_DB"),
            "-c",
        ])
        .arg(format!(
            "update activity_logs set actor_email = null where team_id = '{}'",
            c.team
        ))
        .output()
        .unwrap();
    assert!(!out.status.success(), "a partial erasure is not an erasure");
    assert_eq!(verify(&c.team)["status"], "intact");

    // Members verify their own team's chain through PostgREST; nobody else can.
    let own = c.user.rest(
        "POST",
        "rpc/activity_chain_verify",
        Some(&json!({"team": c.team})),
    );
    assert_eq!(own.status, 200, "{}", own.text());
    assert_eq!(own.json()["status"], "intact");
    let stranger = new_user();
    let foreign = stranger.rest(
        "POST",
        "rpc/activity_chain_verify",
        Some(&json!({"team": c.team})),
    );
    assert!(foreign.status >= 400, "{}", foreign.text());
    for path in ["activity_log_salts", "activity_chain_heads"] {
        let read = c.user.rest("GET", path, None);
        assert!(read.status >= 400, "{path}: {}", read.text());
    }
    for rpc in [
        "activity_logs_pseudonymise",
        "activity_chain_verify_unchecked",
    ] {
        let call = c.user.rest(
            "POST",
            &format!("rpc/{rpc}"),
            Some(&json!({"team": c.team})),
        );
        assert!(call.status >= 400, "{rpc}: {}", call.text());
    }
}

#[test]
fn concurrent_writers_never_fork_a_chain() {
    let c = chain_with(0);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let team = c.team.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    let reply = audit(&json!({"team_id": team, "actor_type": "system",
                        "actor_id": format!("writer-{t}"), "action": "backup.schedule", "details": {"i": i}}));
                    assert_eq!(reply.status, 204, "{}", reply.text());
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let report = verify(&c.team);
    assert_eq!(report["status"], "intact", "{report}");
    assert_eq!(report["rows"], 160);
    assert_eq!(report["head"]["seq"], 160);
    let seqs = psql(&format!(
        "select count(distinct chain_seq), min(chain_seq), max(chain_seq), count(distinct prev_hash) \
         from activity_logs where team_id = '{}'",
        c.team
    ));
    assert_eq!(
        seqs, "160|1|160|160",
        "every row has its own position and predecessor"
    );
}

#[test]
fn pseudonymisation_erases_identities_and_the_chain_still_verifies() {
    let deleted = chain_with(6);
    let other = chain_with(3);
    // The invited address and the actor's id are in the log before the purge.
    let dump = |team: &str| {
        psql(&format!(
            "select coalesce(string_agg(row_to_json(a)::text, ' '), '') from activity_logs a where team_id = '{team}'"
        ))
    };
    assert!(dump(&deleted.team).contains("invitee-1@example.com"));
    let reply = service(
        "POST",
        "rpc/activity_logs_pseudonymise",
        Some(&json!({"team": deleted.team})),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!(4), "the four rows naming people");

    let after = dump(&deleted.team);
    for identifying in ["invitee-", "ada@example.com", "203.0.113.", ACTOR] {
        assert!(
            !after.contains(identifying),
            "{identifying} left in {after}"
        );
    }
    assert_eq!(
        psql(&format!(
            "select count(*) from activity_log_salts where team_id = '{}'",
            deleted.team
        )),
        "0"
    );
    let report = verify(&deleted.team);
    assert_eq!(report["status"], "intact", "{report}");
    assert_eq!(report["identities"]["erased"], 4);
    // The erasure is in the chain itself.
    assert!(activity(&deleted.team)
        .iter()
        .any(|r| r["action"] == "activity.pseudonymise" && r["details"]["rows"] == 4));
    // One person, one pseudonym.
    let actors = psql(&format!(
        "select count(distinct actor_id) from activity_logs where team_id = '{}' and actor_type = 'user'",
        deleted.team
    ));
    assert_eq!(actors, "1");

    // Another team is untouched.
    assert!(dump(&other.team).contains("ada@example.com"));
    assert_eq!(verify(&other.team)["identities"]["opened"], 2);
}

#[test]
fn the_database_and_the_rust_verifier_agree_row_for_row() {
    let c = chain_with(5);
    // Details that exercise every rule of the canonical encoding.
    let tricky = json!({"note": "tab\t \"quote\" \\ é 😀 \u{7f} \u{1}", "Zeta": [1, -2, {"z": null, "a": true}],
                        "é": {"b": 9007199254740991i64, "a": ""}, "approved_by": ACTOR, "": 0});
    let reply = audit(
        &json!({"team_id": c.team, "actor_type": "user", "actor_id": ACTOR, "action": "risk.accept",
                     "target_type": "user", "target_id": "0b9e6a4e-1c36-4d25-8f53-0d1d8e5b7a11",
                     "source_ip": "2001:db8::7", "actor_name": "Ada Lovelace", "details": tricky}),
    );
    assert_eq!(reply.status, 204, "{}", reply.text());
    // A v2 row that names an API key and the client's request id (both hashed).
    let reply = audit(
        &json!({"team_id": c.team, "actor_type": "api_key", "actor_id": ACTOR, "action": "backup.request",
                "key_id": "0b9e6a4e-1c36-4d25-8f53-0d1d8e5b7a12", "client_request_id": "ci-run-42",
                "target_type": "backup", "target_id": "b-9", "request_id": "req-9"}),
    );
    assert_eq!(reply.status, 204, "{}", reply.text());

    let rows = service(
        "GET",
        &format!(
            "activity_logs?team_id=eq.{}&order=chain_seq.asc&select=*,activity_log_salts(salt)",
            c.team
        ),
        None,
    );
    assert_eq!(rows.status, 200, "{}", rows.text());
    let mut verifier = ChainVerifier::new(SegmentStart::genesis());
    let mut count = 0;
    for mut raw in rows.json().as_array().unwrap().clone() {
        let salt = raw
            .as_object_mut()
            .unwrap()
            .remove("activity_log_salts")
            .unwrap();
        let salt = match salt {
            Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
            other => other,
        };
        raw["identity_salt"] = salt["salt"].clone();
        let row: ChainedRow = serde_json::from_value(raw).unwrap();
        assert_eq!(
            butterfly::evidence::chain::row_hash(&row).unwrap(),
            row.row_hash,
            "seq {}: the database and Rust encode it differently",
            row.chain_seq
        );
        verifier.push(&row);
        count += 1;
    }
    let report = verifier.finish(None);
    assert!(report.intact(), "{report:?}");
    assert_eq!(count, 7);
    assert_eq!(report.identities_opened, 5);
}

/// Rows written before migration 0017 keep their v1 content and still verify, new v2 rows link
/// after them, and in a v2 row the key id and the client's request id are covered by the hash.
#[test]
fn v1_rows_still_verify_and_v2_rows_cover_the_key_and_client_request_id() {
    let c = chain_with(4);
    let t = &c.team;
    // The chain as it was before 0017: every row hashed as v1, relinked in order.
    as_owner_without_triggers(&format!(
        "do $$ declare r activity_logs; prev text := activity_chain_genesis(); begin \
           for r in select * from activity_logs where team_id = '{t}' order by chain_seq loop \
             r.chain_version := 1; r.prev_hash := prev; r.row_hash := activity_chain_hash(r); \
             update activity_logs set chain_version = 1, prev_hash = r.prev_hash, row_hash = r.row_hash where id = r.id; \
             prev := r.row_hash; end loop; \
           update activity_chain_heads set head_hash = prev where chain_team = '{t}'; end $$"
    ));
    assert_eq!(verify(t)["status"], "intact");
    let reply = audit(
        &json!({"team_id": t, "actor_type": "api_key", "actor_id": ACTOR, "action": "backup.request",
                "key_id": "0b9e6a4e-1c36-4d25-8f53-0d1d8e5b7a12", "client_request_id": "ci-run-7",
                "target_type": "backup", "target_id": "b-5"}),
    );
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert_eq!(
        psql(&format!(
            "select string_agg(chain_version::text, ',' order by chain_seq) from activity_logs where team_id = '{t}'"
        )),
        "1,1,1,1,2"
    );
    let report = verify(t);
    assert_eq!(report["status"], "intact", "{report}");
    assert_eq!(report["rows"], 5);

    // Editing either field of the v2 row, or downgrading it to v1, is found at that row.
    for edit in [
        "key_id = '0b9e6a4e-1c36-4d25-8f53-0d1d8e5b7a13'",
        "client_request_id = 'forged'",
        "chain_version = 1",
    ] {
        as_owner_without_triggers(&format!(
            "update activity_logs set {edit} where team_id = '{t}' and chain_seq = 5"
        ));
        let report = verify(t);
        assert_eq!(
            problems(&report),
            vec![("content_mismatch".to_string(), 5)],
            "{edit}: {report}"
        );
        as_owner_without_triggers(&format!(
            "update activity_logs set key_id = '0b9e6a4e-1c36-4d25-8f53-0d1d8e5b7a12', \
             client_request_id = 'ci-run-7', chain_version = 2 where team_id = '{t}' and chain_seq = 5"
        ));
        assert_eq!(verify(t)["status"], "intact");
    }
}
