//! Account lifecycle (CIS 5.3 "disable dormant accounts"): unused, stuck and leftover accounts.
//!
//! Dates come from the Okta User object (`lastLogin`, `activated`, `statusChanged`, `created`),
//! compared with the context's `now`. A timestamp that cannot be parsed makes that user
//! "not evaluated" (an `Error` unless another user already fails the check).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::okta::{id, status, text, timestamp};
use super::{guard, Verdict};
use crate::compliance::check_def::CheckDef;
use crate::compliance::context::EvalContext;
use crate::compliance::frameworks::Framework::{
    DisaStig, Hipaa, Iso27001_2022, Nist80053, PciDss4, Soc2,
};
use crate::compliance::outcome::{CheckResult, Severity};
use crate::tenant::{ResourceType, TenantSnapshot};

/// User statuses in which the account can still authenticate (possibly after a reset/unlock).
const CAN_SIGN_IN: [&str; 4] = ["ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"];
const ACCESS_MODIFICATION: &str = "164.308(a)(4)(ii)(C)";

pub(super) const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "BF-CIS5-008",
        title: "No account has been unused for more than 35 days",
        cis_safeguard: "5.3",
        cis_control: 5,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.2"]),
            (Hipaa, &[ACCESS_MODIFICATION]),
            (PciDss4, &["8.2.6"]),
            (Nist80053, &["AC-2(3)"]),
            (Iso27001_2022, &["A.5.18"]),
            (DisaStig, &["OKTA-APP-000090"]),
        ],
        remediation: "Workflow > Automations > Add Automation > Conditions: User Inactivity in \
            Okta 35 days > Actions: Change user lifecycle state to Suspended; meanwhile review the \
            listed users under Directory > People and suspend or deactivate them.",
        rationale: "Unused accounts are not watched by their owners, so their compromise goes \
            unnoticed; the Okta STIG requires disabling them after 35 days.",
        eval: dormant_warn,
    },
    CheckDef {
        id: "BF-CIS5-009",
        title: "No account has been unused for more than 45 days",
        cis_safeguard: "5.3",
        cis_control: 5,
        severity: Severity::High,
        mappings: &[
            (Soc2, &["CC6.2"]),
            (Hipaa, &[ACCESS_MODIFICATION]),
            (PciDss4, &["8.2.6"]),
            (Nist80053, &["AC-2(3)"]),
            (Iso27001_2022, &["A.5.18"]),
        ],
        remediation: "Directory > People > (user) > Suspend or Deactivate; automate with Workflow \
            > Automations (User Inactivity in Okta) so accounts are disabled before 45 days.",
        rationale: "CIS 5.3 requires deleting or disabling accounts after 45 days of inactivity; \
            past that point the account is no longer just idle but abandoned.",
        eval: dormant_disable,
    },
    CheckDef {
        id: "BF-CIS5-010",
        title: "No active account has gone unused since activation",
        cis_safeguard: "5.3",
        cis_control: 5,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.2"]),
            (Hipaa, &[ACCESS_MODIFICATION]),
            (PciDss4, &["8.2.6"]),
            (Nist80053, &["AC-2(3)"]),
            (Iso27001_2022, &["A.5.18"]),
        ],
        remediation:
            "Directory > People > (user): confirm with the manager whether the account is \
            needed; deactivate it if not. Provision accounts closer to the start date.",
        rationale: "An active account that was never used (past the threshold, 30 days by \
            default) is either not needed or its owner never took control of it; either way \
            nobody would notice someone else using it.",
        eval: never_signed_in,
    },
    CheckDef {
        id: "BF-CIS5-011",
        title: "No account is left staged or pending activation",
        cis_safeguard: "5.3",
        cis_control: 5,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.2"]),
            (Nist80053, &["AC-2"]),
            (Iso27001_2022, &["A.5.16", "A.5.18"]),
        ],
        remediation: "Directory > People > filter Status: Staged / Pending user action > activate \
            the accounts that are needed and deactivate or delete the rest.",
        rationale: "Accounts stuck in STAGED or PROVISIONED are unused inventory, and a pending \
            activation link can be claimed by whoever holds it.",
        eval: stale_pending,
    },
    CheckDef {
        id: "BF-CIS5-012",
        title: "No account is left with an expired password",
        cis_safeguard: "5.3",
        cis_control: 5,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.2"]),
            (Nist80053, &["AC-2(3)"]),
            (Iso27001_2022, &["A.5.18"]),
        ],
        remediation: "Directory > People > filter Status: Password expired > contact the owner; \
            deactivate accounts nobody claims.",
        rationale: "A password that stayed expired past the threshold means nobody is using the \
            account, yet anyone with the old password can still set a new one and sign in.",
        eval: stale_password_expired,
    },
    CheckDef {
        id: "BF-CIS5-013",
        title: "No account is left locked out",
        cis_safeguard: "5.3",
        cis_control: 5,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.2"]),
            (Nist80053, &["AC-2", "AC-7"]),
            (Iso27001_2022, &["A.5.18"]),
        ],
        remediation: "Directory > People > filter Status: Locked out > check Reports > System Log \
            for the failed attempts (eventType user.account.lock), then unlock or deactivate.",
        rationale: "A long-standing lock-out is either an abandoned account or the visible part \
            of a guessing attack; both need an owner's decision.",
        eval: stale_locked_out,
    },
    CheckDef {
        id: "BF-CIS5-014",
        title: "Suspended and deactivated users hold no app assignments",
        cis_safeguard: "5.3",
        cis_control: 5,
        severity: Severity::High,
        mappings: &[
            (Soc2, &["CC6.2"]),
            (Hipaa, &["164.308(a)(3)(ii)(C)"]),
            (PciDss4, &["8.2.5"]),
            (Nist80053, &["AC-2", "PS-4"]),
            (Iso27001_2022, &["A.5.18"]),
        ],
        remediation: "Directory > People > (user) > Applications: remove the assignments (for \
            group-based ones, remove the user from the group), or Deactivate the user so Okta \
            unassigns and deprovisions the app accounts.",
        rationale: "Suspending a user in Okta blocks Okta sign-in but leaves the accounts in \
            downstream apps, which may have their own passwords or tokens; leavers keep access \
            until those assignments are removed.",
        eval: disabled_users_unassigned,
    },
];

