//! Use cases: what the API routes and the jobs do, over the ports. Each takes the [`Caller`] (or,
//! for the worker's own work, a [`Privileged`] context) plus its own arguments.

pub mod ai;
pub mod allowlist;
pub mod api_keys;
pub mod audit;
pub mod audit_pack;
pub mod billing;
pub mod caller;
pub mod compliance;
pub mod connections;
pub mod downloads;
pub mod drift;
pub mod drills;
pub mod email;
pub mod error;
pub mod evidence;
pub mod lifecycle;
pub mod okta_auth;
pub mod resource_history;
pub mod restores;
pub mod snapshot_diff;
pub mod teams;
pub mod tenant_keys;

pub use caller::{Caller, Privileged};
pub use error::ServiceError;

use crate::ai::breaker::Breakers;
use crate::auth::jwks::JwksCache;
use crate::config::Config;
use crate::ports::{Clock, HttpClient, JobQueue, ObjectStore, RateLimiter, Rng, SealPrimitives};
use crate::store::Database;

/// The ports and configuration every use case runs on.
pub struct Deps<'a> {
    pub config: &'a Config,
    pub http: &'a dyn HttpClient,
    /// Snapshot objects (R2).
    pub store: &'a dyn ObjectStore,
    /// gzip and AES-GCM for sealing and opening snapshots (the runtime's own in the worker).
    /// `'static`, as a download's stream outlives its request.
    pub seal: &'static dyn SealPrimitives,
    pub db: &'a dyn Database,
    pub queue: &'a dyn JobQueue,
    pub clock: &'a dyn Clock,
    pub rng: &'a dyn Rng,
    pub limiter: &'a dyn RateLimiter,
    /// Verification keys for asymmetric user JWTs, kept across requests.
    pub jwks: &'a JwksCache,
    /// This isolate's circuit breakers of the AI providers, kept across requests.
    pub ai_breakers: &'a Breakers,
}
