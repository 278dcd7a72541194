//! Okta `LogEvent`s: who did what to which objects, from where, in which transaction.
//!
//! The shape is the spec's `LogEvent` schema and its `log-event` example, with the null
//! placeholders real events carry (`detailEntry`, `client.id`, `outcome.reason`, `"zone":
//! "null"`, ...). The example's numeric `version` and `postalCode` are sent as the strings the
//! schema declares.

use serde_json::{json, Value};

use crate::time::iso8601;

/// Who acted: an admin (or any user) of the tenant, or an API service.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Actor {
    pub(crate) id: String,
    /// `User` for people; `PublicClientApp` for OAuth service apps.
    pub(crate) kind: String,
    pub(crate) alternate_id: String,
    pub(crate) display_name: String,
}

impl Actor {
    /// The actor a user payload describes.
    pub(crate) fn user(user: &Value) -> Self {
        Self {
            id: user["id"].as_str().unwrap_or_default().to_owned(),
            kind: "User".to_owned(),
            alternate_id: user["profile"]["login"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            display_name: display_name(&user["profile"]),
        }
    }

    /// An OAuth 2.0 service app calling with an access token: Okta names the client app. The id
    /// is derived from the token, so the token itself never appears in the log.
    pub(crate) fn service_app(token: &str) -> Self {
        let seed = token.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let id = crate::prng::SplitMix64::new(seed).okta_id("0oa");
        Self {
            alternate_id: id.clone(),
            id,
            kind: "PublicClientApp".to_owned(),
            display_name: "Service app".to_owned(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.kind,
            "alternateId": self.alternate_id,
            "displayName": self.display_name,
            "detailEntry": null,
        })
    }
}

/// "First Last" from a user profile.
pub(crate) fn display_name(profile: &Value) -> String {
    match (profile["firstName"].as_str(), profile["lastName"].as_str()) {
        (Some(first), Some(last)) => format!("{first} {last}"),
        _ => profile["login"].as_str().unwrap_or_default().to_owned(),
    }
}

/// Where a request came from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Client {
    pub(crate) ip_address: String,
    pub(crate) user_agent: String,
    /// `client.geographicalContext`; `None` for addresses Okta cannot place (loopback, private).
    pub(crate) geo: Option<Value>,
}

impl Client {
    /// An admin in the Admin Console, as the spec's `log-event` example has one.
    pub(crate) fn admin_console() -> Self {
        Self {
            ip_address: "10.0.0.1".to_owned(),
            user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
                         (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36"
                .to_owned(),
            geo: Some(json!({
                "city": "New York",
                "state": "New York",
                "country": "United States",
                "postalCode": "10013",
                "geolocation": { "lat": 40.3157, "lon": -74.01 },
            })),
        }
    }

    /// `client.userAgent`: the raw string and what Okta makes of it.
    fn user_agent(&self) -> Value {
        let raw = &self.user_agent;
        let has = |needle: &str| raw.contains(needle);
        let os = if has("Mac OS X") || has("Macintosh") {
            "Mac OS X"
        } else if has("Windows") {
            "Windows"
        } else if has("Android") {
            "Android"
        } else if has("iPhone") || has("iPad") {
            "iOS"
        } else if has("Linux") {
            "Linux"
        } else {
            "Unknown"
        };
        let browser = if has("Edg/") {
            "EDGE"
        } else if has("Chrome/") {
            "CHROME"
        } else if has("Firefox/") {
            "FIREFOX"
        } else if has("Safari/") {
            "SAFARI"
        } else {
            "UNKNOWN"
        };
        json!({ "rawUserAgent": raw, "os": os, "browser": browser })
    }
}

/// One object an event is about.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Target {
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    pub(crate) alternate_id: String,
    pub(crate) display_name: String,
    pub(crate) detail_entry: Option<Value>,
    /// `changeDetails` `{from, to}`, for the event types that carry one.
    pub(crate) change_details: Option<Value>,
}

impl Target {
    pub(crate) fn new(
        id: &str,
        kind: &'static str,
        alternate_id: &str,
        display_name: &str,
    ) -> Self {
        Self {
            id: id.to_owned(),
            kind,
            alternate_id: alternate_id.to_owned(),
            display_name: display_name.to_owned(),
            detail_entry: None,
            change_details: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut target = json!({
            "id": self.id,
            "type": self.kind,
            "alternateId": self.alternate_id,
            "displayName": self.display_name,
            "detailEntry": self.detail_entry,
        });
        if let Some(change) = &self.change_details {
            target["changeDetails"] = change.clone();
        }
        target
    }
}

/// An event a change causes, before it is stamped and stored.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Emitted {
    pub(crate) event_type: &'static str,
    pub(crate) targets: Vec<Target>,
}

