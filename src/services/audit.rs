//! Audit trail: who acted and in which request, turned into the typed [`AuditRecord`] that goes
//! with each change (or alone, for events that change nothing else). One builder for users, API
//! keys, jobs and anonymous callers, so every row names its actor the same way.

use serde_json::Value;

use crate::ids::{ApiKeyId, TeamId, UserId};
use crate::store::{ActorType, AuditRecord};

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    /// An API key, acting for its user.
    ApiKey {
        user: UserId,
        key: ApiKeyId,
    },
    /// A scheduled or background job; the string names it (e.g. `cron`, `backup-job`).
    System(&'static str),
    /// Nobody authenticated (failed logins, signed-URL downloads).
    Anonymous,
}

/// Where the request came from (carried in queue messages, so a consumer's audit rows keep the
/// scheduling request's ids).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestMeta {
    /// The worker's own id for the request.
    pub request_id: String,
    /// The client's `X-Request-Id`, when it sent a plain one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    pub source_ip: Option<String>,
}

impl RequestMeta {
    /// A request the worker starts itself (a cron trigger).
    pub fn internal(request_id: String) -> Self {
        RequestMeta {
            request_id,
            client_request_id: None,
            source_ip: None,
        }
    }
}

/// One event to record.
pub struct Event {
    pub team: TeamId,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: String,
    pub details: Value,
}

/// An actor in a request: what every audit row of an operation names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditContext {
    pub actor: Actor,
    pub meta: RequestMeta,
}

impl AuditContext {
    pub fn new(actor: Actor, meta: RequestMeta) -> Self {
        AuditContext { actor, meta }
    }

    /// The row recording `event`.
    pub fn record(&self, event: Event) -> AuditRecord {
        let mut row = self.untied(event.action, event.target_type, event.target_id);
        row.team_id = Some(event.team);
        row.details = event.details;
        row
    }

    /// The row of an event that belongs to no team (a failed login): only operators see it.
    pub fn untied(
        &self,
        action: &'static str,
        target_type: &'static str,
        target_id: String,
    ) -> AuditRecord {
        let (actor_type, actor_id, key_id) = match &self.actor {
            Actor::User(id) => (ActorType::User, id.to_string(), None),
            Actor::ApiKey { user, key } => (ActorType::ApiKey, user.to_string(), Some(*key)),
            Actor::System(name) => (ActorType::System, (*name).to_string(), None),
            Actor::Anonymous => (ActorType::Anonymous, "anonymous".to_string(), None),
        };
        AuditRecord {
            team_id: None,
            actor_type,
            actor_id,
            key_id,
            request_id: self.meta.request_id.clone(),
            client_request_id: self.meta.client_request_id.clone(),
            source_ip: self.meta.source_ip.clone(),
            action,
            target_type,
            target_id,
            details: Value::Object(Default::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_recorded_as_keys_for_their_user_with_both_request_ids() {
        let user = UserId::parse("00000000-0000-4000-8000-000000000001").unwrap();
        let key = ApiKeyId::parse("00000000-0000-4000-8000-0000000000aa").unwrap();
        let team = TeamId::parse("00000000-0000-4000-8000-0000000000bb").unwrap();
        let meta = RequestMeta {
            request_id: "req_own".into(),
            client_request_id: Some("theirs-123".into()),
            source_ip: Some("203.0.113.1".into()),
        };
        let row = AuditContext::new(Actor::ApiKey { user, key }, meta).record(Event {
            team,
            action: "backup.request",
            target_type: "backup",
            target_id: "b".into(),
            details: json!({}),
        });
        assert_eq!(row.actor_type, ActorType::ApiKey);
        assert_eq!(row.actor_id, user.to_string());
        assert_eq!(row.key_id, Some(key));
        assert_eq!(row.request_id, "req_own");
        assert_eq!(row.client_request_id.as_deref(), Some("theirs-123"));
        assert_eq!(row.team_id, Some(team));
    }
}
