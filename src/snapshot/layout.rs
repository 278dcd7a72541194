//! Object-store layout: `users/<userId>/connections/<connectionId>/backups/<timestamp>/`.

use chrono::{DateTime, Utc};

use super::resource::ResourceType;
use crate::ids::{ConnectionId, UserId};

/// Sealed objects end in `.json.bfs` (Butterfly sealed stream); the manifest is plain JSON.
const SEALED_SUFFIX: &str = ".json.bfs";
pub const MANIFEST_NAME: &str = "manifest.json";

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

    pub fn object_key(&self, resource: ResourceType) -> String {
        format!("{}{}{}", self.prefix, resource.as_str(), SEALED_SUFFIX)
    }

    pub fn manifest_key(&self) -> String {
        format!("{}{}", self.prefix, MANIFEST_NAME)
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
            layout.object_key(ResourceType::GroupMembers),
            "users/11111111-1111-4111-8111-111111111111/connections/22222222-2222-4222-8222-222222222222/backups/2026-11-23T09-05-07.000Z/group_members.json.bfs"
        );
        assert!(layout
            .manifest_key()
            .ends_with("/2026-11-23T09-05-07.000Z/manifest.json"));
    }
}
