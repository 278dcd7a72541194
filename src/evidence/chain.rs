//! The activity log's hash chain, recomputed in Rust: the exporter checks each row as it streams
//! it into an audit pack, and `tools/audit-verify` checks a pack offline. The database computes
//! the same hashes in its insert trigger (migrations/0008_activity_chain.sql); the encoding is
//! specified in docs/audit-pack.md.
//!
//! A row's `row_hash` is the SHA-256 of its canonical content, a canonical-JSON array that ends
//! with the previous row's hash. Identifying values (a user actor's or target's id, email, name,
//! source IP, identifying keys of `details`) are not in that array: they enter it through the
//! row's `identity_commitment`, a salted hash the deletion purge can make unopenable without
//! breaking the chain.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::IpAddr;

use super::canonical::{to_canonical, CanonicalError};
use crate::ids::TeamId;

/// `prev_hash` of a chain's first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// First element of a v1 row's canonical content (rows written before migration 0017).
pub const CONTENT_TAG_V1: &str = "butterfly.activity.v1";
/// First element of a v2 row's canonical content, which adds `key_id` and `client_request_id`.
pub const CONTENT_TAG_V2: &str = "butterfly.activity.v2";
/// First element of an identity commitment's preimage.
pub const IDENTITY_TAG: &str = "butterfly.identity.v1";
/// Keys of `details` that name a person (`activity_identity_detail_keys()` in SQL).
pub const IDENTITY_DETAIL_KEYS: [&str; 5] =
    ["approved_by", "display_name", "email", "ip", "user_id"];
/// Those of them holding a user id: pseudonymised by the purge rather than removed.
pub const IDENTITY_USER_KEYS: [&str; 2] = ["approved_by", "user_id"];
/// Most problems a report lists (it still counts them all).
pub const MAX_LISTED_PROBLEMS: usize = 100;

/// One `activity_logs` row with its chain fields, as an audit pack's `activity_logs.jsonl` holds
/// it (one JSON object per line) and as the service role reads it from PostgREST.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainedRow {
    pub id: i64,
    pub team_id: Option<TeamId>,
    /// Always written with six fractional digits in UTC (the canonical form), read in any
    /// RFC 3339 form.
    #[serde(serialize_with = "canonical_time")]
    pub occurred_at: DateTime<Utc>,
    pub actor_type: String,
    pub actor_id: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub request_id: Option<String>,
    /// The address alone (PostgreSQL's `host()`), never a `/32` suffix.
    #[serde(deserialize_with = "host_address")]
    pub source_ip: Option<String>,
    #[serde(default)]
    pub actor_email: Option<String>,
    #[serde(default)]
    pub actor_name: Option<String>,
    /// The API key an `api_key` actor used, and the client's own request id (migration 0010).
    /// Hashed in v2 rows; carried but not hashed in v1 rows (written before migration 0017).
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub client_request_id: Option<String>,
    /// Which canonical content the row was hashed with: 1 or 2 (absent in packs written
    /// before v2 existed, which hold only v1 rows).
    #[serde(default = "chain_version_1")]
    pub chain_version: i16,
    pub details: Value,
    pub chain_seq: i64,
    pub prev_hash: String,
    pub row_hash: String,
    pub identity_commitment: Option<String>,
    /// The commitment's salt, lowercase hex; absent once the purge erased it.
    #[serde(default, deserialize_with = "salt_hex")]
    pub identity_salt: Option<String>,
}

fn chain_version_1() -> i16 {
    1
}

fn canonical_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the form the canonical content uses.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn host_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(|s| normalise_ip(&s)))
}

/// PostgreSQL `host(inet)`: the address without a mask, IPv6 in RFC 5952 form.
pub fn normalise_ip(s: &str) -> String {
    let address = s.split('/').next().unwrap_or(s);
    address
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|_| address.to_string())
}

