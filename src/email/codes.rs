//! Email verification codes: six digits, stored only as Argon2id hashes keyed with a secret
//! pepper, valid ten minutes, five wrong tries, at most five codes an hour per user and
//! purpose with a minute between two.
//!
//! Six digits are a small space, so the hash alone could not protect a leaked table: the
//! pepper (Argon2's secret input, `VERIFICATION_CODE_PEPPERS`, never in the database) makes a
//! stolen hash useless without the worker's secrets, and the attempt limit bounds online
//! guessing to 5 in 10⁶ per code. A new code supersedes the previous one (the store keeps only
//! the latest unconsumed code per user and purpose).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

use super::address::EmailAddress;
use crate::crypto::keys::Key256;
use crate::ids::UserId;
use crate::ports::Rng;

pub const CODE_TTL: Duration = Duration::minutes(10);
pub const MAX_ATTEMPTS: u32 = 5;
pub const MAX_CODES_PER_HOUR: usize = 5;
pub const RESEND_COOLDOWN: Duration = Duration::seconds(60);

/// What a code proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodePurpose {
    /// The member controls this address: it may receive sensitive mail (restore receipts,
    /// alerts with tenant details).
    VerifyEmail,
    /// The owner confirms a team deletion request.
    ConfirmTeamDeletion,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::VerifyEmail => "verify_email",
            CodePurpose::ConfirmTeamDeletion => "confirm_team_deletion",
        }
    }
}

/// The six digits, for the email only. Wiped on drop, never printed.
pub struct Code(Zeroizing<String>);

impl Code {
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(..redacted..)")
    }
}

/// A pepper with its id, so it can rotate: new codes use the first; a code is checked with
/// the pepper it was hashed with (codes live ten minutes, so an old pepper can go soon after).
#[derive(Clone)]
pub struct Pepper {
    pub id: String,
    pub key: Key256,
}

/// A stored code (`email_verification_codes` row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCode {
    pub user: UserId,
    pub purpose: CodePurpose,
    /// The address the code was sent to; verifying proves control of exactly this address.
    pub email: EmailAddress,
    /// Argon2id PHC string (salt and parameters included).
    pub hash: String,
    pub pepper_id: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub attempts: u32,
    pub consumed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("too many codes requested; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: i64 },
    #[error("no verification pepper is configured")]
    NoPepper,
    #[error("code hashing failed")]
    Hash,
}

/// Result of checking a submitted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Verified,
    Wrong {
        attempts_left: u32,
    },
    Expired,
    /// Out of attempts: request a new code.
    Locked,
    AlreadyUsed,
}

pub struct CodeHasher {
    peppers: Vec<Pepper>,
    params: Params,
}

impl CodeHasher {
    /// OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane (≈ 19 MiB of a Worker's 128 MiB
    /// for a few tens of milliseconds, once per issue and per attempt).
    pub fn new(peppers: Vec<Pepper>) -> CodeHasher {
        let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
        CodeHasher { peppers, params }
    }

    #[cfg(test)]
    fn fast(peppers: Vec<Pepper>) -> CodeHasher {
        CodeHasher {
            peppers,
            params: Params::new(64, 1, 1, None).unwrap(),
        }
    }

