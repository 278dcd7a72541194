//! Okta password policies (CIS 5.2 "use unique passwords", plus lock-out and recovery, filed
//! under 4.1). Every in-force policy mastered by Okta is judged, because each applies to some
//! group; policies whose `authProvider` is a directory (AD/LDAP) are skipped, since the directory
//! enforces those settings and Okta ignores them.

use serde_json::Value;

use super::okta::{above, below, id, in_force, policies, rules_by_policy, strings, text};
use super::{guard, Verdict};
use crate::compliance::check_def::CheckDef;
use crate::compliance::context::EvalContext;
use crate::compliance::frameworks::Framework::{
    DisaStig, Hipaa, Iso27001_2022, Nist80053, PciDss4, Soc2,
};
use crate::compliance::outcome::{CheckResult, Severity};
use crate::tenant::TenantSnapshot;

const COMPLEXITY: &str = "/settings/password/complexity";
const AGE: &str = "/settings/password/age";
const PASSWORD_MANAGEMENT: &str = "164.308(a)(5)(ii)(D)";

pub(super) const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "BF-CIS4-014",
        title: "Accounts lock after a small number of failed sign-ins",
        cis_safeguard: "4.1",
        cis_control: 4,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (PciDss4, &["8.3.4"]),
            (Nist80053, &["AC-7"]),
            (Iso27001_2022, &["A.8.5"]),
            (DisaStig, &["OKTA-APP-000170"]),
        ],
        remediation: "Security > Authenticators > Password > Actions > Edit > (each policy) > \
            Lock out: Lock out user after N unsuccessful attempts (5 by default here; the STIG \
            requires 3).",
        rationale: "Without lock-out, online password guessing is limited only by rate limits; \
            a low attempt limit makes guessing impractical.",
        eval: lockout,
    },
    CheckDef {
        id: "BF-CIS4-015",
        title: "Password recovery does not rely on SMS, voice or security questions",
        cis_safeguard: "4.1",
        cis_control: 4,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &[PASSWORD_MANAGEMENT]),
            (Nist80053, &["IA-5"]),
            (Iso27001_2022, &["A.5.17"]),
        ],
        remediation: "Security > Authenticators > Password > Actions > Edit > (each policy): \
            under Account recovery clear SMS, Voice call and Security question; in each rule set \
            'Users can initiate recovery with' to Okta Verify or Email and require no security \
            question as additional verification.",
        rationale: "Account recovery resets the password, so it is only as strong as its weakest \
            method: SIM-swapped phone numbers and guessable security answers bypass the \
            password policy entirely.",
        eval: recovery_methods,
    },
    CheckDef {
        id: "BF-CIS5-001",
        title: "Passwords are at least 15 characters long",
        cis_safeguard: "5.2",
        cis_control: 5,
        severity: Severity::High,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &[PASSWORD_MANAGEMENT]),
            (PciDss4, &["8.3.6"]),
            (Nist80053, &["IA-5(1)"]),
            (Iso27001_2022, &["A.5.17"]),
            (DisaStig, &["OKTA-APP-000650"]),
        ],
        remediation: "Security > Authenticators > Password > Actions > Edit > (each policy) > \
            Minimum length: 15.",
        rationale: "Length is the main driver of resistance to guessing. 15 meets the Okta STIG \
            and exceeds CIS 5.2 (14 without MFA) and PCI DSS 8.3.6 (12); the threshold is \
            configurable.",
        eval: min_length,
    },
    CheckDef {
        id: "BF-CIS5-002",
        title: "Passwords require upper case, lower case, digits and symbols",
        cis_safeguard: "5.2",
        cis_control: 5,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &[PASSWORD_MANAGEMENT]),
            (PciDss4, &["8.3.6"]),
            (Nist80053, &["IA-5(1)"]),
            (Iso27001_2022, &["A.5.17"]),
            (
                DisaStig,
                &[
                    "OKTA-APP-000670",
                    "OKTA-APP-000680",
                    "OKTA-APP-000690",
                    "OKTA-APP-000700",
                ],
            ),
        ],
        remediation: "Security > Authenticators > Password > Actions > Edit > (each policy) > \
            Complexity requirements: check Lower case letter, Upper case letter, Number (0-9) and \
            Symbol (e.g., !@#$%^&*).",
        rationale: "Character-class rules are required by the STIG and PCI DSS (numeric and \
            alphabetic); NIST SP 800-63B prefers length over composition, so this is Medium.",
        eval: complexity,
    },
    CheckDef {
        id: "BF-CIS5-003",
        title: "Common passwords are rejected",
        cis_safeguard: "5.2",
        cis_control: 5,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &[PASSWORD_MANAGEMENT]),
            (Nist80053, &["IA-5(1)"]),
            (Iso27001_2022, &["A.5.17"]),
            (DisaStig, &["OKTA-APP-002980"]),
        ],
        remediation: "Security > Authenticators > Password > Actions > Edit > (each policy) > \
            Password restrictions: check Restrict use of common passwords.",
        rationale: "Password spraying tries the most common passwords first; checking new \
            passwords against a common-password list is the control NIST SP 800-63B requires.",
        eval: common_passwords,
    },
    CheckDef {
        id: "BF-CIS5-004",
        title: "Password history prevents reuse of the last 5 passwords",
        cis_safeguard: "5.2",
        cis_control: 5,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &[PASSWORD_MANAGEMENT]),
            (PciDss4, &["8.3.7"]),
            (Nist80053, &["IA-5(1)"]),
            (Iso27001_2022, &["A.5.17"]),
            (DisaStig, &["OKTA-APP-003010"]),
        ],
        remediation: "Security > Authenticators > Password > Actions > Edit > (each policy) > \
            Password restrictions: Enforce password history for last 5 passwords (or more).",
        rationale: "Without history a user can 'change' a compromised password back to itself; \
            the STIG requires 5 generations, PCI DSS 4.",
        eval: history,
    },
    CheckDef {
        id: "BF-CIS5-005",
        title: "Passwords expire within 90 days",
        cis_safeguard: "5.2",
        cis_control: 5,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &[PASSWORD_MANAGEMENT]),
            (PciDss4, &["8.3.9"]),
            (Nist80053, &["IA-5(1)"]),
            (Iso27001_2022, &["A.5.17"]),
            (DisaStig, &["OKTA-APP-000745"]),
        ],
        remediation: "Security > Authenticators > Password > Actions > Edit > (each policy) > \
            Password age: Password expires after 90 days (60 for the STIG).",
        rationale: "PCI DSS 8.3.9 requires rotation where a password is the only factor and the \
            STIG requires it outright; NIST SP 800-63B advises against forced rotation, hence Low.",
        eval: max_age,
    },
    CheckDef {
        id: "BF-CIS5-006",
        title: "Passwords cannot be changed again within 24 hours",
        cis_safeguard: "5.2",
        cis_control: 5,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &[PASSWORD_MANAGEMENT]),
            (Nist80053, &["IA-5(1)"]),
            (Iso27001_2022, &["A.5.17"]),
            (DisaStig, &["OKTA-APP-000740"]),
        ],
        remediation: "Security > Authenticators > Password > Actions > Edit > (each policy) > \
            Password age: Minimum password age is 24 hours.",
        rationale: "A minimum age stops users cycling through the history in minutes to get back \
            to a favourite (possibly compromised) password.",
        eval: min_age,
    },
];

