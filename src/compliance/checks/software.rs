//! CIS 2 (software), adapted to an IdP: the "software" Okta controls is its app integrations and
//! identity providers. Also the shared-credential app check (CIS 5.2), which reads the same data.

use std::collections::BTreeSet;

use serde_json::Value;

use super::okta::{everyone_group, id, in_force, is_first_party, strings, text};
use super::{guard, Verdict};
use crate::compliance::check_def::CheckDef;
use crate::compliance::context::EvalContext;
use crate::compliance::frameworks::Framework::{Hipaa, Iso27001_2022, Nist80053, PciDss4, Soc2};
use crate::compliance::outcome::{CheckResult, Severity};
use crate::tenant::{ResourceType, TenantSnapshot};

pub(super) const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "BF-CIS2-001",
        title: "The application inventory is collected and not empty",
        cis_safeguard: "2.1",
        cis_control: 2,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (PciDss4, &["12.5.1"]),
            (Nist80053, &["CM-8"]),
            (Iso27001_2022, &["A.5.9"]),
        ],
        remediation: "Make sure the backup's Okta credentials can read apps (okta.apps.read) and \
            that the apps collection ran; Applications > Applications lists what should appear.",
        rationale: "Every Okta org has at least its first-party apps, so an empty app list means \
            the inventory that the other CIS 2 checks rely on is missing.",
        eval: app_inventory_present,
    },
    CheckDef {
        id: "BF-CIS2-002",
        title: "No inactive application integrations are kept",
        cis_safeguard: "2.3",
        cis_control: 2,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Nist80053, &["CM-7", "CM-8"]),
            (Iso27001_2022, &["A.5.9"]),
        ],
        remediation: "Applications > Applications > filter Status: Inactive > (app) > Delete, \
            after confirming with the app owner that it is retired.",
        rationale: "Deactivated integrations keep their configuration, certificates and \
            assignments and can be reactivated by any app admin; removing unused software \
            shrinks what can be misused.",
        eval: no_inactive_apps,
    },
    CheckDef {
        id: "BF-CIS2-003",
        title: "Every active application has at least one assignment",
        cis_safeguard: "2.3",
        cis_control: 2,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (PciDss4, &["2.2.4"]),
            (Nist80053, &["CM-7"]),
            (Iso27001_2022, &["A.5.9"]),
        ],
        remediation: "Applications > Applications > (app) > Assignments: assign the groups that \
            need it, or deactivate and delete the app if nobody does.",
        rationale: "An active integration nobody is assigned to is unused software that still \
            holds trust (signing keys, client secrets, provisioning tokens).",
        eval: no_unassigned_apps,
    },
    CheckDef {
        id: "BF-CIS2-004",
        title: "No application is assigned to the Everyone group",
        cis_safeguard: "2.5",
        cis_control: 2,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1", "CC6.3"]),
            (Hipaa, &["164.308(a)(4)(ii)(B)"]),
            (PciDss4, &["7.2.1", "7.2.2"]),
            (Nist80053, &["AC-3", "AC-6"]),
            (Iso27001_2022, &["A.5.15", "A.5.18"]),
        ],
        remediation: "Applications > Applications > (app) > Assignments > remove the Everyone \
            group and assign the role or department groups that are authorised to use the app.",
        rationale: "Assigning to Everyone authorises every current and future user, including \
            contractors and service accounts, so the allow-list of who may use the software is \
            effectively empty.",
        eval: no_everyone_assignments,
    },
    CheckDef {
        id: "BF-CIS2-005",
        title: "No OIDC application allows the implicit grant",
        cis_safeguard: "2.2",
        cis_control: 2,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (PciDss4, &["2.2.5"]),
            (Nist80053, &["CM-7"]),
            (Iso27001_2022, &["A.8.9"]),
        ],
        remediation: "Applications > Applications > (app) > General > General Settings > Edit > \
            Grant type: clear Implicit (hybrid) and use Authorization Code with PKCE; update the \
            client to the code flow first.",
        rationale: "The implicit flow returns tokens in the URL fragment, where they leak through \
            history, logs and referrers; the OAuth 2.0 Security BCP (RFC 9700) deprecates it.",
        eval: no_implicit_grant,
    },
    CheckDef {
        id: "BF-CIS2-006",
        title: "No SAML application signs with SHA-1",
        cis_safeguard: "2.2",
        cis_control: 2,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1", "CC6.7"]),
            (Nist80053, &["SC-13"]),
            (Iso27001_2022, &["A.8.24"]),
        ],
        remediation: "Applications > Applications > (app) > Sign On > Edit > SAML 2.0 settings \
            (Show Advanced Settings): Signature Algorithm RSA-SHA256, Digest Algorithm SHA256; \
            confirm the service provider accepts SHA-256 first.",
        rationale: "SHA-1 is collision-prone and deprecated for signatures (NIST SP 800-131A); \
            assertions signed with it are weaker evidence of who signed in.",
        eval: no_sha1_saml,
    },
    CheckDef {
        id: "BF-CIS2-007",
        title: "No inactive identity providers are kept",
        cis_safeguard: "2.3",
        cis_control: 2,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Nist80053, &["CM-7"]),
            (Iso27001_2022, &["A.8.9"]),
        ],
        remediation: "Security > Identity Providers > (provider) > Actions > Delete, after \
            checking no routing rule or user still depends on it.",
        rationale: "An inactive identity provider keeps its trust configuration (certificates, \
            client credentials) and can be reactivated to admit externally authenticated users.",
        eval: no_inactive_idps,
    },
    CheckDef {
        id: "BF-CIS5-007",
        title: "No application uses a shared username and password",
        cis_safeguard: "5.2",
        cis_control: 5,
        severity: Severity::High,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Hipaa, &["164.312(a)(2)(i)"]),
            (PciDss4, &["8.2.2"]),
            (Nist80053, &["AC-2(9)", "IA-2"]),
            (Iso27001_2022, &["A.5.16", "A.5.17"]),
        ],
        remediation: "Applications > Applications > (app) > Sign On > Edit > Credentials Details: \
            choose 'User sets username and password' (or 'Administrator sets username and \
            password' per user), or migrate the app to SAML/OIDC; rotate the shared password in \
            the target app afterwards.",
        rationale: "With SHARED_USERNAME_AND_PASSWORD every assigned user signs in as the same \
            account, so the password is not unique to a person and actions in the app cannot be \
            attributed.",
        eval: no_shared_credentials,
    },
];

