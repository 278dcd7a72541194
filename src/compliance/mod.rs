//! CIS Controls v8 compliance checks over an Okta tenant snapshot.
//!
//! The engine is pure: it reads a [`TenantSnapshot`](crate::tenant::TenantSnapshot) (the shared
//! tenant model, read from a backup) and an [`EvalContext`] (the evaluation time and thresholds,
//! passed in so results are reproducible) and returns one [`Finding`] per check in [`catalog`] order. Nothing here does I/O or reads a
//! clock.
//!
//! Scope is CIS v8 controls 1, 2, 4 and 5, adapted to an identity provider: "assets" are the
//! networks and devices that authenticate, "software" is the app and IdP integrations, and
//! MFA/network settings that CIS files under controls 6 and 13 are treated as part of the IdP's
//! secure configuration (4.1). `docs/compliance.md` lists every check and its mappings.
//!
//! Outcomes are conservative: a resource the backup did not collect gives `Error`, never `Pass`;
//! a setting that is absent counts as not enforced; an object the engine cannot interpret (an
//! unparseable timestamp, an unknown policy shape) gives `Error` unless another object already
//! fails the check.

mod catalog;
mod check_def;
mod checks;
mod context;
mod evaluate;
mod frameworks;
mod outcome;
pub mod remediation;

#[cfg(test)]
mod tests;

pub use catalog::catalog;
pub use check_def::{CheckDef, Mapping};
pub use context::EvalContext;
pub use evaluate::{evaluate, Finding};
pub use frameworks::Framework;
pub use outcome::{CheckResult, Evidence, Outcome, Severity};
