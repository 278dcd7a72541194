//! Authenticators and MFA enrollment (CIS 6.3–6.5 in CIS v8, filed under 4.1 here as part of the
//! IdP's secure configuration baseline).

use std::collections::BTreeSet;

use serde_json::Value;

use super::okta::{
    admin_grants, everyone_group, groups_by_user, id, in_force, int, is_active, policies, status,
    strings, text,
};
use super::{guard, Verdict};
use crate::compliance::check_def::CheckDef;
use crate::compliance::context::EvalContext;
use crate::compliance::frameworks::Framework::{Hipaa, Iso27001_2022, Nist80053, PciDss4, Soc2};
use crate::compliance::outcome::{CheckResult, Severity};
use crate::tenant::{ResourceType, TenantSnapshot};

/// Authenticator keys that resist relay phishing by design. Okta Verify (FastPass) can too, but
/// only with settings the authenticator object does not show, so it is not counted.
const PHISHING_RESISTANT: [&str; 2] = ["webauthn", "smart_card_idp"];
/// Authenticators NIST SP 800-63B restricts or disallows as a factor.
const WEAK: [&str; 2] = ["phone_number", "security_question"];
/// Enrollable keys that do not add a strong second factor: Identity Engine authenticator keys
/// and Classic factor keys.
const NOT_STRONG: [&str; 7] = [
    "okta_password",
    "okta_email",
    "phone_number",
    "security_question",
    "okta_sms",
    "okta_call",
    "okta_question",
];

pub(super) const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "BF-CIS4-008",
        title: "A phishing-resistant authenticator is active",
        cis_safeguard: "4.1",
        cis_control: 4,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &["164.312(d)"]),
            (Nist80053, &["IA-2(8)"]),
            (Iso27001_2022, &["A.8.5"]),
        ],
        remediation: "Security > Authenticators > Setup > Add authenticator > FIDO2 (WebAuthn) \
            (or Smart Card Authenticator) > Add; then allow enrollment under the Enrollment tab.",
        rationale: "Authentication policies can only demand phishing-resistant factors if users \
            can enroll one; without an active FIDO2 or smart card authenticator every factor can \
            be relayed.",
        eval: phishing_resistant_available,
    },
    CheckDef {
        id: "BF-CIS4-009",
        title: "SMS/voice and security-question authenticators are disabled",
        cis_safeguard: "4.1",
        cis_control: 4,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &["164.312(d)"]),
            (Nist80053, &["CM-7", "IA-5"]),
            (Iso27001_2022, &["A.8.5"]),
        ],
        remediation: "Security > Authenticators > Enrollment: set Phone and Security Question to \
            Disabled in every enrollment policy, remove them from recovery in the password \
            policies, then Setup > Phone / Security Question > Actions > Deactivate.",
        rationale: "SMS and voice codes are exposed to SIM swapping and interception, and \
            security answers are often guessable or public; NIST SP 800-63B restricts the former \
            and disallows the latter as authenticators.",
        eval: weak_authenticators_disabled,
    },
    CheckDef {
        id: "BF-CIS4-010",
        title: "Every administrator must enroll a strong second factor",
        cis_safeguard: "4.1",
        cis_control: 4,
        severity: Severity::High,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &["164.312(d)"]),
            (PciDss4, &["8.4.1"]),
            (Nist80053, &["IA-2(1)"]),
            (Iso27001_2022, &["A.8.2", "A.8.5"]),
        ],
        remediation:
            "Security > Authenticators > Enrollment > Add a policy assigned to your admin \
            groups (priority above the default) with Okta Verify or FIDO2 (WebAuthn) set to \
            Required, or make one of them Required in the policy that already applies.",
        rationale: "A policy can only demand MFA from an admin who has enrolled a second factor; \
            enrollment policies decide that. Evaluated from policy coverage (first applicable \
            policy by priority), because per-user factor enrollments are not in the snapshot.",
        eval: admins_enroll_strong_factor,
    },
];