fn lockout(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    let max = ctx.max_lockout_attempts;
    each_password_policy(
        s,
        |p| above(p, "/settings/password/lockout/maxAttempts", max),
        &format!("every password policy locks out after at most {max} attempts"),
        &format!("password policies allow more than {max} failed attempts"),
    )
}

fn min_length(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    let min = ctx.min_password_length;
    each_password_policy(
        s,
        |p| below(p, &format!("{COMPLEXITY}/minLength"), min),
        &format!("every password policy requires at least {min} characters"),
        &format!("password policies allow fewer than {min} characters"),
    )
}

/// A class whose minimum is absent or null is not required.
fn complexity(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    each_password_policy(
        s,
        |p| {
            let missing: Vec<&str> = ["minLowerCase", "minUpperCase", "minNumber", "minSymbol"]
                .into_iter()
                .filter(|class| below(p, &format!("{COMPLEXITY}/{class}"), 1).is_some())
                .collect();
            (!missing.is_empty()).then(|| format!("not required: {}", missing.join(", ")))
        },
        "every password policy requires all four character classes",
        "password policies do not require every character class",
    )
}

fn common_passwords(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    each_password_policy(
        s,
        |p| {
            let pointer = format!("{COMPLEXITY}/dictionary/common/exclude");
            (p.pointer(&pointer) != Some(&Value::Bool(true)))
                .then(|| "dictionary.common.exclude is not true".into())
        },
        "every password policy rejects common passwords",
        "password policies accept common passwords",
    )
}

