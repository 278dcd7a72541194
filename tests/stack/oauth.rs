//! OAuth 2.0 service-app connections end to end: Butterfly generates the key pair, the admin
//! registers the public JWK and grants scopes in Okta (the emulator's Apps and grants APIs, as
//! Okta documents them), Butterfly verifies, records granted and missing scopes, and backs up
//! with access tokens of the org authorization server (Bearer, and DPoP-bound with a nonce).

use crate::support::*;
use serde_json::{json, Value};

const READ: &[&str] = &[
    "okta.users.read",
    "okta.groups.read",
    "okta.apps.read",
    "okta.policies.read",
    "okta.authenticators.read",
    "okta.networkZones.read",
    "okta.idps.read",
    "okta.eventHooks.read",
    "okta.inlineHooks.read",
    "okta.apiTokens.read",
    "okta.roles.read",
    "okta.authorizationServers.read",
    "okta.threatInsights.read",
    "okta.orgs.read",
];

/// An admin's call to the org with its API token.
fn okta_admin(method: &str, path: &str, body: &Value) -> Reply {
    let auth = format!("SSWS {}", env("BF_OKTA_TOKEN"));
    call(
        method,
        &format!("{}{path}", env("BF_OKTA_URL")),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(&serde_json::to_vec(body).unwrap()),
    )
}

/// A service-app connection of a new user's team, not yet registered in Okta.
fn create(user: &User, client_id: &str) -> (String, Value) {
    let reply = user.api(
        "POST",
        "/connections",
        Some(
            &json!({"org_domain": okta_host(), "auth_type": "service_app", "client_id": client_id}),
        ),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    let id = body["connection"]["id"].as_str().unwrap().to_string();
    (id, body)
}

/// Registers the API Services app with the public key, as the admin does (Okta's Apps API).
fn register_app(client_id: &str, jwk: &Value, dpop: bool) -> String {
    let reply = okta_admin(
        "POST",
        "/api/v1/apps",
        &json!({
            "name": "oidc_client", "label": format!("Butterfly {client_id}"),
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"client_id": client_id,
                "token_endpoint_auth_method": "private_key_jwt"}},
            "settings": {"oauthClient": {"application_type": "service",
                "grant_types": ["client_credentials"], "response_types": ["token"],
                "dpop_bound_access_tokens": dpop, "jwks": {"keys": [jwk]}}},
        }),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["id"].as_str().unwrap().to_string()
}

fn grant(app: &str, scope: &str) {
    let reply = okta_admin(
        "POST",
        &format!("/api/v1/apps/{app}/grants"),
        &json!({"scopeId": scope, "issuer": env("BF_OKTA_URL")}),
    );
    assert_eq!(reply.status, 201, "{scope}: {}", reply.text());
}

fn strings(value: &Value) -> Vec<String> {
    let mut all: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    all.sort();
    all
}

fn sorted(scopes: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    all.sort();
    all
}