fn phishing_resistant_available(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let active: Vec<&str> = s
            .get(ResourceType::Authenticators)?
            .iter()
            .filter(|a| is_active(a))
            .filter_map(|a| text(a, "/key"))
            .filter(|key| PHISHING_RESISTANT.contains(key))
            .collect();
        Ok(if active.is_empty() {
            CheckResult::fail(
                "no FIDO2 (WebAuthn) or smart card authenticator is active",
                Vec::new(),
            )
        } else {
            CheckResult::pass(format!("active: {}", active.join(", ")))
        })
    })
}

fn weak_authenticators_disabled(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let mut verdict = Verdict::default();
        for authenticator in s
            .get(ResourceType::Authenticators)?
            .iter()
            .filter(|a| in_force(a))
        {
            if let Some(key) = text(authenticator, "/key").filter(|k| WEAK.contains(k)) {
                let state = status(authenticator).unwrap_or("status not set");
                verdict.violation("authenticator", id(authenticator), format!("{key} {state}"));
            }
        }
        Ok(verdict.conclude(
            "phone and security-question authenticators are inactive",
            "weak authenticators are enabled",
        ))
    })
}

/// Each admin's applicable MFA enrollment policy is the first in-force one (by priority) whose
/// people condition matches them; it must require a factor outside [`NOT_STRONG`].
fn admins_enroll_strong_factor(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let admins = admin_grants(s)?;
        if admins.is_empty() {
            return Ok(CheckResult::not_applicable(
                "no admin role assignments in snapshot",
            ));
        }
        let everyone = everyone_group(s.get(ResourceType::Groups)?)
            .ok_or_else(|| CheckResult::error("built-in Everyone group not in groups"))?;
        let user_groups = groups_by_user(s)?;
        let mut enrollment: Vec<&Value> = policies(s, "MFA_ENROLL")?
            .into_iter()
            .filter(|p| in_force(p))
            .collect();
        enrollment.sort_by_key(|p| int(p, "/priority").unwrap_or(i64::MAX));

        let no_groups = BTreeSet::new();
        let mut verdict = Verdict::default();
        for user in admins.keys() {
            let groups = user_groups.get(user).unwrap_or(&no_groups);
            match enrollment
                .iter()
                .find(|p| applies(p, user, groups, everyone))
            {
                None => verdict.violation("user", user, "no MFA enrollment policy applies"),
                Some(policy) if requires_strong_factor(policy) => {}
                Some(policy) => verdict.violation(
                    "user",
                    user,
                    format!("enrollment policy {} requires no strong factor", id(policy)),
                ),
            }
        }
        Ok(verdict.conclude(
            "every administrator must enroll a strong factor",
            "administrators not required to enroll a strong factor",
        ))
    })
}

/// Okta's people condition: exclusions win; no group inclusion list means everyone.
fn applies(policy: &Value, user: &str, groups: &BTreeSet<&str>, everyone: &str) -> bool {
    let people = "/conditions/people";
    if strings(policy, &format!("{people}/users/exclude")).contains(&user)
        || strings(policy, &format!("{people}/groups/exclude"))
            .iter()
            .any(|g| groups.contains(g))
    {
        return false;
    }
    let include = strings(policy, &format!("{people}/groups/include"));
    include.is_empty() || include.iter().any(|g| *g == everyone || groups.contains(g))
}

/// Identity Engine policies list `settings.authenticators`; Classic ones `settings.factors`.
fn requires_strong_factor(policy: &Value) -> bool {
    let strong_required = |key: &str, item: &Value| {
        !NOT_STRONG.contains(&key) && text(item, "/enroll/self") == Some("REQUIRED")
    };
    if let Some(list) = policy
        .pointer("/settings/authenticators")
        .and_then(Value::as_array)
    {
        list.iter()
            .any(|a| text(a, "/key").is_some_and(|key| strong_required(key, a)))
    } else if let Some(map) = policy
        .pointer("/settings/factors")
        .and_then(Value::as_object)
    {
        map.iter().any(|(key, factor)| strong_required(key, factor))
    } else {
        false
    }
}