/// Accepts PostgREST's bytea form (`\x` + hex) and plain hex.
fn salt_hex<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(s) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    let hex = s.strip_prefix("\\x").unwrap_or(&s).to_ascii_lowercase();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Some(hex))
    } else {
        Err(serde::de::Error::custom(
            "identity_salt must be 32 bytes of hex",
        ))
    }
}

fn is_user_target(row: &ChainedRow) -> bool {
    row.target_type.as_deref() == Some("user")
}

/// The identifying values of a row, by name (empty when it names nobody).
pub fn identity_fields(row: &ChainedRow) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut put = |name: &str, value: Option<&str>| {
        if let Some(v) = value {
            fields.insert(name.to_string(), v.to_string());
        }
    };
    put(
        "actor_id",
        (row.actor_type == "user").then_some(row.actor_id.as_str()),
    );
    put(
        "target_id",
        row.target_id.as_deref().filter(|_| is_user_target(row)),
    );
    put("actor_email", row.actor_email.as_deref());
    put("actor_name", row.actor_name.as_deref());
    put("source_ip", row.source_ip.as_deref());
    if let Value::Object(details) = &row.details {
        for key in IDENTITY_DETAIL_KEYS {
            match details.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    fields.insert(format!("details.{key}"), s.clone());
                }
                Some(other) => {
                    let text = to_canonical(other).unwrap_or_else(|_| other.to_string());
                    fields.insert(format!("details.{key}"), text);
                }
            }
        }
    }
    fields
}

/// `SHA-256(canonical(["butterfly.identity.v1", salt_hex, fields]))`, or `None` for no fields.
pub fn identity_commitment(salt_hex: &str, fields: &BTreeMap<String, String>) -> Option<String> {
    if fields.is_empty() {
        return None;
    }
    let preimage = json!([IDENTITY_TAG, salt_hex, fields]);
    let canonical = to_canonical(&preimage).expect("strings only");
    Some(hex::encode(Sha256::digest(canonical.as_bytes())))
}

/// A pseudonym written by the deletion purge (`activity_is_pseudonym` in SQL).
pub fn is_pseudonym(value: &str) -> bool {
    value.len() == 27
        && value.starts_with("erased-")
        && value[7..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True when every identifying value is gone or is a purge pseudonym (`activity_identity_erased`).
pub fn identity_erased(row: &ChainedRow) -> bool {
    identity_fields(row).iter().all(|(name, value)| {
        let pseudonymised = name == "actor_id"
            || name == "target_id"
            || IDENTITY_USER_KEYS
                .iter()
                .any(|k| name.strip_prefix("details.") == Some(k));
        pseudonymised && is_pseudonym(value)
    })
}

/// The canonical content of a row: what `row_hash` is the SHA-256 of.
pub fn canonical_content(row: &ChainedRow) -> Result<String, CanonicalError> {
    let details = match &row.details {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !IDENTITY_DETAIL_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    };
    let actor_id = (row.actor_type != "user").then_some(&row.actor_id);
    let target_id = row.target_id.as_ref().filter(|_| !is_user_target(row));
    let content = match row.chain_version {
        1 => json!([
            CONTENT_TAG_V1,
            row.chain_seq,
            row.id,
            row.team_id,
            format_time(&row.occurred_at),
            row.actor_type,
            actor_id,
            row.action,
            row.target_type,
            target_id,
            row.request_id,
            details,
            row.identity_commitment,
            row.prev_hash,
        ]),
        2 => json!([
            CONTENT_TAG_V2,
            row.chain_seq,
            row.id,
            row.team_id,
            format_time(&row.occurred_at),
            row.actor_type,
            actor_id,
            row.key_id,
            row.action,
            row.target_type,
            target_id,
            row.request_id,
            row.client_request_id,
            details,
            row.identity_commitment,
            row.prev_hash,
        ]),
        other => return Err(CanonicalError::Version(other)),
    };
    to_canonical(&content)
}

/// Lowercase hex SHA-256 of the row's canonical content.
pub fn row_hash(row: &ChainedRow) -> Result<String, CanonicalError> {
    Ok(hex::encode(Sha256::digest(
        canonical_content(row)?.as_bytes(),
    )))
}

/// What is wrong at a place in the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// One or more rows are gone (a gap in the sequence, or the tail is shorter than the head).
    MissingRows,
    /// Two rows claim the same sequence number.
    DuplicateSeq,
    /// A row's content does not hash to its `row_hash`: it was edited.
    ContentMismatch,
    /// A row's `prev_hash` is not the hash of the row before it: a row was replaced or reordered.
    BrokenLink,
    /// A row's identifying values do not open its commitment: they were edited.
    IdentityMismatch,
    /// A row's salt is gone but its identifying values were not erased.
    IdentityUnverifiable,
    /// The chain's end does not match the recorded head.
    HeadMismatch,
    /// A row does not match the hash anchored for it in R2: the chain was rewritten.
    AnchorMismatch,
    /// A row cannot be encoded canonically (a non-integer number in `details`).
    Unencodable,
}

/// One break, located by sequence number and row id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub seq: i64,
    pub id: Option<i64>,
    pub message: String,
}

