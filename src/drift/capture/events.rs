//! System Log events: the fields a change capture reads, which configuration-changing event
//! types it follows (as data, [`EVENT_TYPES`]), which resources each one touched, and who made
//! the change (attribution), including Butterfly's own writes.
//!
//! Okta's event catalogue names the event types; a `LogEvent`'s `target` array names the objects
//! by `type` (`User`, `UserGroup`, `AppInstance`, `PolicyEntity`, ...). Event types not listed
//! here (sign-ins, token grants, MFA challenges, ...) change no configuration and are skipped.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::tenant::ResourceType;

/// What a capture reads of one `LogEvent` (the spec's schema; every other field is ignored).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    pub uuid: String,
    pub published: DateTime<Utc>,
    pub event_type: String,
    #[serde(default)]
    pub actor: Option<LogActor>,
    #[serde(default)]
    pub client: Option<LogClient>,
    #[serde(default)]
    pub transaction: Option<LogTransaction>,
    /// `null` for events without targets.
    #[serde(default)]
    pub target: Option<Vec<LogTarget>>,
    #[serde(default)]
    pub outcome: Option<LogOutcome>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogActor {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub alternate_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogClient {
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<LogUserAgent>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogUserAgent {
    #[serde(default)]
    pub raw_user_agent: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct LogTransaction {
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogTarget {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub alternate_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct LogOutcome {
    #[serde(default)]
    pub result: Option<String>,
}

/// What one event makes a capture re-read from Okta: one resource, or the children of one
/// parent that Okta lists together.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "read", rename_all = "snake_case")]
pub enum Touched {
    /// A top-level resource by id (`GET /api/v1/<type>/{id}`; 404: removed).
    Item { resource: ResourceType, id: String },
    /// A rule of a policy.
    PolicyRule { policy: String, rule: String },
    /// One user's membership of one group (read from the user's groups).
    Membership { group: String, user: String },
    /// One user's direct assignment to an app.
    AppUser { app: String, user: String },
    /// One group's assignment to an app.
    AppGroup { app: String, group: String },
    /// Every admin role assigned to a user.
    UserRoles { user: String },
    /// Every admin role assigned to a group.
    GroupRoles { group: String },
    /// An authorization server's scopes, claims, policies and policy rules.
    AuthServerChildren { server: String },
    /// The org's ThreatInsight configuration.
    ThreatInsight,
}

impl Touched {
    /// The resource types a re-read of this returns.
    pub fn resources(&self) -> &'static [ResourceType] {
        use ResourceType as R;
        match self {
            Touched::Item { resource, .. } => match resource {
                R::Users => &[R::Users],
                R::Groups => &[R::Groups],
                R::Apps => &[R::Apps],
                R::Policies => &[R::Policies],
                R::GroupRules => &[R::GroupRules],
                R::Authenticators => &[R::Authenticators],
                R::NetworkZones => &[R::NetworkZones],
                R::Idps => &[R::Idps],
                R::EventHooks => &[R::EventHooks],
                R::InlineHooks => &[R::InlineHooks],
                R::ApiTokens => &[R::ApiTokens],
                R::AuthorizationServers => &[R::AuthorizationServers],
                _ => &[],
            },
            Touched::PolicyRule { .. } => &[R::PolicyRules],
            Touched::Membership { .. } => &[R::GroupMembers],
            Touched::AppUser { .. } => &[R::AppUserAssignments],
            Touched::AppGroup { .. } => &[R::AppGroupAssignments],
            Touched::UserRoles { .. } => &[R::UserRoles],
            Touched::GroupRoles { .. } => &[R::GroupRoles],
            Touched::AuthServerChildren { .. } => &[
                R::AuthorizationServerScopes,
                R::AuthorizationServerClaims,
                R::AuthorizationServerPolicies,
                R::AuthorizationServerPolicyRules,
            ],
            Touched::ThreatInsight => &[R::ThreatInsight],
        }
    }

    /// Whether the resource with key `key` of type `resource` lies in what this re-read covers
    /// (so a captured resource the re-read no longer returns was removed).
    pub fn covers(&self, resource: ResourceType, key: &str) -> bool {
        if !self.resources().contains(&resource) {
            return false;
        }
        let exact = |k: String| key == k;
        let under = |parent: &str| {
            key.strip_prefix(parent)
                .is_some_and(|rest| rest.starts_with('/'))
        };
        match self {
            Touched::Item { id, .. } => key == id,
            Touched::PolicyRule { policy, rule } => exact(format!("{policy}/{rule}")),
            Touched::Membership { group, user } => exact(format!("{group}/{user}")),
            Touched::AppUser { app, user } => exact(format!("{app}/{user}")),
            Touched::AppGroup { app, group } => exact(format!("{app}/{group}")),
            Touched::UserRoles { user } => under(user),
            Touched::GroupRoles { group } => under(group),
            Touched::AuthServerChildren { server } => under(server),
            Touched::ThreatInsight => true,
        }
    }
}

/// How an event type names what it touched, by the `type` of its targets.
#[derive(Clone, Copy, Debug)]
pub enum Touch {
    /// Each target of one of these types is a resource of this type.
    Item(ResourceType, &'static [&'static str]),
    PolicyRule,
    Membership,
    AppUser,
    AppGroup,
    UserRoles,
    GroupRoles,
    /// A child of an authorization server (scope, claim): the server target names the parent.
    AuthServerChild,
    ThreatInsight,
}

/// One followed event type and what it touches.
#[derive(Clone, Copy, Debug)]
pub struct EventType {
    pub name: &'static str,
    pub touch: Touch,
}

const USER: &[&str] = &["User"];
const GROUP: &[&str] = &["UserGroup"];
const APP: &[&str] = &["AppInstance"];
const POLICY: &[&str] = &["PolicyEntity", "Policy"];
const RULE: &[&str] = &["PolicyRule"];
const ZONE: &[&str] = &["NetworkZone", "Zone"];
const AUTHENTICATOR: &[&str] = &["Authenticator"];
const AUTH_SERVER: &[&str] = &["AuthorizationServer"];
const IDP: &[&str] = &["IdentityProvider"];
const EVENT_HOOK: &[&str] = &["EventHook"];
const INLINE_HOOK: &[&str] = &["InlineHook"];
const TOKEN: &[&str] = &["Token", "ApiToken"];
const GROUP_RULE: &[&str] = &["GroupRule"];

const fn item(
    name: &'static str,
    resource: ResourceType,
    types: &'static [&'static str],
) -> EventType {
    EventType {
        name,
        touch: Touch::Item(resource, types),
    }
}

const fn touch(name: &'static str, touch: Touch) -> EventType {
    EventType { name, touch }
}

use ResourceType as R;

/// Every configuration-changing event type a capture follows (Okta's event type catalogue,
/// developer.okta.com/docs/reference/api/event-types/). docs/drift.md lists the same table; a
/// test holds the two together.
pub const EVENT_TYPES: &[EventType] = &[
    // User lifecycle and account.
    item("user.lifecycle.create", R::Users, USER),
    item("user.lifecycle.activate", R::Users, USER),
    item("user.lifecycle.reactivate", R::Users, USER),
    item("user.lifecycle.deactivate", R::Users, USER),
    item("user.lifecycle.suspend", R::Users, USER),
    item("user.lifecycle.unsuspend", R::Users, USER),
    item("user.lifecycle.delete.initiated", R::Users, USER),
    item("user.lifecycle.delete.completed", R::Users, USER),
    item("user.account.update_profile", R::Users, USER),
    item("user.account.unlock_by_admin", R::Users, USER),
    item("user.account.expire_password", R::Users, USER),
    // Groups and memberships.
    item("group.lifecycle.create", R::Groups, GROUP),
    item("group.lifecycle.delete", R::Groups, GROUP),
    item("group.profile.update", R::Groups, GROUP),
    touch("group.user_membership.add", Touch::Membership),
    touch("group.user_membership.remove", Touch::Membership),
    item(
        "group.user_membership.rule.deactivated",
        R::GroupRules,
        GROUP_RULE,
    ),
    // Apps and assignments.
    item("application.lifecycle.create", R::Apps, APP),
    item("application.lifecycle.update", R::Apps, APP),
    item("application.lifecycle.activate", R::Apps, APP),
    item("application.lifecycle.deactivate", R::Apps, APP),
    item("application.lifecycle.delete", R::Apps, APP),
    touch("application.user_membership.add", Touch::AppUser),
    touch("application.user_membership.update", Touch::AppUser),
    touch("application.user_membership.remove", Touch::AppUser),
    touch("group.application_assignment.add", Touch::AppGroup),
    touch("group.application_assignment.update", Touch::AppGroup),
    touch("group.application_assignment.remove", Touch::AppGroup),
    // Policies and rules.
    item("policy.lifecycle.create", R::Policies, POLICY),
    item("policy.lifecycle.update", R::Policies, POLICY),
    item("policy.lifecycle.activate", R::Policies, POLICY),
    item("policy.lifecycle.deactivate", R::Policies, POLICY),
    item("policy.lifecycle.delete", R::Policies, POLICY),
    touch("policy.rule.add", Touch::PolicyRule),
    touch("policy.rule.update", Touch::PolicyRule),
    touch("policy.rule.activate", Touch::PolicyRule),
    touch("policy.rule.deactivate", Touch::PolicyRule),
    touch("policy.rule.delete", Touch::PolicyRule),
    // Network zones.
    item("zone.create", R::NetworkZones, ZONE),
    item("zone.update", R::NetworkZones, ZONE),
    item("zone.activate", R::NetworkZones, ZONE),
    item("zone.deactivate", R::NetworkZones, ZONE),
    item("zone.delete", R::NetworkZones, ZONE),
    // Authenticators.
    item(
        "security.authenticator.lifecycle.create",
        R::Authenticators,
        AUTHENTICATOR,
    ),
    item(
        "security.authenticator.lifecycle.update",
        R::Authenticators,
        AUTHENTICATOR,
    ),
    item(
        "security.authenticator.lifecycle.activate",
        R::Authenticators,
        AUTHENTICATOR,
    ),
    item(
        "security.authenticator.lifecycle.deactivate",
        R::Authenticators,
        AUTHENTICATOR,
    ),
    // Authorization servers.
    item("oauth2.as.created", R::AuthorizationServers, AUTH_SERVER),
    item("oauth2.as.updated", R::AuthorizationServers, AUTH_SERVER),
    item("oauth2.as.activated", R::AuthorizationServers, AUTH_SERVER),
    item(
        "oauth2.as.deactivated",
        R::AuthorizationServers,
        AUTH_SERVER,
    ),
    item("oauth2.as.deleted", R::AuthorizationServers, AUTH_SERVER),
    touch("oauth2.scope.created", Touch::AuthServerChild),
    touch("oauth2.scope.updated", Touch::AuthServerChild),
    touch("oauth2.scope.deleted", Touch::AuthServerChild),
    touch("oauth2.claim.created", Touch::AuthServerChild),
    touch("oauth2.claim.updated", Touch::AuthServerChild),
    touch("oauth2.claim.deleted", Touch::AuthServerChild),
    // Identity providers.
    item("system.idp.lifecycle.create", R::Idps, IDP),
    item("system.idp.lifecycle.update", R::Idps, IDP),
    item("system.idp.lifecycle.activate", R::Idps, IDP),
    item("system.idp.lifecycle.deactivate", R::Idps, IDP),
    item("system.idp.lifecycle.delete", R::Idps, IDP),
    // Hooks.
    item("event_hook.created", R::EventHooks, EVENT_HOOK),
    item("event_hook.updated", R::EventHooks, EVENT_HOOK),
    item("event_hook.activated", R::EventHooks, EVENT_HOOK),
    item("event_hook.deactivated", R::EventHooks, EVENT_HOOK),
    item("event_hook.verified", R::EventHooks, EVENT_HOOK),
    item("event_hook.deleted", R::EventHooks, EVENT_HOOK),
    item("inline_hook.created", R::InlineHooks, INLINE_HOOK),
    item("inline_hook.updated", R::InlineHooks, INLINE_HOOK),
    item("inline_hook.activated", R::InlineHooks, INLINE_HOOK),
    item("inline_hook.deactivated", R::InlineHooks, INLINE_HOOK),
    item("inline_hook.deleted", R::InlineHooks, INLINE_HOOK),
    // Admin roles.
    touch("user.account.privilege.grant", Touch::UserRoles),
    touch("user.account.privilege.revoke", Touch::UserRoles),
    touch("group.privilege.grant", Touch::GroupRoles),
    touch("group.privilege.revoke", Touch::GroupRoles),
    // API tokens and ThreatInsight.
    item("system.api_token.create", R::ApiTokens, TOKEN),
    item("system.api_token.revoke", R::ApiTokens, TOKEN),
    touch("security.threat.configuration.update", Touch::ThreatInsight),
];

/// The followed event type called `name`.
pub fn event_type(name: &str) -> Option<&'static EventType> {
    EVENT_TYPES.iter().find(|e| e.name == name)
}

/// Okta ids are short alphanumerics; anything else never becomes part of a URL.
pub fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl LogEvent {
    /// Whether Okta reports the change as made (a failed attempt changed nothing).
    pub fn succeeded(&self) -> bool {
        self.outcome
            .as_ref()
            .and_then(|o| o.result.as_deref())
            .is_none_or(|r| r == "SUCCESS")
    }

    /// Ids of the targets of any of `types`, in the event's order (only plain Okta ids).
    fn targets(&self, types: &[&str]) -> Vec<&LogTarget> {
        self.target
            .iter()
            .flatten()
            .filter(|t| {
                t.kind.as_deref().is_some_and(|k| types.contains(&k))
                    && t.id.as_deref().is_some_and(plain_id)
            })
            .collect()
    }

    fn target_id(&self, types: &[&str]) -> Option<String> {
        self.targets(types).first().and_then(|t| t.id.clone())
    }

    /// What the event touched; empty for events that change no configuration (or failed, or
    /// name no usable target).
    pub fn touched(&self) -> Vec<Touched> {
        let Some(rule) = event_type(&self.event_type) else {
            return Vec::new();
        };
        if !self.succeeded() {
            return Vec::new();
        }
        let pair = |a: &[&str], b: &[&str]| self.target_id(a).zip(self.target_id(b));
        match rule.touch {
            Touch::Item(resource, types) => {
                // A policy event about an authorization server's policy names the server too.
                if resource == R::Policies {
                    if let Some(server) = self.target_id(AUTH_SERVER) {
                        return vec![Touched::AuthServerChildren { server }];
                    }
                }
                self.targets(types)
                    .into_iter()
                    .filter_map(|t| t.id.clone())
                    .map(|id| Touched::Item { resource, id })
                    .collect()
            }
            Touch::PolicyRule => {
                if let Some(server) = self.target_id(AUTH_SERVER) {
                    return vec![Touched::AuthServerChildren { server }];
                }
                let Some(rule) = self.targets(RULE).into_iter().next() else {
                    return Vec::new();
                };
                // The policy is its own target, or (as Okta's rule events carry it) the rule
                // target's alternateId.
                let policy = self
                    .target_id(POLICY)
                    .or_else(|| rule.alternate_id.clone().filter(|id| plain_id(id)));
                match (policy, rule.id.clone()) {
                    (Some(policy), Some(rule)) => vec![Touched::PolicyRule { policy, rule }],
                    _ => Vec::new(),
                }
            }
            Touch::Membership => pair(GROUP, USER)
                .map(|(group, user)| Touched::Membership { group, user })
                .into_iter()
                .collect(),
            Touch::AppUser => pair(APP, USER)
                .map(|(app, user)| Touched::AppUser { app, user })
                .into_iter()
                .collect(),
            Touch::AppGroup => pair(APP, GROUP)
                .map(|(app, group)| Touched::AppGroup { app, group })
                .into_iter()
                .collect(),
            Touch::UserRoles => self
                .target_id(USER)
                .map(|user| Touched::UserRoles { user })
                .into_iter()
                .collect(),
            Touch::GroupRoles => self
                .target_id(GROUP)
                .map(|group| Touched::GroupRoles { group })
                .into_iter()
                .collect(),
            Touch::AuthServerChild => self
                .target_id(AUTH_SERVER)
                .map(|server| Touched::AuthServerChildren { server })
                .into_iter()
                .collect(),
            Touch::ThreatInsight => vec![Touched::ThreatInsight],
        }
    }
}

/// The user agent prefix of every request Butterfly's own Okta clients send
/// (`butterfly-backup/…` for reads, `butterfly-restore/…` for a restore's writes).
pub const BUTTERFLY_USER_AGENT_PREFIX: &str = "butterfly-";

/// Who made a change, from where, and whether it was Butterfly itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    pub event_uuid: String,
    pub event_type: String,
    pub published: DateTime<Utc>,
    pub actor_id: Option<String>,
    pub actor_type: Option<String>,
    pub actor_display_name: Option<String>,
    pub actor_alternate_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub transaction_id: Option<String>,
    pub origin: Origin,
}

