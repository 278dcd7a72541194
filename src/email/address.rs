//! Email addresses: parsed once, compared normalised, and never printed (no address may reach
//! a log line, so `Debug` redacts and there is no `Display`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A plausible mailbox address (`local@domain`), trimmed, with the domain lowercased. The local
/// part keeps its case on the wire, but suppression and comparison use [`Self::normalized`]
/// (SendGrid, like most providers, treats addresses case-insensitively).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct InvalidEmail;

impl EmailAddress {
    pub fn parse(value: &str) -> Result<EmailAddress, InvalidEmail> {
        let value = value.trim();
        let (local, domain) = value.rsplit_once('@').ok_or(InvalidEmail)?;
        let domain_ok = domain.len() <= 253
            && domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        // RFC 5321 limits; no whitespace, controls, quotes or angle brackets anywhere, so the
        // value can never break a header or a JSON field it is put into.
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"<>()[]\\,;:@".contains(&b))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !(domain_ok && local_ok) {
            return Err(InvalidEmail);
        }
        Ok(EmailAddress(format!(
            "{local}@{}",
            domain.to_ascii_lowercase()
        )))
    }

    /// The address as sent to SendGrid.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lowercased whole address: the key of suppressions and comparisons.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(..redacted..)")
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = InvalidEmail;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        EmailAddress::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> String {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_normalises_and_redacts() {
        let a = EmailAddress::parse("  Alice.Smith+ops@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "Alice.Smith+ops@example.com");
        assert_eq!(a.normalized(), "alice.smith+ops@example.com");
        assert_eq!(format!("{a:?}"), "EmailAddress(..redacted..)");
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "a b@example.com",
            "alice@exa mple.com",
            "\"a\"@example.com",
            "a@b@example.com",
            "a\r\nBcc: x@example.com",
            "alice@-example.com",
            ".alice@example.com",
            "al..ice@example.com",
            "<a@example.com>",
        ] {
            assert_eq!(EmailAddress::parse(bad), Err(InvalidEmail), "{bad:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(EmailAddress::parse(&long_local).is_err());
    }

    #[test]
    fn serde_checks_on_the_way_in() {
        let a: EmailAddress = serde_json::from_str("\"ops@example.com\"").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"ops@example.com\"");
        assert!(serde_json::from_str::<EmailAddress>("\"nope\"").is_err());
    }
}
