//! Collecting a snapshot: page through every resource type, streaming each item straight into
//! its sealed object, then write the manifest last.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::layout::SnapshotLayout;
use super::manifest::ObjectEntry;
use super::resource::ResourceType;
use crate::crypto::stream::{Sealer, SnapshotKey};
use crate::okta::{OktaClient, OktaError};
use crate::ports::{ObjectStore, Rng, StoreError};

/// Policy types read by a backup. Okta requires `type` on `/api/v1/policies`.
pub const POLICY_TYPES: &[&str] = &[
    "OKTA_SIGN_ON",
    "PASSWORD",
    "MFA_ENROLL",
    "ACCESS_POLICY",
    "PROFILE_ENROLLMENT",
];

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Okta(#[from] OktaError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One sealed object being written: a JSON array, sealed as it grows.
struct ObjectWriter {
    resource: ResourceType,
    key: String,
    sealer: Sealer,
    sealed: Vec<u8>,
    plain_hash: Sha256,
    plaintext_bytes: u64,
    count: u64,
}

impl ObjectWriter {
    fn new(
        layout: &SnapshotLayout,
        snapshot_key: &SnapshotKey,
        rng: &dyn Rng,
        resource: ResourceType,
    ) -> Self {
        let key = layout.object_key(resource);
        let sealer = Sealer::new(snapshot_key, rng, &key);
        let mut writer = ObjectWriter {
            resource,
            key,
            sealer,
            sealed: Vec::new(),
            plain_hash: Sha256::new(),
            plaintext_bytes: 0,
            count: 0,
        };
        writer.write(b"[");
        writer
    }

    fn write(&mut self, bytes: &[u8]) {
        self.plain_hash.update(bytes);
        self.plaintext_bytes += bytes.len() as u64;
        let out = self.sealer.push(bytes);
        self.sealed.extend_from_slice(&out);
    }

    fn push(&mut self, item: &Value) {
        if self.count > 0 {
            self.write(b",");
        }
        let bytes = serde_json::to_vec(item).expect("JSON values serialize");
        self.write(&bytes);
        self.count += 1;
    }

    async fn finish(mut self, store: &dyn ObjectStore) -> Result<ObjectEntry, StoreError> {
        self.write(b"]");
        let tail = self.sealer.finish();
        self.sealed.extend_from_slice(&tail);
        let entry = ObjectEntry {
            resource: self.resource,
            key: self.key.clone(),
            count: self.count,
            plaintext_bytes: self.plaintext_bytes,
            sealed_bytes: self.sealed.len() as u64,
            plaintext_sha256: hex::encode(self.plain_hash.finalize()),
            sealed_sha256: super::manifest::sha256_hex(&self.sealed),
        };
        store.put(&self.key, self.sealed).await?;
        Ok(entry)
    }
}

/// Everything a collection run needs.
pub struct Collector<'a> {
    pub okta: &'a OktaClient<'a>,
    pub store: &'a dyn ObjectStore,
    pub key: &'a SnapshotKey,
    pub rng: &'a dyn Rng,
    pub layout: &'a SnapshotLayout,
}