/// Where a chain segment starts: its first sequence number and the hash it must link to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentStart {
    pub first_seq: i64,
    pub prev_hash: String,
}

impl SegmentStart {
    /// A whole chain: seq 1, linked to the genesis hash.
    pub fn genesis() -> SegmentStart {
        SegmentStart {
            first_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
        }
    }
}

/// The outcome of checking a chain segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    pub rows: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub last_hash: Option<String>,
    pub identities_opened: u64,
    pub identities_erased: u64,
    /// Anchors whose row was in the checked rows (each one compared).
    pub anchors_checked: u64,
    pub problem_count: u64,
    /// The first [`MAX_LISTED_PROBLEMS`] problems, in chain order.
    pub problems: Vec<Problem>,
}

impl ChainReport {
    pub fn intact(&self) -> bool {
        self.problem_count == 0
    }
}

/// Checks rows one at a time, in sequence order, holding only the previous row's hash: a
/// million-row chain is checked in constant memory.
pub struct ChainVerifier {
    start: SegmentStart,
    next_seq: i64,
    prev_hash: String,
    prev_id: Option<i64>,
    anchors: BTreeMap<i64, String>,
    report: ChainReport,
}

impl ChainVerifier {
    pub fn new(start: SegmentStart) -> ChainVerifier {
        ChainVerifier {
            next_seq: start.first_seq,
            prev_hash: start.prev_hash.clone(),
            prev_id: None,
            anchors: BTreeMap::new(),
            start,
            report: ChainReport {
                rows: 0,
                first_seq: None,
                last_seq: None,
                last_hash: None,
                identities_opened: 0,
                identities_erased: 0,
                anchors_checked: 0,
                problem_count: 0,
                problems: Vec::new(),
            },
        }
    }

    /// A segment that starts at `first`: linked to the genesis hash at seq 1, otherwise to
    /// whatever `first` links to (the rows before it are not in view).
    pub fn starting_at(first: &ChainedRow) -> ChainVerifier {
        ChainVerifier::new(if first.chain_seq == 1 {
            SegmentStart::genesis()
        } else {
            SegmentStart {
                first_seq: first.chain_seq,
                prev_hash: first.prev_hash.clone(),
            }
        })
    }

    /// Problems found so far (the first [`MAX_LISTED_PROBLEMS`]).
    pub fn problems(&self) -> &[Problem] {
        &self.report.problems
    }

    /// The last row's sequence number so far.
    pub fn last_seq(&self) -> Option<i64> {
        self.report.last_seq
    }

    /// Requires the row at `seq` to hash to `head_hash` (an R2 anchor).
    pub fn expect_anchor(&mut self, seq: i64, head_hash: &str) {
        self.anchors.insert(seq, head_hash.to_string());
    }

