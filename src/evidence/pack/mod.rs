//! Audit packs: one zip archive with a team's evidence for a time range, a `manifest.json`
//! listing every file with its SHA-256 and size (plus the chain head, its anchors, the scope
//! and the export time) and `manifest.sig`, the manifest's Ed25519 signature. docs/audit-pack.md
//! is the format's specification and the auditor's guide; `tools/audit-verify` checks a pack.
//!
//! The archive streams: [`export::export_pack`] pulls each section page by page from an
//! [`source::EvidenceSource`], writes it through [`zip_stream::ZipStream`] and hands the
//! compressed bytes to a [`PackSink`] as it goes, so memory holds one page, the compressor's
//! window and the list of file entries, whatever the size of the log.

pub mod export;
pub mod manifest;
pub mod memory;
pub mod pull;
pub mod source;
pub mod zip_stream;

use async_trait::async_trait;

/// Where the archive's bytes go (a response body stream, an R2 multipart upload, a file).
#[async_trait(?Send)]
pub trait PackSink {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), SinkError>;
}

/// The sink could not take more bytes (the client went away, the store failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pack sink failed: {0}")]
pub struct SinkError(pub String);

/// Collects the whole archive (tests, small packs).
#[async_trait(?Send)]
impl PackSink for Vec<u8> {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), SinkError> {
        self.extend_from_slice(&chunk);
        Ok(())
    }
}
