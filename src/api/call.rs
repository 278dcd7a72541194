//! One authenticated call as handlers see it: the request, its metadata, path parameters, the
//! caller, and the two repositories (the caller's, and the system one for audit and key custody).

use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::http::{ApiRequest, ApiResponse};
use crate::authz::matrix::Scope;
use crate::db::Repo;
use crate::ids::{ApiKeyId, InvalidId, TeamId, UserId};
use crate::services::audit::RequestMeta;
use crate::services::backups::BackupJob;
use crate::services::Deps;

/// A verified caller.
pub struct Principal {
    pub user: UserId,
    /// The caller's own JWT (or, for an API key, one minted for it), forwarded to PostgREST so
    /// RLS applies.
    pub jwt: String,
    /// From a user JWT; invitations are accepted by email.
    pub email: Option<String>,
    /// Set when the caller used an API key.
    pub key: Option<KeyGrant>,
}

/// What an API key may reach: one team, some scopes.
pub struct KeyGrant {
    pub id: ApiKeyId,
    pub team: TeamId,
    pub scopes: Vec<Scope>,
}

pub struct Call<'a> {
    pub deps: &'a Deps<'a>,
    pub request: &'a ApiRequest,
    pub meta: &'a RequestMeta,
    pub params: Vec<String>,
    pub principal: Option<Principal>,
    pub system: Repo<'a>,
}

/// A handler's result: the response, and work to continue after it is sent.
pub struct Outcome {
    pub response: ApiResponse,
    pub job: Option<BackupJob>,
}

impl From<ApiResponse> for Outcome {
    fn from(response: ApiResponse) -> Self {
        Outcome {
            response,
            job: None,
        }
    }
}

impl<'a> Call<'a> {
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        self.principal.as_ref().ok_or_else(ApiError::unauthorized)
    }

    /// A repository acting as the caller.
    pub fn repo(&self) -> Result<Repo<'a>, ApiError> {
        let p = self.principal()?;
        Ok(self.deps.user_repo(&p.jwt, &self.meta.request_id))
    }

    /// Path parameter `i` parsed as an id; ids are checked before any lookup, and a malformed one
    /// is simply not found.
    pub fn id<T>(&self, i: usize, parse: fn(&str) -> Result<T, InvalidId>) -> Result<T, ApiError> {
        self.params
            .get(i)
            .ok_or_else(ApiError::not_found)
            .and_then(|p| parse(p).map_err(|_| ApiError::not_found()))
    }

    /// A strict JSON body: `application/json`, and unknown fields rejected by the target type.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let json_type = self.request.header("content-type").is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json_type {
            return Err(ApiError::new(
                415,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        serde_json::from_slice(&self.request.body).map_err(|e| {
            let mut detail = e.to_string();
            detail.truncate(200);
            ApiError::invalid_json(&detail)
        })
    }

    /// For endpoints that take no body: anything but nothing (or `{}`) is a client mistake.
    pub fn no_body(&self) -> Result<(), ApiError> {
        let body = &self.request.body;
        if body.iter().all(u8::is_ascii_whitespace) || body.as_slice() == b"{}" {
            Ok(())
        } else {
            Err(ApiError::invalid_json("this endpoint takes no body"))
        }
    }
}
