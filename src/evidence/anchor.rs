//! Chain-head anchors: write-once objects in R2 that record a team chain's head (its sequence
//! number and row hash) at a moment. Someone with write access to the database could rewrite a
//! whole chain consistently, recomputing every hash; they cannot rewrite the anchors, which live
//! in another system under other credentials. Verification (`activity_chain_verify(..,
//! anchors)`, the pack verifier) checks the rows against every anchor in range.
//!
//! Key: `audit-anchors/<team id>/<seq, 20 digits>.json`, so a listing is in sequence order and
//! one head is anchored at most once. Write-once is enforced twice: [`write_anchor`] never
//! replaces an anchor with different content, and in production the bucket's lock rule on the
//! `audit-anchors/` prefix (R2 bucket locks) keeps anyone from deleting or overwriting one.
//! The anchoring job itself (periodic, per team whose head moved) runs in the job runner.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chain::format_time;
use crate::ids::TeamId;
use crate::ports::{ObjectStore, StoreError};

/// `format` of an anchor object.
pub const ANCHOR_FORMAT: &str = "butterfly.chain-anchor.v1";
/// Prefix of every anchor key (the bucket-lock rule's prefix).
pub const ANCHOR_PREFIX: &str = "audit-anchors/";
/// Chain of rows without a team (`activity_chain_team(null)` in SQL).
pub const NO_TEAM_CHAIN: &str = "00000000-0000-0000-0000-000000000000";

/// One anchored head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    pub format: String,
    /// The chain's team; the nil uuid for rows without one.
    pub chain: String,
    pub seq: i64,
    pub head_hash: String,
    pub anchored_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("anchor {key} exists with different content: refusing to replace it")]
    Conflict { key: String },
    #[error("anchor {key} is not a valid anchor: {reason}")]
    Invalid { key: String, reason: String },
}

/// What [`write_anchor`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorWrite {
    Created,
    /// The same head was anchored before (a retried job): nothing written.
    AlreadyAnchored,
}

/// The chain name of a team (or of team-less rows).
pub fn chain_name(team: Option<TeamId>) -> String {
    team.map_or_else(|| NO_TEAM_CHAIN.to_string(), |t| t.to_string())
}

impl Anchor {
    pub fn new(team: Option<TeamId>, seq: i64, head_hash: &str, at: DateTime<Utc>) -> Anchor {
        Anchor {
            format: ANCHOR_FORMAT.to_string(),
            chain: chain_name(team),
            seq,
            head_hash: head_hash.to_string(),
            anchored_at: format_time(&at),
        }
    }

    /// Its R2 key.
    pub fn key(&self) -> String {
        format!("{ANCHOR_PREFIX}{}/{:020}.json", self.chain, self.seq)
    }

    /// The object's bytes (one JSON line).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).expect("anchors serialise");
        bytes.push(b'\n');
        bytes
    }

    /// Parses and checks an anchor object read back from `key`.
    pub fn parse(key: &str, bytes: &[u8]) -> Result<Anchor, AnchorError> {
        let invalid = |reason: String| AnchorError::Invalid {
            key: key.to_string(),
            reason,
        };
        let anchor: Anchor = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if anchor.format != ANCHOR_FORMAT {
            return Err(invalid(format!("unknown format {:?}", anchor.format)));
        }
        let hex = anchor.head_hash.len() == 64
            && anchor
                .head_hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex || anchor.seq < 1 {
            return Err(invalid("seq or head_hash out of range".into()));
        }
        if anchor.key() != key {
            return Err(invalid("its content names another key".into()));
        }
        Ok(anchor)
    }

    /// Same chain position and hash (the time may differ between two writers of one head).
    fn same_head(&self, other: &Anchor) -> bool {
        self.chain == other.chain && self.seq == other.seq && self.head_hash == other.head_hash
    }
}

/// The prefix listing a chain's anchors.
pub fn chain_prefix(team: Option<TeamId>) -> String {
    format!("{ANCHOR_PREFIX}{}/", chain_name(team))
}

/// Whether the job should anchor `head_seq` given the chain's latest anchor: only when the head
/// moved (an idle team gets no new objects).
pub fn needs_anchor(latest: Option<&Anchor>, head_seq: i64) -> bool {
    head_seq > 0 && latest.is_none_or(|a| a.seq < head_seq)
}

