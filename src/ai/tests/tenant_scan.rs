//! Every prompt type over the emulator's full demo tenant and a 10,000-user synthetic tenant,
//! collected over HTTP with the backup's own collection plan; every request body that leaves
//! is scanned for every identifying value of the tenant. None may appear. The drift and
//! restore prompts go twice: from hand-made changes aimed at identifying fields, and as their
//! routes build them, from drift's diff of an admin session made of the tenant's own values
//! (a capture's summary) and from the restore plan that would undo it.
//!
//! What counts as identifying is decided here, independently of the redaction code: every id
//! (`id` and `*Id` keys at any depth), every name, label, description, login, email, phone,
//! address and company field, and every email address, IP address and URL host found in any
//! string of the tenant. Okta's own vocabulary is not identifying: names of authenticators and
//! of system policies and rules, first-party apps, the built-in `Everyone` group, standard
//! admin-role labels, and values that are also a `type` somewhere. A value that is also a word
//! of Butterfly's own fixed text (a last name "Admin", say) cannot be told apart from that text
//! and is left out of the scan; the test prints how many there were and fails if they are more
//! than a handful, so the exemption cannot quietly grow.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use async_trait::async_trait;
use futures::executor::block_on;
use okta_emulator::{Bucket, EmulatorConfig};
use serde_json::Value;

use super::{anthropic_ok, openai_ok, ANTHROPIC, OPENAI};
use crate::ai::breaker::Breakers;
use crate::ai::budget::{BudgetPolicy, Usage};
use crate::ai::guide::{ask, AiSettings, Ask, Deps};
use crate::ai::prompts::{
    ChangeKind, DriftAlert, DriftChange, FieldChange, PromptKind, RestoreAction, RestoreOp,
    RestorePlan, Subject, SYSTEM,
};
use crate::ai::record::RecordOutcome;
use crate::compliance::{catalog, evaluate, EvalContext, Outcome};
use crate::ids::TeamId;
use crate::ports::{HttpClient, HttpRequest, HttpResponse, TransportError};
use crate::snapshot::plan::{okta_id, Source, PLAN};
use crate::tenant::ResourceType;
use crate::tenant::TenantSnapshot;
use crate::testing::ManualClock;

/// Collects a tenant the way a backup does: every step of the plan, following `Link` pages.
pub(crate) fn collect(base: &str, token: &str) -> TenantSnapshot {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let get = |url: &str| -> (Value, Vec<String>) {
        let r = agent
            .get(url)
            .set("Authorization", &format!("SSWS {token}"))
            .set("Accept", "application/json")
            .call()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let links = r.all("link").into_iter().map(str::to_owned).collect();
        (r.into_json().unwrap(), links)
    };
    let pages = |path: &str| -> Vec<Value> {
        let mut items = Vec::new();
        let mut next = Some(format!("{base}{path}"));
        while let Some(url) = next {
            let (body, links) = get(&url);
            items.extend(body.as_array().cloned().unwrap_or_default());
            next = next_link(&links);
        }
        items
    };
    let mut snapshot = TenantSnapshot::default();
    let mut keys: HashMap<&str, Vec<Vec<String>>> = HashMap::new();
    for step in PLAN {
        let mut objects = Vec::new();
        let mut kept = Vec::new();
        match step.source {
            Source::Lists(paths) => {
                for path in paths {
                    for item in pages(path) {
                        if let Some(id) = okta_id(&item) {
                            kept.push(vec![id.to_owned()]);
                        }
                        objects.push(item);
                    }
                }
            }
            Source::Children { parent, path, wrap } => {
                for key in keys.get(parent).cloned().unwrap_or_default() {
                    let k: Vec<&str> = key.iter().map(String::as_str).collect();
                    for item in pages(&path(&k)) {
                        if let Some(id) = okta_id(&item) {
                            let mut child = key.clone();
                            child.push(id.to_owned());
                            kept.push(child);
                        }
                        objects.push(wrap.apply(&k, item));
                    }
                }
            }
            Source::Document(path) => objects.push(get(&format!("{base}{path}")).0),
            Source::Assignees(path) => {
                let mut next = Some(format!("{base}{path}"));
                while let Some(url) = next {
                    let (body, _) = get(&url);
                    for user in body["value"].as_array().into_iter().flatten() {
                        if let Some(id) = okta_id(user) {
                            kept.push(vec![id.to_owned()]);
                        }
                    }
                    next = body["_links"]["next"]["href"].as_str().map(str::to_owned);
                }
            }
        }
        if step.keeps_keys {
            keys.insert(step.name, kept);
        }
        if let Some(resource) = step.object {
            snapshot
                .resources
                .entry(resource)
                .or_default()
                .extend(objects);
        }
    }
    snapshot
}

