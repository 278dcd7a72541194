//! The check definitions: what each check is, why it matters, how to fix it.

use std::sync::OnceLock;

use super::checks;
use super::context::EvalContext;
use super::frameworks::Framework;
use super::outcome::{CheckResult, Severity};
use super::snapshot::TenantSnapshot;

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

/// Every check, ordered by id (the order findings are reported in).
pub fn catalog() -> &'static [CheckDef] {
    static CATALOG: OnceLock<Vec<CheckDef>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut all = checks::all();
        all.sort_by_key(|def| def.id);
        all
    })
}