/// Writes `anchor` unless its key exists. An existing anchor for the same head is success (the
/// job is idempotent); one with a different hash is a conflict, never overwritten: it means the
/// chain was rewritten after it was anchored, which is exactly what anchors exist to expose.
///
/// The object store port has no conditional put, so a concurrent writer could slip in between
/// the read and the write; the anchoring job runs under the job runner's lease (one writer per
/// team), and the bucket lock makes the first write final regardless.
pub async fn write_anchor(
    store: &dyn ObjectStore,
    anchor: &Anchor,
) -> Result<AnchorWrite, AnchorError> {
    let key = anchor.key();
    if let Some(existing) = store.get(&key).await? {
        let existing = Anchor::parse(&key, &existing)?;
        return if existing.same_head(anchor) {
            Ok(AnchorWrite::AlreadyAnchored)
        } else {
            Err(AnchorError::Conflict { key })
        };
    }
    store.put(&key, anchor.to_bytes()).await?;
    Ok(AnchorWrite::Created)
}

/// The newest anchor of a chain, from a listing of its prefix (keys sort by sequence number).
pub async fn latest_anchor(
    store: &dyn ObjectStore,
    team: Option<TeamId>,
) -> Result<Option<Anchor>, AnchorError> {
    let keys = store.list(&chain_prefix(team)).await?;
    let Some(key) = keys.last() else {
        return Ok(None);
    };
    match store.get(key).await? {
        Some(bytes) => Anchor::parse(key, &bytes).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStore;
    use chrono::TimeZone;
    use futures::executor::block_on;

    fn team() -> TeamId {
        TeamId::parse("b05d6718-e1a7-4852-98b1-b5c3fbc82eef").unwrap()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn keys_sort_by_sequence_and_name_the_chain() {
        let a = Anchor::new(Some(team()), 42, &"a".repeat(64), at(0));
        assert_eq!(
            a.key(),
            "audit-anchors/b05d6718-e1a7-4852-98b1-b5c3fbc82eef/00000000000000000042.json"
        );
        assert!(
            Anchor::new(None, 9, &"a".repeat(64), at(0)).key()
                < Anchor::new(None, 10, &"a".repeat(64), at(0)).key()
        );
        assert_eq!(
            chain_prefix(None),
            "audit-anchors/00000000-0000-0000-0000-000000000000/"
        );
    }

    #[test]
    fn anchors_are_written_once() {
        let store = MemoryStore::default();
        let first = Anchor::new(Some(team()), 7, &"a".repeat(64), at(10));
        assert_eq!(
            block_on(write_anchor(&store, &first)).unwrap(),
            AnchorWrite::Created
        );
        // A retried job anchoring the same head later: accepted, nothing rewritten.
        let retry = Anchor::new(Some(team()), 7, &"a".repeat(64), at(99));
        assert_eq!(
            block_on(write_anchor(&store, &retry)).unwrap(),
            AnchorWrite::AlreadyAnchored
        );
        assert_eq!(store.objects.borrow()[&first.key()], first.to_bytes());
        // A different hash for the same position: refused and left as it was.
        let forged = Anchor::new(Some(team()), 7, &"b".repeat(64), at(99));
        assert!(matches!(
            block_on(write_anchor(&store, &forged)),
            Err(AnchorError::Conflict { .. })
        ));
        assert_eq!(store.objects.borrow()[&first.key()], first.to_bytes());
        assert_eq!(store.writes(), 1);
    }

    #[test]
    fn the_latest_anchor_is_found_and_checked() {
        let store = MemoryStore::default();
        assert_eq!(block_on(latest_anchor(&store, Some(team()))).unwrap(), None);
        for seq in [3, 12, 100] {
            let a = Anchor::new(Some(team()), seq, &"c".repeat(64), at(seq));
            block_on(write_anchor(&store, &a)).unwrap();
        }
        let latest = block_on(latest_anchor(&store, Some(team())))
            .unwrap()
            .unwrap();
        assert_eq!(latest.seq, 100);
        assert!(!needs_anchor(Some(&latest), 100));
        assert!(needs_anchor(Some(&latest), 101));
        assert!(needs_anchor(None, 1));
        assert!(!needs_anchor(None, 0));

        // An object whose content names another position is not an anchor.
        let key = Anchor::new(Some(team()), 200, &"c".repeat(64), at(0)).key();
        let moved = Anchor::new(Some(team()), 201, &"c".repeat(64), at(0)).to_bytes();
        assert!(matches!(
            Anchor::parse(&key, &moved),
            Err(AnchorError::Invalid { .. })
        ));
    }
}
