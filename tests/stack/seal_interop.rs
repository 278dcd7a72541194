//! The worker seals and opens snapshots with the runtime's own gzip and AES-256-GCM
//! (`CompressionStream`, `crypto.subtle`); native code and tools with flate2 and aes-gcm. Each
//! must open what the other seals. A backup the worker made (multi-chunk segments included) is
//! opened here with the Rust opener, straight from wrangler's local R2 files, under the key
//! derived from the stack's secrets and the backup's row; then every segment is replaced by
//! what the Rust sealer makes of the same plaintext, under the same key and context (manifest
//! and the row's hash rewritten to match), and the worker's download must give the same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

use butterfly::crypto::envelope::{
    open_snapshot_key, sealed_secret_key_version, MasterKeyRing, SnapshotKeyContext, WrappedDataKey,
};
use butterfly::crypto::keyring::KeyRing;
use butterfly::crypto::stream::{open_object, seal_object, SnapshotKey, CHUNK_SIZE, HEADER_LEN};
use butterfly::ports::Rng;
use butterfly::snapshot::{Manifest, SnapshotLayout};
use okta_emulator::EmulatorConfig;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::*;

const TOKEN: &str = "seal-interop-okta-token-5d1c0e";
/// Enough users for the users object's segment to span several 64 KiB chunks once compressed.
const USERS: usize = 3000;

fn worker_secret(name: &str) -> String {
    std::fs::read_to_string(env("BF_WORKER_ENV"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_string))
        .unwrap_or_else(|| panic!("{name} in the stack's env"))
}

/// The backup's snapshot key, derived here as the worker derives it.
fn snapshot_key(backup: &str) -> SnapshotKey {
    let row = psql(&format!(
        "select team_id || '|' || connection_id || '|' || sealed_key || '|' || snapshot_secret_id \
         from backups where id = '{backup}'"
    ));
    let [team, connection, sealed, secret_id]: [&str; 4] =
        row.split('|').collect::<Vec<_>>().try_into().unwrap();
    let version = sealed_secret_key_version(sealed).unwrap();
    let wrapped = psql(&format!(
        "select master_key_id || '|' || wrapped_key from tenant_keys \
         where team_id = '{team}' and version = {version}"
    ));
    let (master_key_id, wrapped) = wrapped.split_once('|').unwrap();
    let data_key = MasterKeyRing::parse(&worker_secret("MASTER_KEYS"))
        .unwrap()
        .unwrap(
            &WrappedDataKey {
                master_key_id: master_key_id.into(),
                wrapped: wrapped.into(),
            },
            team,
            version,
        )
        .unwrap();
    let backup_key = open_snapshot_key(
        &data_key,
        &SnapshotKeyContext {
            tenant: team,
            backup,
        },
        sealed,
    )
    .unwrap();
    let secrets = KeyRing::parse(&worker_secret("SNAPSHOT_MASTER_SECRET")).unwrap();
    SnapshotKey::derive_for_backup(
        secrets.get(secret_id).unwrap(),
        &backup_key,
        team,
        connection,
    )
}

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

/// The bytes of the stored R2 object with this SHA-256.
fn stored(sha256: &str) -> Vec<u8> {
    let mut all = Vec::new();
    blobs_under(Path::new(&env("BF_R2_DIR")), &mut all);
    all.iter()
        .map(|p| std::fs::read(p).unwrap())
        .find(|b| hex::encode(Sha256::digest(b)) == sha256)
        .unwrap_or_else(|| panic!("no stored object hashes to {sha256}"))
}