#[test]
fn service_app_is_verified_shows_missing_scopes_and_backs_up_with_its_token() {
    let user = new_user();
    let client_id = format!("0oa{}", &user.id.replace('-', "")[..17]);
    let (id, created) = create(&user, &client_id);
    let connection = &created["connection"];
    assert_eq!(connection["auth_type"], "oauth_private_key_jwt");
    assert_eq!(connection["client_id"], client_id.as_str());
    assert!(connection["verified_at"].is_null());
    let setup = &created["setup"];
    let jwk = setup["public_jwk"].clone();
    assert_eq!(
        (&jwk["kty"], &jwk["crv"], &jwk["alg"]),
        (&json!("EC"), &json!("P-256"), &json!("ES256"))
    );
    assert_eq!(jwk["kid"], connection["key_id"]);
    assert!(
        jwk.get("d").is_none(),
        "the private key never leaves Butterfly"
    );
    // Read-only scopes (restore is off): the backup's families and the System Log.
    let mut wanted = READ.to_vec();
    wanted.push("okta.logs.read");
    assert_eq!(strings(&setup["scopes"]), sorted(&wanted));
    assert_eq!(
        setup["token_endpoint"],
        format!("{}/oauth2/v1/token", env("BF_OKTA_URL"))
    );
    let sealed = service(
        "GET",
        &format!("okta_connections?id=eq.{id}&select=sealed_token"),
        None,
    )
    .json();
    let sealed = sealed[0]["sealed_token"].as_str().unwrap();
    assert!(sealed.starts_with("v1.") && !sealed.contains(&client_id));

    let health = user.api("GET", &format!("/connections/{id}"), None).json()["health"].clone();
    assert_eq!(health["state"], "unverified");
    assert_eq!(health["auth_type"], "service_app");

    // Not registered in Okta yet: Okta refuses the client, and the health says so.
    let refused = user.api("POST", &format!("/connections/{id}/verify"), None);
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert_eq!(refused.error_code(), "okta_rejected");
    let health = user.api("GET", &format!("/connections/{id}"), None).json()["health"].clone();
    assert_eq!(health["state"], "error");
    assert!(
        health["last_error"]
            .as_str()
            .unwrap()
            .contains("invalid_client"),
        "{health}"
    );

    // The admin registers the key and grants every read scope but the System Log's.
    let app = register_app(&client_id, &jwk, false);
    for scope in READ {
        grant(&app, scope);
    }
    let verified = user.api("POST", &format!("/connections/{id}/verify"), None);
    assert_eq!(verified.status, 200, "{}", verified.text());
    let body = verified.json();
    assert_eq!(strings(&body["connection"]["granted_scopes"]), sorted(READ));
    assert_eq!(
        body["connection"]["missing_scopes"],
        json!(["okta.logs.read"])
    );
    let health = &body["health"];
    assert_eq!(health["state"], "missing_scopes");
    assert_eq!(health["backup_ready"], true);
    assert!(health["last_error"].is_null());
    assert!(health["last_success_at"].is_string());
    assert!(health["key_created_at"].is_string());

    // A backup completes with the service app's access token (the connection has no other).
    let backup = user.backup(&id);
    assert_eq!(backup["status"], "complete", "{backup}");
    let groups = download(&user, backup["id"].as_str().unwrap(), "groups");
    assert_eq!(groups, okta_list("/api/v1/groups?limit=10000"));

    // Granting the missing scope and verifying again clears it.
    grant(&app, "okta.logs.read");
    let again = user
        .api("POST", &format!("/connections/{id}/verify"), None)
        .json();
    assert_eq!(again["connection"]["missing_scopes"], json!([]));
    assert_eq!(again["health"]["state"], "ok");

    // No access token is ever stored: the row holds only the sealed key and public facts.
    let row = service("GET", &format!("okta_connections?id=eq.{id}"), None).json();
    let text = row.to_string();
    assert!(
        !text.contains("access_token") && !text.contains("Bearer"),
        "{text}"
    );
    let actions: Vec<String> = activity(connection["team_id"].as_str().unwrap())
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect();
    for action in [
        "connection.create",
        "connection.verify_failed",
        "connection.verify",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[test]
fn dpop_bound_service_app_backs_up() {
    let user = new_user();
    let client_id = format!("0oa{}", &user.id.replace('-', "")[..17]);
    let (id, created) = create(&user, &client_id);
    let app = register_app(&client_id, &created["setup"]["public_jwk"], true);
    for scope in READ.iter().chain(["okta.logs.read"].iter()) {
        grant(&app, scope);
    }
    let verified = user.api("POST", &format!("/connections/{id}/verify"), None);
    assert_eq!(verified.status, 200, "{}", verified.text());
    assert_eq!(verified.json()["health"]["state"], "ok");
    let backup = user.backup(&id);
    assert_eq!(backup["status"], "complete", "{backup}");
}

#[test]
fn api_token_connections_refuse_service_app_fields_and_verification() {
    let user = new_user();
    let mut body = okta_connection_body();
    body["client_id"] = json!("0oa123");
    let reply = user.api("POST", "/connections", Some(&body));
    assert_eq!(reply.status, 422, "{}", reply.text());
    let id = user.create_connection();
    let reply = user.api("POST", &format!("/connections/{id}/verify"), None);
    assert_eq!(reply.status, 422, "{}", reply.text());
    let health = user.api("GET", &format!("/connections/{id}"), None).json()["health"].clone();
    assert_eq!(health["auth_type"], "api_token");
    assert_eq!(health["state"], "ok");
}
