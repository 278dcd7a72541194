//! One call as handlers see it: the request, its path parameters, and (on authenticated routes)
//! the [`Caller`] context the use cases take.

use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::http::ApiRequest;
use crate::ids::InvalidId;
use crate::services::audit::RequestMeta;
use crate::services::{Caller, Deps};

pub struct Call<'a> {
    pub deps: &'a Deps<'a>,
    pub request: &'a ApiRequest,
    pub meta: &'a RequestMeta,
    pub params: Vec<String>,
    pub caller: Option<Caller<'a>>,
}

impl<'a> Call<'a> {
    /// The authenticated caller (every route but the public and signed-URL ones has one).
    pub fn caller(&self) -> Result<&Caller<'a>, ApiError> {
        self.caller.as_ref().ok_or_else(ApiError::unauthorized)
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
}
