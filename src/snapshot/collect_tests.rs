//! Collection, pausing, killing and taking over, all against a fake tenant whose every page and
//! store call yields (so a "kill" can land between any two of them).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;

use chrono::TimeZone;
use futures::executor::block_on;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::*;
use crate::crypto::keys::Key256;
use crate::ids::{ConnectionId, UserId};
use crate::okta::{DomainPolicy, OktaAuth, OrgDomain};
use crate::ports::HttpResponse;
use crate::snapshot::manifest::sha256_hex;
use crate::tenant::ResourceType;
use crate::testing::{
    json_response, poll_at_most, ManualClock, MemoryStore, ScriptedHttp, SeqRng, Yielding,
};

const ORIGIN: &str = "https://acme.okta.com";
const USERS: usize = 1000;
const GROUPS: usize = 12;
const PART: usize = 16 * 1024;

fn page(items: Vec<Value>, next: Option<String>) -> HttpResponse {
    let link = next.map(|n| format!("<{ORIGIN}{n}>; rel=\"next\""));
    let headers: Vec<(&str, &str)> = link.iter().map(|l| ("link", l.as_str())).collect();
    json_response(200, &json!(items), &headers)
}

/// A tenant with paged users (incompressible profiles, so the object spans several parts),
/// groups whose member lists sometimes take two pages, apps over two pages, two pages of role
/// assignees, authorization servers with policies and rules, and one of everything else.
fn fake_okta(url: &str) -> HttpResponse {
    let path = url.trim_start_matches(ORIGIN);
    let ok = |body: Value| json_response(200, &body, &[]);
    let seg = |i: usize| {
        path.split(['/', '?'])
            .nth(i)
            .unwrap_or_default()
            .to_string()
    };
    match path {
        p if p.starts_with("/api/v1/users?limit=200&filter") => {
            ok(json!([{"id": "00ux", "status": "DEPROVISIONED"}]))
        }
        p if p.starts_with("/api/v1/users?") => {
            let from: usize = p
                .split("after=")
                .nth(1)
                .map_or(0, |a| a.split('&').next().unwrap().parse().unwrap());
            let to = (from + 200).min(USERS);
            let items = (from..to)
                .map(|i| {
                    json!({"id": format!("00u{i}"), "status": "ACTIVE",
                                "profile": {"noise": sha256_hex(&i.to_le_bytes())}})
                })
                .collect();
            page(
                items,
                (to < USERS).then(|| format!("/api/v1/users?after={to}&limit=200")),
            )
        }
        "/api/v1/groups?limit=10000" => ok(json!((0..GROUPS)
            .map(|g| json!({"id": format!("00g{g}"), "profile": {"name": format!("G{g}")}}))
            .collect::<Vec<_>>())),
        p if p.starts_with("/api/v1/groups/00g") && p.contains("/users") => {
            let group = seg(4);
            let g: usize = group[3..].parse().unwrap();
            if p.contains("after=") {
                return page(vec![json!({"id": format!("00u{g}b")})], None);
            }
            page(
                vec![json!({"id": format!("00u{g}a")}), json!({"id": "00u1"})],
                g.is_multiple_of(3)
                    .then(|| format!("/api/v1/groups/{group}/users?after=x&limit=1000")),
            )
        }
        p if p.starts_with("/api/v1/groups/00g") && p.ends_with("/roles") => {
            let g: usize = seg(4)[3..].parse().unwrap();
            ok(json!(if g.is_multiple_of(4) {
                vec![json!({"id": format!("ra{g}"), "type": "GROUP_MEMBERSHIP_ADMIN"})]
            } else {
                vec![]
            }))
        }
        "/api/v1/apps?limit=200" => page(
            (0..4).map(|a| json!({"id": format!("0oa{a}")})).collect(),
            Some("/api/v1/apps?after=0oa3&limit=200".into()),
        ),
        "/api/v1/apps?after=0oa3&limit=200" => page(
            (4..7).map(|a| json!({"id": format!("0oa{a}")})).collect(),
            None,
        ),
        p if p.starts_with("/api/v1/apps/0oa") && p.contains("/users") => {
            ok(json!([{"id": "00u1", "scope": "USER"}]))
        }
        p if p.starts_with("/api/v1/apps/0oa") && p.contains("/groups") => {
            ok(json!([{"id": "00g1", "priority": 0}]))
        }
        p if p.starts_with("/api/v1/policies?type=") => {
            let t = &p["/api/v1/policies?type=".len()..];
            ok(json!([{"id": format!("00p{}", t.replace('_', "")), "type": t}]))
        }
        p if p.starts_with("/api/v1/policies/") => ok(json!([{"id": "0pr1", "priority": 1}])),
        "/api/v1/iam/assignees/users?limit=100" => ok(json!({"value": [{"id": "00u1"}],
            "_links": {"next": {"href": format!("{ORIGIN}/api/v1/iam/assignees/users?after=1&limit=100")}}})),
        "/api/v1/iam/assignees/users?after=1&limit=100" => {
            ok(json!({"value": [{"id": "00u2"}], "_links": {}}))
        }
        p if p.starts_with("/api/v1/users/00u") && p.ends_with("/roles") => {
            ok(json!([{"id": format!("ra-{}", seg(4)), "type": "SUPER_ADMIN"}]))
        }
        "/api/v1/authorizationServers?limit=200" => ok(json!([{"id": "aus1"}, {"id": "aus2"}])),
        p if p.starts_with("/api/v1/authorizationServers/") && p.ends_with("/policies") => {
            ok(json!([{"id": format!("{}p1", seg(4))}, {"id": format!("{}p2", seg(4))}]))
        }
        p if p.starts_with("/api/v1/authorizationServers/") => {
            ok(json!([{"id": format!("x-{}-{}", seg(4), seg(6))}]))
        }
        "/api/v1/threats/configuration" | "/api/v1/org" => ok(json!({"action": "audit"})),
        "/api/v1/groups/rules?limit=200"
        | "/api/v1/authenticators"
        | "/api/v1/zones"
        | "/api/v1/idps?limit=200"
        | "/api/v1/eventHooks"
        | "/api/v1/inlineHooks"
        | "/api/v1/api-tokens" => ok(json!([{"id": "c1"}])),
        other => panic!("unexpected request {other}"),
    }
}