fn app_inventory_present(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let apps = s.get(ResourceType::Apps)?;
        Ok(if apps.is_empty() {
            CheckResult::fail("the apps collection is empty", Vec::new())
        } else {
            CheckResult::pass(format!("{} application(s) inventoried", apps.len()))
        })
    })
}

fn no_inactive_apps(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let mut verdict = Verdict::default();
        for app in s.get(ResourceType::Apps)?.iter().filter(|a| !in_force(a)) {
            verdict.violation("app", id(app), describe(app, "status INACTIVE"));
        }
        Ok(verdict.conclude("no inactive applications", "inactive applications kept"))
    })
}

fn no_unassigned_apps(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let assigned: BTreeSet<&str> = s
            .get(ResourceType::AppUserAssignments)?
            .iter()
            .chain(s.get(ResourceType::AppGroupAssignments)?)
            .filter_map(|a| text(a, "/appId"))
            .collect();
        let mut verdict = Verdict::default();
        for app in custom_apps(s.get(ResourceType::Apps)?) {
            if !assigned.contains(id(app)) {
                verdict.violation(
                    "app",
                    id(app),
                    describe(app, "no user or group assignments"),
                );
            }
        }
        Ok(verdict.conclude(
            "every active application is assigned",
            "active applications without assignments",
        ))
    })
}

fn no_everyone_assignments(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let everyone = everyone_group(s.get(ResourceType::Groups)?)
            .ok_or_else(|| CheckResult::error("built-in Everyone group not in groups"))?;
        let to_everyone: BTreeSet<&str> = s
            .get(ResourceType::AppGroupAssignments)?
            .iter()
            .filter(|a| text(a, "/group/id") == Some(everyone))
            .filter_map(|a| text(a, "/appId"))
            .collect();
        let mut verdict = Verdict::default();
        for app in custom_apps(s.get(ResourceType::Apps)?).filter(|a| to_everyone.contains(id(a))) {
            verdict.violation("app", id(app), describe(app, "assigned to Everyone"));
        }
        Ok(verdict.conclude(
            "no application is assigned to Everyone",
            "applications assigned to Everyone",
        ))
    })
}

fn no_implicit_grant(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    apps_matching(
        s,
        |app| {
            text(app, "/signOnMode") == Some("OPENID_CONNECT")
                && strings(app, "/settings/oauthClient/grant_types").contains(&"implicit")
        },
        "grant_types includes implicit",
        "no OIDC application allows the implicit grant",
        "OIDC applications allow the implicit grant",
    )
}

fn no_sha1_saml(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    apps_matching(
        s,
        |app| {
            matches!(text(app, "/signOnMode"), Some("SAML_2_0" | "SAML_1_1"))
                && (text(app, "/settings/signOn/signatureAlgorithm") == Some("RSA_SHA1")
                    || text(app, "/settings/signOn/digestAlgorithm") == Some("SHA1"))
        },
        "signatureAlgorithm or digestAlgorithm is SHA-1",
        "no SAML application uses SHA-1",
        "SAML applications use SHA-1",
    )
}

fn no_shared_credentials(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    apps_matching(
        s,
        |app| text(app, "/credentials/scheme") == Some("SHARED_USERNAME_AND_PASSWORD"),
        "credentials.scheme SHARED_USERNAME_AND_PASSWORD",
        "no application uses shared credentials",
        "applications use shared credentials",
    )
}

fn no_inactive_idps(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let mut verdict = Verdict::default();
        for idp in s.get(ResourceType::Idps)?.iter().filter(|i| !in_force(i)) {
            verdict.violation(
                "identity_provider",
                id(idp),
                describe(idp, "status INACTIVE"),
            );
        }
        Ok(verdict.conclude(
            "no inactive identity providers",
            "inactive identity providers kept",
        ))
    })
}

/// Fails on every in-force app matching `bad`, with `detail` as evidence.
fn apps_matching(
    s: &TenantSnapshot,
    bad: fn(&Value) -> bool,
    detail: &str,
    pass: &str,
    fail: &str,
) -> CheckResult {
    guard(|| {
        let mut verdict = Verdict::default();
        for app in s
            .get(ResourceType::Apps)?
            .iter()
            .filter(|a| in_force(a) && bad(a))
        {
            verdict.violation("app", id(app), describe(app, detail));
        }
        Ok(verdict.conclude(pass, fail))
    })
}

/// In-force apps other than Okta's own.
fn custom_apps(apps: &[Value]) -> impl Iterator<Item = &Value> {
    apps.iter().filter(|a| in_force(a) && !is_first_party(a))
}

/// Evidence detail naming the object by its label/name, which is what admins search for.
fn describe(object: &Value, problem: &str) -> String {
    match text(object, "/label").or_else(|| text(object, "/name")) {
        Some(label) => format!("{label}: {problem}"),
        None => problem.to_owned(),
    }
}
