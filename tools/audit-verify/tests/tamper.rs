//! The verifier accepts an untouched pack and rejects each kind of tampering with a message that
//! says what and where.

mod fixture;

use audit_verify::{verify_pack, Outcome, TrustedKeys};
use fixture::*;
use std::io::Cursor;

fn check(pack: &[u8]) -> Outcome {
    verify_pack(
        Cursor::new(pack),
        &TrustedKeys::from_jwks(&jwks_text()).unwrap(),
    )
}

fn assert_failure(outcome: &Outcome, expected: &str) {
    assert!(
        outcome.failures.iter().any(|f| f == expected),
        "expected failure {expected:?}, got {:#?}",
        outcome.failures
    );
}

#[test]
fn an_untouched_pack_verifies_with_the_key_set_or_the_pem_key() {
    let pack = pack();
    let outcome = check(&pack);
    assert!(outcome.ok(), "{:#?}", outcome.failures);
    let s = &outcome.summary;
    assert_eq!(
        (s.rows, s.first_seq, s.last_seq),
        (ROWS as u64, Some(1), Some(ROWS))
    );
    assert_eq!(s.anchors, 2);
    assert_eq!(s.key_id, "k2026");
    // README, activity + anchors, 9 record sets, 1 snapshot manifest.
    assert_eq!(s.files, 13);
    assert_eq!(s.backup_manifests, 1);
    // 38 user rows, plus the two system rows whose details carry an invited email.
    assert_eq!(s.identities_opened, 40, "{s:?}");
    assert!(s
        .notes
        .iter()
        .any(|n| n.starts_with("drift_alerts: not collected")));

    let by_pem = verify_pack(
        Cursor::new(&pack),
        &TrustedKeys::from_pem(&pem_text()).unwrap(),
    );
    assert!(by_pem.ok(), "{:#?}", by_pem.failures);
}

#[test]
fn a_tampered_file_is_rejected_by_name() {
    let mut entries = entries(&pack());
    let (_, activity) = entries
        .iter_mut()
        .find(|(n, _)| n == "activity/activity_logs.jsonl")
        .unwrap();
    let text = String::from_utf8(activity.clone()).unwrap();
    *activity = text
        .replacen("\"role\":\"viewer\"", "\"role\":\"owner\"", 1)
        .into_bytes();
    let tampered = sha256(activity);
    let manifest = manifest_of(&entries);
    let listed = manifest
        .files
        .iter()
        .find(|f| f.path == "activity/activity_logs.jsonl")
        .unwrap();
    let outcome = check(&archive(&entries));
    assert_failure(
        &outcome,
        &format!(
            "activity/activity_logs.jsonl: SHA-256 mismatch: manifest.json says {}, the file has {tampered} (the file was altered)",
            listed.sha256
        ),
    );
    // The chain check names the edited row too (seq 5 is the first invitation).
    assert!(
        outcome.failures.iter().any(|f| f.starts_with(
            "activity/activity_logs.jsonl line 5: row seq 5 (id 1005) was edited: its content hashes to"
        )),
        "{:#?}",
        outcome.failures
    );
}

#[test]
fn a_removed_row_is_located_even_in_a_re_signed_pack() {
    // An insider with the signing key (or a buggy exporter): the row is gone and the manifest's
    // hashes and counts agree with the shortened file. The chain still gives it away.
    let mut entries = entries(&pack());
    let mut manifest = manifest_of(&entries);
    let (_, activity) = entries
        .iter_mut()
        .find(|(n, _)| n == "activity/activity_logs.jsonl")
        .unwrap();
    let text = String::from_utf8(activity.clone()).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 19)
        .map(|(_, l)| l)
        .collect();
    *activity = format!("{}\n", kept.join("\n")).into_bytes();
    let (sha, size) = (sha256(activity), activity.len() as u64);
    let file = manifest
        .files
        .iter_mut()
        .find(|f| f.path == "activity/activity_logs.jsonl")
        .unwrap();
    file.sha256 = sha;
    file.size = size;
    file.records = Some(ROWS as u64 - 1);
    manifest.chain.segment.as_mut().unwrap().rows = ROWS as u64 - 1;
    manifest.sections[0].records = ROWS as u64 - 1;
    resign(&mut entries, &manifest, &ring());
    let outcome = check(&archive(&entries));
    assert_failure(
        &outcome,
        "activity/activity_logs.jsonl line 20: row seq 20 is missing (seq 21 follows seq 19)",
    );
    assert_eq!(outcome.failures.len(), 1, "{:#?}", outcome.failures);

    // Without the key, the same removal fails on the file hash first.
    let mut entries = fixture::entries(&pack());
    let (_, activity) = entries
        .iter_mut()
        .find(|(n, _)| n == "activity/activity_logs.jsonl")
        .unwrap();
    let text = String::from_utf8(activity.clone()).unwrap();
    *activity = text
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes();
    let outcome = check(&archive(&entries));
    assert!(outcome.failures[0].starts_with("activity/activity_logs.jsonl: SHA-256 mismatch"));
}