    fn problem(&mut self, kind: ProblemKind, seq: i64, id: Option<i64>, message: String) {
        self.report.problem_count += 1;
        if self.report.problems.len() < MAX_LISTED_PROBLEMS {
            self.report.problems.push(Problem {
                kind,
                seq,
                id,
                message,
            });
        }
    }

    /// Checks the next row.
    pub fn push(&mut self, row: &ChainedRow) {
        let (seq, id) = (row.chain_seq, Some(row.id));
        self.report.rows += 1;
        self.report.first_seq.get_or_insert(seq);
        let mut gap = false;
        if seq > self.next_seq {
            gap = true;
            let message = if seq == self.next_seq + 1 {
                format!(
                    "row seq {} is missing (seq {seq} follows seq {})",
                    self.next_seq,
                    self.next_seq - 1
                )
            } else {
                format!(
                    "rows seq {} to {} are missing (seq {seq} follows seq {})",
                    self.next_seq,
                    seq - 1,
                    self.next_seq - 1
                )
            };
            self.problem(ProblemKind::MissingRows, self.next_seq, id, message);
        } else if seq < self.next_seq {
            let message = match self.prev_id {
                Some(prev) if seq == self.next_seq - 1 => format!(
                    "seq {seq} appears again (row id {}; first was row id {prev})",
                    row.id
                ),
                _ => format!(
                    "row seq {seq} (id {}) is out of order: seq {} was expected",
                    row.id, self.next_seq
                ),
            };
            self.problem(ProblemKind::DuplicateSeq, seq, id, message);
        }
        match row_hash(row) {
            Ok(computed) if computed != row.row_hash => self.problem(
                ProblemKind::ContentMismatch,
                seq,
                id,
                format!(
                    "row seq {seq} (id {}) was edited: its content hashes to {computed}, not to its row_hash {}",
                    row.id, row.row_hash
                ),
            ),
            Ok(_) => {}
            Err(e) => self.problem(
                ProblemKind::Unencodable,
                seq,
                id,
                format!("row seq {seq} (id {}) cannot be encoded: {e}", row.id),
            ),
        }
        if !gap && row.prev_hash != self.prev_hash {
            let message = format!(
                "row seq {seq} (id {}) does not link to the row before it: prev_hash {}, but that row hashes to {} (a row was replaced or rows were reordered)",
                row.id, row.prev_hash, self.prev_hash
            );
            self.problem(ProblemKind::BrokenLink, seq, id, message);
        }
        self.check_identity(row);
        if let Some(anchored) = self.anchors.get(&seq).cloned() {
            self.report.anchors_checked += 1;
            if anchored != row.row_hash {
                let message = format!(
                    "row seq {seq} (id {}) hashes to {} but its anchor records {anchored}: the chain was rewritten after it was anchored",
                    row.id, row.row_hash
                );
                self.problem(ProblemKind::AnchorMismatch, seq, id, message);
            }
        }
        self.next_seq = self.next_seq.max(seq + 1);
        self.prev_hash = row.row_hash.clone();
        self.prev_id = id;
        self.report.last_seq = Some(seq);
        self.report.last_hash = Some(row.row_hash.clone());
    }

    fn check_identity(&mut self, row: &ChainedRow) {
        let (seq, id) = (row.chain_seq, Some(row.id));
        let fields = identity_fields(row);
        match (&row.identity_commitment, &row.identity_salt) {
            (Some(commitment), Some(salt)) => {
                if identity_commitment(salt, &fields).as_ref() == Some(commitment) {
                    self.report.identities_opened += 1;
                } else {
                    self.problem(
                        ProblemKind::IdentityMismatch,
                        seq,
                        id,
                        format!(
                            "row seq {seq} (id {}): its identifying fields were edited (they do not open its identity commitment)",
                            row.id
                        ),
                    );
                }
            }
            (Some(_), None) if identity_erased(row) => self.report.identities_erased += 1,
            (Some(_), None) => self.problem(
                ProblemKind::IdentityUnverifiable,
                seq,
                id,
                format!(
                    "row seq {seq} (id {}): its salt is gone but its identifying fields were not erased",
                    row.id
                ),
            ),
            (None, _) if !fields.is_empty() => self.problem(
                ProblemKind::IdentityMismatch,
                seq,
                id,
                format!(
                    "row seq {seq} (id {}) has identifying fields but no identity commitment",
                    row.id
                ),
            ),
            (None, _) => {}
        }
    }