fn dormant_warn(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    dormant(s, ctx, ctx.dormant_warn_days)
}

fn dormant_disable(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    dormant(s, ctx, ctx.dormant_disable_days)
}

/// Users who could sign in but last did so more than `days` ago. Users who never signed in
/// are [`never_signed_in`]'s concern.
fn dormant(s: &TenantSnapshot, ctx: &EvalContext, days: i64) -> CheckResult {
    guard(|| {
        let mut verdict = Verdict::default();
        for user in signable(s.get(ResourceType::Users)?) {
            match timestamp(user, "lastLogin") {
                Ok(Some(last)) => {
                    let idle = (ctx.now - last).num_days();
                    if idle > days {
                        let detail = format!("lastLogin {} ({idle} days ago)", last.to_rfc3339());
                        verdict.violation("user", id(user), detail);
                    }
                }
                Ok(None) => {}
                Err(problem) => verdict.unknown("user", id(user), problem),
            }
        }
        Ok(verdict.conclude(
            &format!("no account unused for more than {days} days"),
            &format!("accounts unused for more than {days} days"),
        ))
    })
}

fn never_signed_in(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    let days = ctx.never_logged_in_days;
    guard(|| {
        let mut verdict = Verdict::default();
        for user in signable(s.get(ResourceType::Users)?) {
            match timestamp(user, "lastLogin") {
                Ok(None) => {}
                Ok(Some(_)) => continue,
                Err(problem) => {
                    verdict.unknown("user", id(user), problem);
                    continue;
                }
            }
            match first_timestamp(user, &["activated", "created"]) {
                Ok((field, since)) => {
                    let age = (ctx.now - since).num_days();
                    if age > days {
                        let detail = format!("never signed in; {field} {age} days ago");
                        verdict.violation("user", id(user), detail);
                    }
                }
                Err(problem) => verdict.unknown("user", id(user), problem),
            }
        }
        Ok(verdict.conclude(
            &format!("every account older than {days} days has signed in"),
            &format!("active accounts never used in more than {days} days"),
        ))
    })
}

