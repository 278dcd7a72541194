//! Deployment configuration, parsed once per request from the Worker's vars and secrets.
//! Secrets arrive via `wrangler secret` (or `.dev.vars` locally) and are held in zeroizing types.

use std::fmt;
use zeroize::Zeroizing;

use crate::ai::config::AiConfig;
use crate::billing::config::BillingConfig;
use crate::billing::plans::PlanId;
use crate::crypto::envelope::MasterKeyRing;
use crate::crypto::keyring::KeyRing;
use crate::email::config::EmailConfig;
use crate::evidence::signing::SigningKeyRing;
use crate::okta::DomainPolicy;

use crate::config_error::ConfigError;

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
    /// Root of the HKDF tree of snapshot keys (`id:key` list, active first; a bare value is
    /// id `legacy`, the key of backups made before they had their own keys). Each backup
    /// records the id it was sealed with.
    pub snapshot_secret: KeyRing,
    /// Signs download URLs (`id:key` list, active first; see `signed_url`).
    pub download_signing_key: KeyRing,
    /// Keys the hashes of API keys and invitation tokens (`id:key` list, active first; see
    /// `auth::apikey`).
    pub api_key_pepper: KeyRing,
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
    /// Cron expression (as in wrangler.toml) of the master-key re-wrap (hourly).
    pub key_rewrap_cron: String,
    /// How much one backup invocation does before it checkpoints and re-enqueues the rest.
    pub backup_slice: SliceLimits,
    /// Stripe billing; `None` (no `STRIPE_SECRET_KEY`) means billing is off and every team is
    /// on Free.
    pub billing: Option<BillingConfig>,
    /// `APP_URL`: the web app's page Stripe Checkout and the Customer Portal send users back
    /// to (default `PUBLIC_BASE_URL`). Fixed here, never taken from a request, so a Checkout
    /// link cannot be made to redirect anywhere else.
    pub app_url: String,
    /// `DEFAULT_PLAN`: the plan of a team that pays for none (default `free`). A deployment
    /// without billing, or a test stack, may set a larger one.
    pub default_plan: PlanId,
    /// AI guidance: providers (keys are secrets), timeout, prices, default budgets.
    pub ai: AiConfig,
    /// Cron expression (as in wrangler.toml) that anchors the activity chains' heads in R2.
    pub anchor_cron: String,
    /// Cron expression (as in wrangler.toml) that queues the drift checks that are due (each
    /// connection has its own interval; this is how often intervals are looked at).
    pub drift_cron: String,
    /// Ed25519 keys that sign audit packs (`AUDIT_SIGNING_KEYS`, a secret; active key first).
    /// Without it the audit-pack export answers 503 and no public key is published.
    pub audit_signing_keys: Option<SigningKeyRing>,
    /// Where to report a vulnerability (`SECURITY_CONTACTS`: comma-separated `mailto:`/`https:`
    /// URIs, most preferred first), published in `/.well-known/security.txt`.
    pub security_contacts: Vec<String>,
    /// Base URL of the published source (`SOURCE_URL`, e.g. `https://github.com/o/r/blob/main`):
    /// the Trust Center links each claim's control there when set.
    pub source_url: Option<String>,
    /// Cron expression of the daily retention pruning (`RETENTION_CRON`).
    pub retention_cron: String,
    /// Cron expression of the daily purge of teams whose deletion is due (`PURGE_CRON`).
    pub purge_cron: String,
    /// Email through SendGrid; `None` (no `SENDGRID_API_KEY`) means email is off: nothing is
    /// sent, and code-gated routes answer `503 email_not_configured`.
    pub email: Option<EmailConfig>,
    /// Cron expression (as in wrangler.toml) of the outbox delivery job (every two minutes).
    pub outbox_cron: String,
    /// `DEV_SIGN_IN_USER`: local stacks only (refused unless `REQUIRE_HTTPS=false`; build.rs
    /// keeps it out of `wrangler.toml`). The dashboard's dev sign-in mints this user's JWT;
    /// unset, `POST /app/dev-session` answers 404.
    pub dev_sign_in: Option<crate::ids::UserId>,
    /// Cron expression of the weekly recovery drills (`DRILL_CRON`).
    pub drill_cron: String,
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
    /// Bytes a slice may process, in MiB (`BACKUP_SLICE_WORK_MIB`): the CPU bound. The default
    /// is [`SLICE_CPU_MS`] at [`CPU_MS_PER_WORK_MIB`], so a slice stops near 40 % of
    /// [`WORKER_CPU_MS`] and ends, with the pages already in flight, well under half of it.
    pub work_mib: u32,
}