    /// The report so far, with the segment's end checked against `expected_end` (the head or
    /// the manifest's declared last row: its seq and hash), when given.
    pub fn finish(mut self, expected_end: Option<(i64, &str)>) -> ChainReport {
        if let Some((seq, hash)) = expected_end {
            let last = self.report.last_seq.unwrap_or(self.start.first_seq - 1);
            if last < seq {
                self.problem(
                    ProblemKind::MissingRows,
                    last + 1,
                    None,
                    format!("the chain's end is seq {seq} but the last row is seq {last}: the rows after it are missing"),
                );
            } else if last > seq {
                self.problem(
                    ProblemKind::HeadMismatch,
                    seq + 1,
                    None,
                    format!("the chain's end is seq {seq} but rows continue to seq {last}"),
                );
            } else if self.report.last_seq.is_some()
                && self.report.last_hash.as_deref() != Some(hash)
            {
                let found = self.report.last_hash.clone().unwrap_or_default();
                self.problem(
                    ProblemKind::HeadMismatch,
                    seq,
                    self.prev_id,
                    format!("the last row (seq {seq}) hashes to {found} but the chain's end records {hash}"),
                );
            }
        }
        self.report
    }
}

/// Links rows the way the insert trigger does (sequence number, previous hash, commitment,
/// hash), for fixtures, in-memory sources and the export benchmark. The database is the only
/// writer of real chains.
pub struct ChainBuilder {
    seq: i64,
    prev_hash: String,
}

impl ChainBuilder {
    pub fn new() -> ChainBuilder {
        ChainBuilder {
            seq: 0,
            prev_hash: GENESIS_HASH.to_string(),
        }
    }

    /// Links `row` (its chain fields are overwritten); `salt_hex` commits its identity.
    pub fn link(
        &mut self,
        mut row: ChainedRow,
        salt_hex: &str,
    ) -> Result<ChainedRow, CanonicalError> {
        self.seq += 1;
        row.chain_seq = self.seq;
        row.prev_hash = std::mem::take(&mut self.prev_hash);
        let fields = identity_fields(&row);
        row.identity_commitment = identity_commitment(salt_hex, &fields);
        row.identity_salt = row
            .identity_commitment
            .as_ref()
            .map(|_| salt_hex.to_string());
        row.row_hash = row_hash(&row)?;
        self.prev_hash = row.row_hash.clone();
        Ok(row)
    }
}

