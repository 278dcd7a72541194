//! Applying plans against a fake org that keeps what it is written (groups, users,
//! memberships and network zones, answering as Okta does), with the network stepped (`Yielding`) so a kill can
//! land between any request and its answer.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::TimeZone;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::access::Credential;
use super::apply::*;
use super::estimate::Limits;
use super::*;
use crate::okta::{DomainPolicy, OktaAuth, OktaClient, OrgDomain, RESTORE_USER_AGENT};
use crate::ports::{Clock, HttpClient, HttpRequest, HttpResponse, Method, TransportError};
use crate::snapshot::collect::CheckpointError;
use crate::tenant::ResourceType as T;
use crate::testing::{json_response, poll_at_most, ManualClock, SeqRng, Yielding};

type State = BTreeMap<T, Vec<Value>>;

/// An org that keeps its groups, users and memberships and answers writes as Okta does.
#[derive(Default)]
struct Org {
    groups: RefCell<Vec<Value>>,
    users: RefCell<Vec<Value>>,
    members: RefCell<BTreeSet<(String, String)>>,
    zones: RefCell<Vec<Value>>,
    next: Cell<u32>,
    /// Every request: method, path, user agent.
    log: RefCell<Vec<(Method, String, String)>>,
    /// Answer the next requests with 429 (then as usual).
    throttled: Cell<u32>,
}

fn group(id: &str, name: &str, description: &str) -> Value {
    json!({"id": id, "type": "OKTA_GROUP", "profile": {"name": name, "description": description},
           "objectClass": ["okta:user_group"]})
}

fn user(id: &str, login: &str, status: &str, title: &str) -> Value {
    json!({"id": id, "status": status,
           "profile": {"login": login, "email": login, "firstName": "A", "lastName": "B", "title": title}})
}

fn zone(id: &str, name: &str, status: &str, cidr: &str, system: bool) -> Value {
    json!({"id": id, "type": "IP", "name": name, "status": status, "usage": "POLICY",
           "system": system, "gateways": [{"type": "CIDR", "value": cidr}],
           "created": "2024-01-01T00:00:00.000Z", "lastUpdated": "2024-01-01T00:00:00.000Z"})
}

impl Org {
    fn with_zones(self, zones: Vec<Value>) -> Org {
        *self.zones.borrow_mut() = zones;
        self
    }

    fn with(groups: Vec<Value>, users: Vec<Value>, members: &[(&str, &str)]) -> Org {
        let org = Org::default();
        *org.groups.borrow_mut() = groups;
        *org.users.borrow_mut() = users;
        *org.members.borrow_mut() = members
            .iter()
            .map(|(g, u)| (g.to_string(), u.to_string()))
            .collect();
        org
    }

    fn state(&self) -> State {
        let members = self
            .members
            .borrow()
            .iter()
            .map(|(g, u)| json!({"groupId": g, "userId": u}))
            .collect();
        BTreeMap::from([
            (T::Groups, self.groups.borrow().clone()),
            (T::Users, self.users.borrow().clone()),
            (T::GroupMembers, members),
            (T::NetworkZones, self.zones.borrow().clone()),
        ])
    }

    /// The org by natural keys (ids differ between runs): groups by name, users by login,
    /// memberships by group name and login.
    fn by_names(&self) -> Value {
        let groups = self.groups.borrow();
        let users = self.users.borrow();
        let name = |id: &str| {
            groups
                .iter()
                .find(|g| g["id"] == id)
                .map(|g| g["profile"]["name"].clone())
        };
        let login = |id: &str| {
            users
                .iter()
                .find(|u| u["id"] == id)
                .map(|u| u["profile"]["login"].clone())
        };
        let mut members: Vec<Value> = self
            .members
            .borrow()
            .iter()
            .map(|(g, u)| json!([name(g), login(u)]))
            .collect();
        members.sort_by_key(|m| m.to_string());
        let mut g: Vec<Value> = groups.iter().map(|g| g["profile"].clone()).collect();
        g.sort_by_key(|v| v.to_string());
        let mut u: Vec<Value> = users
            .iter()
            .map(|u| json!([u["status"], u["profile"]]))
            .collect();
        u.sort_by_key(|v| v.to_string());
        let mut z: Vec<Value> = (self.zones.borrow().iter())
            .map(|z| json!([z["name"], z["status"], z["gateways"], z["system"]]))
            .collect();
        z.sort_by_key(|v| v.to_string());
        json!({"groups": g, "users": u, "members": members, "zones": z})
    }