impl Emitted {
    pub(crate) fn new(event_type: &'static str, targets: Vec<Target>) -> Self {
        Self {
            event_type,
            targets,
        }
    }
}

/// The request that caused events: one actor, client and transaction for all of them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Context {
    pub(crate) actor: Actor,
    pub(crate) client: Client,
    /// `transaction.id`, which is also `debugContext.debugData.requestId` (the request's
    /// `X-Okta-Request-Id`).
    pub(crate) transaction_id: String,
    pub(crate) request_uri: String,
    /// When the events happened; `None`: when they are stored.
    pub(crate) published_ms: Option<u64>,
}

/// The full `LogEvent` for `emitted`.
pub(crate) fn log_event(
    context: &Context,
    emitted: &Emitted,
    uuid: &str,
    published_ms: u64,
    session: &str,
) -> Value {
    let client = &context.client;
    let geo = client.geo.clone().unwrap_or(Value::Null);
    let targets: Vec<Value> = emitted.targets.iter().map(Target::to_json).collect();
    let (path, _) = context
        .request_uri
        .split_once('?')
        .unwrap_or((&context.request_uri, ""));
    json!({
        "uuid": uuid,
        "published": iso8601(i64::try_from(published_ms).unwrap_or(i64::MAX)),
        "eventType": emitted.event_type,
        "version": "0",
        "severity": severity(emitted.event_type),
        "legacyEventType": null,
        "displayMessage": display_message(emitted.event_type),
        "actor": context.actor.to_json(),
        "client": {
            "userAgent": client.user_agent(),
            "zone": "null",
            "device": "Computer",
            "id": null,
            "ipAddress": client.ip_address,
            "geographicalContext": geo,
        },
        "authenticationContext": {
            "authenticationProvider": null,
            "credentialProvider": null,
            "credentialType": null,
            "issuer": null,
            "interface": null,
            "authenticationStep": 0,
            "externalSessionId": session,
        },
        "outcome": { "result": "SUCCESS", "reason": null },
        "securityContext": {
            "asNumber": null,
            "asOrg": null,
            "isp": null,
            "domain": null,
            "isProxy": null,
        },
        "debugContext": {
            "debugData": {
                "requestId": context.transaction_id,
                "requestUri": path,
                "url": context.request_uri,
            },
        },
        "transaction": { "type": "WEB", "id": context.transaction_id, "detail": {} },
        "request": {
            "ipChain": [{
                "ip": client.ip_address,
                "geographicalContext": geo,
                "version": if client.ip_address.contains(':') { "V6" } else { "V4" },
                "source": null,
            }],
        },
        "target": if targets.is_empty() { Value::Null } else { Value::Array(targets) },
    })
}

/// Deletions and revocations are warnings; everything else is information.
fn severity(event_type: &str) -> &'static str {
    let warn = [
        "user.lifecycle.delete.completed",
        "user.lifecycle.deactivate",
        "user.account.privilege.grant",
        "group.privilege.grant",
        "system.api_token.create",
        "system.api_token.revoke",
    ];
    if warn.contains(&event_type) {
        "WARN"
    } else {
        "INFO"
    }
}