fn history(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    let min = ctx.min_password_history;
    each_password_policy(
        s,
        |p| below(p, &format!("{AGE}/historyCount"), min),
        &format!("every password policy remembers at least {min} passwords"),
        &format!("password policies remember fewer than {min} passwords"),
    )
}

fn max_age(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    let max = ctx.max_password_age_days;
    each_password_policy(
        s,
        |p| above(p, &format!("{AGE}/maxAgeDays"), max),
        &format!("every password policy expires passwords within {max} days"),
        &format!("password policies keep passwords longer than {max} days"),
    )
}

fn min_age(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    let min = ctx.min_password_age_minutes;
    each_password_policy(
        s,
        |p| below(p, &format!("{AGE}/minAgeMinutes"), min),
        &format!("every password policy has a minimum age of at least {min} minutes"),
        &format!("password policies allow changes within {min} minutes"),
    )
}

/// Recovery factors in the policy settings (all orgs) and recovery methods in its rules
/// (Identity Engine).
fn recovery_methods(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let rules = rules_by_policy(s)?;
        let mut verdict = Verdict::default();
        for policy in okta_password_policies(s)? {
            let factors = ["okta_sms", "okta_call", "recovery_question"];
            let enabled: Vec<&str> = factors
                .into_iter()
                .filter(|f| {
                    text(policy, &format!("/settings/recovery/factors/{f}/status"))
                        == Some("ACTIVE")
                })
                .collect();
            if !enabled.is_empty() {
                let detail = format!("recovery factors active: {}", enabled.join(", "));
                verdict.violation("policy", id(policy), detail);
            }
            for rule in rules
                .get(id(policy))
                .into_iter()
                .flatten()
                .filter(|r| in_force(r))
            {
                let reset = "/actions/selfServicePasswordReset/requirement";
                let mut weak = strings(rule, &format!("{reset}/primary/methods"));
                weak.retain(|m| matches!(*m, "sms" | "voice"));
                weak.extend(
                    strings(rule, &format!("{reset}/stepUp/methods"))
                        .into_iter()
                        .filter(|m| *m == "security_question"),
                );
                if !weak.is_empty() {
                    let detail = format!("recovery methods: {}", weak.join(", "));
                    verdict.violation("policy_rule", id(rule), detail);
                }
            }
        }
        Ok(verdict.conclude(
            "password recovery uses neither SMS, voice nor security questions",
            "password recovery allows SMS, voice or security questions",
        ))
    })
}

/// Judges every in-force Okta-mastered password policy; `judge` returns what is wrong.
fn each_password_policy(
    s: &TenantSnapshot,
    judge: impl Fn(&Value) -> Option<String>,
    pass: &str,
    fail: &str,
) -> CheckResult {
    guard(|| {
        let mut verdict = Verdict::default();
        for policy in okta_password_policies(s)? {
            if let Some(detail) = judge(policy) {
                verdict.violation("policy", id(policy), detail);
            }
        }
        Ok(verdict.conclude(pass, fail))
    })
}

/// In-force password policies whose passwords Okta itself manages.
fn okta_password_policies(s: &TenantSnapshot) -> Result<Vec<&Value>, CheckResult> {
    let all = policies(s, "PASSWORD")?;
    if all.is_empty() {
        return Err(CheckResult::error(
            "no PASSWORD policy in snapshot; every org has a default one",
        ));
    }
    let okta: Vec<&Value> = all
        .into_iter()
        .filter(|p| in_force(p))
        .filter(|p| {
            matches!(
                text(p, "/conditions/authProvider/provider"),
                None | Some("OKTA")
            )
        })
        .collect();
    if okta.is_empty() {
        return Err(CheckResult::not_applicable(
            "every in-force password policy is mastered by a directory (AD/LDAP)",
        ));
    }
    Ok(okta)
}
