//! Work the cron fans out on the queue: one message per connection and kind of job.

use serde::{Deserialize, Serialize};

use super::backups::BackupJob;
use super::compliance::ComplianceJob;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueuedJob {
    Backup(BackupJob),
    Compliance(ComplianceJob),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BackupId, ConnectionId, TeamId};
    use crate::services::audit::RequestMeta;

    #[test]
    fn messages_are_tagged_and_round_trip() {
        let meta = RequestMeta {
            request_id: "req_1".into(),
            source_ip: None,
        };
        let team = TeamId::parse("11111111-1111-4111-8111-111111111111").unwrap();
        let connection = ConnectionId::parse("22222222-2222-4222-8222-222222222222").unwrap();
        let jobs = [
            QueuedJob::Compliance(ComplianceJob {
                team,
                connection,
                meta: meta.clone(),
            }),
            QueuedJob::Backup(BackupJob {
                backup: BackupId::parse("33333333-3333-4333-8333-333333333333").unwrap(),
                team,
                connection,
                r2_prefix: "users/x/".into(),
                meta,
            }),
        ];
        for job in jobs {
            let json = serde_json::to_value(&job).unwrap();
            assert!(
                json["kind"] == "backup" || json["kind"] == "compliance",
                "{json}"
            );
            assert_eq!(serde_json::from_value::<QueuedJob>(json).unwrap(), job);
        }
        assert!(serde_json::from_str::<QueuedJob>(r#"{"kind":"restore"}"#).is_err());
    }
}
