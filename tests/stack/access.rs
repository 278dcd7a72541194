//! Identity and access: the permission matrix agrees with the database, API keys, teams with
//! invitations, role changes and last-owner protection.

use crate::support::*;
use butterfly::authz::matrix::{
    role_allows, role_rows, scope_rows, scopes_allow, Action, Role, Scope,
};
use serde_json::{json, Value};

/// A JWT for `user` that also carries the user's confirmed email, as Supabase Auth issues it
/// (`email`, and `user_metadata.email_verified` once the address is confirmed).
pub fn jwt_with_email(user: &User) -> String {
    let email = format!("user-{}@test.local", user.id);
    sign_json(&json!({
        "sub": user.id, "role": "authenticated", "aud": "authenticated",
        "iat": now(), "exp": now() + 3600, "email": email,
        "user_metadata": {"email": email, "email_verified": true, "phone_verified": false,
                          "sub": user.id},
    }))
}

pub fn api_as(token: &str, method: &str, path: &str, body: Option<&Value>) -> Reply {
    let auth = format!("Bearer {token}");
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    let mut headers = vec![("authorization", auth.as_str())];
    if bytes.is_some() {
        headers.push(("content-type", "application/json"));
    }
    call(
        method,
        &format!("{}/api/v1{path}", worker()),
        &headers,
        bytes.as_deref(),
    )
}

pub fn personal_team(user: &User) -> String {
    psql(&format!(
        "select id from teams where created_by = '{}' and personal",
        user.id
    ))
}

/// A new non-personal team owned by `owner`, with `member` added in `role`.
pub fn team_with(owner: &User, member: Option<(&User, Role)>) -> String {
    let team = psql(&format!(
        "insert into teams (name, created_by) values ('t', '{}') returning id",
        owner.id
    ));
    psql(&format!(
        "insert into team_members (team_id, user_id, role) values ('{team}', '{}', 'owner')",
        owner.id
    ));
    if let Some((m, role)) = member {
        psql(&format!(
            "insert into team_members (team_id, user_id, role) values ('{team}', '{}', '{}')",
            m.id,
            role.as_str()
        ));
    }
    team
}

