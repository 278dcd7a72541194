//! Running the catalog against a snapshot.

use std::collections::BTreeMap;

use serde::Serialize;

use super::catalog::catalog;
use super::check_def::CheckDef;
use super::context::EvalContext;
use super::frameworks::Framework;
use super::outcome::{CheckResult, Evidence, Outcome, Severity};
use crate::tenant::TenantSnapshot;

/// The result of one check, self-describing enough to store or render on its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub check_id: &'static str,
    pub title: &'static str,
    pub cis_control: u8,
    pub cis_safeguard: &'static str,
    pub severity: Severity,
    pub outcome: Outcome,
    pub message: String,
    pub evidence: Vec<Evidence>,
    /// Framework id → control ids this finding is evidence for.
    pub mappings: BTreeMap<Framework, &'static [&'static str]>,
}

/// Evaluates every check, one finding per check, in catalog (id) order.
pub fn evaluate(snapshot: &TenantSnapshot, ctx: &EvalContext) -> Vec<Finding> {
    catalog()
        .iter()
        .map(|def| finding(def, (def.eval)(snapshot, ctx)))
        .collect()
}

fn finding(def: &CheckDef, result: CheckResult) -> Finding {
    Finding {
        check_id: def.id,
        title: def.title,
        cis_control: def.cis_control,
        cis_safeguard: def.cis_safeguard,
        severity: def.severity,
        outcome: result.outcome,
        message: result.message,
        evidence: result.evidence,
        mappings: def.mappings.iter().copied().collect(),
    }
}
