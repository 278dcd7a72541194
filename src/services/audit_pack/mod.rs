//! Audit-pack export (`GET /api/export/audit-pack?team_id=&from=&to=`, docs/audit-pack.md): the
//! caller is authorised for `audit.export` in the team, the export is audited, and only then is
//! the pack streamed, written page by page as the client reads it ([`PackExport::write`]).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::authz::matrix::Action;
use crate::evidence::chain::format_time;
use crate::evidence::pack::export::{export_pack, PackError, PackRequest};
use crate::evidence::pack::manifest::Requester;
use crate::evidence::pack::source::PackScope;
use crate::services::audit::{Actor, Event, RequestMeta};
use crate::services::{Caller, Deps, ServiceError};
use store_source::StoreSource;

mod store_source;
use crate::evidence::pack::PackSink;
use crate::ids::TeamId;
use crate::store::Acting;

/// The longest range one pack covers (a year, leap day included).
pub const MAX_RANGE_DAYS: i64 = 366;

/// An export that was authorised and audited, not yet written.
#[derive(Clone, Debug)]
pub struct PackExport {
    pub request: PackRequest,
    /// The request the export was audited in (its service-role reads carry its id).
    pub request_id: String,
}

/// The export failed after it started streaming; the archive ends without its central
/// directory (a truncated archive no reader accepts).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Pack(#[from] PackError),
    #[error("audit signing keys are not configured")]
    Unconfigured,
}

impl PackExport {
    /// `audit-pack-<team>-<pack id>.zip`.
    pub fn file_name(&self) -> String {
        format!(
            "audit-pack-{}-{}.zip",
            self.request.scope.team, self.request.pack_id
        )
    }

    /// Writes the archive to `sink`. The platform runs this inside the response body through
    /// [`crate::evidence::pack::pull`], so it proceeds only as fast as the client reads.
    pub async fn write(&self, deps: &Deps<'_>, sink: &mut dyn PackSink) -> Result<(), ExportError> {
        let ring = deps
            .config
            .audit_signing_keys
            .as_ref()
            .ok_or(ExportError::Unconfigured)?;
        let stores = deps.db.stores(Acting::System, &self.request_id);
        let source = StoreSource::new(stores.as_ref(), deps.store);
        export_pack(&source, sink, ring, &self.request).await?;
        Ok(())
    }
}

/// Checks `query` (`team_id`, `from`, `to`), authorises the caller and audits the export.
pub async fn start(caller: &Caller<'_>, query: &str) -> Result<PackExport, ServiceError> {
    let scope = parse_scope(query)?;
    caller.authorize(scope.team, Action::AuditExport).await?;
    let deps = caller.deps();
    if deps.config.audit_signing_keys.is_none() {
        return Err(ServiceError::NotConfigured {
            code: "audit_pack_unavailable",
            message: "audit packs are not available: this deployment has no signing key",
        });
    }
    let pack_id = uuid::Builder::from_random_bytes(random_bytes(deps)).into_uuid();
    let system = caller.system();
    let request = PackRequest {
        pack_id: pack_id.to_string(),
        generated_at: deps.clock.now(),
        requested_by: requester(system.actor(), system.meta()),
        scope,
    };
    system
        .record(Event {
            team: request.scope.team,
            action: "audit.export",
            target_type: "audit_pack",
            target_id: request.pack_id.clone(),
            details: json!({
                "pack_id": request.pack_id,
                "from": format_time(&request.scope.from),
                "to": format_time(&request.scope.to),
            }),
        })
        .await?;
    Ok(PackExport {
        request,
        request_id: system.meta().request_id.clone(),
    })
}

fn random_bytes(deps: &Deps<'_>) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    deps.rng.fill(&mut bytes);
    bytes
}