/// Writes an object into the stack's local R2 as an operator would, with wrangler's own CLI.
fn put(key: &str, bytes: &[u8]) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let file = std::env::temp_dir().join(format!("bf-seal-interop-{}", std::process::id()));
    std::fs::write(&file, bytes).unwrap();
    let state = Path::new(&env("BF_R2_DIR")).join("../..");
    let out = Command::new(repo.join("node_modules/.bin/wrangler"))
        .args(["r2", "object", "put", &format!("butterfly-snapshots/{key}")])
        .arg("--file")
        .arg(&file)
        .arg("--local")
        .arg("--persist-to")
        .arg(&state)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "true")
        .current_dir(&repo)
        .output()
        .expect("wrangler r2 object put");
    std::fs::remove_file(&file).unwrap();
    assert!(
        out.status.success(),
        "wrangler r2 object put: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Salts for the Rust sealer: distinct per call, which is all the format asks of them.
struct CountingRng(std::cell::Cell<u64>);

impl Rng for CountingRng {
    fn fill(&self, buf: &mut [u8]) {
        for piece in buf.chunks_mut(32) {
            let n = self.0.get();
            self.0.set(n + 1);
            let block = Sha256::digest(format!("seal-interop {n}"));
            piece.copy_from_slice(&block[..piece.len()]);
        }
    }
}

#[test]
fn the_worker_and_the_rust_primitives_open_each_others_snapshots() {
    let emulator = okta_emulator::start(EmulatorConfig {
        api_tokens: vec![TOKEN.to_owned()],
        users: USERS,
        ..EmulatorConfig::default()
    })
    .unwrap();
    plant(TOKEN);
    let user = new_user();
    let reply = user.api(
        "POST",
        "/connections",
        Some(&json!({"org_domain": emulator.base_url().trim_start_matches("http://"), "api_token": TOKEN})),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let connection = reply.json()["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let backup = user.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    let id = backup["id"].as_str().unwrap();
    let key = snapshot_key(id);
    let manifest_sha = psql(&format!(
        "select manifest_sha256 from backups where id = '{id}'"
    ));
    let mut manifest: Manifest = serde_json::from_slice(&stored(&manifest_sha)).unwrap();

    // Worker-sealed, Rust-opened: every segment of every object, checked against the manifest.
    let mut multi_chunk = 0;
    let mut plaintexts = Vec::new();
    for object in &manifest.objects {
        let mut whole = Vec::new();
        for segment in &object.segments {
            let sealed = stored(&segment.sealed_sha256);
            // More than one full chunk and its 16-byte tag: at least two chunks.
            if sealed.len() > HEADER_LEN + CHUNK_SIZE + 16 {
                multi_chunk += 1;
            }
            whole.extend(open_object(&key, &segment.key, &sealed).unwrap());
        }
        assert_eq!(
            hex::encode(Sha256::digest(&whole)),
            object.plaintext_sha256,
            "{}",
            object.resource
        );
        plaintexts.push(whole);
    }
    assert!(multi_chunk > 0, "no segment spans several chunks");
    let users = serde_json::from_slice::<Vec<serde_json::Value>>(&plaintexts[0]).unwrap();
    assert_eq!(
        users.len() as u64,
        backup["counts"]["users"].as_u64().unwrap()
    );
    assert!(users.len() >= USERS);

    // Rust-sealed, worker-opened: the users and groups objects re-sealed segment by segment.
    let rng = CountingRng(std::cell::Cell::new(0));
    let resealed = ["users", "groups"];
    for object in manifest
        .objects
        .iter_mut()
        .filter(|o| resealed.contains(&o.resource.as_str()))
    {
        for segment in &mut object.segments {
            let sealed = stored(&segment.sealed_sha256);
            let plain = open_object(&key, &segment.key, &sealed).unwrap();
            let ours = seal_object(&key, &rng, &segment.key, &plain);
            assert_ne!(ours, sealed);
            put(&segment.key, &ours);
            segment.sealed_bytes = ours.len() as u64;
            segment.sealed_sha256 = hex::encode(Sha256::digest(&ours));
        }
        object.sealed_bytes = object.segments.iter().map(|s| s.sealed_bytes).sum();
    }
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let prefix = psql(&format!("select r2_prefix from backups where id = '{id}'"));
    put(
        &SnapshotLayout::from_prefix(&prefix).manifest_key(),
        &manifest_bytes,
    );
    psql(&format!(
        "set session_replication_role = replica; \
         update backups set manifest_sha256 = '{}' where id = '{id}'",
        hex::encode(Sha256::digest(&manifest_bytes))
    ));
    for (object, plain) in manifest.objects.iter().zip(&plaintexts) {
        let resource = object.resource.as_str();
        if resealed.contains(&resource) {
            let url = user.api(
                "GET",
                &format!("/backups/{id}/objects/{resource}/url"),
                None,
            );
            assert_eq!(url.status, 200, "{}", url.text());
            let reply = call("GET", url.json()["url"].as_str().unwrap(), &[], None);
            assert_eq!(reply.status, 200, "{resource}: {}", reply.text());
            assert!(reply.body == *plain, "{resource} differs");
        }
    }
}
