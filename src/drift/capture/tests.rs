//! The capture core end to end over fakes: a sealed base snapshot in memory, spec-shaped events,
//! a scripted Okta answering the re-reads; then the delta written, sealed and reconstructed.

use std::collections::BTreeMap;

use chrono::TimeZone;
use futures::executor::block_on;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::delta::{
    captured, delta_items, open_delta, overlay_items, state_at, write_delta, DeltaHeader, DeltaRef,
};
use super::events::{LogEvent, Origin};
use super::*;
use crate::crypto::keys::Key256;
use crate::crypto::native::RustPrimitives;
use crate::ids::{BackupId, ConnectionId, TeamId, UserId};
use crate::okta::{DomainPolicy, OktaAuth, OrgDomain};
use crate::ports::ObjectStore;
use crate::snapshot::manifest::{sha256_hex, FORMAT_VERSION};
use crate::snapshot::writer::SegmentWriter;
use crate::snapshot::{Manifest, ObjectEntry, SnapshotLayout, SnapshotRef};
use crate::testing::{json_response, ManualClock, MemoryStore, ScriptedHttp, SeqRng};

const TEAM: &str = "11111111-1111-4111-8111-111111111111";
const CONNECTION: &str = "22222222-2222-4222-8222-222222222222";
const BACKUP: &str = "33333333-3333-4333-8333-333333333333";

fn key() -> SnapshotKey {
    SnapshotKey::derive(&Key256::from_bytes([7; 32]), TEAM, CONNECTION)
}

fn layout() -> SnapshotLayout {
    SnapshotLayout::new(
        UserId::parse("44444444-4444-4444-8444-444444444444").unwrap(),
        ConnectionId::parse(CONNECTION).unwrap(),
        chrono::Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).unwrap(),
    )
}

/// Writes a complete snapshot of `objects` and returns its manifest hash.
fn write_base(store: &MemoryStore, objects: &BTreeMap<ResourceType, Vec<Value>>) -> String {
    let rng = SeqRng::new(3);
    let mut entries = Vec::new();
    for (resource, items) in objects {
        let plain = serde_json::to_vec(items).unwrap();
        let mut w = block_on(SegmentWriter::new(
            &RustPrimitives,
            &key(),
            &rng,
            layout().segment_key(*resource, 0, "0a0b0c0d"),
            crate::ports::MIN_PART_SIZE,
        ))
        .unwrap();
        block_on(w.write(&plain)).unwrap();
        let segment = block_on(w.close(store)).unwrap();
        entries.push(ObjectEntry {
            resource: *resource,
            count: items.len() as u64,
            plaintext_bytes: plain.len() as u64,
            sealed_bytes: segment.sealed_bytes,
            plaintext_sha256: sha256_hex(&plain),
            segments: vec![segment],
            unavailable: vec![],
        });
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        backup_id: BACKUP.into(),
        team_id: TEAM.into(),
        connection_id: CONNECTION.into(),
        org_domain: "acme.okta.com".into(),
        started_at: "2026-03-01T06:00:00Z".into(),
        finished_at: "2026-03-01T06:01:00Z".into(),
        sealing: "test".into(),
        objects: entries,
        not_restorable: vec![],
        notes: vec![],
    };
    let bytes = manifest.to_bytes();
    let sha = sha256_hex(&bytes);
    block_on(store.put(&layout().manifest_key(), bytes)).unwrap();
    sha
}

fn reader<'s>(store: &'s MemoryStore, sha: &str) -> SnapshotReader<'s> {
    block_on(SnapshotReader::open(
        store,
        &RustPrimitives,
        key(),
        SnapshotRef {
            backup: BackupId::parse(BACKUP).unwrap(),
            team: TeamId::parse(TEAM).unwrap(),
            connection: ConnectionId::parse(CONNECTION).unwrap(),
            layout: layout(),
            manifest_sha256: sha.into(),
        },
    ))
    .unwrap()
}

