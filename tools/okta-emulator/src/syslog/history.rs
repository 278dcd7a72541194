//! The sign-in traffic an org's System Log already holds when the emulator starts: users signing
//! in to Okta, the sign-on policy evaluated for them, and single sign-on into apps. None of it
//! changes the org's configuration.

use serde_json::{json, Value};

use super::event::{Actor, Client, Context, Emitted, Target};
use crate::prng::SplitMix64;
use crate::tenant::Tenant;

const DAY_MS: u64 = 86_400_000;

/// Where the org's users sign in from (documentation address ranges, invented places).
const PLACES: [(&str, &str, &str, &str, &str, f64, f64); 3] = [
    (
        "203.0.113.10",
        "San Francisco",
        "California",
        "United States",
        "94105",
        37.7897,
        -122.3972,
    ),
    (
        "198.51.100.20",
        "Chicago",
        "Illinois",
        "United States",
        "60601",
        41.8858,
        -87.6181,
    ),
    (
        "192.0.2.30",
        "London",
        "England",
        "United Kingdom",
        "EC2V",
        51.5142,
        -0.0931,
    ),
];

const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/127.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/127.0.0.0 Safari/537.36 Edg/127.0.2651.74",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:128.0) Gecko/20100101 Firefox/128.0",
];

/// `count` events, oldest first, spread over the day before `now_ms`.
pub(super) fn generate(
    rng: &mut SplitMix64,
    tenant: &Tenant,
    count: usize,
    now_ms: u64,
) -> Vec<(Context, Emitted)> {
    let active: Vec<&Value> = tenant
        .users()
        .iter()
        .filter(|u| u["status"] == "ACTIVE")
        .collect();
    let sign_on = tenant
        .policies()
        .iter()
        .find(|p| p["type"] == "OKTA_SIGN_ON" && p["system"] == true);
    let mut events = Vec::with_capacity(count);
    let start = now_ms.saturating_sub(DAY_MS);
    let step = DAY_MS / (count as u64 + 1);
    for n in 0..count {
        let user = active[rng.below(active.len() as u64) as usize];
        let place = PLACES[rng.below(PLACES.len() as u64) as usize];
        let context = Context {
            actor: Actor::user(user),
            client: Client {
                ip_address: place.0.to_owned(),
                user_agent: AGENTS[rng.below(AGENTS.len() as u64) as usize].to_owned(),
                geo: Some(json!({
                    "city": place.1,
                    "state": place.2,
                    "country": place.3,
                    "postalCode": place.4,
                    "geolocation": { "lat": place.5, "lon": place.6 },
                })),
            },
            transaction_id: rng.base62(27),
            request_uri: "/idp/idx/identify".to_owned(),
            published_ms: Some(start + step * (n as u64 + 1)),
        };
        let emitted = match n % 3 {
            0 => Emitted::new("user.session.start", Vec::new()),
            1 => Emitted::new("policy.evaluate_sign_on", policy_targets(tenant, sign_on)),
            _ => match tenant
                .apps()
                .get(rng.below(tenant.apps().len().max(1) as u64) as usize)
            {
                Some(app) => {
                    let id = app["id"].as_str().unwrap_or_default();
                    let label = app["label"].as_str().unwrap_or_default();
                    let target = Target::new(id, "AppInstance", label, label);
                    Emitted::new("user.authentication.sso", vec![target])
                }
                None => Emitted::new("user.session.start", Vec::new()),
            },
        };
        events.push((context, emitted));
    }
    events
}

/// The default sign-on policy and its default rule, as `policy.evaluate_sign_on` names them.
fn policy_targets(tenant: &Tenant, policy: Option<&Value>) -> Vec<Target> {
    let Some(policy) = policy else {
        return Vec::new();
    };
    let id = policy["id"].as_str().unwrap_or_default();
    let mut policy_target = Target::new(
        id,
        "PolicyEntity",
        "unknown",
        policy["name"].as_str().unwrap_or_default(),
    );
    policy_target.detail_entry = Some(json!({ "policyType": "OktaSignOn" }));
    let mut targets = vec![policy_target];
    if let Some(rule) = tenant.policy_rules(id).and_then(|r| r.last()) {
        targets.push(Target::new(
            rule["id"].as_str().unwrap_or_default(),
            "PolicyRule",
            id,
            rule["name"].as_str().unwrap_or_default(),
        ));
    }
    targets
}
