//! API keys for service integrations: created by an owner or admin for one team with scopes,
//! shown once, listed by prefix and metadata only, revocable for good, expiring.

use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit::Event;
use super::connections::parse_team;
use super::error::conflict_as;
use super::{Caller, ServiceError};
use crate::auth::apikey::{display_prefix, generate};
use crate::authz::matrix::{Action, Scope};
use crate::billing::plans::Limit;
use crate::ids::ApiKeyId;
use crate::services::billing;
use crate::store::{ApiKeyRow, NewApiKey};

const DEFAULT_DAYS: u32 = 90;
const MAX_DAYS: u32 = 365;

/// `POST /api/v1/api-keys` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    pub scopes: Vec<String>,
    pub team_id: Option<String>,
    pub expires_in_days: Option<u32>,
}

fn parse_scopes(scopes: &[String]) -> Result<Vec<Scope>, ServiceError> {
    let mut parsed = Vec::new();
    for s in scopes {
        let scope = Scope::parse(s).ok_or_else(|| {
            ServiceError::invalid("scopes", "may contain only read, backup, restore, admin")
        })?;
        if !parsed.contains(&scope) {
            parsed.push(scope);
        }
    }
    if parsed.is_empty() {
        return Err(ServiceError::invalid(
            "scopes",
            "must name at least one scope",
        ));
    }
    parsed.sort();
    Ok(parsed)
}

/// A key as listed: metadata and its display prefix, never the secret or its hash.
pub fn view(row: &ApiKeyRow) -> Value {
    let mut v = json!(row);
    v["prefix"] = json!(display_prefix(row.id));
    v
}

/// The keys the caller manages.
pub async fn list(caller: &Caller<'_>) -> Result<Vec<Value>, ServiceError> {
    let rows = caller.stores().api_keys().await?;
    Ok(rows.iter().map(view).collect())
}

pub async fn create(caller: &Caller<'_>, body: CreateApiKey) -> Result<Value, ServiceError> {
    let deps = caller.deps();
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "name",
            "must be 1-100 printable characters",
        ));
    }
    let scopes = parse_scopes(&body.scopes)?;
    let days = body.expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ServiceError::invalid(
            "expires_in_days",
            "must be between 1 and 365",
        ));
    }
    let team = caller
        .team_or_default(parse_team(body.team_id.as_deref())?)
        .await?;
    caller.authorize(team, Action::ApiKeyManage).await?;
    billing::enforce(caller.system(), team, Limit::ApiKeys, None).await?;

    let key = generate(deps.rng, &deps.config.api_key_pepper);
    let expires_at = Some(deps.clock.now() + Duration::days(days.into()));
    let audit = caller.audit(Event {
        team,
        action: "apikey.create",
        target_type: "api_key",
        target_id: key.id.to_string(),
        details: json!({"name": name, "scopes": scopes, "expires_at": expires_at}),
    });
    let row = NewApiKey {
        id: key.id,
        team_id: team,
        user_id: caller.user(),
        name: name.to_string(),
        secret_hash: key.hash.clone(),
        scopes,
        expires_at,
    };
    let row = caller
        .system()
        .stores()
        .create_api_key(&row, &audit)
        .await
        // Key ids are random: the only conflict an insert meets is the per-user cap.
        .map_err(conflict_as(
            "api_key_limit",
            "a user may hold at most 20 active API keys; revoke one first",
        ))?;
    Ok(json!({"api_key": view(&row), "key": key.full.as_str()}))
}

/// Revokes a key for good (revoking a revoked key changes nothing and records nothing).
pub async fn revoke(caller: &Caller<'_>, id: ApiKeyId) -> Result<Value, ServiceError> {
    let row = caller
        .stores()
        .api_key(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    caller.authorize(row.team_id, Action::ApiKeyManage).await?;
    if row.revoked_at.is_none() {
        let audit = caller.audit(Event {
            team: row.team_id,
            action: "apikey.revoke",
            target_type: "api_key",
            target_id: id.to_string(),
            details: json!({"name": row.name}),
        });
        caller.system().stores().revoke_api_key(id, &audit).await?;
    }
    let row = caller
        .stores()
        .api_key(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok(view(&row))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::Role;
    use crate::store::MAX_ACTIVE_KEYS_PER_USER;
    use crate::testing::world::World;
    use futures::executor::block_on;

    #[test]
    fn scopes_are_parsed_deduplicated_and_required() {
        let s = |v: &[&str]| parse_scopes(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&["backup", "read", "backup"]).unwrap(),
            vec![Scope::Read, Scope::Backup]
        );
        for bad in [&[][..], &["root"], &["Read"]] {
            assert!(matches!(
                s(bad),
                Err(ServiceError::Invalid {
                    field: "scopes",
                    ..
                })
            ));
        }
    }

    fn body() -> CreateApiKey {
        CreateApiKey {
            name: "ci".into(),
            scopes: vec!["read".into()],
            team_id: None,
            expires_in_days: None,
        }
    }

    #[test]
    fn keys_are_managed_by_owners_and_admins_never_by_keys() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let operator = world.member(team, Role::Operator);
        let mut named = body();
        named.team_id = Some(team.to_string());
        assert!(matches!(
            block_on(create(&world.caller(operator), named)),
            Err(ServiceError::Forbidden)
        ));
        let admin_key = world.key_caller(owner, team, &Scope::ALL);
        assert!(matches!(
            block_on(create(&admin_key, body())),
            Err(ServiceError::Forbidden)
        ));
        let created = block_on(create(&world.caller(owner), body())).unwrap();
        let id = ApiKeyId::parse(created["api_key"]["id"].as_str().unwrap()).unwrap();
        let revoked = block_on(revoke(&world.caller(owner), id)).unwrap();
        assert!(revoked["revoked_at"].is_string());
        block_on(revoke(&world.caller(owner), id)).unwrap();
        assert_eq!(world.db.actions(), ["apikey.create", "apikey.revoke"]);
    }

    #[test]
    fn a_user_holds_at_most_the_capped_number_of_active_keys() {
        let world = World::new();
        let owner = world.user();
        let caller = world.caller(owner);
        let mut ids = Vec::new();
        for _ in 0..MAX_ACTIVE_KEYS_PER_USER {
            let created = block_on(create(&caller, body())).unwrap();
            ids.push(ApiKeyId::parse(created["api_key"]["id"].as_str().unwrap()).unwrap());
        }
        match block_on(create(&caller, body())) {
            Err(ServiceError::Conflict { code, message }) => {
                assert_eq!(code, "api_key_limit");
                assert!(message.contains(&MAX_ACTIVE_KEYS_PER_USER.to_string()));
            }
            other => panic!("expected the cap, got {other:?}"),
        }
        // Another user has a cap of their own; a revoked key frees its place.
        assert!(block_on(create(&world.caller(world.user()), body())).is_ok());
        block_on(revoke(&caller, ids[0])).unwrap();
        assert!(block_on(create(&caller, body())).is_ok());
        assert!(block_on(create(&caller, body())).is_err());
    }
}
