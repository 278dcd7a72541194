//! OAuth 2.0 service-app credentials for Okta's management API, as Okta documents them
//! (developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/): the Client Credentials
//! grant at the org authorization server (`https://{org}/oauth2/v1/token`), `private_key_jwt`
//! client authentication with a P-256 key Butterfly generates (ES256; the admin registers the
//! public JWK in the app), and DPoP (RFC 9449) when the app requires it.
//!
//! Access tokens live in [`TokenCache`] (the isolate's memory) until shortly before they expire;
//! they are never written anywhere else.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use zeroize::Zeroizing;

use super::domain::OrgDomain;
use crate::ports::{Clock, HttpClient, HttpRequest, Method, Rng};

/// Read scopes a backup and the compliance checks need: one per resource family Butterfly reads.
pub const READ_SCOPES: &[&str] = &[
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
/// The drift check polls the System Log.
pub const LOG_SCOPE: &str = "okta.logs.read";
/// Write scopes a restore needs (users, groups, apps, policies), requested only when enabled.
pub const WRITE_SCOPES: &[&str] = &[
    "okta.users.manage",
    "okta.groups.manage",
    "okta.apps.manage",
    "okta.policies.manage",
];

/// The scopes a service-app connection asks Okta for: read-only unless restores are enabled.
pub fn wanted_scopes(restore: bool) -> Vec<String> {
    let mut scopes: Vec<&str> = READ_SCOPES.to_vec();
    scopes.push(LOG_SCOPE);
    if restore {
        scopes.extend_from_slice(WRITE_SCOPES);
    }
    scopes.into_iter().map(str::to_owned).collect()
}

/// Lifetime of a client assertion: Okta accepts at most an hour; five minutes is plenty.
const ASSERTION_LIFETIME_S: i64 = 300;
/// A cached token is refreshed once it has less than this left, so a job slice never starts
/// with a token that expires under it.
const REFRESH_MARGIN_S: i64 = 600;
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A P-256 signing key with its RFC 7638 thumbprint as `kid`. Never printed.
pub struct SigningJwk {
    key: SigningKey,
    kid: String,
}

impl fmt::Debug for SigningJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningJwk({}, ..redacted..)", self.kid)
    }
}

impl SigningJwk {
    /// A fresh key from the Rng port (a draw outside the curve order is drawn again).
    pub fn generate(rng: &dyn Rng) -> Self {
        loop {
            let mut bytes = Zeroizing::new([0u8; 32]);
            rng.fill(&mut bytes[..]);
            if let Ok(key) = SigningKey::from_slice(&bytes[..]) {
                return Self::from_key(key);
            }
        }
    }

    fn from_key(key: SigningKey) -> Self {
        let kid = thumbprint(&public_members(&key));
        SigningJwk { key, kid }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK, as an admin pastes it into the app's public keys.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = public_members(&self.key);
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!("ES256");
        jwk
    }

    /// A compact JWS (ES256) of `header` (with `alg`) and `claims`.
    fn sign(&self, mut header: Value, claims: &Value) -> String {
        header["alg"] = json!("ES256");
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

fn public_members(key: &SigningKey) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    let coordinate =
        |c: Option<&p256::FieldBytes>| URL_SAFE_NO_PAD.encode(c.expect("uncompressed"));
    json!({"kty": "EC", "crv": "P-256", "x": coordinate(point.x()), "y": coordinate(point.y())})
}

/// RFC 7638 thumbprint of an EC public JWK.
fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap_or_default(),
        jwk["x"].as_str().unwrap_or_default(),
        jwk["y"].as_str().unwrap_or_default()
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// What a service-app connection seals: the client id and the private key.
#[derive(Debug)]
pub struct ServiceAppCredential {
    pub client_id: String,
    pub key: SigningJwk,
}

#[derive(Deserialize)]
struct SealedForm {
    v: u8,
    client_id: String,
    d: Zeroizing<String>,
}

impl ServiceAppCredential {
    /// The plaintext sealed under the team's data key.
    pub fn to_sealed_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let d = Zeroizing::new(URL_SAFE_NO_PAD.encode(self.key.key.to_bytes()));
        Zeroizing::new(
            json!({"v": 1, "client_id": self.client_id, "d": d.as_str()})
                .to_string()
                .into_bytes(),
        )
    }

