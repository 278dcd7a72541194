//! The Trust Center page (`GET /trust`): renders [`content::TRUST_CENTER`] as a self-contained,
//! accessible HTML document. No script at all, no inline style, no third-party request: the one
//! stylesheet is served from the same origin (`/trust.css`, [`STYLESHEET`]), which the page's
//! [`CSP`] enforces.

pub mod content;

use std::fmt::Write as _;

/// The page's Content-Security-Policy: nothing but same-origin styles and images.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// Where the page links its stylesheet.
pub const STYLESHEET_PATH: &str = "/trust.css";
/// The stylesheet (served as `text/css` at [`STYLESHEET_PATH`]).
pub const STYLESHEET: &str = include_str!("trust.css");

/// What implements a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// `path.md#section-anchor`: a section of the documentation.
    Doc(&'static str),
    /// A file or directory of the repository.
    Code(&'static str),
    /// `path::test_fn`: a test that proves it.
    Test(&'static str),
}

impl Control {
    /// The repository path it names.
    pub fn path(&self) -> &'static str {
        match self {
            Control::Doc(p) => p.split('#').next().unwrap_or(p),
            Control::Code(p) => p,
            Control::Test(p) => p.split("::").next().unwrap_or(p),
        }
    }

    fn label(&self) -> (&'static str, &'static str) {
        match self {
            Control::Doc(p) => ("Documentation", p),
            Control::Code(p) => ("Code", p),
            Control::Test(p) => ("Test", p),
        }
    }
}

/// Whether what a claim describes runs today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Implemented,
    /// Promised and being built; shown as such.
    InProgress,
}

pub struct Claim {
    pub text: &'static str,
    pub status: Status,
    pub controls: &'static [Control],
}

pub struct Framework {
    pub name: &'static str,
    pub scope: &'static str,
    pub status: &'static str,
    pub controls: &'static [Control],
}

pub struct Subprocessor {
    pub name: &'static str,
    pub purpose: &'static str,
    pub data: &'static str,
    pub region: &'static str,
    pub status: Status,
    pub controls: &'static [Control],
}

pub struct TrustCenter {
    pub frameworks: &'static [Framework],
    pub subprocessors: &'static [Subprocessor],
    pub data_handling: &'static [Claim],
    pub audit_trail: &'static [Claim],
    pub incident_response: &'static [Claim],
    pub disclosure: &'static [Claim],
}