fn user(id: &str, status: &str) -> Value {
    json!({"id": id, "status": status, "lastLogin": "2026-02-01T00:00:00.000Z",
           "profile": {"login": format!("{id}@example.com")}, "_links": {"self": {"href": "x"}}})
}

fn base_objects() -> BTreeMap<ResourceType, Vec<Value>> {
    BTreeMap::from([
        (
            ResourceType::Users,
            vec![
                user("00u1", "ACTIVE"),
                user("00u2", "ACTIVE"),
                user("00u3", "ACTIVE"),
            ],
        ),
        (
            ResourceType::GroupMembers,
            vec![json!({"groupId": "00g9", "userId": "00u3"})],
        ),
        (
            ResourceType::Policies,
            vec![
                json!({"id": "00p1", "type": "OKTA_SIGN_ON", "name": "Default", "priority": 1,
                        "status": "ACTIVE"}),
            ],
        ),
    ])
}

/// A spec-shaped event (testdata/log-event.json) by `actor` from `ip`.
fn event(uuid: &str, event_type: &str, targets: Value, ip: &str) -> LogEvent {
    let mut e = events::tests::spec_event(event_type, targets);
    e["uuid"] = json!(uuid);
    e["client"]["ipAddress"] = json!(ip);
    e["actor"]["displayName"] = json!("Mallory Admin");
    serde_json::from_value(e).unwrap()
}

fn target(kind: &str, id: &str) -> Value {
    json!({"id": id, "type": kind, "alternateId": "unknown", "displayName": id, "detailEntry": null})
}

/// The org as it is after the changes: 00u1 deactivated, 00u2 deleted, 00u1 now in 00g1, the
/// sign-on policy renamed.
fn okta_now(request: &crate::ports::HttpRequest) -> crate::ports::HttpResponse {
    let path = request.url.trim_start_matches("https://acme.okta.com");
    match path {
        "/api/v1/users/00u1" => json_response(200, &user("00u1", "DEPROVISIONED"), &[]),
        "/api/v1/users/00u1/groups" => json_response(200, &json!([{"id": "00g1"}]), &[]),
        "/api/v1/policies/00p1" => json_response(
            200,
            &json!({"id": "00p1", "type": "OKTA_SIGN_ON", "name": "Weakened", "priority": 1,
                    "status": "ACTIVE"}),
            &[],
        ),
        _ => json_response(404, &json!({"errorCode": "E0000007"}), &[]),
    }
}

fn batch() -> Vec<LogEvent> {
    vec![
        event(
            "e1",
            "user.lifecycle.deactivate",
            json!([target("User", "00u1")]),
            "203.0.113.7",
        ),
        event(
            "e2",
            "user.lifecycle.delete.completed",
            json!([target("User", "00u2")]),
            "203.0.113.7",
        ),
        event(
            "e3",
            "group.user_membership.add",
            json!([target("User", "00u1"), target("UserGroup", "00g1")]),
            "203.0.113.7",
        ),
        event(
            "e4",
            "policy.lifecycle.update",
            json!([target("PolicyEntity", "00p1")]),
            "198.51.100.2",
        ),
        event("e5", "user.session.start", Value::Null, "198.51.100.2"),
        // A user that changed nothing compared (a password change: `passwordChanged` is ignored).
        event(
            "e6",
            "user.account.expire_password",
            json!([target("User", "00u3")]),
            "198.51.100.2",
        ),
    ]
}

fn okta<'a>(http: &'a ScriptedHttp, clock: &'a ManualClock, rng: &'a SeqRng) -> OktaClient<'a> {
    let org = OrgDomain::parse("acme.okta.com", DomainPolicy::OktaOnly).unwrap();
    OktaClient::new(
        http,
        clock,
        rng,
        &org,
        OktaAuth::ApiToken(Zeroizing::new("t".into())),
    )
}