impl Default for ChainBuilder {
    fn default() -> Self {
        ChainBuilder::new()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A chain of `n` rows built the way the trigger builds it (salted identities included).
    pub fn chain(team: Option<TeamId>, n: i64) -> Vec<ChainedRow> {
        let mut builder = ChainBuilder::new();
        (1..=n)
            .map(|seq| {
                let row = ChainedRow {
                    id: 100 + seq,
                    team_id: team,
                    occurred_at: Utc.timestamp_opt(1_790_000_000 + seq, 1_000).unwrap(),
                    actor_type: if seq % 2 == 0 { "system" } else { "user" }.into(),
                    actor_id: if seq % 2 == 0 {
                        "cron".into()
                    } else {
                        "6f1c1a8e-6f7a-4d8a-9d2e-1d1f2a3b4c5d".into()
                    },
                    action: "member.role_change".into(),
                    target_type: Some("user".into()),
                    target_id: Some("0b9e6a4e-1c36-4d25-8f53-0d1d8e5b7a11".into()),
                    request_id: Some(format!("req-{seq}")),
                    source_ip: (seq % 3 == 0).then(|| "2001:db8::7".to_string()),
                    actor_email: None,
                    key_id: None,
                    client_request_id: (seq % 2 == 1).then(|| format!("client-{seq}")),
                    chain_version: 2,
                    actor_name: None,
                    details: json!({"from": "viewer", "to": "admin", "email": "a@example.com", "n": seq}),
                    chain_seq: 0,
                    prev_hash: String::new(),
                    row_hash: String::new(),
                    identity_commitment: None,
                    identity_salt: None,
                };
                builder.link(row, &format!("{seq:064x}")).unwrap()
            })
            .collect()
    }

    fn verify(rows: &[ChainedRow]) -> ChainReport {
        let mut v = ChainVerifier::new(SegmentStart::genesis());
        rows.iter().for_each(|r| v.push(r));
        let last = rows.last().map(|r| (r.chain_seq, r.row_hash.as_str()));
        v.finish(last)
    }

    #[test]
    fn an_untouched_chain_is_intact() {
        let rows = chain(
            Some(TeamId::parse("b05d6718-e1a7-4852-98b1-b5c3fbc82eef").unwrap()),
            6,
        );
        let report = verify(&rows);
        assert!(report.intact(), "{report:?}");
        assert_eq!((report.rows, report.identities_opened), (6, 6));
    }

    /// The same bytes the database produced for this row (psql: `activity_chain_content`).
    #[test]
    fn content_matches_the_database_encoding() {
        let row = ChainedRow {
            id: 2,
            team_id: Some(TeamId::parse("b05d6718-e1a7-4852-98b1-b5c3fbc82eef").unwrap()),
            occurred_at: "2026-12-01T20:22:34.717597+00:00".parse().unwrap(),
            actor_type: "system".into(),
            actor_id: "cron".into(),
            action: "backup.schedule".into(),
            target_type: None,
            target_id: None,
            request_id: None,
            source_ip: None,
            actor_email: None,
            actor_name: None,
            key_id: None,
            client_request_id: None,
            chain_version: 1,
            details: json!({"n": 3}),
            chain_seq: 2,
            prev_hash: "946b696a936ea1789174049743afa7a484451947f9ee2545439263f4ef4a6a82".into(),
            row_hash: String::new(),
            identity_commitment: None,
            identity_salt: None,
        };
        assert_eq!(
            canonical_content(&row).unwrap(),
            r#"["butterfly.activity.v1",2,2,"b05d6718-e1a7-4852-98b1-b5c3fbc82eef","2026-12-01T20:22:34.717597Z","system","cron","backup.schedule",null,null,null,{"n":3},null,"946b696a936ea1789174049743afa7a484451947f9ee2545439263f4ef4a6a82"]"#
        );
        assert_eq!(
            row_hash(&row).unwrap(),
            "8268a5f7b96f61553fdf6a866dd164e4233db8a79d354eca33a175400e8f0af0"
        );
    }

    #[test]
    fn identifying_values_stay_out_of_the_content() {
        let rows = chain(None, 1);
        let content = canonical_content(&rows[0]).unwrap();
        for secret in ["6f1c1a8e", "0b9e6a4e", "a@example.com"] {
            assert!(!content.contains(secret), "{content}");
        }
        let fields = identity_fields(&rows[0]);
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            ["actor_id", "details.email", "target_id"]
        );
    }

    #[test]
    fn a_deleted_row_is_located() {
        let mut rows = chain(None, 6);
        rows.remove(2);
        let report = verify(&rows);
        assert_eq!(report.problem_count, 1, "{report:?}");
        assert_eq!(report.problems[0].kind, ProblemKind::MissingRows);
        assert_eq!(report.problems[0].seq, 3);
        assert_eq!(
            report.problems[0].message,
            "row seq 3 is missing (seq 4 follows seq 2)"
        );
    }