/// The `rel="next"` target of `Link` headers (one link per header, as the emulator sends them).
fn next_link(links: &[String]) -> Option<String> {
    links.iter().flat_map(|l| l.split(',')).find_map(|link| {
        let (target, params) = link.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

/// Fields that name or identify, wherever an object has them.
const IDENTIFYING: &[&str] = &[
    "/name",
    "/label",
    "/description",
    "/profile/name",
    "/profile/description",
    "/rule/name",
    "/policy/name",
    "/item/name",
    "/role/label",
    "/profile/login",
    "/profile/email",
    "/profile/secondEmail",
    "/profile/firstName",
    "/profile/lastName",
    "/profile/middleName",
    "/profile/displayName",
    "/profile/nickName",
    "/profile/mobilePhone",
    "/profile/primaryPhone",
    "/profile/employeeNumber",
    "/profile/streetAddress",
    "/profile/city",
    "/profile/zipCode",
    "/companyName",
    "/subdomain",
    "/website",
    "/phoneNumber",
    "/supportPhoneNumber",
    "/address1",
    "/address2",
    "/city",
    "/postalCode",
    "/user/credentials/userName",
];
const FIRST_PARTY: [&str; 3] = ["saasure", "okta_enduser", "okta_browser_plugin"];

fn identifying_values(tenant: &TenantSnapshot) -> BTreeSet<String> {
    let mut values = BTreeSet::new();
    let mut types = BTreeSet::new();
    fn strings(v: &Value, key: &str, f: &mut dyn FnMut(&str, &str)) {
        match v {
            Value::String(s) => f(key, s),
            Value::Array(items) => items.iter().for_each(|i| strings(i, key, f)),
            Value::Object(map) => map.iter().for_each(|(k, v)| strings(v, k, f)),
            _ => {}
        }
    }
    for (resource, objects) in &tenant.resources {
        for o in objects {
            strings(o, "", &mut |key, s| {
                if key == "type" {
                    types.insert(s.to_owned());
                }
                if key == "id" || key.ends_with("Id") {
                    values.insert(s.to_owned());
                }
                for word in s.split(|c: char| c.is_whitespace() || "\"'(),;<>".contains(c)) {
                    let word = word.trim_end_matches(['.', ':']);
                    if word.contains('@')
                        && word.rsplit('@').next().is_some_and(|d| d.contains('.'))
                    {
                        values.insert(word.to_owned());
                    }
                    let addr = word.split('/').next().unwrap_or(word);
                    if addr.parse::<std::net::IpAddr>().is_ok() {
                        values.insert(addr.to_owned());
                    }
                    if let Some((_, rest)) = word.split_once("://") {
                        let host = rest.split(['/', ':', '?']).next().unwrap_or_default();
                        values.insert(host.to_owned());
                    }
                }
            });
            let okta_vocabulary = *resource == ResourceType::Authenticators
                || FIRST_PARTY.contains(&o["name"].as_str().unwrap_or_default());
            for pointer in IDENTIFYING {
                let Some(s) = o.pointer(pointer).and_then(Value::as_str) else {
                    continue;
                };
                let system = o["system"] == true
                    || o["rule"]["system"] == true
                    || o["policy"]["system"] == true;
                let built_in_group = o["type"] == "BUILT_IN" && s == "Everyone";
                let standard_role = *pointer == "/role/label" && o["role"]["type"] != "CUSTOM";
                let system_name = system && pointer.ends_with("/name");
                if !(okta_vocabulary || built_in_group || standard_role || system_name) {
                    values.insert(s.to_owned());
                }
            }
        }
    }
    values.retain(|v| v.chars().count() >= 3 && !types.contains(v));
    values
}

/// Butterfly's own fixed text: whatever a prompt may say regardless of the tenant.
fn fixed_words() -> BTreeSet<String> {
    let mut text = String::from(SYSTEM);
    for kind in PromptKind::ALL {
        let spec = kind.spec();
        text.push_str(spec.task);
        text.push(' ');
        text.push_str(&spec.all_keys().join(" "));
    }
    for def in catalog() {
        text.push_str(&format!(
            " {} {} {} {}",
            def.id, def.title, def.rationale, def.remediation
        ));
    }
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Answers every other request with a 529 from the primary, so both providers' bodies leave.
struct Recorder {
    bodies: RefCell<Vec<String>>,
    n: RefCell<usize>,
}

#[async_trait(?Send)]
impl HttpClient for Recorder {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.bodies
            .borrow_mut()
            .push(String::from_utf8(request.body.clone().unwrap()).unwrap());
        let mut n = self.n.borrow_mut();
        *n += 1;
        Ok(if request.url.starts_with(ANTHROPIC) {
            if *n % 3 == 1 {
                super::anthropic_error(529, "overloaded_error", &[])
            } else {
                anthropic_ok("ok")
            }
        } else {
            assert!(request.url.starts_with(OPENAI));
            openai_ok("ok")
        })
    }
}

/// Changes touching identifying and declared fields of real objects.
fn drift(t: &TenantSnapshot) -> DriftAlert {
    let all = |r: ResourceType| t.resources.get(&r).cloned().unwrap_or_default();
    let mut changes = Vec::new();
    let users = all(ResourceType::Users);
    for pair in users.windows(2).take(20) {
        let (u, other) = (&pair[0], &pair[1]);
        let field = |path: &str| FieldChange {
            path: path.into(),
            before: u.pointer(path).cloned(),
            after: other.pointer(path).cloned(),
        };
        changes.push(DriftChange {
            resource: ResourceType::Users,
            object_id: u["id"].as_str().unwrap().into(),
            change: ChangeKind::Modified,
            fields: [
                "/profile/login",
                "/profile/email",
                "/profile/firstName",
                "/profile/displayName",
                "/profile/mobilePhone",
                "/status",
                "/profile/employeeNumber",
                "/profile/title",
            ]
            .into_iter()
            .map(field)
            .collect(),
        });
    }
    for (resource, id, name) in [
        (ResourceType::Groups, "/id", "/profile/name"),
        (ResourceType::Apps, "/id", "/label"),
        (ResourceType::Policies, "/id", "/name"),
        (ResourceType::PolicyRules, "/rule/id", "/rule/name"),
        (ResourceType::NetworkZones, "/id", "/name"),
        (ResourceType::GroupRules, "/id", "/name"),
        (ResourceType::Idps, "/id", "/name"),
    ] {
        let objects = all(resource);
        for pair in objects.windows(2).take(10) {
            let mut fields = vec![FieldChange {
                path: name.into(),
                before: pair[0].pointer(name).cloned(),
                after: pair[1].pointer(name).cloned(),
            }];
            if resource == ResourceType::NetworkZones {
                fields.push(FieldChange {
                    path: "/gateways".into(),
                    before: pair[0].pointer("/gateways").cloned(),
                    after: pair[1].pointer("/gateways").cloned(),
                });
            }
            if resource == ResourceType::Groups {
                fields.push(FieldChange {
                    path: "/profile/description".into(),
                    before: pair[0].pointer("/profile/description").cloned(),
                    after: pair[1].pointer("/profile/description").cloned(),
                });
            }
            changes.push(DriftChange {
                resource,
                object_id: pair[0].pointer(id).and_then(Value::as_str).unwrap().into(),
                change: ChangeKind::Modified,
                fields,
            });
        }
    }
    for m in all(ResourceType::GroupMembers).iter().take(5) {
        changes.push(DriftChange {
            resource: ResourceType::GroupMembers,
            object_id: format!(
                "{}/{}",
                m["groupId"].as_str().unwrap(),
                m["userId"].as_str().unwrap()
            ),
            change: ChangeKind::Added,
            fields: vec![],
        });
    }
    DriftAlert { changes }
}

fn restore(t: &TenantSnapshot) -> RestorePlan {
    let all = |r: ResourceType| t.resources.get(&r).cloned().unwrap_or_default();
    let mut operations = Vec::new();
    let mut op = |action, resource, id: Option<&str>, fields: &[&str]| {
        if let Some(id) = id {
            operations.push(RestoreOp {
                action,
                resource,
                object_id: id.into(),
                fields: fields.iter().map(|f| f.to_string()).collect(),
            });
        }
    };
    for g in all(ResourceType::Groups).iter().take(8) {
        op(
            RestoreAction::Update,
            ResourceType::Groups,
            g["id"].as_str(),
            &["/profile/name", "/profile/description"],
        );
    }
    for u in all(ResourceType::Users).iter().take(8) {
        op(
            RestoreAction::Deactivate,
            ResourceType::Users,
            u["id"].as_str(),
            &["/status", "/profile/login"],
        );
    }
    for a in all(ResourceType::Apps).iter().take(8) {
        op(
            RestoreAction::Delete,
            ResourceType::Apps,
            a["id"].as_str(),
            &["/label", "/signOnMode"],
        );
    }
    for p in all(ResourceType::Policies).iter().take(8) {
        op(
            RestoreAction::Update,
            ResourceType::Policies,
            p["id"].as_str(),
            &["/name", "/settings/password/complexity/minLength"],
        );
    }
    for r in all(ResourceType::PolicyRules).iter().take(8) {
        op(
            RestoreAction::Update,
            ResourceType::PolicyRules,
            r["rule"]["id"].as_str(),
            &["/rule/actions/appSignOn/verificationMethod/factorMode"],
        );
    }
    for z in all(ResourceType::NetworkZones).iter().take(4) {
        op(
            RestoreAction::Create,
            ResourceType::NetworkZones,
            z["id"].as_str(),
            &["/gateways", "/name"],
        );
    }
    RestorePlan { operations }
}

/// The tenant after an admin's session, made of the tenant's own values so that the scan covers
/// them: the first 20 users take the next user's login, email and names and change status, 10
/// groups, apps, policies, rules and zones take the next one's name (a group its description
/// too), and 5 memberships go.
fn session(t: &TenantSnapshot) -> TenantSnapshot {
    let mut after = t.clone();
    let shift = |after: &mut TenantSnapshot, r: ResourceType, n: usize, paths: &[&str]| {
        let Some(objects) = after.resources.get_mut(&r) else {
            return;
        };
        let next: Vec<Value> = objects.iter().skip(1).take(n).cloned().collect();
        for (o, other) in objects.iter_mut().zip(next) {
            for path in paths {
                if let (Some(slot), Some(v)) = (o.pointer_mut(path), other.pointer(path)) {
                    *slot = v.clone();
                }
            }
        }
    };
    shift(
        &mut after,
        ResourceType::Users,
        20,
        &[
            "/profile/login",
            "/profile/email",
            "/profile/firstName",
            "/profile/lastName",
            "/profile/displayName",
            "/profile/mobilePhone",
            "/status",
        ],
    );
    shift(
        &mut after,
        ResourceType::Groups,
        10,
        &["/profile/name", "/profile/description"],
    );
    shift(&mut after, ResourceType::Apps, 10, &["/label"]);
    shift(&mut after, ResourceType::Policies, 10, &["/name"]);
    shift(&mut after, ResourceType::PolicyRules, 10, &["/rule/name"]);
    shift(
        &mut after,
        ResourceType::NetworkZones,
        10,
        &["/name", "/gateways"],
    );
    if let Some(members) = after.resources.get_mut(&ResourceType::GroupMembers) {
        members.drain(..members.len().min(5));
    }
    after
}

/// Every change of the session as a drift alert names it, built the way the alert route
/// builds it: from a capture summary of drift's own diff.
fn captured_drift(before: &TenantSnapshot, after: &TenantSnapshot) -> DriftAlert {
    let diff = crate::drift::diff_states(before, after, &Default::default()).unwrap();
    let summary = serde_json::to_value(&diff.changes).unwrap();
    let changes: Vec<DriftChange> = diff
        .changes
        .iter()
        .map(|c| {
            let kind = serde_json::to_value(c.kind).unwrap();
            DriftChange::of_alert(
                &summary,
                c.resource,
                c.id.as_str(),
                kind.as_str().unwrap(),
                &[],
            )
        })
        .collect();
    assert!(changes.len() > 40, "{}", changes.len());
    DriftAlert { changes }
}

/// The plan restoring the tenant before the session into the tenant after it (deleting
/// nothing), as the restore route converts a stored plan.
fn planned_restore(before: &TenantSnapshot, after: &TenantSnapshot) -> RestorePlan {
    let plan = crate::restore::plan(&crate::restore::PlanInput {
        source: before,
        target: after,
        scope: &crate::restore::Scope::Tenant,
        options: Default::default(),
        restoring_admin: None,
        credential: &crate::restore::access::Credential::ApiToken {
            roles: BTreeSet::from(["SUPER_ADMIN".to_string()]),
        },
        limits: Default::default(),
    })
    .unwrap();
    let plan = RestorePlan::from(&plan);
    assert!(plan.operations.len() > 20, "{}", plan.operations.len());
    plan
}

fn scan(name: &str, config: EmulatorConfig) {
    let started = Instant::now();
    let emulator = okta_emulator::start(config).unwrap();
    let tenant = collect(&emulator.base_url(), okta_emulator::DEFAULT_TOKEN);
    let users = tenant.resources[&ResourceType::Users].len();
    let collected = started.elapsed();

    eprintln!("{name}: collected in {:.1?}", started.elapsed());
    let values = identifying_values(&tenant);
    let fixed = fixed_words();
    let (exempt, values): (Vec<String>, Vec<String>) = values.into_iter().partition(|v| {
        !v.contains(|c: char| !c.is_alphanumeric()) && fixed.contains(&v.to_lowercase())
    });
    eprintln!(
        "{name}: {users} users collected in {collected:.1?}; {} identifying values; {} exempt as words of Butterfly's own text: {exempt:?}",
        values.len(),
        exempt.len()
    );
    assert!(exempt.len() <= 8, "too many exemptions: {exempt:?}");
    assert!(
        values.len() > users,
        "the scan covers every user at least once"
    );

    let now = chrono::DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let findings = evaluate(&tenant, &EvalContext::at(now));
    eprintln!("{name}: evaluated at {:.1?}", started.elapsed());
    let (alert, plan) = (drift(&tenant), restore(&tenant));
    // The prompts the drift-alert and restore-plan routes build, over the tenant as the
    // capture and the plan's target have it.
    let after = session(&tenant);
    let (captured, planned) = (
        captured_drift(&tenant, &after),
        planned_restore(&tenant, &after),
    );
    eprintln!(
        "{name}: session diffed and planned at {:.1?}",
        started.elapsed()
    );
    let mut subjects: Vec<(Subject, &TenantSnapshot)> = findings
        .iter()
        .filter(|f| matches!(f.outcome, Outcome::Fail | Outcome::Error))
        .map(|f| (Subject::Finding(f), &tenant))
        .collect();
    let finding_prompts = subjects.len();
    subjects.extend([
        (Subject::Drift(&alert), &tenant),
        (Subject::Restore(&plan), &tenant),
        (Subject::Drift(&captured), &after),
        (Subject::Restore(&planned), &after),
        (Subject::PrivilegedAccess, &tenant),
    ]);

    let http = Recorder {
        bodies: RefCell::default(),
        n: RefCell::new(0),
    };
    let clock = ManualClock::at(now);
    let config = super::config();
    let breakers = Breakers::default();
    let deps = Deps {
        http: &http,
        clock: &clock,
        config: &config,
        breakers: &breakers,
    };
    let policy = BudgetPolicy {
        monthly_tokens: u64::MAX / 4,
        daily_requests: 10_000,
        per_minute_requests: 10_000,
    };
    let mut usage = Usage::default();
    let settings = AiSettings {
        enabled: true,
        keep_answers: false,
    };
    let mut kinds = BTreeSet::new();
    for (subject, over) in subjects {
        let request = Ask {
            team: TeamId::parse("6f1c3a52-1d2e-4c9b-8a57-0d9a3a6c2b11").unwrap(),
            connection: None,
            requested_by: None,
            target: "scan".into(),
            subject,
        };
        let g = block_on(ask(&deps, settings, &policy, &mut usage, request, over)).unwrap();
        assert_eq!(g.record.outcome, RecordOutcome::Answered, "{:?}", g.record);
        kinds.insert(g.record.prompt);
        breakers.with(crate::ai::provider::ProviderId::Anthropic, |b| b.success());
        eprintln!("{name}: {:?} at {:.1?}", g.record.prompt, started.elapsed());
    }
    assert_eq!(kinds.len(), 4, "every prompt type was sent");
    let bodies = http.bodies.borrow();

    let matcher: AhoCorasick = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(&values)
        .unwrap();
    let mut leaks = Vec::new();
    let mut bytes = 0;
    for body in bodies.iter() {
        let decoded: Value = serde_json::from_str(body).unwrap();
        let mut text = body.clone();
        fn leaves(v: &Value, out: &mut String) {
            match v {
                Value::String(s) => {
                    out.push('\n');
                    out.push_str(s);
                }
                Value::Array(a) => a.iter().for_each(|v| leaves(v, out)),
                Value::Object(m) => m.values().for_each(|v| leaves(v, out)),
                _ => {}
            }
        }
        leaves(&decoded, &mut text);
        bytes += body.len();
        for m in matcher.find_overlapping_iter(&text) {
            let before = text[..m.start()].chars().next_back();
            let after = text[m.end()..].chars().next();
            let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
            if boundary(before) && boundary(after) {
                leaks.push(values[m.pattern().as_usize()].clone());
            }
        }
    }
    leaks.sort();
    leaks.dedup();
    eprintln!(
        "{name}: {} requests ({finding_prompts} findings + 2 drift + 2 restore + topology, with failover), {bytes} bytes scanned in {:.1?} total; {} leaks",
        bodies.len(),
        started.elapsed(),
        leaks.len()
    );
    assert!(
        leaks.is_empty(),
        "{name}: identifying values sent: {leaks:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("\"max_completion_tokens\"")),
        "OpenAI bodies scanned too"
    );
}

#[test]
fn no_identifying_value_leaves_for_the_demo_tenant() {
    scan("demo tenant", EmulatorConfig::default());
}

#[test]
fn no_identifying_value_leaves_for_a_10k_user_tenant() {
    let mut config = EmulatorConfig {
        users: 10_000,
        groups: 100,
        apps: 20,
        concurrency_limit: 1000,
        ..EmulatorConfig::default()
    };
    for bucket in Bucket::ALL {
        config.rate_limits.set(bucket, 1_000_000);
    }
    scan("10k-user tenant", config);
}
