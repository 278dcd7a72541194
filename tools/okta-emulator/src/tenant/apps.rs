//! Apps of several sign-on modes with user and group assignments. Secrets never appear: OIDC
//! clients have no `client_secret`, SWA apps show that a password exists only as `{}`.

use serde_json::{json, Value};

use super::groups::SeededGroup;
use super::names::APPS;
use super::{link, random_instant, stamp, DAY_MS, ORIGIN_PLACEHOLDER};
use crate::prng::SplitMix64;

/// Sign-on modes in the order apps cycle through them, so five apps cover every mode.
const MODES: [&str; 5] = [
    "SAML_2_0",
    "OPENID_CONNECT",
    "BOOKMARK",
    "AUTO_LOGIN",
    "BROWSER_PLUGIN",
];

pub(super) struct Context<'a> {
    pub(super) count: usize,
    pub(super) org_id: &'a str,
    pub(super) subdomain: &'a str,
    pub(super) users: &'a [Value],
    pub(super) groups: &'a [SeededGroup],
    /// Default ACCESS_POLICY, which SAML and OIDC apps link to as their authentication policy.
    pub(super) access_policy_id: &'a str,
}

pub(super) struct SeededApp {
    pub(super) app: Value,
    pub(super) users: AppUsers,
    pub(super) groups: Vec<Value>,
}

pub(super) fn generate(rng: &mut SplitMix64, ctx: &Context) -> Vec<SeededApp> {
    let eligible: Vec<usize> = (0..ctx.users.len())
        .filter(|&u| ctx.users[u]["status"] != "DEPROVISIONED")
        .collect();
    (0..ctx.count)
        .map(|i| {
            let app = app(rng, ctx, i);
            let (users, groups) = assignments(rng, ctx, &app, i, &eligible);
            SeededApp { app, users, groups }
        })
        .collect()
}

fn app(rng: &mut SplitMix64, ctx: &Context, i: usize) -> Value {
    let mode = MODES[i % MODES.len()];
    let (base_label, url) = APPS[i % APPS.len()];
    let label = match i / APPS.len() {
        0 => base_label.to_owned(),
        n => format!("{base_label} {}", n + 1),
    };
    let slug: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let id = rng.okta_id("0oa");
    let name = match mode {
        "OPENID_CONNECT" => "oidc_client".to_owned(),
        "BOOKMARK" => "bookmark".to_owned(),
        "BROWSER_PLUGIN" => "template_swa".to_owned(),
        _ => format!("{}_{slug}_1", ctx.subdomain),
    };
    let active = i < MODES.len() || !rng.chance(15);
    let created = random_instant(rng, 300);
    let app_link_name = match mode {
        "SAML_2_0" | "OPENID_CONNECT" => format!("{name}_link"),
        _ => "login".to_owned(),
    };
    let path = format!("/api/v1/apps/{id}");

    let mut links = json!({
        "self": link(&path),
        "users": link(&format!("{path}/users")),
        "groups": link(&format!("{path}/groups")),
        "logo": [{
            "name": "medium",
            "href": format!("{ORIGIN_PLACEHOLDER}/assets/img/logos/default.png"),
            "type": "image/png",
        }],
        "appLinks": [{
            "name": app_link_name,
            "href": format!("{ORIGIN_PLACEHOLDER}/home/{name}/{id}/{}", rng.okta_id("aln")),
            "type": "text/html",
        }],
    });
    let lifecycle = if active { "deactivate" } else { "activate" };
    links[lifecycle] = link(&format!("{path}/lifecycle/{lifecycle}"));
    if matches!(mode, "SAML_2_0" | "OPENID_CONNECT") {
        links["accessPolicy"] = link(&format!("/api/v1/policies/{}", ctx.access_policy_id));
    }
    if mode == "SAML_2_0" {
        links["metadata"] = json!({
            "href": format!("{ORIGIN_PLACEHOLDER}{path}/sso/saml/metadata"),
            "type": "application/xml",
        });
    }

    json!({
        "id": id,
        "orn": format!("orn:okta:idp:{}:apps:{name}:{id}", ctx.org_id),
        "name": name,
        "label": label,
        "status": if active { "ACTIVE" } else { "INACTIVE" },
        "created": stamp(created),
        "lastUpdated": stamp(created + random_instant(rng, 60)),
        "accessibility": { "selfService": false },
        "visibility": {
            "autoSubmitToolbar": false,
            "hide": { "iOS": false, "web": false },
            "appLinks": { app_link_name: true },
        },
        "features": [],
        "signOnMode": mode,
        "credentials": credentials(rng, mode, &id),
        "settings": settings(mode, url),
        "_links": links,
    })
}