    fn id(&self, prefix: &str) -> String {
        self.next.set(self.next.get() + 1);
        format!("{prefix}new{}", self.next.get())
    }

    fn answer(&self, r: &HttpRequest) -> HttpResponse {
        let path = r
            .url
            .split_once(".okta.com")
            .map_or("", |(_, p)| p)
            .to_string();
        let ua = (r.headers.iter())
            .find(|(k, _)| k == "user-agent")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        self.log.borrow_mut().push((r.method, path.clone(), ua));
        if self.throttled.get() > 0 {
            self.throttled.set(self.throttled.get() - 1);
            return json_response(429, &json!({"errorCode": "E0000047"}), &[]);
        }
        let n = self.log.borrow().len().to_string();
        let ok =
            |status: u16, body: &Value| json_response(status, body, &[("x-okta-request-id", &n)]);
        let missing = || json_response(404, &json!({"errorCode": "E0000007"}), &[]);
        let body: Value = r
            .body
            .as_deref()
            .map(|b| serde_json::from_slice(b).unwrap())
            .unwrap_or_default();
        let (route, query) = path.split_once('?').unwrap_or((&path, ""));
        let parts: Vec<&str> = route.trim_start_matches("/api/v1/").split('/').collect();
        let find = |list: &RefCell<Vec<Value>>, id: &str| {
            list.borrow().iter().position(|v| {
                v["id"] == id
                    || v["profile"]["login"].as_str().map(str::to_lowercase)
                        == Some(id.replace("%40", "@").to_lowercase())
            })
        };
        match (r.method, parts.as_slice()) {
            (Method::Get, ["groups"]) => {
                let q = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("q="))
                    .unwrap_or("");
                let q = q.replace('+', " ");
                let found: Vec<Value> = (self.groups.borrow().iter())
                    .filter(|g| g["profile"]["name"].as_str().unwrap().starts_with(&q))
                    .cloned()
                    .collect();
                ok(200, &json!(found))
            }
            (Method::Post, ["groups"]) => {
                let g = json!({"id": self.id("00g"), "type": "OKTA_GROUP", "profile": body["profile"],
                               "objectClass": ["okta:user_group"]});
                self.groups.borrow_mut().push(g.clone());
                ok(200, &g)
            }
            (m, ["groups", id]) => match find(&self.groups, id) {
                None => missing(),
                Some(i) => match m {
                    Method::Get => ok(200, &self.groups.borrow()[i].clone()),
                    Method::Put => {
                        self.groups.borrow_mut()[i]["profile"] = body["profile"].clone();
                        ok(200, &self.groups.borrow()[i].clone())
                    }
                    Method::Delete => {
                        self.groups.borrow_mut().remove(i);
                        self.members.borrow_mut().retain(|(g, _)| g != id);
                        ok(204, &Value::Null)
                    }
                    _ => missing(),
                },
            },
            (m, ["groups", g, "users", u]) => {
                if find(&self.groups, g).is_none() || find(&self.users, u).is_none() {
                    return missing();
                }
                let key = (g.to_string(), u.to_string());
                if m == Method::Put {
                    self.members.borrow_mut().insert(key);
                } else {
                    self.members.borrow_mut().remove(&key);
                }
                ok(204, &Value::Null)
            }
            (Method::Get, ["zones"]) => ok(200, &json!(self.zones.borrow().clone())),
            (Method::Post, ["zones"]) => {
                if body.get("id").is_some() || body.get("status").is_some() {
                    return json_response(400, &json!({"errorCode": "E0000001"}), &[]);
                }
                let mut z = body.clone();
                z["id"] = json!(self.id("nzo"));
                z["status"] = json!("ACTIVE");
                z["system"] = json!(false);
                self.zones.borrow_mut().push(z.clone());
                ok(200, &z)
            }
            (m, ["zones", id, rest @ ..]) => {
                let Some(i) = (self.zones.borrow().iter()).position(|z| z["id"] == *id) else {
                    return missing();
                };
                let system = self.zones.borrow()[i]["system"] == true;
                match (m, rest) {
                    (Method::Get, []) => ok(200, &self.zones.borrow()[i].clone()),
                    (Method::Put, []) => {
                        let mut zones = self.zones.borrow_mut();
                        let (status, system) =
                            (zones[i]["status"].clone(), zones[i]["system"].clone());
                        zones[i] = body.clone();
                        zones[i]["id"] = json!(id);
                        zones[i]["status"] = status;
                        zones[i]["system"] = system;
                        ok(200, &zones[i].clone())
                    }
                    (Method::Post, ["lifecycle", op]) if !system => {
                        let status = if *op == "activate" {
                            "ACTIVE"
                        } else {
                            "INACTIVE"
                        };
                        self.zones.borrow_mut()[i]["status"] = json!(status);
                        ok(200, &self.zones.borrow()[i].clone())
                    }
                    (Method::Delete, []) if !system => {
                        if self.zones.borrow()[i]["status"] == "ACTIVE" {
                            return json_response(400, &json!({"errorCode": "E0000001"}), &[]);
                        }
                        self.zones.borrow_mut().remove(i);
                        ok(204, &Value::Null)
                    }
                    _ => json_response(403, &json!({"errorCode": "E0000006"}), &[]),
                }
            }
            (Method::Post, ["users"]) => {
                let status = if query.contains("activate=true") {
                    "PROVISIONED"
                } else {
                    "STAGED"
                };
                let u = json!({"id": self.id("00u"), "status": status, "profile": body["profile"]});
                self.users.borrow_mut().push(u.clone());
                ok(200, &u)
            }
            (m, ["users", id, rest @ ..]) => match find(&self.users, id) {
                None => missing(),
                Some(i) => match (m, rest) {
                    (Method::Get, []) => ok(200, &self.users.borrow()[i].clone()),
                    (Method::Post, []) => {
                        let mut users = self.users.borrow_mut();
                        for (k, v) in body["profile"].as_object().unwrap() {
                            users[i]["profile"][k] = v.clone();
                        }
                        ok(200, &users[i].clone())
                    }
                    (Method::Post, ["lifecycle", op]) => {
                        let status = match *op {
                            "deactivate" => "DEPROVISIONED",
                            "suspend" => "SUSPENDED",
                            "unsuspend" => "ACTIVE",
                            _ => "PROVISIONED",
                        };
                        self.users.borrow_mut()[i]["status"] = json!(status);
                        ok(200, &json!({}))
                    }
                    (Method::Delete, []) => {
                        let uid = self.users.borrow_mut().remove(i)["id"].clone();
                        self.members.borrow_mut().retain(|(_, u)| uid != u.as_str());
                        ok(204, &Value::Null)
                    }
                    _ => missing(),
                },
            },
            _ => missing(),
        }
    }
}