    #[test]
    fn a_deleted_tail_is_found_against_the_head() {
        let rows = chain(None, 6);
        let mut v = ChainVerifier::new(SegmentStart::genesis());
        rows[..4].iter().for_each(|r| v.push(r));
        let report = v.finish(Some((6, &rows[5].row_hash)));
        assert_eq!(report.problems[0].kind, ProblemKind::MissingRows);
        assert_eq!(report.problems[0].seq, 5);
    }

    #[test]
    fn an_edited_row_is_located() {
        let mut rows = chain(None, 6);
        rows[3].details["to"] = json!("owner");
        let report = verify(&rows);
        assert_eq!(report.problem_count, 1, "{report:?}");
        assert_eq!(report.problems[0].kind, ProblemKind::ContentMismatch);
        assert_eq!(
            (report.problems[0].seq, report.problems[0].id),
            (4, Some(104))
        );
    }

    #[test]
    fn v2_rows_hash_the_key_and_client_request_id_and_keep_their_version() {
        let rows = chain(None, 4);
        assert!(canonical_content(&rows[0])
            .unwrap()
            .starts_with(r#"["butterfly.activity.v2",1,"#));
        type Edit = fn(&mut ChainedRow);
        let edits: [(&str, Edit); 4] = [
            ("client request id", |r| {
                r.client_request_id = Some("forged".into())
            }),
            ("client request id removed", |r| r.client_request_id = None),
            ("key id", |r| {
                r.key_id = Some("0b9e6a4e-1c36-4d25-8f53-0d1d8e5b7a12".into())
            }),
            // Downgrading a row to v1 (which does not hash those fields) changes its content.
            ("version", |r| r.chain_version = 1),
        ];
        for (what, edit) in edits {
            let mut edited = rows.clone();
            edit(&mut edited[2]);
            let report = verify(&edited);
            assert_eq!(report.problem_count, 1, "{what}: {report:?}");
            assert_eq!(
                (report.problems[0].kind, report.problems[0].seq),
                (ProblemKind::ContentMismatch, 3),
                "{what}"
            );
        }
        let mut unknown = rows.clone();
        unknown[1].chain_version = 3;
        let report = verify(&unknown);
        assert_eq!(report.problems[0].kind, ProblemKind::Unencodable);
        assert!(report.problems[0].message.contains("chain_version 3"));
    }
    #[test]
    fn reordered_rows_are_located() {
        let mut rows = chain(None, 6);
        rows.swap(2, 3);
        let report = verify(&rows);
        assert_eq!(report.problems[0].seq, 3, "{report:?}");
        assert!(report
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::DuplicateSeq
                && p.message == "row seq 3 (id 103) is out of order: seq 5 was expected"));
        // Swapping contents but keeping the sequence numbers in place is an edit of both rows.
        let mut rows = chain(None, 6);
        let (a, b) = (rows[2].clone(), rows[3].clone());
        rows[2] = ChainedRow {
            chain_seq: 3,
            prev_hash: a.prev_hash.clone(),
            row_hash: a.row_hash.clone(),
            ..b
        };
        rows[3] = ChainedRow {
            chain_seq: 4,
            prev_hash: rows[3].prev_hash.clone(),
            row_hash: rows[3].row_hash.clone(),
            ..a
        };
        let report = verify(&rows);
        assert_eq!(report.problems[0].kind, ProblemKind::ContentMismatch);
        assert_eq!(report.problems[0].seq, 3);
    }

    #[test]
    fn edited_identities_are_caught_and_erased_ones_accepted() {
        let mut rows = chain(None, 3);
        rows[0].details["email"] = json!("mallory@example.com");
        let report = verify(&rows);
        assert_eq!(report.problems[0].kind, ProblemKind::IdentityMismatch);
        assert_eq!(report.problems[0].seq, 1);

        // What the purge leaves: pseudonyms, no email, no IP, no salt. The chain still holds.
        let mut rows = chain(None, 3);
        for row in &mut rows {
            if row.actor_type == "user" {
                row.actor_id = "erased-0123456789abcdef0123".into();
            }
            row.target_id = Some("erased-fedcba9876543210fedc".into());
            row.details.as_object_mut().unwrap().remove("email");
            row.source_ip = None;
            row.identity_salt = None;
        }
        let report = verify(&rows);
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.identities_erased, 3);

        // A salt removed without erasing is flagged.
        let mut rows = chain(None, 2);
        rows[1].identity_salt = None;
        let report = verify(&rows);
        assert_eq!(report.problems[0].kind, ProblemKind::IdentityUnverifiable);
    }

