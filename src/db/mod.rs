//! The stores over Supabase Postgres through PostgREST. Every request carries a JWT: the
//! caller's own (so row-level security decides what it may see) or, for the worker's own and
//! authorised work, the service role's. Audited changes are calls of one database function per
//! mutation, which makes the change and writes its `activity_logs` row in one transaction
//! (migration 0010); users hold no write grant on those tables at all.

mod ai;
mod allowlist;
mod api_keys;
mod audit;
mod backups;
mod billing;
mod client;
mod compliance;
mod connections;
mod drift;
mod drills;
mod email;
mod evidence;
mod job_state;
mod lifecycle;
mod resource_versions;
mod restores;
mod teams;
mod tenant_keys;

use postgrest::Builder;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use client::Postgrest;

use crate::config::Config;
use crate::ports::HttpClient;
use crate::store::{Acting, Database, DbError, Stores};

/// The database port over PostgREST.
pub struct PostgrestDb<'a> {
    http: &'a dyn HttpClient,
    config: &'a Config,
}

impl<'a> PostgrestDb<'a> {
    pub fn new(http: &'a dyn HttpClient, config: &'a Config) -> Self {
        PostgrestDb { http, config }
    }
}

impl Database for PostgrestDb<'_> {
    fn stores<'s>(&'s self, acting: Acting<'_>, request_id: &str) -> Box<dyn Stores + 's> {
        let jwt = match acting {
            Acting::Caller(principal) => principal.jwt.as_str(),
            Acting::System => self.config.service_role_key.as_str(),
        };
        Box::new(PgStores {
            db: Postgrest::new(
                self.http,
                &self.config.postgrest_url,
                self.config.supabase_anon_key.as_deref(),
                jwt,
                Some(request_id),
            ),
        })
    }
}

/// Every store, over one PostgREST client (one JWT).
pub(crate) struct PgStores<'a> {
    db: Postgrest<'a>,
}

impl PgStores<'_> {
    /// The first row a read returns, if any.
    async fn one<T: DeserializeOwned>(&self, query: Builder) -> Result<Option<T>, DbError> {
        let rows: Vec<T> = self.db.fetch(query).await?;
        Ok(rows.into_iter().next())
    }

    /// Calls one of the worker's functions.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        function: &str,
        args: &B,
    ) -> Result<T, DbError> {
        self.db.rpc(function, args).await
    }

    /// Calls a function returning whether it changed what it guards; `false` is a conflict.
    async fn guarded<B: Serialize>(&self, function: &str, args: &B) -> Result<(), DbError> {
        if self.call::<_, bool>(function, args).await? {
            Ok(())
        } else {
            Err(DbError::Conflict)
        }
    }
}

/// A JSON row returned by a function, read as `T`.
fn row<T: DeserializeOwned>(value: Value) -> Result<T, DbError> {
    serde_json::from_value(value).map_err(|e| DbError::Unexpected(e.to_string()))
}