#[async_trait(?Send)]
impl HttpClient for Org {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        Ok(self.answer(&request))
    }
}

/// The checkpoint row, and the writes recorded as Butterfly's.
#[derive(Default)]
struct Durable {
    state: RefCell<ApplyState>,
    recorded: RefCell<BTreeSet<String>>,
    commits: Cell<u32>,
}

#[async_trait(?Send)]
impl ApplyCheckpoints for Durable {
    async fn record_writes(&self, transactions: &[String]) -> Result<(), CheckpointError> {
        crate::testing::yield_once().await;
        self.recorded
            .borrow_mut()
            .extend(transactions.iter().cloned());
        Ok(())
    }

    async fn commit(&self, state: &ApplyState) -> Result<(), CheckpointError> {
        crate::testing::yield_once().await;
        *self.state.borrow_mut() = state.clone();
        self.commits.set(self.commits.get() + 1);
        Ok(())
    }
}

/// The backup: groups Engineering (described) and Sales, users ann (a manager) and bob, with
/// ann in both groups and bob in Sales; zones Office, an inactive Old VPN and the system
/// BlockedIpZone blocking one address.
fn source() -> State {
    let zones = vec![
        zone("nzooffice", "Office", "ACTIVE", "198.51.100.0/24", false),
        zone("nzovpn", "Old VPN", "INACTIVE", "192.0.2.0/28", false),
        zone(
            "nzoblocked",
            "BlockedIpZone",
            "ACTIVE",
            "203.0.113.9/32",
            true,
        ),
    ];
    let org = Org::with(
        vec![
            group("00geng", "Engineering", "builds it"),
            group("00gsales", "Sales", "sells it"),
        ],
        vec![
            user("00uann", "ann@acme.com", "ACTIVE", "manager"),
            user("00ubob", "bob@acme.com", "STAGED", "rep"),
        ],
        &[
            ("00geng", "00uann"),
            ("00gsales", "00uann"),
            ("00gsales", "00ubob"),
        ],
    )
    .with_zones(zones);
    org.state()
}

