//! Writes an audit pack: README, the activity log with its anchors, every record set, the
//! snapshot manifests, then the signed manifest. The chain is checked as it streams, and what
//! the check found goes into the manifest: a broken chain is exported, not hidden (the break is
//! the evidence).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::manifest::*;
use super::source::{EvidenceSource, PackScope, RecordSet, SourceError};
use super::zip_stream::{ArchiveError, ZipStream};
use super::{PackSink, SinkError};
use crate::evidence::anchor::chain_name;
use crate::evidence::chain::{format_time, ChainVerifier};
use crate::evidence::signing::SigningKeyRing;

const JSON_LINES: &str = "application/x-ndjson";
const JSON: &str = "application/json";

/// What to export and for whom.
#[derive(Clone, Debug)]
pub struct PackRequest {
    /// A fresh id (uuid) naming this export in the audit trail and the pack.
    pub pack_id: String,
    pub scope: PackScope,
    pub generated_at: DateTime<Utc>,
    pub requested_by: Requester,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("cannot encode a record: {0}")]
    Encode(String),
}

/// The finished pack's manifest and size.
#[derive(Clone, Debug)]
pub struct PackSummary {
    pub manifest: Manifest,
    pub bytes: u64,
}

fn line<T: Serialize>(value: &T) -> Result<Vec<u8>, PackError> {
    serde_json::to_vec(value).map_err(|e| PackError::Encode(e.to_string()))
}

fn not_collected_note(set: RecordSet) -> Option<&'static str> {
    Some(match set {
        RecordSet::DriftAlerts => "drift detection does not run in this deployment yet",
        RecordSet::RestoreReceipts => "restores are not offered in this deployment yet",
        RecordSet::DrillReports => "restore drills do not run in this deployment yet",
        RecordSet::AiGuidance => "AI guidance is not enabled in this deployment",
        _ => return None,
    })
}

