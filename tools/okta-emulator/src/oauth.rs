//! Okta's org authorization server for service apps (developer.okta.com/docs/guides/
//! implement-oauth-for-okta-serviceapp/): `POST /oauth2/v1/token` with the Client Credentials
//! grant and `private_key_jwt` client authentication, and the app grants
//! (`/api/v1/apps/{appId}/grants`) that decide which Okta scopes an app may request.
//!
//! - The app is an `OPENID_CONNECT` app whose `credentials.oauthClient.token_endpoint_auth_method`
//!   is `private_key_jwt`, with its public keys in `settings.oauthClient.jwks.keys`.
//! - The client assertion: `iss` = `sub` = the client id, `aud` = this token endpoint's URL,
//!   `exp` in the future and at most an hour after `iat`, a `jti` never seen before, signed
//!   (ES256) by the registered key its `kid` names.
//! - Every requested scope must be granted to the app, else `invalid_scope` naming the others.
//! - `settings.oauthClient.dpop_bound_access_tokens: true` requires a DPoP proof (RFC 9449):
//!   without one `invalid_dpop_proof`, without the server's nonce `use_dpop_nonce` and a
//!   `DPoP-Nonce` header; the token is then bound to the proof's key (`token_type: DPoP`).
//! - Access tokens live [`TOKEN_LIFETIME_S`] seconds.
//!
//! Errors are OAuth 2.0 bodies (`error`, `error_description`), as Okta's token endpoint answers.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use serde_json::{json, Value};

use crate::jws::{thumbprint, Jws};
use crate::prng::SplitMix64;
use crate::tenant::Tenant;
use crate::time::iso8601;

/// How long an access token of the org authorization server lives, as Okta documents.
pub(crate) const TOKEN_LIFETIME_S: u64 = 3600;
/// Longest client assertion Okta accepts: `exp` at most an hour after `iat`.
const MAX_ASSERTION_S: u64 = 3600;
/// Clock skew allowed on `iat` of assertions and proofs.
const SKEW_S: u64 = 60;
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A token endpoint refusal.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) description: String,
    /// Whether the answer carries the server's `DPoP-Nonce`.
    pub(crate) nonce: bool,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            nonce: false,
        }
    }

    fn client(description: impl Into<String>) -> Self {
        Self::new(401, "invalid_client", description)
    }

    pub(crate) fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

/// An access token the server issued.
#[derive(Clone, Debug)]
pub(crate) struct Issued {
    pub(crate) scopes: HashSet<String>,
    pub(crate) expires_s: u64,
    /// The thumbprint of the DPoP key the token is bound to.
    pub(crate) jkt: Option<String>,
}

#[derive(Default)]
pub(crate) struct OAuthServer {
    /// Granted scopes per app id.
    grants: Mutex<HashMap<String, Vec<Value>>>,
    /// `client_id:jti` of every assertion accepted (replays are refused).
    seen_jtis: Mutex<HashSet<String>>,
    issued: Mutex<HashMap<String, Issued>>,
}

