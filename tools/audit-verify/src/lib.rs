//! Offline verification of a Butterfly audit pack (docs/audit-pack.md).
//!
//! Checks, in order: the archive is a complete zip; `manifest.sig` is a valid Ed25519 signature
//! of `manifest.json` by the key it names, from the key set the auditor trusts; every file the
//! manifest lists is present with its SHA-256 and size, and nothing else is; the activity rows
//! form an unbroken chain (every hash recomputed), matching the manifest's segment, the chain
//! head and every anchor; identity commitments open; snapshot manifests match the hashes their
//! backup rows record. Every failure is reported with the file, line and row it concerns.
//!
//! The chain recomputation is the core's (`butterfly::evidence::chain`), itself checked against
//! the database's own computation by the stack tests.

#![forbid(unsafe_code)]

use butterfly::evidence::anchor::Anchor;
use butterfly::evidence::chain::{ChainVerifier, ChainedRow, SegmentStart};
use butterfly::evidence::pack::manifest::{
    Manifest, ACTIVITY_PATH, ANCHORS_PATH, BACKUP_MANIFESTS_DIR, MANIFEST_PATH, PACK_FORMAT,
    SIGNATURE_PATH,
};
use butterfly::evidence::pack::source::RecordSet;
use butterfly::evidence::signing::{self, KeyId, PublicKey};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Seek};
use zip::ZipArchive;

/// The keys an auditor trusts.
pub enum TrustedKeys {
    /// A JWKS document (Butterfly's `/.well-known/butterfly-audit-keys.json`): the manifest's
    /// key id picks the key.
    Set(Vec<PublicKey>),
    /// One SPKI PEM key: whatever id the manifest names, this key must verify it.
    Single(PublicKey),
}

impl TrustedKeys {
    pub fn from_jwks(text: &str) -> Result<TrustedKeys, String> {
        let keys = signing::parse_jwks(text).map_err(|e| e.to_string())?;
        if keys.is_empty() {
            return Err("the key set has no Ed25519 keys".into());
        }
        Ok(TrustedKeys::Set(keys))
    }

    pub fn from_pem(text: &str) -> Result<TrustedKeys, String> {
        let key = signing::parse_public_key_pem(text).map_err(|e| e.to_string())?;
        Ok(TrustedKeys::Single(PublicKey {
            id: KeyId::parse("pem").expect("valid id"),
            key,
        }))
    }
}

/// What a successful check established.
#[derive(Debug, Default)]
pub struct Summary {
    pub pack_id: String,
    pub key_id: String,
    pub files: usize,
    pub rows: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub anchors: u64,
    pub identities_opened: u64,
    pub identities_erased: u64,
    pub backup_manifests: usize,
    /// Facts worth knowing that are not failures (e.g. an anchor outside the exported range).
    pub notes: Vec<String>,
}

/// Everything wrong with a pack (empty means it verified).
#[derive(Debug, Default)]
pub struct Outcome {
    pub summary: Summary,
    pub failures: Vec<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    fn fail(&mut self, message: impl Into<String>) {
        self.failures.push(message.into());
    }
}

/// Most bytes read from the archive for the manifest and its signature.
const MAX_MANIFEST: u64 = 64 * 1024 * 1024;

fn read_small<R: Read + Seek>(zip: &mut ZipArchive<R>, path: &str) -> Result<Vec<u8>, String> {
    let file = zip
        .by_name(path)
        .map_err(|_| format!("{path} is missing from the archive"))?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{path} cannot be read: {e}"))?;
    Ok(bytes)
}