/// Creates an API key through the API; returns (id, full key). The key is planted for the log scan.
pub fn create_key(owner: &User, team: &str, scopes: &[Scope]) -> (String, String) {
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let reply = owner.api(
        "POST",
        "/api-keys",
        Some(&json!({"name": "ci", "scopes": scopes, "team_id": team})),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    let key = body["key"].as_str().unwrap().to_string();
    plant(&key);
    (body["api_key"]["id"].as_str().unwrap().to_string(), key)
}

/// What PostgREST's `public.can` answers for this JWT.
fn db_can(jwt: &str, team: &str, action: Action) -> bool {
    let reply = rest_as(
        jwt,
        "POST",
        "rpc/can",
        Some(&json!({"team": team, "action": action.as_str()})),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json() == json!(true)
}

#[test]
fn the_database_holds_the_same_permission_matrix_and_decides_the_same() {
    // Same rows...
    let rows = |table: &str, col: &str| -> Vec<(String, String)> {
        let mut rows: Vec<_> = psql(&format!("select {col} || ',' || action from {table}"))
            .lines()
            .map(|l| {
                let (a, b) = l.split_once(',').unwrap();
                (a.to_string(), b.to_string())
            })
            .collect();
        rows.sort();
        rows
    };
    let own = |v: Vec<(&str, &str)>| -> Vec<(String, String)> {
        let mut v: Vec<_> = v
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(rows("role_permissions", "role::text"), own(role_rows()));
    assert_eq!(rows("scope_permissions", "scope"), own(scope_rows()));

    // ...and the same decisions: every role x action, and every scope on top of an owner.
    let owner = new_user();
    for role in Role::ALL {
        let member = new_user();
        let team = team_with(&owner, Some((&member, role)));
        for action in Action::ALL {
            assert_eq!(
                db_can(&member.jwt, &team, action),
                role_allows(role, action),
                "{role:?} {action:?}"
            );
        }
    }
    let team = personal_team(&owner);
    for scope in Scope::ALL {
        let key_jwt = key_jwt(&owner.id, &team, &[scope.as_str()]);
        let other_team = key_jwt_for_other_team(&owner, scope);
        for action in Action::ALL {
            assert_eq!(
                db_can(&key_jwt, &team, action),
                scopes_allow(&[scope], action),
                "{scope:?} {action:?}"
            );
            // A key is confined to its own team even where its user is an owner.
            assert!(!db_can(&other_team, &team, action));
        }
    }
}

/// A JWT shaped like the worker's minted API-key tokens.
pub fn key_jwt(user: &str, team: &str, scopes: &[&str]) -> String {
    sign_json(&json!({
        "sub": user, "role": "authenticated", "aud": "authenticated", "iat": now(),
        "exp": now() + 60, "key_id": "00000000-0000-4000-8000-00000000000a",
        "key_team": team, "scopes": scopes,
    }))
}

fn key_jwt_for_other_team(owner: &User, scope: Scope) -> String {
    let other = team_with(owner, None);
    key_jwt(&owner.id, &other, &[scope.as_str()])
}

#[test]
fn api_keys_are_shown_once_scoped_confined_expiring_and_revocable() {
    let alice = new_user();
    let team = personal_team(&alice);
    let (id, key) = create_key(&alice, &team, &[Scope::Read, Scope::Backup]);
    assert!(key.starts_with("bfk_"));

    // Listed by prefix and metadata only.
    let list = alice.api("GET", "/api-keys", None);
    assert_eq!(list.status, 200);
    let text = list.text();
    let secret = &key[key.len() - 43..];
    assert!(!text.contains(secret) && !text.contains("secret_hash"));
    let listed = &list.json()["api_keys"][0];
    assert_eq!(listed["id"], json!(id));
    assert!(key.starts_with(listed["prefix"].as_str().unwrap()));
    assert_eq!(listed["scopes"], json!(["read", "backup"]));
    // Stored only as a keyed hash.
    let stored = psql(&format!(
        "select secret_hash from api_keys where id = '{id}'"
    ));
    // `<pepper id>:<64 hex>`: the id names the pepper it was keyed with, so peppers rotate.
    let (pepper, hash) = stored.split_once(':').expect("pepper id");
    assert!(!pepper.is_empty(), "{stored}");
    assert_eq!(hash.len(), 64, "{stored}");
    assert!(!stored.contains(secret));

    // Read + backup: may list, create a backup, not manage connections or keys.
    let connection = alice.create_connection();
    assert_eq!(api_as(&key, "GET", "/connections", None).status, 200);
    assert_eq!(
        api_as(&key, "GET", "/connections", None).json()["connections"][0]["id"],
        json!(connection)
    );
    let run = api_as(
        &key,
        "POST",
        &format!("/connections/{connection}/backups"),
        None,
    );
    assert_eq!(run.status, 202, "{}", run.text());
    alice.wait_backup(run.json()["backup"]["id"].as_str().unwrap());
    assert_eq!(
        api_as(&key, "DELETE", &format!("/connections/{connection}"), None).status,
        403
    );
    let mint = api_as(
        &key,
        "POST",
        "/api-keys",
        Some(&json!({"name": "x", "scopes": ["admin"]})),
    );
    assert_eq!(mint.status, 403);
    assert!(
        psql(&format!(
            "select last_used_at is not null from api_keys where id = '{id}'"
        )) == "t"
    );
    // The audit trail names the key's user for what the key did.
    assert!(activity(&team)
        .iter()
        .any(|r| r["action"] == "backup.start" || r["action"] == "backup.complete"));

    // Tampered, truncated or unknown keys are a bare 401.
    let mut wrong = key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [wrong.as_str(), &key[..key.len() - 1], "bfk_nope"] {
        let reply = api_as(bad, "GET", "/connections", None);
        assert_eq!(reply.status, 401, "{bad}");
        assert_eq!(reply.error_code(), "unauthorized");
    }

    // Expired keys stop working.
    let (expiring, expiring_key) = create_key(&alice, &team, &[Scope::Read]);
    psql(&format!(
        "update api_keys set expires_at = now() - interval '1 second' where id = '{expiring}'"
    ));
    assert_eq!(
        api_as(&expiring_key, "GET", "/connections", None).status,
        401
    );

    // Revoked keys stop working at once.
    let revoked = alice.api("DELETE", &format!("/api-keys/{id}"), None);
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert!(revoked.json()["api_key"]["revoked_at"].is_string());
    assert_eq!(api_as(&key, "GET", "/connections", None).status, 401);
    let actions: Vec<Value> = activity(&team)
        .iter()
        .map(|r| r["action"].clone())
        .collect();
    assert!(actions.contains(&json!("apikey.create")) && actions.contains(&json!("apikey.revoke")));

    // Field-level validation.
    let bad = alice.api(
        "POST",
        "/api-keys",
        Some(&json!({"name": "x", "scopes": ["root"]})),
    );
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["error"]["field"], "scopes");
    let unknown = alice.api(
        "POST",
        "/api-keys",
        Some(&json!({"name": "x", "scopes": ["read"], "admin": true})),
    );
    assert_eq!(unknown.status, 400);
}

#[test]
fn a_key_is_confined_to_its_team_even_when_its_user_belongs_to_others() {
    let alice = new_user();
    let personal = personal_team(&alice);
    let connection = alice.create_connection();
    let other = team_with(&alice, None);
    let (_, key) = create_key(&alice, &other, &[Scope::Admin]);
    assert_eq!(
        api_as(&key, "GET", "/connections", None).json()["connections"],
        json!([])
    );
    assert_eq!(
        api_as(&key, "GET", &format!("/connections/{connection}"), None).status,
        404
    );
    let teams = api_as(&key, "GET", "/teams", None).json();
    assert!(!teams.to_string().contains(&personal));
    let mut body = okta_connection_body();
    body["team_id"] = json!(personal);
    assert_eq!(
        api_as(&key, "POST", "/connections", Some(&body)).status,
        404
    );
}

#[test]
fn invitations_role_changes_and_last_owner_protection() {
    let alice = new_user();
    let team = personal_team(&alice);
    let bob = new_user();
    let bob_jwt = jwt_with_email(&bob);

    let invite = alice.api(
        "POST",
        &format!("/teams/{team}/invitations"),
        Some(&json!({"email": format!("USER-{}@test.local", bob.id), "role": "viewer"})),
    );
    assert_eq!(invite.status, 201, "{}", invite.text());
    let token = invite.json()["token"].as_str().unwrap().to_string();
    plant(&token);
    assert!(!psql("select string_agg(token_hash, ',') from team_invitations").contains(&token));

    // Only the invited address can accept, once.
    let carol = new_user();
    let carol_jwt = jwt_with_email(&carol);
    let accept = |jwt: &str| {
        api_as(
            jwt,
            "POST",
            "/invitations/accept",
            Some(&json!({"token": token})),
        )
    };
    assert_eq!(accept(&carol_jwt).status, 404);
    let accepted = accept(&bob_jwt);
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    assert_eq!(accepted.json()["member"]["role"], "viewer");
    assert_eq!(accept(&bob_jwt).status, 404);

    let teams = bob.api("GET", "/teams", None).json()["teams"].clone();
    assert!(teams
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == json!(team) && t["role"] == "viewer"));
    let members = bob.api("GET", &format!("/teams/{team}/members"), None);
    assert_eq!(members.json()["members"].as_array().unwrap().len(), 2);

    // A viewer manages nothing.
    let mut body = okta_connection_body();
    body["team_id"] = json!(team);
    assert_eq!(bob.api("POST", "/connections", Some(&body)).status, 403);
    let self_promote = bob.api(
        "PATCH",
        &format!("/teams/{team}/members/{}", bob.id),
        Some(&json!({"role": "owner"})),
    );
    assert_eq!(self_promote.status, 403);
    // Not through PostgREST either.
    let direct = bob.rest(
        "PATCH",
        &format!("team_members?team_id=eq.{team}&user_id=eq.{}", bob.id),
        Some(&json!({"role": "owner"})),
    );
    assert!(
        direct.status >= 400 || direct.json() == json!([]),
        "{}",
        direct.text()
    );

    // Admins manage members but cannot touch owners.
    let promote = alice.api(
        "PATCH",
        &format!("/teams/{team}/members/{}", bob.id),
        Some(&json!({"role": "admin"})),
    );
    assert_eq!(promote.status, 200, "{}", promote.text());
    let demote_owner = bob.api(
        "PATCH",
        &format!("/teams/{team}/members/{}", alice.id),
        Some(&json!({"role": "viewer"})),
    );
    assert_eq!(demote_owner.status, 403);
    let bad_role = alice.api(
        "PATCH",
        &format!("/teams/{team}/members/{}", bob.id),
        Some(&json!({"role": "root"})),
    );
    assert_eq!(bad_role.status, 422);
    assert_eq!(bad_role.json()["error"]["field"], "role");

    // The last owner can neither step down nor leave.
    let step_down = alice.api(
        "PATCH",
        &format!("/teams/{team}/members/{}", alice.id),
        Some(&json!({"role": "admin"})),
    );
    assert_eq!(step_down.status, 409);
    assert_eq!(step_down.error_code(), "last_owner");
    assert_eq!(
        alice
            .api(
                "DELETE",
                &format!("/teams/{team}/members/{}", alice.id),
                None
            )
            .error_code(),
        "last_owner"
    );
    // Enforced by the database too, whoever writes.
    let raw = service(
        "DELETE",
        &format!("team_members?team_id=eq.{team}&user_id=eq.{}", alice.id),
        None,
    );
    assert!(raw.status >= 400, "{}", raw.text());

    // With a second owner, the first may step down; then members can be removed.
    let promote = alice.api(
        "PATCH",
        &format!("/teams/{team}/members/{}", bob.id),
        Some(&json!({"role": "owner"})),
    );
    assert_eq!(promote.status, 200, "{}", promote.text());
    let step_down = alice.api(
        "PATCH",
        &format!("/teams/{team}/members/{}", alice.id),
        Some(&json!({"role": "auditor"})),
    );
    assert_eq!(step_down.status, 200, "{}", step_down.text());
    let removed = bob.api(
        "DELETE",
        &format!("/teams/{team}/members/{}", alice.id),
        None,
    );
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert_eq!(
        psql(&format!(
            "select count(*) from team_members where team_id = '{team}'"
        )),
        "1"
    );
    let actions: Vec<Value> = activity(&team)
        .iter()
        .map(|r| r["action"].clone())
        .collect();
    for action in [
        "member.invite",
        "member.join",
        "member.role_change",
        "member.remove",
    ] {
        assert!(actions.contains(&json!(action)), "{action}");
    }
}

#[test]
fn a_user_holds_at_most_the_capped_number_of_active_keys() {
    use butterfly::store::MAX_ACTIVE_KEYS_PER_USER;
    let alice = new_user();
    let team = personal_team(&alice);
    // The cap counts a user's keys across their teams (each team's plan has room for its half).
    let second = team_with(&alice, None);
    let mut ids = Vec::new();
    for i in 0..MAX_ACTIVE_KEYS_PER_USER {
        let in_team = if i % 2 == 0 { &team } else { &second };
        ids.push(create_key(&alice, in_team, &[Scope::Read]).0);
    }
    let body = json!({"name": "one too many", "scopes": ["read"], "team_id": team});
    let reply = alice.api("POST", "/api-keys", Some(&body));
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (409, "api_key_limit"),
        "{}",
        reply.text()
    );
    assert!(!reply.text().contains("bfk_"), "{}", reply.text());
    let active = |user: &User| {
        psql(&format!(
            "select count(*) from api_keys where user_id = '{}' and revoked_at is null",
            user.id
        ))
    };
    assert_eq!(active(&alice), MAX_ACTIVE_KEYS_PER_USER.to_string());
    // The database holds the same cap, whoever inserts (here the service role, around the worker).
    let direct = service(
        "POST",
        "api_keys",
        Some(&json!({
            "id": "00000000-0000-4000-8000-00000000cafe", "team_id": team, "user_id": alice.id,
            "name": "direct", "secret_hash": "0".repeat(64), "scopes": ["read"],
        })),
    );
    assert_eq!(direct.status, 409, "{}", direct.text());
    // A revoked key frees its place; the cap is per user, so another user is unaffected.
    assert_eq!(
        alice
            .api("DELETE", &format!("/api-keys/{}", ids[0]), None)
            .status,
        200
    );
    create_key(&alice, &team, &[Scope::Read]);
    let bob = new_user();
    create_key(&bob, &personal_team(&bob), &[Scope::Read]);
}