fn requester(actor: &Actor, meta: &RequestMeta) -> Requester {
    let (actor_type, actor_id) = match actor {
        Actor::User(user) => ("user", user.to_string()),
        Actor::ApiKey { key, .. } => ("api_key", key.to_string()),
        Actor::System(name) => ("system", name.to_string()),
        Actor::Anonymous => ("anonymous", String::new()),
    };
    Requester {
        actor_type: actor_type.into(),
        actor_id,
        request_id: Some(meta.request_id.clone()),
    }
}

/// `team_id` (uuid), `from` and `to` (RFC 3339, `from` ≤ `to`, at most [`MAX_RANGE_DAYS`]
/// apart), each exactly once.
pub fn parse_scope(query: &str) -> Result<PackScope, ServiceError> {
    let (mut team, mut from, mut to) = (None, None, None);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let (slot, field) = match key.as_ref() {
            "team_id" => (&mut team, "team_id"),
            "from" => (&mut from, "from"),
            "to" => (&mut to, "to"),
            _ => {
                return Err(ServiceError::invalid(
                    "query",
                    format!("unknown parameter {key:?}"),
                ))
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(ServiceError::invalid(field, "given more than once"));
        }
    }
    let team = team.ok_or_else(|| ServiceError::invalid("team_id", "required"))?;
    let team = TeamId::parse(&team).map_err(|_| ServiceError::invalid("team_id", "not a uuid"))?;
    let from = time(from, "from")?;
    let to = time(to, "to")?;
    if from > to {
        return Err(ServiceError::invalid("to", "must not be before from"));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(ServiceError::invalid(
            "to",
            format!("a pack covers at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok(PackScope { team, from, to })
}

fn time(value: Option<String>, field: &'static str) -> Result<DateTime<Utc>, ServiceError> {
    let value = value.ok_or_else(|| ServiceError::invalid(field, "required"))?;
    DateTime::parse_from_rfc3339(&value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ServiceError::invalid(field, "not an RFC 3339 time"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::{Role, Scope};
    use crate::evidence::chain::{ChainBuilder, ChainedRow};
    use crate::ports::ObjectStore;
    use crate::store::ChainHeadRow;
    use crate::testing::world::World;
    use chrono::TimeZone;
    use futures::executor::block_on;
    use std::io::Read;

    const KEYS: &str = "k2026:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn world() -> World {
        World::with_vars(&[("DEFAULT_PLAN", "business"), ("AUDIT_SIGNING_KEYS", KEYS)])
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 2, day, 9, 0, 0).unwrap()
    }

    fn query(team: TeamId) -> String {
        format!("team_id={team}&from=2026-02-01T00:00:00Z&to=2026-02-20T00:00:00Z")
    }

    /// Five chained rows of `team`, one a day from 2026-02-01 (the range ends before day 20).
    fn seed(world: &World, team: TeamId) {
        let mut chain = ChainBuilder::new();
        let rows: Vec<ChainedRow> = (1..=5)
            .map(|i| {
                let row = serde_json::from_value(json!({
                    "id": i, "team_id": team, "occurred_at": at(i as u32 * 4 - 3),
                    "actor_type": "system", "actor_id": "cron",
                    "action": if i == 4 { "finding.transition" } else { "backup.request" },
                    "target_type": "backup", "target_id": "b", "request_id": "r",
                    "source_ip": null, "chain_version": 2, "details": {},
                    "chain_seq": 0, "prev_hash": "", "row_hash": "", "identity_commitment": null,
                }))
                .unwrap();
                chain.link(row, &format!("{i:064x}")).unwrap()
            })
            .collect();
        let last = rows.last().unwrap();
        world.db.set_chain_heads(vec![ChainHeadRow {
            team: Some(team),
            seq: last.chain_seq,
            head_hash: last.row_hash.clone(),
        }]);
        world.db.set_chain_rows(rows);
        let backup = "00000000-0000-4000-8000-00000000b001";
        let prefix = format!("backups/{team}/x/");
        let connection = "00000000-0000-4000-8000-00000000c001";
        world.db.insert_evidence(
            serde_json::from_value(json!({
                "id": backup, "team_id": team, "connection_id": connection,
                "requested_by": null, "trigger": "manual", "status": "complete",
                "started_at": at(2), "finished_at": at(2), "r2_prefix": prefix, "counts": {},
                "object_count": 1, "sealed_bytes": 10, "manifest_sha256": "a".repeat(64),
                "error": null,
            }))
            .unwrap(),
            serde_json::from_value(json!({
                "id": "00000000-0000-4000-8000-00000000d001", "team_id": team,
                "connection_id": connection, "backup_id": backup, "trigger": "manual",
                "requested_by": null, "status": "complete", "started_at": at(3),
                "finished_at": at(3), "pass_count": 0, "fail_count": 1,
                "not_applicable_count": 0, "error_count": 0,
                "failed_by_severity": {"high": 1}, "error": null,
            }))
            .unwrap(),
            vec![serde_json::from_value(json!({
                "run_id": "00000000-0000-4000-8000-00000000d001", "team_id": team,
                "connection_id": connection, "check_id": "BF-CIS5-001", "cis_safeguard": "5.4",
                "severity": "high", "outcome": "fail", "message": "m", "evidence": [],
            }))
            .unwrap()],
        );
        block_on(
            world
                .objects
                .put(&format!("{prefix}manifest.json"), b"{}".to_vec()),
        )
        .unwrap();
        // Guidance given on day 6 (in the range) and on day 25 (after it).
        for (id, day) in [("e001", 6), ("e002", 25)] {
            world.db.insert_guidance(
                serde_json::from_value(json!({
                    "id": format!("00000000-0000-4000-8000-00000000{id}"), "team_id": team,
                    "connection_id": connection, "requested_by": null,
                    "prompt": "explain_finding", "target": "BF-CIS5-001",
                    "payload_sha256": "b".repeat(64), "payload_bytes": 10, "pseudonyms": 2,
                    "provider": "anthropic", "model": "m", "attempts": [], "latency_ms": 5,
                    "input_tokens": 10, "output_tokens": 20, "cost_micro_usd": 3,
                    "outcome": "answered", "error": null, "answer": null, "created_at": at(day),
                }))
                .unwrap(),
            );
        }
    }

    fn unzip(bytes: Vec<u8>) -> zip::ZipArchive<std::io::Cursor<Vec<u8>>> {
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap()
    }

    fn read(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, path: &str) -> String {
        let mut text = String::new();
        archive
            .by_name(path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn an_auditor_exports_the_range_signed_and_the_export_is_audited_first() {
        let world = world();
        let owner = world.user();
        let team = world.team_of(owner);
        seed(&world, team);
        let auditor = world.member(team, Role::Auditor);
        let export = block_on(start(&world.caller(auditor), &query(team))).unwrap();
        assert_eq!(
            export.file_name(),
            format!("audit-pack-{team}-{}.zip", export.request.pack_id)
        );
        let audit = world.db.activity.borrow().last().cloned().unwrap();
        assert_eq!(audit.action, "audit.export");
        assert_eq!(audit.target_id, export.request.pack_id);
        assert_eq!(audit.details["from"], "2026-02-01T00:00:00.000000Z");

        let mut zip = Vec::new();
        block_on(export.write(world.deps, &mut zip)).unwrap();
        let mut archive = unzip(zip);
        let manifest: serde_json::Value =
            serde_json::from_str(&read(&mut archive, "manifest.json")).unwrap();
        assert_eq!(manifest["signature"]["key_id"], "k2026");
        assert_eq!(manifest["requested_by"]["actor_id"], auditor.to_string());
        // Days 1, 5, 9, 13 and 17: all five rows, the chain intact up to the head.
        assert_eq!(manifest["chain"]["segment"]["rows"], 5, "{manifest}");
        assert_eq!(manifest["chain"]["verification"]["status"], "intact");
        let lines = |archive: &mut _, path| read(archive, path).lines().count();
        assert_eq!(lines(&mut archive, "activity/activity_logs.jsonl"), 5);
        assert_eq!(lines(&mut archive, "backups/backups.jsonl"), 1);
        assert_eq!(lines(&mut archive, "compliance/runs.jsonl"), 1);
        assert_eq!(lines(&mut archive, "compliance/findings.jsonl"), 1);
        assert_eq!(
            lines(&mut archive, "compliance/remediation_history.jsonl"),
            1
        );
        let guidance = read(&mut archive, "ai/guidance.jsonl");
        assert_eq!(guidance.lines().count(), 1, "{guidance}");
        assert!(
            guidance.contains("00000000e001") && guidance.contains("\"provider\":\"anthropic\"")
        );
        assert_eq!(
            read(
                &mut archive,
                "backups/manifests/00000000-0000-4000-8000-00000000b001.json"
            ),
            "{}"
        );
        let drift = manifest["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "drift_alerts")
            .unwrap();
        assert_eq!(drift["collected"], false);
        assert_eq!(archive.by_name("manifest.sig").unwrap().size(), 64);
    }

    #[test]
    fn only_owners_admins_and_auditors_export() {
        let world = world();
        let owner = world.user();
        let team = world.team_of(owner);
        for role in [Role::Admin, Role::Auditor] {
            let user = world.member(team, role);
            assert!(block_on(start(&world.caller(user), &query(team))).is_ok());
        }
        assert!(block_on(start(&world.caller(owner), &query(team))).is_ok());
        let before = world.db.activity.borrow().len();
        for role in [Role::Operator, Role::Viewer] {
            let user = world.member(team, role);
            let refused = block_on(start(&world.caller(user), &query(team)));
            assert!(matches!(refused, Err(ServiceError::Forbidden)), "{role:?}");
        }
        let key = world.key_caller(owner, team, &[Scope::Read]);
        assert!(matches!(
            block_on(start(&key, &query(team))),
            Err(ServiceError::Forbidden)
        ));
        let stranger = world.user();
        assert!(matches!(
            block_on(start(&world.caller(stranger), &query(team))),
            Err(ServiceError::NotFound)
        ));
        // A refused export leaves no audit.export row.
        assert_eq!(world.db.activity.borrow().len(), before);
    }

    #[test]
    fn bad_queries_are_refused_with_their_field() {
        let team = "b05d6718-e1a7-4852-98b1-b5c3fbc82eef";
        let cases = [
            ("from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z".to_string(), "team_id"),
            ("team_id=nope&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z".to_string(), "team_id"),
            (format!("team_id={team}&to=2026-02-01T00:00:00Z"), "from"),
            (format!("team_id={team}&from=yesterday&to=2026-02-01T00:00:00Z"), "from"),
            (format!("team_id={team}&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"), "to"),
            (format!("team_id={team}&from=2025-01-01T00:00:00Z&to=2026-02-01T00:00:00Z"), "to"),
            (format!("team_id={team}&team_id={team}&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"), "team_id"),
            (format!("team_id={team}&limit=5"), "query"),
        ];
        for (query, expected) in cases {
            match parse_scope(&query) {
                Err(ServiceError::Invalid { field, .. }) => assert_eq!(field, expected, "{query}"),
                other => panic!("{query}: {other:?}"),
            }
        }
        let leap = format!(
            "team_id={team}&from=2028-01-01T00:00:00%2B01:00&to=2029-01-01T00:00:00%2B01:00"
        );
        assert!(parse_scope(&leap).is_ok());
    }

    #[test]
    fn without_signing_keys_there_is_no_pack() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        match block_on(start(&world.caller(owner), &query(team))) {
            Err(ServiceError::NotConfigured { code, .. }) => {
                assert_eq!(code, "audit_pack_unavailable")
            }
            other => panic!("{other:?}"),
        }
        assert!(world.db.actions().is_empty());
    }
}