impl TrustCenter {
    /// Every control the page cites.
    pub fn controls(&self) -> Vec<Control> {
        let claims = self
            .data_handling
            .iter()
            .chain(self.audit_trail)
            .chain(self.incident_response)
            .chain(self.disclosure);
        self.frameworks
            .iter()
            .flat_map(|f| f.controls.iter())
            .chain(self.subprocessors.iter().flat_map(|s| s.controls.iter()))
            .chain(claims.flat_map(|c| c.controls.iter()))
            .copied()
            .collect()
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How the page shows where a control lives.
pub struct Links<'a> {
    /// Base URL of the published source (`https://…/blob/main`), if any: controls become links.
    pub source_base: Option<&'a str>,
    /// Where the security contact is (`/.well-known/security.txt`).
    pub security_txt: &'a str,
}

fn controls_html(out: &mut String, controls: &[Control], links: &Links) {
    if controls.is_empty() {
        return;
    }
    out.push_str("<ul class=\"controls\" aria-label=\"Implemented by\">");
    for c in controls {
        let (kind, target) = c.label();
        let _ = write!(out, "<li><span class=\"kind\">{kind}</span> ");
        match links.source_base {
            Some(base) => {
                let (path, fragment) = match c {
                    Control::Doc(p) => p.split_once('#').map_or((*p, ""), |(p, f)| (p, f)),
                    _ => (c.path(), ""),
                };
                let href = if fragment.is_empty() {
                    format!("{}/{path}", base.trim_end_matches('/'))
                } else {
                    format!("{}/{path}#{fragment}", base.trim_end_matches('/'))
                };
                let _ = write!(
                    out,
                    "<a href=\"{}\"><code>{}</code></a>",
                    esc(&href),
                    esc(target)
                );
            }
            None => {
                let _ = write!(out, "<code>{}</code>", esc(target));
            }
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

fn status_badge(status: Status) -> &'static str {
    match status {
        Status::Implemented => "<span class=\"badge live\">In place</span>",
        Status::InProgress => "<span class=\"badge progress\">In progress</span>",
    }
}

fn claims_html(out: &mut String, claims: &[Claim], links: &Links) {
    out.push_str("<ul class=\"claims\">");
    for claim in claims {
        let _ = write!(
            out,
            "<li>{} <p>{}</p>",
            status_badge(claim.status),
            esc(claim.text)
        );
        controls_html(out, claim.controls, links);
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

fn section_start(out: &mut String, id: &str, title: &str) {
    let _ = write!(
        out,
        "<section id=\"{id}\" aria-labelledby=\"{id}-title\"><h2 id=\"{id}-title\">{}</h2>",
        esc(title)
    );
}

const SECTIONS: [(&str, &str); 7] = [
    ("compliance", "Compliance posture"),
    ("subprocessors", "Subprocessors"),
    ("data-handling", "Data handling"),
    ("audit-trail", "Audit trail and evidence export"),
    ("incident-response", "Incident response and SLAs"),
    ("vulnerability-disclosure", "Vulnerability disclosure"),
    ("contact", "Security contact"),
];

/// The whole page.
pub fn render(tc: &TrustCenter, links: &Links) -> String {
    let mut out = String::with_capacity(24 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Trust Center · Butterfly</title>\
         <meta name=\"description\" content=\"How Butterfly protects your Okta configuration: compliance posture, subprocessors, data handling, audit trail and incident response.\">\
         <link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\"></head><body>\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><p class=\"brand\">Butterfly</p><h1>Trust Center</h1>\
         <p>How we protect the identity configuration you trust us with. Each statement links to the control that implements it.</p></header>\
         <nav aria-label=\"Sections\"><ul>"
    );
    for (id, title) in SECTIONS {
        let _ = write!(out, "<li><a href=\"#{id}\">{}</a></li>", esc(title));
    }
    out.push_str("</ul></nav><main id=\"main\">");

    section_start(&mut out, SECTIONS[0].0, SECTIONS[0].1);
    let _ = write!(out, "<p>{}</p>", esc(content::ALIGNED_MEANS));
    out.push_str(
        "<div class=\"scroll\"><table><caption>Frameworks and where Butterfly stands</caption><thead><tr>\
         <th scope=\"col\">Framework</th><th scope=\"col\">Scope</th><th scope=\"col\">Status</th>\
         <th scope=\"col\">Controls</th></tr></thead><tbody>",
    );
    for f in tc.frameworks {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>",
            esc(f.name),
            esc(f.scope),
            esc(f.status)
        );
        controls_html(&mut out, f.controls, links);
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table></div></section>");

    section_start(&mut out, SECTIONS[1].0, SECTIONS[1].1);
    out.push_str(
        "<p>Companies that process data on Butterfly's behalf. Those marked in progress are used only once the feature they serve is available.</p>\
         <div class=\"scroll\"><table><caption>Subprocessors, what they do and the data they receive</caption><thead><tr>\
         <th scope=\"col\">Subprocessor</th><th scope=\"col\">Purpose</th><th scope=\"col\">Data</th>\
         <th scope=\"col\">Region</th><th scope=\"col\">Status</th></tr></thead><tbody>",
    );
    for s in tc.subprocessors {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}",
            esc(s.name),
            esc(s.purpose),
            esc(s.data),
            esc(s.region),
            status_badge(s.status)
        );
        controls_html(&mut out, s.controls, links);
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table></div></section>");

    let claim_sections = [
        (SECTIONS[2], tc.data_handling),
        (SECTIONS[3], tc.audit_trail),
        (SECTIONS[4], tc.incident_response),
        (SECTIONS[5], tc.disclosure),
    ];
    for ((id, title), claims) in claim_sections {
        section_start(&mut out, id, title);
        claims_html(&mut out, claims, links);
        out.push_str("</section>");
    }

    section_start(&mut out, SECTIONS[6].0, SECTIONS[6].1);
    let _ = write!(
        out,
        "<p>Report a vulnerability or a concern to the contacts in our <a href=\"{}\">security.txt</a>. \
         We acknowledge every report within 24 hours.</p></section>",
        esc(links.security_txt)
    );
    let _ = writeln!(
        out,
        "</main><footer><p>Reviewed {}. This page is generated from the same repository as the service it describes.</p></footer></body></html>",
        content::REVIEWED
    );
    out
}

#[cfg(test)]
mod tests {
    use super::content::TRUST_CENTER;
    use super::*;
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// GitHub's heading anchors: lowercase, punctuation other than `-` and `_` dropped, spaces
    /// to hyphens.
    fn slug(heading: &str) -> String {
        heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect()
    }

    fn resolves(control: &Control) -> Result<(), String> {
        let path = root().join(control.path());
        if !path.exists() {
            return Err(format!("{control:?}: {} does not exist", control.path()));
        }
        match control {
            Control::Code(_) => Ok(()),
            Control::Doc(p) => {
                let Some((_, anchor)) = p.split_once('#') else {
                    return Ok(());
                };
                let text = std::fs::read_to_string(&path).unwrap();
                let found = text
                    .lines()
                    .filter_map(|l| l.strip_prefix('#'))
                    .map(|l| slug(l.trim_start_matches('#')))
                    .any(|s| s == anchor);
                found.then_some(()).ok_or_else(|| {
                    format!("{control:?}: no heading #{anchor} in {}", control.path())
                })
            }
            Control::Test(p) => {
                let name = p.rsplit("::").next().unwrap();
                let text = std::fs::read_to_string(&path).unwrap();
                let defined = text.contains(&format!("fn {name}("));
                let is_test = text
                    .split(&format!("fn {name}("))
                    .next()
                    .and_then(|before| {
                        before
                            .trim_end()
                            .rsplit('\n')
                            .find(|l| !l.trim().is_empty() && !l.trim().starts_with("///"))
                    })
                    .is_some_and(|attr| {
                        attr.trim() == "#[test]" || attr.trim().starts_with("#[test")
                    });
                (defined && is_test).then_some(()).ok_or_else(|| {
                    format!("{control:?}: no #[test] fn {name} in {}", control.path())
                })
            }
        }
    }

    #[test]
    fn every_claim_points_at_something_that_exists() {
        let broken: Vec<String> = TRUST_CENTER
            .controls()
            .iter()
            .filter_map(|c| resolves(c).err())
            .collect();
        assert!(
            broken.is_empty(),
            "claims pointing at nothing:\n{}",
            broken.join("\n")
        );
    }

    #[test]
    fn the_checker_itself_rejects_what_does_not_exist() {
        for bad in [
            Control::Code("src/nowhere.rs"),
            Control::Doc("docs/security.md#no-such-section"),
            Control::Test("src/evidence/chain.rs::no_such_test"),
            // A function that exists but is not a test.
            Control::Test("src/evidence/chain.rs::row_hash"),
        ] {
            assert!(resolves(&bad).is_err(), "{bad:?}");
        }
        assert!(resolves(&Control::Doc("docs/security.md#owasp-asvs-403-level-2")).is_ok());
    }

    #[test]
    fn an_implemented_claim_names_at_least_one_control() {
        let claims = TRUST_CENTER
            .data_handling
            .iter()
            .chain(TRUST_CENTER.audit_trail)
            .chain(TRUST_CENTER.incident_response)
            .chain(TRUST_CENTER.disclosure);
        for claim in claims {
            if claim.status == Status::Implemented {
                assert!(!claim.controls.is_empty(), "{}", claim.text);
            }
        }
        for s in TRUST_CENTER.subprocessors {
            assert!(
                s.status == Status::InProgress || !s.controls.is_empty(),
                "{}",
                s.name
            );
        }
        for f in TRUST_CENTER.frameworks {
            assert!(!f.controls.is_empty(), "{}", f.name);
        }
    }

    fn page() -> String {
        render(
            &TRUST_CENTER,
            &Links {
                source_base: Some("https://source.butterfly.example/blob/main"),
                security_txt: "/.well-known/security.txt",
            },
        )
    }

    #[test]
    fn the_page_has_landmarks_headings_and_labelled_tables() {
        let html = page();
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        for landmark in [
            "<header>",
            "<nav aria-label=\"Sections\">",
            "<main id=\"main\">",
            "<footer>",
        ] {
            assert_eq!(html.matches(landmark).count(), 1, "{landmark}");
        }
        assert_eq!(html.matches("<h1>").count(), 1);
        // Headings never skip a level: one h1, then h2s.
        assert!(!html.contains("<h3") && !html.contains("<h4"));
        for (id, title) in SECTIONS {
            assert!(html.contains(&format!("<section id=\"{id}\" aria-labelledby=\"{id}-title\"><h2 id=\"{id}-title\">{}</h2>", esc(title))), "{id}");
            assert!(
                html.contains(&format!("<a href=\"#{id}\">")),
                "{id} is in the navigation"
            );
        }
        assert_eq!(
            html.matches("<table>").count(),
            html.matches("<caption>").count()
        );
        assert_eq!(
            html.matches("<th>").count(),
            0,
            "every header cell has a scope"
        );
        let rows = TRUST_CENTER.frameworks.len() + TRUST_CENTER.subprocessors.len();
        assert_eq!(html.matches("<th scope=\"row\">").count(), rows);
        // Security.txt's Policy link lands on this section.
        assert!(html.contains("id=\"vulnerability-disclosure\""));
        assert!(crate::evidence::security_txt::POLICY_PATH.ends_with("#vulnerability-disclosure"));
    }

    /// Tags open and close in order (void elements aside): the page is well formed.
    #[test]
    fn the_page_is_well_formed() {
        let html = page();
        let void = ["meta", "link", "br", "img", "!DOCTYPE"];
        let mut stack: Vec<String> = Vec::new();
        let mut rest = html.as_str();
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').unwrap() + start;
            let tag = &rest[start + 1..end];
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            if let Some(closing) = tag.strip_prefix('/') {
                let closing = closing.trim();
                assert_eq!(
                    stack.pop().as_deref(),
                    Some(closing),
                    "unbalanced </{closing}>"
                );
            } else if !void.contains(&name.as_str()) {
                stack.push(name);
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
    }

    #[test]
    fn the_page_runs_no_script_inlines_no_style_and_requests_nothing_elsewhere() {
        let html = page();
        let mut rest = html.as_str();
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').unwrap() + start;
            let tag = rest[start + 1..end].to_lowercase();
            let name = tag
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            for forbidden in [
                "script", "style", "iframe", "img", "object", "embed", "form",
            ] {
                assert_ne!(name, forbidden, "<{tag}>");
            }
            for attr in tag.split_whitespace().skip(1) {
                let attr_name = attr.split('=').next().unwrap();
                assert!(
                    !attr_name.starts_with("on") && attr_name != "style" && attr_name != "src",
                    "<{tag}>"
                );
            }
            assert!(!tag.contains("javascript:"), "<{tag}>");
            rest = &rest[end + 1..];
        }
        // The only resource the page loads is its same-origin stylesheet.
        assert_eq!(html.matches("<link").count(), 1);
        assert!(html.contains(&format!(
            "<link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\">"
        )));
        assert!(!STYLESHEET.contains("url(") && !STYLESHEET.contains("@import"));
        assert!(
            CSP.contains("default-src 'none'")
                && !CSP.contains("script-src")
                && !CSP.contains("unsafe")
        );
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let html = render(
            &TRUST_CENTER,
            &Links {
                source_base: None,
                security_txt: "/x?a=1&b=\"2\"",
            },
        );
        assert!(html.contains("href=\"/x?a=1&amp;b=&quot;2&quot;\""));
        assert!(
            !html.contains("https://"),
            "without a source base, controls are not links"
        );
    }

    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as f64 / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    /// WCAG 2.1 AA: every text colour the stylesheet pairs with a background reaches 4.5:1.
    #[test]
    fn colours_meet_wcag_aa_contrast() {
        let var = |name: &str| {
            let line = STYLESHEET
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("--{name}:")))
                .unwrap_or_else(|| panic!("--{name} is not defined"));
            line.split(':')
                .nth(1)
                .unwrap()
                .trim()
                .trim_end_matches(';')
                .to_string()
        };
        for (fg, bg) in [
            ("text", "page"),
            ("muted", "page"),
            ("link", "page"),
            ("text", "panel"),
            ("muted", "panel"),
            ("link", "panel"),
            ("live-text", "live-bg"),
            ("progress-text", "progress-bg"),
            ("page", "link"),
        ] {
            let ratio = contrast(&var(fg), &var(bg));
            assert!(ratio >= 4.5, "--{fg} on --{bg}: {ratio:.2}:1");
        }
    }
}
