//! CIS 4.3 (automatic session locking), applied to Okta's global session policy: every rule
//! that can grant a session must bound it. Stricter than the STIG, which inspects only the top
//! rule of the default policy: any weaker rule still applies to the users it matches.

use serde_json::Value;

use super::okta::{above, flag, granting_rules_of, id, policies};
use super::{guard, Verdict};
use crate::compliance::check_def::CheckDef;
use crate::compliance::context::EvalContext;
use crate::compliance::frameworks::Framework::{
    DisaStig, Hipaa, Iso27001_2022, Nist80053, PciDss4, Soc2,
};
use crate::compliance::outcome::{CheckResult, Severity};
use crate::tenant::TenantSnapshot;

const IDLE: &str = "/actions/signon/session/maxSessionIdleMinutes";
const LIFETIME: &str = "/actions/signon/session/maxSessionLifetimeMinutes";
const PERSISTENT: &str = "/actions/signon/session/usePersistentCookie";

pub(super) const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "BF-CIS4-001",
        title: "Global session idle timeout is at most 15 minutes",
        cis_safeguard: "4.3",
        cis_control: 4,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &["164.312(a)(2)(iii)"]),
            (PciDss4, &["8.2.8"]),
            (Nist80053, &["AC-11", "AC-12"]),
            (Iso27001_2022, &["A.8.5"]),
            (DisaStig, &["OKTA-APP-000020"]),
        ],
        remediation: "Security > Global Session Policy > (each policy) > edit each allow rule > \
            Maximum Okta global session idle time: 15 minutes. Add a non-default rule at priority \
            1 for the Default Policy rather than editing only the Default Rule.",
        rationale: "An unattended browser with a live Okta session gives access to every assigned \
            app; CIS 4.3 asks for locking after 15 minutes of inactivity.",
        eval: idle_timeout,
    },
    CheckDef {
        id: "BF-CIS4-002",
        title: "Global session lifetime is at most 18 hours",
        cis_safeguard: "4.3",
        cis_control: 4,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &["164.312(a)(2)(iii)"]),
            (Nist80053, &["AC-12", "IA-11"]),
            (Iso27001_2022, &["A.8.5"]),
            (DisaStig, &["OKTA-APP-001665"]),
        ],
        remediation: "Security > Global Session Policy > (each policy) > edit each allow rule > \
            Maximum Okta global session lifetime: 18 hours (or less); 0 means no limit.",
        rationale: "Sessions that never expire let a stolen session cookie be replayed \
            indefinitely; a bounded lifetime forces periodic re-authentication.",
        eval: session_lifetime,
    },
    CheckDef {
        id: "BF-CIS4-003",
        title: "Global session cookies do not persist across browser sessions",
        cis_safeguard: "4.3",
        cis_control: 4,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Nist80053, &["IA-5(13)", "SC-23"]),
            (Iso27001_2022, &["A.8.5"]),
            (DisaStig, &["OKTA-APP-001710"]),
        ],
        remediation: "Security > Global Session Policy > (each policy) > edit each allow rule > \
            Okta global session cookies persist across browser sessions: Disable.",
        rationale: "Persistent cookies survive closing the browser, so a shared or stolen \
            device keeps an authenticated session that the user believes has ended.",
        eval: no_persistent_cookies,
    },
];

fn idle_timeout(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    let max = ctx.max_session_idle_minutes;
    each_session_rule(
        s,
        |rule| above(rule, IDLE, max),
        &format!("every global session rule times out idle sessions within {max} minutes"),
        &format!("global session rules allow more than {max} idle minutes"),
    )
}

fn session_lifetime(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    let max = ctx.max_session_lifetime_minutes;
    each_session_rule(
        s,
        |rule| above(rule, LIFETIME, max),
        &format!("every global session rule limits sessions to {max} minutes"),
        &format!("global session rules allow sessions longer than {max} minutes"),
    )
}

/// An absent `usePersistentCookie` takes Okta's default, `false`.
fn no_persistent_cookies(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    each_session_rule(
        s,
        |rule| (flag(rule, PERSISTENT) == Some(true)).then(|| "usePersistentCookie true".into()),
        "no global session rule uses persistent cookies",
        "global session rules use persistent cookies",
    )
}

/// Judges every granting rule of every in-force global session policy.
fn each_session_rule(
    s: &TenantSnapshot,
    judge: impl Fn(&Value) -> Option<String>,
    pass: &str,
    fail: &str,
) -> CheckResult {
    guard(|| {
        if policies(s, "OKTA_SIGN_ON")?.is_empty() {
            return Err(CheckResult::error(
                "no OKTA_SIGN_ON policy in snapshot; every org has a default one",
            ));
        }
        let rules = granting_rules_of(s, "OKTA_SIGN_ON", "/actions/signon/access")?;
        if rules.is_empty() {
            return Err(CheckResult::error(
                "no active allow rule of a global session policy in snapshot",
            ));
        }
        let mut verdict = Verdict::default();
        for rule in rules {
            if let Some(detail) = judge(rule) {
                verdict.violation("policy_rule", id(rule), detail);
            }
        }
        Ok(verdict.conclude(pass, fail))
    })
}