fn credentials(rng: &mut SplitMix64, mode: &str, id: &str) -> Value {
    let template = json!({ "template": "${source.login}", "type": "BUILT_IN" });
    match mode {
        "SAML_2_0" => json!({ "userNameTemplate": template, "signing": { "kid": rng.base62(43) } }),
        "OPENID_CONNECT" => json!({
            "userNameTemplate": template,
            "signing": { "kid": rng.base62(43) },
            // Okta never returns `client_secret`; a backup can only record that one exists.
            "oauthClient": {
                "autoKeyRotation": true,
                "client_id": id,
                "token_endpoint_auth_method": "client_secret_basic",
                "pkce_required": false,
            },
        }),
        "AUTO_LOGIN" | "BROWSER_PLUGIN" => json!({
            "scheme": "EDIT_USERNAME_AND_PASSWORD",
            "userNameTemplate": template,
            "revealPassword": false,
            "signing": {},
        }),
        _ => json!({ "userNameTemplate": template, "signing": {} }),
    }
}

fn settings(mode: &str, url: &str) -> Value {
    let mut settings = json!({
        "notifications": { "vpn": { "network": { "connection": "DISABLED" } } },
    });
    match mode {
        "SAML_2_0" => {
            settings["signOn"] = json!({
                "defaultRelayState": "",
                "ssoAcsUrl": format!("{url}/sso/saml"),
                "idpIssuer": "http://www.okta.com/${org.externalKey}",
                "audience": url,
                "recipient": format!("{url}/sso/saml"),
                "destination": format!("{url}/sso/saml"),
                "subjectNameIdTemplate": "${user.userName}",
                "subjectNameIdFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
                "responseSigned": true,
                "assertionSigned": true,
                "signatureAlgorithm": "RSA_SHA256",
                "digestAlgorithm": "SHA256",
                "honorForceAuthn": true,
                "authnContextClassRef":
                    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
                "requestCompressed": false,
                "allowMultipleAcsEndpoints": false,
                "acsEndpoints": [],
                "slo": { "enabled": false },
                "assertionEncryption": { "enabled": false },
                "attributeStatements": [{
                    "type": "EXPRESSION",
                    "name": "email",
                    "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified",
                    "values": ["user.email"],
                }],
            });
        }
        "OPENID_CONNECT" => {
            settings["oauthClient"] = json!({
                "client_uri": url,
                "redirect_uris": [format!("{url}/oauth2/callback")],
                "post_logout_redirect_uris": [url],
                "response_types": ["code"],
                "grant_types": ["authorization_code", "refresh_token"],
                "application_type": "web",
                "consent_method": "TRUSTED",
                "issuer_mode": "ORG_URL",
                "idp_initiated_login": { "mode": "DISABLED" },
                "refresh_token": { "rotation_type": "ROTATE", "leeway": 30 },
                "wildcard_redirect": "DISABLED",
            });
        }
        "BOOKMARK" => settings["app"] = json!({ "requestIntegration": false, "url": url }),
        "AUTO_LOGIN" => {
            settings["signOn"] = json!({ "loginUrl": format!("{url}/login"), "redirectUrl": url });
        }
        _ => {
            settings["app"] = json!({
                "buttonField": "btn-login",
                "passwordField": "txtbox-password",
                "usernameField": "txtbox-username",
                "url": format!("{url}/login"),
            });
        }
    }
    settings
}

/// An app's user assignments. Kept compact — large orgs assign big groups to many apps — and
/// rendered into `AppUser` payloads a page at a time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AppUsers {
    app_id: String,
    swa: bool,
    /// Ordered by user index, so lookups can binary-search.
    records: Vec<AppUserRecord>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AppUserRecord {
    /// Index into the tenant's users.
    pub(crate) user: usize,
    /// Index into the tenant's groups, for an assignment that comes from a group (`scope: GROUP`);
    /// `None` for a direct one (`scope: USER`), which wins over any group.
    pub(crate) group: Option<usize>,
    /// When the assignment was made or last changed, in milliseconds after the org's creation.
    assigned_ms: i64,
    /// The app-specific profile of a direct assignment; `{}` when absent.
    profile: Option<Box<Value>>,
}

impl AppUserRecord {
    /// A record made now (`now_ms`: epoch milliseconds).
    pub(crate) fn new(
        user: usize,
        group: Option<usize>,
        now_ms: u64,
        profile: Option<Value>,
    ) -> Self {
        Self {
            user,
            group,
            assigned_ms: i64::try_from(now_ms).unwrap_or(i64::MAX) - super::ORG_CREATED_MS,
            profile: profile.map(Box::new),
        }
    }

    pub(crate) fn profile(&self) -> Option<&Value> {
        self.profile.as_deref()
    }

    pub(crate) fn set_profile(&mut self, profile: Option<Value>) {
        self.profile = profile.map(Box::new);
    }

    pub(crate) fn touch(&mut self, now_ms: u64) {
        self.assigned_ms = i64::try_from(now_ms).unwrap_or(i64::MAX) - super::ORG_CREATED_MS;
    }
}

impl AppUsers {
    /// An app with no assignments yet.
    pub(crate) fn empty(app: &Value) -> Self {
        Self {
            app_id: app["id"].as_str().unwrap_or_default().to_owned(),
            swa: is_swa(app),
            records: Vec::new(),
        }
    }

