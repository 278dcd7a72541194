//! Emulator settings, shared by the library API and the command line.

use std::time::Duration;

use crate::rate_limit::{Bucket, RateLimits};
use crate::tenant::POLICY_TYPES;

/// The API token accepted when none is configured.
pub const DEFAULT_TOKEN: &str = "demo-okta-token";

/// Command-line help, printed by `okta-emulator --help`.
pub const USAGE: &str = "\
usage: okta-emulator [options]

  --port <p>                   port to listen on; 0 picks a free one (default 0)
  --host <addr>                address to bind (default 127.0.0.1)
  --seed <n>                   tenant seed; same seed and sizes give identical responses (default 1)
  --users <n>                  users, the first being the super admin tokens belong to (default 25)
  --groups <n>                 OKTA_GROUP groups besides the built-in Everyone (default 6)
  --apps <n>                   apps, cycling SAML_2_0, OPENID_CONNECT, BOOKMARK, AUTO_LOGIN,
                               BROWSER_PLUGIN (default 5)
  --token <t>                  accepted `SSWS <t>` API token; repeatable (default demo-okta-token)
  --bearer <t>:<scopes>        accepted `Bearer <t>` access token with comma-separated scopes,
                               e.g. okta.users.read,okta.groups.read; repeatable
  --rate-limit <bucket>=<n>    requests per minute of one of Okta's buckets; repeatable.
                               Buckets and defaults: apps (/api/v1/apps*) 100, app
                               (/api/v1/apps/{id}) 600, groups (/api/v1/groups*) 600, group
                               (/api/v1/groups/{id}) 600, users (GET|POST /api/v1/users) 600,
                               user (GET /api/v1/users/{id}) 1000, user-writes (POST|PUT|DELETE
                               /api/v1/users/{id}) 600, logs (/api/v1/logs) 50, other (the rest
                               of /api/v1) 600; `policies` and `org` are names for `other`
  --concurrency-limit <n>      in-flight API requests before 429 (default 75)
  --cursor-ttl-secs <n>        `after` cursors expire n seconds after they were issued, and an
                               expired one is Okta's 400 E0000029 (default: never)
  --log-history <n>            sign-in events the System Log holds at start (default 50)
  --okta-defaults              also the objects Okta creates in every org that the seeded
                               tenant lacks: the DefaultEnhancedDynamicZone and
                               DefaultExemptIpZone system zones, the Okta Admin Console and
                               Okta Dashboard apps with their app sign-in policies
  --sandbox                    an empty org (the super admin and Okta's default objects only),
                               to restore into; --users/--groups/--apps are ignored
  --unlicensed-policy-types <types>
                               comma-separated policy types the org's licence lacks, e.g.
                               ENTITY_RISK,POST_AUTH_SESSION: the tenant has none, and listing
                               them is Okta's 400 E0000002
  --time-scale <f>             rate-limit window is 60 s / f, so benchmarks finish fast (default 1)
  --page-delay-ms <n>          added latency for every API response (default 0)
";

/// An OAuth 2.0 access token and the scopes granted to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BearerToken {
    pub token: String,
    pub scopes: Vec<String>,
}

/// Everything that shapes an emulator: the seeded tenant, who may call it, and how it throttles.
#[derive(Clone, Debug, PartialEq)]
pub struct EmulatorConfig {
    pub host: String,
    /// 0 lets the OS pick a free port; [`crate::RunningEmulator::port`] tells which.
    pub port: u16,
    pub seed: u64,
    pub users: usize,
    /// OKTA_GROUP groups; the built-in `Everyone` group is always added.
    pub groups: usize,
    pub apps: usize,
    /// Tokens accepted as `Authorization: SSWS <token>`, with full read access.
    pub api_tokens: Vec<String>,
    /// Tokens accepted as `Authorization: Bearer <token>`, limited to their scopes.
    pub bearer_tokens: Vec<BearerToken>,
    pub rate_limits: RateLimits,
    /// In-flight API requests allowed before Okta's concurrency limit answers 429.
    pub concurrency_limit: usize,
    /// Rate-limit windows last 60 s divided by this.
    pub time_scale: f64,
    /// Latency added to every API response.
    pub page_delay: Duration,
    /// How long an `after` cursor stays usable; `None`: forever.
    pub cursor_ttl: Option<Duration>,
    /// Policy types the org's licence lacks (see [`crate::Tenant::without_policy_types`]).
    pub unlicensed_policy_types: Vec<String>,
    /// Sign-in events the System Log holds at start, spread over the day before.
    pub log_history: usize,
    /// Add the objects Okta creates in every org that the seeded tenant lacks (two system
    /// zones, the Admin Console and Dashboard apps and their app sign-in policies). Off by
    /// default so the tenant stays the one earlier versions served.
    pub okta_defaults: bool,
    /// Serve an empty org (only the super admin and Okta's default objects; implies
    /// `okta_defaults`; `users`, `groups` and `apps` are ignored), as a sandbox to restore into.
    pub sandbox: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 0,
            seed: 1,
            users: 25,
            groups: 6,
            apps: 5,
            api_tokens: vec![DEFAULT_TOKEN.to_owned()],
            bearer_tokens: Vec::new(),
            rate_limits: RateLimits::default(),
            concurrency_limit: 75,
            time_scale: 1.0,
            page_delay: Duration::ZERO,
            cursor_ttl: None,
            unlicensed_policy_types: Vec::new(),
            log_history: 50,
            okta_defaults: false,
            sandbox: false,
        }
    }
}

