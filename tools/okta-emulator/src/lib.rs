//! A local emulator of Okta's management API and System Log, for Butterfly's integration tests and
//! benchmarks (real Okta is out of reach from CI).
//!
//! It serves a deterministic, seeded org ([`Tenant`]) with Okta's wire behaviour: cursor pagination
//! through `Link` headers, Okta's rate-limit buckets with `X-Rate-Limit-*` headers and E0000047
//! 429s, a concurrency limit, SSWS and scoped Bearer authentication (with the org authorization
//! server's token endpoint for service apps: `private_key_jwt`, app grants, DPoP), and Okta's
//! error bodies.
//! Writes follow Okta's rules and log Okta's events in the System Log. Test-only controls under
//! `/__emulator/` reset counters, report statistics, inject faults, revoke tokens and make an
//! admin's changes.
//!
//! ```no_run
//! let emulator = okta_emulator::start(okta_emulator::EmulatorConfig::default())?;
//! println!("{}", emulator.base_url()); // GET {base}/api/v1/users with `Authorization: SSWS demo-okta-token`
//! # Ok::<(), std::io::Error>(())
//! ```

mod auth;
mod config;
mod errors;
mod faults;
mod filter;
mod jws;
mod oauth;
mod paging;
mod prng;
mod rate_limit;
mod routes;
pub mod schema;
mod server;
mod stats;
mod syslog;
mod tenant;
mod time;
mod writes;

pub use config::{BearerToken, EmulatorConfig, DEFAULT_TOKEN, USAGE};
pub use rate_limit::{Bucket, RateLimits};
pub use server::{start, RunningEmulator};
pub use tenant::{with_origin, Tenant, ORIGIN_PLACEHOLDER, POLICY_TYPES};

/// The tenant an emulator started with `config` serves: same seed, sizes and licence, same data.
pub fn tenant(config: &EmulatorConfig) -> Tenant {
    let tenant = if config.sandbox {
        Tenant::sandbox(config.seed)
    } else if config.okta_defaults {
        Tenant::generate(config.seed, config.users, config.groups, config.apps)
            .with_okta_defaults(config.seed)
    } else {
        Tenant::generate(config.seed, config.users, config.groups, config.apps)
    };
    tenant.without_policy_types(&config.unlicensed_policy_types)
}