    fn argon2<'k>(&self, pepper: &'k Pepper) -> Result<Argon2<'k>, CodeError> {
        Argon2::new_with_secret(
            pepper.key.expose(),
            Algorithm::Argon2id,
            Version::V0x13,
            self.params.clone(),
        )
        .map_err(|_| CodeError::Hash)
    }

    /// Issues a code for `email` unless `recent` (this user's codes for this purpose issued
    /// in the last hour, any state) says to wait.
    pub fn issue(
        &self,
        rng: &dyn Rng,
        user: UserId,
        purpose: CodePurpose,
        email: EmailAddress,
        recent: &[DateTime<Utc>],
        now: DateTime<Utc>,
    ) -> Result<(Code, StoredCode), CodeError> {
        let hour_ago = now - Duration::hours(1);
        let mut in_window: Vec<_> = recent.iter().filter(|t| **t > hour_ago).collect();
        in_window.sort();
        if let Some(last) = in_window.last() {
            let wait = (**last + RESEND_COOLDOWN - now).num_seconds();
            if wait > 0 {
                return Err(CodeError::RateLimited {
                    retry_after_secs: wait,
                });
            }
        }
        if in_window.len() >= MAX_CODES_PER_HOUR {
            let oldest = in_window[in_window.len() - MAX_CODES_PER_HOUR];
            return Err(CodeError::RateLimited {
                retry_after_secs: (*oldest + Duration::hours(1) - now).num_seconds().max(1),
            });
        }
        let pepper = self.peppers.first().ok_or(CodeError::NoPepper)?;
        let code = Code(Zeroizing::new(format!(
            "{:06}",
            uniform_below(rng, 1_000_000)
        )));
        let mut salt = [0u8; 16];
        rng.fill(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|_| CodeError::Hash)?;
        let hash = self
            .argon2(pepper)?
            .hash_password(code.digits().as_bytes(), &salt)
            .map_err(|_| CodeError::Hash)?
            .to_string();
        let stored = StoredCode {
            user,
            purpose,
            email,
            hash,
            pepper_id: pepper.id.clone(),
            issued_at: now,
            expires_at: now + CODE_TTL,
            attempts: 0,
            consumed_at: None,
        };
        Ok((code, stored))
    }

    /// Checks `submitted` and returns the verdict with the row as it must be stored (the
    /// attempt counted, or the code consumed). Store it with a compare-and-set on `attempts`
    /// so two concurrent guesses cannot both count as the fifth.
    pub fn check(
        &self,
        stored: &StoredCode,
        submitted: &str,
        now: DateTime<Utc>,
    ) -> (Verdict, StoredCode) {
        let mut next = stored.clone();
        if stored.consumed_at.is_some() {
            return (Verdict::AlreadyUsed, next);
        }
        if now >= stored.expires_at {
            return (Verdict::Expired, next);
        }
        if stored.attempts >= MAX_ATTEMPTS {
            return (Verdict::Locked, next);
        }
        next.attempts += 1;
        let digits: String = submitted
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let matches = digits.len() == 6
            && digits.bytes().all(|b| b.is_ascii_digit())
            && self.matches(stored, &digits);
        if matches {
            next.consumed_at = Some(now);
            return (Verdict::Verified, next);
        }
        let attempts_left = MAX_ATTEMPTS - next.attempts;
        let verdict = if attempts_left == 0 {
            Verdict::Locked
        } else {
            Verdict::Wrong { attempts_left }
        };
        (verdict, next)
    }

    fn matches(&self, stored: &StoredCode, digits: &str) -> bool {
        let Some(pepper) = self.peppers.iter().find(|p| p.id == stored.pepper_id) else {
            return false;
        };
        let (Ok(argon2), Ok(hash)) = (self.argon2(pepper), PasswordHash::new(&stored.hash)) else {
            return false;
        };
        argon2.verify_password(digits.as_bytes(), &hash).is_ok()
    }
}

