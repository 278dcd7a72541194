//! Downloads of altered storage: a sealed segment changed in R2, a manifest changed, and another
//! backup's manifest put in its place (with and without the row's hash rewritten to match).
//! Each download is refused without a byte of tenant data and leaves a `backup.download_refused`
//! row in the team's trail. The bytes are changed in wrangler's local R2 files, as someone with
//! write access to the bucket would change them.

use crate::support::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn blobs_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            blobs_under(&path, found);
        } else if path.components().any(|c| c.as_os_str() == "blobs") {
            found.push(path);
        }
    }
}

/// The one stored R2 object whose bytes satisfy `matches`.
fn blob(matches: impl Fn(&[u8]) -> bool) -> PathBuf {
    let mut all = Vec::new();
    blobs_under(Path::new(&env("BF_R2_DIR")), &mut all);
    let hits: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| matches(&std::fs::read(p).unwrap()))
        .collect();
    assert_eq!(hits.len(), 1, "{hits:?}");
    hits.into_iter().next().unwrap()
}

fn manifest_blob(backup: &str) -> PathBuf {
    let needle = format!("\"backup_id\":\"{backup}\"");
    blob(|bytes| {
        bytes.starts_with(b"{\"format_version\"")
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

fn complete_backup(user: &User) -> Value {
    let connection = user.create_connection();
    let backup = user.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    backup
}

/// Asks for a signed URL and follows it: refused, opaque, and audited for this object.
fn assert_refused(user: &User, backup: &Value, object: &str) {
    let id = backup["id"].as_str().unwrap();
    let url = user.api("GET", &format!("/backups/{id}/objects/{object}/url"), None);
    assert_eq!(url.status, 200, "{}", url.text());
    let reply = call("GET", url.json()["url"].as_str().unwrap(), &[], None);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (500, "internal_error"),
        "{object}: {}",
        reply.text()
    );
    assert!(!reply.text().contains("\"profile\""), "tenant data leaked");
    let log = activity(backup["team_id"].as_str().unwrap());
    assert!(
        log.iter().any(|r| r["action"] == "backup.download_refused"
            && r["target_id"] == id
            && r["details"]["object"] == object),
        "no backup.download_refused row for {object}"
    );
    assert!(!log.iter().any(|r| r["action"] == "backup.download"
        && r["target_id"] == id
        && r["details"]["object"] == object));
}

fn flip(path: &Path, at: usize, byte: impl Fn(u8) -> u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] = byte(bytes[at]);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_segment_altered_in_storage_is_refused_and_audited() {
    let user = new_user();
    let backup = complete_backup(&user);
    let id = backup["id"].as_str().unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(manifest_blob(id)).unwrap()).unwrap();
    let groups = manifest["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["resource"] == "groups")
        .unwrap();
    let sealed = groups["segments"][0]["sealed_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let segment = blob(|bytes| hex::encode(Sha256::digest(bytes)) == sealed);
    let len = std::fs::metadata(&segment).unwrap().len() as usize;
    // One bit in the ciphertext, past the 42-byte header.
    flip(&segment, 42 + (len - 42) / 2, |b| b ^ 0x01);
    assert_refused(&user, &backup, "groups");
    // The other objects are intact and still download.
    assert!(!download(&user, id, "users").is_empty());
}

#[test]
fn a_manifest_altered_or_swapped_in_storage_is_refused_and_audited() {
    let alice = new_user();
    let backup = complete_backup(&alice);
    let id = backup["id"].as_str().unwrap();
    let path = manifest_blob(id);
    let original = std::fs::read(&path).unwrap();

    // One hex digit of an object hash changed (same length, still JSON).
    let at = original
        .windows(20)
        .position(|w| w == b"\"plaintext_sha256\":\"")
        .unwrap()
        + 20;
    flip(&path, at, |b| if b == b'0' { b'1' } else { b'0' });
    assert_refused(&alice, &backup, "users");

    // Another team's manifest in its place: refused by the row's hash...
    let bob = new_user();
    let foreign_backup = complete_backup(&bob);
    let mut foreign = std::fs::read(manifest_blob(foreign_backup["id"].as_str().unwrap())).unwrap();
    // Padded with JSON whitespace to the stored object's size (the local R2 keeps the size it
    // was written with), so only its content differs; it is still a valid manifest.
    if foreign.len() < original.len() {
        foreign.resize(original.len(), b' ');
    }
    std::fs::write(&path, &foreign).unwrap();
    assert_refused(&alice, &backup, "groups");
    // ...and, should someone also rewrite the row's hash to match, by its owner fields.
    psql(&format!(
        "set session_replication_role = replica; \
         update backups set manifest_sha256 = '{}' where id = '{id}'",
        hex::encode(Sha256::digest(&foreign))
    ));
    assert_refused(&alice, &backup, "apps");
    // Bob's own downloads are unaffected.
    assert!(!download(&bob, foreign_backup["id"].as_str().unwrap(), "users").is_empty());
}
