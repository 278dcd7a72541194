//! Deployment configuration, parsed once per request from the Worker's vars and secrets.
//! Secrets arrive via `wrangler secret` (or `.dev.vars` locally) and are held in zeroizing types.

use std::fmt;
use zeroize::Zeroizing;

use crate::crypto::envelope::MasterKeyRing;
use crate::crypto::keys::Key256;
use crate::okta::DomainPolicy;

/// A missing or malformed setting; names the setting, never its value.
#[derive(Debug, thiserror::Error)]
#[error("configuration {name} is {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: &'static str,
}

pub struct Config {
    /// PostgREST root, e.g. `https://<ref>.supabase.co/rest/v1`.
    pub postgrest_url: String,
    /// Supabase anon key, sent as `apikey` to Supabase's gateway (not a secret, not needed locally).
    pub supabase_anon_key: Option<String>,
    /// HS256 secret that signs Supabase user JWTs.
    pub jwt_secret: Zeroizing<Vec<u8>>,
    pub jwt_audience: String,
    /// Required `iss` of user JWTs, when set.
    pub jwt_issuer: Option<String>,
    /// The project's JWKS (RS256/ES256 user JWTs), when set; without it only HS256 is accepted.
    pub jwks_url: Option<String>,
    /// Service-role JWT, used only by system jobs and scoped by code.
    pub service_role_key: Zeroizing<String>,
    /// Wraps per-team data keys; first entry is active.
    pub master_keys: MasterKeyRing,
    /// Root of the HKDF tree of snapshot keys.
    pub snapshot_secret: Key256,
    /// Signs download URLs.
    pub download_signing_key: Key256,
    /// Keys the hashes of API keys and invitation tokens (see `auth::apikey`).
    pub api_key_pepper: Key256,
    /// Origin download URLs point at, e.g. `https://butterfly.example.com`.
    pub public_base_url: String,
    pub okta_domains: DomainPolicy,
    /// Refuse plain-HTTP requests (default); off only for the loopback stack.
    pub require_https: bool,
    /// Exact origins allowed cross-origin access; empty (the default) sends no CORS headers.
    pub cors_origins: Vec<String>,
    /// Cron expression (as in wrangler.toml) that starts scheduled backups.
    pub backup_cron: String,
    /// Cron expression (as in wrangler.toml) that starts the daily compliance runs.
    pub compliance_cron: String,
    /// How much one backup invocation does before it checkpoints and re-enqueues the rest.
    pub backup_slice: SliceLimits,
}

/// Bounds of one backup invocation ("slice"). Workers cap subrequests and a queue consumer's
/// wall time per invocation; a slice stops well inside both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceLimits {
    /// Okta requests per slice (`BACKUP_SLICE_REQUESTS`, default 5000 of the 10,000
    /// subrequests a paid Worker may make, leaving room for R2 and database calls).
    pub max_requests: u32,
    /// Wall time per slice (`BACKUP_SLICE_SECONDS`, default 600 of the consumer's 15 minutes).
    pub seconds: u32,
    /// Longest gap between checkpoints (`BACKUP_CHECKPOINT_SECONDS`, default 30): the most
    /// work a killed invocation can lose.
    pub checkpoint_seconds: u32,
    /// Delay before a slice that hit a transient failure is tried again
    /// (`BACKUP_RETRY_SECONDS`, default 60).
    pub retry_seconds: u32,
}

