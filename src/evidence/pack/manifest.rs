//! `manifest.json`: what an audit pack contains and how to check it. Signed byte for byte
//! (`manifest.sig`), so its serialisation needs no canonical form.

use serde::{Deserialize, Serialize};

use crate::evidence::anchor::Anchor;
use crate::evidence::chain::Problem;
use crate::ids::TeamId;

pub const PACK_FORMAT: &str = "butterfly.audit-pack.v1";
pub const MANIFEST_PATH: &str = "manifest.json";
pub const SIGNATURE_PATH: &str = "manifest.sig";
pub const README_PATH: &str = "README.txt";
pub const ACTIVITY_PATH: &str = "activity/activity_logs.jsonl";
pub const ANCHORS_PATH: &str = "activity/anchors.jsonl";
/// Snapshot manifests are `backups/manifests/<backup id>.json`.
pub const BACKUP_MANIFESTS_DIR: &str = "backups/manifests/";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub pack_id: String,
    /// `butterfly <version>`.
    pub generator: String,
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub scope: Scope,
    pub requested_by: Requester,
    pub signature: SignatureInfo,
    /// Every file of the archive except `manifest.json` and `manifest.sig`, in archive order.
    pub files: Vec<FileEntry>,
    pub sections: Vec<Section>,
    pub chain: ChainSummary,
}

/// What was exported: one team, rows from `from` (inclusive) to `to` (exclusive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    pub team_id: TeamId,
    pub from: String,
    pub to: String,
}

/// Who asked for the export (the export is itself an audited event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requester {
    pub actor_type: String,
    pub actor_id: String,
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureInfo {
    /// Always `Ed25519` (RFC 8032, pure: the signature is over the manifest bytes themselves).
    pub algorithm: String,
    pub key_id: String,
    /// The raw 64-byte signature's path in the archive.
    pub file: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    /// Lowercase hex SHA-256 of the file's bytes as extracted.
    pub sha256: String,
    pub size: u64,
    /// Lines, for JSON-lines files.
    pub records: Option<u64>,
    pub media_type: String,
}

/// One kind of evidence and the files holding it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub name: String,
    pub files: Vec<String>,
    pub records: u64,
    /// False when this deployment does not produce this evidence yet (its files are empty).
    pub collected: bool,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainHead {
    pub seq: i64,
    pub head_hash: String,
}

/// The exported stretch of the chain: contiguous sequence numbers `first_seq..=last_seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSegment {
    pub first_seq: i64,
    /// The hash the first row links to (all zeros when `first_seq` is 1).
    pub first_prev_hash: String,
    pub last_seq: i64,
    pub last_hash: String,
    pub rows: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorSummary {
    pub file: String,
    /// Anchors within the exported segment, every one of them checked against its row.
    pub count: u64,
    /// The newest of them.
    pub latest: Option<Anchor>,
}

/// What the exporter found when it checked the chain while writing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// `intact`, `broken` or `empty`.
    pub status: String,
    pub problem_count: u64,
    pub problems: Vec<Problem>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSummary {
    /// The team's chain (its team id).
    pub chain: String,
    /// The chain's head when the export started; exported rows never go past it.
    pub head: Option<ChainHead>,
    pub segment: Option<ChainSegment>,
    pub anchors: AnchorSummary,
    pub verification: Verification,
}
