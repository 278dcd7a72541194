//! The diff of two backups of one connection (`GET /connections/{id}/diff?from=&to=`): per-type
//! counts, then the changes page by page, streamed from the two sealed snapshots
//! ([`crate::drift::stream`]) in memory proportional to the number of resources.
//!
//! Finding what changed reads both snapshots whole (every object, twice for the types that
//! differ), which for a 100k-user pair is hundreds of MiB of decryption and decompression: too
//! much to repeat for every page. So the first request of a pair builds the change index once
//! and keeps it, sealed under the `to` backup's snapshot key, at
//! [`SnapshotLayout::diff_index_key`] (`<to prefix>diffs/<from>.bfs`). Every later request of the
//! pair, whatever its filter or cursor, opens that small object instead ([`ChangeIndex::select`]
//! narrows it) and reads only the page's resource types back from the snapshots, stopping once it
//! has the page's resources. The index holds keys and kinds, never content, and goes with the `to`
//! backup (its prefix) and with its key (crypto-shredding).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Event;
use super::downloads::snapshot_of;
use super::tenant_keys::snapshot_key;
use super::{Caller, Privileged, ServiceError};
use crate::authz::matrix::Action;
use crate::crypto::stream::{open_with, seal_with, SnapshotKey};
use crate::drift::{
    index_changes, ChangeIndex, Cursor, DiffOptions, Filter, ObjectSource, Page, SourceError,
    Summary,
};
use crate::ids::{BackupId, ConnectionId};
use crate::ports::{ObjectStore, SealPrimitives};
use crate::snapshot::{ObjectStream, ReadError, SnapshotReader, SnapshotRef};
use crate::store::BackupRow;
use crate::tenant::ResourceType;

/// Changes per page by default, and at most (a page holds its resources' content: both sides
/// of every changed resource on it).
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// Version of the stored index document; another version is rebuilt, not read.
const INDEX_VERSION: u32 = 1;

/// One page request.
#[derive(Clone, Debug)]
pub struct DiffQuery {
    pub from: BackupId,
    pub to: BackupId,
    pub filter: Filter,
    /// The opaque cursor of the previous page.
    pub cursor: Option<String>,
    pub limit: usize,
}

/// One page of a pair's diff.
#[derive(Debug, Serialize)]
pub struct DiffView {
    pub from: BackupRef,
    pub to: BackupRef,
    /// Counts of each type the `type` filter admits (whole types: the resource-id filter
    /// narrows `changes`, not the counts).
    pub summary: Summary,
    /// Changes the filters select, over all pages.
    pub total: u64,
    pub changes: Vec<crate::drift::ResourceChange>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BackupRef {
    pub id: BackupId,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<&BackupRow> for BackupRef {
    fn from(row: &BackupRow) -> Self {
        BackupRef {
            id: row.id,
            started_at: row.started_at,
            finished_at: row.finished_at,
        }
    }
}

/// The stored index: bound to its pair and to both manifests, so a copy moved to another pair's
/// key, or read against other snapshots, is refused.
#[derive(Serialize, Deserialize)]
struct StoredIndex {
    version: u32,
    from: BackupId,
    to: BackupId,
    from_manifest: String,
    to_manifest: String,
    index: ChangeIndex,
}

/// `GET /connections/{id}/diff`.
pub async fn diff(
    caller: &Caller<'_>,
    connection: ConnectionId,
    query: DiffQuery,
) -> Result<DiffView, ServiceError> {
    let stores = caller.stores();
    let conn = stores
        .connection(connection)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(conn.team_id, Action::DriftRead).await?;
    let mut rows = Vec::with_capacity(2);
    for id in [query.from, query.to] {
        let row = stores
            .backup(id)
            .await?
            .filter(|r| r.connection_id == connection)
            .ok_or(ServiceError::NotFound)?;
        rows.push(row);
    }
    let (from_row, to_row) = (&rows[0], &rows[1]);
    let (from_ref, to_ref) = (snapshot_of(from_row)?, snapshot_of(to_row)?);
    let binding = cursor_binding(&query);
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, &binding))
        .transpose()?;
    let sys = caller.system();
    let deps = caller.deps();
    let (from_key, to_key) = (
        snapshot_key(sys, from_row.team_id, from_row.id, connection).await?,
        snapshot_key(sys, to_row.team_id, to_row.id, connection).await?,
    );
    let before = SnapshotReader::open(deps.store, deps.seal, from_key, from_ref.clone()).await?;
    let after = SnapshotReader::open(deps.store, deps.seal, to_key.clone(), to_ref.clone()).await?;
    let (before_src, after_src) = (source(&before), source(&after));
    let index = match load_index(deps.store, deps.seal, &to_key, &from_ref, &to_ref).await? {
        Some(index) => index,
        None => {
            let index = index_changes(&before_src, &after_src, &DiffOptions::default())
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            store_index(sys, &to_key, &from_ref, &to_ref, &index).await?;
            index
        }
    };
    let view = index.select(&query.filter);
    let page: Page = view
        .page(&before_src, &after_src, cursor.as_ref(), query.limit)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    if query.cursor.is_none() {
        // Tenant data leaves the snapshots: the first page of each view is on the team's record.
        sys.record(Event {
            team: conn.team_id,
            action: "drift.diff",
            target_type: "connection",
            target_id: connection.to_string(),
            details: json!({
                "from": query.from.to_string(),
                "to": query.to.to_string(),
                "types": query.filter.resources.as_ref().map(|r| r.iter().map(|t| t.as_str()).collect::<Vec<_>>()),
                "resource_id": query.filter.id,
            }),
        })
        .await?;
    }
    Ok(DiffView {
        from: from_row.into(),
        to: to_row.into(),
        total: view.changes().len() as u64,
        summary: view.summary.clone(),
        changes: page.changes,
        next_cursor: page.next.map(|c| encode_cursor(&c, &binding)),
    })
}

