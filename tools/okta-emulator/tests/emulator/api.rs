//! Endpoints, pagination, filters, authentication and error bodies.

use std::collections::HashSet;

use okta_emulator::{with_origin, BearerToken, Bucket, EmulatorConfig, RateLimits};
use serde_json::Value;

use crate::support::{
    assert_okta_error, collect_all, get, get_ok, send, start, start_default, SSWS,
};

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

#[test]
fn pagination_collects_every_user_exactly_once() {
    let emulator = start(EmulatorConfig {
        users: 450,
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let first = get_ok(&format!("{base}/api/v1/users"));
    assert_eq!(first.json().as_array().unwrap().len(), 200, "default limit");
    assert_eq!(
        first.all("Link")[0],
        format!("<{base}/api/v1/users>; rel=\"self\"")
    );

    let (users, pages) = collect_all(&format!("{base}/api/v1/users?limit=200"));
    let expected: Vec<&Value> = emulator
        .tenant()
        .users()
        .iter()
        .filter(|u| u["status"] != "DEPROVISIONED")
        .collect();
    assert!(expected.len() > 400, "enough users for three pages");
    assert_eq!(pages, expected.len().div_ceil(200));
    let unique: HashSet<String> = ids(&users).into_iter().collect();
    assert_eq!(unique.len(), users.len(), "no user twice");
    let expected: Vec<Value> = expected.iter().map(|u| with_origin(u, &base)).collect();
    assert_eq!(
        users, expected,
        "every user, in order, as the tenant holds them"
    );
}

#[test]
fn link_headers_have_okta_format_and_end_on_the_last_page() {
    let emulator = start_default();
    let base = emulator.base_url();
    let page = get_ok(&format!("{base}/api/v1/users?limit=10"));
    let links = page.all("Link");
    assert_eq!(links.len(), 2, "self and next as separate headers");
    assert_eq!(
        links[0],
        format!("<{base}/api/v1/users?limit=10>; rel=\"self\"")
    );
    let last_id = page.json()[9]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        links[1],
        format!("<{base}/api/v1/users?limit=10&after={last_id}>; rel=\"next\"")
    );

    let mut next = page.next_link();
    let mut last = page;
    while let Some(url) = next {
        last = get_ok(&url);
        next = last.next_link();
    }
    assert_eq!(last.all("Link").len(), 1, "only rel=self on the last page");
}

#[test]
fn next_link_uses_the_host_the_client_called() {
    let emulator = start_default();
    let url = format!("{}/api/v1/groups?limit=2", emulator.base_url());
    let response = send(
        "GET",
        &url,
        &[("Host", "okta.test:8443"), ("Authorization", SSWS)],
        None,
    );
    assert_eq!(response.status, 200);
    let next = response.next_link().expect("next link");
    assert!(
        next.starts_with("http://okta.test:8443/api/v1/groups?limit=2&after=00g"),
        "{next}"
    );
    let body = response.json();
    assert!(body[0]["_links"]["users"]["href"]
        .as_str()
        .unwrap()
        .starts_with("http://okta.test:8443/api/v1/groups/"));
}

#[test]
fn next_link_keeps_filters() {
    let emulator = start(EmulatorConfig {
        users: 120,
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let filter = "status%20eq%20%22ACTIVE%22";
    let (active, pages) = collect_all(&format!("{base}/api/v1/users?filter={filter}&limit=7"));
    assert!(pages > 2);
    assert!(active.iter().all(|u| u["status"] == "ACTIVE"));
    let expected = emulator
        .tenant()
        .users()
        .iter()
        .filter(|u| u["status"] == "ACTIVE")
        .count();
    assert_eq!(active.len(), expected);
}

#[test]
fn every_list_endpoint_pages_through_the_tenant() {
    let mut rate_limits = RateLimits::default();
    rate_limits.set(Bucket::Apps, 10_000);
    let emulator = start(EmulatorConfig {
        users: 60,
        groups: 8,
        apps: 12,
        rate_limits,
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let tenant = emulator.tenant();
    let origin = |items: Vec<&Value>| -> Vec<Value> {
        items.into_iter().map(|v| with_origin(v, &base)).collect()
    };

    let (groups, _) = collect_all(&format!("{base}/api/v1/groups?limit=3"));
    assert_eq!(groups, origin(tenant.groups().iter().collect()));
    for group in tenant.groups() {
        let id = group["id"].as_str().unwrap();
        let (members, _) = collect_all(&format!("{base}/api/v1/groups/{id}/users?limit=4"));
        assert_eq!(members, origin(tenant.group_members(id).unwrap()));
    }
    let (apps, _) = collect_all(&format!("{base}/api/v1/apps?limit=5"));
    assert_eq!(apps, origin(tenant.apps().iter().collect()));
    for app in tenant.apps() {
        let id = app["id"].as_str().unwrap();
        let (users, _) = collect_all(&format!("{base}/api/v1/apps/{id}/users?limit=3"));
        assert_eq!(
            users,
            origin(tenant.app_users(id).unwrap().iter().collect())
        );
        let (groups, _) = collect_all(&format!("{base}/api/v1/apps/{id}/groups?limit=1"));
        assert_eq!(
            groups,
            origin(tenant.app_groups(id).unwrap().iter().collect())
        );
    }
    for policy in tenant.policies() {
        let id = policy["id"].as_str().unwrap();
        let (rules, _) = collect_all(&format!("{base}/api/v1/policies/{id}/rules"));
        assert_eq!(
            rules,
            origin(tenant.policy_rules(id).unwrap().iter().collect())
        );
    }
}

#[test]
fn limit_above_the_maximum_is_clamped() {
    let emulator = start(EmulatorConfig {
        users: 260,
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let page = get_ok(&format!("{base}/api/v1/users?limit=100000"));
    assert_eq!(page.json().as_array().unwrap().len(), 200);
    assert!(page.next_link().unwrap().contains("limit=200&after="));

    let app = emulator.tenant().apps()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = get_ok(&format!("{base}/api/v1/apps?limit=5000"));
    assert_eq!(page.json().as_array().unwrap().len(), 5);
    let page = get_ok(&format!("{base}/api/v1/apps/{app}/users?limit=100000"));
    let expected = emulator.tenant().app_users(&app).unwrap().len();
    assert_eq!(page.json().as_array().unwrap().len(), expected.min(500));
    assert!(get_ok(&format!("{base}/api/v1/apps?limit=-1"))
        .next_link()
        .is_none());
}

#[test]
fn invalid_limits_and_cursors_are_400() {
    let emulator = start_default();
    let base = emulator.base_url();
    for query in ["limit=abc", "limit=0", "limit=-5", "after=00unknown"] {
        let response = get(&format!("{base}/api/v1/users?{query}"), SSWS);
        let body = assert_okta_error(&response, 400, "E0000001");
        assert!(
            !body["errorCauses"].as_array().unwrap().is_empty(),
            "{query}"
        );
    }
}

#[test]
fn deprovisioned_users_only_when_asked_for() {
    let emulator = start(EmulatorConfig {
        users: 80,
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let tenant = emulator.tenant();
    let deprovisioned: Vec<String> = ids(&tenant
        .users()
        .iter()
        .filter(|u| u["status"] == "DEPROVISIONED")
        .cloned()
        .collect::<Vec<_>>());
    assert!(!deprovisioned.is_empty());

    let (listed, _) = collect_all(&format!("{base}/api/v1/users"));
    assert!(listed.iter().all(|u| u["status"] != "DEPROVISIONED"));
    assert_eq!(listed.len() + deprovisioned.len(), tenant.users().len());

    for param in ["filter", "search"] {
        let url = format!("{base}/api/v1/users?{param}=status%20eq%20%22DEPROVISIONED%22");
        assert_eq!(ids(&collect_all(&url).0), deprovisioned, "{param}");
    }
    let url = format!(
        "{base}/api/v1/users?search=status+eq+%22DEPROVISIONED%22+or+status+eq+%22SUSPENDED%22"
    );
    let (mixed, _) = collect_all(&url);
    assert!(mixed.iter().any(|u| u["status"] == "SUSPENDED"));
    assert!(mixed.iter().any(|u| u["status"] == "DEPROVISIONED"));

    // A deprovisioned user can still be read by id, and is in no group.
    get_ok(&format!("{base}/api/v1/users/{}", deprovisioned[0]));
    let everyone = tenant.groups()[0]["id"].as_str().unwrap();
    let (members, _) = collect_all(&format!("{base}/api/v1/groups/{everyone}/users"));
    assert_eq!(members.len(), listed.len());
}

#[test]
fn q_and_search_on_other_attributes() {
    let emulator = start_default();
    let base = emulator.base_url();
    let (users, _) = collect_all(&format!("{base}/api/v1/users?q=aver"));
    assert_eq!(users[0]["profile"]["login"], "avery.admin@example.com");
    let (groups, _) = collect_all(&format!(
        "{base}/api/v1/groups?filter=type%20eq%20%22BUILT_IN%22"
    ));
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["profile"]["name"], "Everyone");
    let (saml, _) = collect_all(&format!(
        "{base}/api/v1/apps?filter=signOnMode%20eq%20%22SAML_2_0%22"
    ));
    assert!(!saml.is_empty() && saml.iter().all(|a| a["signOnMode"] == "SAML_2_0"));
    let bad = get(
        &format!("{base}/api/v1/users?search=status%20gt%20%22A%22"),
        SSWS,
    );
    assert_okta_error(&bad, 400, "E0000031");
}

#[test]
fn single_resources_and_me() {
    let emulator = start_default();
    let base = emulator.base_url();
    let tenant = emulator.tenant();
    let me = get_ok(&format!("{base}/api/v1/users/me")).json();
    assert_eq!(me, with_origin(tenant.super_admin(), &base));
    let by_login = get_ok(&format!("{base}/api/v1/users/avery.admin@example.com")).json();
    assert_eq!(by_login, me);
    let org = get_ok(&format!("{base}/api/v1/org")).json();
    assert_eq!(org, with_origin(tenant.org(), &base));
    let app = &tenant.apps()[0];
    let app_id = app["id"].as_str().unwrap();
    assert_eq!(
        get_ok(&format!("{base}/api/v1/apps/{app_id}")).json(),
        with_origin(app, &base)
    );
    let assignment = &tenant.app_users(app_id).unwrap()[0];
    let user_id = assignment["id"].as_str().unwrap();
    assert_eq!(
        get_ok(&format!("{base}/api/v1/apps/{app_id}/users/{user_id}")).json(),
        with_origin(assignment, &base)
    );
    let policy = &tenant.policies()[0];
    let policy_id = policy["id"].as_str().unwrap();
    let rule = &tenant.policy_rules(policy_id).unwrap()[0];
    let rule_id = rule["id"].as_str().unwrap();
    assert_eq!(
        get_ok(&format!(
            "{base}/api/v1/policies/{policy_id}/rules/{rule_id}"
        ))
        .json(),
        with_origin(rule, &base)
    );
}

#[test]
fn policies_need_a_type_and_list_only_that_type() {
    let emulator = start_default();
    let base = emulator.base_url();
    let missing = get(&format!("{base}/api/v1/policies"), SSWS);
    assert_okta_error(&missing, 400, "E0000001");
    let bogus = get(&format!("{base}/api/v1/policies?type=NOPE"), SSWS);
    assert_okta_error(&bogus, 400, "E0000001");
    for kind in [
        "OKTA_SIGN_ON",
        "PASSWORD",
        "MFA_ENROLL",
        "ACCESS_POLICY",
        "PROFILE_ENROLLMENT",
    ] {
        let policies = get_ok(&format!("{base}/api/v1/policies?type={kind}")).json();
        let policies = policies.as_array().unwrap();
        assert!(policies.len() >= 2, "{kind}");
        assert!(policies.iter().all(|p| p["type"] == kind));
        assert!(
            policies.iter().any(|p| p["system"] == true),
            "{kind} has a default policy"
        );
        for policy in policies {
            let rules_url = format!(
                "{base}/api/v1/policies/{}/rules",
                policy["id"].as_str().unwrap()
            );
            let rules = get_ok(&rules_url).json();
            let priorities: Vec<u64> = rules
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["priority"].as_u64().unwrap())
                .collect();
            assert!(
                priorities.windows(2).all(|w| w[0] < w[1]),
                "{kind} rules by priority"
            );
            assert_eq!(rules.as_array().unwrap().last().unwrap()["system"], true);
        }
    }
    assert_eq!(
        get_ok(&format!("{base}/api/v1/policies?type=IDP_DISCOVERY")).json(),
        serde_json::json!([])
    );
}

#[test]
fn unknown_ids_routes_and_methods() {
    let emulator = start_default();
    let base = emulator.base_url();
    let tenant = emulator.tenant();
    let app = tenant.apps()[0]["id"].as_str().unwrap();
    let policy = tenant.policies()[0]["id"].as_str().unwrap();
    for path in [
        "/api/v1/users/00unope".to_owned(),
        "/api/v1/groups/00gnope".to_owned(),
        "/api/v1/groups/00gnope/users".to_owned(),
        "/api/v1/apps/0oanope".to_owned(),
        "/api/v1/apps/0oanope/users".to_owned(),
        format!("/api/v1/apps/{app}/groups/00gnope"),
        format!("/api/v1/policies/{policy}/rules/0prnope"),
        "/api/v1/policies/00pnope/rules".to_owned(),
        "/api/v1/nothing-here".to_owned(),
        "/not-api".to_owned(),
    ] {
        let response = get(&format!("{base}{path}"), SSWS);
        let body = assert_okta_error(&response, 404, "E0000007");
        assert!(
            body["errorSummary"]
                .as_str()
                .unwrap()
                .starts_with("Not found: "),
            "{path}"
        );
    }
    let user = tenant.users()[0]["id"].as_str().unwrap();
    let summary = assert_okta_error(
        &get(&format!("{base}/api/v1/users/00unope"), SSWS),
        404,
        "E0000007",
    );
    assert_eq!(
        summary["errorSummary"],
        "Not found: Resource not found: 00unope (User)"
    );

    for method in ["POST", "PUT", "DELETE"] {
        let response = send(
            method,
            &format!("{base}/api/v1/users/{user}"),
            &[("Authorization", SSWS)],
            Some("{}"),
        );
        assert_okta_error(&response, 405, "E0000022");
        assert_eq!(response.header("Allow"), Some("GET"));
    }
}

#[test]
fn authentication_errors() {
    let emulator = start(EmulatorConfig {
        bearer_tokens: vec![BearerToken {
            token: "access-token".to_owned(),
            scopes: vec!["okta.users.read".to_owned(), "okta.apps.read".to_owned()],
        }],
        ..EmulatorConfig::default()
    });
    let users = format!("{}/api/v1/users", emulator.base_url());
    let response = send("GET", &users, &[], None);
    let body = assert_okta_error(&response, 401, "E0000011");
    assert_eq!(body["errorSummary"], "Invalid token provided");
    for authorization in [
        "SSWS wrong",
        "Bearer demo-okta-token",
        "Basic abc",
        "SSWS",
        "demo-okta-token",
    ] {
        assert_okta_error(&get(&users, authorization), 401, "E0000011");
    }
    // Rate-limit headers come with every API response, errors included.
    assert!(response.header("X-Rate-Limit-Remaining").is_some());

    get_ok(&users);
    assert_eq!(get(&users, "Bearer access-token").status, 200);
    let groups = format!("{}/api/v1/groups", emulator.base_url());
    let denied = get(&groups, "Bearer access-token");
    let body = assert_okta_error(&denied, 403, "E0000006");
    assert_eq!(
        body["errorSummary"],
        "You do not have permission to perform the requested action"
    );
    assert_okta_error(
        &get(
            &format!("{}/api/v1/org", emulator.base_url()),
            "Bearer access-token",
        ),
        403,
        "E0000006",
    );
}

#[test]
fn secrets_never_leave_the_emulator() {
    let emulator = start(EmulatorConfig {
        users: 50,
        apps: 10,
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let (apps, _) = collect_all(&format!("{base}/api/v1/apps"));
    let (users, _) = collect_all(&format!("{base}/api/v1/users?search=status%20eq%20%22DEPROVISIONED%22%20or%20status%20eq%20%22ACTIVE%22"));
    let text = serde_json::to_string(&(apps, users)).unwrap();
    for secret in [
        "\"client_secret\"",
        "\"value\"",
        "\"answer\"",
        "\"sharedSecret\"",
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    let oidc = emulator
        .tenant()
        .apps()
        .iter()
        .find(|a| a["signOnMode"] == "OPENID_CONNECT")
        .unwrap();
    assert!(oidc["credentials"]["oauthClient"]["client_id"].is_string());
}
