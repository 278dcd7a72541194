//! Authentication policies of Okta's own apps (Admin Console, Dashboard). CIS v8 puts MFA in
//! safeguards 6.3–6.5, outside this engine's scope, so these are filed under 4.1 as part of the
//! IdP's secure configuration baseline.
//!
//! Every rule that can grant access is judged, not only the top one: a weaker lower-priority
//! rule still applies to whoever it matches. Only `ASSURANCE` verification methods are
//! understood; other kinds (e.g. authentication method chains) are reported for manual review.

use serde_json::Value;

use super::okta::{app_policy_rules, id, text, ADMIN_CONSOLE, DASHBOARD};
use super::{guard, Verdict};
use crate::compliance::check_def::CheckDef;
use crate::compliance::context::EvalContext;
use crate::compliance::frameworks::Framework::{
    DisaStig, Hipaa, Iso27001_2022, Nist80053, PciDss4, Soc2,
};
use crate::compliance::outcome::{CheckResult, Severity};
use crate::tenant::TenantSnapshot;

const METHOD: &str = "/actions/appSignOn/verificationMethod";

pub(super) const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "BF-CIS4-004",
        title: "Okta Admin Console requires multifactor authentication",
        cis_safeguard: "4.1",
        cis_control: 4,
        severity: Severity::Critical,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &["164.312(d)"]),
            (PciDss4, &["8.4.1"]),
            (Nist80053, &["IA-2(1)"]),
            (Iso27001_2022, &["A.8.2", "A.8.5"]),
            (DisaStig, &["OKTA-APP-000560"]),
        ],
        remediation: "Security > Authentication Policies > Okta Admin Console > edit every allow \
            rule > User must authenticate with: Password / IdP + Another factor (or Any 2 factor \
            types).",
        rationale: "The Admin Console controls every identity and app in the tenant; a single \
            phished or reused password must not be enough to reach it (CIS 6.5).",
        eval: admin_console_mfa,
    },
    CheckDef {
        id: "BF-CIS4-005",
        title: "Okta Admin Console requires phishing-resistant authenticators",
        cis_safeguard: "4.1",
        cis_control: 4,
        severity: Severity::High,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &["164.312(d)"]),
            (Nist80053, &["IA-2(1)", "IA-2(8)"]),
            (Iso27001_2022, &["A.8.2", "A.8.5"]),
            (DisaStig, &["OKTA-APP-000190"]),
        ],
        remediation: "Security > Authentication Policies > Okta Admin Console > edit every allow \
            rule > Possession factor constraints are: Phishing resistant (FIDO2/WebAuthn, smart \
            card or Okta FastPass), in every authenticator constraint of the rule.",
        rationale: "Push, OTP and SMS factors can be relayed by adversary-in-the-middle phishing \
            kits, which have been used against Okta administrators; phishing-resistant \
            authenticators bind the login to the real origin.",
        eval: admin_console_phishing_resistant,
    },
    CheckDef {
        id: "BF-CIS4-006",
        title: "Okta Dashboard requires multifactor authentication",
        cis_safeguard: "4.1",
        cis_control: 4,
        severity: Severity::High,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &["164.312(d)"]),
            (PciDss4, &["8.4.2"]),
            (Nist80053, &["IA-2(2)"]),
            (Iso27001_2022, &["A.8.5"]),
            (DisaStig, &["OKTA-APP-000570"]),
        ],
        remediation: "Security > Authentication Policies > Okta Dashboard > edit every allow rule \
            > User must authenticate with: Password / IdP + Another factor (or Any 2 factor \
            types).",
        rationale: "The Dashboard is the front door to every SSO app; requiring MFA there \
            protects all of them from password spraying and credential stuffing (CIS 6.3/6.4).",
        eval: dashboard_mfa,
    },
    CheckDef {
        id: "BF-CIS4-007",
        title: "Okta Dashboard requires phishing-resistant authenticators",
        cis_safeguard: "4.1",
        cis_control: 4,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Nist80053, &["IA-2(2)", "IA-2(8)"]),
            (Iso27001_2022, &["A.8.5"]),
            (DisaStig, &["OKTA-APP-000180"]),
        ],
        remediation: "Security > Authentication Policies > Okta Dashboard > edit every allow rule \
            > Possession factor constraints are: Phishing resistant.",
        rationale: "Phishing-resistant authenticators stop relay phishing of end users, the most \
            common way into SSO-connected apps.",
        eval: dashboard_phishing_resistant,
    },
];