    pub fn from_sealed_plaintext(plain: &[u8]) -> Result<Self, TokenError> {
        let form: SealedForm = serde_json::from_slice(plain)
            .map_err(|_| TokenError::Credential("unreadable service-app credential"))?;
        let d = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(form.d.as_str())
                .map_err(|_| TokenError::Credential("unreadable service-app key"))?,
        );
        let key = SigningKey::from_slice(&d)
            .map_err(|_| TokenError::Credential("invalid service-app key"))?;
        if form.v != 1 {
            return Err(TokenError::Credential(
                "unknown service-app credential version",
            ));
        }
        Ok(ServiceAppCredential {
            client_id: form.client_id,
            key: SigningJwk::from_key(key),
        })
    }
}

/// The org authorization server's token endpoint.
pub fn token_url(org: &OrgDomain) -> String {
    format!("{}/oauth2/v1/token", org.base_url())
}

fn random_id(rng: &dyn Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The `client_assertion` JWT: iss = sub = client id, aud = the token endpoint, a short `exp`.
pub fn client_assertion(
    credential: &ServiceAppCredential,
    token_url: &str,
    now: DateTime<Utc>,
    jti: &str,
) -> String {
    let iat = now.timestamp();
    credential.key.sign(
        json!({"kid": credential.key.kid(), "typ": "JWT"}),
        &json!({
            "iss": credential.client_id, "sub": credential.client_id, "aud": token_url,
            "iat": iat, "exp": iat + ASSERTION_LIFETIME_S, "jti": jti,
        }),
    )
}

/// A DPoP proof (RFC 9449 §4.2) for `method url` (query and fragment dropped), with the server's
/// nonce and, for a resource call, `ath` of the access token.
pub fn dpop_proof(
    key: &SigningJwk,
    method: Method,
    url: &str,
    now: DateTime<Utc>,
    jti: &str,
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> String {
    let htu = url.split(['?', '#']).next().unwrap_or(url);
    let mut claims =
        json!({"htm": method.as_str(), "htu": htu, "iat": now.timestamp(), "jti": jti});
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(token) = access_token {
        claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
    }
    key.sign(
        json!({"typ": "dpop+jwt", "jwk": public_members(&key.key)}),
        &claims,
    )
}

/// An access token of the org authorization server.
#[derive(Clone)]
pub struct AccessToken {
    pub token: Zeroizing<String>,
    pub expires_at: DateTime<Utc>,
    /// The scopes Okta granted (its `scope` answer).
    pub scopes: Vec<String>,
    /// The key the token is bound to, when the app requires DPoP (in memory only).
    pub dpop: Option<Rc<SigningJwk>>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("dpop", &self.dpop.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Okta refused the request (`error`, `error_description` of its OAuth error body).
    #[error("Okta's token endpoint refused: {error} ({description})")]
    Refused { error: String, description: String },
    /// Some requested scopes are not granted to the app.
    #[error("scopes not granted to the service app: {}", .0.join(" "))]
    MissingScopes(Vec<String>),
    #[error("Okta's token endpoint could not be reached: {0}")]
    Unreachable(String),
    #[error("Okta's token endpoint answered HTTP {0} without an OAuth error")]
    Malformed(u16),
    #[error("{0}")]
    Credential(&'static str),
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Zeroizing<String>,
    token_type: String,
    expires_in: i64,
    #[serde(default)]
    scope: String,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Requests an access token for `scopes`. DPoP is used when Okta asks for it
/// (`invalid_dpop_proof`: the app requires a proof), with the nonce it names (`use_dpop_nonce`).
pub async fn request_token(
    http: &dyn HttpClient,
    clock: &dyn Clock,
    rng: &dyn Rng,
    org: &OrgDomain,
    credential: &ServiceAppCredential,
    scopes: &[String],
) -> Result<AccessToken, TokenError> {
    let url = token_url(org);
    let mut dpop: Option<Rc<SigningJwk>> = None;
    let mut nonce: Option<String> = None;
    // At most: plain, with a proof, with the proof and the nonce.
    for _ in 0..3 {
        let now = clock.now();
        let assertion = client_assertion(credential, &url, now, &random_id(rng));
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", &scopes.join(" "))
            .append_pair("client_assertion_type", JWT_BEARER)
            .append_pair("client_assertion", &assertion)
            .finish();
        let mut request = HttpRequest::get(url.as_str())
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded");
        request.method = Method::Post;
        request.body = Some(form.into_bytes());
        if let Some(key) = &dpop {
            let proof = dpop_proof(
                key,
                Method::Post,
                &url,
                now,
                &random_id(rng),
                nonce.as_deref(),
                None,
            );
            request = request.header("dpop", proof);
        }
        let response = http
            .send(request)
            .await
            .map_err(|e| TokenError::Unreachable(e.to_string()))?;
        if response.status == 200 {
            let body: TokenBody =
                serde_json::from_slice(&response.body).map_err(|_| TokenError::Malformed(200))?;
            let bound = body.token_type.eq_ignore_ascii_case("DPoP");
            if bound != dpop.is_some() || body.expires_in <= 0 {
                return Err(TokenError::Malformed(200));
            }
            return Ok(AccessToken {
                token: body.access_token,
                expires_at: now + Duration::seconds(body.expires_in),
                scopes: body
                    .scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                dpop,
            });
        }
        let error: OAuthErrorBody = serde_json::from_slice(&response.body)
            .map_err(|_| TokenError::Malformed(response.status))?;
        match error.error.as_str() {
            "invalid_dpop_proof" if dpop.is_none() => {
                dpop = Some(Rc::new(SigningJwk::generate(rng)))
            }
            "use_dpop_nonce" if dpop.is_some() && nonce.is_none() => {
                nonce = response.header("dpop-nonce").map(str::to_owned);
                if nonce.is_none() {
                    return Err(TokenError::Malformed(response.status));
                }
            }
            "invalid_scope" => {
                let missing: Vec<String> = (error.error_description.split([' ', ',']))
                    .filter(|w| w.starts_with("okta.") && scopes.iter().any(|s| s == w))
                    .map(str::to_owned)
                    .collect();
                return Err(if missing.is_empty() {
                    TokenError::Refused {
                        error: error.error,
                        description: error.error_description,
                    }
                } else {
                    TokenError::MissingScopes(missing)
                });
            }
            _ => {
                return Err(TokenError::Refused {
                    error: error.error,
                    description: error.error_description,
                })
            }
        }
    }
    Err(TokenError::Refused {
        error: "use_dpop_nonce".into(),
        description: "Okta kept asking for a DPoP proof or nonce".into(),
    })
}

/// Access tokens kept in memory per connection, key and scope set, each until
/// [`REFRESH_MARGIN_S`] before it expires; expired entries are dropped whenever the cache is used.
#[derive(Default)]
pub struct TokenCache {
    entries: RefCell<HashMap<String, AccessToken>>,
}

impl TokenCache {
    pub fn key(connection: &str, kid: &str, scopes: &[String]) -> String {
        format!("{connection}|{kid}|{}", scopes.join(" "))
    }

    pub fn get(&self, key: &str, now: DateTime<Utc>) -> Option<AccessToken> {
        let mut entries = self.entries.borrow_mut();
        entries.retain(|_, t| t.expires_at - Duration::seconds(REFRESH_MARGIN_S) > now);
        entries.get(key).cloned()
    }

    pub fn put(&self, key: String, token: AccessToken) {
        self.entries.borrow_mut().insert(key, token);
    }

    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

thread_local! {
    /// The isolate's cache (a Worker isolate runs one thread).
    static CACHE: TokenCache = TokenCache::default();
}

/// Runs `f` on the isolate's token cache.
pub fn with_cache<R>(f: impl FnOnce(&TokenCache) -> R) -> R {
    CACHE.with(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okta::DomainPolicy;
    use crate::testing::{json_response, ManualClock, ScriptedHttp, SeqRng};
    use futures::executor::block_on;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;
    use std::cell::Cell;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn decode(jws: &str) -> (Value, Value, String, Vec<u8>) {
        let parts: Vec<&str> = jws.split('.').collect();
        let json = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        (
            json(parts[0]),
            json(parts[1]),
            format!("{}.{}", parts[0], parts[1]),
            URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
        )
    }

    fn verifies(jwk: &Value, input: &str, signature: &[u8]) -> bool {
        let coordinate = |n: &str| URL_SAFE_NO_PAD.decode(jwk[n].as_str().unwrap()).unwrap();
        let point = p256::EncodedPoint::from_affine_coordinates(
            p256::FieldBytes::from_slice(&coordinate("x")),
            p256::FieldBytes::from_slice(&coordinate("y")),
            false,
        );
        let key = VerifyingKey::from_encoded_point(&point).unwrap();
        key.verify(input.as_bytes(), &Signature::from_slice(signature).unwrap())
            .is_ok()
    }

    fn credential() -> ServiceAppCredential {
        ServiceAppCredential {
            client_id: "0oaSVC".into(),
            key: SigningJwk::generate(&SeqRng::new(3)),
        }
    }

    #[test]
    fn assertion_claims_follow_okta_and_verify_under_the_public_jwk() {
        let cred = credential();
        let jwt = client_assertion(&cred, "https://acme.okta.com/oauth2/v1/token", now(), "j-1");
        let (header, claims, input, signature) = decode(&jwt);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], cred.key.kid());
        assert_eq!(claims["iss"], "0oaSVC");
        assert_eq!(claims["sub"], "0oaSVC");
        assert_eq!(claims["aud"], "https://acme.okta.com/oauth2/v1/token");
        assert_eq!(claims["jti"], "j-1");
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!(iat, now().timestamp());
        assert!(exp > iat && exp - iat <= 3600);
        let jwk = cred.key.public_jwk();
        assert!(verifies(&jwk, &input, &signature));
        assert_eq!(jwk["kid"], thumbprint(&jwk));
        assert!(
            jwk.get("d").is_none(),
            "the public JWK holds no private part"
        );
    }

    #[test]
    fn dpop_proofs_carry_method_url_nonce_and_token_hash() {
        let key = SigningJwk::generate(&SeqRng::new(5));
        let proof = dpop_proof(
            &key,
            Method::Get,
            "https://acme.okta.com/api/v1/users?limit=200",
            now(),
            "p-1",
            Some("n-1"),
            Some("token-abc"),
        );
        let (header, claims, input, signature) = decode(&proof);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert!(header["jwk"].get("d").is_none());
        assert!(verifies(&header["jwk"], &input, &signature));
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], "https://acme.okta.com/api/v1/users");
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(
            claims["ath"],
            URL_SAFE_NO_PAD.encode(Sha256::digest(b"token-abc"))
        );
    }

    #[test]
    fn scopes_are_read_only_unless_restore_is_enabled() {
        let read = wanted_scopes(false);
        assert!(read.iter().all(|s| s.ends_with(".read")), "{read:?}");
        assert!(read.contains(&"okta.logs.read".to_string()));
        let all = wanted_scopes(true);
        assert!(all.contains(&"okta.users.manage".to_string()));
        assert_eq!(all.len(), read.len() + WRITE_SCOPES.len());
    }

    #[test]
    fn sealed_plaintext_round_trips_the_key() {
        let cred = credential();
        let back =
            ServiceAppCredential::from_sealed_plaintext(&cred.to_sealed_plaintext()).unwrap();
        assert_eq!(back.client_id, "0oaSVC");
        assert_eq!(back.key.kid(), cred.key.kid());
        assert!(ServiceAppCredential::from_sealed_plaintext(b"{}").is_err());
    }

    fn org() -> OrgDomain {
        OrgDomain::parse("acme.okta.com", DomainPolicy::OktaOnly).unwrap()
    }

    #[test]
    fn dpop_is_used_with_the_servers_nonce_when_the_app_requires_it() {
        let calls = Rc::new(Cell::new(0));
        let seen = calls.clone();
        let http = ScriptedHttp::new(move |request| {
            seen.set(seen.get() + 1);
            let proof = request
                .headers
                .iter()
                .find(|(k, _)| k == "dpop")
                .map(|(_, v)| v.clone());
            Ok(match proof {
                None => json_response(
                    400,
                    &json!({"error": "invalid_dpop_proof",
                    "error_description": "The DPoP proof JWT header is missing."}),
                    &[],
                ),
                Some(p) if decode(&p).1.get("nonce").is_none() => json_response(
                    400,
                    &json!({"error": "use_dpop_nonce", "error_description": "nonce"}),
                    &[("DPoP-Nonce", "n-9")],
                ),
                Some(p) => {
                    assert_eq!(decode(&p).1["nonce"], "n-9");
                    json_response(
                        200,
                        &json!({"token_type": "DPoP", "expires_in": 3600,
                        "access_token": "at", "scope": "okta.users.read"}),
                        &[],
                    )
                }
            })
        });
        let clock = ManualClock::at(now());
        let scopes = vec!["okta.users.read".to_string()];
        let token = block_on(request_token(
            &http,
            &clock,
            &SeqRng::new(1),
            &org(),
            &credential(),
            &scopes,
        ))
        .unwrap();
        assert_eq!(calls.get(), 3);
        assert!(token.dpop.is_some());
        assert_eq!(token.expires_at, now() + Duration::seconds(3600));
        assert_eq!(token.scopes, scopes);
        let form = String::from_utf8(http.requests.borrow()[0].body.clone().unwrap()).unwrap();
        assert!(form.contains("grant_type=client_credentials"));
        assert!(form.contains("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"));
        assert_eq!(
            http.requests.borrow()[0].url,
            "https://acme.okta.com/oauth2/v1/token"
        );
    }

    #[test]
    fn ungranted_scopes_are_named() {
        let http = ScriptedHttp::new(|_| {
            Ok(json_response(
                400,
                &json!({"error": "invalid_scope",
                "error_description": "The following scopes were requested, but not granted: okta.logs.read"}),
                &[],
            ))
        });
        let clock = ManualClock::at(now());
        let scopes = wanted_scopes(false);
        let err = block_on(request_token(
            &http,
            &clock,
            &SeqRng::new(1),
            &org(),
            &credential(),
            &scopes,
        ))
        .unwrap_err();
        assert!(matches!(err, TokenError::MissingScopes(m) if m == ["okta.logs.read"]));
    }

    #[test]
    fn cached_tokens_expire_before_the_token_does() {
        let cache = TokenCache::default();
        let token = AccessToken {
            token: Zeroizing::new("at".into()),
            expires_at: now() + Duration::seconds(3600),
            scopes: vec![],
            dpop: None,
        };
        let key = TokenCache::key("c1", "k1", &[]);
        cache.put(key.clone(), token);
        assert!(cache.get(&key, now()).is_some());
        assert!(cache
            .get(&TokenCache::key("c2", "k1", &[]), now())
            .is_none());
        // Within the refresh margin it is gone, and dropped from memory.
        assert!(cache
            .get(&key, now() + Duration::seconds(3600 - 599))
            .is_none());
        assert!(cache.is_empty());
    }
}
