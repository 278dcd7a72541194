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
use crate::crypto::native::RustPrimitives;
use crate::crypto::stream::open_object;
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
    /// The work bytes of the last slice.
    work: Cell<u64>,
}

impl World {
    fn new() -> World {
        World::with_okta(fake_okta)
    }

    /// A world whose Okta answers with `okta` (a variation of [`fake_okta`]).
    fn with_okta(okta: impl Fn(&str) -> HttpResponse + 'static) -> World {
        let clock = ManualClock::at(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let store = MemoryStore::default();
        store.min_part_size.set(PART);
        World {
            http: ScriptedHttp::new(move |req| Ok(okta(&req.url))),
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
            work: Cell::new(0),
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
            seal: &RustPrimitives,
            key: &self.key,
            rng: &self.rng,
            layout: &self.layout,
            part_size: PART,
            work: &self.work,
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
        max_work_bytes: u64::MAX,
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

/// The CPU bound: slices stop once they have processed their share of bytes, overshooting by
/// no more than the pages already in flight, and still resume to the same objects.
#[test]
fn slices_bounded_by_processed_bytes_resume_to_identical_objects() {
    let expected = reference();
    let whole = {
        let world = World::new();
        finished(world.slice(&Durable::default().take_over(), &unlimited(), usize::MAX));
        world.work.get()
    };
    let plaintext: u64 = expected.values().map(|o| o.len() as u64).sum();
    assert!(whole > plaintext, "responses and plaintext both count");
    for max_work_bytes in [1, 20_000, whole / 3] {
        let world = World::new();
        let durable = Durable::default();
        let budget = Budget {
            max_work_bytes,
            ..unlimited()
        };
        let mut slices = 0;
        let entries = loop {
            slices += 1;
            assert!(slices < 1000, "no progress");
            let outcome = world.slice(&durable.take_over(), &budget, usize::MAX);
            // Past the bound, each lane finishes the page it holds and the one it prefetched
            // (the biggest pages here are users pages of about 23 KB, written back out).
            assert!(
                world.work.get() <= max_work_bytes + 4 * 2 * 2 * 24_000,
                "slice {slices} processed {} bytes over a bound of {max_work_bytes}",
                world.work.get()
            );
            match outcome {
                Some(Ok(SliceOutcome::Paused)) => continue,
                other => break finished(other),
            }
        };
        assert!(slices > 1, "the bound split the work ({max_work_bytes})");
        assert_eq!(world.objects(&entries), expected, "bound {max_work_bytes}");
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

fn okta_error(status: u16, code: &str) -> HttpResponse {
    json_response(
        status,
        &json!({"errorCode": code, "errorSummary": "The request was not valid", "errorCauses": []}),
        &[],
    )
}

fn policies_of(world: &World, entries: &[ObjectEntry]) -> (Vec<Value>, Vec<String>) {
    let entry = entries
        .iter()
        .find(|e| e.resource == ResourceType::Policies)
        .unwrap();
    let objects = world.objects(entries);
    (
        items(&objects[&ResourceType::Policies]),
        entry.unavailable.clone(),
    )
}

#[test]
fn every_policy_type_is_collected_and_unlicensed_ones_are_recorded_not_fatal() {
    let world = World::new();
    let durable = Durable::default();
    let entries = finished(world.slice(&durable.take_over(), &unlimited(), usize::MAX));
    let (policies, unavailable) = policies_of(&world, &entries);
    let types: Vec<&str> = policies
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, crate::snapshot::plan::POLICY_TYPES);
    assert!(unavailable.is_empty());

    // An org without Identity Engine: Okta's 400 E0000002 for the types it cannot list.
    let world = World::with_okta(|url| match url.split("type=").nth(1) {
        Some("ENTITY_RISK" | "POST_AUTH_SESSION") => okta_error(400, "E0000002"),
        _ => fake_okta(url),
    });
    let durable = Durable::default();
    let entries = finished(world.slice(&durable.take_over(), &unlimited(), usize::MAX));
    let (policies, unavailable) = policies_of(&world, &entries);
    assert_eq!(
        policies.len(),
        crate::snapshot::plan::POLICY_TYPES.len() - 2
    );
    assert!(policies.iter().all(|p| p["type"] != "ENTITY_RISK"));
    assert_eq!(
        unavailable,
        [
            "/api/v1/policies?type=ENTITY_RISK",
            "/api/v1/policies?type=POST_AUTH_SESSION"
        ]
    );
    // Their rules were not asked for either, and the manifest entry says what is missing.
    assert!(!world
        .http
        .requests
        .borrow()
        .iter()
        .any(|r| r.url.contains("00pENTITYRISK")));
    let json = serde_json::to_value(
        &entries[ResourceType::ALL
            .iter()
            .position(|r| *r == ResourceType::Policies)
            .unwrap()],
    )
    .unwrap();
    assert_eq!(json["unavailable"][0], "/api/v1/policies?type=ENTITY_RISK");
    // Entries of other objects keep their exact former shape.
    assert!(serde_json::to_value(&entries[0])
        .unwrap()
        .get("unavailable")
        .is_none());
}

#[test]
fn a_refused_core_policy_type_or_another_400_fails_the_backup() {
    for (type_, code) in [("PASSWORD", "E0000002"), ("ENTITY_RISK", "E0000001")] {
        let world = World::with_okta(move |url| {
            if url.ends_with(&format!("type={type_}")) {
                okta_error(400, code)
            } else {
                fake_okta(url)
            }
        });
        let durable = Durable::default();
        let outcome = world.slice(&durable.take_over(), &unlimited(), usize::MAX);
        assert!(
            matches!(
                outcome,
                Some(Err(CollectError::Okta(OktaError::Rejected {
                    status: 400,
                    ..
                })))
            ),
            "{type_} {code}: {outcome:?}"
        );
    }
}

/// Users whose page at `after=400` links back to the first page.
fn looping_users(url: &str) -> HttpResponse {
    if url.ends_with("/api/v1/users?after=400&limit=200") {
        let users = (400..600)
            .map(|i| json!({"id": format!("00u{i}")}))
            .collect();
        return page(users, Some("/api/v1/users?limit=200".into()));
    }
    fake_okta(url)
}

#[test]
fn a_next_link_that_loops_fails_the_backup_in_a_bounded_number_of_requests() {
    for max_requests in [u32::MAX, 3] {
        let world = World::with_okta(looping_users);
        let durable = Durable::default();
        let budget = Budget {
            max_requests,
            ..unlimited()
        };
        let mut slices = 0;
        let outcome = loop {
            slices += 1;
            assert!(slices < 100, "the loop was never found");
            match world.slice(&durable.take_over(), &budget, usize::MAX) {
                Some(Ok(SliceOutcome::Paused)) => continue,
                other => break other,
            }
        };
        match outcome {
            Some(Err(CollectError::Okta(OktaError::PaginationLoop { path }))) => {
                assert!(path.starts_with("/api/v1/users"), "{path}")
            }
            other => panic!("budget {max_requests}: {other:?}"),
        }
        let users_pages = world
            .http
            .requests
            .borrow()
            .iter()
            .filter(|r| r.url.contains("/api/v1/users?"))
            .count();
        assert!(users_pages <= 12, "{users_pages} user pages requested");
        assert_eq!(world.store.open_uploads(), 0);
    }
}

#[test]
fn a_list_that_ends_with_an_empty_page_is_collected_whole() {
    let expected = reference();
    let world = World::with_okta(|url| {
        if url.ends_with("/api/v1/users?after=800&limit=200") {
            let users = (800..USERS)
                .map(|i| {
                    json!({"id": format!("00u{i}"), "status": "ACTIVE",
                           "profile": {"noise": sha256_hex(&i.to_le_bytes())}})
                })
                .collect();
            return page(users, Some("/api/v1/users?after=1000&limit=200".into()));
        }
        if url.ends_with("/api/v1/users?after=1000&limit=200") {
            return page(vec![], None);
        }
        fake_okta(url)
    });
    let durable = Durable::default();
    let entries = finished(world.slice(&durable.take_over(), &unlimited(), usize::MAX));
    assert_eq!(world.objects(&entries), expected);
}

#[test]
fn a_cursor_okta_no_longer_accepts_restarts_the_step_and_yields_the_same_objects() {
    let expected = reference();
    // The first use of the users cursor `after=400` is refused, as a stored cursor that expired
    // while the next slice waited.
    let refused = std::rc::Rc::new(Cell::new(0));
    let seen = refused.clone();
    let world = World::with_okta(move |url| {
        if url.ends_with("/api/v1/users?after=400&limit=200") && seen.get() == 0 {
            seen.set(1);
            return okta_error(400, "E0000029");
        }
        fake_okta(url)
    });
    let durable = Durable::default();
    let budget = Budget {
        max_requests: 2,
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
    assert_eq!(refused.get(), 1, "the cursor was refused once");
    assert_eq!(world.objects(&entries), expected);

    // A cursor refused every time fails the backup after a few restarts, not forever.
    let world = World::with_okta(|url| {
        if url.contains("/api/v1/users?after=") {
            return okta_error(400, "E0000029");
        }
        fake_okta(url)
    });
    let durable = Durable::default();
    let outcome = world.slice(&durable.take_over(), &unlimited(), usize::MAX);
    assert!(
        matches!(
            outcome,
            Some(Err(CollectError::Okta(OktaError::CursorRefused { .. })))
        ),
        "{outcome:?}"
    );
    let first_pages = world
        .http
        .requests
        .borrow()
        .iter()
        .filter(|r| r.url.ends_with("/api/v1/users?limit=200"))
        .count();
    assert_eq!(first_pages, 1 + MAX_STEP_RESTARTS as usize);
}
