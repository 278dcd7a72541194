//! One resource's history (`GET /connections/{id}/resources/{type}/{okta_id}/history`): every
//! recorded version, oldest first, each with what changed since the version before, served
//! from the version index (`resource_versions`) rather than by scanning every snapshot.
//!
//! A version recorded from a backup is read back from that backup's object of its type: the
//! object's items up to the recorded position are streamed (verified and opened as any read is)
//! and the one at the position is checked to be the resource. So each version on a page costs
//! one partial scan of one object (half the object on average; a 100k-user object is about
//! 156 MiB of plaintext); pages are small for that reason. A version recorded by a change
//! capture carries its attribution and is read back from the capture's sealed delta (verified
//! against the capture row's manifest hash, then the delta's object of its type, which holds
//! only that capture's changes), so diffs run across backups and captures alike.

use serde::Serialize;
use serde_json::Value;

use super::downloads::read_snapshot;
use super::tenant_keys::snapshot_key;
use super::{Caller, ServiceError};
use crate::authz::matrix::Action;
use crate::drift::capture::delta::{delta_items, open_delta, DeltaItem, DeltaRef};
use crate::drift::compare::{compare, redact, FieldChange};
use crate::drift::stream::ArraySplitter;
use crate::drift::Normaliser;
use crate::ids::{BackupId, ConnectionId, DriftCaptureId};
use crate::snapshot::SnapshotLayout;
use crate::store::{VersionRow, VersionSource, VersionState};
use crate::tenant::ResourceType;

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 50;

/// A page of one resource's history.
#[derive(Debug, Serialize)]
pub struct History {
    pub resource: ResourceType,
    pub id: String,
    pub versions: Vec<VersionView>,
    pub next_cursor: Option<String>,
}

/// One version and what changed since the one before it.
#[derive(Debug, Serialize)]
pub struct VersionView {
    #[serde(flatten)]
    pub version: VersionRow,
    pub change: Change,
}

#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The first version recorded: its whole content (secrets redacted).
    Initial {
        content: Value,
    },
    /// Present again after a removal: its whole content (secrets redacted).
    Added {
        content: Value,
    },
    Changed {
        fields: Vec<FieldChange>,
    },
    Removed,
    /// This version's payload (or the one before it) can no longer be read (its capture is
    /// gone).
    Unavailable,
}

/// `GET .../history`.
pub async fn history(
    caller: &Caller<'_>,
    connection: ConnectionId,
    resource: ResourceType,
    id: &str,
    cursor: Option<&str>,
    limit: usize,
) -> Result<History, ServiceError> {
    let stores = caller.stores();
    let conn = stores
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(conn.team_id, Action::DriftRead).await?;
    let base = cursor.map(decode_cursor).transpose()?;
    // With a cursor, the first row is the last version of the previous page (the cursor names
    // it, inclusively): the base the first version of this page is compared with.
    let extra = usize::from(base.is_some());
    let mut rows = stores
        .resource_versions(connection, resource, id, base, (limit + extra + 1) as u32)
        .await?;
    let more = rows.len() > limit + extra;
    rows.truncate(limit + extra);
    let mut reader = Reader {
        caller,
        resource,
        id,
        cache: None,
        delta: None,
    };
    let n = Normaliser::of(resource);
    let mut previous: Option<Prev> = None;
    let mut versions = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let content = reader.content(&row).await?;
        let change = match (&previous, &content) {
            _ if row.state == VersionState::Removed => Change::Removed,
            (_, None) | (Some(Prev::Unreadable), _) => Change::Unavailable,
            (None, Some(c)) => Change::Initial {
                content: shown(n, c),
            },
            (Some(Prev::Removed), Some(c)) => Change::Added {
                content: shown(n, c),
            },
            (Some(Prev::Present(p)), Some(c)) => Change::Changed {
                fields: compare(n, p, c),
            },
        };
        previous = Some(match (row.state, content) {
            (VersionState::Removed, _) => Prev::Removed,
            (_, None) => Prev::Unreadable,
            (_, Some(c)) => Prev::Present(c),
        });
        if i >= extra {
            versions.push(VersionView {
                version: row,
                change,
            });
        }
    }
    let next_cursor = more
        .then(|| versions.last())
        .flatten()
        .map(|v| encode_cursor(v.version.captured_at, v.version.id));
    Ok(History {
        resource,
        id: id.to_string(),
        versions,
        next_cursor,
    })
}

/// The version before, as the next one is compared with it.
enum Prev {
    Present(Value),
    Removed,
    Unreadable,
}

