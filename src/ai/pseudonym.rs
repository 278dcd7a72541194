//! Stable per-request pseudonyms, and re-identification of an answer.
//!
//! Every identifying value that a prompt needs to *refer to* (a user, a group, an email address
//! in a message) is replaced by a token such as `user-3`. The same value gets the same token
//! throughout one request, so the model can reason about "user-3 holds two roles"; tokens are
//! numbered in order of first use, so they carry nothing about the value. The map back stays in
//! the worker: [`Pseudonyms::reidentify`] swaps tokens in the model's answer for what they stand
//! for, after the response has come back. A new request starts a new map.

use std::collections::HashMap;

use serde::Serialize;

/// What a pseudonym stands for; its [`Kind::prefix`] is the token's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    User,
    Group,
    App,
    Policy,
    Rule,
    GroupRule,
    Zone,
    Idp,
    Authenticator,
    Hook,
    AuthServer,
    Token,
    Role,
    Org,
    Email,
    Domain,
    Url,
    Ip,
    Phone,
    /// A person's or an object's name met in free text.
    Name,
    /// An identifier of no known object.
    Id,
}

impl Kind {
    pub const ALL: [Kind; 21] = [
        Kind::User,
        Kind::Group,
        Kind::App,
        Kind::Policy,
        Kind::Rule,
        Kind::GroupRule,
        Kind::Zone,
        Kind::Idp,
        Kind::Authenticator,
        Kind::Hook,
        Kind::AuthServer,
        Kind::Token,
        Kind::Role,
        Kind::Org,
        Kind::Email,
        Kind::Domain,
        Kind::Url,
        Kind::Ip,
        Kind::Phone,
        Kind::Name,
        Kind::Id,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
            Kind::App => "app",
            Kind::Policy => "policy",
            Kind::Rule => "rule",
            Kind::GroupRule => "grouprule",
            Kind::Zone => "zone",
            Kind::Idp => "idp",
            Kind::Authenticator => "authenticator",
            Kind::Hook => "hook",
            Kind::AuthServer => "authserver",
            Kind::Token => "apitoken",
            Kind::Role => "role",
            Kind::Org => "org",
            Kind::Email => "email",
            Kind::Domain => "domain",
            Kind::Url => "url",
            Kind::Ip => "ip",
            Kind::Phone => "phone",
            Kind::Name => "name",
            Kind::Id => "id",
        }
    }
}

/// Whether `word` has the shape of a token (`<prefix>-<digits>` for a known prefix), whether or
/// not it was issued. Tenant text of that shape is neutralised before it is sent, so a value in
/// Okta cannot pose as a pseudonym and be "re-identified" into something else.
pub fn is_token_shaped(word: &str) -> bool {
    let Some((prefix, digits)) = word.split_once('-') else {
        return false;
    };
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && Kind::ALL
            .iter()
            .any(|k| k.prefix().eq_ignore_ascii_case(prefix))
}

/// The pseudonyms of one request.
#[derive(Debug, Default)]
pub struct Pseudonyms {
    /// (kind, normalised value) → token.
    tokens: HashMap<(Kind, String), String>,
    /// token → what the worker shows in its place.
    originals: HashMap<String, String>,
    issued: HashMap<Kind, u32>,
}

impl Pseudonyms {
    pub fn new() -> Self {
        Self::default()
    }

    /// The token for `key` (the value as the caller normalised it: an id as is, an email in
    /// lower case), issuing one on first use; `display` is what re-identification shows.
    pub fn token(&mut self, kind: Kind, key: &str, display: &str) -> String {
        if let Some(token) = self.tokens.get(&(kind, key.to_owned())) {
            return token.clone();
        }
        let n = self.issued.entry(kind).or_insert(0);
        *n += 1;
        let token = format!("{}-{}", kind.prefix(), n);
        self.tokens.insert((kind, key.to_owned()), token.clone());
        self.originals.insert(token.clone(), display.to_owned());
        token
    }

    /// How many tokens this request issued.
    pub fn len(&self) -> usize {
        self.originals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.originals.is_empty()
    }

    /// What `token` stands for, if this request issued it.
    pub fn original(&self, token: &str) -> Option<&str> {
        self.originals.get(token).map(String::as_str)
    }

    /// `text` with every whole-word token this request issued replaced by its original. Words
    /// of token shape that were never issued are left as they are: the model made them up.
    pub fn reidentify(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        let mut prev: Option<char> = None;
        while !rest.is_empty() {
            let starts_word = prev.is_none_or(|c| !is_word_char(c));
            if starts_word {
                let len = token_len(rest);
                if len > 0 {
                    if let Some(original) = self.originals.get(&rest[..len]) {
                        out.push_str(original);
                        prev = rest[..len].chars().last();
                        rest = &rest[len..];
                        continue;
                    }
                }
            }
            let c = rest.chars().next().expect("non-empty");
            out.push(c);
            prev = Some(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_'
}

/// Length of a `<letters>-<digits>` word at the start of `s` that ends at a word boundary; 0 if
/// there is none.
fn token_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let letters = bytes.iter().take_while(|b| b.is_ascii_lowercase()).count();
    if letters == 0 || bytes.get(letters) != Some(&b'-') {
        return 0;
    }
    let digits = bytes[letters + 1..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return 0;
    }
    let end = letters + 1 + digits;
    match s[end..].chars().next() {
        Some(c) if is_word_char(c) => 0,
        _ => end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_token_numbered_per_kind() {
        let mut p = Pseudonyms::new();
        assert_eq!(p.token(Kind::User, "00u1", "alice@acme.test"), "user-1");
        assert_eq!(p.token(Kind::Group, "00g1", "Admins"), "group-1");
        assert_eq!(p.token(Kind::User, "00u2", "bob@acme.test"), "user-2");
        assert_eq!(p.token(Kind::User, "00u1", "ignored"), "user-1");
        assert_eq!(p.len(), 3);
        assert_eq!(p.original("user-2"), Some("bob@acme.test"));
    }

    #[test]
    fn reidentifies_whole_issued_tokens_only() {
        let mut p = Pseudonyms::new();
        p.token(Kind::User, "00u1", "alice@acme.test");
        p.token(Kind::Group, "00g1", "Admins");
        let answer =
            "Remove user-1 from group-1 (not user-11, user-1x, xuser-1 or user-2); user-1.";
        assert_eq!(
            p.reidentify(answer),
            "Remove alice@acme.test from Admins (not user-11, user-1x, xuser-1 or user-2); \
             alice@acme.test."
        );
        assert_eq!(p.reidentify("“group-1”, é group-1"), "“Admins”, é Admins");
    }

    #[test]
    fn token_shape_covers_every_prefix_and_nothing_else() {
        for kind in Kind::ALL {
            assert!(is_token_shaped(&format!("{}-7", kind.prefix())));
            assert!(is_token_shaped(&format!(
                "{}-7",
                kind.prefix().to_uppercase()
            )));
        }
        for word in ["user-", "user-x", "pre-2024", "user", "co-1a", "-1"] {
            assert!(!is_token_shaped(word), "{word}");
        }
    }
}
