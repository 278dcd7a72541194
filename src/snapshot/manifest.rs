//! `manifest.json`: what a snapshot contains and the hashes that let anyone verify it. It is
//! written last, so its presence marks a finished snapshot; its own SHA-256 is recorded in the
//! database row.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tenant::ResourceType;

/// 2: objects are sequences of independently sealed segments, so a backup can resume.
pub const FORMAT_VERSION: u32 = 2;

/// Secrets Okta never returns through its API; a restore has to ask for them again.
pub const NOT_RESTORABLE: &[&str] = &[
    "user passwords and recovery answers",
    "app client secrets and SWA shared passwords",
    "event/inline hook authentication header values",
    "identity provider client secrets",
    "API token values (only token metadata is listed)",
    "private signing keys of authorization servers and identity providers",
    "authenticator provider secrets (e.g. RADIUS/Duo shared secrets)",
];

pub const WORKFLOWS_NOTE: &str =
    "Okta Workflows has no public management API; flows are not included in this backup.";

/// One sealed piece of an object: a BFS1 object of its own, holding a byte range of the
/// object's JSON (a backup cuts a segment at every checkpoint).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub key: String,
    pub plaintext_bytes: u64,
    pub sealed_bytes: u64,
    pub sealed_sha256: String,
}

/// One resource type's object: the concatenated plaintext of its segments is a JSON array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub resource: ResourceType,
    pub count: u64,
    pub plaintext_bytes: u64,
    pub sealed_bytes: u64,
    /// SHA-256 of the whole object's plaintext (all segments, in order).
    pub plaintext_sha256: String,
    pub segments: Vec<Segment>,
    /// Lists Okta refused because the org's edition or licence lacks them (`400 E0000002`, e.g.
    /// an Identity Engine policy type in a Classic org): not in the object, and said so here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub backup_id: String,
    pub team_id: String,
    pub connection_id: String,
    pub org_domain: String,
    pub started_at: String,
    pub finished_at: String,
    /// How objects are sealed (see docs/snapshot-format.md).
    pub sealing: String,
    pub objects: Vec<ObjectEntry>,
    pub not_restorable: Vec<String>,
    pub notes: Vec<String>,
}

impl Manifest {
    /// Canonical bytes: fixed field order, no whitespace.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifest serializes")
    }

    pub fn object(&self, resource: ResourceType) -> Option<&ObjectEntry> {
        self.objects.iter().find(|o| o.resource == resource)
    }

    /// Every key the snapshot consists of: the manifest and each segment.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.objects
            .iter()
            .flat_map(|o| o.segments.iter().map(|s| s.key.as_str()))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answer() {
        // FIPS 180-2 "abc".
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