/// Whose write an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Anyone but Butterfly: an admin, an integration, Okta itself.
    Tenant,
    /// A write Butterfly made and recorded (its transaction id is in Butterfly's write log).
    Butterfly,
    /// Sent with Butterfly's user agent but not in its write log: anyone can send that header,
    /// so it is labelled and alerted on like any other change.
    ClaimsButterfly,
}

/// Cuts a value from an event to a bounded length (events are the tenant's data, stored and
/// shown as text).
fn bounded(value: Option<&String>, max: usize) -> Option<String> {
    value.map(|v| v.chars().take(max).collect())
}

impl Attribution {
    /// `butterfly_writes`: the transaction ids Butterfly recorded for its own writes to this org.
    pub fn of(event: &LogEvent, butterfly_writes: &BTreeSet<String>) -> Attribution {
        let actor = event.actor.clone().unwrap_or_default();
        let client = event.client.clone().unwrap_or_default();
        let user_agent = client.user_agent.and_then(|u| u.raw_user_agent);
        let transaction_id = event.transaction.as_ref().and_then(|t| t.id.clone());
        let recorded = transaction_id
            .as_ref()
            .is_some_and(|t| butterfly_writes.contains(t));
        let claims = user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with(BUTTERFLY_USER_AGENT_PREFIX));
        Attribution {
            event_uuid: event.uuid.clone(),
            event_type: event.event_type.clone(),
            published: event.published,
            actor_id: bounded(actor.id.as_ref(), 100),
            actor_type: bounded(actor.kind.as_ref(), 100),
            actor_display_name: bounded(actor.display_name.as_ref(), 200),
            actor_alternate_id: bounded(actor.alternate_id.as_ref(), 320),
            client_ip: bounded(client.ip_address.as_ref(), 64),
            user_agent: bounded(user_agent.as_ref(), 500),
            transaction_id: bounded(transaction_id.as_ref(), 100),
            origin: match (recorded, claims) {
                (true, _) => Origin::Butterfly,
                (false, true) => Origin::ClaimsButterfly,
                (false, false) => Origin::Tenant,
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The spec's `log-event` example (testdata/NOTICE) with another event type and targets.
    pub(crate) fn spec_event(event_type: &str, targets: Value) -> Value {
        let mut event: Value =
            serde_json::from_str(include_str!("testdata/log-event.json")).unwrap();
        event["eventType"] = json!(event_type);
        event["target"] = targets;
        event
    }

    fn target(kind: &str, id: &str, alternate: &str) -> Value {
        json!({"id": id, "type": kind, "alternateId": alternate, "displayName": "x",
               "detailEntry": null})
    }

    fn touched(event: Value) -> Vec<Touched> {
        serde_json::from_value::<LogEvent>(event).unwrap().touched()
    }

    #[test]
    fn the_spec_example_reads_and_a_sign_in_touches_nothing() {
        let event: LogEvent =
            serde_json::from_str(include_str!("testdata/log-event.json")).unwrap();
        assert_eq!(event.event_type, "user.session.start");
        assert!(event.touched().is_empty());
        let a = Attribution::of(&event, &BTreeSet::new());
        assert_eq!(a.actor_id.as_deref(), Some("00uttidj01jqL21aM1d6"));
        assert_eq!(a.actor_type.as_deref(), Some("User"));
        assert_eq!(a.actor_display_name.as_deref(), Some("John Doe"));
        assert_eq!(a.client_ip.as_deref(), Some("10.0.0.1"));
        assert!(a.user_agent.as_deref().unwrap().contains("Chrome/127"));
        assert_eq!(
            a.transaction_id.as_deref(),
            Some("ab609228fe84ce59cdcbfa690bgce016")
        );
        assert_eq!(a.origin, Origin::Tenant);
    }

    #[test]
    fn each_family_maps_to_the_resources_it_touched() {
        let user = target("User", "00u1", "ann@example.com");
        let group = target("UserGroup", "00g1", "unknown");
        let app = target("AppInstance", "0oa1", "okta_org2org");
        let cases = [
            (
                "user.lifecycle.deactivate",
                json!([user]),
                vec![Touched::Item {
                    resource: R::Users,
                    id: "00u1".into(),
                }],
            ),
            (
                "group.user_membership.add",
                json!([user, group]),
                vec![Touched::Membership {
                    group: "00g1".into(),
                    user: "00u1".into(),
                }],
            ),
            (
                "application.user_membership.remove",
                json!([app, user]),
                vec![Touched::AppUser {
                    app: "0oa1".into(),
                    user: "00u1".into(),
                }],
            ),
            (
                "group.application_assignment.add",
                json!([app, group]),
                vec![Touched::AppGroup {
                    app: "0oa1".into(),
                    group: "00g1".into(),
                }],
            ),
            (
                "policy.lifecycle.update",
                json!([target("PolicyEntity", "00p1", "unknown")]),
                vec![Touched::Item {
                    resource: R::Policies,
                    id: "00p1".into(),
                }],
            ),
            (
                "policy.rule.update",
                json!([target("PolicyRule", "0pr1", "00p1")]),
                vec![Touched::PolicyRule {
                    policy: "00p1".into(),
                    rule: "0pr1".into(),
                }],
            ),
            (
                "policy.lifecycle.update",
                json!([
                    target("PolicyEntity", "00p9", "unknown"),
                    target("AuthorizationServer", "aus1", "unknown")
                ]),
                vec![Touched::AuthServerChildren {
                    server: "aus1".into(),
                }],
            ),
            (
                "zone.update",
                json!([target("NetworkZone", "nzo1", "unknown")]),
                vec![Touched::Item {
                    resource: R::NetworkZones,
                    id: "nzo1".into(),
                }],
            ),
            (
                "user.account.privilege.grant",
                json!([user]),
                vec![Touched::UserRoles {
                    user: "00u1".into(),
                }],
            ),
            (
                "group.privilege.revoke",
                json!([group]),
                vec![Touched::GroupRoles {
                    group: "00g1".into(),
                }],
            ),
            (
                "system.api_token.revoke",
                json!([target("Token", "00T1", "unknown")]),
                vec![Touched::Item {
                    resource: R::ApiTokens,
                    id: "00T1".into(),
                }],
            ),
            (
                "security.threat.configuration.update",
                Value::Null,
                vec![Touched::ThreatInsight],
            ),
        ];
        for (event_type, targets, want) in cases {
            assert_eq!(
                touched(spec_event(event_type, targets)),
                want,
                "{event_type}"
            );
        }
    }

    #[test]
    fn failures_unusable_targets_and_unknown_types_touch_nothing() {
        let mut failed = spec_event(
            "user.lifecycle.deactivate",
            json!([target("User", "00u1", "a")]),
        );
        failed["outcome"]["result"] = json!("FAILURE");
        assert!(touched(failed).is_empty());
        // An id that is not an Okta id never reaches a URL.
        let odd = spec_event(
            "user.lifecycle.deactivate",
            json!([target("User", "../admin", "a")]),
        );
        assert!(touched(odd).is_empty());
        // A membership event missing its group.
        let half = spec_event(
            "group.user_membership.add",
            json!([target("User", "00u1", "a")]),
        );
        assert!(touched(half).is_empty());
        assert!(touched(spec_event("user.authentication.sso", Value::Null)).is_empty());
    }

    #[test]
    fn butterflys_recorded_writes_are_told_from_a_spoofed_user_agent() {
        let mut event = spec_event("zone.update", json!([target("NetworkZone", "nzo1", "u")]));
        event["client"]["userAgent"]["rawUserAgent"] = json!("butterfly-restore/0.1");
        event["transaction"]["id"] = json!("txn-restore-1");
        let event: LogEvent = serde_json::from_value(event).unwrap();
        let recorded = BTreeSet::from(["txn-restore-1".to_string()]);
        assert_eq!(Attribution::of(&event, &recorded).origin, Origin::Butterfly);
        assert_eq!(
            Attribution::of(&event, &BTreeSet::new()).origin,
            Origin::ClaimsButterfly
        );
    }

    #[test]
    fn covers_tells_which_captured_keys_a_re_read_answers_for() {
        let roles = Touched::UserRoles {
            user: "00u1".into(),
        };
        assert!(roles.covers(R::UserRoles, "00u1/ra1"));
        assert!(!roles.covers(R::UserRoles, "00u10/ra1"));
        assert!(!roles.covers(R::GroupRoles, "00u1/ra1"));
        let item = Touched::Item {
            resource: R::Apps,
            id: "0oa1".into(),
        };
        assert!(item.covers(R::Apps, "0oa1"));
        assert!(!item.covers(R::Apps, "0oa2"));
    }

    #[test]
    fn event_types_are_unique_and_name_what_they_read() {
        let mut names: Vec<&str> = EVENT_TYPES.iter().map(|e| e.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before);
        for e in EVENT_TYPES {
            if let Touch::Item(resource, _) = e.touch {
                let t = Touched::Item {
                    resource,
                    id: "x".into(),
                };
                assert_eq!(t.resources(), &[resource], "{}", e.name);
            }
        }
    }
    /// What the docs say an event type re-reads.
    fn reads(touch: Touch) -> String {
        match touch {
            Touch::Item(resource, _) => format!("the `{resource}` item (404: removed)"),
            Touch::PolicyRule => "the `policy_rules` item".into(),
            Touch::Membership => "the `group_members` item, from the user's groups".into(),
            Touch::AppUser => "the `app_user_assignments` item".into(),
            Touch::AppGroup => "the `app_group_assignments` item".into(),
            Touch::UserRoles => "the user's `user_roles`".into(),
            Touch::GroupRoles => "the group's `group_roles`".into(),
            Touch::AuthServerChild => {
                "the server's scopes, claims, policies and policy rules".into()
            }
            Touch::ThreatInsight => "`threat_insight`".into(),
        }
    }

    const START: &str = "<!-- event-types:start -->";
    const END: &str = "<!-- event-types:end -->";

    #[test]
    fn docs_list_every_event_type_and_what_it_reads() {
        let mut rows = String::from("| event type | re-reads |\n|---|---|\n");
        for e in EVENT_TYPES {
            rows.push_str(&format!("| `{}` | {} |\n", e.name, reads(e.touch)));
        }
        let expected = format!("{START}\n{rows}{END}");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/drift.md");
        let doc = std::fs::read_to_string(path).expect("docs/drift.md exists");
        let (Some(start), Some(end)) = (doc.find(START), doc.find(END)) else {
            panic!("docs/drift.md lacks the {START} … {END} section");
        };
        if doc[start..end + END.len()] != expected {
            if std::env::var_os("BLESS").is_some() {
                let updated = format!("{}{expected}{}", &doc[..start], &doc[end + END.len()..]);
                std::fs::write(path, updated).expect("docs/drift.md is writable");
            } else {
                panic!(
                    "docs/drift.md's event table differs from EVENT_TYPES; run \
                     `BLESS=1 cargo test --lib drift::capture::events` to regenerate it"
                );
            }
        }
    }
}
