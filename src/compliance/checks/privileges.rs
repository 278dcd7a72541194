//! Administrative and non-human accounts (CIS 5.4 "restrict administrator privileges to
//! dedicated administrator accounts", 5.5 "inventory of service accounts").

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::okta::{admin_grants, id, in_force, is_first_party, status, super_admins, text};
use super::{guard, Verdict};
use crate::compliance::check_def::CheckDef;
use crate::compliance::context::EvalContext;
use crate::compliance::frameworks::Framework::{
    DisaStig, Hipaa, Iso27001_2022, Nist80053, PciDss4, Soc2,
};
use crate::compliance::outcome::{CheckResult, Evidence, Severity};
use crate::tenant::{ResourceType, TenantSnapshot};

/// Login prefixes (before a `-`, `_` or `.`) and suffixes that name non-human accounts.
const SERVICE_WORDS: [&str; 6] = ["svc", "service", "api", "bot", "integration", "automation"];
/// `profile.userType` values (case-insensitive) that mark an account as non-human.
const SERVICE_TYPES: [&str; 7] = [
    "service",
    "service_account",
    "serviceaccount",
    "system",
    "machine",
    "non-human",
    "nonhuman",
];

pub(super) const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "BF-CIS5-015",
        title: "Between 2 and 3 users hold Super Administrator",
        cis_safeguard: "5.4",
        cis_control: 5,
        severity: Severity::High,
        mappings: &[
            (Soc2, &["CC6.3"]),
            (Hipaa, &["164.308(a)(4)(ii)(B)"]),
            (PciDss4, &["7.2.2"]),
            (Nist80053, &["AC-6(5)"]),
            (Iso27001_2022, &["A.8.2"]),
        ],
        remediation: "Security > Administrators > Admins: filter by Super Administrator; move \
            day-to-day admins to narrower standard or custom roles (Org, App, Group, Help Desk \
            Administrator) and keep a documented break-glass super admin.",
        rationale: "Super Administrator can change everything, including other admins and MFA \
            policy, so each holder is a tenant-wide blast radius; at least two avoid being \
            locked out of the tenant if one account is lost.",
        eval: super_admin_count,
    },
    CheckDef {
        id: "BF-CIS5-016",
        title: "Administrators use dedicated admin accounts",
        cis_safeguard: "5.4",
        cis_control: 5,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.3"]),
            (PciDss4, &["7.2.2"]),
            (Nist80053, &["AC-6(2)"]),
            (Iso27001_2022, &["A.8.2"]),
        ],
        remediation: "Create a separate account (e.g. alice.admin@) holding only the admin role, \
            assign it under Security > Administrators, and remove admin roles from the everyday \
            account; keep business apps on the everyday account only.",
        rationale: "An admin account also used for email, chat and other apps is exposed to \
            every phishing link and app compromise; CIS 5.4 asks that admin rights live on \
            accounts used for nothing else. Okta's own apps are ignored.",
        eval: dedicated_admin_accounts,
    },
    CheckDef {
        id: "BF-CIS5-017",
        title: "No API token belongs to a Super Administrator",
        cis_safeguard: "5.4",
        cis_control: 5,
        severity: Severity::High,
        mappings: &[
            (Soc2, &["CC6.3"]),
            (PciDss4, &["7.2.5"]),
            (Nist80053, &["AC-6"]),
            (Iso27001_2022, &["A.8.2"]),
            (DisaStig, &["OKTA-APP-003241"]),
        ],
        remediation: "Create a dedicated service user with a least-privilege custom role \
            (Security > Administrators > Roles), sign in as it and create a new token under \
            Security > API > Tokens, switch the integration over, then revoke the old token.",
        rationale: "An API token carries its owner's privileges; one created by a super admin is \
            a non-expiring-by-use, MFA-free credential with full control of the tenant.",
        eval: tokens_not_super_admin,
    },
    CheckDef {
        id: "BF-CIS5-018",
        title: "Service accounts are marked as such",
        cis_safeguard: "5.5",
        cis_control: 5,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.2"]),
            (PciDss4, &["7.2.5.1"]),
            (Nist80053, &["AC-2"]),
            (Iso27001_2022, &["A.5.16"]),
        ],
        remediation:
            "Directory > Profile Editor > User (default) > userType: document the allowed \
            values (e.g. service); then Directory > People > (account) > Profile > Edit > \
            userType: service, and record an owner in the profile.",
        rationale: "CIS 5.5 needs an inventory of service accounts. Okta has no account-type \
            flag, so this checks that accounts that look non-human (login such as svc-*, *-bot, \
            or owning an API token) are labelled by profile.userType, which makes them listable.",
        eval: service_accounts_labelled,
    },
];

