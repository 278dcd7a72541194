//! Where the CLI's credential lives, and which one wins: `--url`, then the environment
//! (`BUTTERFLY_URL`, `BUTTERFLY_API_KEY`), then the config file `butterfly login` wrote
//! (`--config`, else `$XDG_CONFIG_HOME/butterfly/config.json`, else
//! `~/.config/butterfly/config.json`). The file holds an API key, so it is written 0600 in a
//! 0700 directory and refused when anyone but its owner can read it.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{local, CliError};

pub const ENV_KEY: &str = "BUTTERFLY_API_KEY";
pub const ENV_URL: &str = "BUTTERFLY_URL";

/// An API key: never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

/// `bfk_` + 32 hex digits (the key's id) + `_` + 43 base64url characters (its secret).
const KEY_LEN: usize = 4 + 32 + 1 + 43;

impl ApiKey {
    /// Checks the shape only (the API checks the rest), so a pasted token of another kind is
    /// refused before it is sent anywhere.
    pub fn parse(text: &str) -> Result<ApiKey, CliError> {
        let text = text.trim();
        let ok = text.len() == KEY_LEN
            && text.starts_with("bfk_")
            && text.as_bytes()[36] == b'_'
            && text[4..36].bytes().all(|b| b.is_ascii_hexdigit())
            && text[37..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(ApiKey(text.to_string()))
        } else {
            Err(CliError::Usage(
                "that is not a Butterfly API key (bfk_...): create one under API keys".into(),
            ))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key's public part, as the API lists it: `bfk_` and its id.
    pub fn prefix(&self) -> &str {
        &self.0[..36]
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}_…)", self.prefix())
    }
}

/// What `butterfly login` stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub url: String,
    pub api_key: ApiKey,
}

/// The config file's path: `--config`, else the XDG location.
pub fn path(
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, CliError> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let base = match env("XDG_CONFIG_HOME").filter(|v| Path::new(v).is_absolute()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env("HOME").ok_or_else(|| {
            CliError::Usage("neither XDG_CONFIG_HOME nor HOME is set: pass --config".into())
        })?)
        .join(".config"),
    };
    Ok(base.join("butterfly").join("config.json"))
}

/// Reads the file, if there is one; refuses one that others could read.
pub fn load(path: &Path) -> Result<Option<ConfigFile>, CliError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(local(path.display(), e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::Local(format!(
            "{} holds an API key but is readable by others (mode {mode:o}): run chmod 600 on it",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| local(path.display(), e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| local(path.display(), format!("not a Butterfly config file ({e})")))
}

/// Writes the file 0600 (its directory 0700), replacing any earlier one in one rename.
pub fn save(path: &Path, config: &ConfigFile) -> Result<(), CliError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| local(dir.display(), e))?;
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        let mut text = serde_json::to_vec_pretty(config).expect("config serialises");
        text.push(b'\n');
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        local(path.display(), e)
    })
}

/// Removes the file (`butterfly logout`); true when there was one.
pub fn remove(path: &Path) -> Result<bool, CliError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(local(path.display(), e)),
    }
}

/// Where a setting came from (shown by `butterfly whoami`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    File,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Env => "environment",
            Source::File => "config file",
        }
    }
}

/// The URL and key a command uses.
#[derive(Debug)]
pub struct Settings {
    pub url: Option<(String, Source)>,
    pub key: Option<(ApiKey, Source)>,
}

/// Flag over environment over file, for each setting on its own.
pub fn resolve(
    flag_url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<&ConfigFile>,
) -> Result<Settings, CliError> {
    let non_empty = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let url = match (flag_url, non_empty(ENV_URL), file) {
        (Some(u), _, _) => Some((u.to_string(), Source::Flag)),
        (None, Some(u), _) => Some((u, Source::Env)),
        (None, None, Some(f)) => Some((f.url.clone(), Source::File)),
        (None, None, None) => None,
    };
    let key = match (non_empty(ENV_KEY), file) {
        (Some(k), _) => Some((ApiKey::parse(&k)?, Source::Env)),
        (None, Some(f)) => Some((f.api_key.clone(), Source::File)),
        (None, None) => None,
    };
    Ok(Settings { url, key })
}

