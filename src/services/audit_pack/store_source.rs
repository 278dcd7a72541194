//! The production [`EvidenceSource`]: the database through the store seam (service role, the
//! caller already authorised for the team) and R2 through the object store port. Every method
//! reads one keyset page (the cursor is the page's last key), so a team's whole log is never in
//! memory, however long.

use std::cell::Cell;

use async_trait::async_trait;
use serde_json::Value;

use crate::evidence::anchor::{chain_prefix, Anchor};
use crate::evidence::chain::ChainedRow;
use crate::evidence::pack::source::{
    BackupManifestFile, EvidenceSource, PackScope, Page, RecordSet, SourceError,
};
use crate::ids::BackupId;
use crate::ports::ObjectStore;
use crate::snapshot::SnapshotLayout;
use crate::store::{ActivityQuery, EvidenceQuery, EvidenceTable, Stores};

/// Activity rows per page.
pub const ACTIVITY_PAGE: usize = 1000;
/// Rows per page of the other tables.
const RECORD_PAGE: usize = 500;
/// Runs whose findings make one page (a run has one finding per check: a few dozen).
const RUNS_PER_FINDINGS_PAGE: usize = 10;
/// Backups whose snapshot manifests make one page.
const MANIFESTS_PAGE: usize = 10;
/// The activity rows that record remediation transitions.
const REMEDIATION_ACTIONS: &str = "finding.";

pub struct StoreSource<'a> {
    stores: &'a dyn Stores,
    objects: &'a dyn ObjectStore,
    /// The head read by [`EvidenceSource::chain_head`]: no row past it is exported.
    head_seq: Cell<i64>,
}

impl<'a> StoreSource<'a> {
    /// `stores` act as the service role.
    pub fn new(stores: &'a dyn Stores, objects: &'a dyn ObjectStore) -> Self {
        StoreSource {
            stores,
            objects,
            head_seq: Cell::new(0),
        }
    }

    fn activity_query(
        &self,
        scope: &PackScope,
        cursor: Option<&str>,
        action_prefix: Option<&'static str>,
    ) -> Result<ActivityQuery, SourceError> {
        Ok(ActivityQuery {
            team: scope.team,
            from: scope.from,
            to: scope.to,
            after_seq: match cursor {
                Some(c) => c.parse().map_err(|_| bad_cursor())?,
                None => 0,
            },
            max_seq: self.head_seq.get(),
            action_prefix,
            limit: ACTIVITY_PAGE,
        })
    }

    async fn table(
        &self,
        table: EvidenceTable,
        scope: &PackScope,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Value>, SourceError> {
        let items = self
            .stores
            .evidence_page(&EvidenceQuery {
                table,
                team: scope.team,
                from: scope.from,
                to: scope.to,
                after: cursor.map(str::to_string),
                limit,
            })
            .await
            .map_err(db)?;
        let next = if items.len() == limit {
            Some(key_of(items.last())?)
        } else {
            None
        };
        Ok(Page { items, next })
    }
}

fn db(e: crate::store::DbError) -> SourceError {
    SourceError(e.to_string())
}

fn bad_cursor() -> SourceError {
    SourceError("invalid page cursor".into())
}

fn key_of(row: Option<&Value>) -> Result<String, SourceError> {
    row.and_then(|r| r["id"].as_str())
        .map(str::to_string)
        .ok_or_else(|| SourceError("evidence row without an id".into()))
}

fn seq_page(rows: Vec<ChainedRow>) -> Page<ChainedRow> {
    let next = (rows.len() == ACTIVITY_PAGE)
        .then(|| rows.last().map(|r| r.chain_seq.to_string()))
        .flatten();
    Page { items: rows, next }
}

#[async_trait(?Send)]
impl EvidenceSource for StoreSource<'_> {
    async fn chain_head(&self, scope: &PackScope) -> Result<Option<(i64, String)>, SourceError> {
        let head = self.stores.chain_head(scope.team).await.map_err(db)?;
        self.head_seq.set(head.as_ref().map_or(0, |h| h.seq));
        Ok(head.map(|h| (h.seq, h.head_hash)))
    }

