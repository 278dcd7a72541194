//! The objects Okta creates in every org, and the empty "sandbox" org that has only them.
//!
//! Every org has the `Everyone` group, a system default policy (with its default rule) of each
//! policy type, the `default` authorization server, the system network zones (`LegacyIpZone`,
//! `BlockedIpZone`, `DefaultEnhancedDynamicZone`, `DefaultExemptIpZone`; the last two are the
//! spec's `DefaultEnhancedDynamicNetworkZone` and `UpdateDefaultExemptIpZoneResponse` examples)
//! and the first-party apps, the Okta Admin Console (`saasure`) and the Okta Dashboard
//! (`okta_enduser`), each with the app sign-in policy Okta gives it. A restore updates these,
//! never creates them.

use serde_json::{json, Value};

use super::{id_of, link, link_allowing, AppUsers, Collection, Tenant, ORIGIN_PLACEHOLDER};
use crate::prng::SplitMix64;

impl Tenant {
    /// This org with every object Okta creates in an org: the system zones and first-party apps
    /// the seeded tenant lacks are added (the rest are generated with it).
    pub fn with_okta_defaults(mut self, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed ^ 0x6465_6661_756C_7473);
        let zones: Vec<Value> = serde_json::from_str(include_str!("data/default_zones.json"))
            .expect("embedded zones are valid JSON");
        for zone in zones {
            if self.settings.network_zones.get(&id_of(&zone)).is_none() {
                self.settings.network_zones.insert(zone, None);
            }
        }
        let has = |t: &Tenant, name: &str| t.apps.items().iter().any(|a| a["name"] == name);
        for (name, label, factor_mode, reauthenticate) in [
            ("saasure", "Okta Admin Console", "2FA", "PT12H"),
            ("okta_enduser", "Okta Dashboard", "1FA", "PT12H"),
        ] {
            if has(&self, name) {
                continue;
            }
            let (policy, rules) = app_policy(&mut rng, label, factor_mode, reauthenticate);
            let policy_id = id_of(&policy);
            self.add_access_policy(policy, rules);
            let app = first_party_app(&mut rng, name, label, &policy_id, &id_of(&self.org));
            self.app_users.insert(id_of(&app), AppUsers::empty(&app));
            self.app_groups.insert(id_of(&app), Collection::default());
            self.apps.insert(app, None);
        }
        self
    }

    /// An empty org, as a new sandbox is: only the super admin the API tokens belong to, and the
    /// objects Okta creates in every org (see [`Tenant::with_okta_defaults`]). Restores and
    /// recovery drills write into it.
    pub fn sandbox(seed: u64) -> Self {
        let mut org = Tenant::generate(seed, 1, 0, 0);
        let custom = |p: &Value| p["system"] != true;
        let (kept, dropped): (Vec<Value>, Vec<Value>) = std::mem::take(&mut org.policies.items)
            .into_iter()
            // The spec-example policy types are each the org's only one of its type.
            .partition(|p| !custom(p) || is_singleton_type(p));
        for policy in &dropped {
            org.policy_rules.remove(&id_of(policy));
        }
        org.policies = Collection::from_items(kept);
        for rules in org.policy_rules.values_mut() {
            let system: Vec<Value> = rules
                .items()
                .iter()
                .filter(|r| r["system"] == true)
                .cloned()
                .collect();
            if !system.is_empty() {
                *rules = Collection::from_items(system);
            }
        }
        let settings = &mut org.settings;
        settings.group_rules = Collection::default();
        settings.idps = Collection::default();
        settings.event_hooks = Collection::default();
        settings.inline_hooks = Collection::default();
        settings.group_roles.clear();
        let system_zones: Vec<Value> = settings
            .network_zones
            .items()
            .iter()
            .filter(|z| z["system"] == true)
            .cloned()
            .collect();
        settings.network_zones = Collection::from_items(system_zones);
        org.org["subdomain"] = json!("example-sandbox");
        org.org["companyName"] = json!("Example Corp Sandbox");
        org.with_okta_defaults(seed)
    }

    fn add_access_policy(&mut self, policy: Value, rules: Vec<Value>) {
        let id = id_of(&policy);
        self.policy_rules.insert(id, Collection::from_items(rules));
        // App sign-in policies sit with their type, before the system default.
        let at = self
            .policies
            .items()
            .iter()
            .position(|p| p["type"] == "ACCESS_POLICY" && p["system"] == true);
        self.policies.insert(policy, at);
    }
}