/// The checkpoint row: whoever holds the lease may commit; taking it over locks the previous
/// holder out.
#[derive(Default)]
struct Durable {
    progress: RefCell<Progress>,
    holder: Cell<u32>,
    commits: Cell<u32>,
}

impl Durable {
    fn take_over(&self) -> Holder<'_> {
        self.holder.set(self.holder.get() + 1);
        Holder {
            durable: self,
            id: self.holder.get(),
        }
    }
}

struct Holder<'d> {
    durable: &'d Durable,
    id: u32,
}

#[async_trait(?Send)]
impl Checkpoints for Holder<'_> {
    async fn commit(&self, progress: &Progress) -> Result<(), CheckpointError> {
        crate::testing::yield_once().await;
        if self.durable.holder.get() != self.id {
            return Err(CheckpointError::LeaseLost);
        }
        *self.durable.progress.borrow_mut() = progress.clone();
        self.durable.commits.set(self.durable.commits.get() + 1);
        Ok(())
    }
}

struct World {
    http: ScriptedHttp,
    clock: ManualClock,
    rng: SeqRng,
    store: MemoryStore,
    key: SnapshotKey,
    layout: SnapshotLayout,
    org: OrgDomain,
}

impl World {
    fn new() -> World {
        let clock = ManualClock::at(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let store = MemoryStore::default();
        store.min_part_size.set(PART);
        World {
            http: ScriptedHttp::new(|req| Ok(fake_okta(&req.url))),
            layout: SnapshotLayout::new(
                UserId::parse("11111111-1111-4111-8111-111111111111").unwrap(),
                ConnectionId::parse("22222222-2222-4222-8222-222222222222").unwrap(),
                clock.now(),
            ),
            clock,
            rng: SeqRng::new(9),
            store,
            key: SnapshotKey::derive(&Key256::from_bytes([7; 32]), "team", "conn"),
            org: OrgDomain::parse("acme.okta.com", DomainPolicy::OktaOnly).unwrap(),
        }
    }

    /// Runs one slice from the durable progress as lease holder `holder`, polled at most
    /// `polls` times (`None`: killed).
    fn slice(
        &self,
        holder: &Holder<'_>,
        budget: &Budget,
        polls: usize,
    ) -> Option<Result<SliceOutcome, CollectError>> {
        self.with_collector(|collector| {
            let progress = holder.durable.progress.borrow().clone();
            let tag = format!("{:08x}", holder.id);
            poll_at_most(collector.run_slice(progress, holder, budget, &tag), polls)
        })
    }

    /// Runs `f` with a collector over this world's yielding fakes.
    fn with_collector<R>(&self, f: impl FnOnce(&Collector<'_>) -> R) -> R {
        let http = Yielding(&self.http);
        let store = Yielding(&self.store);
        let okta = OktaClient::new(
            &http,
            &self.clock,
            &self.rng,
            &self.org,
            OktaAuth::ApiToken(Zeroizing::new("t".into())),
        );
        f(&Collector {
            okta: &okta,
            store: &store,
            clock: &self.clock,
            key: &self.key,
            rng: &self.rng,
            layout: &self.layout,
            part_size: PART,
        })
    }

    /// Every object's plaintext (segments joined), checked against the entry's hashes, after
    /// the finalising clean-up that removes what the entries do not name.
    fn objects(&self, entries: &[ObjectEntry]) -> BTreeMap<ResourceType, Vec<u8>> {
        let keep: Vec<&str> = entries
            .iter()
            .flat_map(|e| e.segments.iter().map(|s| s.key.as_str()))
            .collect();
        block_on(remove_unlisted(&self.store, &self.layout, &keep)).unwrap();
        let stored = self.store.objects.borrow();
        assert_eq!(stored.len(), keep.len(), "only listed segments remain");
        entries
            .iter()
            .map(|entry| {
                let mut plain = Vec::new();
                for segment in &entry.segments {
                    let sealed = &stored[&segment.key];
                    assert_eq!(sha256_hex(sealed), segment.sealed_sha256);
                    assert_eq!(sealed.len() as u64, segment.sealed_bytes);
                    plain.extend(open_object(&self.key, &segment.key, sealed).unwrap());
                }
                assert_eq!(sha256_hex(&plain), entry.plaintext_sha256);
                assert_eq!(plain.len() as u64, entry.plaintext_bytes);
                (entry.resource, plain)
            })
            .collect()
    }
}

fn unlimited() -> Budget {
    Budget {
        deadline: chrono::Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap(),
        max_requests: u32::MAX,
        checkpoint_every: Duration::days(1),
        segment_bytes: u64::MAX,
    }
}

fn finished(outcome: Option<Result<SliceOutcome, CollectError>>) -> Vec<ObjectEntry> {
    match outcome {
        Some(Ok(SliceOutcome::Finished(entries))) => entries,
        other => panic!("expected a finished slice, got {other:?}"),
    }
}

/// The objects of one uninterrupted run.
fn reference() -> BTreeMap<ResourceType, Vec<u8>> {
    let world = World::new();
    let durable = Durable::default();
    let entries = finished(world.slice(&durable.take_over(), &unlimited(), usize::MAX));
    world.objects(&entries)
}

fn items(plain: &[u8]) -> Vec<Value> {
    serde_json::from_slice(plain).unwrap()
}

#[test]
fn collects_every_resource_into_sealed_objects() {
    let world = World::new();
    let durable = Durable::default();
    let entries = finished(world.slice(&durable.take_over(), &unlimited(), usize::MAX));
    let order: Vec<ResourceType> = entries.iter().map(|e| e.resource).collect();
    assert_eq!(order, ResourceType::ALL.to_vec());
    let objects = world.objects(&entries);
    for entry in &entries {
        assert_eq!(items(&objects[&entry.resource]).len() as u64, entry.count);
    }
    let count = |r: ResourceType| entries.iter().find(|e| e.resource == r).unwrap().count;
    assert_eq!(count(ResourceType::Users), USERS as u64 + 1);
    assert_eq!(count(ResourceType::Apps), 7);
    assert_eq!(count(ResourceType::AppUserAssignments), 7);
    assert_eq!(count(ResourceType::GroupMembers), 2 * GROUPS as u64 + 4);
    assert_eq!(count(ResourceType::GroupRoles), 3);
    assert_eq!(count(ResourceType::UserRoles), 2);
    assert_eq!(count(ResourceType::AuthorizationServerPolicies), 4);
    assert_eq!(count(ResourceType::AuthorizationServerPolicyRules), 4);
    assert_eq!(
        items(&objects[&ResourceType::GroupMembers])[..3],
        [
            json!({"groupId": "00g0", "userId": "00u0a"}),
            json!({"groupId": "00g0", "userId": "00u1"}),
            json!({"groupId": "00g0", "userId": "00u0b"}),
        ]
    );
    assert_eq!(
        items(&objects[&ResourceType::UserRoles])[1],
        json!({"userId": "00u2", "role": {"id": "ra-00u2", "type": "SUPER_ADMIN"}})
    );
    assert_eq!(
        items(&objects[&ResourceType::AuthorizationServerPolicyRules])[3],
        json!({"authServerId": "aus2", "policyId": "aus2p2",
               "rule": {"id": "x-aus2-aus2p2"}})
    );
    assert_eq!(
        items(&objects[&ResourceType::Org]),
        vec![json!({"action": "audit"})]
    );
    // Users span several parts; nothing bigger than a part was handed to the store, and the
    // sealed bytes do not contain the plaintext.
    let users = &entries[0];
    assert!(
        users.sealed_bytes > 2 * PART as u64,
        "{}",
        users.sealed_bytes
    );
    assert!(world.store.largest_write.get() <= PART);
    assert_eq!(world.store.open_uploads(), 0);
    let sealed = &world.store.objects.borrow()[&users.segments[0].key];
    assert!(!sealed.windows(5).any(|w| w == b"00u10"));
}

#[test]
fn child_lists_prefetch_parents_but_keep_parent_order() {
    let world = World::new();
    let durable = Durable::default();
    finished(world.slice(&durable.take_over(), &unlimited(), usize::MAX));
    let order: Vec<String> = world
        .http
        .requests
        .borrow()
        .iter()
        .filter(|r| r.url.contains("/api/v1/groups/00g") && r.url.contains("/users"))
        .map(|r| {
            let group = r.url.split('/').nth(6).unwrap().to_string();
            group + if r.url.contains("after=") { "+" } else { "" }
        })
        .collect();
    // g0's second page comes after the next parents' first pages were requested.
    assert_eq!(order[..5], ["00g0", "00g1", "00g2", "00g3", "00g0+"]);
    assert_eq!(order.len(), GROUPS + GROUPS.div_ceil(3));
}

#[test]
fn paused_slices_resume_to_identical_objects() {
    let expected = reference();
    for max_requests in [1, 2, 3, 7, 20] {
        for checkpoint_every in [Duration::zero(), Duration::days(1)] {
            let world = World::new();
            let durable = Durable::default();
            let budget = Budget {
                max_requests,
                checkpoint_every,
                ..unlimited()
            };
            let mut slices = 0;
            let entries = loop {
                slices += 1;
                assert!(slices < 1000, "no progress");
                match world.slice(&durable.take_over(), &budget, usize::MAX) {
                    Some(Ok(SliceOutcome::Paused)) => continue,
                    other => break finished(other),
                }
            };
            assert!(slices > 3, "the budget split the work ({slices} slices)");
            assert_eq!(world.objects(&entries), expected, "budget {max_requests}");
            if max_requests <= 3 {
                assert!(
                    entries[0].segments.len() > 1,
                    "users were cut into segments"
                );
            }
        }
    }
}

/// splitmix64, for reproducible random kill points.
fn random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn killed_at_random_points_and_resumed_gives_identical_objects() {
    let expected = reference();
    let mut seed = 0x5eed;
    for trial in 0..60 {
        let world = World::new();
        let durable = Durable::default();
        let mut kills = 0;
        let entries = loop {
            let budget = Budget {
                max_requests: 1 + (random(&mut seed) % 40) as u32,
                checkpoint_every: Duration::seconds((random(&mut seed) % 2) as i64),
                ..unlimited()
            };
            // Half the slices are killed after a random number of steps.
            let polls = match random(&mut seed) % 2 {
                0 => 1 + (random(&mut seed) % 300) as usize,
                _ => usize::MAX,
            };
            match world.slice(&durable.take_over(), &budget, polls) {
                None => kills += 1,
                Some(Ok(SliceOutcome::Paused)) => {}
                other => break finished(other),
            }
            assert!(kills < 10_000);
        };
        assert_eq!(
            world.objects(&entries),
            expected,
            "trial {trial} ({kills} kills)"
        );
    }
}

#[test]
fn a_superseded_slice_stops_without_touching_its_successors_work() {
    let expected = reference();
    for head_start in [5, 40, 120] {
        let world = World::new();
        let durable = Durable::default();
        let first = durable.take_over();
        let budget = Budget {
            checkpoint_every: Duration::zero(),
            ..unlimited()
        };
        let entries = world.with_collector(|collector| {
            let old = collector.run_slice(Progress::default(), &first, &budget, "00000001");
            let mut old = std::pin::pin!(old);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            for _ in 0..head_start {
                assert!(old.as_mut().poll(&mut cx).is_pending());
            }
            // The lease lapses and a successor takes over from the last commit; the two then run
            // side by side until the old one notices.
            let second = durable.take_over();
            let new = collector.run_slice(
                durable.progress.borrow().clone(),
                &second,
                &budget,
                "00000002",
            );
            let mut new = std::pin::pin!(new);
            let (mut old_result, mut new_result) = (None, None);
            while old_result.is_none() || new_result.is_none() {
                if old_result.is_none() {
                    if let std::task::Poll::Ready(r) = old.as_mut().poll(&mut cx) {
                        old_result = Some(r);
                    }
                }
                if new_result.is_none() {
                    if let std::task::Poll::Ready(r) = new.as_mut().poll(&mut cx) {
                        new_result = Some(r);
                    }
                }
            }
            assert!(matches!(
                old_result,
                Some(Err(CollectError::Checkpoint(CheckpointError::LeaseLost)))
            ));
            finished(new_result)
        });
        assert_eq!(world.objects(&entries), expected, "head start {head_start}");
    }
}

#[test]
fn a_storage_failure_fails_the_slice_and_leaves_no_upload() {
    let world = World::new();
    let durable = Durable::default();
    finished(world.slice(&durable.take_over(), &unlimited(), usize::MAX));
    let total = world.store.writes();
    for fail_at in (0..total).step_by(3) {
        let world = World::new();
        world.store.fail_write_at.set(Some(fail_at));
        let durable = Durable::default();
        let outcome = world.slice(&durable.take_over(), &unlimited(), usize::MAX);
        assert!(
            matches!(outcome, Some(Err(CollectError::Store(_)))),
            "failure at write {fail_at}: {outcome:?}"
        );
        assert_eq!(world.store.open_uploads(), 0, "failure at write {fail_at}");
        // What was committed names only complete segments.
        for state in durable.progress.borrow().steps.values() {
            if let StepProgress::Running(p) = state {
                for s in &p.segments {
                    let sealed = &world.store.objects.borrow()[&s.key];
                    open_object(&world.key, &s.key, sealed).unwrap();
                }
            }
        }
    }
}

#[test]
fn a_checkpoint_that_names_a_missing_key_list_is_refused() {
    let world = World::new();
    let durable = Durable::default();
    finished(world.slice(&durable.take_over(), &unlimited(), usize::MAX));
    let mut progress = durable.progress.borrow().clone();
    progress.steps.remove("group_members");
    if let Some(StepProgress::Done { key_lists, .. }) = progress.steps.get_mut("groups") {
        key_lists[0].push_str(".gone");
    }
    *durable.progress.borrow_mut() = progress;
    let outcome = world.slice(&durable.take_over(), &unlimited(), usize::MAX);
    assert!(
        matches!(outcome, Some(Err(CollectError::BadCheckpoint(_)))),
        "{outcome:?}"
    );
}
