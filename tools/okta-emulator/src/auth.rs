//! API authentication: `SSWS` API tokens with full access, and `Bearer` access tokens whose scopes
//! must cover the endpoint, as Okta enforces for OAuth 2.0 service apps: configured ones, and
//! those the org authorization server issues ([`crate::oauth`]), `DPoP`-bound ones presented with
//! `Authorization: DPoP <token>` and a proof of their key. Tokens can be revoked
//! while the emulator runs, as an admin revoking a token (or a token expiring) does mid-backup.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use crate::config::BearerToken;
use crate::errors::ApiError;
use crate::oauth::{verify_proof, OAuthServer};
use crate::time::now_epoch_secs;

/// What a resource call shows of itself, to check a DPoP proof against.
pub(crate) struct CallProof<'a> {
    /// The `DPoP` header.
    pub(crate) proof: Option<&'a str>,
    pub(crate) method: &'a str,
    /// The request's URL without query (a proof's `htu`).
    pub(crate) url: &'a str,
}

pub(crate) struct Auth {
    api_tokens: HashSet<String>,
    bearer_tokens: HashMap<String, HashSet<String>>,
    /// Tokens revoked through the control API or a `revoke_token` fault.
    revoked: Mutex<HashSet<String>>,
    /// The org authorization server, which issues access tokens.
    pub(crate) oauth: OAuthServer,
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Principal {
    ApiToken(String),
    Bearer {
        token: String,
        scopes: HashSet<String>,
    },
}

impl Auth {
    pub(crate) fn new(api_tokens: &[String], bearer_tokens: &[BearerToken]) -> Self {
        Self {
            api_tokens: api_tokens.iter().cloned().collect(),
            bearer_tokens: bearer_tokens
                .iter()
                .map(|b| (b.token.clone(), b.scopes.iter().cloned().collect()))
                .collect(),
            revoked: Mutex::new(HashSet::new()),
            oauth: OAuthServer::default(),
        }
    }

    /// Resolves an `Authorization` header; anything missing, malformed, unknown or revoked is
    /// Okta's 401 `E0000011`.
    pub(crate) fn authenticate(&self, header: Option<&str>) -> Result<Principal, ApiError> {
        self.authenticate_call(header, None)
    }

    /// [`Auth::authenticate`] for an API call, which may present a DPoP-bound token.
    pub(crate) fn authenticate_call(
        &self,
        header: Option<&str>,
        call: Option<&CallProof<'_>>,
    ) -> Result<Principal, ApiError> {
        let (scheme, token) = header
            .and_then(|h| h.trim().split_once(' '))
            .ok_or_else(ApiError::invalid_token)?;
        let token = token.trim();
        if self.is_revoked(token) {
            return Err(ApiError::invalid_token());
        }
        if scheme.eq_ignore_ascii_case("SSWS") && self.api_tokens.contains(token) {
            return Ok(Principal::ApiToken(token.to_owned()));
        }
        if scheme.eq_ignore_ascii_case("Bearer") {
            if let Some(scopes) = self.bearer_tokens.get(token) {
                return Ok(Principal::Bearer {
                    token: token.to_owned(),
                    scopes: scopes.clone(),
                });
            }
        }
        let dpop = scheme.eq_ignore_ascii_case("DPoP");
        if dpop || scheme.eq_ignore_ascii_case("Bearer") {
            let now = now_epoch_secs() as u64;
            if let Some(issued) = self.oauth.issued(token, now) {
                let bound = match (&issued.jkt, dpop, call) {
                    (None, false, _) => true,
                    (Some(jkt), true, Some(call)) => call.proof.is_some_and(|proof| {
                        verify_proof(proof, call.method, call.url, Some(token), now).as_ref()
                            == Ok(jkt)
                    }),
                    _ => false,
                };
                if bound {
                    return Ok(Principal::Bearer {
                        token: token.to_owned(),
                        scopes: issued.scopes,
                    });
                }
            }
        }
        Err(ApiError::invalid_token())
    }

    fn is_revoked(&self, token: &str) -> bool {
        self.revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(token)
    }

    /// Revokes one configured token, or every one; returns how many are revoked now. An unknown
    /// token is `None`.
    pub(crate) fn revoke(&self, token: Option<&str>) -> Option<usize> {
        let mut revoked = self.revoked.lock().unwrap_or_else(PoisonError::into_inner);
        match token {
            Some(token) => {
                let known = self.api_tokens.contains(token)
                    || self.bearer_tokens.contains_key(token)
                    || self.oauth.issued(token, 0).is_some();
                if !known {
                    return None;
                }
                revoked.insert(token.to_owned());
            }
            None => {
                revoked.extend(self.api_tokens.iter().cloned());
                revoked.extend(self.bearer_tokens.keys().cloned());
                self.oauth.revoke_all();
            }
        }
        Some(revoked.len())
    }

