//! The web dashboard: a static shell page and its same-origin assets (plain HTML, ES modules
//! and CSS under `assets/`, embedded at build time, no build step and no third-party origin),
//! and the claims of the local stack's dev sign-in. Every view talks to the public `/api/v1`
//! with the signed-in user's token in the `Authorization` header (never a cookie), so no
//! request is CSRF-able.

use crate::auth::jwt::Claims;
use crate::ids::UserId;

/// One embedded file of the dashboard.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the shell may load, served at [`ASSET_PREFIX`]`name`.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("assets/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: JS,
        body: include_str!("assets/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: JS,
        body: include_str!("assets/api.js"),
    },
    Asset {
        name: "ui.js",
        content_type: JS,
        body: include_str!("assets/ui.js"),
    },
    Asset {
        name: "views.js",
        content_type: JS,
        body: include_str!("assets/views.js"),
    },
];

/// Where the assets are served.
pub const ASSET_PREFIX: &str = "/app/assets/";

/// How long a dev sign-in's token lives.
pub const DEV_TOKEN_SECONDS: i64 = 8 * 3600;

pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The Supabase Auth (GoTrue) root of a Supabase project, derived from its PostgREST root
/// (`https://<ref>.supabase.co/rest/v1` -> `https://<ref>.supabase.co/auth/v1`). A PostgREST
/// without Supabase in front (the local stack) has none.
pub fn auth_url(postgrest_url: &str) -> Option<String> {
    let root = postgrest_url
        .trim_end_matches('/')
        .strip_suffix("/rest/v1")?;
    let parsed = url::Url::parse(root).ok()?;
    (parsed.scheme() == "https" && parsed.host().is_some()).then(|| format!("{root}/auth/v1"))
}

/// The shell's Content-Security-Policy: same-origin script and style only (no inline script,
/// no `eval`), and requests to this origin plus Supabase Auth when sign-in goes there.
pub fn csp(auth_url: Option<&str>) -> String {
    let auth_origin = auth_url
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| format!(" {}", u.origin().ascii_serialization()))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{auth_origin}; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    )
}

/// What the shell tells its script (as `<meta>` tags: no inline script).
pub struct Shell<'a> {
    pub auth_url: Option<&'a str>,
    /// Supabase's anon key (public by design: it is sent by every browser client).
    pub anon_key: Option<&'a str>,
    pub dev_sign_in: bool,
}

/// The one HTML page; the script renders the views into `<main>`.
pub fn render_shell(shell: &Shell<'_>) -> String {
    let meta = |name: &str, value: &str| {
        format!(
            "<meta name=\"butterfly-{name}\" content=\"{}\">\n",
            escape(value)
        )
    };
    let mut head = String::new();
    head.push_str(&meta("auth-url", shell.auth_url.unwrap_or("")));
    head.push_str(&meta("anon-key", shell.anon_key.unwrap_or("")));
    head.push_str(&meta(
        "dev-sign-in",
        if shell.dev_sign_in { "on" } else { "off" },
    ));
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Butterfly</title>\n{head}\
         <link rel=\"stylesheet\" href=\"{ASSET_PREFIX}app.css\">\n\
         <script type=\"module\" src=\"{ASSET_PREFIX}app.js\"></script>\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header class=\"top\"><span class=\"brand\">Butterfly</span>\
         <nav id=\"nav\" aria-label=\"Main\"></nav><div id=\"account\"></div></header>\n\
         <main id=\"main\" tabindex=\"-1\"><h1>Butterfly</h1><p>Loading…</p>\
         <noscript><p>The dashboard needs JavaScript.</p></noscript></main>\n\
         <div id=\"announce\" class=\"visually-hidden\" role=\"status\" aria-live=\"polite\"></div>\n\
         </body>\n</html>\n"
    )
}

fn escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The claims of a dev sign-in: an `authenticated` user token for the configured demo user,
/// shaped like the ones Supabase Auth issues, so the rest of the worker cannot tell them apart.
pub fn dev_claims(user: UserId, now: i64, audience: &str, issuer: Option<&str>) -> Claims {
    Claims {
        sub: user.to_string(),
        exp: now + DEV_TOKEN_SECONDS,
        iat: now,
        nbf: None,
        aud: audience.to_string(),
        role: "authenticated".into(),
        email: None,
        email_verified: false,
        iss: issuer.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_only_this_origin_and_supabase_auth() {
        let local = csp(None);
        assert!(local.contains("script-src 'self';"));
        assert!(!local.contains("unsafe"));
        assert!(local.contains("connect-src 'self';"));
        let auth = auth_url("https://abc.supabase.co/rest/v1").unwrap();
        assert_eq!(auth, "https://abc.supabase.co/auth/v1");
        assert!(csp(Some(&auth)).contains("connect-src 'self' https://abc.supabase.co;"));
        assert_eq!(auth_url("http://127.0.0.1:3000"), None);
        assert_eq!(auth_url("http://abc.supabase.co/rest/v1"), None);
    }

    #[test]
    fn the_shell_has_no_inline_script_and_escapes_its_settings() {
        let html = render_shell(&Shell {
            auth_url: Some("https://x.test/auth/v1"),
            anon_key: Some("a\"><script>"),
            dev_sign_in: false,
        });
        assert!(html.contains("content=\"a&quot;&gt;&lt;script&gt;\""));
        // The one script element is the module loaded from this origin.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script type=\"module\" src=\"/app/assets/app.js\"></script>"));
        assert!(html.contains("butterfly-dev-sign-in\" content=\"off\""));
        assert!(!html.contains("style="));
    }

    #[test]
    fn every_module_the_scripts_import_is_served() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            for line in a.body.lines().filter(|l| l.starts_with("import ")) {
                let target = line.split('"').nth(1).unwrap();
                let name = target.strip_prefix("./").unwrap();
                assert!(asset(name).is_some(), "{} imports {target}", a.name);
            }
            assert!(!a.body.contains("eval("), "{}", a.name);
            assert!(
                !a.body.contains("innerHTML"),
                "{} builds DOM nodes, not HTML",
                a.name
            );
        }
    }
}
