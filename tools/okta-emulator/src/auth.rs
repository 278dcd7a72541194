//! API authentication: `SSWS` API tokens with full read access, and `Bearer` access tokens whose
//! scopes must cover the endpoint family, as Okta enforces for OAuth 2.0 service apps.

use std::collections::{HashMap, HashSet};

use crate::config::BearerToken;
use crate::errors::ApiError;
use crate::rate_limit::Bucket;

pub(crate) struct Auth {
    api_tokens: HashSet<String>,
    bearer_tokens: HashMap<String, HashSet<String>>,
}

/// Who is calling.
pub(crate) enum Principal<'a> {
    ApiToken,
    Bearer(&'a HashSet<String>),
}

impl Auth {
    pub(crate) fn new(api_tokens: &[String], bearer_tokens: &[BearerToken]) -> Self {
        Self {
            api_tokens: api_tokens.iter().cloned().collect(),
            bearer_tokens: bearer_tokens
                .iter()
                .map(|b| (b.token.clone(), b.scopes.iter().cloned().collect()))
                .collect(),
        }
    }

    /// Resolves an `Authorization` header; anything missing, malformed or unknown is Okta's 401.
    pub(crate) fn authenticate(&self, header: Option<&str>) -> Result<Principal<'_>, ApiError> {
        let (scheme, token) = header
            .and_then(|h| h.trim().split_once(' '))
            .ok_or_else(ApiError::invalid_token)?;
        let token = token.trim();
        if scheme.eq_ignore_ascii_case("SSWS") && self.api_tokens.contains(token) {
            return Ok(Principal::ApiToken);
        }
        if scheme.eq_ignore_ascii_case("Bearer") {
            if let Some(scopes) = self.bearer_tokens.get(token) {
                return Ok(Principal::Bearer(scopes));
            }
        }
        Err(ApiError::invalid_token())
    }
}

impl Principal<'_> {
    /// Whether the caller may read `path`: API tokens always may; access tokens need the family's
    /// `okta.<family>.read` scope (or `.manage`, which implies it). `/users/me` also accepts
    /// `okta.users.read.self`.
    pub(crate) fn may_read(&self, path: &str) -> bool {
        let Principal::Bearer(scopes) = self else {
            return true;
        };
        let family = match Bucket::for_path(path) {
            Bucket::Users => "users",
            Bucket::Groups => "groups",
            Bucket::Apps => "apps",
            Bucket::Policies => "policies",
            Bucket::Org => "orgs",
            Bucket::Other => return true,
        };
        let has = |scope: String| scopes.contains(&scope);
        has(format!("okta.{family}.read"))
            || has(format!("okta.{family}.manage"))
            || (path == "/api/v1/users/me" && has("okta.users.read.self".to_owned()))
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
    fn bearer_scopes_gate_families() {
        let auth = auth();
        let bearer = auth.authenticate(Some("Bearer at")).unwrap();
        assert!(bearer.may_read("/api/v1/users"));
        assert!(bearer.may_read("/api/v1/apps/0oa1/users"));
        assert!(!bearer.may_read("/api/v1/groups"));
        assert!(!bearer.may_read("/api/v1/org"));
        assert!(auth
            .authenticate(Some("SSWS api"))
            .unwrap()
            .may_read("/api/v1/org"));
    }
}
