//! PostgREST requests built by the `postgrest` crate (Supabase's client library) and sent
//! through the [`HttpClient`] port.
//!
//! The crate is the query builder only: its transport is reqwest, and the worker keeps one HTTP
//! stack (the port, over the Workers runtime's `fetch` in production and scripted in native
//! tests). Measured in workerd, sending through reqwest's wasm backend works but adds to the
//! wasm and gains no latency (README, "The postgrest crate").

use postgrest::Builder;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
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

/// A request body as JSON text (what the builder takes).
pub fn json<B: Serialize>(body: &B) -> Result<String, DbError> {
    serde_json::to_string(body).map_err(|e| DbError::Unexpected(e.to_string()))
}

/// One PostgREST client acting with one JWT.
pub struct Postgrest<'a> {
    http: &'a dyn HttpClient,
    client: postgrest::Postgrest,
    /// The caller's JWT, or the service role's. Only verified tokens (or ones the worker
    /// minted) get here, so they are valid header values.
    jwt: Zeroizing<String>,
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
        let mut client = postgrest::Postgrest::new(base_url.trim_end_matches('/'))
            .insert_header("accept", "application/json");
        if let Some(key) = api_key {
            client = client.insert_header("apikey", key);
        }
        if let Some(id) = request_id {
            client = client.insert_header("x-request-id", id);
        }
        Postgrest {
            http,
            client,
            jwt: Zeroizing::new(jwt.to_string()),
        }
    }

    /// A request on `table`, carrying this client's JWT.
    pub fn from(&self, table: &str) -> Builder {
        self.client.from(table).auth(self.jwt.as_str())
    }

    /// A call of a database function (`POST /rpc/<function>`) with named arguments.
    pub async fn rpc<B: Serialize, T: DeserializeOwned>(
        &self,
        function: &str,
        args: &B,
    ) -> Result<T, DbError> {
        let builder = self
            .client
            .rpc(function, json(args)?)
            .auth(self.jwt.as_str());
        self.fetch(builder).await
    }

    /// Sends a built request through the port and reads its JSON answer.
    pub async fn fetch<T: DeserializeOwned>(&self, builder: Builder) -> Result<T, DbError> {
        let response = self
            .http
            .send(to_port(builder)?)
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
}

/// The crate's request (method, URL with its encoded query, headers, body) as the port's.
fn to_port(builder: Builder) -> Result<HttpRequest, DbError> {
    let request = builder
        .build()
        .build()
        .map_err(|e| DbError::Unexpected(e.to_string()))?;
    let method = match request.method().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => return Err(DbError::Unexpected(format!("HTTP method {other}"))),
    };
    let headers = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = request
        .body()
        .and_then(|b| b.as_bytes())
        .filter(|b| !b.is_empty())
        .map(<[u8]>::to_vec);
    Ok(HttpRequest {
        method,
        url: request.url().to_string(),
        headers,
        body,
    })
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
        let query = db
            .from("backups")
            .select("id,status")
            .eq("org_domain", "a&b=c")
            .order("started_at.desc")
            .limit(5);
        let rows: Vec<serde_json::Value> = block_on(db.fetch(query)).unwrap();
        assert_eq!(rows.len(), 1);
        let req = &http.requests.borrow()[0];
        assert_eq!(req.method, Method::Get);
        assert_eq!(
            req.url,
            "http://db/backups?select=id%2Cstatus&org_domain=eq.a%26b%3Dc&order=started_at.desc"
        );
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("authorization"), Some("Bearer jwt-1"));
        assert_eq!(header("apikey"), Some("anon"));
        assert_eq!(header("x-request-id"), Some("req_1"));
        // PostgREST's limit, as a range of items.
        assert_eq!(header("range"), Some("0-4"));
        assert_eq!(header("range-unit"), Some("items"));
        assert!(req.body.is_none());
    }

    #[test]
    fn calls_functions_with_named_arguments() {
        let http = ScriptedHttp::new(|_| Ok(json_response(200, &json!(true), &[])));
        let db = Postgrest::new(&http, "http://db", None, "jwt", None);
        let changed: bool = block_on(db.rpc("backup_fail", &json!({"p_id": "x"}))).unwrap();
        assert!(changed);
        let req = &http.requests.borrow()[0];
        assert_eq!(
            (req.method, req.url.as_str()),
            (Method::Post, "http://db/rpc/backup_fail")
        );
        assert_eq!(req.body.as_deref(), Some(br#"{"p_id":"x"}"#.as_slice()));
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
            let err = block_on(db.rpc::<_, serde_json::Value>("f", &json!({}))).unwrap_err();
            assert!(
                format!("{err:?}").starts_with(expect),
                "{status} {code} -> {err:?}"
            );
        }
    }
}