/// The org now: Engineering's description edited, Sales and bob deleted (with their
/// memberships), ann's title changed, and a group the backup never had; Office's range
/// changed and deactivated, Old VPN deleted, the system zone's blocked address changed, and a
/// zone the backup never had.
fn drifted() -> Org {
    Org::with(
        vec![
            group("00geng", "Engineering", "edited"),
            group("00gtemp", "Temp", "added since"),
        ],
        vec![user("00uann", "ann@acme.com", "ACTIVE", "intern")],
        &[("00geng", "00uann")],
    )
    .with_zones(vec![
        zone("nzooffice", "Office", "INACTIVE", "10.0.0.0/8", false),
        zone(
            "nzoblocked",
            "BlockedIpZone",
            "ACTIVE",
            "203.0.113.99/32",
            true,
        ),
        zone("nzotemp", "Temp zone", "ACTIVE", "100.64.0.0/10", false),
    ])
}

fn plan_against(org: &Org, delete_missing: bool) -> Plan {
    plan(&PlanInput {
        source: &source(),
        target: &org.state(),
        scope: &Scope::Tenant,
        options: PlanOptions {
            delete_missing,
            override_lockout: true,
        },
        restoring_admin: None,
        credential: &Credential::ApiToken {
            roles: BTreeSet::from(["SUPER_ADMIN".to_string()]),
        },
        limits: Limits::default(),
    })
    .unwrap()
}

fn clock() -> ManualClock {
    ManualClock::at(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap())
}

fn unlimited(clock: &ManualClock) -> Budget {
    Budget {
        deadline: clock.now() + chrono::Duration::hours(1),
        max_operations: u32::MAX,
    }
}

/// One slice from the durable state, polled at most `polls` times (`None`: killed).
fn slice(
    org: &Org,
    clock: &ManualClock,
    plan: &Plan,
    durable: &Durable,
    budget: &Budget,
    polls: usize,
) -> Option<Result<Sliced, ApplyError>> {
    let http = Yielding(org);
    let rng = SeqRng::new(3);
    let domain = OrgDomain::parse("acme.okta.com", DomainPolicy::OktaOnly).unwrap();
    let okta = OktaClient::new(
        &http,
        clock,
        &rng,
        &domain,
        OktaAuth::ApiToken(Zeroizing::new("t".into())),
    );
    let state = durable.state.borrow().clone();
    poll_at_most(
        apply_slice(&okta, clock, plan, state, durable, budget),
        polls,
    )
}