impl OAuthServer {
    /// The server's current DPoP nonce.
    pub(crate) fn nonce(&self) -> &'static str {
        "emulator-dpop-nonce-1"
    }

    /// An issued, unexpired token.
    pub(crate) fn issued(&self, token: &str, now_s: u64) -> Option<Issued> {
        let issued = lock(&self.issued).get(token).cloned()?;
        (issued.expires_s > now_s).then_some(issued)
    }

    /// Expires every issued token (`POST /__emulator/tokens/revoke`).
    pub(crate) fn revoke_all(&self) {
        lock(&self.issued).clear();
    }

    /// `POST /api/v1/apps/{appId}/grants`: grants one Okta scope to the app.
    pub(crate) fn grant(
        &self,
        tenant: &Tenant,
        app_id: &str,
        body: &Value,
        origin: &str,
        ids: &mut SplitMix64,
        now_ms: u64,
    ) -> Result<Value, crate::errors::ApiError> {
        let app = tenant
            .app(app_id)
            .ok_or_else(|| crate::errors::ApiError::not_found("AppInstance", app_id))?;
        let scope = body["scopeId"]
            .as_str()
            .filter(|s| s.starts_with("okta.") && s.len() < 100)
            .ok_or_else(|| {
                crate::errors::ApiError::validation("scopeId", "scopeId: The scope is invalid.")
            })?;
        let issuer = body["issuer"].as_str().unwrap_or(origin);
        let mut grants = lock(&self.grants);
        let list = grants.entry(app_id.to_owned()).or_default();
        if let Some(existing) = list.iter().find(|g| g["scopeId"] == scope) {
            return Ok(existing.clone());
        }
        let id = ids.okta_id("oag");
        let now = iso8601(i64::try_from(now_ms).unwrap_or(i64::MAX));
        let grant = json!({
            "id": id,
            "status": "ACTIVE",
            "created": now,
            "lastUpdated": now,
            "issuer": issuer,
            "clientId": app["credentials"]["oauthClient"]["client_id"],
            "scopeId": scope,
            "source": "ADMIN",
            "_links": {
                "app": {"href": format!("{origin}/api/v1/apps/{app_id}")},
                "self": {"href": format!("{origin}/api/v1/apps/{app_id}/grants/{id}")},
            },
        });
        list.push(grant.clone());
        Ok(grant)
    }

    /// `GET /api/v1/apps/{appId}/grants`.
    pub(crate) fn grants(&self, app_id: &str) -> Vec<Value> {
        lock(&self.grants).get(app_id).cloned().unwrap_or_default()
    }

    /// `DELETE /api/v1/apps/{appId}/grants/{grantId}`; whether there was one.
    pub(crate) fn revoke_grant(&self, app_id: &str, grant_id: &str) -> bool {
        let mut grants = lock(&self.grants);
        let Some(list) = grants.get_mut(app_id) else {
            return false;
        };
        let before = list.len();
        list.retain(|g| g["id"] != grant_id);
        before != list.len()
    }

    /// `POST /oauth2/v1/token`. `token_url` is this endpoint's absolute URL, `form` the
    /// urlencoded body, `dpop` the `DPoP` header; `access_token` makes the new token's value.
    pub(crate) fn token(
        &self,
        tenant: &Tenant,
        token_url: &str,
        form: &str,
        dpop: Option<&str>,
        now_s: u64,
        access_token: impl FnOnce() -> String,
    ) -> Result<Value, OAuthError> {
        let form = parse_form(form);
        let param = |name: &str| form.get(name).map(String::as_str);
        if param("grant_type") != Some("client_credentials") {
            return Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            ));
        }
        if param("client_assertion_type") != Some(JWT_BEARER) {
            return Err(OAuthError::client(
                "Client authentication failed. Either the client or the client credentials are \
                 invalid.",
            ));
        }
        let assertion = param("client_assertion")
            .and_then(Jws::parse)
            .ok_or_else(|| OAuthError::client("The client_assertion token is invalid."))?;
        let client_id = assertion.claims["iss"].as_str().unwrap_or_default();
        if assertion.claims["sub"] != client_id
            || param("client_id").is_some_and(|c| c != client_id)
        {
            return Err(OAuthError::client(
                "The client_assertion token has an invalid 'sub' or 'iss' claim.",
            ));
        }
        let app = tenant
            .apps()
            .iter()
            .find(|a| {
                a["credentials"]["oauthClient"]["client_id"] == client_id && a["status"] == "ACTIVE"
            })
            .ok_or_else(|| OAuthError::client("Invalid value for 'client_id' parameter."))?;
        if app["credentials"]["oauthClient"]["token_endpoint_auth_method"] != "private_key_jwt" {
            return Err(OAuthError::client(
                "Client authentication failed. The client is not configured for private_key_jwt.",
            ));
        }
        let keys = app["settings"]["oauthClient"]["jwks"]["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let kid = assertion.header["kid"].as_str();
        let verified = keys
            .iter()
            .filter(|k| kid.is_none() || k["kid"].as_str() == kid)
            .any(|k| assertion.verifies_with(k));
        if !verified {
            return Err(OAuthError::client(
                "The client_assertion signature is invalid.",
            ));
        }
        if assertion.claims["aud"] != token_url {
            return Err(OAuthError::client(
                "The audience [aud] claim in the JWT is invalid.",
            ));
        }
        let (exp, iat) = (assertion.seconds("exp"), assertion.seconds("iat"));
        match (exp, iat) {
            (Some(exp), Some(iat))
                if exp > now_s
                    && iat <= now_s + SKEW_S
                    && exp - iat.min(exp) <= MAX_ASSERTION_S => {}
            (Some(exp), _) if exp <= now_s => {
                return Err(OAuthError::client("The client_assertion token is expired."))
            }
            _ => {
                return Err(OAuthError::client(
                    "The client_assertion token has an expiration too far into the future.",
                ))
            }
        }
        let jti = assertion.claims["jti"]
            .as_str()
            .filter(|j| !j.is_empty())
            .ok_or_else(|| OAuthError::client("The client_assertion token has no 'jti' claim."))?;
        let requested: BTreeSet<&str> = param("scope")
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        if requested.is_empty() {
            return Err(OAuthError::new(
                400,
                "invalid_scope",
                "The authorization server resource does not have any configured default scopes, \
                 'scope' must be provided.",
            ));
        }
        let app_id = app["id"].as_str().unwrap_or_default();
        let granted: HashSet<String> = self
            .grants(app_id)
            .iter()
            .filter_map(|g| g["scopeId"].as_str().map(str::to_owned))
            .collect();
        let missing: Vec<&str> = requested
            .iter()
            .copied()
            .filter(|s| !granted.contains(*s))
            .collect();
        if !missing.is_empty() {
            return Err(OAuthError::new(
                400,
                "invalid_scope",
                format!(
                    "The following scopes were requested, but not granted: {}",
                    missing.join(" ")
                ),
            ));
        }
        let jkt = if app["settings"]["oauthClient"]["dpop_bound_access_tokens"] == true {
            Some(self.check_token_proof(dpop, token_url, now_s)?)
        } else {
            None
        };
        // Only an assertion that got this far is spent.
        if !lock(&self.seen_jtis).insert(format!("{client_id}:{jti}")) {
            return Err(OAuthError::client(
                "The client_assertion token has already been used.",
            ));
        }
        let token = access_token();
        let scope = requested.iter().copied().collect::<Vec<_>>().join(" ");
        lock(&self.issued).insert(
            token.clone(),
            Issued {
                scopes: requested.iter().map(|s| (*s).to_owned()).collect(),
                expires_s: now_s + TOKEN_LIFETIME_S,
                jkt: jkt.clone(),
            },
        );
        Ok(json!({
            "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
            "expires_in": TOKEN_LIFETIME_S,
            "access_token": token,
            "scope": scope,
        }))
    }

    /// The DPoP proof of a token request; the thumbprint of its key.
    fn check_token_proof(
        &self,
        dpop: Option<&str>,
        token_url: &str,
        now_s: u64,
    ) -> Result<String, OAuthError> {
        let dpop = dpop.ok_or_else(|| {
            OAuthError::new(
                400,
                "invalid_dpop_proof",
                "The DPoP proof JWT header is missing.",
            )
        })?;
        let jkt = verify_proof(dpop, "POST", token_url, None, now_s)
            .map_err(|description| OAuthError::new(400, "invalid_dpop_proof", description))?;
        let proof = Jws::parse(dpop).expect("verified above");
        if proof.claims["nonce"] != self.nonce() {
            let mut error = OAuthError::new(
                400,
                "use_dpop_nonce",
                "Authorization server requires nonce in DPoP proof.",
            );
            error.nonce = true;
            return Err(error);
        }
        Ok(jkt)
    }
}

