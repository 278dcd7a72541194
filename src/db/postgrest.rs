//! A minimal PostgREST client over the [`HttpClient`] port: filtered reads, calls of the
//! worker's database functions, and the two plain writes that are not audited (a key's last
//! use, a new data key).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

use crate::ports::{HttpClient, HttpRequest, Method};
use crate::store::DbError;

/// PostgREST's error body.
#[derive(Debug, Default, Deserialize)]
struct PgError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A filter value, percent-encoded for the query string.
fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Query-string builder: `select`, `eq`, `neq`, `order`, `limit`.
#[derive(Default, Clone)]
pub struct Query {
    parts: Vec<String>,
}

impl Query {
    pub fn new() -> Self {
        Query::default()
    }

    pub fn select(mut self, columns: &str) -> Self {
        self.parts.push(format!("select={columns}"));
        self
    }

    pub fn eq(mut self, column: &str, value: impl fmt::Display) -> Self {
        self.parts
            .push(format!("{column}=eq.{}", encode(&value.to_string())));
        self
    }

    pub fn neq(mut self, column: &str, value: impl fmt::Display) -> Self {
        self.parts
            .push(format!("{column}=neq.{}", encode(&value.to_string())));
        self
    }

    pub fn order(mut self, spec: &str) -> Self {
        self.parts.push(format!("order={spec}"));
        self
    }

    pub fn limit(mut self, n: u32) -> Self {
        self.parts.push(format!("limit={n}"));
        self
    }

    fn render(&self) -> String {
        self.parts.join("&")
    }
}

pub struct Postgrest<'a> {
    http: &'a dyn HttpClient,
    base_url: String,
    api_key: Option<String>,
    jwt: Zeroizing<String>,
    request_id: Option<String>,
}

impl<'a> Postgrest<'a> {
    /// `base_url` is PostgREST's root (`https://<ref>.supabase.co/rest/v1` on Supabase,
    /// `http://127.0.0.1:3000` locally). `api_key` is Supabase's anon key for its gateway.
    pub fn new(
        http: &'a dyn HttpClient,
        base_url: &str,
        api_key: Option<&str>,
        jwt: &str,
        request_id: Option<&str>,
    ) -> Self {
        Postgrest {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.map(str::to_string),
            jwt: Zeroizing::new(jwt.to_string()),
            request_id: request_id.map(str::to_string),
        }
    }

    fn request(&self, method: Method, table: &str, query: &Query) -> HttpRequest {
        let q = query.render();
        let url = if q.is_empty() {
            format!("{}/{table}", self.base_url)
        } else {
            format!("{}/{table}?{q}", self.base_url)
        };
        let mut request = HttpRequest {
            method,
            url,
            headers: Vec::new(),
            body: None,
        }
        .header("authorization", format!("Bearer {}", self.jwt.as_str()))
        .header("accept", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("apikey", key.clone());
        }
        if let Some(id) = &self.request_id {
            request = request.header("x-request-id", id.clone());
        }
        request
    }

    async fn execute<T: DeserializeOwned>(&self, request: HttpRequest) -> Result<T, DbError> {
        let response = self
            .http
            .send(request)
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        if (200..300).contains(&response.status) {
            let body: &[u8] = if response.body.is_empty() {
                b"null"
            } else {
                &response.body
            };
            return serde_json::from_slice(body).map_err(|e| DbError::Unexpected(e.to_string()));
        }
        let err: PgError = serde_json::from_slice(&response.body).unwrap_or_default();
        Err(match (response.status, err.code.as_str()) {
            (_, "42501") | (401, _) | (403, _) => DbError::Forbidden,
            (_, "23505") | (409, _) => DbError::Conflict,
            (_, "23514") | (_, "23503") | (_, "23502") | (_, "22P02") => DbError::Constraint,
            (status, code) if status >= 500 => {
                DbError::Unavailable(format!("HTTP {status} {code}"))
            }
            (status, code) => DbError::Unexpected(format!("HTTP {status} {code} {}", err.message)),
        })
    }

