//! Check logic, one module per area of the tenant. Each module exports its definitions as
//! `CHECKS`, next to the functions that evaluate them.

mod app_policies;
mod authenticators;
mod inventory;
mod lifecycle;
mod network;
mod okta;
mod passwords;
mod privileges;
mod sessions;
mod software;

use super::check_def::CheckDef;
use super::outcome::{CheckResult, Evidence};

pub(super) fn all() -> Vec<CheckDef> {
    [
        inventory::CHECKS,
        software::CHECKS,
        sessions::CHECKS,
        app_policies::CHECKS,
        authenticators::CHECKS,
        network::CHECKS,
        passwords::CHECKS,
        lifecycle::CHECKS,
        privileges::CHECKS,
    ]
    .concat()
}

/// Runs a check body that may stop early: an `Err` (a missing resource converts into one via
/// `?`) is the check's result.
fn guard(body: impl FnOnce() -> Result<CheckResult, CheckResult>) -> CheckResult {
    body().unwrap_or_else(|early| early)
}

/// Per-object judgements of one check.
///
/// Any violation makes the check fail. Without violations, any object the check could not
/// interpret makes it an error rather than a pass: "no evidence of a problem" is not
/// "evidence of no problem".
#[derive(Default)]
struct Verdict {
    violations: Vec<Evidence>,
    unknown: Vec<Evidence>,
}

impl Verdict {
    fn violation(&mut self, object_type: &str, object_id: &str, detail: impl Into<String>) {
        self.violations
            .push(Evidence::new(object_type, object_id, detail));
    }

    fn unknown(&mut self, object_type: &str, object_id: &str, detail: impl Into<String>) {
        let detail = format!("not evaluated: {}", detail.into());
        self.unknown
            .push(Evidence::new(object_type, object_id, detail));
    }

    /// `pass` describes the compliant state, `fail` the problem each violation shows.
    fn conclude(self, pass: &str, fail: &str) -> CheckResult {
        let Verdict {
            mut violations,
            unknown,
        } = self;
        if !violations.is_empty() {
            let message = format!("{fail} ({} found)", violations.len());
            violations.extend(unknown);
            CheckResult::fail(message, violations)
        } else if !unknown.is_empty() {
            let mut result = CheckResult::error(format!(
                "{} object(s) could not be evaluated; see evidence",
                unknown.len()
            ));
            result.evidence = unknown;
            result
        } else {
            CheckResult::pass(pass)
        }
    }
}