/// Checks the pack in `reader` against `keys`.
pub fn verify_pack<R: Read + Seek>(reader: R, keys: &TrustedKeys) -> Outcome {
    let mut out = Outcome::default();
    let mut zip = match ZipArchive::new(reader) {
        Ok(z) => z,
        Err(e) => {
            out.fail(format!(
                "not a complete zip archive ({e}): the file is truncated or damaged"
            ));
            return out;
        }
    };
    let manifest_bytes = match read_small(&mut zip, MANIFEST_PATH) {
        Ok(b) => b,
        Err(e) => {
            out.fail(e);
            return out;
        }
    };
    let signature = match read_small(&mut zip, SIGNATURE_PATH) {
        Ok(b) => b,
        Err(e) => {
            out.fail(e);
            return out;
        }
    };
    // The key id is needed before the manifest can be trusted: read just that field first.
    let key_id = serde_json::from_slice::<serde_json::Value>(&manifest_bytes)
        .ok()
        .and_then(|v| v["signature"]["key_id"].as_str().map(str::to_string));
    let Some(key_id) = key_id else {
        out.fail("manifest.json is not a Butterfly audit-pack manifest (no signature.key_id)");
        return out;
    };
    out.summary.key_id = key_id.clone();
    let key = match keys {
        TrustedKeys::Single(k) => Some(k),
        TrustedKeys::Set(set) => set.iter().find(|k| k.id.as_str() == key_id),
    };
    let Some(key) = key else {
        let known: Vec<&str> = match keys {
            TrustedKeys::Set(set) => set.iter().map(|k| k.id.as_str()).collect(),
            TrustedKeys::Single(_) => Vec::new(),
        };
        out.fail(format!(
            "manifest.json is signed by key {key_id:?}, which is not in the trusted key set (it has {})",
            known.join(", ")
        ));
        return out;
    };
    if let Err(e) = signing::verify(key, &manifest_bytes, &signature) {
        out.fail(match e {
            signing::SigningError::SignatureLength => format!(
                "manifest.sig is {} bytes, not a 64-byte Ed25519 signature",
                signature.len()
            ),
            _ => format!(
                "manifest signature does not verify with trusted key {key_id:?}: manifest.json was altered after signing, or signed with a different key"
            ),
        });
        return out;
    }
    let manifest: Manifest = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            out.fail(format!(
                "manifest.json is signed but not a valid manifest: {e}"
            ));
            return out;
        }
    };
    if manifest.format != PACK_FORMAT {
        out.fail(format!(
            "manifest.json has format {:?}; this verifier reads {PACK_FORMAT}",
            manifest.format
        ));
        return out;
    }
    out.summary.pack_id = manifest.pack_id.clone();

    check_files(&mut zip, &manifest, &mut out);
    check_chain(&mut zip, &manifest, &mut out);
    check_sections(&manifest, &mut out);
    check_backup_manifests(&mut zip, &manifest, &mut out);
    out
}

fn check_files<R: Read + Seek>(zip: &mut ZipArchive<R>, manifest: &Manifest, out: &mut Outcome) {
    let mut in_archive = BTreeSet::new();
    for i in 0..zip.len() {
        let Some(Ok(name)) = zip.name_for_index(i) else {
            out.fail(format!("archive entry {i} has no readable name"));
            continue;
        };
        if !in_archive.insert(name.to_string()) {
            out.fail(format!("{name} appears twice in the archive"));
        }
    }
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    if listed.len() != manifest.files.len() {
        out.fail("manifest.json lists a file twice");
    }
    for name in &in_archive {
        if name != MANIFEST_PATH && name != SIGNATURE_PATH && !listed.contains(name.as_str()) {
            out.fail(format!(
                "{name} is in the archive but not in manifest.json (added after signing)"
            ));
        }
    }
    for entry in &manifest.files {
        let mut file = match zip.by_name(&entry.path) {
            Ok(f) => f,
            Err(_) => {
                out.fail(format!(
                    "{} is listed in manifest.json but missing from the archive",
                    entry.path
                ));
                continue;
            }
        };
        let mut hash = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        let read = loop {
            match file.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    hash.update(&buf[..n]);
                    size += n as u64;
                }
                Err(e) => break Err(e),
            }
        };
        if let Err(e) = read {
            out.fail(format!("{} cannot be read: {e}", entry.path));
            continue;
        }
        let sha = hex::encode(hash.finalize());
        if sha != entry.sha256 {
            out.fail(format!(
                "{}: SHA-256 mismatch: manifest.json says {}, the file has {sha} (the file was altered)",
                entry.path, entry.sha256
            ));
        } else if size != entry.size {
            out.fail(format!(
                "{}: size mismatch: manifest.json says {} bytes, the file has {size}",
                entry.path, entry.size
            ));
        }
        out.summary.files += 1;
    }
}