    pub async fn select<T: DeserializeOwned>(
        &self,
        table: &str,
        query: Query,
    ) -> Result<Vec<T>, DbError> {
        self.execute(self.request(Method::Get, table, &query)).await
    }

    /// Inserts without reading back (for tables the caller may write but not read).
    pub async fn insert_only<B: Serialize>(&self, table: &str, row: &B) -> Result<(), DbError> {
        let mut request = self
            .request(Method::Post, table, &Query::new())
            .header("content-type", "application/json")
            .header("prefer", "return=minimal");
        request.body =
            Some(serde_json::to_vec(row).map_err(|e| DbError::Unexpected(e.to_string()))?);
        self.execute::<serde_json::Value>(request).await.map(|_| ())
    }

    /// Updates the rows matching `filter`; returns how many RLS let through.
    pub async fn update<B: Serialize>(
        &self,
        table: &str,
        filter: Query,
        patch: &B,
    ) -> Result<usize, DbError> {
        self.patch_counting(table, filter, patch, "id").await
    }

    /// PATCH reading back only `column` (a select list), to count the rows changed without
    /// reading them.
    async fn patch_counting<B: Serialize>(
        &self,
        table: &str,
        filter: Query,
        patch: &B,
        column: &str,
    ) -> Result<usize, DbError> {
        let mut request = self
            .request(Method::Patch, table, &filter.select(column))
            .header("content-type", "application/json")
            .header("prefer", "return=representation");
        request.body =
            Some(serde_json::to_vec(patch).map_err(|e| DbError::Unexpected(e.to_string()))?);
        let rows: Vec<serde_json::Value> = self.execute(request).await?;
        Ok(rows.len())
    }

    /// Calls a database function (`POST /rpc/<function>`) with named arguments.
    pub async fn rpc<B: Serialize, T: DeserializeOwned>(
        &self,
        function: &str,
        args: &B,
    ) -> Result<T, DbError> {
        let mut request = self
            .request(Method::Post, &format!("rpc/{function}"), &Query::new())
            .header("content-type", "application/json");
        request.body =
            Some(serde_json::to_vec(args).map_err(|e| DbError::Unexpected(e.to_string()))?);
        self.execute(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{json_response, ScriptedHttp};
    use futures::executor::block_on;
    use serde_json::json;

    #[test]
    fn builds_encoded_queries_and_forwards_the_jwt() {
        let http = ScriptedHttp::new(|_| Ok(json_response(200, &json!([{"id": 1}]), &[])));
        let db = Postgrest::new(&http, "http://db/", Some("anon"), "jwt-1", Some("req_1"));
        let rows: Vec<serde_json::Value> = block_on(
            db.select(
                "backups",
                Query::new()
                    .select("id,status")
                    .eq("org_domain", "a&b=c")
                    .order("started_at.desc")
                    .limit(5),
            ),
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        let req = &http.requests.borrow()[0];
        assert_eq!(
            req.url,
            "http://db/backups?select=id,status&org_domain=eq.a%26b%3Dc&order=started_at.desc&limit=5"
        );
        assert!(req
            .headers
            .contains(&("authorization".into(), "Bearer jwt-1".into())));
        assert!(req.headers.contains(&("apikey".into(), "anon".into())));
        assert!(req
            .headers
            .contains(&("x-request-id".into(), "req_1".into())));
    }

    #[test]
    fn maps_postgres_errors_to_stable_kinds() {
        for (status, code, expect) in [
            (403, "42501", "Forbidden"),
            (409, "23505", "Conflict"),
            (400, "23514", "Constraint"),
            (503, "PGRST000", "Unavailable"),
        ] {
            let http = ScriptedHttp::new(move |_| {
                Ok(json_response(
                    status,
                    &json!({"code": code, "message": "m"}),
                    &[],
                ))
            });
            let db = Postgrest::new(&http, "http://db", None, "jwt", None);
            let err = block_on(db.insert_only("t", &json!({}))).unwrap_err();
            assert!(
                format!("{err:?}").starts_with(expect),
                "{status} {code} -> {err:?}"
            );
        }
    }
}
