//! `/.well-known/security.txt` (RFC 9116): where to report a vulnerability, and until when this
//! file may be trusted. The process behind it (acknowledgement within 24 hours, triage SLAs,
//! coordinated disclosure) is in docs/security.md, "Incident response and disclosure".

use chrono::{DateTime, Utc};

/// When this file stops being authoritative (RFC 9116 §2.5.5: less than a year ahead). A test
/// fails once this is under 30 days away, so it is renewed before it lapses, never after.
pub const EXPIRES: &str = "2027-11-01T00:00:00Z";

/// Languages reports may be written in.
pub const PREFERRED_LANGUAGES: &str = "en";

/// Where the Trust Center states the disclosure policy.
pub const POLICY_PATH: &str = "/trust#vulnerability-disclosure";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityTxtError {
    #[error("a security contact is required (a mailto: or https: URI)")]
    NoContact,
    #[error("security contact {0:?} is not a mailto: or https: URI")]
    Contact(String),
    #[error(
        "the public base URL must be https://host (no path; http only for loopback), not {0:?}"
    )]
    BaseUrl(String),
}

/// The file's content for the deployment at `base_url` (`https://host`), with `contacts` in
/// order of preference (the `SECURITY_CONTACTS` setting).
pub fn render(base_url: &str, contacts: &[&str]) -> Result<String, SecurityTxtError> {
    let base = base_url.trim_end_matches('/');
    let host_ok = |h: &str| !h.is_empty() && !h.contains(['/', '?', '#', ' ']);
    // Plain http only for a loopback host: the local stack, which has no TLS.
    let loopback = |h: &str| {
        let host = h.rsplit_once(':').map_or(h, |(host, _)| host);
        host == "127.0.0.1" || host == "localhost"
    };
    let host_only = match base.strip_prefix("https://") {
        Some(h) => host_ok(h),
        None => base
            .strip_prefix("http://")
            .is_some_and(|h| host_ok(h) && loopback(h)),
    };
    if !host_only {
        return Err(SecurityTxtError::BaseUrl(base_url.to_string()));
    }
    if contacts.is_empty() {
        return Err(SecurityTxtError::NoContact);
    }
    let mut out = String::new();
    for contact in contacts {
        let ok = (contact.starts_with("mailto:") && contact.len() > 7 && contact.contains('@'))
            || (contact.starts_with("https://") && contact.len() > 8);
        if !ok || contact.contains(char::is_whitespace) {
            return Err(SecurityTxtError::Contact(contact.to_string()));
        }
        out.push_str(&format!("Contact: {contact}\n"));
    }
    out.push_str(&format!("Expires: {EXPIRES}\n"));
    out.push_str(&format!("Preferred-Languages: {PREFERRED_LANGUAGES}\n"));
    out.push_str(&format!("Canonical: {base}/.well-known/security.txt\n"));
    out.push_str(&format!("Policy: {base}{POLICY_PATH}\n"));
    Ok(out)
}

/// [`EXPIRES`] as a time.
pub fn expires() -> DateTime<Utc> {
    EXPIRES.parse().expect("EXPIRES is RFC 3339")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn expires_is_within_a_year_and_not_about_to_lapse() {
        let now = DateTime::<Utc>::from(std::time::SystemTime::now());
        let left = expires() - now;
        assert!(
            left > Duration::days(30),
            "security.txt Expires ({EXPIRES}) is {} days away: move it forward (under a year) now",
            left.num_days()
        );
        assert!(
            left <= Duration::days(365),
            "security.txt Expires ({EXPIRES}) is more than a year ahead (RFC 9116 §2.5.5)"
        );
    }

    #[test]
    fn has_every_field_rfc_9116_asks_for() {
        let text = render(
            "https://butterfly.example/",
            &[
                "mailto:security@butterfly.example",
                "https://butterfly.example/trust#contact",
            ],
        )
        .unwrap();
        assert_eq!(
            text,
            "Contact: mailto:security@butterfly.example\n\
             Contact: https://butterfly.example/trust#contact\n\
             Expires: 2027-11-01T00:00:00Z\n\
             Preferred-Languages: en\n\
             Canonical: https://butterfly.example/.well-known/security.txt\n\
             Policy: https://butterfly.example/trust#vulnerability-disclosure\n"
        );
        // Every line is "Field: value", and Expires appears once (§2.5.5).
        assert!(text.lines().all(|l| l.split_once(": ").is_some()));
        assert_eq!(text.matches("Expires:").count(), 1);
    }

    #[test]
    fn the_loopback_stack_may_use_plain_http() {
        let text = render("http://127.0.0.1:8960", &["mailto:s@b.example"]).unwrap();
        assert!(text.contains("Canonical: http://127.0.0.1:8960/.well-known/security.txt\n"));
    }

    #[test]
    fn bad_settings_are_refused() {
        assert_eq!(
            render("https://b.example", &[]),
            Err(SecurityTxtError::NoContact)
        );
        for bad in [
            "security@b.example",
            "http://b.example/report",
            "mailto:",
            "mailto:a b@c",
        ] {
            assert_eq!(
                render("https://b.example", &[bad]),
                Err(SecurityTxtError::Contact(bad.into()))
            );
        }
        for bad in [
            "http://b.example",
            "http://127.0.0.1.b.example",
            "https://b.example/app",
            "b.example",
        ] {
            assert!(matches!(
                render(bad, &["mailto:s@b.example"]),
                Err(SecurityTxtError::BaseUrl(_))
            ));
        }
    }
}