#[test]
fn a_batch_of_events_becomes_attributed_changes_a_sealed_delta_and_a_new_state() {
    let store = MemoryStore::default();
    let sha = write_base(&store, &base_objects());
    let base = reader(&store, &sha);
    let http = ScriptedHttp::new(|r| {
        if r.url.ends_with("/api/v1/users/00u3") {
            return Ok(json_response(200, &user("00u3", "ACTIVE"), &[]));
        }
        Ok(okta_now(r))
    });
    let clock = ManualClock::at(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
    let rng = SeqRng::new(1);
    let client = okta(&http, &clock, &rng);
    let key = key();
    let baseline = Baseline {
        store: &store,
        base: &base,
        key: &key,
        deltas: &[],
    };
    let got = block_on(capture(&client, &baseline, &batch(), &Default::default())).unwrap();
    // Only what the events touched was read: no list of users or groups.
    let paths: Vec<String> = http
        .requests
        .borrow()
        .iter()
        .map(|r| r.url.clone())
        .collect();
    assert_eq!(paths.len(), 5, "{paths:?}");
    assert!(paths
        .iter()
        .all(|p| !p.ends_with("/api/v1/users") && !p.contains("limit=")));
    let summary: Vec<(ResourceType, &str, ChangeKind)> = got
        .changes
        .iter()
        .map(|c| (c.change.resource, c.change.id.as_str(), c.change.kind))
        .collect();
    assert_eq!(
        summary,
        [
            (ResourceType::Users, "00u1", ChangeKind::Changed),
            (ResourceType::Users, "00u2", ChangeKind::Removed),
            (ResourceType::GroupMembers, "00g1/00u1", ChangeKind::Added),
            (ResourceType::Policies, "00p1", ChangeKind::Changed),
        ]
    );
    let deactivated = &got.changes[0];
    assert_eq!(deactivated.change.fields[0].path, "/status");
    let by: Vec<&str> = deactivated
        .attribution
        .iter()
        .map(|a| a.event_uuid.as_str())
        .collect();
    assert_eq!(by, ["e1"], "attributed to its own event only");
    let a = &deactivated.attribution[0];
    assert_eq!(a.actor_display_name.as_deref(), Some("Mallory Admin"));
    assert_eq!(a.client_ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(a.origin, Origin::Tenant);
    assert_eq!(
        got.changes[3].attribution[0].client_ip.as_deref(),
        Some("198.51.100.2")
    );

    // Sealed under the base backup's key, in its prefix; nothing readable in the clear.
    let header = DeltaHeader {
        backup_id: BACKUP.into(),
        team_id: TEAM.into(),
        connection_id: CONNECTION.into(),
        seq: 1,
        covers_from: "2026-03-01T10:00:00Z".into(),
        covers_to: "2026-03-01T10:05:00Z".into(),
        events: 6,
    };
    let (manifest, msha) = block_on(write_delta(
        &store,
        &RustPrimitives,
        &key,
        &rng,
        &layout(),
        header,
        &got.items,
    ))
    .unwrap();
    for (object_key, bytes) in store.objects.borrow().iter() {
        if object_key.contains("/deltas/") {
            assert!(object_key.starts_with(layout().prefix()), "{object_key}");
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains("Mallory") && !text.contains("203.0.113.7"),
                "{object_key}"
            );
        }
    }
    let opened = block_on(open_delta(
        &store,
        &layout(),
        (BACKUP, TEAM, CONNECTION),
        &DeltaRef {
            seq: 1,
            manifest_sha256: msha.clone(),
        },
    ))
    .unwrap();
    assert_eq!(opened, manifest);
    // A delta whose hash does not match its row is refused.
    assert!(block_on(open_delta(
        &store,
        &layout(),
        (BACKUP, TEAM, CONNECTION),
        &DeltaRef {
            seq: 1,
            manifest_sha256: "0".repeat(64),
        },
    ))
    .is_err());
    let users = block_on(delta_items(
        &store,
        &RustPrimitives,
        &key,
        &opened,
        ResourceType::Users,
    ))
    .unwrap();
    assert_eq!(users[1].item, None, "a removal is recorded as no state");

    // Base + delta: the tenant as of the capture, item by item.
    let deltas = vec![opened];
    let mut now_users = Vec::new();
    block_on(state_at(
        &store,
        &base,
        &key,
        &deltas,
        ResourceType::Users,
        &mut |k, item| now_users.push((k.to_string(), item["status"].clone())),
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        now_users,
        [
            ("00u1".to_string(), json!("DEPROVISIONED")),
            ("00u3".to_string(), json!("ACTIVE"))
        ]
    );
    // The same state held in memory: the base read whole, the delta overlaid.
    let mut whole =
        block_on(base.tenant_snapshot()).unwrap().resources[&ResourceType::Users].clone();
    overlay_items(&mut whole, ResourceType::Users, users.clone());
    let in_memory: Vec<(String, Value)> = whole
        .iter()
        .map(|u| (u["id"].as_str().unwrap().to_string(), u["status"].clone()))
        .collect();
    assert_eq!(in_memory, now_users);
    let members = block_on(captured(
        &store,
        &base,
        &key,
        &deltas,
        ResourceType::GroupMembers,
        &|_| true,
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        members.keys().collect::<Vec<_>>(),
        ["00g1/00u1", "00g9/00u3"]
    );
    // A type the base did not collect is "not collected", not "empty".
    let none = block_on(state_at(
        &store,
        &base,
        &key,
        &deltas,
        ResourceType::Apps,
        &mut |_, _| {},
    ))
    .unwrap();
    assert!(none.is_none());

    // The same events again, against base + delta: nothing new (a redone poll records nothing).
    let baseline = Baseline {
        store: &store,
        base: &base,
        key: &key,
        deltas: &deltas,
    };
    let again = block_on(capture(&client, &baseline, &batch(), &Default::default())).unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
}

#[test]
fn a_change_reverted_before_the_poll_is_no_change() {
    let store = MemoryStore::default();
    let sha = write_base(&store, &base_objects());
    let base = reader(&store, &sha);
    // 00u1 was deactivated and reactivated: Okta serves it as it was.
    let http = ScriptedHttp::new(|_| Ok(json_response(200, &user("00u1", "ACTIVE"), &[])));
    let clock = ManualClock::at(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
    let rng = SeqRng::new(1);
    let client = okta(&http, &clock, &rng);
    let key = key();
    let baseline = Baseline {
        store: &store,
        base: &base,
        key: &key,
        deltas: &[],
    };
    let events = vec![
        event(
            "e1",
            "user.lifecycle.deactivate",
            json!([target("User", "00u1")]),
            "1.2.3.4",
        ),
        event(
            "e2",
            "user.lifecycle.reactivate",
            json!([target("User", "00u1")]),
            "1.2.3.4",
        ),
    ];
    let got = block_on(capture(&client, &baseline, &events, &Default::default())).unwrap();
    assert!(got.changes.is_empty());
    assert_eq!(got.rereads, 1, "one re-read for two events on one user");
    assert_eq!(http.requests.borrow().len(), 1);
}

#[test]
fn okta_failures_fail_the_capture_instead_of_recording_removals() {
    let store = MemoryStore::default();
    let sha = write_base(&store, &base_objects());
    let base = reader(&store, &sha);
    let http =
        ScriptedHttp::new(|_| Ok(json_response(403, &json!({"errorCode": "E0000006"}), &[])));
    let clock = ManualClock::at(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
    let rng = SeqRng::new(1);
    let client = okta(&http, &clock, &rng);
    let key = key();
    let baseline = Baseline {
        store: &store,
        base: &base,
        key: &key,
        deltas: &[],
    };
    let err = block_on(capture(&client, &baseline, &batch(), &Default::default())).unwrap_err();
    assert!(
        matches!(err, CaptureError::Okta(OktaError::Forbidden { .. })),
        "{err}"
    );
}
