//! Integration tests over HTTP against the real local stack: wrangler dev (workerd + local R2),
//! PostgREST 12 over PostgreSQL with the Supabase roles and RLS, and the Okta emulator.
//! scripts/test.sh starts the stack and runs these with `--features stack-tests`.

mod support;

mod access;
mod ai;
mod allowlist;
mod audit;
mod backup_flow;
mod bench;
mod billing;
mod chain;
mod checkpoints;
mod cli;
mod compliance;
mod cors;
mod deletion;
mod drift;
mod drift_bench;
mod drift_capture;
mod drills;
mod edge;
mod email;
mod evidence;
mod faults;
mod fidelity;
mod index_slices;
mod isolation;
mod jwks;
mod key_rotation;
mod lifecycle;
mod master_key;
mod oauth;
mod openapi;
mod plain_http;
mod rate_limits;
mod restore;
mod schedule;
mod seal_interop;
mod small_holes;
mod tamper;
mod tenancy;
mod worker_instance;