    #[test]
    fn anchors_catch_a_chain_rewritten_consistently() {
        let rows = chain(None, 4);
        // Row 2 deleted and the rest re-linked with fresh hashes: internally consistent.
        let mut rewritten = chain(None, 3);
        rewritten[1].details["n"] = json!(3);
        let mut prev = rewritten[0].row_hash.clone();
        for row in &mut rewritten[1..] {
            row.prev_hash = prev;
            row.row_hash = row_hash(row).unwrap();
            prev = row.row_hash.clone();
        }
        let mut v = ChainVerifier::starting_at(&rewritten[0]);
        v.expect_anchor(2, &rows[1].row_hash);
        rewritten.iter().for_each(|r| v.push(r));
        let report = v.finish(None);
        assert_eq!(report.anchors_checked, 1);
        assert_eq!(report.problem_count, 1, "{report:?}");
        assert_eq!(report.problems[0].kind, ProblemKind::AnchorMismatch);
        assert_eq!(report.problems[0].seq, 2);
    }

    #[test]
    fn a_segment_links_to_what_its_first_row_names() {
        let rows = chain(None, 6);
        let mut v = ChainVerifier::starting_at(&rows[2]);
        rows[2..].iter().for_each(|r| v.push(r));
        assert!(v.finish(None).intact());
        // Seq 1 must link to the genesis hash.
        let mut forged = rows[0].clone();
        forged.prev_hash = "1".repeat(64);
        forged.row_hash = row_hash(&forged).unwrap();
        let mut v = ChainVerifier::starting_at(&forged);
        v.push(&forged);
        assert_eq!(v.finish(None).problems[0].kind, ProblemKind::BrokenLink);
    }

    #[test]
    fn rows_round_trip_through_postgrest_forms() {
        let line = r#"{"id":1,"team_id":null,"occurred_at":"2026-12-01T20:22:34.71365+00:00","actor_type":"system","actor_id":"cron","action":"x.y","target_type":null,"target_id":null,"request_id":null,"source_ip":"10.1.2.3/32","details":{},"chain_seq":1,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","row_hash":"00","identity_commitment":null,"identity_salt":"\\xAB00000000000000000000000000000000000000000000000000000000000000"}"#;
        let row: ChainedRow = serde_json::from_str(line).unwrap();
        assert_eq!(row.source_ip.as_deref(), Some("10.1.2.3"));
        assert_eq!(row.identity_salt.as_deref().unwrap()[..4], *"ab00");
        let out = serde_json::to_value(&row).unwrap();
        assert_eq!(out["occurred_at"], "2026-12-01T20:22:34.713650Z");
        assert_eq!(normalise_ip("2001:0db8:0000::0001"), "2001:db8::1");
    }

    #[test]
    fn the_sql_identity_keys_are_these() {
        let sql = include_str!("../../migrations/0008_activity_chain.sql");
        let list = |f: &str| {
            let start = sql.find(&format!("function public.{f}()")).unwrap();
            let array = &sql[start..];
            let open = array.find("array[").unwrap() + 6;
            let close = array[open..].find(']').unwrap() + open;
            array[open..close]
                .split(',')
                .map(|s| s.trim().trim_matches('\'').to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(list("activity_identity_detail_keys"), IDENTITY_DETAIL_KEYS);
        assert_eq!(list("activity_identity_user_keys"), IDENTITY_USER_KEYS);
    }
}