impl Collector<'_> {
    fn writer(&self, resource: ResourceType) -> ObjectWriter {
        ObjectWriter::new(self.layout, self.key, self.rng, resource)
    }

    /// Pages through `path`, handing each item to `each`.
    async fn each_item(&self, path: &str, mut each: impl FnMut(Value)) -> Result<(), OktaError> {
        let mut next = Some(self.okta.url(path));
        while let Some(url) = next {
            let page = self.okta.page(&url).await?;
            page.items.into_iter().for_each(&mut each);
            next = page.next;
        }
        Ok(())
    }

    /// Collects every resource type and returns the manifest entries, in [`ResourceType::ALL`]
    /// order. Nothing is marked complete here: the caller writes the manifest and the database row.
    pub async fn collect(&self) -> Result<Vec<ObjectEntry>, CollectError> {
        let mut entries = Vec::with_capacity(ResourceType::ALL.len());

        let mut users = self.writer(ResourceType::Users);
        self.each_item("/api/v1/users?limit=200", |u| users.push(&u))
            .await?;
        // Deprovisioned users are only listed when asked for by status.
        self.each_item(
            "/api/v1/users?limit=200&filter=status%20eq%20%22DEPROVISIONED%22",
            |u| users.push(&u),
        )
        .await?;
        entries.push(users.finish(self.store).await?);

        let group_ids = self
            .collect_parent(
                ResourceType::Groups,
                "/api/v1/groups?limit=10000",
                &mut entries,
            )
            .await?;
        let mut members = self.writer(ResourceType::GroupMembers);
        for group in &group_ids {
            let path = format!("/api/v1/groups/{group}/users?limit=1000");
            self.each_item(&path, |u| {
                members.push(&json!({"groupId": group, "userId": u.get("id")}))
            })
            .await?;
        }
        entries.push(members.finish(self.store).await?);

        let app_ids = self
            .collect_parent(ResourceType::Apps, "/api/v1/apps?limit=200", &mut entries)
            .await?;
        self.collect_children(
            ResourceType::AppUserAssignments,
            &app_ids,
            "appId",
            "user",
            |id| format!("/api/v1/apps/{id}/users?limit=500"),
        )
        .await
        .map(|e| entries.push(e))?;
        self.collect_children(
            ResourceType::AppGroupAssignments,
            &app_ids,
            "appId",
            "group",
            |id| format!("/api/v1/apps/{id}/groups?limit=200"),
        )
        .await
        .map(|e| entries.push(e))?;

        let mut policies = self.writer(ResourceType::Policies);
        let mut policy_ids = Vec::new();
        for policy_type in POLICY_TYPES {
            let path = format!("/api/v1/policies?type={policy_type}");
            self.each_item(&path, |p| {
                if let Some(id) = okta_id(&p) {
                    policy_ids.push(id);
                }
                policies.push(&p);
            })
            .await?;
        }
        entries.push(policies.finish(self.store).await?);
        self.collect_children(
            ResourceType::PolicyRules,
            &policy_ids,
            "policyId",
            "rule",
            |id| format!("/api/v1/policies/{id}/rules"),
        )
        .await
        .map(|e| entries.push(e))?;

        Ok(entries)
    }

    /// A top-level list whose ids later drive child requests.
    async fn collect_parent(
        &self,
        resource: ResourceType,
        path: &str,
        entries: &mut Vec<ObjectEntry>,
    ) -> Result<Vec<String>, CollectError> {
        let mut writer = self.writer(resource);
        let mut ids = Vec::new();
        self.each_item(path, |item| {
            if let Some(id) = okta_id(&item) {
                ids.push(id);
            }
            writer.push(&item);
        })
        .await?;
        entries.push(writer.finish(self.store).await?);
        Ok(ids)
    }

    /// Per-parent child lists, each item wrapped as `{parent_field: id, item_field: item}`.
    async fn collect_children(
        &self,
        resource: ResourceType,
        parent_ids: &[String],
        parent_field: &str,
        item_field: &str,
        path_for: impl Fn(&str) -> String,
    ) -> Result<ObjectEntry, CollectError> {
        let mut writer = self.writer(resource);
        for id in parent_ids {
            self.each_item(&path_for(id), |item| {
                writer.push(&json!({ parent_field: id, item_field: item }))
            })
            .await?;
        }
        Ok(writer.finish(self.store).await?)
    }
}