/// `[limits] cpu_ms` in wrangler.toml (build.rs checks they agree): the most CPU one invocation
/// may use, 5 minutes, the largest value Workers allow. Backup slices bound themselves far
/// below it (see [`SLICE_CPU_MS`]), so for them it is only the backstop that kills a runaway;
/// the invocation that needs the most is a download, which decrypts and decompresses a whole
/// object in one response (see docs/snapshot-format.md for the object sizes this allows).
pub const WORKER_CPU_MS: u32 = 300_000;

/// CPU a backup slice plans to use: 40 % of [`WORKER_CPU_MS`], leaving the pages in flight
/// when the bound is reached and the estimate's error inside the 50 % margin.
pub const SLICE_CPU_MS: u32 = WORKER_CPU_MS / 5 * 2;

/// Worker CPU per MiB of slice work (Okta response bytes plus plaintext written), measured by
/// scripts/bench.sh (`worker_cpu_ms_per_work_mib`) and rounded up generously.
pub const CPU_MS_PER_WORK_MIB: u32 = 50;

impl Default for SliceLimits {
    fn default() -> Self {
        SliceLimits {
            max_requests: 5000,
            seconds: 600,
            checkpoint_seconds: 30,
            retry_seconds: 60,
            work_mib: SLICE_CPU_MS / CPU_MS_PER_WORK_MIB,
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

/// The default master-key re-wrap schedule (hourly); must match a cron in wrangler.toml.
pub const DEFAULT_KEY_REWRAP_CRON: &str = "41 * * * *";
/// The default anchoring schedule (hourly); must match a cron in wrangler.toml (build.rs checks).
pub const DEFAULT_ANCHOR_CRON: &str = "53 * * * *";
/// The default retention pruning schedule (daily); must match a cron in wrangler.toml.
pub const DEFAULT_RETENTION_CRON: &str = "29 3 * * *";
/// The default deletion purge schedule (daily); must match a cron in wrangler.toml.
pub const DEFAULT_PURGE_CRON: &str = "37 2 * * *";
/// The default drift schedule (every 5 minutes); must match a cron in wrangler.toml.
pub const DEFAULT_DRIFT_CRON: &str = "*/5 * * * *";
/// The default outbox delivery schedule; must match a cron in wrangler.toml (build.rs checks).
pub const DEFAULT_OUTBOX_CRON: &str = "*/2 * * * *";
/// The default recovery drill schedule (weekly, Mondays 05:11 UTC); must match a cron in
/// wrangler.toml.
pub const DEFAULT_DRILL_CRON: &str = "11 5 * * 1";

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
        let ring = |name: &'static str| KeyRing::parse(&required(name)?).map_err(|_| invalid(name));

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
            work_mib: number(
                "BACKUP_SLICE_WORK_MIB",
                defaults.work_mib,
                defaults.work_mib,
            )?,
        };
        let app_url = match lookup("APP_URL").filter(|v| !v.trim().is_empty()) {
            None => public_base_url.clone(),
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_string();
                let parsed = url::Url::parse(&url).map_err(|_| invalid("APP_URL"))?;
                let scheme_ok =
                    parsed.scheme() == "https" || (!require_https && parsed.scheme() == "http");
                if !scheme_ok || parsed.host().is_none() {
                    return Err(invalid("APP_URL"));
                }
                url
            }
        };
        let default_plan = match lookup("DEFAULT_PLAN").filter(|v| !v.trim().is_empty()) {
            None => PlanId::Free,
            Some(plan) => PlanId::parse(plan.trim()).ok_or(invalid("DEFAULT_PLAN"))?,
        };
        let ai = AiConfig::from_env(&lookup)?;
        let audit_signing_keys = match lookup("AUDIT_SIGNING_KEYS") {
            Some(spec) if !spec.trim().is_empty() => Some(
                SigningKeyRing::parse(spec.trim()).map_err(|_| invalid("AUDIT_SIGNING_KEYS"))?,
            ),
            _ => None,
        };
        let security_contacts = lookup("SECURITY_CONTACTS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let source_url = lookup("SOURCE_URL")
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty());
        if source_url
            .as_deref()
            .is_some_and(|u| !u.starts_with("https://"))
        {
            return Err(invalid("SOURCE_URL"));
        }
        let dev_sign_in = match lookup("DEV_SIGN_IN_USER").filter(|v| !v.trim().is_empty()) {
            None => None,
            // A credential minter: never where requests arrive over the internet.
            Some(_) if require_https => {
                return Err(ConfigError {
                    name: "DEV_SIGN_IN_USER",
                    problem: "only allowed on a local stack (REQUIRE_HTTPS=false)",
                })
            }
            Some(user) => Some(
                crate::ids::UserId::parse(user.trim()).map_err(|_| invalid("DEV_SIGN_IN_USER"))?,
            ),
        };
        Ok(Config {
            dev_sign_in,
            ai,
            default_plan,
            billing: BillingConfig::from_lookup(&lookup)?,
            app_url,
            audit_signing_keys,
            security_contacts,
            source_url,
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
            snapshot_secret: ring("SNAPSHOT_MASTER_SECRET")?,
            download_signing_key: ring("DOWNLOAD_SIGNING_KEY")?,
            api_key_pepper: ring("API_KEY_PEPPER")?,
            public_base_url,
            okta_domains,
            backup_cron: lookup("BACKUP_CRON").unwrap_or_else(|| DEFAULT_BACKUP_CRON.into()),
            compliance_cron: lookup("COMPLIANCE_CRON")
                .unwrap_or_else(|| DEFAULT_COMPLIANCE_CRON.into()),
            key_rewrap_cron: lookup("KEY_REWRAP_CRON")
                .unwrap_or_else(|| DEFAULT_KEY_REWRAP_CRON.into()),
            anchor_cron: lookup("ANCHOR_CRON").unwrap_or_else(|| DEFAULT_ANCHOR_CRON.into()),
            retention_cron: lookup("RETENTION_CRON")
                .unwrap_or_else(|| DEFAULT_RETENTION_CRON.into()),
            purge_cron: lookup("PURGE_CRON").unwrap_or_else(|| DEFAULT_PURGE_CRON.into()),
            drift_cron: lookup("DRIFT_CRON").unwrap_or_else(|| DEFAULT_DRIFT_CRON.into()),
            email: EmailConfig::from_lookup(&lookup)?,
            outbox_cron: lookup("OUTBOX_CRON").unwrap_or_else(|| DEFAULT_OUTBOX_CRON.into()),
            drill_cron: lookup("DRILL_CRON").unwrap_or_else(|| DEFAULT_DRILL_CRON.into()),
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
    fn dev_sign_in_is_off_by_default_and_refused_outside_a_local_stack() {
        let user = "00000000-0000-4000-8000-00000000d3e0";
        assert!(parse(&base()).unwrap().dev_sign_in.is_none());
        let mut vars = base();
        vars.insert("DEV_SIGN_IN_USER", user.into());
        assert_eq!(
            parse(&vars).unwrap_err().to_string(),
            "configuration DEV_SIGN_IN_USER is only allowed on a local stack (REQUIRE_HTTPS=false)"
        );
        vars.insert("REQUIRE_HTTPS", "false".into());
        assert_eq!(parse(&vars).unwrap().dev_sign_in.unwrap().to_string(), user);
        vars.insert("DEV_SIGN_IN_USER", "demo".into());
        assert!(parse(&vars).is_err());
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
            ("BACKUP_SLICE_WORK_MIB", "0"),
            (
                "BACKUP_SLICE_WORK_MIB",
                &(SLICE_CPU_MS / CPU_MS_PER_WORK_MIB + 1).to_string(),
            ),
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
        small.insert("BACKUP_SLICE_WORK_MIB", "3".into());
        assert_eq!(parse(&small).unwrap().backup_slice.work_mib, 3);
        assert_eq!(
            SliceLimits::default().work_mib as u64 * CPU_MS_PER_WORK_MIB as u64 * 2,
            WORKER_CPU_MS as u64 * 4 / 5,
            "slices plan 40 % of the invocation's CPU"
        );
        vars.insert("ALLOW_LOOPBACK_OKTA", "true".into());
        assert_eq!(
            parse(&vars).unwrap().okta_domains,
            DomainPolicy::AllowLoopback
        );
    }
}