/// Types the spec's examples supply one policy each of, which an org keeps.
fn is_singleton_type(policy: &Value) -> bool {
    matches!(
        policy["type"].as_str(),
        Some(
            "IDP_DISCOVERY"
                | "ENTITY_RISK"
                | "POST_AUTH_SESSION"
                | "SESSION_VIOLATION_DETECTION"
                | "CLIENT_UPDATE"
                | "IDENTITY_CLAIM_SOURCING"
        )
    )
}

/// A first-party app's sign-in policy: Okta's preset policy with one catch-all rule.
fn app_policy(
    rng: &mut SplitMix64,
    label: &str,
    factor_mode: &str,
    reauthenticate: &str,
) -> (Value, Vec<Value>) {
    let id = rng.okta_id("rst");
    let rule_id = rng.okta_id("rul");
    let path = format!("/api/v1/policies/{id}");
    let created = "2024-01-01T00:00:00.000Z";
    let policy = json!({
        "id": id,
        "type": "ACCESS_POLICY",
        "status": "ACTIVE",
        "name": label,
        "description": format!("The app sign-in policy of the {label}."),
        "priority": 1,
        "system": false,
        "conditions": null,
        "created": created,
        "lastUpdated": created,
        "_links": {
            "self": link_allowing(&path, &["GET", "PUT"]),
            "rules": link_allowing(&format!("{path}/rules"), &["GET", "POST"]),
            "mappings": link_allowing(&format!("{path}/mappings"), &["GET", "POST"]),
        },
    });
    let rule = json!({
        "id": rule_id,
        "status": "ACTIVE",
        "name": "Catch-all Rule",
        "priority": 99,
        "created": created,
        "lastUpdated": created,
        "system": true,
        "actions": { "appSignOn": { "access": "ALLOW", "verificationMethod": {
            "type": "ASSURANCE",
            "factorMode": factor_mode,
            "reauthenticateIn": reauthenticate,
            "constraints": [],
        } } },
        "_links": { "self": link_allowing(&format!("{path}/rules/{rule_id}"), &["GET", "PUT"]) },
        "type": "ACCESS_POLICY",
    });
    (policy, vec![rule])
}

/// The Admin Console or the Dashboard: OIDC apps of Okta's own, signed in through the org.
fn first_party_app(
    rng: &mut SplitMix64,
    name: &str,
    label: &str,
    policy: &str,
    org_id: &str,
) -> Value {
    let id = rng.okta_id("0oa");
    let client = format!(
        "okta.{}-{}-{}-{}-{}",
        rng.base62(8).to_lowercase(),
        rng.base62(4).to_lowercase(),
        rng.base62(4).to_lowercase(),
        rng.base62(4).to_lowercase(),
        rng.base62(12).to_lowercase()
    );
    let path = format!("/api/v1/apps/{id}");
    json!({
        "id": id,
        "orn": format!("orn:okta:idp:{org_id}:apps:{name}:{id}"),
        "name": name,
        "label": label,
        "status": "ACTIVE",
        "created": "2024-01-01T00:00:00.000Z",
        "lastUpdated": "2024-01-01T00:00:00.000Z",
        "accessibility": { "selfService": false },
        "visibility": {
            "autoSubmitToolbar": false,
            "hide": { "iOS": true, "web": true },
            "appLinks": {},
        },
        "features": [],
        "signOnMode": "OPENID_CONNECT",
        "credentials": {
            "userNameTemplate": { "template": "${source.login}", "type": "BUILT_IN" },
            "signing": { "kid": rng.base62(43) },
            "oauthClient": {
                "autoKeyRotation": true,
                "client_id": client,
                "token_endpoint_auth_method": "none",
                "pkce_required": true,
            },
        },
        "settings": {
            "notifications": { "vpn": { "network": { "connection": "DISABLED" } } },
            "oauthClient": {
                "client_uri": format!("{ORIGIN_PLACEHOLDER}"),
                "redirect_uris": [format!("{ORIGIN_PLACEHOLDER}/enduser/callback")],
                "response_types": ["code"],
                "grant_types": ["authorization_code"],
                "application_type": "browser",
                "consent_method": "TRUSTED",
                "issuer_mode": "ORG_URL",
                "idp_initiated_login": { "mode": "DISABLED" },
                "wildcard_redirect": "DISABLED",
            },
        },
        "_links": {
            "self": link(&path),
            "users": link(&format!("{path}/users")),
            "groups": link(&format!("{path}/groups")),
            "accessPolicy": link(&format!("/api/v1/policies/{policy}")),
            "logo": [{
                "name": "medium",
                "href": format!("{ORIGIN_PLACEHOLDER}/assets/img/logos/okta.png"),
                "type": "image/png",
            }],
        },
    })
}