impl EmulatorConfig {
    /// Parses command-line arguments (without the program name). The first `--token` replaces the
    /// default token rather than adding to it.
    pub fn from_args<I, S>(args: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut config = Self::default();
        let mut tokens_given = false;
        let mut args = args.into_iter().map(Into::into);
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--port" => config.port = number(&flag, &value()?)?,
                "--host" => config.host = value()?,
                "--seed" => config.seed = number(&flag, &value()?)?,
                "--users" => config.users = number(&flag, &value()?)?,
                "--groups" => config.groups = number(&flag, &value()?)?,
                "--apps" => config.apps = number(&flag, &value()?)?,
                "--token" => {
                    if !tokens_given {
                        config.api_tokens.clear();
                        tokens_given = true;
                    }
                    config.api_tokens.push(value()?);
                }
                "--bearer" => config.bearer_tokens.push(bearer(&value()?)?),
                "--rate-limit" => {
                    let spec = value()?;
                    let (name, limit) = spec
                        .split_once('=')
                        .ok_or_else(|| format!("--rate-limit wants <bucket>=<n>, got {spec:?}"))?;
                    let bucket = Bucket::from_name(name)
                        .ok_or_else(|| format!("unknown rate-limit bucket {name:?}"))?;
                    config.rate_limits.set(bucket, number(&flag, limit)?);
                }
                "--concurrency-limit" => config.concurrency_limit = number(&flag, &value()?)?,
                "--time-scale" => {
                    let scale: f64 = number(&flag, &value()?)?;
                    if !(scale.is_finite() && scale > 0.0) {
                        return Err("--time-scale must be a positive number".to_owned());
                    }
                    config.time_scale = scale;
                }
                "--page-delay-ms" => {
                    config.page_delay = Duration::from_millis(number(&flag, &value()?)?);
                }
                "--log-history" => config.log_history = number(&flag, &value()?)?,
                "--okta-defaults" => config.okta_defaults = true,
                "--sandbox" => config.sandbox = true,
                "--cursor-ttl-secs" => {
                    config.cursor_ttl = Some(Duration::from_secs(number(&flag, &value()?)?));
                }
                "--unlicensed-policy-types" => {
                    for kind in value()?.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                        if !POLICY_TYPES.contains(&kind) {
                            return Err(format!("unknown policy type {kind:?}"));
                        }
                        config.unlicensed_policy_types.push(kind.to_owned());
                    }
                }
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        Ok(config)
    }
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: {text:?} is not a valid number"))
}

fn bearer(spec: &str) -> Result<BearerToken, String> {
    let (token, scopes) = spec
        .split_once(':')
        .ok_or_else(|| format!("--bearer wants <token>:<scopes>, got {spec:?}"))?;
    if token.is_empty() {
        return Err("--bearer token must not be empty".to_owned());
    }
    Ok(BearerToken {
        token: token.to_owned(),
        scopes: scopes
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_flag() {
        let config = EmulatorConfig::from_args([
            "--port",
            "8080",
            "--host",
            "0.0.0.0",
            "--seed",
            "9",
            "--users",
            "1000",
            "--groups",
            "20",
            "--apps",
            "30",
            "--token",
            "a",
            "--token",
            "b",
            "--bearer",
            "t:okta.users.read, okta.apps.read",
            "--rate-limit",
            "apps=50",
            "--time-scale",
            "60",
            "--page-delay-ms",
            "5",
            "--concurrency-limit",
            "10",
            "--cursor-ttl-secs",
            "30",
            "--unlicensed-policy-types",
            "ENTITY_RISK, POST_AUTH_SESSION",
        ])
        .unwrap();
        assert_eq!(config.port, 8080);
        assert_eq!(config.host, "0.0.0.0");
        assert_eq!(
            (config.seed, config.users, config.groups, config.apps),
            (9, 1000, 20, 30)
        );
        assert_eq!(config.api_tokens, ["a", "b"]);
        assert_eq!(
            config.bearer_tokens[0].scopes,
            ["okta.users.read", "okta.apps.read"]
        );
        assert_eq!(config.rate_limits.get(Bucket::Apps), 50);
        assert_eq!(config.rate_limits.get(Bucket::Users), 600);
        assert_eq!(config.rate_limits.get(Bucket::User), 1000);
        assert_eq!(config.time_scale, 60.0);
        assert_eq!(config.page_delay, Duration::from_millis(5));
        assert_eq!(config.concurrency_limit, 10);
        assert_eq!(config.cursor_ttl, Some(Duration::from_secs(30)));
        assert_eq!(
            config.unlicensed_policy_types,
            ["ENTITY_RISK", "POST_AUTH_SESSION"]
        );
    }

    #[test]
    fn defaults_to_demo_token() {
        let config = EmulatorConfig::from_args(Vec::<String>::new()).unwrap();
        assert_eq!(config.api_tokens, [DEFAULT_TOKEN]);
        assert_eq!(config, EmulatorConfig::default());
    }

    #[test]
    fn rejects_bad_input() {
        for args in [
            &["--port"][..],
            &["--port", "x"],
            &["--rate-limit", "nope=1"],
            &["--rate-limit", "apps"],
            &["--time-scale", "0"],
            &["--bearer", "no-scopes-separator"],
            &["--unlicensed-policy-types", "OAUTH_AUTHORIZATION_POLICY"],
            &["--cursor-ttl-secs", "-1"],
            &["--frobnicate"],
        ] {
            assert!(
                EmulatorConfig::from_args(args.iter().copied()).is_err(),
                "{args:?}"
            );
        }
    }
}