fn super_admin_count(s: &TenantSnapshot, ctx: &EvalContext) -> CheckResult {
    let (min, max) = (ctx.min_super_admins, ctx.max_super_admins);
    guard(|| {
        let grants = admin_grants(s)?;
        let supers = super_admins(&grants);
        let count = supers.len();
        if (min..=max).contains(&count) {
            return Ok(CheckResult::pass(format!("{count} super administrator(s)")));
        }
        let evidence = supers
            .iter()
            .map(|(user, held)| {
                let how: Vec<String> = held.iter().map(|g| g.describe()).collect();
                Evidence::new("user", user, how.join("; "))
            })
            .collect();
        let message = format!("{count} super administrator(s); expected between {min} and {max}");
        Ok(CheckResult::fail(message, evidence))
    })
}

fn dedicated_admin_accounts(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let grants = admin_grants(s)?;
        let apps: BTreeMap<&str, &Value> = s
            .get(ResourceType::Apps)?
            .iter()
            .map(|a| (id(a), a))
            .collect();
        let mut business_apps: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for assignment in s.get(ResourceType::AppUserAssignments)? {
            let (Some(app_id), Some(user)) =
                (text(assignment, "/appId"), text(assignment, "/user/id"))
            else {
                continue;
            };
            // An app missing from `apps` may be anything, so it counts as a business app.
            let is_business = apps
                .get(app_id)
                .is_none_or(|app| in_force(app) && !is_first_party(app));
            if is_business && grants.contains_key(user) {
                business_apps.entry(user).or_default().insert(app_id);
            }
        }
        let mut verdict = Verdict::default();
        for (user, app_ids) in business_apps {
            let roles: BTreeSet<&str> = grants
                .get(user)
                .into_iter()
                .flatten()
                .map(|g| g.role)
                .collect();
            let roles: Vec<&str> = roles.into_iter().collect();
            let app_ids: Vec<&str> = app_ids.into_iter().collect();
            let detail = format!(
                "holds {} and uses apps {}",
                roles.join(", "),
                app_ids.join(", ")
            );
            verdict.violation("user", user, detail);
        }
        Ok(verdict.conclude(
            "no administrator account is assigned business apps",
            "administrator accounts also used for business apps",
        ))
    })
}

fn tokens_not_super_admin(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let tokens = s.get(ResourceType::ApiTokens)?;
        if tokens.is_empty() {
            return Ok(CheckResult::not_applicable("no API tokens exist"));
        }
        let grants = admin_grants(s)?;
        let supers = super_admins(&grants);
        let mut verdict = Verdict::default();
        for token in tokens {
            match text(token, "/userId") {
                Some(owner) if supers.contains_key(owner) => verdict.violation(
                    "api_token",
                    id(token),
                    format!("owned by super administrator {owner}"),
                ),
                Some(_) => {}
                None => verdict.unknown("api_token", id(token), "no userId"),
            }
        }
        Ok(verdict.conclude(
            "no API token is owned by a super administrator",
            "API tokens owned by super administrators",
        ))
    })
}

/// Token owners count as service accounts only when `api_tokens` was collected; the check does
/// not require it, since login naming alone already identifies most service accounts.
fn service_accounts_labelled(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let token_owners: BTreeSet<&str> = s
            .get(ResourceType::ApiTokens)
            .unwrap_or_default()
            .iter()
            .filter_map(|t| text(t, "/userId"))
            .collect();
        let mut verdict = Verdict::default();
        for user in s
            .get(ResourceType::Users)?
            .iter()
            .filter(|u| status(u) != Some("DEPROVISIONED"))
        {
            let login = text(user, "/profile/login").unwrap_or_default();
            let reason = if token_owners.contains(id(user)) {
                "owns an API token"
            } else if looks_like_service(login) {
                "login looks non-human"
            } else {
                continue;
            };
            let user_type = text(user, "/profile/userType");
            if user_type.is_some_and(|t| SERVICE_TYPES.contains(&t.to_ascii_lowercase().as_str())) {
                continue;
            }
            let user_type = user_type.unwrap_or("not set");
            let detail = format!("{login} {reason}; profile.userType {user_type}");
            verdict.violation("user", id(user), detail);
        }
        Ok(verdict.conclude(
            "every account that looks like a service account is labelled",
            "service-like accounts without a service userType",
        ))
    })
}

/// `svc-backup@…`, `api_sync@…`, `reports.bot@…`: a service word as a whole
/// separator-delimited prefix or suffix of the login's local part.
fn looks_like_service(login: &str) -> bool {
    let local = login
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let parts: Vec<&str> = local.split(['-', '_', '.']).collect();
    parts.len() > 1
        && [parts[0], parts[parts.len() - 1]]
            .iter()
            .any(|part| SERVICE_WORDS.contains(part))
}
