//! Evaluation time and thresholds.

use chrono::{DateTime, Utc};

/// When the evaluation happens and the thresholds checks compare against.
///
/// `now` is an input (never read from a clock) so an evaluation can be replayed against an old
/// snapshot. Defaults from [`EvalContext::at`] follow the strictest mapped framework where that
/// is practical; `docs/compliance.md` lists the framework value behind each one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalContext {
    pub now: DateTime<Utc>,
    /// Inactivity after which an account must be disabled per the Okta STIG (35).
    pub dormant_warn_days: i64,
    /// Inactivity after which an account must be disabled per CIS 5.3 (45).
    pub dormant_disable_days: i64,
    /// Age after which an active account that never signed in is considered unused (30).
    pub never_logged_in_days: i64,
    /// Time an account may sit STAGED, PROVISIONED, PASSWORD_EXPIRED or LOCKED_OUT (30).
    pub stale_status_days: i64,
    /// Fewer super admins than this risks lock-out of the tenant (2: one plus a break-glass).
    pub min_super_admins: usize,
    /// More super admins than this widens the blast radius of one compromise (3).
    pub max_super_admins: usize,
    /// Minimum password length (15: STIG; also satisfies CIS 5.2's 14 and PCI's 12).
    pub min_password_length: i64,
    /// Remembered previous passwords (5: STIG; PCI requires 4).
    pub min_password_history: i64,
    /// Maximum password age in days (90: PCI 8.3.9; the STIG asks for 60).
    pub max_password_age_days: i64,
    /// Minimum password age in minutes (1440 = 24 h: STIG).
    pub min_password_age_minutes: i64,
    /// Failed attempts before lock-out (5; PCI allows 10, the STIG asks for 3).
    pub max_lockout_attempts: i64,
    /// Global session idle timeout in minutes (15: CIS 4.3, PCI 8.2.8, STIG).
    pub max_session_idle_minutes: i64,
    /// Global session lifetime in minutes (1080 = 18 h: STIG).
    pub max_session_lifetime_minutes: i64,
}

impl EvalContext {
    /// Default thresholds, evaluated at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            now,
            dormant_warn_days: 35,
            dormant_disable_days: 45,
            never_logged_in_days: 30,
            stale_status_days: 30,
            min_super_admins: 2,
            max_super_admins: 3,
            min_password_length: 15,
            min_password_history: 5,
            max_password_age_days: 90,
            min_password_age_minutes: 1440,
            max_lockout_attempts: 5,
            max_session_idle_minutes: 15,
            max_session_lifetime_minutes: 1080,
        }
    }
}