fn shown(n: &Normaliser, content: &Value) -> Value {
    let mut c = content.clone();
    redact(n, &mut c);
    c
}

/// Reads versions' payloads back, keeping the last backup's snapshot and the last capture's
/// delta items open.
struct Reader<'c, 'a> {
    caller: &'c Caller<'a>,
    resource: ResourceType,
    id: &'c str,
    cache: Option<(BackupId, crate::snapshot::SnapshotReader<'a>)>,
    delta: Option<(uuid::Uuid, Vec<DeltaItem>)>,
}

impl<'a> Reader<'_, 'a> {
    /// The normalised content of a present version; `None` for a removal or a payload this
    /// cannot read (a capture whose row is gone).
    async fn content(&mut self, row: &VersionRow) -> Result<Option<Value>, ServiceError> {
        let (Some(position), VersionState::Present) = (row.position, row.state) else {
            return Ok(None);
        };
        match row.source {
            VersionSource::Backup { backup_id } => {
                self.backup_content(row, backup_id, position).await
            }
            VersionSource::Capture { capture_id } => {
                self.capture_content(row, capture_id, position).await
            }
        }
    }

    /// Item `position` of the capture's delta object of this type.
    async fn capture_content(
        &mut self,
        row: &VersionRow,
        capture_id: uuid::Uuid,
        position: u32,
    ) -> Result<Option<Value>, ServiceError> {
        let bad = |what: &str| ServiceError::Internal(format!("version {}: {what}", row.id));
        if self.delta.as_ref().is_none_or(|(c, _)| *c != capture_id) {
            let id = DriftCaptureId::parse(&capture_id.hyphenated().to_string())
                .map_err(|_| bad("capture id"))?;
            let stores = self.caller.stores();
            let Some(capture) = stores.drift_capture(id).await? else {
                return Ok(None);
            };
            let backup = stores
                .backup(capture.backup_id)
                .await?
                .ok_or_else(|| bad("the capture's base backup is gone"))?;
            let deps = self.caller.deps();
            let sys = self.caller.system();
            let key = snapshot_key(sys, backup.team_id, backup.id, backup.connection_id).await?;
            let layout = SnapshotLayout::from_prefix(&backup.r2_prefix);
            let (b, t, c) = (
                backup.id.to_string(),
                backup.team_id.to_string(),
                backup.connection_id.to_string(),
            );
            let delta = DeltaRef {
                seq: capture.seq,
                manifest_sha256: capture.manifest_sha256,
            };
            let manifest = open_delta(deps.store, &layout, (&b, &t, &c), &delta)
                .await
                .map_err(|e| bad(&e.to_string()))?;
            let items = delta_items(deps.store, deps.seal, &key, &manifest, self.resource)
                .await
                .map_err(|e| bad(&e.to_string()))?;
            self.delta = Some((capture_id, items));
        }
        let (_, items) = self.delta.as_ref().expect("opened above");
        let item = items
            .get(position as usize)
            .ok_or_else(|| bad("position past the delta's end"))?;
        if item.key != self.id {
            return Err(bad("the index does not match the delta"));
        }
        let value = item
            .item
            .clone()
            .ok_or_else(|| bad("the delta records a removal"))?;
        Ok(Some(Normaliser::of(self.resource).content(value, None)))
    }

    /// Item `position` of the backup's object of this type.
    async fn backup_content(
        &mut self,
        row: &VersionRow,
        backup_id: BackupId,
        position: u32,
    ) -> Result<Option<Value>, ServiceError> {
        if self.cache.as_ref().is_none_or(|(b, _)| *b != backup_id) {
            let backup = self
                .caller
                .stores()
                .backup(backup_id)
                .await?
                .ok_or_else(|| {
                    ServiceError::Internal(format!("version of missing backup {backup_id}"))
                })?;
            let deps = self.caller.deps();
            let reader = read_snapshot(self.caller.system(), deps.store, &backup).await?;
            self.cache = Some((backup_id, reader));
        }
        let (_, reader) = self.cache.as_ref().expect("opened above");
        let mut stream = reader.object_stream(self.resource)?;
        let mut splitter = ArraySplitter::default();
        let mut at = 0u32;
        let store = self.caller.deps().store;
        let bad = |what: &str| ServiceError::Internal(format!("version {}: {what}", row.id));
        loop {
            while let Some(bytes) = splitter.pop() {
                if at == position {
                    let item: Value =
                        serde_json::from_slice(&bytes).map_err(|_| bad("item is not JSON"))?;
                    let n = Normaliser::of(self.resource);
                    let key = n.key(&item, at.into()).map_err(|e| bad(&e.to_string()))?;
                    if key.as_str() != self.id {
                        return Err(bad("the index does not match the snapshot"));
                    }
                    return Ok(Some(n.content(item, None)));
                }
                at += 1;
            }
            match stream
                .next_piece(store)
                .await
                .map_err(|e| bad(&e.to_string()))?
            {
                Some(piece) => splitter.push(&piece).map_err(|e| bad(&e.to_string()))?,
                None => return Err(bad("position past the object's end")),
            }
        }
    }
}