/// Checks a DPoP proof (RFC 9449 §4.3): `typ` `dpop+jwt`, ES256 under the JWK in its header,
/// `htm` and `htu` of this request, a recent `iat`, a `jti`, and for a resource call the `ath` of
/// its access token. Returns the key's thumbprint.
pub(crate) fn verify_proof(
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now_s: u64,
) -> Result<String, &'static str> {
    let jws = Jws::parse(proof).ok_or("The DPoP proof JWT is malformed.")?;
    if jws.header["typ"] != "dpop+jwt" {
        return Err("The DPoP proof JWT has an invalid 'typ' header.");
    }
    let jwk = &jws.header["jwk"];
    if !jws.verifies_with(jwk) {
        return Err("The DPoP proof JWT signature is invalid.");
    }
    if jws.claims["htm"] != method || jws.claims["htu"] != url {
        return Err("The DPoP proof JWT 'htm' or 'htu' claim does not match the request.");
    }
    let fresh = jws
        .seconds("iat")
        .is_some_and(|iat| iat <= now_s + SKEW_S && iat + SKEW_S >= now_s);
    if !fresh || !jws.claims["jti"].is_string() {
        return Err("The DPoP proof JWT 'iat' or 'jti' claim is invalid.");
    }
    if let Some(token) = access_token {
        if jws.claims["ath"] != crate::jws::token_hash(token) {
            return Err("The DPoP proof JWT 'ath' claim does not match the access token.");
        }
    }
    thumbprint(jwk).ok_or("The DPoP proof JWT has an invalid 'jwk' header.")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `application/x-www-form-urlencoded` pairs (the first of a repeated name wins).
