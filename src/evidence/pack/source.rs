//! Where an audit pack's evidence comes from. The phase-2 service implements this over the
//! stores (PostgREST with the service role, after the caller was authorised for the team) and
//! R2; [`super::memory::MemorySource`] implements it in memory for tests.
//!
//! Every method returns one page and an opaque cursor for the next, so the exporter never holds
//! more than a page: a team with a million activity rows exports in the memory of one page.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::evidence::anchor::Anchor;
use crate::evidence::chain::ChainedRow;
use crate::ids::{BackupId, TeamId};

/// One team and a time range, `from` inclusive, `to` exclusive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackScope {
    pub team: TeamId,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// One page of items and the cursor of the next (`None` after the last page).
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// JSON-lines sections besides the activity log, in archive order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordSet {
    /// `backups` rows started within the range.
    Backups,
    /// `compliance_runs` started within the range.
    ComplianceRuns,
    /// `compliance_findings` of those runs.
    ComplianceFindings,
    /// Current `compliance_remediations` state of the team's findings.
    ComplianceRemediations,
    /// Every remediation transition within the range (the `finding.*` activity rows).
    RemediationHistory,
    DriftAlerts,
    RestoreReceipts,
    DrillReports,
    /// Records of AI guidance given (provider, model, the redacted input's hash, output).
    AiGuidance,
}

impl RecordSet {
    pub const ALL: [RecordSet; 9] = [
        RecordSet::Backups,
        RecordSet::ComplianceRuns,
        RecordSet::ComplianceFindings,
        RecordSet::ComplianceRemediations,
        RecordSet::RemediationHistory,
        RecordSet::DriftAlerts,
        RecordSet::RestoreReceipts,
        RecordSet::DrillReports,
        RecordSet::AiGuidance,
    ];

    /// The section's name in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            RecordSet::Backups => "backups",
            RecordSet::ComplianceRuns => "compliance_runs",
            RecordSet::ComplianceFindings => "compliance_findings",
            RecordSet::ComplianceRemediations => "compliance_remediations",
            RecordSet::RemediationHistory => "remediation_history",
            RecordSet::DriftAlerts => "drift_alerts",
            RecordSet::RestoreReceipts => "restore_receipts",
            RecordSet::DrillReports => "drill_reports",
            RecordSet::AiGuidance => "ai_guidance",
        }
    }

    /// The file holding it.
    pub fn path(self) -> &'static str {
        match self {
            RecordSet::Backups => "backups/backups.jsonl",
            RecordSet::ComplianceRuns => "compliance/runs.jsonl",
            RecordSet::ComplianceFindings => "compliance/findings.jsonl",
            RecordSet::ComplianceRemediations => "compliance/remediations.jsonl",
            RecordSet::RemediationHistory => "compliance/remediation_history.jsonl",
            RecordSet::DriftAlerts => "drift/alerts.jsonl",
            RecordSet::RestoreReceipts => "restore/receipts.jsonl",
            RecordSet::DrillReports => "drills/reports.jsonl",
            RecordSet::AiGuidance => "ai/guidance.jsonl",
        }
    }
}

/// A snapshot's `manifest.json`, exactly as stored in R2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupManifestFile {
    pub backup: BackupId,
    pub bytes: Vec<u8>,
}

/// The source failed; the export stops and the archive is left without its central directory
/// (a truncated archive, which no zip reader or verifier accepts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("evidence source failed: {0}")]
pub struct SourceError(pub String);

#[async_trait(?Send)]
pub trait EvidenceSource {
    /// The team chain's head now (`None` for a team with no rows). Read before the rows, which
    /// then never go past it.
    async fn chain_head(&self, scope: &PackScope) -> Result<Option<(i64, String)>, SourceError>;

    /// Anchors of the team's chain (R2 `audit-anchors/<team>/`) up to the head, oldest first.
    async fn anchors(&self, scope: &PackScope) -> Result<Vec<Anchor>, SourceError>;

    /// Activity rows of the range, in `chain_seq` order, with their salts: the contiguous
    /// stretch of the chain from the first row at or after `from` to the last row before `to`
    /// (and at most the head).
    async fn activity(
        &self,
        scope: &PackScope,
        cursor: Option<&str>,
    ) -> Result<Page<ChainedRow>, SourceError>;

    /// Whether this deployment produces `set` (drift, restore, drills and AI guidance come with
    /// their features); a set not collected is exported as an empty file and marked so.
    fn collects(&self, set: RecordSet) -> bool;

    async fn records(
        &self,
        set: RecordSet,
        scope: &PackScope,
        cursor: Option<&str>,
    ) -> Result<Page<Value>, SourceError>;

    /// Snapshot manifests of the range's complete backups.
    async fn backup_manifests(
        &self,
        scope: &PackScope,
        cursor: Option<&str>,
    ) -> Result<Page<BackupManifestFile>, SourceError>;
}