/// Streams the pack for `request` from `source` into `sink`, signed with the ring's active key.
///
/// On an error the archive stops where it is: without a central directory it is a truncated
/// archive that no reader accepts, so a failed export can never pass for a complete one.
pub async fn export_pack(
    source: &dyn EvidenceSource,
    sink: &mut dyn PackSink,
    ring: &SigningKeyRing,
    request: &PackRequest,
) -> Result<PackSummary, PackError> {
    let scope = &request.scope;
    let mut zip = ZipStream::new(request.generated_at);
    let mut files = vec![zip.file(
        README_PATH,
        "text/plain; charset=utf-8",
        readme(request).as_bytes(),
    )?];
    let mut sections = Vec::new();

    let head = source.chain_head(scope).await?;
    let anchors = source.anchors(scope).await?;

    zip.start(ACTIVITY_PATH, JSON_LINES, true)?;
    let mut verifier: Option<ChainVerifier> = None;
    let mut first_prev_hash = None;
    let mut cursor: Option<String> = None;
    loop {
        let page = source.activity(scope, cursor.as_deref()).await?;
        for row in &page.items {
            let v = verifier.get_or_insert_with(|| {
                first_prev_hash = Some(row.prev_hash.clone());
                let mut v = ChainVerifier::starting_at(row);
                for a in &anchors {
                    v.expect_anchor(a.seq, &a.head_hash);
                }
                v
            });
            v.push(row);
            zip.write_line(&line(row)?)?;
        }
        sink.write(zip.take_output()).await?;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    files.push(zip.finish_file()?);
    let head_in_range = head.as_ref().map(|(seq, hash)| (*seq, hash.as_str()));
    let report = verifier.map(|v| {
        // Rows never go past the head read before them; a segment that reaches it must end
        // in the head's hash.
        let reaches_head = head_in_range.filter(|(seq, _)| Some(*seq) <= v.last_seq());
        v.finish(reaches_head)
    });

    let segment = report.as_ref().and_then(|r| {
        Some(ChainSegment {
            first_seq: r.first_seq?,
            first_prev_hash: first_prev_hash.clone()?,
            last_seq: r.last_seq?,
            last_hash: r.last_hash.clone()?,
            rows: r.rows,
        })
    });
    let in_segment: Vec<_> = anchors
        .iter()
        .filter(|a| {
            segment
                .as_ref()
                .is_some_and(|s| (s.first_seq..=s.last_seq).contains(&a.seq))
        })
        .collect();
    zip.start(ANCHORS_PATH, JSON_LINES, true)?;
    for a in &in_segment {
        zip.write_line(&line(a)?)?;
    }
    files.push(zip.finish_file()?);
    sections.push(Section {
        name: "activity_logs".into(),
        files: vec![ACTIVITY_PATH.into(), ANCHORS_PATH.into()],
        records: report.as_ref().map_or(0, |r| r.rows),
        collected: true,
        note: None,
    });

    for set in RecordSet::ALL {
        let collected = source.collects(set);
        zip.start(set.path(), JSON_LINES, true)?;
        let mut records = 0u64;
        let mut cursor: Option<String> = None;
        // A set this deployment does not collect is an empty file, marked so in its section.
        let mut more = collected;
        while more {
            let page = source.records(set, scope, cursor.as_deref()).await?;
            for record in &page.items {
                zip.write_line(&line(record)?)?;
                records += 1;
            }
            sink.write(zip.take_output()).await?;
            more = page.next.is_some();
            cursor = page.next;
        }
        files.push(zip.finish_file()?);
        let mut section_files = vec![set.path().to_string()];
        if set == RecordSet::Backups {
            let mut cursor: Option<String> = None;
            loop {
                let page = source.backup_manifests(scope, cursor.as_deref()).await?;
                for m in &page.items {
                    let path = format!("{BACKUP_MANIFESTS_DIR}{}.json", m.backup);
                    files.push(zip.file(&path, JSON, &m.bytes)?);
                    section_files.push(path);
                }
                sink.write(zip.take_output()).await?;
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        sections.push(Section {
            name: set.name().into(),
            files: section_files,
            records,
            collected,
            note: if collected {
                None
            } else {
                not_collected_note(set).map(str::to_string)
            },
        });
    }

    let verification = match &report {
        None => Verification {
            status: "empty".into(),
            problem_count: 0,
            problems: Vec::new(),
        },
        Some(r) => Verification {
            status: if r.intact() { "intact" } else { "broken" }.into(),
            problem_count: r.problem_count,
            problems: r.problems.clone(),
        },
    };
    let manifest = Manifest {
        format: PACK_FORMAT.into(),
        pack_id: request.pack_id.clone(),
        generator: concat!("butterfly ", env!("CARGO_PKG_VERSION")).into(),
        generated_at: format_time(&request.generated_at),
        scope: Scope {
            team_id: scope.team,
            from: format_time(&scope.from),
            to: format_time(&scope.to),
        },
        requested_by: request.requested_by.clone(),
        signature: SignatureInfo {
            algorithm: "Ed25519".into(),
            key_id: ring.active().to_string(),
            file: SIGNATURE_PATH.into(),
        },
        files,
        sections,
        chain: ChainSummary {
            chain: chain_name(Some(scope.team)),
            head: head.map(|(seq, head_hash)| ChainHead { seq, head_hash }),
            segment,
            anchors: AnchorSummary {
                file: ANCHORS_PATH.into(),
                count: in_segment.len() as u64,
                latest: in_segment.last().map(|a| (*a).clone()),
            },
            verification,
        },
    };
    let mut bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| PackError::Encode(e.to_string()))?;
    bytes.push(b'\n');
    let signature = ring.sign(&bytes);
    zip.file(MANIFEST_PATH, JSON, &bytes)?;
    zip.file(SIGNATURE_PATH, "application/octet-stream", &signature.bytes)?;
    let before = zip.bytes_out();
    let tail = zip.finish()?;
    let bytes = before + tail.len() as u64;
    sink.write(tail).await?;
    Ok(PackSummary { manifest, bytes })
}

fn readme(request: &PackRequest) -> String {
    format!(
        "Butterfly audit pack {id}\n\
         Team {team}, activity from {from} to {to} (UTC), generated {at}.\n\n\
         manifest.json lists every file with its SHA-256 and size, the activity chain's head,\n\
         the R2 anchors within the exported stretch and what the exporter found when it checked\n\
         the chain. manifest.sig is the manifest's Ed25519 signature (64 raw bytes) by the key\n\
         named in manifest.json; Butterfly publishes its public keys at\n\
         /.well-known/butterfly-audit-keys.json (and each as PEM).\n\n\
         To check this pack:\n\
         \x20 audit-verify --jwks butterfly-audit-keys.json pack.zip   (tools/audit-verify)\n\
         or, with standard tools only, follow docs/audit-pack.md:\n\
         \x20 openssl pkeyutl -verify -pubin -inkey KEY.pem -rawin -in manifest.json -sigfile manifest.sig\n\
         \x20 sha256sum each file against manifest.json, and recompute each activity row's hash with jq.\n",
        id = request.pack_id,
        team = request.scope.team,
        from = format_time(&request.scope.from),
        to = format_time(&request.scope.to),
        at = format_time(&request.generated_at),
    )
}