fn admin_console_mfa(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    judge_app_rules(
        s,
        ADMIN_CONSOLE,
        requires_two_factors,
        "Admin Console",
        "MFA",
    )
}

fn admin_console_phishing_resistant(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    let what = "phishing-resistant authentication";
    judge_app_rules(
        s,
        ADMIN_CONSOLE,
        requires_phishing_resistance,
        "Admin Console",
        what,
    )
}

fn dashboard_mfa(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    judge_app_rules(s, DASHBOARD, requires_two_factors, "Dashboard", "MFA")
}

fn dashboard_phishing_resistant(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    let what = "phishing-resistant authentication";
    judge_app_rules(
        s,
        DASHBOARD,
        requires_phishing_resistance,
        "Dashboard",
        what,
    )
}

/// How a rule fares against one requirement.
enum Judgement {
    Meets,
    Violates(String),
    Unknown(String),
}

fn judge_app_rules(
    s: &TenantSnapshot,
    app_name: &str,
    judge: fn(&Value) -> Judgement,
    label: &str,
    what: &str,
) -> CheckResult {
    guard(|| {
        let mut verdict = Verdict::default();
        for rule in app_policy_rules(s, app_name)? {
            match judge(rule) {
                Judgement::Meets => {}
                Judgement::Violates(detail) => verdict.violation("policy_rule", id(rule), detail),
                Judgement::Unknown(detail) => verdict.unknown("policy_rule", id(rule), detail),
            }
        }
        Ok(verdict.conclude(
            &format!("every {label} allow rule requires {what}"),
            &format!("{label} allow rules do not require {what}"),
        ))
    })
}

/// `Some(judgement)` for verification methods other than an assurance, which we cannot judge.
fn unsupported_method(rule: &Value) -> Option<Judgement> {
    match text(rule, &format!("{METHOD}/type")) {
        None | Some("ASSURANCE") => None,
        Some(other) => Some(Judgement::Unknown(format!(
            "verificationMethod type {other} needs manual review"
        ))),
    }
}

/// An absent `factorMode` counts as not requiring a second factor.
fn requires_two_factors(rule: &Value) -> Judgement {
    if let Some(judgement) = unsupported_method(rule) {
        return judgement;
    }
    match text(rule, &format!("{METHOD}/factorMode")) {
        Some("2FA") => Judgement::Meets,
        Some(mode) => Judgement::Violates(format!("factorMode {mode}")),
        None => Judgement::Violates("factorMode not set".into()),
    }
}

/// Okta satisfies a rule when any one constraint object is met, so every constraint must
/// require a phishing-resistant possession factor.
fn requires_phishing_resistance(rule: &Value) -> Judgement {
    if let Some(judgement) = unsupported_method(rule) {
        return judgement;
    }
    let constraints = rule
        .pointer(&format!("{METHOD}/constraints"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if constraints.is_empty() {
        return Judgement::Violates("no authenticator constraints".into());
    }
    let phishable = constraints
        .iter()
        .filter(|c| text(c, "/possession/phishingResistant") != Some("REQUIRED"))
        .count();
    if phishable == 0 {
        Judgement::Meets
    } else {
        Judgement::Violates(format!(
            "{phishable} of {} constraint(s) allow phishable authenticators",
            constraints.len()
        ))
    }
}