/// A uniform integer in `0..bound` (rejection sampling, no modulo bias).
fn uniform_below(rng: &dyn Rng, bound: u32) -> u32 {
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let mut b = [0u8; 4];
        rng.fill(&mut b);
        let v = u32::from_le_bytes(b);
        if v < zone {
            return v % bound;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeqRng;

    fn pepper(id: &str, byte: u8) -> Pepper {
        Pepper {
            id: id.into(),
            key: Key256::from_bytes([byte; 32]),
        }
    }

    fn user() -> UserId {
        UserId::parse("11111111-2222-4333-8444-555555555555").unwrap()
    }

    fn email() -> EmailAddress {
        EmailAddress::parse("ops@example.com").unwrap()
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn production_parameters_make_an_argon2id_hash_that_verifies() {
        let hasher = CodeHasher::new(vec![pepper("p1", 1)]);
        let rng = SeqRng::new(1);
        let (code, stored) = hasher
            .issue(&rng, user(), CodePurpose::VerifyEmail, email(), &[], t0())
            .unwrap();
        assert_eq!(code.digits().len(), 6);
        assert!(
            stored.hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            stored.hash
        );
        assert!(!stored.hash.contains(code.digits()));
        assert_eq!(stored.expires_at, t0() + Duration::minutes(10));
        let (verdict, after) = hasher.check(&stored, code.digits(), t0());
        assert_eq!(verdict, Verdict::Verified);
        assert_eq!(after.consumed_at, Some(t0()));
        assert_eq!(format!("{code:?}"), "Code(..redacted..)");
    }

    #[test]
    fn wrong_expired_locked_and_reused_codes_fail() {
        let hasher = CodeHasher::fast(vec![pepper("p1", 1)]);
        let rng = SeqRng::new(2);
        let (code, stored) = hasher
            .issue(&rng, user(), CodePurpose::VerifyEmail, email(), &[], t0())
            .unwrap();
        let wrong = if code.digits() == "000000" {
            "000001"
        } else {
            "000000"
        };

        let mut row = stored.clone();
        for left in (1..MAX_ATTEMPTS).rev() {
            let (verdict, next) = hasher.check(&row, wrong, t0());
            assert_eq!(
                verdict,
                Verdict::Wrong {
                    attempts_left: left
                }
            );
            row = next;
        }
        let (verdict, row) = hasher.check(&row, wrong, t0());
        assert_eq!(verdict, Verdict::Locked);
        // Once locked, even the right code fails.
        assert_eq!(hasher.check(&row, code.digits(), t0()).0, Verdict::Locked);

        // Garbage counts as an attempt too, without reaching Argon2.
        let (verdict, next) = hasher.check(&stored, "12a456", t0());
        assert_eq!(verdict, Verdict::Wrong { attempts_left: 4 });
        assert_eq!(next.attempts, 1);

        let late = t0() + CODE_TTL;
        assert_eq!(
            hasher.check(&stored, code.digits(), late).0,
            Verdict::Expired
        );

        let formatted = format!("{} {}", &code.digits()[..3], &code.digits()[3..]);
        let (verdict, used) = hasher.check(&stored, &formatted, t0());
        assert_eq!(verdict, Verdict::Verified, "spaces are tolerated");
        assert_eq!(
            hasher.check(&used, code.digits(), t0()).0,
            Verdict::AlreadyUsed
        );
    }

    #[test]
    fn the_pepper_is_needed_and_rotates_by_id() {
        let old = CodeHasher::fast(vec![pepper("p1", 1)]);
        let rng = SeqRng::new(3);
        let (code, stored) = old
            .issue(&rng, user(), CodePurpose::VerifyEmail, email(), &[], t0())
            .unwrap();
        // Rotated: p2 is active, p1 still accepted for codes hashed with it.
        let rotated = CodeHasher::fast(vec![pepper("p2", 2), pepper("p1", 1)]);
        assert_eq!(
            rotated.check(&stored, code.digits(), t0()).0,
            Verdict::Verified
        );
        let (_, fresh) = rotated
            .issue(&rng, user(), CodePurpose::VerifyEmail, email(), &[], t0())
            .unwrap();
        assert_eq!(fresh.pepper_id, "p2");
        // The same id with another key (a leaked table and a guessed pepper id) fails.
        let impostor = CodeHasher::fast(vec![pepper("p1", 9)]);
        assert!(matches!(
            impostor.check(&stored, code.digits(), t0()).0,
            Verdict::Wrong { .. }
        ));
        assert_eq!(
            CodeHasher::fast(vec![])
                .issue(&rng, user(), CodePurpose::VerifyEmail, email(), &[], t0())
                .unwrap_err(),
            CodeError::NoPepper
        );
    }

    #[test]
    fn issuing_is_rate_limited() {
        let hasher = CodeHasher::fast(vec![pepper("p1", 1)]);
        let rng = SeqRng::new(4);
        let issue = |recent: &[DateTime<Utc>], now| {
            hasher.issue(&rng, user(), CodePurpose::VerifyEmail, email(), recent, now)
        };
        let just_now = [t0() - Duration::seconds(20)];
        assert_eq!(
            issue(&just_now, t0()).unwrap_err(),
            CodeError::RateLimited {
                retry_after_secs: 40
            }
        );
        let spaced: Vec<_> = (1..=5).map(|i| t0() - Duration::minutes(10 * i)).collect();
        assert_eq!(
            issue(&spaced, t0()).unwrap_err(),
            CodeError::RateLimited {
                retry_after_secs: 600
            }
        );
        // Codes older than an hour no longer count.
        let old: Vec<_> = (7..=11).map(|i| t0() - Duration::minutes(10 * i)).collect();
        assert!(issue(&old, t0()).is_ok());
    }

    #[test]
    fn codes_are_uniform_six_digit_strings() {
        let rng = SeqRng::new(5);
        let mut first_digit = [0u32; 10];
        for _ in 0..5000 {
            let v = uniform_below(&rng, 1_000_000);
            assert!(v < 1_000_000);
            first_digit[(v / 100_000) as usize] += 1;
        }
        // Each leading digit near 500 of 5000 (a modulo or formatting bug skews this).
        assert!(
            first_digit.iter().all(|n| (400..600).contains(n)),
            "{first_digit:?}"
        );
    }
}
