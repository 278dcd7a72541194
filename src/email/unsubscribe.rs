//! Signed one-click unsubscribe links (RFC 8058) for every non-transactional email.
//!
//! A link carries `v1.<key id>.<payload>.<mac>`: the payload names the user and the category
//! (base64url of `user:category:issued_at`), the MAC is HMAC-SHA256 under the key named by the
//! id (`UNSUBSCRIBE_SIGNING_KEYS`, active first). Links do not expire (an unsubscribe link in
//! an old email must keep working); retire a key only months after its successor took over.
//! `GET` on the link shows a confirmation page and changes nothing (mail scanners fetch links);
//! `POST` with the body `List-Unsubscribe=One-Click` unsubscribes, which is what mail clients
//! send for the `List-Unsubscribe-Post` header.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::preferences::Category;
use crate::crypto::keys::Key256;
use crate::ids::UserId;

const DOMAIN: &[u8] = b"butterfly-unsubscribe-v1\0";

/// A signing key with its id.
pub struct UnsubscribeKey {
    pub id: String,
    pub key: Key256,
}

/// What a verified link says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsubscribe {
    pub user: UserId,
    pub category: Category,
    pub issued_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnsubscribeError {
    #[error("unsubscribe link is malformed")]
    Malformed,
    #[error("unsubscribe link is signed with an unknown key")]
    UnknownKey,
    #[error("unsubscribe link signature does not verify")]
    BadSignature,
    #[error("this category cannot be unsubscribed from")]
    Transactional,
}

pub struct UnsubscribeSigner {
    keys: Vec<UnsubscribeKey>,
}

impl UnsubscribeSigner {
    /// `keys` active first; empty means unsubscribe links cannot be made (config refuses that).
    pub fn new(keys: Vec<UnsubscribeKey>) -> UnsubscribeSigner {
        UnsubscribeSigner { keys }
    }

    fn mac(key: &UnsubscribeKey, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.key.expose()).expect("any key length");
        mac.update(DOMAIN);
        mac.update(key.id.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac
    }

    /// The token for `user` and `category` (which must be one users may leave).
    pub fn token(
        &self,
        user: UserId,
        category: Category,
        issued_at: i64,
    ) -> Result<String, UnsubscribeError> {
        if !category.optional() {
            return Err(UnsubscribeError::Transactional);
        }
        let key = self.keys.first().ok_or(UnsubscribeError::UnknownKey)?;
        let payload = URL_SAFE_NO_PAD.encode(format!("{user}:{}:{issued_at}", category.as_str()));
        let mac = URL_SAFE_NO_PAD.encode(Self::mac(key, &payload).finalize().into_bytes());
        Ok(format!("v1.{}.{payload}.{mac}", key.id))
    }

    pub fn verify(&self, token: &str) -> Result<Unsubscribe, UnsubscribeError> {
        let mut parts = token.split('.');
        let (Some("v1"), Some(kid), Some(payload), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(UnsubscribeError::Malformed);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == kid)
            .ok_or(UnsubscribeError::UnknownKey)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| UnsubscribeError::Malformed)?;
        Self::mac(key, payload)
            .verify_slice(&mac)
            .map_err(|_| UnsubscribeError::BadSignature)?;
        let decoded = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(UnsubscribeError::Malformed)?;
        let mut fields = decoded.split(':');
        let (Some(user), Some(category), Some(issued), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(UnsubscribeError::Malformed);
        };
        Ok(Unsubscribe {
            user: UserId::parse(user).map_err(|_| UnsubscribeError::Malformed)?,
            category: Category::parse(category).ok_or(UnsubscribeError::Malformed)?,
            issued_at: issued.parse().map_err(|_| UnsubscribeError::Malformed)?,
        })
    }
}

/// The link put in the email body and in `List-Unsubscribe`.
pub fn link(public_base_url: &str, token: &str) -> String {
    format!(
        "{}/api/v1/email/unsubscribe?token={token}",
        public_base_url.trim_end_matches('/')
    )
}

/// RFC 8058 headers: an HTTPS URI in `List-Unsubscribe` and the one-click marker.
pub fn headers(link: &str) -> Vec<(String, String)> {
    vec![
        ("List-Unsubscribe".to_string(), format!("<{link}>")),
        (
            "List-Unsubscribe-Post".to_string(),
            "List-Unsubscribe=One-Click".to_string(),
        ),
    ]
}

