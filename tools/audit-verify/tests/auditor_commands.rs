//! The standard-tools recipe in docs/audit-pack.md, run as written: it must accept a genuine
//! pack and reject tampered ones. So the documentation cannot drift from the format.

mod fixture;

use fixture::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

fn recipe() -> String {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/audit-pack.md"),
    )
    .unwrap();
    let after = doc
        .split_once("<!-- auditor-commands -->")
        .expect("docs/audit-pack.md marks its recipe with <!-- auditor-commands -->")
        .1;
    let body = after.split_once("```sh\n").unwrap().1;
    body.split_once("\n```").unwrap().0.to_string()
}

fn workdir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "audit-commands-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the recipe on `pack`; returns (success, stdout + stderr).
fn run(pack: &[u8]) -> (bool, String) {
    for tool in ["unzip", "jq", "openssl", "sha256sum"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap()
            .status
            .success();
        assert!(
            found,
            "{tool} is required for this test (scripts/bootstrap.sh installs it)"
        );
    }
    let dir = workdir();
    std::fs::write(dir.join("pack.zip"), pack).unwrap();
    std::fs::write(dir.join("key.pem"), pem_text()).unwrap();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &recipe()])
        .current_dir(&dir)
        .env("PACK", dir.join("pack.zip"))
        .env("KEY", dir.join("key.pem"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn activity_mut(entries: &mut [(String, Vec<u8>)]) -> &mut Vec<u8> {
    &mut entries
        .iter_mut()
        .find(|(n, _)| n == "activity/activity_logs.jsonl")
        .unwrap()
        .1
}

/// Re-lists the activity file in the manifest and re-signs with the genuine key: what an
/// insider with the key could do, leaving only the chain to catch the change.
fn relist_and_resign(entries: &mut [(String, Vec<u8>)]) {
    let activity = activity_mut(entries).clone();
    let mut manifest = manifest_of(entries);
    let file = manifest
        .files
        .iter_mut()
        .find(|f| f.path == "activity/activity_logs.jsonl")
        .unwrap();
    file.sha256 = sha256(&activity);
    file.size = activity.len() as u64;
    resign(entries, &manifest, &ring());
}

#[test]
fn the_documented_commands_verify_a_genuine_pack() {
    let (ok, out) = run(&pack());
    assert!(ok, "{out}");
    assert!(out.contains("Signature Verified Successfully"), "{out}");
    assert!(out.ends_with("audit pack verified\n"), "{out}");
}

#[test]
fn the_documented_commands_reject_a_foreign_signature() {
    let mut entries = entries(&pack());
    let manifest = manifest_of(&entries);
    resign(&mut entries, &manifest, &foreign_ring("k2026"));
    let (ok, out) = run(&archive(&entries));
    assert!(!ok, "{out}");
    assert!(out.contains("Signature Verification Failure"), "{out}");
}

#[test]
fn the_documented_commands_reject_a_tampered_file() {
    let mut entries = entries(&pack());
    let (_, findings) = entries
        .iter_mut()
        .find(|(n, _)| n == "compliance/findings.jsonl")
        .unwrap();
    *findings = String::from_utf8(findings.clone())
        .unwrap()
        .replacen("pass", "fail", 1)
        .into_bytes();
    let (ok, out) = run(&archive(&entries));
    assert!(!ok, "{out}");
    assert!(out.contains("compliance/findings.jsonl: FAILED"), "{out}");
}

#[test]
fn the_documented_commands_reject_a_removed_row_and_an_edited_one() {
    let mut entries = entries(&pack());
    let text = String::from_utf8(activity_mut(&mut entries).clone()).unwrap();
    let kept: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 19)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    *activity_mut(&mut entries) = kept.into_bytes();
    relist_and_resign(&mut entries);
    let (ok, out) = run(&archive(&entries));
    assert!(!ok, "{out}");
    assert!(
        out.contains("seq 20: found seq 21 (rows missing or out of order)"),
        "{out}"
    );

    let mut entries = fixture::entries(&pack());
    let edited = text.replacen("\"n\":2}", "\"n\":3}", 1);
    assert_ne!(edited, text);
    *activity_mut(&mut entries) = edited.into_bytes();
    relist_and_resign(&mut entries);
    let (ok, out) = run(&archive(&entries));
    assert!(!ok, "{out}");
    assert!(
        out.contains("seq 2: content does not match its row_hash"),
        "{out}"
    );
}

#[test]
fn the_documented_commands_reject_an_edited_identity() {
    let mut entries = entries(&pack());
    let text = String::from_utf8(activity_mut(&mut entries).clone()).unwrap();
    let edited = text.replacen("new.member@example.com", "someone.else@example.com", 1);
    *activity_mut(&mut entries) = edited.into_bytes();
    relist_and_resign(&mut entries);
    let (ok, out) = run(&archive(&entries));
    assert!(!ok, "{out}");
    assert!(
        out.contains("row 5: identifying fields do not open the commitment"),
        "{out}"
    );
}

#[test]
fn the_documented_commands_catch_a_rewritten_chain_by_its_anchor() {
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
    let (ok, out) = run(&pack_from(&source));
    assert!(!ok, "{out}");
    assert!(out.contains("seq 40: does not match its anchor"), "{out}");
}