fn run_to_end(org: &Org, plan: &Plan) -> ApplyState {
    let (clock, durable) = (clock(), Durable::default());
    match slice(org, &clock, plan, &durable, &unlimited(&clock), usize::MAX) {
        Some(Ok(Sliced::Finished(state))) => state,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_plan_applied_brings_the_org_back_and_a_new_plan_is_empty() {
    let org = drifted();
    let plan = plan_against(&org, true);
    let state = run_to_end(&org, &plan);
    assert_eq!(state.progress.failed, 0, "{:?}", state.outcomes);
    assert_eq!(state.progress.done as usize, plan.operations.len());
    // The org is the backup again, by natural keys, and planning again finds nothing to do.
    assert_eq!(
        org.by_names(),
        Org::with(
            vec![
                group("x1", "Engineering", "builds it"),
                group("x2", "Sales", "sells it")
            ],
            vec![
                user("x3", "ann@acme.com", "ACTIVE", "manager"),
                user("x4", "bob@acme.com", "STAGED", "rep"),
            ],
            &[("x1", "x3"), ("x2", "x3"), ("x2", "x4")],
        )
        .with_zones(vec![
            zone("x5", "Office", "ACTIVE", "198.51.100.0/24", false),
            zone("x6", "Old VPN", "INACTIVE", "192.0.2.0/28", false),
            zone("x7", "BlockedIpZone", "ACTIVE", "203.0.113.9/32", true),
        ])
        .by_names()
    );
    let again = plan_against(&org, true);
    assert!(
        again.operations.iter().all(|o| o.action == Action::Skip),
        "{:?}",
        again.operations
    );
    // Created objects' new ids are in the state's id map, and the memberships used them.
    let sales = state
        .created
        .iter()
        .find(|p| p.source_id.as_str() == "00gsales")
        .expect("Sales was created");
    assert!(org
        .members
        .borrow()
        .iter()
        .any(|(g, _)| g == sales.target_id.as_str()));
    // Every write went out as butterfly-restore, and its request id was recorded.
    let log = org.log.borrow();
    let writes: Vec<_> = log.iter().filter(|(m, _, _)| *m != Method::Get).collect();
    assert!(!writes.is_empty());
    assert!(writes.iter().all(|(_, _, ua)| ua == RESTORE_USER_AGENT));
    assert!(
        RESTORE_USER_AGENT.starts_with(crate::drift::capture::events::BUTTERFLY_USER_AGENT_PREFIX)
    );
}

#[test]
fn operations_okta_refuses_or_that_have_no_write_are_recorded_and_the_rest_go_on() {
    let org = drifted();
    let mut plan = plan_against(&org, false);
    // A membership whose group cannot exist, and an operation on a type without a write.
    let mut bad = plan
        .operations
        .iter()
        .find(|o| o.resource == T::GroupMembers && o.action == Action::Create)
        .unwrap()
        .clone();
    bad.source_id = Some(crate::drift::ResourceId::new("00gnone/00uann".to_string()));
    bad.seq = 1000;
    let mut app = bad.clone();
    app.resource = T::Apps;
    app.seq = 1001;
    plan.operations.push(bad);
    plan.operations.push(app);
    let state = run_to_end(&org, &plan);
    let of = |seq: u32| state.outcomes.iter().find(|o| o.seq == seq).unwrap();
    assert_eq!(of(1000).outcome, Outcome::Failed);
    assert_eq!(of(1000).reason.as_deref(), Some("E0000007"));
    assert_eq!(of(1001).outcome, Outcome::Unsupported);
    assert_eq!(state.progress.failed, 1);
    assert_eq!(state.progress.unsupported, 1);
    // The target-only group is listed as skipped (deletes were not asked for) and kept.
    assert!(state
        .outcomes
        .iter()
        .any(|o| o.outcome == Outcome::Skipped && o.reason.as_deref() == Some("only_in_target")));
    assert!(org.groups.borrow().iter().any(|g| g["id"] == "00gtemp"));
    let receipt = receipt::receipt(&plan, &state, header());
    assert_eq!(
        receipt.status,
        crate::store::ApplyStatus::CompleteWithFailures
    );
    let not_restored: Vec<u32> = receipt.not_restored.iter().map(|n| n.seq).collect();
    assert!(not_restored.contains(&1000) && not_restored.contains(&1001));
    assert_eq!(receipt.plan_digest, plan.digest);
}

fn header() -> receipt::Header {
    receipt::Header {
        restore_id: "r".into(),
        team_id: "t".into(),
        target_connection_id: "c".into(),
        org_domain: "acme.okta.com".into(),
        source_backup_id: "b".into(),
        plan_sha256: "0".repeat(64),
        requested_by: None,
        approved_by: Vec::new(),
        applied_by: None,
        planned_at: clock().now(),
        started_at: clock().now(),
    }
}

#[test]
fn a_429_is_waited_out_and_the_write_sent_again() {
    let org = drifted();
    let plan = plan_against(&org, true);
    org.throttled.set(2);
    let state = run_to_end(&org, &plan);
    assert_eq!(state.progress.failed, 0);
    assert_eq!(org.by_names(), {
        let again = drifted();
        run_to_end(&again, &plan_against(&again, true));
        again.by_names()
    });
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
fn killed_at_random_points_and_resumed_never_creates_twice_and_ends_the_same() {
    let expected = {
        let org = drifted();
        run_to_end(&org, &plan_against(&org, true));
        org.by_names()
    };
    let mut seed = 0x7e57;
    let mut total_kills = 0;
    for trial in 0..80 {
        let org = drifted();
        let plan = plan_against(&org, true);
        let (clock, durable) = (clock(), Durable::default());
        let mut kills = 0;
        let state = loop {
            let budget = Budget {
                max_operations: 1 + (random(&mut seed) % 5) as u32,
                ..unlimited(&clock)
            };
            let polls = match random(&mut seed) % 3 {
                0 => usize::MAX,
                _ => 1 + (random(&mut seed) % 16) as usize,
            };
            match slice(&org, &clock, &plan, &durable, &budget, polls) {
                None => kills += 1,
                Some(Ok(Sliced::Paused)) => {}
                Some(Ok(Sliced::Finished(state))) => break state,
                Some(Err(e)) => panic!("trial {trial}: {e}"),
            }
            assert!(kills < 1000);
        };
        total_kills += kills;
        assert_eq!(org.by_names(), expected, "trial {trial} ({kills} kills)");
        // Never a duplicate: one group per name, one user per login.
        let names: BTreeSet<String> = (org.groups.borrow().iter())
            .map(|g| g["profile"]["name"].to_string())
            .collect();
        assert_eq!(names.len(), org.groups.borrow().len(), "trial {trial}");
        assert_eq!(org.users.borrow().len(), 2, "trial {trial}");
        let zones: BTreeSet<String> = (org.zones.borrow().iter())
            .map(|z| z["name"].to_string())
            .collect();
        assert_eq!(zones.len(), 3, "trial {trial}: {:?}", org.zones.borrow());
        assert_eq!(state.outcomes.len(), plan.operations.len());
        assert_eq!(
            state.progress.failed, 0,
            "trial {trial}: {:?}",
            state.outcomes
        );
        // Every write that got an answer recorded is among Butterfly's.
        assert!(!durable.recorded.borrow().is_empty());
    }
    assert!(total_kills > 80, "the kills hit ({total_kills})");
}
