//! API keys for service integrations: created by an owner or admin for one team with scopes,
//! shown once, listed by prefix and metadata only, revocable, expiring.

use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit::{self, Actor, Event, RequestMeta};
use super::connections::{require_role, resolve_team};
use super::{Deps, ServiceError};
use crate::auth::apikey::{display_prefix, generate};
use crate::authz::matrix::{Action, Scope};
use crate::db::access::{ApiKeyRow, NewApiKey};
use crate::db::Repo;
use crate::ids::{ApiKeyId, TeamId, UserId};

const DEFAULT_DAYS: u32 = 90;
const MAX_DAYS: u32 = 365;

/// `POST /api/v1/api-keys` body.
#[derive(Deserialize)]
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

pub async fn create(
    deps: &Deps<'_>,
    repo: &Repo<'_>,
    system: &Repo<'_>,
    user: UserId,
    meta: &RequestMeta,
    body: CreateApiKey,
) -> Result<Value, ServiceError> {
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
    let requested = body
        .team_id
        .as_deref()
        .map(TeamId::parse)
        .transpose()
        .map_err(|_| ServiceError::invalid("team_id", "must be a team id"))?;
    let (team, role) = resolve_team(repo, user, requested).await?;
    require_role(&role, Action::ApiKeyManage)?;

    let key = generate(deps.rng, &deps.config.api_key_pepper);
    let row = repo
        .insert_api_key(&NewApiKey {
            id: key.id,
            team_id: team,
            user_id: user,
            name,
            secret_hash: &key.hash,
            scopes: &scopes,
            expires_at: Some(deps.clock.now() + Duration::days(days.into())),
        })
        .await?;
    audit::record(
        system,
        &Actor::User(user),
        meta,
        Event {
            team,
            action: "apikey.create",
            target_type: "api_key",
            target_id: key.id.to_string(),
            details: json!({"name": name, "scopes": scopes, "expires_at": row.expires_at}),
        },
    )
    .await?;
    Ok(json!({"api_key": view(&row), "key": key.full.as_str()}))
}

pub async fn revoke(
    deps: &Deps<'_>,
    repo: &Repo<'_>,
    system: &Repo<'_>,
    user: UserId,
    meta: &RequestMeta,
    id: ApiKeyId,
) -> Result<Value, ServiceError> {
    let row = repo.api_key(id).await?.ok_or(ServiceError::NotFound)?;
    let (team, role) = resolve_team(repo, user, Some(row.team_id)).await?;
    require_role(&role, Action::ApiKeyManage)?;
    if row.revoked_at.is_none() {
        if !repo.revoke_api_key(id, deps.clock.now()).await? {
            return Err(ServiceError::NotFound);
        }
        audit::record(
            system,
            &Actor::User(user),
            meta,
            Event {
                team,
                action: "apikey.revoke",
                target_type: "api_key",
                target_id: id.to_string(),
                details: json!({"name": row.name}),
            },
        )
        .await?;
    }
    let row = repo.api_key(id).await?.ok_or(ServiceError::NotFound)?;
    Ok(view(&row))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
