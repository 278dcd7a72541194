//! Who is calling, once authenticated: a user, possibly through one of their API keys.

use super::matrix::Scope;
use crate::ids::{ApiKeyId, TeamId, UserId};

/// A verified caller.
pub struct Principal {
    pub user: UserId,
    /// The caller's own JWT (or, for an API key, one minted for it), forwarded to PostgREST so
    /// RLS applies.
    pub jwt: String,
    /// From a user JWT; invitations are accepted by email.
    pub email: Option<String>,
    /// The token says `email` is confirmed (`auth::jwt::Claims::email_verified`).
    pub email_verified: bool,
    /// Set when the caller used an API key.
    pub key: Option<KeyGrant>,
}

/// What an API key may reach: one team, some scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyGrant {
    pub id: ApiKeyId,
    pub team: TeamId,
    pub scopes: Vec<Scope>,
}