    pub(crate) fn records(&self) -> &[AppUserRecord] {
        &self.records
    }

    pub(crate) fn records_mut(&mut self) -> &mut Vec<AppUserRecord> {
        &mut self.records
    }

    pub(crate) fn find(&self, user: usize) -> Option<&AppUserRecord> {
        let i = self.records.binary_search_by_key(&user, |r| r.user).ok()?;
        Some(&self.records[i])
    }

    /// The record of `user`, or where it would go.
    pub(crate) fn search(&self, user: usize) -> Result<usize, usize> {
        self.records.binary_search_by_key(&user, |r| r.user)
    }

    /// The `AppUser` payload for one assignment.
    pub(crate) fn render(
        &self,
        record: &AppUserRecord,
        users: &[Value],
        groups: &[Value],
    ) -> Value {
        let app_id = &self.app_id;
        let user = &users[record.user];
        let user_id = user["id"].as_str().unwrap_or_default();
        let assigned = stamp(record.assigned_ms);
        let mut credentials = json!({ "userName": user["profile"]["login"] });
        if self.swa {
            // Okta shows that an SWA password exists, never the password.
            credentials["password"] = json!({});
        }
        let mut links = json!({
            "app": link(&format!("/api/v1/apps/{app_id}")),
            "user": link(&format!("/api/v1/users/{user_id}")),
        });
        if let Some(group) = record.group {
            let group_id = groups[group]["id"].as_str().unwrap_or_default();
            links["group"] = link(&format!("/api/v1/groups/{group_id}"));
        }
        json!({
            "id": user_id,
            "scope": if record.group.is_some() { "GROUP" } else { "USER" },
            "status": "ACTIVE",
            "syncState": "DISABLED",
            "created": assigned,
            "lastUpdated": assigned,
            "statusChanged": assigned,
            "passwordChanged": if self.swa { json!(assigned) } else { Value::Null },
            "credentials": credentials,
            "profile": record.profile().cloned().unwrap_or_else(|| json!({})),
            "_links": links,
        })
    }
}

/// Assigns a few groups (with `priority` in assignment order) and some users directly. The app's
/// users are the direct assignees (`scope: USER`) and members of assigned groups (`scope: GROUP`),
/// drawn from `eligible` users only: Okta removes a DEPROVISIONED user's assignments.
fn assignments(
    rng: &mut SplitMix64,
    ctx: &Context,
    app: &Value,
    i: usize,
    eligible: &[usize],
) -> (AppUsers, Vec<Value>) {
    let app_id = app["id"].as_str().unwrap_or_default();

    let mut assigned: Vec<usize> = Vec::new();
    if rng.chance(15) {
        assigned.push(0);
    }
    if ctx.groups.len() > 1 {
        for _ in 0..rng.below(3.min(ctx.groups.len() as u64 - 1) + 1) {
            let group = 1 + rng.below(ctx.groups.len() as u64 - 1) as usize;
            if !assigned.contains(&group) {
                assigned.push(group);
            }
        }
    }
    let groups = assigned
        .iter()
        .enumerate()
        .map(|(priority, &g)| {
            let group_id = ctx.groups[g].group["id"].as_str().unwrap_or_default();
            json!({
                "id": group_id,
                "priority": priority,
                "lastUpdated": stamp(300 * DAY_MS + random_instant(rng, 60)),
                "profile": {},
                "_links": {
                    "app": link(&format!("/api/v1/apps/{app_id}")),
                    "self": link(&format!("/api/v1/apps/{app_id}/groups/{group_id}")),
                    "group": link(&format!("/api/v1/groups/{group_id}")),
                },
            })
        })
        .collect();

    // The group each user is assigned through: the highest-priority one, hence filled in reverse.
    let mut via_group: Vec<Option<usize>> = vec![None; ctx.users.len()];
    for &g in assigned.iter().rev() {
        for &member in &ctx.groups[g].members {
            via_group[member] = Some(g);
        }
    }
    // About one user in ten is assigned directly in a small org, ~200 per app in a big one.
    let mut direct = vec![false; ctx.users.len()];
    if !eligible.is_empty() {
        let count = (eligible.len() / 10).min(200);
        for _ in 0..count {
            direct[*rng.pick(eligible)] = true;
        }
    }
    if i == 0 {
        direct[0] = true;
    }
    let records = eligible
        .iter()
        .filter(|&&u| direct[u] || via_group[u].is_some())
        .map(|&u| AppUserRecord {
            user: u,
            group: if direct[u] { None } else { via_group[u] },
            assigned_ms: 300 * DAY_MS + random_instant(rng, 90),
            profile: None,
        })
        .collect();
    let users = AppUsers {
        app_id: app_id.to_owned(),
        swa: is_swa(app),
        records,
    };
    (users, groups)
}

/// SWA apps keep a password per assigned user (shown only as `{}`).
fn is_swa(app: &Value) -> bool {
    matches!(
        app["signOnMode"].as_str(),
        Some("AUTO_LOGIN" | "BROWSER_PLUGIN")
    )
}