fn jsonl_lines<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    path: &str,
    out: &mut Outcome,
    mut each: impl FnMut(usize, &str, &mut Outcome),
) {
    let file = match zip.by_name(path) {
        Ok(f) => f,
        Err(_) => return out.fail(format!("{path} is missing from the archive")),
    };
    for (i, line) in BufReader::new(file).lines().enumerate() {
        match line {
            Ok(line) => each(i + 1, &line, out),
            Err(e) => return out.fail(format!("{path} line {}: cannot be read: {e}", i + 1)),
        }
    }
}

fn check_chain<R: Read + Seek>(zip: &mut ZipArchive<R>, manifest: &Manifest, out: &mut Outcome) {
    let chain = &manifest.chain;
    let mut anchors: Vec<Anchor> = Vec::new();
    jsonl_lines(
        zip,
        ANCHORS_PATH,
        out,
        |n, line, out| match serde_json::from_str::<Anchor>(line) {
            Ok(a) if a.chain == chain.chain => anchors.push(a),
            Ok(a) => out.fail(format!(
                "{ANCHORS_PATH} line {n}: anchor of chain {}, not of the pack's chain {}",
                a.chain, chain.chain
            )),
            Err(e) => out.fail(format!("{ANCHORS_PATH} line {n}: not an anchor: {e}")),
        },
    );
    if anchors.len() as u64 != chain.anchors.count {
        out.fail(format!(
            "{ANCHORS_PATH} has {} anchors; manifest.json says {}",
            anchors.len(),
            chain.anchors.count
        ));
    }
    let team = manifest.scope.team_id;
    let mut verifier: Option<ChainVerifier> = None;
    let mut seen = 0usize;
    let mut rows = 0u64;
    jsonl_lines(zip, ACTIVITY_PATH, out, |n, line, out| {
        let row: ChainedRow = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                return out.fail(format!(
                    "{ACTIVITY_PATH} line {n}: not an activity row: {e}"
                ))
            }
        };
        rows += 1;
        if row.team_id != Some(team) {
            out.fail(format!(
                "{ACTIVITY_PATH} line {n} (seq {}): the row belongs to another team",
                row.chain_seq
            ));
        }
        let v = verifier.get_or_insert_with(|| {
            let start = match &chain.segment {
                Some(s) if s.first_seq == 1 => SegmentStart::genesis(),
                Some(s) => SegmentStart {
                    first_seq: s.first_seq,
                    prev_hash: s.first_prev_hash.clone(),
                },
                None => SegmentStart::genesis(),
            };
            let mut v = ChainVerifier::new(start);
            for a in &anchors {
                v.expect_anchor(a.seq, &a.head_hash);
            }
            v
        });
        v.push(&row);
        for p in &v.problems()[seen..] {
            out.failures
                .push(format!("{ACTIVITY_PATH} line {n}: {}", p.message));
        }
        seen = v.problems().len();
    });
    let Some(verifier) = verifier else {
        if let Some(s) = &chain.segment {
            out.fail(format!(
                "{ACTIVITY_PATH} is empty, but manifest.json declares rows seq {} to {}",
                s.first_seq, s.last_seq
            ));
        }
        return;
    };
    let Some(segment) = &chain.segment else {
        out.fail(format!(
            "{ACTIVITY_PATH} has rows, but manifest.json declares none"
        ));
        return;
    };
    let report = verifier.finish(Some((segment.last_seq, segment.last_hash.as_str())));
    for p in &report.problems[seen.min(report.problems.len())..] {
        out.failures.push(format!("{ACTIVITY_PATH}: {}", p.message));
    }
    if report.problem_count > report.problems.len() as u64 {
        out.fail(format!(
            "{ACTIVITY_PATH}: {} further chain problems not listed",
            report.problem_count - report.problems.len() as u64
        ));
    }
    if report.rows != segment.rows {
        out.fail(format!(
            "{ACTIVITY_PATH} has {} rows; manifest.json says {}",
            report.rows, segment.rows
        ));
    }
    if report.first_seq != Some(segment.first_seq) {
        out.fail(format!(
            "{ACTIVITY_PATH} starts at seq {}; manifest.json says {}",
            report.first_seq.unwrap_or_default(),
            segment.first_seq
        ));
    }
    if let Some(head) = &chain.head {
        if segment.last_seq > head.seq {
            out.fail(format!(
                "the exported rows end at seq {} beyond the chain head seq {}",
                segment.last_seq, head.seq
            ));
        } else if segment.last_seq == head.seq && segment.last_hash != head.head_hash {
            out.fail(format!(
                "the last row (seq {}) hashes to {} but the chain head records {}",
                head.seq, segment.last_hash, head.head_hash
            ));
        }
    }
    if report.anchors_checked != anchors.len() as u64 {
        out.fail(format!(
            "{} of {} anchors name rows outside the exported segment",
            anchors.len() as u64 - report.anchors_checked,
            anchors.len()
        ));
    }
    if report.anchors_checked == 0 {
        out.summary
            .notes
            .push("no anchor falls within the exported rows: the chain is checked for internal consistency only".into());
    }
    let exporter = &chain.verification;
    if exporter.status == "broken" {
        out.summary.notes.push(format!(
            "the exporter itself recorded {} chain problems at export time",
            exporter.problem_count
        ));
    }
    out.summary.rows = report.rows;
    out.summary.first_seq = report.first_seq;
    out.summary.last_seq = report.last_seq;
    out.summary.anchors = report.anchors_checked;
    out.summary.identities_opened = report.identities_opened;
    out.summary.identities_erased = report.identities_erased;
}

