//! Use cases: what the API routes and the cron trigger do, over the ports.

pub mod api_keys;
pub mod audit;
pub mod backups;
pub mod compliance;
pub mod connections;
pub mod downloads;
pub mod error;
pub mod jobs;
pub mod scheduler;
pub mod teams;

pub use error::ServiceError;

use crate::auth::jwks::JwksCache;
use crate::config::Config;
use crate::db::{Postgrest, Repo};
use crate::ports::{Clock, HttpClient, ObjectStore, RateLimiter, Rng};

/// The ports and configuration every use case runs on.
pub struct Deps<'a> {
    pub config: &'a Config,
    pub http: &'a dyn HttpClient,
    pub store: &'a dyn ObjectStore,
    pub clock: &'a dyn Clock,
    pub rng: &'a dyn Rng,
    pub limiter: &'a dyn RateLimiter,
    /// Verification keys for asymmetric user JWTs, kept across requests.
    pub jwks: &'a JwksCache,
}

impl<'a> Deps<'a> {
    /// A repository acting as the caller: RLS limits it to the caller's teams.
    pub fn user_repo(&self, jwt: &str, request_id: &str) -> Repo<'a> {
        Repo::new(Postgrest::new(
            self.http,
            &self.config.postgrest_url,
            self.config.supabase_anon_key.as_deref(),
            jwt,
            Some(request_id),
        ))
    }

    /// The service-role repository. Only system paths (jobs, key custody, audit writes, signed
    /// downloads after signature checks) use it, each scoped to ids it has already authorised.
    pub fn system_repo(&self, request_id: &str) -> Repo<'a> {
        Repo::new(Postgrest::new(
            self.http,
            &self.config.postgrest_url,
            self.config.supabase_anon_key.as_deref(),
            &self.config.service_role_key,
            Some(request_id),
        ))
    }
}