/// A snapshot as the diff engine's item source: absent types are "not collected".
fn source<'r>(
    reader: &'r SnapshotReader<'_>,
) -> ObjectSource<'r, impl Fn(ResourceType) -> Result<Option<ObjectStream>, SourceError> + 'r> {
    ObjectSource::new(reader.store(), move |t| match reader.object_stream(t) {
        Ok(s) => Ok(Some(s)),
        Err(ReadError::NotCollected(_)) => Ok(None),
        Err(e) => Err(SourceError(e.to_string())),
    })
}

/// The pair's stored index, if there is one of this version. A stored index that does not open
/// under the `to` backup's key, or names another pair, is tampering, not a cache miss.
async fn load_index(
    store: &dyn ObjectStore,
    seal: &dyn SealPrimitives,
    key: &SnapshotKey,
    from: &SnapshotRef,
    to: &SnapshotRef,
) -> Result<Option<ChangeIndex>, ServiceError> {
    let path = to.layout.diff_index_key(from.backup);
    let Some(sealed) = store
        .get(&path)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?
    else {
        return Ok(None);
    };
    let bad = |what: &str| ServiceError::Internal(format!("diff index {path}: {what}"));
    let plain = open_with(seal, key, &path, &sealed)
        .await
        .map_err(|_| bad("does not open"))?;
    let stored: StoredIndex = match serde_json::from_slice(&plain) {
        Ok(s) => s,
        Err(_) => return Ok(None),
    };
    if stored.version != INDEX_VERSION {
        return Ok(None);
    }
    if stored.from != from.backup
        || stored.to != to.backup
        || stored.from_manifest != from.manifest_sha256
        || stored.to_manifest != to.manifest_sha256
    {
        return Err(bad("belongs to another pair"));
    }
    Ok(Some(stored.index))
}

/// Keeps a freshly built index. Two first requests racing both write it; the contents are equal,
/// so whichever lands last is as good.
async fn store_index(
    sys: &Privileged<'_>,
    key: &SnapshotKey,
    from: &SnapshotRef,
    to: &SnapshotRef,
    index: &ChangeIndex,
) -> Result<(), ServiceError> {
    let path = to.layout.diff_index_key(from.backup);
    let doc = StoredIndex {
        version: INDEX_VERSION,
        from: from.backup,
        to: to.backup,
        from_manifest: from.manifest_sha256.clone(),
        to_manifest: to.manifest_sha256.clone(),
        index: index.clone(),
    };
    let plain = serde_json::to_vec(&doc).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let sealed = seal_with(sys.deps.seal, key, sys.deps.rng, &path, &plain)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    sys.deps
        .store
        .put(&path, sealed)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

/// What a cursor is bound to: the pair and the filters. A cursor replayed with other ones is
/// refused rather than silently skipping or repeating changes.
fn cursor_binding(query: &DiffQuery) -> String {
    let types = query.filter.resources.as_ref().map_or(String::new(), |r| {
        r.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(",")
    });
    let digest = crate::snapshot::manifest::sha256_hex(
        format!(
            "{}|{}|{types}|{}",
            query.from,
            query.to,
            query.filter.id.as_deref().unwrap_or("")
        )
        .as_bytes(),
    );
    digest[..16].to_string()
}

fn encode_cursor(cursor: &Cursor, binding: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("1|{binding}|{cursor}"))
}