/// Is this POST body the RFC 8058 one-click request, `List-Unsubscribe=One-Click`? RFC 8058
/// lets the mail receiver send it as `application/x-www-form-urlencoded` or as
/// `multipart/form-data`, so both are read.
pub fn is_one_click(content_type: Option<&str>, body: &[u8]) -> bool {
    let boundary = content_type.and_then(|t| {
        let (kind, params) = t.split_once(';')?;
        if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
            return None;
        }
        params.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| v.trim().trim_matches('"').to_string())
        })
    });
    match boundary {
        Some(boundary) => multipart_one_click(&String::from_utf8_lossy(body), &boundary),
        None => url::form_urlencoded::parse(body)
            .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click"),
    }
}

/// A `multipart/form-data` part named `List-Unsubscribe` whose value is `One-Click`.
fn multipart_one_click(body: &str, boundary: &str) -> bool {
    body.split(&format!("--{boundary}")).any(|part| {
        let Some((head, value)) = part
            .split_once("\r\n\r\n")
            .or_else(|| part.split_once("\n\n"))
        else {
            return false;
        };
        let named = head.lines().any(|line| {
            let line = line.to_ascii_lowercase();
            line.starts_with("content-disposition:")
                && line.contains("form-data")
                && line.contains("name=\"list-unsubscribe\"")
        });
        named && value.trim_end_matches(['\r', '\n']) == "One-Click"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(keys: &[(&str, u8)]) -> UnsubscribeSigner {
        UnsubscribeSigner::new(
            keys.iter()
                .map(|(id, b)| UnsubscribeKey {
                    id: id.to_string(),
                    key: Key256::from_bytes([*b; 32]),
                })
                .collect(),
        )
    }

    fn user() -> UserId {
        UserId::parse("11111111-2222-4333-8444-555555555555").unwrap()
    }

    #[test]
    fn round_trips_and_survives_rotation() {
        let old = signer(&[("k1", 1)]);
        let token = old.token(user(), Category::Alerts, 1_700_000_000).unwrap();
        assert!(token.starts_with("v1.k1."));
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "URL-safe"
        );
        let claim = old.verify(&token).unwrap();
        assert_eq!(
            claim,
            Unsubscribe {
                user: user(),
                category: Category::Alerts,
                issued_at: 1_700_000_000
            }
        );
        let rotated = signer(&[("k2", 2), ("k1", 1)]);
        assert_eq!(rotated.verify(&token), Ok(claim));
        assert!(rotated
            .token(user(), Category::ProductUpdates, 1)
            .unwrap()
            .starts_with("v1.k2."));
        assert_eq!(
            signer(&[("k2", 2)]).verify(&token),
            Err(UnsubscribeError::UnknownKey)
        );
    }

    #[test]
    fn forged_or_changed_tokens_fail() {
        let s = signer(&[("k1", 1)]);
        let token = s.token(user(), Category::Alerts, 1).unwrap();
        let parts: Vec<_> = token.split('.').collect();
        // Swap the category in the payload but keep the MAC.
        let other = URL_SAFE_NO_PAD.encode(format!("{}:product_updates:1", user()));
        let forged = format!("v1.k1.{other}.{}", parts[3]);
        assert_eq!(s.verify(&forged), Err(UnsubscribeError::BadSignature));
        // Same key bytes under another id: the id is signed too.
        let renamed = signer(&[("k9", 1)]);
        let moved = token.replacen("v1.k1.", "v1.k9.", 1);
        assert_eq!(renamed.verify(&moved), Err(UnsubscribeError::BadSignature));
        for bad in ["", "v1", "v2.k1.a.b", "v1.k1.a.b.c", "v1.k1.!!.??"] {
            assert!(s.verify(bad).is_err(), "{bad}");
        }
        assert_eq!(
            s.token(user(), Category::Security, 1),
            Err(UnsubscribeError::Transactional)
        );
    }

    #[test]
    fn headers_and_one_click_body_follow_rfc_8058() {
        let l = link("https://butterfly.example/", "v1.k1.x.y");
        assert_eq!(
            l,
            "https://butterfly.example/api/v1/email/unsubscribe?token=v1.k1.x.y"
        );
        assert_eq!(
            headers(&l),
            vec![
                ("List-Unsubscribe".into(), format!("<{l}>")),
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into()
                )
            ]
        );
        let form = Some("application/x-www-form-urlencoded");
        assert!(is_one_click(form, b"List-Unsubscribe=One-Click"));
        assert!(is_one_click(None, b"foo=bar&List-Unsubscribe=One-Click"));
        assert!(!is_one_click(form, b""));
        assert!(!is_one_click(form, b"List-Unsubscribe=Yes"));
        // RFC 8058 also allows multipart/form-data.
        let multipart = Some("multipart/form-data; boundary=\"XyZ\"");
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
        assert!(is_one_click(multipart, body));
        let other = b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
        assert!(!is_one_click(multipart, other));
        assert!(!is_one_click(multipart, b"List-Unsubscribe=One-Click"));
    }
}