fn parse_form(form: &str) -> HashMap<String, String> {
    let mut pairs = HashMap::new();
    for pair in form.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        pairs
            .entry(percent_decode(name))
            .or_insert_with(|| percent_decode(value));
    }
    pairs
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jws::testing::{key, public_jwk, sign};
    use p256::ecdsa::SigningKey;

    const URL: &str = "http://okta.test/oauth2/v1/token";
    const NOW: u64 = 1_800_000_000;

    fn tenant(dpop: bool, key: &SigningKey) -> Tenant {
        let mut tenant = Tenant::generate(1, 1, 1, 0);
        tenant.add_app(json!({
            "id": "0oaSVC", "status": "ACTIVE", "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"client_id": "0oaSVC",
                "token_endpoint_auth_method": "private_key_jwt"}},
            "settings": {"oauthClient": {"application_type": "service",
                "grant_types": ["client_credentials"], "dpop_bound_access_tokens": dpop,
                "jwks": {"keys": [public_jwk(key, "kid-1")]}}},
        }));
        tenant
    }

    fn assertion(key: &SigningKey, jti: &str, aud: &str, iat: u64, exp: u64) -> String {
        sign(
            key,
            &json!({"alg": "ES256", "kid": "kid-1"}),
            &json!({"iss": "0oaSVC", "sub": "0oaSVC", "aud": aud, "iat": iat, "exp": exp, "jti": jti}),
        )
    }

    fn form(assertion: &str, scope: &str) -> String {
        format!(
            "grant_type=client_credentials&scope={}&client_assertion_type={}&client_assertion={assertion}",
            scope.replace(' ', "+"),
            JWT_BEARER.replace(':', "%3A")
        )
    }

    fn granted(server: &OAuthServer, tenant: &Tenant, scopes: &[&str]) {
        let mut ids = SplitMix64::new(1);
        for scope in scopes {
            server
                .grant(
                    tenant,
                    "0oaSVC",
                    &json!({"scopeId": scope}),
                    "http://okta.test",
                    &mut ids,
                    0,
                )
                .unwrap();
        }
    }

    #[test]
    fn a_signed_assertion_gets_a_token_of_granted_scopes_once() {
        let k = key(7);
        let (tenant, server) = (tenant(false, &k), OAuthServer::default());
        granted(&server, &tenant, &["okta.users.read", "okta.groups.read"]);
        let a = assertion(&k, "j1", URL, NOW, NOW + 300);
        let body = server
            .token(
                &tenant,
                URL,
                &form(&a, "okta.users.read okta.groups.read"),
                None,
                NOW,
                || "at1".into(),
            )
            .unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "okta.groups.read okta.users.read");
        let issued = server.issued("at1", NOW + 10).unwrap();
        assert!(issued.scopes.contains("okta.users.read"));
        assert!(
            server.issued("at1", NOW + TOKEN_LIFETIME_S).is_none(),
            "expired"
        );
        // The same assertion again is a replay.
        let replay = server
            .token(
                &tenant,
                URL,
                &form(&a, "okta.users.read"),
                None,
                NOW,
                || "at2".into(),
            )
            .unwrap_err();
        assert_eq!(replay.error, "invalid_client");
        assert!(replay.description.contains("already been used"));
    }

    #[test]
    fn assertions_are_checked_claim_by_claim() {
        let (k, other) = (key(7), key(8));
        let (tenant, server) = (tenant(false, &k), OAuthServer::default());
        granted(&server, &tenant, &["okta.users.read"]);
        let cases = [
            (assertion(&other, "a", URL, NOW, NOW + 60), "signature"),
            (
                assertion(
                    &k,
                    "b",
                    "http://okta.test/oauth2/default/v1/token",
                    NOW,
                    NOW + 60,
                ),
                "audience",
            ),
            (assertion(&k, "c", URL, NOW - 600, NOW - 1), "expired"),
            (assertion(&k, "d", URL, NOW, NOW + 7200), "too far"),
        ];
        for (a, why) in cases {
            let err = server
                .token(
                    &tenant,
                    URL,
                    &form(&a, "okta.users.read"),
                    None,
                    NOW,
                    || "x".into(),
                )
                .unwrap_err();
            assert_eq!((err.status, err.error), (401, "invalid_client"), "{why}");
            assert!(err.description.contains(why), "{why}: {}", err.description);
        }
        let a = assertion(&k, "e", URL, NOW, NOW + 60);
        let err = server
            .token(
                &tenant,
                URL,
                &form(&a, "okta.users.read okta.logs.read"),
                None,
                NOW,
                || "x".into(),
            )
            .unwrap_err();
        assert_eq!((err.status, err.error), (400, "invalid_scope"));
        assert_eq!(
            err.description,
            "The following scopes were requested, but not granted: okta.logs.read"
        );
        // A refused request does not spend the assertion's jti.
        assert!(server
            .token(
                &tenant,
                URL,
                &form(&a, "okta.users.read"),
                None,
                NOW,
                || "ok".into()
            )
            .is_ok());
    }

    fn proof(key: &SigningKey, htu: &str, nonce: Option<&str>, ath: Option<&str>) -> String {
        let mut claims = json!({"htm": "POST", "htu": htu, "iat": NOW, "jti": "p1"});
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(ath) = ath {
            claims["ath"] = json!(ath);
        }
        sign(
            key,
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key, "d")}),
            &claims,
        )
    }

    #[test]
    fn dpop_apps_need_a_proof_with_the_servers_nonce() {
        let (k, dpop_key) = (key(7), key(9));
        let (tenant, server) = (tenant(true, &k), OAuthServer::default());
        granted(&server, &tenant, &["okta.users.read"]);
        let body = |jti: &str| form(&assertion(&k, jti, URL, NOW, NOW + 60), "okta.users.read");
        let missing = server
            .token(&tenant, URL, &body("1"), None, NOW, || "x".into())
            .unwrap_err();
        assert_eq!((missing.status, missing.error), (400, "invalid_dpop_proof"));
        let no_nonce = proof(&dpop_key, URL, None, None);
        let err = server
            .token(&tenant, URL, &body("2"), Some(&no_nonce), NOW, || {
                "x".into()
            })
            .unwrap_err();
        assert_eq!((err.error, err.nonce), ("use_dpop_nonce", true));
        let wrong_url = proof(
            &dpop_key,
            "http://elsewhere/token",
            Some(server.nonce()),
            None,
        );
        let err = server
            .token(&tenant, URL, &body("3"), Some(&wrong_url), NOW, || {
                "x".into()
            })
            .unwrap_err();
        assert_eq!(err.error, "invalid_dpop_proof");
        let good = proof(&dpop_key, URL, Some(server.nonce()), None);
        let ok = server
            .token(&tenant, URL, &body("4"), Some(&good), NOW, || "dp".into())
            .unwrap();
        assert_eq!(ok["token_type"], "DPoP");
        let jkt = thumbprint(&public_jwk(&dpop_key, "d"));
        assert_eq!(server.issued("dp", NOW).unwrap().jkt, jkt);
        // A resource call's proof must carry the token's hash.
        let ath = crate::jws::token_hash("dp");
        let call = proof(&dpop_key, "http://okta.test/api/v1/users", None, Some(&ath));
        assert_eq!(
            verify_proof(
                &call,
                "POST",
                "http://okta.test/api/v1/users",
                Some("dp"),
                NOW
            )
            .ok(),
            jkt
        );
        assert!(verify_proof(
            &call,
            "POST",
            "http://okta.test/api/v1/users",
            Some("other"),
            NOW
        )
        .is_err());
    }

    #[test]
    fn forms_decode_percent_and_plus() {
        let form = parse_form("a=x%3Ay+z&b=%2&c");
        assert_eq!(form["a"], "x:y z");
        assert_eq!(form["b"], "%2");
        assert_eq!(form["c"], "");
    }
}
