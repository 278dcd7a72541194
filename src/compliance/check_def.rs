//! What a check is: its definition as data, beside the function that evaluates it. Both the
//! catalog and the check modules use this; neither imports the other's internals.

use super::context::EvalContext;
use super::frameworks::Framework;
use super::outcome::{CheckResult, Severity};
use crate::tenant::TenantSnapshot;

/// Controls of one framework that a check provides evidence for.
pub type Mapping = (Framework, &'static [&'static str]);

/// One check. Definitions are data (they live beside their logic in `checks/`); only `eval`
/// looks at a tenant.
#[derive(Debug, Clone, Copy)]
pub struct CheckDef {
    /// Stable id, `BF-CIS<control>-<nnn>`; never reused for a different meaning.
    pub id: &'static str,
    pub title: &'static str,
    /// CIS Controls v8 safeguard, e.g. `"5.3"`.
    pub cis_safeguard: &'static str,
    pub cis_control: u8,
    pub severity: Severity,
    pub mappings: &'static [Mapping],
    /// Concrete steps, with Okta Admin Console paths.
    pub remediation: &'static str,
    pub rationale: &'static str,
    pub eval: fn(&TenantSnapshot, &EvalContext) -> CheckResult,
}