fn decode_cursor(s: &str, binding: &str) -> Result<Cursor, ServiceError> {
    use base64::Engine;
    let invalid = || ServiceError::invalid("cursor", "is not a cursor of this diff");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = raw.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("1"), Some(b), Some(c)) if b == binding => Cursor::parse(c).ok_or_else(invalid),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::executor::block_on;
    use serde_json::{json, Value};

    use super::*;
    use crate::authz::matrix::{Role, Scope};
    use crate::drift::ChangeKind;
    use crate::jobs::backup;
    use crate::tenant::ResourceType;
    use crate::testing::world::World;

    fn user(id: &str, status: &str) -> Value {
        json!({"id": id, "status": status, "created": "2026-01-01T00:00:00.000Z",
               "lastUpdated": "2026-02-01T00:00:00.000Z",
               "profile": {"login": format!("{id}@example.com"), "email": format!("{id}@example.com")},
               "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
               "_links": {"self": {"href": format!("https://acme.okta.com/api/v1/users/{id}")}}})
    }

    /// Two backups of one connection; between them `00uA` is suspended, `00uC` deleted and
    /// `00uD` created (and `lastUpdated` of `00uB` moved, which is not a change).
    fn pair() -> (
        World,
        crate::ids::UserId,
        ConnectionId,
        BackupRow,
        BackupRow,
    ) {
        let w = World::new();
        let owner = w.user();
        *w.okta_users.borrow_mut() = vec![
            user("00uA", "ACTIVE"),
            user("00uB", "ACTIVE"),
            user("00uC", "ACTIVE"),
        ];
        let (connection, first) = w.backed_up(owner);
        let mut b = user("00uB", "ACTIVE");
        b["lastUpdated"] = json!("2026-02-02T00:00:00.000Z");
        *w.okta_users.borrow_mut() = vec![user("00uD", "ACTIVE"), user("00uA", "SUSPENDED"), b];
        let second = w.back_up_again(owner, connection);
        (w, owner, connection, first, second)
    }

    fn query(from: &BackupRow, to: &BackupRow) -> DiffQuery {
        DiffQuery {
            from: from.id,
            to: to.id,
            filter: Filter::default(),
            cursor: None,
            limit: DEFAULT_LIMIT,
        }
    }

    #[test]
    fn the_diff_of_two_backups_shows_exactly_what_changed() {
        let (w, owner, connection, first, second) = pair();
        let view = block_on(diff(&w.caller(owner), connection, query(&first, &second))).unwrap();
        let users = view.summary.of(ResourceType::Users).unwrap();
        assert!(users.compared);
        assert_eq!(
            (
                users.before,
                users.after,
                users.added,
                users.removed,
                users.changed,
                users.unchanged
            ),
            (3, 3, 1, 1, 1, 1)
        );
        assert_eq!(view.summary.changes(), 3);
        assert_eq!(view.total, 3);
        let got: Vec<_> = (view.changes.iter())
            .map(|c| (c.id.as_str(), c.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("00uA", ChangeKind::Changed),
                ("00uC", ChangeKind::Removed),
                ("00uD", ChangeKind::Added)
            ]
        );
        let fields = serde_json::to_value(&view.changes[0].fields).unwrap();
        assert_eq!(
            fields,
            json!([{"path": "/status", "op": "modified", "before": "ACTIVE", "after": "SUSPENDED"}])
        );
        assert!(view.next_cursor.is_none());
        // The first page of a view is on the team's record.
        let audit = w.db.activity.borrow();
        let row = audit
            .iter()
            .find(|a| a.action == "drift.diff")
            .expect("audited");
        assert_eq!(row.target_id, connection.to_string());
    }

    #[test]
    fn the_index_is_built_once_and_kept_sealed_beside_the_to_backup() {
        let (w, owner, connection, first, second) = pair();
        let caller = w.caller(owner);
        block_on(diff(&caller, connection, query(&first, &second))).unwrap();
        let key = crate::snapshot::SnapshotLayout::from_prefix(&second.r2_prefix)
            .diff_index_key(first.id);
        let sealed = w.objects.objects.borrow().get(&key).cloned().expect("kept");
        assert!(!String::from_utf8_lossy(&sealed).contains("00uA"), "sealed");
        // A later page reads the kept index: one altered in storage fails the request rather
        // than being recomputed around.
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        w.objects.objects.borrow_mut().insert(key.clone(), altered);
        let err = block_on(diff(&caller, connection, query(&first, &second))).unwrap_err();
        assert!(matches!(err, ServiceError::Internal(_)), "{err:?}");
        // An index moved to another pair's place is refused too.
        let reverse = crate::snapshot::SnapshotLayout::from_prefix(&first.r2_prefix)
            .diff_index_key(second.id);
        w.objects.objects.borrow_mut().insert(key, sealed.clone());
        block_on(diff(&caller, connection, query(&second, &first))).unwrap();
        w.objects.objects.borrow_mut().insert(reverse, sealed);
        let err = block_on(diff(&caller, connection, query(&second, &first))).unwrap_err();
        assert!(matches!(err, ServiceError::Internal(_)), "{err:?}");
    }

    #[test]
    fn pages_are_complete_stable_and_bound_to_their_query() {
        let (w, owner, connection, first, second) = pair();
        let caller = w.caller(owner);
        let mut q = query(&first, &second);
        q.limit = 1;
        let mut seen = Vec::new();
        loop {
            let view = block_on(diff(&caller, connection, q.clone())).unwrap();
            assert_eq!(view.total, 3);
            seen.extend(view.changes.into_iter().map(|c| c.id.to_string()));
            match view.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, vec!["00uA", "00uC", "00uD"]);
        // Only the first page of a view is audited.
        let audited = (w.db.activity.borrow().iter())
            .filter(|a| a.action == "drift.diff")
            .count();
        assert_eq!(audited, 1);
        // A cursor is bound to its pair and filters; garbage is refused too.
        let mut q = query(&first, &second);
        q.limit = 1;
        let cursor = block_on(diff(&caller, connection, q.clone()))
            .unwrap()
            .next_cursor
            .unwrap();
        for (cursor, filter) in [
            (
                cursor.clone(),
                Filter {
                    resources: None,
                    id: Some("00uC".into()),
                },
            ),
            ("bm9wZQ".to_string(), Filter::default()),
            ("%%%".to_string(), Filter::default()),
        ] {
            let mut bad = query(&first, &second);
            bad.cursor = Some(cursor);
            bad.filter = filter;
            let err = block_on(diff(&caller, connection, bad)).unwrap_err();
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
    }

    #[test]
    fn filters_select_types_and_resources() {
        let (w, owner, connection, first, second) = pair();
        let caller = w.caller(owner);
        let mut q = query(&first, &second);
        q.filter.id = Some("00uD".into());
        let view = block_on(diff(&caller, connection, q)).unwrap();
        assert_eq!(view.total, 1);
        assert_eq!(view.changes[0].id.as_str(), "00uD");
        let mut q = query(&first, &second);
        q.filter.resources = Some([ResourceType::Groups].into_iter().collect());
        let view = block_on(diff(&caller, connection, q)).unwrap();
        assert_eq!((view.total, view.summary.types.len()), (0, 1));
        assert_eq!(view.summary.types[0].resource, ResourceType::Groups);
    }

    #[test]
    fn only_members_with_drift_read_see_complete_backups_of_the_connection() {
        let (w, owner, connection, first, second) = pair();
        let team = w.team_of(owner);
        // Every role reads drift; a key needs the read (or admin) scope.
        for role in Role::ALL {
            let member = w.member(team, role);
            block_on(diff(&w.caller(member), connection, query(&first, &second))).unwrap();
        }
        let err = block_on(diff(
            &w.key_caller(owner, team, &[Scope::Backup]),
            connection,
            query(&first, &second),
        ))
        .unwrap_err();
        assert!(matches!(err, ServiceError::Forbidden), "{err:?}");
        block_on(diff(
            &w.key_caller(owner, team, &[Scope::Read]),
            connection,
            query(&first, &second),
        ))
        .unwrap();
        // Another team's member learns nothing.
        let stranger = w.user();
        let err = block_on(diff(
            &w.caller(stranger),
            connection,
            query(&first, &second),
        ))
        .unwrap_err();
        assert!(matches!(err, ServiceError::NotFound), "{err:?}");
        // Another connection's backup (here another team's) is not found here.
        let (_, other) = w.backed_up(w.user());
        let err = block_on(diff(&w.caller(owner), connection, query(&first, &other))).unwrap_err();
        assert!(matches!(err, ServiceError::NotFound), "{err:?}");
        // A run that has not completed has no snapshot to compare.
        w.clock.advance(Duration::from_secs(3600));
        w.db.set_now(w.deps.clock.now());
        let running = block_on(backup::request(&w.caller(owner), connection)).unwrap();
        let err =
            block_on(diff(&w.caller(owner), connection, query(&first, &running))).unwrap_err();
        assert!(
            matches!(
                err,
                ServiceError::Conflict {
                    code: "backup_not_complete",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