    /// Un-revokes every token (`POST /__emulator/reset`).
    pub(crate) fn restore(&self) {
        self.revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Principal {
    pub(crate) fn token(&self) -> &str {
        match self {
            Principal::ApiToken(token) | Principal::Bearer { token, .. } => token,
        }
    }

    /// The OAuth scope `method path` needs when the caller is an access token, e.g.
    /// `okta.users.read`; `None` where no scope applies (unknown paths, which are 404 anyway).
    /// Scope names are those the spec's `security` requirements give each operation.
    pub(crate) fn required_scope(method: &str, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.strip_prefix("/api/v1/")?.split('/').collect();
        let resource = match segments.as_slice() {
            ["users" | "groups", _, "roles", ..] | ["iam", ..] => "roles",
            ["apps", _, "grants", ..] => "appGrants",
            ["users", ..] => "users",
            ["groups", ..] => "groups",
            ["apps", ..] => "apps",
            ["policies", ..] => "policies",
            ["org", ..] => "orgs",
            ["authenticators", ..] => "authenticators",
            ["zones", ..] => "networkZones",
            ["idps", ..] => "idps",
            ["eventHooks", ..] => "eventHooks",
            ["inlineHooks", ..] => "inlineHooks",
            ["api-tokens", ..] => "apiTokens",
            ["threats", ..] => "threatInsights",
            ["authorizationServers", ..] => "authorizationServers",
            ["logs", ..] => "logs",
            _ => return None,
        };
        let action = if method == "GET" { "read" } else { "manage" };
        Some(format!("okta.{resource}.{action}"))
    }

    /// Whether the caller may call `method path`: API tokens always may; access tokens need the
    /// endpoint's scope (`.manage` implies `.read`). `/users/me` also accepts
    /// `okta.users.read.self`.
    pub(crate) fn may_call(&self, method: &str, path: &str) -> bool {
        let Principal::Bearer { scopes, .. } = self else {
            return true;
        };
        let Some(scope) = Self::required_scope(method, path) else {
            return true;
        };
        let manage = scope.replace(".read", ".manage");
        scopes.contains(&scope)
            || scopes.contains(&manage)
            || (method == "GET"
                && path == "/api/v1/users/me"
                && scopes.contains("okta.users.read.self"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(
            &["api".to_owned()],
            &[BearerToken {
                token: "at".to_owned(),
                scopes: vec!["okta.users.read".to_owned(), "okta.apps.manage".to_owned()],
            }],
        )
    }

    #[test]
    fn accepts_only_known_tokens_in_their_scheme() {
        let auth = auth();
        assert!(auth.authenticate(Some("SSWS api")).is_ok());
        assert!(auth.authenticate(Some("Bearer at")).is_ok());
        for header in [
            None,
            Some(""),
            Some("SSWS"),
            Some("SSWS nope"),
            Some("Bearer api"),
            Some("SSWS at"),
        ] {
            assert_eq!(
                auth.authenticate(header).err(),
                Some(ApiError::invalid_token()),
                "{header:?}"
            );
        }
    }

    #[test]
    fn bearer_scopes_gate_endpoints() {
        let auth = auth();
        let bearer = auth.authenticate(Some("Bearer at")).unwrap();
        assert!(bearer.may_call("GET", "/api/v1/users"));
        assert!(!bearer.may_call("POST", "/api/v1/users"));
        assert!(bearer.may_call("GET", "/api/v1/apps/0oa1/users"));
        assert!(bearer.may_call("POST", "/api/v1/apps"));
        assert!(!bearer.may_call("GET", "/api/v1/groups"));
        assert!(!bearer.may_call("GET", "/api/v1/users/00u1/roles"));
        assert!(!bearer.may_call("GET", "/api/v1/org"));
        assert!(!bearer.may_call("GET", "/api/v1/zones"));
        assert!(!bearer.may_call("GET", "/api/v1/logs"));
        let ssws = auth.authenticate(Some("SSWS api")).unwrap();
        assert!(ssws.may_call("GET", "/api/v1/org"));
    }

    #[test]
    fn revoked_tokens_are_invalid_until_restored() {
        let auth = auth();
        assert_eq!(auth.revoke(Some("nope")), None);
        assert_eq!(auth.revoke(Some("api")), Some(1));
        assert_eq!(
            auth.authenticate(Some("SSWS api")).err(),
            Some(ApiError::invalid_token())
        );
        assert!(auth.authenticate(Some("Bearer at")).is_ok());
        assert_eq!(auth.revoke(None), Some(2));
        assert!(auth.authenticate(Some("Bearer at")).is_err());
        auth.restore();
        assert!(auth.authenticate(Some("SSWS api")).is_ok());
    }
}
