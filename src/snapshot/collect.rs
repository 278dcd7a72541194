//! Collecting a snapshot: page through every resource type, streaming each item straight into
//! its sealed object and each full part of sealed bytes straight into a multipart upload, then
//! write the manifest last. Memory is bounded by one page plus one part, whatever the tenant size.

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::layout::SnapshotLayout;
use super::manifest::ObjectEntry;
use super::resource::ResourceType;
use crate::crypto::stream::{Sealer, SnapshotKey};
use crate::okta::{OktaClient, OktaError};
use crate::ports::{ObjectStore, Rng, StoreError, UploadedPart};

/// Policy types read by a backup. Okta requires `type` on `/api/v1/policies`.
/// Parents whose first page is fetched concurrently. Okta allows about 75 requests in flight per
/// org, shared with the customer's other integrations; a few are enough to stop being
/// latency-bound.
const PARENT_CONCURRENCY: usize = 4;

pub const POLICY_TYPES: &[&str] = &[
    "OKTA_SIGN_ON",
    "PASSWORD",
    "MFA_ENROLL",
    "ACCESS_POLICY",
    "PROFILE_ENROLLMENT",
];

/// Org configuration lists collected as they are, one request each (no per-item children).
const FLAT_LISTS: &[(ResourceType, &str)] = &[
    (ResourceType::GroupRules, "/api/v1/groups/rules?limit=200"),
    (ResourceType::Authenticators, "/api/v1/authenticators"),
    (ResourceType::NetworkZones, "/api/v1/zones"),
    (ResourceType::Idps, "/api/v1/idps?limit=200"),
    (ResourceType::EventHooks, "/api/v1/eventHooks"),
    (ResourceType::InlineHooks, "/api/v1/inlineHooks"),
    (ResourceType::ApiTokens, "/api/v1/api-tokens"),
];

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Okta(#[from] OktaError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where sealed bytes go: held until a full part is ready, then uploaded as one part of a
/// multipart upload (started lazily, so a small object is a single `put`).
struct PartSink {
    key: String,
    part_size: usize,
    pending: Vec<u8>,
    upload: Option<(String, Vec<UploadedPart>)>,
    hash: Sha256,
    bytes: u64,
}

impl PartSink {
    fn extend(&mut self, sealed: &[u8]) {
        self.hash.update(sealed);
        self.bytes += sealed.len() as u64;
        self.pending.extend_from_slice(sealed);
    }

    /// Uploads every full part pending. Parts are all exactly `part_size`, as R2 requires.
    async fn flush_full_parts(&mut self, store: &dyn ObjectStore) -> Result<(), StoreError> {
        while self.pending.len() >= self.part_size {
            let rest = self.pending.split_off(self.part_size);
            let part = std::mem::replace(&mut self.pending, rest);
            self.upload_part(store, part).await?;
        }
        Ok(())
    }

    async fn upload_part(
        &mut self,
        store: &dyn ObjectStore,
        part: Vec<u8>,
    ) -> Result<(), StoreError> {
        if self.upload.is_none() {
            let id = store.create_multipart(&self.key).await?;
            self.upload = Some((id, Vec::new()));
        }
        let (id, parts) = self.upload.as_mut().expect("started above");
        let number = u16::try_from(parts.len() + 1)
            .map_err(|_| StoreError("object exceeds 10000 parts".into()))?;
        parts.push(store.upload_part(&self.key, id, number, part).await?);
        Ok(())
    }

    /// Writes what is left: one `put` if no part went out, else the last part and completion.
    async fn close(&mut self, store: &dyn ObjectStore) -> Result<(String, u64), StoreError> {
        self.flush_full_parts(store).await?;
        let tail = std::mem::take(&mut self.pending);
        match self.upload.is_some() {
            false => store.put(&self.key, tail).await?,
            true => {
                if !tail.is_empty() {
                    self.upload_part(store, tail).await?;
                }
                let (id, parts) = self.upload.as_ref().expect("checked above");
                store
                    .complete_multipart(&self.key, id, parts.clone())
                    .await?;
                self.upload = None;
            }
        }
        Ok((hex::encode(self.hash.clone().finalize()), self.bytes))
    }

    /// Best effort: an unfinished upload is dropped rather than left for the bucket's
    /// lifecycle rule to collect.
    async fn abort(self, store: &dyn ObjectStore) {
        if let Some((id, _)) = self.upload {
            // The collection already failed; a failed abort changes nothing for the caller.
            let _ = store.abort_multipart(&self.key, &id).await;
        }
    }
}

/// One sealed object being written: a JSON array, sealed as it grows.
struct ObjectWriter {
    resource: ResourceType,
    sealer: Sealer,
    sink: PartSink,
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
        part_size: usize,
    ) -> Self {
        let key = layout.object_key(resource);
        let sealer = Sealer::new(snapshot_key, rng, &key);
        let mut writer = ObjectWriter {
            resource,
            sealer,
            sink: PartSink {
                key,
                part_size,
                pending: Vec::new(),
                upload: None,
                hash: Sha256::new(),
                bytes: 0,
            },
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
        self.sink.extend(&out);
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
        self.sink.extend(&tail);
        let key = self.sink.key.clone();
        let (sealed_sha256, sealed_bytes) = match self.sink.close(store).await {
            Ok(done) => done,
            Err(e) => {
                self.sink.abort(store).await;
                return Err(e);
            }
        };
        Ok(ObjectEntry {
            resource: self.resource,
            key,
            count: self.count,
            plaintext_bytes: self.plaintext_bytes,
            sealed_bytes,
            plaintext_sha256: hex::encode(self.plain_hash.finalize()),
            sealed_sha256,
        })
    }
}

/// Everything a collection run needs.
pub struct Collector<'a> {
    pub okta: &'a OktaClient<'a>,
    pub store: &'a dyn ObjectStore,
    pub key: &'a SnapshotKey,
    pub rng: &'a dyn Rng,
    pub layout: &'a SnapshotLayout,
    /// Size of every multipart part but the last; [`crate::ports::MIN_PART_SIZE`] in production.
    pub part_size: usize,
}