/// The API's base URL as the CLI calls it: the worker's origin (a trailing `/` or `/api/v1`
/// is dropped). HTTPS, or plain HTTP to this machine only: the key travels in every request.
pub fn normalise_url(raw: &str) -> Result<String, CliError> {
    let bad = |why: &str| CliError::Usage(format!("--url {raw:?}: {why}"));
    let parsed = url::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad("has no host")),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(bad("must be https (plain http only to localhost)")),
        _ => return Err(bad("must be an https URL")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    let s = parsed.as_str().trim_end_matches('/');
    let s = s.strip_suffix("/api/v1").unwrap_or(s);
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str =
        "bfk_0123456789abcdef0123456789abcdef_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";
    const OTHER: &str =
        "bfk_fedcba9876543210fedcba9876543210_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO-_";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("butterfly-cli-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn keys_are_checked_for_shape_and_never_shown() {
        let key = ApiKey::parse(&format!(" {KEY}\n")).unwrap();
        assert_eq!(key.expose(), KEY);
        assert_eq!(key.prefix(), "bfk_0123456789abcdef0123456789abcdef");
        assert!(!format!("{key:?}").contains("abcdefghij"));
        for bad in [
            "",
            "eyJhbGciOiJIUzI1NiJ9.e30.x",
            &KEY[..KEY.len() - 1],
            KEY.replace("bfk_", "bfi_").as_str(),
            KEY.replace("_abc", "-abc").as_str(),
            KEY.replace("0123456789abcdef0123", "0123456789abcdefXYZ0")
                .as_str(),
        ] {
            assert!(ApiKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_path_is_the_flag_then_xdg_then_home() {
        let flag = Path::new("/tmp/x.json");
        let e = env(&[("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/u")]);
        assert_eq!(path(Some(flag), &e).unwrap(), flag);
        assert_eq!(
            path(None, &e).unwrap(),
            Path::new("/xdg/butterfly/config.json")
        );
        // A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
        let e = env(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/home/u")]);
        assert_eq!(
            path(None, &e).unwrap(),
            Path::new("/home/u/.config/butterfly/config.json")
        );
        assert!(matches!(path(None, &env(&[])), Err(CliError::Usage(_))));
    }

    #[test]
    fn the_file_is_written_0600_in_a_0700_directory_and_read_back() {
        let dir = scratch("save");
        let file = dir.join("butterfly/config.json");
        assert_eq!(load(&file).unwrap(), None);
        let config = ConfigFile {
            url: "https://b.example".into(),
            api_key: ApiKey::parse(KEY).unwrap(),
        };
        save(&file, &config).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.join("butterfly")), 0o700);
        assert_eq!(load(&file).unwrap(), Some(config.clone()));
        // Saving again replaces it, still 0600, and leaves no temporary file behind.
        let again = ConfigFile {
            url: "https://c.example".into(),
            ..config
        };
        save(&file, &again).unwrap();
        assert_eq!(load(&file).unwrap(), Some(again));
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_dir(dir.join("butterfly")).unwrap().count(), 1);
        assert!(remove(&file).unwrap());
        assert!(!remove(&file).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        let dir = scratch("mode");
        let file = dir.join("config.json");
        let config = ConfigFile {
            url: "https://b.example".into(),
            api_key: ApiKey::parse(KEY).unwrap(),
        };
        save(&file, &config).unwrap();
        for mode in [0o644, 0o640, 0o604] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = load(&file).unwrap_err();
            assert!(err.to_string().contains("chmod 600"), "{err}");
            assert!(!err.to_string().contains("abcdefghij"));
        }
        std::fs::write(&file, "{}").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(load(&file), Err(CliError::Local(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flag_beats_environment_beats_file_for_each_setting() {
        let file = ConfigFile {
            url: "https://file.example".into(),
            api_key: ApiKey::parse(KEY).unwrap(),
        };
        let s = resolve(None, &env(&[]), Some(&file)).unwrap();
        assert_eq!(s.url, Some(("https://file.example".into(), Source::File)));
        assert_eq!(s.key.unwrap().1, Source::File);

        let e = env(&[(ENV_URL, "https://env.example"), (ENV_KEY, OTHER)]);
        let s = resolve(None, &e, Some(&file)).unwrap();
        assert_eq!(s.url, Some(("https://env.example".into(), Source::Env)));
        let (key, source) = s.key.unwrap();
        assert_eq!((key.expose(), source), (OTHER, Source::Env));

        let s = resolve(Some("https://flag.example"), &e, Some(&file)).unwrap();
        assert_eq!(s.url, Some(("https://flag.example".into(), Source::Flag)));

        // An empty variable counts as unset; nothing anywhere is nothing.
        let s = resolve(None, &env(&[(ENV_KEY, " "), (ENV_URL, "")]), None).unwrap();
        assert!(s.url.is_none() && s.key.is_none());
        // A malformed key in the environment is an error, not silently the file's.
        let e = env(&[(ENV_KEY, "not-a-key")]);
        assert!(matches!(
            resolve(None, &e, Some(&file)),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn urls_are_https_or_loopback_and_normalised_to_the_origin() {
        for (raw, want) in [
            ("https://b.example", "https://b.example"),
            ("https://b.example/", "https://b.example"),
            ("https://b.example/api/v1/", "https://b.example"),
            ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
            ("http://localhost:8787/api/v1", "http://localhost:8787"),
            ("http://[::1]:8787", "http://[::1]:8787"),
        ] {
            assert_eq!(normalise_url(raw).unwrap(), want, "{raw}");
        }
        for bad in [
            "http://b.example",
            "ftp://b.example",
            "b.example",
            "https://u:p@b.example",
            "https://b.example/?x=1",
        ] {
            assert!(
                matches!(normalise_url(bad), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }
}