fn check_sections(manifest: &Manifest, out: &mut Outcome) {
    let by_path: BTreeMap<&str, _> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    for section in &manifest.sections {
        for path in &section.files {
            if !by_path.contains_key(path.as_str()) {
                out.fail(format!(
                    "section {} names {path}, which manifest.json does not list",
                    section.name
                ));
            }
        }
        let set = RecordSet::ALL.iter().find(|s| s.name() == section.name);
        if let Some(set) = set {
            let records = by_path.get(set.path()).and_then(|f| f.records);
            if records != Some(section.records) {
                out.fail(format!(
                    "section {}: {} has {} records, the section says {}",
                    section.name,
                    set.path(),
                    records.unwrap_or_default(),
                    section.records
                ));
            }
        }
        if !section.collected {
            out.summary.notes.push(format!(
                "{}: not collected ({})",
                section.name,
                section.note.as_deref().unwrap_or("no reason given")
            ));
        }
    }
}

fn check_backup_manifests<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    manifest: &Manifest,
    out: &mut Outcome,
) {
    let mut recorded: BTreeMap<String, String> = BTreeMap::new();
    jsonl_lines(zip, RecordSet::Backups.path(), out, |_, line, _| {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            if let (Some(id), Some(sha)) = (v["id"].as_str(), v["manifest_sha256"].as_str()) {
                recorded.insert(id.to_string(), sha.to_string());
            }
        }
    });
    for entry in &manifest.files {
        let Some(id) = entry
            .path
            .strip_prefix(BACKUP_MANIFESTS_DIR)
            .and_then(|p| p.strip_suffix(".json"))
        else {
            continue;
        };
        out.summary.backup_manifests += 1;
        match recorded.get(id) {
            Some(sha) if *sha == entry.sha256 => {}
            Some(sha) => out.fail(format!(
                "{}: the snapshot manifest hashes to {}, but its backup row records manifest_sha256 {sha}",
                entry.path, entry.sha256
            )),
            None => out.fail(format!(
                "{}: no backup row in {} records this snapshot manifest",
                entry.path,
                RecordSet::Backups.path()
            )),
        }
    }
    let missing = recorded.len().saturating_sub(out.summary.backup_manifests);
    if missing > 0 {
        out.summary.notes.push(format!(
            "{missing} complete backups have no snapshot manifest in the pack (expired under the plan's retention)"
        ));
    }
}