/// Okta ids are short alphanumerics; anything else is not used to build a URL.
fn okta_id(item: &Value) -> Option<String> {
    let id = item.get("id")?.as_str()?;
    (!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::Key256;
    use crate::crypto::stream::open_object;
    use crate::ids::{ConnectionId, UserId};
    use crate::okta::{DomainPolicy, OktaAuth, OrgDomain};
    use crate::ports::{Clock, HttpResponse};
    use crate::testing::{json_response, ManualClock, MemoryStore, ScriptedHttp, SeqRng};
    use chrono::TimeZone;
    use futures::executor::block_on;
    use zeroize::Zeroizing;

    /// A two-page user list, one group with a member, one app with assignments, and one policy
    /// of each type with one rule.
    fn fake_okta(url: &str) -> HttpResponse {
        let path = url.trim_start_matches("https://acme.okta.com");
        let ok = |body: Value| json_response(200, &body, &[]);
        match path {
            p if p.starts_with("/api/v1/users?limit=200&filter") => {
                ok(json!([{"id": "00u9", "status": "DEPROVISIONED"}]))
            }
            "/api/v1/users?limit=200" => json_response(
                200,
                &json!([{"id": "00u1", "status": "ACTIVE"}]),
                &[(
                    "link",
                    "<https://acme.okta.com/api/v1/users?after=00u1&limit=200>; rel=\"next\"",
                )],
            ),
            "/api/v1/users?after=00u1&limit=200" => ok(json!([{"id": "00u2", "status": "STAGED"}])),
            "/api/v1/groups?limit=10000" => ok(json!([{"id": "00g1", "profile": {"name": "Eng"}}])),
            "/api/v1/groups/00g1/users?limit=1000" => ok(json!([{"id": "00u1"}])),
            "/api/v1/apps?limit=200" => ok(json!([{"id": "0oa1", "signOnMode": "SAML_2_0"}])),
            "/api/v1/apps/0oa1/users?limit=500" => ok(json!([{"id": "00u1", "scope": "USER"}])),
            "/api/v1/apps/0oa1/groups?limit=200" => ok(json!([{"id": "00g1", "priority": 0}])),
            p if p.starts_with("/api/v1/policies?type=") => {
                let t = &p["/api/v1/policies?type=".len()..];
                ok(json!([{"id": format!("00p{}", t.replace('_', "")), "type": t}]))
            }
            p if p.starts_with("/api/v1/policies/") => ok(json!([{"id": "0pr1", "priority": 1}])),
            other => panic!("unexpected request {other}"),
        }
    }

    fn run(store: &MemoryStore) -> Result<Vec<ObjectEntry>, CollectError> {
        let http = ScriptedHttp::new(|req| Ok(fake_okta(&req.url)));
        let clock = ManualClock::at(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let rng = SeqRng::new(9);
        let org = OrgDomain::parse("acme.okta.com", DomainPolicy::OktaOnly).unwrap();
        let okta = OktaClient::new(
            &http,
            &clock,
            &rng,
            &org,
            OktaAuth::ApiToken(Zeroizing::new("t".into())),
        );
        let key = SnapshotKey::derive(&Key256::from_bytes([7; 32]), "team", "conn");
        let layout = SnapshotLayout::new(
            UserId::parse("11111111-1111-4111-8111-111111111111").unwrap(),
            ConnectionId::parse("22222222-2222-4222-8222-222222222222").unwrap(),
            clock.now(),
        );
        let collector = Collector {
            okta: &okta,
            store,
            key: &key,
            rng: &rng,
            layout: &layout,
        };
        block_on(collector.collect())
    }

    #[test]
    fn collects_every_resource_into_sealed_objects() {
        let store = MemoryStore::default();
        let entries = run(&store).unwrap();
        let counts: Vec<(ResourceType, u64)> =
            entries.iter().map(|e| (e.resource, e.count)).collect();
        assert_eq!(
            counts,
            vec![
                (ResourceType::Users, 3),
                (ResourceType::Groups, 1),
                (ResourceType::GroupMembers, 1),
                (ResourceType::Apps, 1),
                (ResourceType::AppUserAssignments, 1),
                (ResourceType::AppGroupAssignments, 1),
                (ResourceType::Policies, POLICY_TYPES.len() as u64),
                (ResourceType::PolicyRules, POLICY_TYPES.len() as u64),
            ]
        );
        let key = SnapshotKey::derive(&Key256::from_bytes([7; 32]), "team", "conn");
        let objects = store.objects.borrow();
        for entry in &entries {
            let sealed = &objects[&entry.key];
            assert_eq!(
                entry.sealed_sha256,
                super::super::manifest::sha256_hex(sealed)
            );
            let plain = open_object(&key, &entry.key, sealed).unwrap();
            assert_eq!(
                entry.plaintext_sha256,
                super::super::manifest::sha256_hex(&plain)
            );
            let items: Vec<Value> = serde_json::from_slice(&plain).unwrap();
            assert_eq!(items.len() as u64, entry.count);
        }
        let members: Vec<Value> = serde_json::from_slice(
            &open_object(&key, &entries[2].key, &objects[&entries[2].key]).unwrap(),
        )
        .unwrap();
        assert_eq!(members, vec![json!({"groupId": "00g1", "userId": "00u1"})]);
        // Sealed bytes do not contain the plaintext.
        assert!(!objects[&entries[0].key].windows(4).any(|w| w == b"00u1"));
    }

    #[test]
    fn a_storage_failure_fails_the_collection() {
        let store = MemoryStore::default();
        store.fail_put_at.set(Some(3));
        assert!(matches!(run(&store), Err(CollectError::Store(_))));
        assert_eq!(store.objects.borrow().len(), 3);
    }
}