/// Page through `path` into `writer`, uploading full parts after every page.
macro_rules! pages {
    ($self:ident, $writer:ident, $path:expr, |$item:ident| $body:expr) => {{
        let mut next = Some($self.okta.url(&$path));
        while let Some(url) = next {
            let page = match $self.okta.page(&url).await {
                Ok(page) => page,
                Err(e) => return Err($writer.fail($self.store, e.into()).await),
            };
            for $item in page.items {
                $body;
            }
            if let Err(e) = $writer.sink.flush_full_parts($self.store).await {
                return Err($writer.fail($self.store, e.into()).await);
            }
            next = page.next;
        }
    }};
}

impl ObjectWriter {
    /// Abandons the object after `error`, aborting its upload.
    async fn fail(self, store: &dyn ObjectStore, error: CollectError) -> CollectError {
        self.sink.abort(store).await;
        error
    }
}

impl Collector<'_> {
    fn writer(&self, resource: ResourceType) -> ObjectWriter {
        ObjectWriter::new(self.layout, self.key, self.rng, resource, self.part_size)
    }

    /// Collects every resource type and returns the manifest entries, in [`ResourceType::ALL`]
    /// order. Nothing is marked complete here: the caller writes the manifest and the database row.
    pub async fn collect(&self) -> Result<Vec<ObjectEntry>, CollectError> {
        let mut entries = Vec::with_capacity(ResourceType::ALL.len());

        let mut users = self.writer(ResourceType::Users);
        // Deprovisioned users are only listed when asked for by status.
        for path in [
            "/api/v1/users?limit=200",
            "/api/v1/users?limit=200&filter=status%20eq%20%22DEPROVISIONED%22",
        ] {
            pages!(self, users, path, |u| users.push(&u));
        }
        entries.push(users.finish(self.store).await?);

        let group_ids = self
            .list(
                ResourceType::Groups,
                &["/api/v1/groups?limit=10000"],
                &mut entries,
            )
            .await?;
        entries.push(
            self.children(
                ResourceType::GroupMembers,
                &group_ids,
                |id| format!("/api/v1/groups/{id}/users?limit=1000"),
                |group, user| json!({"groupId": group, "userId": user.get("id")}),
            )
            .await?,
        );

        let app_ids = self
            .list(
                ResourceType::Apps,
                &["/api/v1/apps?limit=200"],
                &mut entries,
            )
            .await?;
        entries.push(
            self.children(
                ResourceType::AppUserAssignments,
                &app_ids,
                |id| format!("/api/v1/apps/{id}/users?limit=500"),
                |id, item| json!({"appId": id, "user": item}),
            )
            .await?,
        );
        entries.push(
            self.children(
                ResourceType::AppGroupAssignments,
                &app_ids,
                |id| format!("/api/v1/apps/{id}/groups?limit=200"),
                |id, item| json!({"appId": id, "group": item}),
            )
            .await?,
        );

        let policy_paths: Vec<String> = POLICY_TYPES
            .iter()
            .map(|t| format!("/api/v1/policies?type={t}"))
            .collect();
        let policy_paths: Vec<&str> = policy_paths.iter().map(String::as_str).collect();
        let policy_ids = self
            .list(ResourceType::Policies, &policy_paths, &mut entries)
            .await?;
        entries.push(
            self.children(
                ResourceType::PolicyRules,
                &policy_ids,
                |id| format!("/api/v1/policies/{id}/rules"),
                |id, item| json!({"policyId": id, "rule": item}),
            )
            .await?,
        );

        for (resource, path) in FLAT_LISTS {
            self.list(*resource, &[path], &mut entries).await?;
        }

        self.collect_roles(&group_ids, &mut entries).await?;
        self.collect_authorization_servers(&mut entries).await?;

        for (resource, path) in [
            (ResourceType::ThreatInsight, "/api/v1/threats/configuration"),
            (ResourceType::Org, "/api/v1/org"),
        ] {
            let mut writer = self.writer(resource);
            match self.okta.get(path).await {
                Ok(document) => writer.push(&document),
                Err(e) => return Err(writer.fail(self.store, e.into()).await),
            }
            entries.push(writer.finish(self.store).await?);
        }

        debug_assert_eq!(
            entries.iter().map(|e| e.resource).collect::<Vec<_>>(),
            ResourceType::ALL.to_vec()
        );
        Ok(entries)
    }

    /// Top-level list(s) into one object; returns the item ids that later drive child requests.
    async fn list(
        &self,
        resource: ResourceType,
        paths: &[&str],
        entries: &mut Vec<ObjectEntry>,
    ) -> Result<Vec<String>, CollectError> {
        let mut writer = self.writer(resource);
        let mut ids = Vec::new();
        for path in paths {
            pages!(self, writer, path, |item| {
                ids.extend(okta_id(&item));
                writer.push(&item);
            });
        }
        entries.push(writer.finish(self.store).await?);
        Ok(ids)
    }

    /// Per-parent child lists, each item wrapped by `wrap(parent id, item)`, in parent order.
    ///
    /// Most parents (groups, apps, policies) fit in one page, so the run is latency-bound, not
    /// rate-bound: the first pages of the next few parents are fetched concurrently (in order,
    /// so the object is the same as a sequential run), and any further pages of a parent follow
    /// one by one. Memory stays bounded by [`PARENT_CONCURRENCY`] pages.
    async fn children(
        &self,
        resource: ResourceType,
        parent_ids: &[String],
        path_for: impl Fn(&str) -> String,
        wrap: impl Fn(&str, Value) -> Value,
    ) -> Result<ObjectEntry, CollectError> {
        let mut writer = self.writer(resource);
        let okta = self.okta;
        let mut first_pages = stream::iter(parent_ids.iter().map(|id| {
            let url = okta.url(&path_for(id));
            async move { (id, okta.page(&url).await) }
        }))
        .buffered(PARENT_CONCURRENCY);
        while let Some((id, first)) = first_pages.next().await {
            let mut page = match first {
                Ok(page) => page,
                Err(e) => return Err(writer.fail(self.store, e.into()).await),
            };
            loop {
                for item in page.items {
                    writer.push(&wrap(id, item));
                }
                if let Err(e) = writer.sink.flush_full_parts(self.store).await {
                    return Err(writer.fail(self.store, e.into()).await);
                }
                let Some(next) = page.next else { break };
                page = match okta.page(&next).await {
                    Ok(page) => page,
                    Err(e) => return Err(writer.fail(self.store, e.into()).await),
                };
            }
        }
        Ok(writer.finish(self.store).await?)
    }

    /// Admin roles: users holding any (from the role-assignee list, so not one request per user
    /// of a large org) and every group's.
    async fn collect_roles(
        &self,
        group_ids: &[String],
        entries: &mut Vec<ObjectEntry>,
    ) -> Result<(), CollectError> {
        let mut assignees = Vec::new();
        let mut next = Some("/api/v1/iam/assignees/users?limit=100".to_string());
        while let Some(path) = next.take() {
            let page = self.okta.get(&path).await?;
            let items = page["value"]
                .as_array()
                .ok_or_else(|| OktaError::Malformed { path: path.clone() })?;
            assignees.extend(items.iter().filter_map(okta_id));
            if let Some(href) = page["_links"]["next"]["href"].as_str() {
                next = Some(self.okta.path_of(href)?);
            }
        }
        entries.push(
            self.children(
                ResourceType::UserRoles,
                &assignees,
                |id| format!("/api/v1/users/{id}/roles"),
                |id, item| json!({"userId": id, "role": item}),
            )
            .await?,
        );
        entries.push(
            self.children(
                ResourceType::GroupRoles,
                group_ids,
                |id| format!("/api/v1/groups/{id}/roles"),
                |id, item| json!({"groupId": id, "role": item}),
            )
            .await?,
        );
        Ok(())
    }

    /// Authorization servers, then their scopes, claims, policies and policy rules.
    async fn collect_authorization_servers(
        &self,
        entries: &mut Vec<ObjectEntry>,
    ) -> Result<(), CollectError> {
        let servers = self
            .list(
                ResourceType::AuthorizationServers,
                &["/api/v1/authorizationServers?limit=200"],
                entries,
            )
            .await?;
        for (resource, child) in [
            (ResourceType::AuthorizationServerScopes, "scopes"),
            (ResourceType::AuthorizationServerClaims, "claims"),
        ] {
            entries.push(
                self.children(
                    resource,
                    &servers,
                    |id| format!("/api/v1/authorizationServers/{id}/{child}"),
                    |id, item| json!({"authServerId": id, "item": item}),
                )
                .await?,
            );
        }
        let mut policies = self.writer(ResourceType::AuthorizationServerPolicies);
        let mut server_policies = Vec::new();
        for server in &servers {
            let path = format!("/api/v1/authorizationServers/{server}/policies");
            pages!(self, policies, path, |policy| {
                if let Some(id) = okta_id(&policy) {
                    server_policies.push((server, id));
                }
                policies.push(&json!({"authServerId": server, "policy": policy}));
            });
        }
        entries.push(policies.finish(self.store).await?);
        let mut rules = self.writer(ResourceType::AuthorizationServerPolicyRules);
        for (server, policy) in &server_policies {
            let path = format!("/api/v1/authorizationServers/{server}/policies/{policy}/rules");
            pages!(self, rules, path, |rule| rules.push(
                &json!({"authServerId": server, "policyId": policy, "rule": rule})
            ));
        }
        entries.push(rules.finish(self.store).await?);
        Ok(())
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
    use crate::snapshot::manifest::sha256_hex;
    use crate::testing::{json_response, ManualClock, MemoryStore, ScriptedHttp, SeqRng};
    use chrono::TimeZone;
    use futures::executor::block_on;
    use zeroize::Zeroizing;

    const ORIGIN: &str = "https://acme.okta.com";

    /// `users` active users in pages of 200 (each with an incompressible profile field, so
    /// objects get big), one deprovisioned user, one group with a member, one app with
    /// assignments, one policy of each type with one rule, and one of each configuration object.
    fn fake_okta(url: &str, users: usize) -> HttpResponse {
        let path = url.trim_start_matches(ORIGIN);
        let ok = |body: Value| json_response(200, &body, &[]);
        match path {
            p if p.starts_with("/api/v1/users?limit=200&filter") => {
                ok(json!([{"id": "00u0", "status": "DEPROVISIONED"}]))
            }
            p if p.starts_with("/api/v1/users?") => {
                let from: usize = p
                    .split("after=")
                    .nth(1)
                    .map_or(0, |a| a.split('&').next().unwrap().parse().unwrap());
                let to = (from + 200).min(users);
                let page: Vec<Value> = (from..to)
                    .map(|i| {
                        json!({"id": format!("00u{}", i + 1), "status": "ACTIVE",
                               "profile": {"noise": sha256_hex(&i.to_le_bytes())}})
                    })
                    .collect();
                let link = format!("<{ORIGIN}/api/v1/users?after={to}&limit=200>; rel=\"next\"");
                let headers: Vec<(&str, &str)> = match to < users {
                    true => vec![("link", link.as_str())],
                    false => vec![],
                };
                json_response(200, &json!(page), &headers)
            }
            "/api/v1/groups?limit=10000" => ok(json!([{"id": "00g1", "profile": {"name": "Eng"}}])),
            "/api/v1/groups/00g1/users?limit=1000" => ok(json!([{"id": "00u1"}])),
            "/api/v1/groups/00g1/roles" => ok(json!([{"id": "ra1", "type": "APP_ADMIN"}])),
            "/api/v1/apps?limit=200" => ok(json!([{"id": "0oa1", "signOnMode": "SAML_2_0"}])),
            "/api/v1/apps/0oa1/users?limit=500" => ok(json!([{"id": "00u1", "scope": "USER"}])),
            "/api/v1/apps/0oa1/groups?limit=200" => ok(json!([{"id": "00g1", "priority": 0}])),
            p if p.starts_with("/api/v1/policies?type=") => {
                let t = &p["/api/v1/policies?type=".len()..];
                ok(json!([{"id": format!("00p{}", t.replace('_', "")), "type": t}]))
            }
            p if p.starts_with("/api/v1/policies/") => ok(json!([{"id": "0pr1", "priority": 1}])),
            "/api/v1/iam/assignees/users?limit=100" => ok(json!({"value": [{"id": "00u1"}]})),
            "/api/v1/users/00u1/roles" => ok(json!([{"id": "ra2", "type": "SUPER_ADMIN"}])),
            "/api/v1/authorizationServers?limit=200" => ok(json!([{"id": "default"}])),
            "/api/v1/authorizationServers/default/policies" => ok(json!([{"id": "00pa1"}])),
            p if p.starts_with("/api/v1/authorizationServers/default/") => {
                ok(json!([{"id": "x1"}]))
            }
            "/api/v1/threats/configuration" | "/api/v1/org" => ok(json!({"action": "audit"})),
            p if FLAT_LISTS.iter().any(|(_, path)| *path == p) => ok(json!([{"id": "c1"}])),
            other => panic!("unexpected request {other}"),
        }
    }

    fn snapshot_key() -> SnapshotKey {
        SnapshotKey::derive(&Key256::from_bytes([7; 32]), "team", "conn")
    }

    fn run(
        store: &MemoryStore,
        users: usize,
        part_size: usize,
    ) -> Result<Vec<ObjectEntry>, CollectError> {
        let http = ScriptedHttp::new(move |req| Ok(fake_okta(&req.url, users)));
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
        let key = snapshot_key();
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
            part_size,
        };
        block_on(collector.collect())
    }

    fn items(store: &MemoryStore, entry: &ObjectEntry) -> Vec<Value> {
        let objects = store.objects.borrow();
        let plain = open_object(&snapshot_key(), &entry.key, &objects[&entry.key]).unwrap();
        assert_eq!(entry.plaintext_sha256, sha256_hex(&plain));
        serde_json::from_slice(&plain).unwrap()
    }

    #[test]
    fn collects_every_resource_into_sealed_objects() {
        let store = MemoryStore::default();
        let entries = run(&store, 2, 1 << 20).unwrap();
        let order: Vec<ResourceType> = entries.iter().map(|e| e.resource).collect();
        assert_eq!(order, ResourceType::ALL.to_vec());
        let count = |r: ResourceType| entries.iter().find(|e| e.resource == r).unwrap().count;
        assert_eq!(count(ResourceType::Users), 3);
        assert_eq!(count(ResourceType::Policies), POLICY_TYPES.len() as u64);
        assert_eq!(count(ResourceType::PolicyRules), POLICY_TYPES.len() as u64);
        for resource in ResourceType::ALL.into_iter().skip(1) {
            if resource == ResourceType::Policies || resource == ResourceType::PolicyRules {
                continue;
            }
            assert_eq!(count(resource), 1, "{resource}");
        }
        for entry in &entries {
            assert_eq!(
                entry.sealed_sha256,
                sha256_hex(&store.objects.borrow()[&entry.key])
            );
            assert_eq!(items(&store, entry).len() as u64, entry.count);
        }
        let by = |r: ResourceType| items(&store, entries.iter().find(|e| e.resource == r).unwrap());
        assert_eq!(
            by(ResourceType::GroupMembers),
            vec![json!({"groupId": "00g1", "userId": "00u1"})]
        );
        assert_eq!(
            by(ResourceType::UserRoles),
            vec![json!({"userId": "00u1", "role": {"id": "ra2", "type": "SUPER_ADMIN"}})]
        );
        assert_eq!(
            by(ResourceType::GroupRoles),
            vec![json!({"groupId": "00g1", "role": {"id": "ra1", "type": "APP_ADMIN"}})]
        );
        assert_eq!(
            by(ResourceType::AuthorizationServerPolicyRules),
            vec![json!({"authServerId": "default", "policyId": "00pa1", "rule": {"id": "x1"}})]
        );
        assert_eq!(by(ResourceType::Org), vec![json!({"action": "audit"})]);
        // Sealed bytes do not contain the plaintext.
        assert!(!store.objects.borrow()[&entries[0].key]
            .windows(4)
            .any(|w| w == b"00u1"));
    }

    #[test]
    fn big_objects_stream_as_equal_parts_identical_to_a_single_put() {
        let part = 16 * 1024;
        let parts = MemoryStore::default();
        parts.min_part_size.set(part);
        let streamed = run(&parts, 3000, part).unwrap();
        let whole = MemoryStore::default();
        let buffered = run(&whole, 3000, usize::MAX).unwrap();
        assert_eq!(streamed, buffered);
        assert_eq!(*parts.objects.borrow(), *whole.objects.borrow());
        let users = &streamed[0];
        assert!(users.sealed_bytes > 4 * part as u64, "several parts");
        assert_eq!(items(&parts, users).len(), 3001);
        // Nothing bigger than a part (or a page's worth of sealed bytes) was ever held for
        // the store, however big the object.
        assert!(parts.largest_write.get() <= part);
        assert_eq!(parts.open_uploads(), 0);
    }

    #[test]
    fn a_storage_failure_at_any_step_fails_the_collection_and_leaves_no_upload() {
        let part = 16 * 1024;
        let clean = MemoryStore::default();
        clean.min_part_size.set(part);
        run(&clean, 1000, part).unwrap();
        let total = clean.writes();
        for fail_at in 0..total {
            let store = MemoryStore::default();
            store.min_part_size.set(part);
            store.fail_write_at.set(Some(fail_at));
            assert!(matches!(
                run(&store, 1000, part),
                Err(CollectError::Store(_))
            ));
            assert_eq!(store.open_uploads(), 0, "failure at write {fail_at}");
            // Every object that exists is complete.
            for (key, sealed) in store.objects.borrow().iter() {
                open_object(&snapshot_key(), key, sealed).unwrap();
            }
        }
    }
}

