//! Supabase Postgres through PostgREST. Every request carries a JWT: the caller's own (so
//! row-level security decides what it may see) or, for system jobs only, the service role's.

pub mod compliance;
pub mod postgrest;
pub mod records;
pub mod repo;

pub use postgrest::{DbError, Postgrest};
pub use repo::Repo;
pub mod access;
