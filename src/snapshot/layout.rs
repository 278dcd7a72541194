//! Object-store layout: `users/<userId>/connections/<connectionId>/backups/<timestamp>/`.

use chrono::{DateTime, Utc};

use crate::ids::{BackupId, ConnectionId, UserId};
use crate::tenant::ResourceType;

/// Sealed objects end in `.json.bfs` (Butterfly sealed stream); the manifest is plain JSON.
const SEALED_SUFFIX: &str = ".json.bfs";
pub const MANIFEST_NAME: &str = "manifest.json";
const KEYS_DIR: &str = "work/keys/";
const DIFFS_DIR: &str = "diffs/";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotLayout {
    prefix: String,
}

impl SnapshotLayout {
    /// The timestamp is UTC with milliseconds, in a form that sorts lexically and is safe in keys.
    pub fn new(owner: UserId, connection: ConnectionId, started_at: DateTime<Utc>) -> Self {
        SnapshotLayout {
            prefix: format!(
                "users/{owner}/connections/{connection}/backups/{}/",
                started_at.format("%Y-%m-%dT%H-%M-%S%.3fZ")
            ),
        }
    }

    /// Rebuild from a stored prefix (read back from the database).
    pub fn from_prefix(prefix: &str) -> Self {
        SnapshotLayout {
            prefix: prefix.to_string(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Segment `index` of an object, written by the invocation tagged `tag` (so an invocation
    /// that lost its lease can never overwrite a segment its successor wrote).
    pub fn segment_key(&self, resource: ResourceType, index: usize, tag: &str) -> String {
        format!(
            "{}{}/{index:05}-{tag}{SEALED_SUFFIX}",
            self.prefix,
            resource.as_str()
        )
    }

    /// Sealed list of the item keys a step remembered for later steps (work files, removed
    /// when the snapshot is finished).
    pub fn keys_key(&self, step: &str, index: usize, tag: &str) -> String {
        format!("{}{KEYS_DIR}{step}/{index:05}-{tag}.bfs", self.prefix)
    }

    pub fn manifest_key(&self) -> String {
        format!("{}{}", self.prefix, MANIFEST_NAME)
    }

    /// The sealed change index of the diff from backup `from` to this one, kept beside the
    /// snapshot it was computed for (so it goes when this backup goes), written after the
    /// snapshot is complete (docs/drift.md, "Snapshot diff API").
    pub fn diff_index_key(&self, from: BackupId) -> String {
        format!("{}{DIFFS_DIR}{from}.bfs", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_follow_the_documented_layout() {
        let user = UserId::parse("11111111-1111-4111-8111-111111111111").unwrap();
        let conn = ConnectionId::parse("22222222-2222-4222-8222-222222222222").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 5, 7).unwrap();
        let layout = SnapshotLayout::new(user, conn, at);
        assert_eq!(
            layout.segment_key(ResourceType::GroupMembers, 3, "0a1b2c3d"),
            "users/11111111-1111-4111-8111-111111111111/connections/22222222-2222-4222-8222-222222222222/backups/2026-11-23T09-05-07.000Z/group_members/00003-0a1b2c3d.json.bfs"
        );
        assert!(layout
            .keys_key("groups", 0, "0a1b2c3d")
            .ends_with("/2026-11-23T09-05-07.000Z/work/keys/groups/00000-0a1b2c3d.bfs"));
        assert!(layout
            .manifest_key()
            .ends_with("/2026-11-23T09-05-07.000Z/manifest.json"));
    }
}
