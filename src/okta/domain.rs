//! Okta org domains. Butterfly sends an admin credential to this host, so only Okta's own
//! domains are accepted (and loopback, when the deployment explicitly allows it for local dev).

use serde::Serialize;
use std::fmt;

/// Where Okta orgs live. Custom vanity domains front the same org but are not needed for the
/// management API, and accepting arbitrary hosts would let a typo leak a token.
const OKTA_SUFFIXES: &[&str] = &[
    ".okta.com",
    ".oktapreview.com",
    ".okta-emea.com",
    ".okta-gov.com",
    ".okta.mil",
];

/// Whether loopback hosts (the local Okta emulator) are acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainPolicy {
    OktaOnly,
    AllowLoopback,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("org domain must be a host name like acme.okta.com")]
    Malformed,
    #[error("org domain must end in one of Okta's domains (okta.com, oktapreview.com, okta-emea.com, okta-gov.com, okta.mil)")]
    NotOkta,
    #[error("use the org domain, not the admin domain (drop '-admin')")]
    AdminDomain,
}

/// A validated, lowercase org host (with a port only for loopback).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct OrgDomain(String);

impl OrgDomain {
    /// Accepts `acme.okta.com`, `https://acme.okta.com/` and, when allowed, `127.0.0.1:8089`.
    pub fn parse(input: &str, policy: DomainPolicy) -> Result<Self, DomainError> {
        let trimmed = input.trim();
        let host = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .unwrap_or(trimmed)
            .trim_end_matches('/')
            .to_ascii_lowercase();
        if host.is_empty() || host.len() > 253 {
            return Err(DomainError::Malformed);
        }
        if policy == DomainPolicy::AllowLoopback {
            if let Some(port) = host
                .strip_prefix("127.0.0.1:")
                .or_else(|| host.strip_prefix("localhost:"))
            {
                if port.parse::<u16>().is_ok_and(|p| p > 0) {
                    return Ok(OrgDomain(host));
                }
                return Err(DomainError::Malformed);
            }
        }
        if !host.split('.').all(valid_label) {
            return Err(DomainError::Malformed);
        }
        let Some(suffix) = OKTA_SUFFIXES.iter().find(|s| host.ends_with(*s)) else {
            return Err(DomainError::NotOkta);
        };
        let org = &host[..host.len() - suffix.len()];
        if org.is_empty() || org.contains('.') {
            return Err(DomainError::Malformed);
        }
        if org.ends_with("-admin") {
            return Err(DomainError::AdminDomain);
        }
        Ok(OrgDomain(host))
    }

    /// Loopback hosts speak plain HTTP; everything else HTTPS.
    pub fn base_url(&self) -> String {
        if self.is_loopback() {
            format!("http://{}", self.0)
        } else {
            format!("https://{}", self.0)
        }
    }

    pub fn is_loopback(&self) -> bool {
        self.0.starts_with("127.0.0.1:") || self.0.starts_with("localhost:")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_okta_domains_in_common_spellings() {
        for input in [
            "acme.okta.com",
            "https://ACME.okta.com/",
            "dev-123456.oktapreview.com",
            "acme.okta-emea.com",
        ] {
            let d = OrgDomain::parse(input, DomainPolicy::OktaOnly).unwrap();
            assert!(d.base_url().starts_with("https://"), "{input}");
        }
        assert_eq!(
            OrgDomain::parse(" https://Acme.Okta.com ", DomainPolicy::OktaOnly)
                .unwrap()
                .as_str(),
            "acme.okta.com"
        );
    }

    #[test]
    fn rejects_foreign_malformed_and_admin_domains() {
        use DomainError::*;
        let cases = [
            ("evil.com", NotOkta),
            ("acme.okta.com.evil.com", NotOkta),
            ("okta.com", NotOkta),
            ("a.b.okta.com", Malformed),
            ("acme.okta.com/path", Malformed),
            ("acme.okta.com:8443", Malformed),
            ("user@acme.okta.com", Malformed),
            ("-acme.okta.com", Malformed),
            ("", Malformed),
            ("acme-admin.okta.com", AdminDomain),
        ];
        for (input, expected) in cases {
            assert_eq!(
                OrgDomain::parse(input, DomainPolicy::OktaOnly),
                Err(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn loopback_only_when_policy_allows() {
        assert_eq!(
            OrgDomain::parse("127.0.0.1:8089", DomainPolicy::OktaOnly),
            Err(DomainError::Malformed)
        );
        let d = OrgDomain::parse("http://127.0.0.1:8089", DomainPolicy::AllowLoopback).unwrap();
        assert_eq!(d.base_url(), "http://127.0.0.1:8089");
        assert!(OrgDomain::parse("127.0.0.1:0", DomainPolicy::AllowLoopback).is_err());
        assert!(OrgDomain::parse("10.0.0.1:80", DomainPolicy::AllowLoopback).is_err());
    }
}