#[cfg(test)]
mod concurrency_tests {
    use super::*;
    use crate::crypto::keys::Key256;
    use crate::crypto::stream::open_object;
    use crate::ids::{ConnectionId, UserId};
    use crate::okta::{DomainPolicy, OktaAuth, OrgDomain};
    use crate::ports::{Clock, MIN_PART_SIZE};
    use crate::testing::{json_response, ManualClock, MemoryStore, ScriptedHttp, SeqRng};
    use chrono::TimeZone;
    use futures::executor::block_on;
    use zeroize::Zeroizing;

    /// Answers like `ScriptedHttp`, but only after yielding once, as a real network call would;
    /// otherwise every request completes the moment it is polled and nothing overlaps.
    struct Yielding(ScriptedHttp, std::cell::RefCell<Vec<String>>);

    #[async_trait::async_trait(?Send)]
    impl crate::ports::HttpClient for Yielding {
        async fn send(
            &self,
            request: crate::ports::HttpRequest,
        ) -> Result<crate::ports::HttpResponse, crate::ports::TransportError> {
            self.1.borrow_mut().push(request.url.clone());
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    std::task::Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
            self.0.send(request).await
        }
    }

    /// Parent `p1` has two pages; the others one each.
    #[test]
    fn child_lists_prefetch_parents_but_keep_parent_order() {
        let http = Yielding(
            ScriptedHttp::new(|req| {
                let path = req.url.trim_start_matches("https://acme.okta.com");
                let parent = path.split('/').nth(4).unwrap_or_default().to_string();
                if path.contains("after=") {
                    return Ok(json_response(
                        200,
                        &json!([{"id": format!("{parent}-b")}]),
                        &[],
                    ));
                }
                let next = format!(
                    "<https://acme.okta.com/api/v1/groups/{parent}/users?after=x>; rel=\"next\""
                );
                let headers: Vec<(&str, &str)> = if parent == "p1" {
                    vec![("link", next.as_str())]
                } else {
                    vec![]
                };
                Ok(json_response(
                    200,
                    &json!([{"id": format!("{parent}-a")}]),
                    &headers,
                ))
            }),
            Default::default(),
        );
        let clock = ManualClock::at(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let rng = SeqRng::new(3);
        let org = OrgDomain::parse("acme.okta.com", DomainPolicy::OktaOnly).unwrap();
        let okta = OktaClient::new(
            &http,
            &clock,
            &rng,
            &org,
            OktaAuth::ApiToken(Zeroizing::new("t".into())),
        );
        let key = SnapshotKey::derive(&Key256::from_bytes([1; 32]), "team", "conn");
        let layout = SnapshotLayout::new(
            UserId::parse("11111111-1111-4111-8111-111111111111").unwrap(),
            ConnectionId::parse("22222222-2222-4222-8222-222222222222").unwrap(),
            clock.now(),
        );
        let store = MemoryStore::default();
        let collector = Collector {
            okta: &okta,
            store: &store,
            key: &key,
            rng: &rng,
            layout: &layout,
            part_size: MIN_PART_SIZE,
        };
        let parents: Vec<String> = (1..=6).map(|i| format!("p{i}")).collect();
        let entry = block_on(collector.children(
            ResourceType::GroupMembers,
            &parents,
            |id| format!("/api/v1/groups/{id}/users?limit=1000"),
            |group, user| json!({"groupId": group, "userId": user["id"]}),
        ))
        .unwrap();

        // The next parents' first pages were requested before p1's second page.
        let order: Vec<String> = http
            .1
            .borrow()
            .iter()
            .map(|url| {
                url.split('/').nth(6).unwrap().to_string()
                    + if url.contains("after=") { "+" } else { "" }
            })
            .collect();
        assert_eq!(order, ["p1", "p2", "p3", "p4", "p1+", "p5", "p6"]);

        // The object is still in parent order, with p1's pages together.
        let plain = open_object(&key, &entry.key, &store.objects.borrow()[&entry.key]).unwrap();
        let items: Vec<Value> = serde_json::from_slice(&plain).unwrap();
        let users: Vec<&str> = items
            .iter()
            .map(|i| i["userId"].as_str().unwrap())
            .collect();
        assert_eq!(
            users,
            ["p1-a", "p1-b", "p2-a", "p3-a", "p4-a", "p5-a", "p6-a"]
        );
    }
}