#[test]
fn a_manifest_re_signed_with_a_foreign_key_is_rejected() {
    let mut entries = entries(&pack());
    let mut manifest = manifest_of(&entries);
    manifest.scope.from = "2020-01-01T00:00:00.000000Z".into();
    // Keeps naming the genuine key id, signed by another key.
    resign(&mut entries, &manifest, &foreign_ring("k2026"));
    let outcome = check(&archive(&entries));
    assert_eq!(
        outcome.failures,
        ["manifest signature does not verify with trusted key \"k2026\": manifest.json was altered after signing, or signed with a different key"]
    );

    // Naming its own key id: not a key the auditor trusts.
    manifest.signature.key_id = "attacker".into();
    resign(&mut entries, &manifest, &foreign_ring("attacker"));
    let outcome = check(&archive(&entries));
    assert_eq!(
        outcome.failures,
        ["manifest.json is signed by key \"attacker\", which is not in the trusted key set (it has k2026, k2025)"]
    );

    // A single trusted PEM key rejects it too.
    let outcome = verify_pack(
        Cursor::new(archive(&entries)),
        &TrustedKeys::from_pem(&pem_text()).unwrap(),
    );
    assert!(outcome.failures[0]
        .starts_with("manifest signature does not verify with trusted key \"attacker\""));
}

#[test]
fn a_truncated_archive_is_rejected() {
    let pack = pack();
    for cut in [pack.len() - 1, pack.len() / 2, 100] {
        let outcome = check(&pack[..cut]);
        assert_eq!(outcome.failures.len(), 1, "{:#?}", outcome.failures);
        assert!(
            outcome.failures[0].starts_with("not a complete zip archive (")
                && outcome.failures[0].ends_with("): the file is truncated or damaged"),
            "{}",
            outcome.failures[0]
        );
    }
}

#[test]
fn an_export_that_failed_midway_leaves_an_unverifiable_archive() {
    let mut source = source();
    source.fail_activity_at = Some(21);
    let mut out = Vec::new();
    let result = futures::executor::block_on(butterfly::evidence::pack::export::export_pack(
        &source,
        &mut out,
        &ring(),
        &request(),
    ));
    assert!(result.is_err());
    assert!(
        !out.is_empty(),
        "some pages were streamed before the failure"
    );
    assert!(check(&out).failures[0].starts_with("not a complete zip archive"));
}

#[test]
fn an_added_or_missing_file_is_rejected() {
    let mut entries = entries(&pack());
    entries.insert(3, ("activity/extra.jsonl".into(), b"{}\n".to_vec()));
    let outcome = check(&archive(&entries));
    assert_eq!(
        outcome.failures,
        ["activity/extra.jsonl is in the archive but not in manifest.json (added after signing)"]
    );

    let mut entries = fixture::entries(&pack());
    entries.retain(|(n, _)| n != "compliance/findings.jsonl");
    let outcome = check(&archive(&entries));
    assert_failure(
        &outcome,
        "compliance/findings.jsonl is listed in manifest.json but missing from the archive",
    );
}

#[test]
fn a_consistently_rewritten_chain_is_caught_by_its_anchors() {
    // Row 20 deleted in the database and every later row re-linked with fresh hashes: the
    // chain is internally consistent, so only the anchor at seq 40 can tell.
    let mut source = source();
    let mut rows = source.activity.clone();
    rows.remove(19);
    let mut chain = butterfly::evidence::chain::ChainBuilder::new();
    source.activity = rows
        .into_iter()
        .map(|r| {
            let salt = r.identity_salt.clone().unwrap_or_else(|| "0".repeat(64));
            chain.link(r, &salt).unwrap()
        })
        .collect();
    source.head = source
        .activity
        .last()
        .map(|r| (r.chain_seq, r.row_hash.clone()));
    let pack = pack_from(&source);
    let outcome = check(&pack);
    assert_eq!(outcome.failures.len(), 1, "{:#?}", outcome.failures);
    assert!(
        outcome.failures[0]
            .starts_with("activity/activity_logs.jsonl line 40: row seq 40 (id 1041) hashes to")
            && outcome.failures[0].ends_with("the chain was rewritten after it was anchored"),
        "{}",
        outcome.failures[0]
    );
    // The exporter saw it too and said so in the manifest.
    let manifest = manifest_of(&entries(&pack));
    assert_eq!(manifest.chain.verification.status, "broken");
}

#[test]
fn a_snapshot_manifest_must_match_its_backup_row() {
    let mut source = source();
    source.manifests[0].bytes = b"{\"format\":\"butterfly.snapshot.v1\",\"objects\":[1]}".to_vec();
    let outcome = check(&pack_from(&source));
    assert_eq!(outcome.failures.len(), 1, "{:#?}", outcome.failures);
    assert!(outcome.failures[0].starts_with(
        "backups/manifests/11111111-1111-4111-8111-111111111111.json: the snapshot manifest hashes to"
    ));
}