fn encode_cursor(at: chrono::DateTime<chrono::Utc>, id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "1|{}|{id}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    ))
}

fn decode_cursor(s: &str) -> Result<(chrono::DateTime<chrono::Utc>, i64), ServiceError> {
    use base64::Engine;
    let invalid = || ServiceError::invalid("cursor", "is not a cursor of this history");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = raw.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("1"), Some(at), Some(id)) => Ok((
            chrono::DateTime::parse_from_rfc3339(at)
                .map_err(|_| invalid())?
                .with_timezone(&chrono::Utc),
            id.parse().map_err(|_| invalid())?,
        )),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use serde_json::{json, Value};

    use super::*;
    use crate::ids::UserId;
    use crate::jobs::{self, resource_index::ResourceIndexJob, Job};
    use crate::store::{Acting, Attribution, Database, NewVersion};
    use crate::testing::world::World;

    fn user(id: &str, status: &str, title: &str) -> Value {
        json!({"id": id, "status": status, "lastLogin": "2026-02-01T00:00:00.000Z",
               "profile": {"login": format!("{id}@example.com"), "title": title},
               "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}}})
    }

    /// Three backups: `00uA` then suspended (and signed in, which is no change), `00uB` then
    /// deleted, `00uC` unchanged throughout.
    fn three_backups() -> (World, UserId, ConnectionId) {
        let w = World::new();
        let owner = w.user();
        let set = |users: Vec<Value>| *w.okta_users.borrow_mut() = users;
        set(vec![
            user("00uA", "ACTIVE", "Engineer"),
            user("00uB", "ACTIVE", "Sales"),
            user("00uC", "ACTIVE", "Ops"),
        ]);
        let (connection, _) = w.backed_up(owner);
        let mut a = user("00uA", "SUSPENDED", "Engineer");
        a["lastLogin"] = json!("2026-03-01T00:00:00.000Z");
        set(vec![
            a.clone(),
            user("00uB", "ACTIVE", "Sales"),
            user("00uC", "ACTIVE", "Ops"),
        ]);
        w.back_up_again(owner, connection);
        set(vec![user("00uC", "ACTIVE", "Ops"), a]);
        w.back_up_again(owner, connection);
        (w, owner, connection)
    }

    fn kinds(h: &History) -> Vec<&'static str> {
        (h.versions.iter())
            .map(|v| match v.change {
                Change::Initial { .. } => "initial",
                Change::Added { .. } => "added",
                Change::Changed { .. } => "changed",
                Change::Removed => "removed",
                Change::Unavailable => "unavailable",
            })
            .collect()
    }

    #[test]
    fn history_lists_each_version_once_with_the_diff_from_the_one_before() {
        let (w, owner, connection) = three_backups();
        let caller = w.caller(owner);
        let users = ResourceType::Users;
        let a = block_on(history(&caller, connection, users, "00uA", None, 10)).unwrap();
        assert_eq!(kinds(&a), ["initial", "changed"]);
        let Change::Changed { fields } = &a.versions[1].change else {
            unreachable!()
        };
        assert_eq!(
            serde_json::to_value(fields).unwrap(),
            json!([{"path": "/status", "op": "modified", "before": "ACTIVE", "after": "SUSPENDED"}])
        );
        let Change::Initial { content } = &a.versions[0].change else {
            unreachable!()
        };
        assert_eq!(content["profile"]["title"], "Engineer");
        assert!(a
            .versions
            .iter()
            .all(|v| v.version.attribution == Attribution::default()));
        let b = block_on(history(&caller, connection, users, "00uB", None, 10)).unwrap();
        assert_eq!(kinds(&b), ["initial", "removed"]);
        // Unchanged across three backups: one version, not three.
        let c = block_on(history(&caller, connection, users, "00uC", None, 10)).unwrap();
        assert_eq!(kinds(&c), ["initial"]);
        assert!(c.next_cursor.is_none());
    }

    #[test]
    fn a_page_compares_its_first_version_with_the_last_of_the_page_before() {
        let (w, owner, connection) = three_backups();
        let caller = w.caller(owner);
        let page = |cursor: Option<&str>| {
            block_on(history(
                &caller,
                connection,
                ResourceType::Users,
                "00uA",
                cursor,
                1,
            ))
            .unwrap()
        };
        let first = page(None);
        assert_eq!(kinds(&first), ["initial"]);
        let second = page(first.next_cursor.as_deref());
        assert_eq!(kinds(&second), ["changed"]);
        assert!(second.next_cursor.is_none());
        let err = block_on(history(
            &caller,
            connection,
            ResourceType::Users,
            "00uA",
            Some("x"),
            1,
        ))
        .unwrap_err();
        assert!(
            matches!(
                err,
                ServiceError::Invalid {
                    field: "cursor",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn indexing_again_writes_nothing_twice_and_strangers_see_nothing() {
        let (w, owner, connection) = three_backups();
        let sys = w.db.stores(Acting::System, "test");
        let heads = |sys: &dyn crate::store::Stores| {
            block_on(sys.version_heads(connection, ResourceType::Users, None, 100)).unwrap()
        };
        let before = heads(sys.as_ref());
        assert_eq!(before.len(), 3);
        // Redeliver every backup's indexing job, as a queue does after a crash.
        for b in w.db.backups() {
            let job = Job::ResourceIndex(ResourceIndexJob {
                backup: b.id,
                team: b.team_id,
                connection,
                meta: w.system("test").meta().clone(),
            });
            let delivery = block_on(jobs::deliver(w.deps, serde_json::to_value(&job).unwrap()));
            assert_eq!(delivery.retry_after, None, "{}", delivery.log);
            assert_eq!(delivery.log["counts"]["recorded"], 0, "{}", delivery.log);
        }
        assert_eq!(heads(sys.as_ref()), before, "{before:?}");
        let a = block_on(history(
            &w.caller(owner),
            connection,
            ResourceType::Users,
            "00uA",
            None,
            10,
        ))
        .unwrap();
        assert_eq!(a.versions.len(), 2);
        let stranger = w.user();
        let err = block_on(history(
            &w.caller(stranger),
            connection,
            ResourceType::Users,
            "00uA",
            None,
            10,
        ))
        .unwrap_err();
        assert!(matches!(err, ServiceError::NotFound), "{err:?}");
    }

    #[test]
    fn a_captured_version_carries_its_attribution() {
        let (w, owner, connection) = three_backups();
        let team = w.team_of(owner);
        let capture = NewVersion {
            team_id: team,
            connection_id: connection,
            resource_type: ResourceType::Users,
            resource_id: "00uC".into(),
            state: VersionState::Present,
            content_hash: Some("ab".repeat(32)),
            hash_key: "legacy".into(),
            source: VersionSource::Capture {
                capture_id: uuid::Uuid::from_u128(7),
            },
            position: Some(0),
            captured_at: w.deps.clock.now() + chrono::Duration::minutes(5),
            attribution: Attribution {
                actor_id: Some("00uAdmin".into()),
                actor_type: Some("User".into()),
                actor_display_name: Some("Avery Admin".into()),
                client_ip: Some("203.0.113.7".into()),
                user_agent: Some("Mozilla/5.0".into()),
                transaction_id: Some("Wn4f".into()),
                event_type: Some("user.account.update_profile".into()),
            },
        };
        // Callers never write the index; the service role does, once per capture.
        let caller_write = block_on(
            w.caller(owner)
                .stores()
                .record_versions(std::slice::from_ref(&capture)),
        );
        assert!(caller_write.is_err());
        let sys = w.db.stores(Acting::System, "test");
        assert_eq!(
            block_on(sys.record_versions(std::slice::from_ref(&capture))).unwrap(),
            1
        );
        assert_eq!(block_on(sys.record_versions(&[capture])).unwrap(), 0);
        let c = block_on(history(
            &w.caller(owner),
            connection,
            ResourceType::Users,
            "00uC",
            None,
            10,
        ))
        .unwrap();
        assert_eq!(kinds(&c), ["initial", "unavailable"]);
        let v = &c.versions[1].version;
        assert_eq!(
            v.attribution.actor_display_name.as_deref(),
            Some("Avery Admin")
        );
        assert_eq!(
            v.attribution.event_type.as_deref(),
            Some("user.account.update_profile")
        );
    }
}
