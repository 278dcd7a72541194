//! The per-resource version index (`resource_versions` and `resource_heads`, migration 0021): one
//! row each time a resource's normalised content differs from its previous version, written by
//! the service role only, through `resource_versions_record` (idempotent per backup or capture);
//! read by team members under RLS (`drift.read`), without the content hash.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DbError;
use crate::ids::{BackupId, ConnectionId, TeamId};
use crate::tenant::ResourceType;

/// Rows one `record_versions` call takes at most (the database function refuses more).
pub const MAX_VERSIONS_PER_CALL: usize = 1000;

/// Items one `index_observe` call takes at most (the database function refuses more).
pub const MAX_OBSERVED_PER_CALL: usize = 1000;

/// Heads one `index_sweep` call passes over (the database function takes at most 50,000).
pub const SWEEP_HEADS_PER_CALL: u32 = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    Present,
    /// The resource no longer exists (its last version is the one before).
    Removed,
}

/// Where a version was seen, and so where its payload can be read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum VersionSource {
    /// Item `position` of the backup's object of the resource's type.
    Backup { backup_id: BackupId },
    /// A change capture (live drift capture from the System Log): item `position` of its delta.
    Capture { capture_id: Uuid },
}

/// Who made a change and from where, from the System Log events it was captured with (none for
/// a backup, which sees only the result).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    pub actor_id: Option<String>,
    pub actor_type: Option<String>,
    pub actor_display_name: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub transaction_id: Option<String>,
    pub event_type: Option<String>,
}

/// A version to record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewVersion {
    pub team_id: TeamId,
    pub connection_id: ConnectionId,
    pub resource_type: ResourceType,
    pub resource_id: String,
    pub state: VersionState,
    /// Hex HMAC of the normalised content (`None` for a removal).
    pub content_hash: Option<String>,
    /// Id of the key the hash was made with.
    pub hash_key: String,
    #[serde(flatten)]
    pub source: VersionSource,
    /// The item's position in its object (`None` for a removal).
    pub position: Option<u32>,
    pub captured_at: DateTime<Utc>,
    #[serde(flatten)]
    pub attribution: Attribution,
}

/// A resource's latest version, as indexing compares against it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct VersionHead {
    pub resource_id: String,
    pub state: VersionState,
    pub content_hash: Option<String>,
    pub hash_key: String,
    pub captured_at: DateTime<Utc>,
}

/// A recorded version, as members read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionRow {
    pub id: i64,
    pub resource_type: ResourceType,
    pub resource_id: String,
    pub state: VersionState,
    #[serde(flatten)]
    pub source: VersionSource,
    pub position: Option<u32>,
    pub captured_at: DateTime<Utc>,
    #[serde(flatten)]
    pub attribution: Attribution,
}

/// Where a backup's indexing is (`resource_index_progress`, migration 0029): the step the next
/// call must name, and the job's position. Each indexing call moves it in its own transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct IndexProgress {
    /// 0 before the first call.
    pub step: u64,
    #[serde(default)]
    pub checkpoint: IndexCheckpoint,
    pub done: bool,
}

/// The job's position: the type's place in its order, the phase, and for the observe phase the
/// plaintext byte just past the last item observed and the next item's position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexCheckpoint {
    pub ordinal: u32,
    pub phase: IndexPhase,
    pub offset: u64,
    pub position: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexPhase {
    /// Streaming the type's object.
    #[default]
    Observe,
    /// Recording as removed the heads the backup did not hold.
    Sweep,
}

/// One item of a backup's object, as indexing sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedItem {
    pub id: String,
    /// Hex HMAC of the normalised content.
    pub hash: String,
    pub position: u32,
}

/// One `index_observe` call: up to [`MAX_OBSERVED_PER_CALL`] items of one type, and the
/// checkpoint the call leaves (`offset`, `position`: just past the last item).
#[derive(Clone, Copy, Debug)]
pub struct ObserveBatch<'a> {
    pub backup: BackupId,
    pub step: u64,
    pub resource: ResourceType,
    pub ordinal: u32,
    pub hash_key: &'a str,
    pub items: &'a [ObservedItem],
    pub offset: u64,
    pub position: u32,
}

/// What an observe call did (`None` from the store: another call moved the step first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Observed {
    pub step: u64,
    pub recorded: u32,
    pub unchanged: u32,
}

/// What a sweep call did (`None` from the store: another call moved the step first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Swept {
    pub step: u64,
    pub removed: u32,
    /// The type's heads are all swept; the checkpoint is at the next type's start.
    pub done: bool,
}

#[async_trait(?Send)]
pub trait ResourceVersionStore {
    /// Service role: the latest versions of one type of a connection, by resource id after
    /// `after`, at most `limit`.
    async fn version_heads(
        &self,
        connection: ConnectionId,
        resource: ResourceType,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<VersionHead>, DbError>;

    /// Service role: records up to [`MAX_VERSIONS_PER_CALL`] versions in one transaction,
    /// skipping any its backup or capture already recorded; returns how many were new. This is
    /// the call a change capture makes (with its attribution) as well as backup indexing.
    async fn record_versions(&self, versions: &[NewVersion]) -> Result<u32, DbError>;

    /// One resource's versions in time order (then recording order), from the version
    /// captured at `from.0` with id `from.1` (inclusive), at most `limit` (what the caller may
    /// read).
    async fn resource_versions(
        &self,
        connection: ConnectionId,
        resource: ResourceType,
        resource_id: &str,
        from: Option<(DateTime<Utc>, i64)>,
        limit: u32,
    ) -> Result<Vec<VersionRow>, DbError>;

    /// Service role: where the backup's indexing is (the default before its first call).
    async fn index_progress(&self, backup: BackupId) -> Result<IndexProgress, DbError>;

    /// Service role: compares a batch of a complete backup's items with their heads, records
    /// those that changed and marks all seen, and moves the checkpoint; `None` if `step` is no
    /// longer the progress's (nothing was done).
    async fn index_observe(&self, batch: &ObserveBatch<'_>) -> Result<Option<Observed>, DbError>;

    /// Service role: passes over the type's next `limit` heads (in id order, from where the
    /// type's sweep stopped), recording as removed those present, not newer than the backup and
    /// not seen by it; `None` if `step` is no longer the progress's.
    async fn index_sweep(
        &self,
        backup: BackupId,
        step: u64,
        resource: ResourceType,
        ordinal: u32,
        hash_key: &str,
        limit: u32,
    ) -> Result<Option<Swept>, DbError>;

    /// Service role: marks the indexing done; false if `step` is no longer the progress's.
    async fn index_finish(&self, backup: BackupId, step: u64) -> Result<bool, DbError>;
}