    async fn anchors(&self, scope: &PackScope) -> Result<Vec<Anchor>, SourceError> {
        let store = |e: crate::ports::StoreError| SourceError(e.to_string());
        let keys = self
            .objects
            .list(&chain_prefix(Some(scope.team)))
            .await
            .map_err(store)?;
        let mut anchors = Vec::new();
        for key in keys {
            let Some(bytes) = self.objects.get(&key).await.map_err(store)? else {
                continue;
            };
            let anchor = Anchor::parse(&key, &bytes).map_err(|e| SourceError(e.to_string()))?;
            if anchor.seq <= self.head_seq.get() {
                anchors.push(anchor);
            }
        }
        Ok(anchors)
    }

    async fn activity(
        &self,
        scope: &PackScope,
        cursor: Option<&str>,
    ) -> Result<Page<ChainedRow>, SourceError> {
        let query = self.activity_query(scope, cursor, None)?;
        let rows = self.stores.activity_page(&query).await.map_err(db)?;
        Ok(seq_page(rows))
    }

    fn collects(&self, set: RecordSet) -> bool {
        !matches!(
            set,
            RecordSet::DriftAlerts | RecordSet::RestoreReceipts | RecordSet::DrillReports
        )
    }

    async fn records(
        &self,
        set: RecordSet,
        scope: &PackScope,
        cursor: Option<&str>,
    ) -> Result<Page<Value>, SourceError> {
        match set {
            RecordSet::Backups => {
                self.table(EvidenceTable::Backups, scope, cursor, RECORD_PAGE)
                    .await
            }
            RecordSet::ComplianceRuns => {
                self.table(EvidenceTable::ComplianceRuns, scope, cursor, RECORD_PAGE)
                    .await
            }
            RecordSet::ComplianceRemediations => {
                self.table(EvidenceTable::Remediations, scope, cursor, RECORD_PAGE)
                    .await
            }
            RecordSet::AiGuidance => {
                self.table(EvidenceTable::AiGuidance, scope, cursor, RECORD_PAGE)
                    .await
            }
            // A page is the findings of a page of runs; the cursor is the last run's id.
            RecordSet::ComplianceFindings => {
                let runs = self
                    .table(
                        EvidenceTable::ComplianceRuns,
                        scope,
                        cursor,
                        RUNS_PER_FINDINGS_PAGE,
                    )
                    .await?;
                let ids: Vec<String> = runs
                    .items
                    .iter()
                    .map(|r| key_of(Some(r)))
                    .collect::<Result<_, _>>()?;
                let items = self
                    .stores
                    .run_findings(scope.team, &ids)
                    .await
                    .map_err(db)?;
                Ok(Page {
                    items,
                    next: runs.next,
                })
            }
            RecordSet::RemediationHistory => {
                let query = self.activity_query(scope, cursor, Some(REMEDIATION_ACTIONS))?;
                let page = seq_page(self.stores.activity_page(&query).await.map_err(db)?);
                let items = page
                    .items
                    .iter()
                    .map(serde_json::to_value)
                    .collect::<Result<_, _>>()
                    .map_err(|e| SourceError(e.to_string()))?;
                Ok(Page {
                    items,
                    next: page.next,
                })
            }
            RecordSet::DriftAlerts | RecordSet::RestoreReceipts | RecordSet::DrillReports => {
                Ok(Page {
                    items: Vec::new(),
                    next: None,
                })
            }
        }
    }

    /// A complete backup whose manifest object is gone (its snapshot was deleted) has no file:
    /// its `backups.jsonl` row still names the manifest's hash, so the absence shows.
    async fn backup_manifests(
        &self,
        scope: &PackScope,
        cursor: Option<&str>,
    ) -> Result<Page<BackupManifestFile>, SourceError> {
        let backups = self
            .table(EvidenceTable::Backups, scope, cursor, MANIFESTS_PAGE)
            .await?;
        let mut items = Vec::new();
        for b in &backups.items {
            if b["status"] != "complete" || b["manifest_sha256"].is_null() {
                continue;
            }
            let (Some(id), Some(prefix)) = (b["id"].as_str(), b["r2_prefix"].as_str()) else {
                return Err(SourceError("backup row without id or prefix".into()));
            };
            let backup = BackupId::parse(id).map_err(|_| SourceError("backup id".into()))?;
            let key = SnapshotLayout::from_prefix(prefix).manifest_key();
            if let Some(bytes) = self
                .objects
                .get(&key)
                .await
                .map_err(|e| SourceError(e.to_string()))?
            {
                items.push(BackupManifestFile { backup, bytes });
            }
        }
        Ok(Page {
            items,
            next: backups.next,
        })
    }
}