impl Default for SliceLimits {
    fn default() -> Self {
        SliceLimits {
            max_requests: 5000,
            seconds: 600,
            checkpoint_seconds: 30,
            retry_seconds: 60,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("postgrest_url", &self.postgrest_url)
            .field("public_base_url", &self.public_base_url)
            .field("okta_domains", &self.okta_domains)
            .field("backup_cron", &self.backup_cron)
            .field("compliance_cron", &self.compliance_cron)
            .finish_non_exhaustive()
    }
}

/// The default backup schedule; must match a cron in wrangler.toml (build.rs checks).
pub const DEFAULT_BACKUP_CRON: &str = "17 */6 * * *";

/// The default compliance schedule (daily); must match a cron in wrangler.toml (build.rs checks).
pub const DEFAULT_COMPLIANCE_CRON: &str = "23 4 * * *";

impl Config {
    /// `lookup` returns a var or secret by name.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError {
                    name,
                    problem: "missing",
                })
        };
        let invalid = |name: &'static str| ConfigError {
            name,
            problem: "invalid",
        };
        let key = |name: &'static str| {
            Key256::from_base64(required(name)?.trim()).map_err(|_| invalid(name))
        };

        let jwt_secret = Zeroizing::new(required("SUPABASE_JWT_SECRET")?.into_bytes());
        if jwt_secret.len() < 32 {
            return Err(ConfigError {
                name: "SUPABASE_JWT_SECRET",
                problem: "too short (need 32+ bytes)",
            });
        }
        let public_base_url = required("PUBLIC_BASE_URL")?
            .trim_end_matches('/')
            .to_string();
        let postgrest_url = required("POSTGREST_URL")?.trim_end_matches('/').to_string();
        let okta_domains = match lookup("ALLOW_LOOPBACK_OKTA").as_deref() {
            Some("true") => DomainPolicy::AllowLoopback,
            None | Some("") | Some("false") => DomainPolicy::OktaOnly,
            Some(_) => return Err(invalid("ALLOW_LOOPBACK_OKTA")),
        };
        let require_https = match lookup("REQUIRE_HTTPS").as_deref() {
            None | Some("") | Some("true") => true,
            Some("false") => false,
            Some(_) => return Err(invalid("REQUIRE_HTTPS")),
        };
        let cors_origins: Vec<String> = lookup("CORS_ALLOWED_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        let origin_ok = |o: &String| {
            url::Url::parse(o).is_ok_and(|u| {
                matches!(u.scheme(), "https" | "http")
                    && u.host().is_some()
                    && u.origin().ascii_serialization() == *o
            })
        };
        if !cors_origins.iter().all(origin_ok) {
            return Err(invalid("CORS_ALLOWED_ORIGINS"));
        }
        let number = |name: &'static str, default: u32, max: u32| match lookup(name) {
            None => Ok(default),
            Some(v) if v.trim().is_empty() => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or(invalid(name)),
        };
        let defaults = SliceLimits::default();
        let backup_slice = SliceLimits {
            max_requests: number("BACKUP_SLICE_REQUESTS", defaults.max_requests, 10_000)?,
            seconds: number("BACKUP_SLICE_SECONDS", defaults.seconds, 840)?,
            checkpoint_seconds: number(
                "BACKUP_CHECKPOINT_SECONDS",
                defaults.checkpoint_seconds,
                300,
            )?,
            retry_seconds: number("BACKUP_RETRY_SECONDS", defaults.retry_seconds, 3600)?,
        };
        Ok(Config {
            backup_slice,
            require_https,
            cors_origins,
            postgrest_url,
            supabase_anon_key: lookup("SUPABASE_ANON_KEY").filter(|v| !v.is_empty()),
            jwt_secret,
            jwt_audience: lookup("JWT_AUDIENCE").unwrap_or_else(|| "authenticated".into()),
            jwt_issuer: lookup("JWT_ISSUER").filter(|v| !v.trim().is_empty()),
            jwks_url: lookup("SUPABASE_JWKS_URL").filter(|v| !v.trim().is_empty()),
            service_role_key: Zeroizing::new(required("SUPABASE_SERVICE_ROLE_KEY")?),
            master_keys: MasterKeyRing::parse(&required("MASTER_KEYS")?)
                .map_err(|_| invalid("MASTER_KEYS"))?,
            snapshot_secret: key("SNAPSHOT_MASTER_SECRET")?,
            download_signing_key: key("DOWNLOAD_SIGNING_KEY")?,
            api_key_pepper: key("API_KEY_PEPPER")?,
            public_base_url,
            okta_domains,
            backup_cron: lookup("BACKUP_CRON").unwrap_or_else(|| DEFAULT_BACKUP_CRON.into()),
            compliance_cron: lookup("COMPLIANCE_CRON")
                .unwrap_or_else(|| DEFAULT_COMPLIANCE_CRON.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, String> {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string();
        HashMap::from([
            ("SUPABASE_JWT_SECRET", "x".repeat(40)),
            ("PUBLIC_BASE_URL", "http://127.0.0.1:8787/".into()),
            ("POSTGREST_URL", "http://127.0.0.1:3000".into()),
            ("SUPABASE_SERVICE_ROLE_KEY", "service.jwt.value".into()),
            ("MASTER_KEYS", format!("k1:{key}")),
            ("SNAPSHOT_MASTER_SECRET", key.clone()),
            ("DOWNLOAD_SIGNING_KEY", key.clone()),
            ("API_KEY_PEPPER", key),
        ])
    }

    fn parse(vars: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn parses_a_complete_configuration() {
        let config = parse(&base()).unwrap();
        assert_eq!(config.public_base_url, "http://127.0.0.1:8787");
        assert_eq!(config.okta_domains, DomainPolicy::OktaOnly);
        assert_eq!(config.backup_cron, DEFAULT_BACKUP_CRON);
        assert_eq!(config.compliance_cron, DEFAULT_COMPLIANCE_CRON);
        assert_eq!(config.backup_slice, SliceLimits::default());
        let debug = format!("{config:?}");
        assert!(!debug.contains("service.jwt.value") && !debug.contains("xxxx"));
    }

    #[test]
    fn names_the_bad_setting_but_not_its_value() {
        let mut vars = base();
        vars.remove("MASTER_KEYS");
        assert_eq!(
            parse(&vars).unwrap_err().to_string(),
            "configuration MASTER_KEYS is missing"
        );
        let mut vars = base();
        vars.insert("SNAPSHOT_MASTER_SECRET", "c2hvcnQ=".into());
        let err = parse(&vars).unwrap_err().to_string();
        assert_eq!(err, "configuration SNAPSHOT_MASTER_SECRET is invalid");
        let mut vars = base();
        vars.insert("ALLOW_LOOPBACK_OKTA", "yes".into());
        assert!(parse(&vars).is_err());
        let mut bad = base();
        bad.insert("CORS_ALLOWED_ORIGINS", "https://a.example/path".into());
        assert!(parse(&bad).is_err());
        bad.insert(
            "CORS_ALLOWED_ORIGINS",
            "https://a.example, http://127.0.0.1:3000".into(),
        );
        assert_eq!(parse(&bad).unwrap().cors_origins.len(), 2);
        for (name, value) in [
            ("BACKUP_SLICE_REQUESTS", "0"),
            ("BACKUP_SLICE_SECONDS", "900"),
            ("BACKUP_CHECKPOINT_SECONDS", "ten"),
        ] {
            let mut bad = base();
            bad.insert(name, value.into());
            assert_eq!(
                parse(&bad).unwrap_err().to_string(),
                format!("configuration {name} is invalid")
            );
        }
        let mut small = base();
        small.insert("BACKUP_SLICE_REQUESTS", "25".into());
        assert_eq!(parse(&small).unwrap().backup_slice.max_requests, 25);
        vars.insert("ALLOW_LOOPBACK_OKTA", "true".into());
        assert_eq!(
            parse(&vars).unwrap().okta_domains,
            DomainPolicy::AllowLoopback
        );
    }
}
