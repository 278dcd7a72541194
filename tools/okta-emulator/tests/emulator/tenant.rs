//! The seeded tenant: determinism and the variety a backup must cope with.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use okta_emulator::{tenant, EmulatorConfig, Tenant};
use serde_json::Value;

use crate::support::{get, send, start, SSWS};

fn strings<'a>(items: impl IntoIterator<Item = &'a Value>, key: &str) -> HashSet<String> {
    items
        .into_iter()
        .filter_map(|item| item[key].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn same_seed_same_tenant_other_seed_other_tenant() {
    let config = EmulatorConfig {
        users: 300,
        groups: 12,
        apps: 15,
        ..EmulatorConfig::default()
    };
    assert_eq!(tenant(&config), tenant(&config));
    assert_eq!(tenant(&config), Tenant::generate(1, 300, 12, 15));
    let other = tenant(&EmulatorConfig {
        seed: 2,
        ..config.clone()
    });
    assert_ne!(tenant(&config).users()[0]["id"], other.users()[0]["id"]);
}

#[test]
fn same_seed_gives_byte_identical_responses() {
    let config = EmulatorConfig {
        users: 40,
        ..EmulatorConfig::default()
    };
    let (a, b) = (start(config.clone()), start(config));
    assert_ne!(a.port(), b.port());
    for path in [
        "/api/v1/users?limit=15",
        "/api/v1/groups",
        "/api/v1/apps",
        "/api/v1/policies?type=PASSWORD",
        "/api/v1/org",
    ] {
        let fetch = |base: String| {
            let response = send(
                "GET",
                &format!("{base}{path}"),
                &[("Host", "okta.test"), ("Authorization", SSWS)],
                None,
            );
            assert_eq!(response.status, 200);
            let links = response.all("Link").join("\n");
            (response.body, links)
        };
        assert_eq!(fetch(a.base_url()), fetch(b.base_url()), "{path}");
    }
}

#[test]
fn tenant_has_the_variety_a_backup_meets() {
    let tenant = Tenant::generate(7, 200, 6, 5);
    let statuses = strings(tenant.users(), "status");
    for status in [
        "ACTIVE",
        "STAGED",
        "PROVISIONED",
        "RECOVERY",
        "LOCKED_OUT",
        "PASSWORD_EXPIRED",
        "SUSPENDED",
        "DEPROVISIONED",
    ] {
        assert!(statuses.contains(status), "{status}");
    }
    let providers: HashSet<&str> = tenant
        .users()
        .iter()
        .filter_map(|u| u["credentials"]["provider"]["type"].as_str())
        .collect();
    assert!(providers.len() >= 2, "{providers:?}");
    assert!(tenant.users().iter().any(|u| u["lastLogin"].is_string()));
    assert!(tenant.users().iter().all(|u| u["profile"]["login"]
        .as_str()
        .unwrap()
        .ends_with("@example.com")));
    let logins = strings(tenant.users().iter().map(|u| &u["profile"]), "login");
    assert_eq!(logins.len(), tenant.users().len(), "logins are unique");

    let everyone = &tenant.groups()[0];
    assert_eq!(
        (
            everyone["type"].as_str(),
            everyone["profile"]["name"].as_str()
        ),
        (Some("BUILT_IN"), Some("Everyone"))
    );
    assert_eq!(tenant.groups().len(), 7);
    assert!(tenant.groups()[1..]
        .iter()
        .all(|g| g["type"] == "OKTA_GROUP"));
    let admins = tenant
        .group_members(tenant.groups()[1]["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(admins[0], tenant.super_admin());

    let modes = strings(tenant.apps(), "signOnMode");
    for mode in [
        "SAML_2_0",
        "OPENID_CONNECT",
        "BOOKMARK",
        "AUTO_LOGIN",
        "BROWSER_PLUGIN",
    ] {
        assert!(modes.contains(mode), "{mode}");
    }
    let scopes: HashSet<String> = tenant
        .apps()
        .iter()
        .flat_map(|a| tenant.app_users(a["id"].as_str().unwrap()).unwrap())
        .filter_map(|u| u["scope"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        scopes,
        HashSet::from(["USER".to_owned(), "GROUP".to_owned()])
    );
    for app in tenant.apps() {
        let groups = tenant.app_groups(app["id"].as_str().unwrap()).unwrap();
        let priorities: Vec<u64> = groups
            .iter()
            .map(|g| g["priority"].as_u64().unwrap())
            .collect();
        assert_eq!(priorities, (0..groups.len() as u64).collect::<Vec<_>>());
    }

    let types = strings(tenant.policies(), "type");
    for kind in okta_emulator::POLICY_TYPES {
        assert!(types.contains(kind), "{kind}");
    }
    for policy in tenant.policies() {
        let rules = tenant.policy_rules(policy["id"].as_str().unwrap()).unwrap();
        assert!(!rules.is_empty());
        let kind = policy["type"].as_str().unwrap();
        if policy["system"] == true {
            // Default policies end with their system catch-all rule.
            assert!(rules.last().unwrap()["system"] == true, "{kind}");
        }
        let generated = [
            "OKTA_SIGN_ON",
            "PASSWORD",
            "MFA_ENROLL",
            "ACCESS_POLICY",
            "PROFILE_ENROLLMENT",
        ];
        if generated.contains(&kind) {
            assert!(
                rules.len() >= 2,
                "{kind} has custom rules and a default one"
            );
        }
    }
    // One IdP discovery policy per org, routing to Okta by default.
    let discovery: Vec<&Value> = tenant
        .policies()
        .iter()
        .filter(|p| p["type"] == "IDP_DISCOVERY")
        .collect();
    assert_eq!(discovery.len(), 1);
    let rules = tenant
        .policy_rules(discovery[0]["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(rules[0]["actions"]["idp"]["providers"][0]["type"], "OKTA");
}

#[test]
fn new_policy_types_leave_the_earlier_tenant_unchanged() {
    // The seven example-based types come from their own random stream, so every id and field the
    // first five types, users, groups and apps had before is unchanged (stack tests and the
    // compliance expectations rely on the seeded content).
    let tenant = Tenant::generate(1, 25, 6, 5);
    assert_eq!(tenant.users()[0]["id"], "00ulUKq5lKRkcMhaWVwO");
    assert_eq!(tenant.apps()[0]["id"], "0oaz7Og04eRpSCYGSxsy");
    assert_eq!(tenant.policies()[0]["id"], "00pJow7IFvdIBYxCY0yC");
}

#[test]
fn zero_sized_tenants_still_work() {
    let tenant = Tenant::generate(3, 0, 0, 0);
    assert_eq!(tenant.users().len(), 1, "the super admin always exists");
    assert_eq!(tenant.groups().len(), 1);
    assert!(tenant.apps().is_empty());
    assert!(!tenant.policies().is_empty());
}

#[test]
fn cli_prints_its_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_okta-emulator"))
        .args([
            "--port",
            "0",
            "--users",
            "12",
            "--token",
            "cli-token",
            "--seed",
            "5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run okta-emulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("okta-emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{base}"
    );
    let users = get(&format!("{base}/api/v1/users?limit=200"), "SSWS cli-token");
    let rejected = get(&format!("{base}/api/v1/users"), SSWS);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(users.status, 200);
    let expected = Tenant::generate(5, 12, 6, 5);
    assert_eq!(users.json()[0]["id"], expected.users()[0]["id"]);
    assert_eq!(
        rejected.status, 401,
        "the first --token replaces the default"
    );
}

#[test]
fn cli_rejects_bad_flags() {
    let output = Command::new(env!("CARGO_BIN_EXE_okta-emulator"))
        .args(["--rate-limit", "bogus=3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown rate-limit bucket"));
}
