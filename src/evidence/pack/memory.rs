//! An in-memory [`EvidenceSource`] for tests and the verifier's fixtures: fixed data, served in
//! pages of a chosen size so paging is exercised.

use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;

use super::source::{BackupManifestFile, EvidenceSource, PackScope, Page, RecordSet, SourceError};
use crate::evidence::anchor::Anchor;
use crate::evidence::chain::ChainedRow;

#[derive(Default)]
pub struct MemorySource {
    pub head: Option<(i64, String)>,
    pub anchors: Vec<Anchor>,
    pub activity: Vec<ChainedRow>,
    pub records: HashMap<RecordSet, Vec<Value>>,
    pub manifests: Vec<BackupManifestFile>,
    /// Sets reported as not collected.
    pub not_collected: Vec<RecordSet>,
    pub page_size: usize,
    /// Fail the activity page that starts at this index.
    pub fail_activity_at: Option<usize>,
}

impl MemorySource {
    fn page<T: Clone>(&self, items: &[T], cursor: Option<&str>) -> Page<T> {
        let size = self.page_size.max(1);
        let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let end = (start + size).min(items.len());
        Page {
            items: items[start.min(end)..end].to_vec(),
            next: (end < items.len()).then(|| end.to_string()),
        }
    }
}

#[async_trait(?Send)]
impl EvidenceSource for MemorySource {
    async fn chain_head(&self, _: &PackScope) -> Result<Option<(i64, String)>, SourceError> {
        Ok(self.head.clone())
    }

    async fn anchors(&self, _: &PackScope) -> Result<Vec<Anchor>, SourceError> {
        Ok(self.anchors.clone())
    }

    async fn activity(
        &self,
        _: &PackScope,
        cursor: Option<&str>,
    ) -> Result<Page<ChainedRow>, SourceError> {
        let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        if self.fail_activity_at == Some(start) {
            return Err(SourceError("injected failure".into()));
        }
        Ok(self.page(&self.activity, cursor))
    }

    fn collects(&self, set: RecordSet) -> bool {
        !self.not_collected.contains(&set)
    }

    async fn records(
        &self,
        set: RecordSet,
        _: &PackScope,
        cursor: Option<&str>,
    ) -> Result<Page<Value>, SourceError> {
        let empty = Vec::new();
        Ok(self.page(self.records.get(&set).unwrap_or(&empty), cursor))
    }

    async fn backup_manifests(
        &self,
        _: &PackScope,
        cursor: Option<&str>,
    ) -> Result<Page<BackupManifestFile>, SourceError> {
        Ok(self.page(&self.manifests, cursor))
    }
}