fn stale_pending(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    stale_in(s, ctx, &["STAGED", "PROVISIONED"])
}

fn stale_password_expired(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    stale_in(s, ctx, &["PASSWORD_EXPIRED"])
}

fn stale_locked_out(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    stale_in(s, ctx, &["LOCKED_OUT"])
}

/// Users that have been in one of `statuses` for longer than `stale_status_days`, dated by
/// `statusChanged` (falling back to `lastUpdated`, then `created`).
fn stale_in(s: &TenantSnapshot, ctx: &EvalContext, statuses: &[&str]) -> CheckResult {
    let days = ctx.stale_status_days;
    let states = statuses.join("/");
    guard(|| {
        let mut verdict = Verdict::default();
        let users = s.get(ResourceType::Users)?;
        for user in users
            .iter()
            .filter(|u| status(u).is_some_and(|st| statuses.contains(&st)))
        {
            let state = status(user).unwrap_or_default();
            match first_timestamp(user, &["statusChanged", "lastUpdated", "created"]) {
                Ok((_, since)) => {
                    let age = (ctx.now - since).num_days();
                    if age > days {
                        verdict.violation("user", id(user), format!("{state} for {age} days"));
                    }
                }
                Err(problem) => verdict.unknown("user", id(user), problem),
            }
        }
        Ok(verdict.conclude(
            &format!("no account has been {states} for more than {days} days"),
            &format!("accounts {states} for more than {days} days"),
        ))
    })
}

/// An assignment's user status comes from `users`, else from the AppUser's embedded user.
/// Users found in neither cannot be judged: deactivated users are missing from a default user
/// listing, so an unknown user is reported rather than assumed fine.
fn disabled_users_unassigned(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let statuses: BTreeMap<&str, &str> = s
            .get(ResourceType::Users)?
            .iter()
            .filter_map(|u| Some((text(u, "/id")?, status(u)?)))
            .collect();
        let mut verdict = Verdict::default();
        for assignment in s.get(ResourceType::AppUserAssignments)? {
            let app = text(assignment, "/appId").unwrap_or("<missing appId>");
            let user = text(assignment, "/user/id").unwrap_or("<missing user id>");
            let object = format!("{app}/{user}");
            let state = statuses
                .get(user)
                .copied()
                .or_else(|| text(assignment, "/user/_embedded/user/status"));
            match state {
                Some(st @ ("SUSPENDED" | "DEPROVISIONED")) => verdict.violation(
                    "app_user_assignment",
                    &object,
                    format!("user {user} is {st} but still assigned to app {app}"),
                ),
                Some(_) => {}
                None => verdict.unknown("app_user_assignment", &object, "user not in snapshot"),
            }
        }
        Ok(verdict.conclude(
            "no suspended or deactivated user is assigned to an app",
            "suspended or deactivated users still assigned to apps",
        ))
    })
}

fn signable(users: &[Value]) -> impl Iterator<Item = &Value> {
    users
        .iter()
        .filter(|u| status(u).is_some_and(|st| CAN_SIGN_IN.contains(&st)))
}

/// The first of `fields` that is set, with its name; an error if none is or one is garbled.
fn first_timestamp<'f>(
    user: &Value,
    fields: &[&'f str],
) -> Result<(&'f str, DateTime<Utc>), String> {
    for field in fields {
        if let Some(at) = timestamp(user, field)? {
            return Ok((field, at));
        }
    }
    Err(format!("none of {} is set", fields.join(", ")))
}