/// Okta's `displayMessage` for an event type: the first sentence of its description in Okta's
/// event type catalogue (developer.okta.com/docs/reference/api/event-types/).
pub(crate) fn display_message(event_type: &str) -> &'static str {
    match event_type {
        "user.lifecycle.create" => "Create Okta user",
        "user.lifecycle.activate" => "Activate Okta user",
        "user.lifecycle.reactivate" => "Reactivate Okta user",
        "user.lifecycle.deactivate" => "Deactivate Okta user",
        "user.lifecycle.suspend" => "Suspend Okta user",
        "user.lifecycle.unsuspend" => "Unsuspend Okta user",
        "user.lifecycle.delete.initiated" => "Delete Okta user initiated",
        "user.lifecycle.delete.completed" => "Delete Okta user completed",
        "user.account.update_profile" => "Update user profile for Okta",
        "user.account.unlock_by_admin" => "User account unlock by admin",
        "user.account.expire_password" => "Fired when the user's Okta password is expired",
        "user.account.update_password" => "User update password for Okta",
        "user.account.privilege.grant" => "A User's admin privileges changed",
        "user.account.privilege.revoke" => "All of user's admin privilege revoked",
        "user.session.start" => "User login to Okta",
        "user.session.end" => "User logout from Okta",
        "user.authentication.sso" => "User single sign on to app",
        "policy.evaluate_sign_on" => "Evaluation of sign-on policy",
        "group.lifecycle.create" => "Create Okta group",
        "group.lifecycle.delete" => "Delete Okta group",
        "group.profile.update" => "Okta group profile updated",
        "group.user_membership.add" => "Add user to group membership",
        "group.user_membership.remove" => "Remove user from group membership",
        "group.user_membership.rule.trigger" => "Trigger group membership rule",
        "group.user_membership.rule.deactivated" => "Deactivate group membership rule",
        "group.user_membership.rule.invalidate" => "Invalidate group membership rule",
        "group.privilege.grant" => "Group's admin privilege granted",
        "group.privilege.revoke" => "Group's admin privilege revoked",
        "group.application_assignment.add" => "Add assigned application to group",
        "group.application_assignment.remove" => "Remove assigned application from group",
        "group.application_assignment.update" => "Update assigned application in group",
        "application.lifecycle.create" => "Create application",
        "application.lifecycle.update" => "Update application",
        "application.lifecycle.activate" => "Activate application",
        "application.lifecycle.deactivate" => "Deactivate application",
        "application.lifecycle.delete" => "Delete application",
        "application.user_membership.add" => "Add user to application membership",
        "application.user_membership.update" => "Updated user application property",
        "application.user_membership.remove" => "Remove user's application membership",
        "policy.lifecycle.create" => "Create policy",
        "policy.lifecycle.update" => "Update policy",
        "policy.lifecycle.activate" => "Activate policy",
        "policy.lifecycle.deactivate" => "Deactivate policy",
        "policy.lifecycle.delete" => "Delete policy",
        "policy.rule.add" => "Add policy rule",
        "policy.rule.update" => "Update policy rule",
        "policy.rule.activate" => "Activate policy rule",
        "policy.rule.deactivate" => "Deactivate policy rule",
        "policy.rule.delete" => "Delete policy rule",
        "zone.create" => "Network zone create",
        "zone.update" => "Network zone update",
        "zone.activate" => "Network zone activate",
        "zone.deactivate" => "Network zone deactivate",
        "zone.delete" => "Network zone delete",
        "security.authenticator.lifecycle.create" => {
            "Fired when an admin creates an authenticator for the org"
        }
        "security.authenticator.lifecycle.update" => {
            "Fired when an admin updates an authenticator in the org"
        }
        "security.authenticator.lifecycle.activate" => {
            "Fired when an admin activates an authenticator for the org"
        }
        "security.authenticator.lifecycle.deactivate" => {
            "Fired when an admin deactivates an authenticator for the org"
        }
        "oauth2.as.created" => "Authorization server is created",
        "oauth2.as.updated" => "Authorization server is updated",
        "oauth2.as.activated" => "Authorization server is activated",
        "oauth2.as.deactivated" => "Authorization server is deactivated",
        "oauth2.as.deleted" => "Authorization server is deleted",
        "oauth2.scope.created" => "OAuth2 scope is created",
        "oauth2.scope.updated" => "OAuth2 scope is updated",
        "oauth2.scope.deleted" => "OAuth2 scope is deleted",
        "oauth2.claim.created" => "OAuth2 claim is created",
        "oauth2.claim.updated" => "OAuth2 claim is updated",
        "oauth2.claim.deleted" => "OAuth2 claim is deleted",
        "system.idp.lifecycle.create" => "Identity provider created",
        "system.idp.lifecycle.update" => "Identity provider updated",
        "system.idp.lifecycle.activate" => "Identity provider activated",
        "system.idp.lifecycle.deactivate" => "Identity provider deactivated",
        "system.idp.lifecycle.delete" => "Identity provider deleted",
        "event_hook.created" => "Event hook created",
        "event_hook.updated" => "Event hook updated",
        "event_hook.activated" => "Event hook activated",
        "event_hook.deactivated" => "Event hook deactivated",
        "event_hook.deleted" => "Event hook deleted",
        "event_hook.verified" => "Event hook verified",
        "inline_hook.created" => "Inline hook created",
        "inline_hook.updated" => "Inline hook updated",
        "inline_hook.activated" => "Inline hook activated",
        "inline_hook.deactivated" => "Inline hook deactivated",
        "inline_hook.deleted" => "Inline hook deleted",
        "system.api_token.create" => "Create API token",
        "system.api_token.revoke" => "Revoke API token",
        "system.api_token.update" => "An API token has been updated",
        "security.threat.configuration.update" => "ThreatInsight configuration updated",
        _ => "Okta event",
    }
}
