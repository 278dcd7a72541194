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
    let tenant = emulator.tenant();
    let expected: Vec<&Value> = tenant
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
    for query in ["limit=abc", "limit=0", "limit=-5"] {
        let response = get(&format!("{base}/api/v1/users?{query}"), SSWS);
        let body = assert_okta_error(&response, 400, "E0000001");
        assert!(
            !body["errorCauses"].as_array().unwrap().is_empty(),
            "{query}"
        );
    }
    // A cursor naming nothing in the list is Okta's invalid paging request.
    let response = get(&format!("{base}/api/v1/users?after=00unknown"), SSWS);
    let body = assert_okta_error(&response, 400, "E0000029");
    assert_eq!(body["errorSummary"], "Invalid paging request.");
}

#[test]
fn page_sizes_follow_the_spec() {
    let emulator = start(EmulatorConfig {
        users: 60,
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let tenant = emulator.tenant();
    // Group rules: limit 1-200 (default 50); IdPs: 1-200 (default 20).
    let rules = get_ok(&format!("{base}/api/v1/groups/rules?limit=1"));
    assert_eq!(rules.json().as_array().unwrap().len(), 1);
    assert_okta_error(
        &get(&format!("{base}/api/v1/groups/rules?limit=0"), SSWS),
        400,
        "E0000001",
    );
    let (idps, pages) = collect_all(&format!("{base}/api/v1/idps?limit=2"));
    assert_eq!(idps.len(), 7);
    assert_eq!(pages, 4);
    let first = get_ok(&format!("{base}/api/v1/idps"));
    assert_eq!(first.json().as_array().unwrap().len(), 7);
    assert!(first.next_link().is_none(), "7 IdPs fit the default 20");
    // App group assignments: at least 20 a page, whatever smaller limit is asked for.
    let app = tenant
        .apps()
        .iter()
        .find(|a| tenant.app_groups(a["id"].as_str().unwrap()).unwrap().len() > 1)
        .expect("an app assigned to several groups");
    let id = app["id"].as_str().unwrap();
    let page = get_ok(&format!("{base}/api/v1/apps/{id}/groups?limit=1"));
    assert_eq!(
        page.json().as_array().unwrap().len(),
        tenant.app_groups(id).unwrap().len()
    );
    assert!(page.next_link().is_none());
    // Lists the spec declares no paging for come whole, with no `next` link.
    for path in [
        "/api/v1/authenticators?limit=1",
        "/api/v1/eventHooks?limit=1",
        "/api/v1/inlineHooks?limit=1",
    ] {
        let page = get_ok(&format!("{base}{path}"));
        assert!(page.json().as_array().unwrap().len() > 1, "{path}");
        assert!(page.next_link().is_none(), "{path}");
    }
}

#[test]
fn q_finds_ten_users_without_paging_and_never_deprovisioned_ones() {
    let emulator = start(EmulatorConfig {
        users: 300,
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let tenant = emulator.tenant();
    // Every login is firstname.lastname@example.com, so `q=a` matches many users.
    let matching: Vec<&serde_json::Value> = tenant
        .users()
        .iter()
        .filter(|u| u["status"] != "DEPROVISIONED")
        .filter(|u| {
            ["firstName", "lastName", "email"].iter().any(|k| {
                u["profile"][k]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .starts_with('a')
            })
        })
        .collect();
    assert!(matching.len() > 10);
    let page = get_ok(&format!("{base}/api/v1/users?q=a"));
    let ids_found = ids(page.json().as_array().unwrap());
    assert_eq!(ids_found.len(), 10, "q defaults to 10 results");
    assert!(page.next_link().is_none(), "q does not page");
    let wanted: Vec<String> = matching[..10]
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids_found, wanted);
    let page = get_ok(&format!("{base}/api/v1/users?q=a&limit=500"));
    assert_eq!(
        page.json().as_array().unwrap().len(),
        matching.len().min(200)
    );
    assert!(page.next_link().is_none());
    // A deprovisioned user is never a `q` match, even by its exact email.
    let gone = tenant
        .users()
        .iter()
        .find(|u| u["status"] == "DEPROVISIONED")
        .unwrap();
    let email = gone["profile"]["email"].as_str().unwrap();
    let found = get_ok(&format!("{base}/api/v1/users?q={email}&limit=200")).json();
    assert!(found
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["id"] != gone["id"]));
}

#[test]
fn groups_q_returns_up_to_300_without_paging() {
    let emulator = start(EmulatorConfig {
        groups: 320,
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let page = get_ok(&format!("{base}/api/v1/groups?q=Project"));
    assert_eq!(page.json().as_array().unwrap().len(), 300);
    assert!(page.next_link().is_none());
    let page = get_ok(&format!("{base}/api/v1/groups?q=Project&limit=5"));
    assert_eq!(page.json().as_array().unwrap().len(), 5);
    assert!(page.next_link().is_none());
    // Without `q` the list pages as before.
    assert!(get_ok(&format!("{base}/api/v1/groups?limit=5"))
        .next_link()
        .is_some());
}

#[test]
fn filter_and_search_results_include_deprovisioned_users() {
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
    // Any filter or search, not only one asking for the status.
    let everyone = format!(
        "{base}/api/v1/users?search=profile.organization%20eq%20%22Example%20Corp%22&limit=7"
    );
    let (found, _) = collect_all(&everyone);
    assert_eq!(found.len(), tenant.users().len());
    assert!(found.iter().any(|u| u["status"] == "DEPROVISIONED"));
    let url = format!("{base}/api/v1/users?filter=profile.email%20sw%20%22a%22");
    let (found, _) = collect_all(&url);
    let expected = tenant
        .users()
        .iter()
        .filter(|u| u["profile"]["email"].as_str().unwrap().starts_with('a'))
        .count();
    assert_eq!(found.len(), expected);
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
        &format!("{base}/api/v1/users?search=status%20co%20%22A%22"),
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
    // Okta's answer for a type outside its list (recorded for OAUTH_AUTHORIZATION_POLICY).
    for bogus in ["NOPE", "OAUTH_AUTHORIZATION_POLICY"] {
        let response = get(&format!("{base}/api/v1/policies?type={bogus}"), SSWS);
        let body = assert_okta_error(&response, 400, "E0000002");
        assert_eq!(
            body["errorSummary"],
            "The request was not valid: Invalid policy type specified"
        );
    }
    for kind in okta_emulator::POLICY_TYPES {
        let policies = get_ok(&format!("{base}/api/v1/policies?type={kind}")).json();
        let policies = policies.as_array().unwrap();
        assert!(!policies.is_empty(), "{kind}");
        assert!(policies.iter().all(|p| p["type"] == kind));
        if kind == "DEVICE_SIGNAL_COLLECTION" {
            // The spec's only example of this type is a custom policy.
            continue;
        }
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
}

#[test]
fn policy_types_a_licence_lacks_are_refused_like_okta() {
    let emulator = start(EmulatorConfig {
        unlicensed_policy_types: vec!["ENTITY_RISK".to_owned(), "POST_AUTH_SESSION".to_owned()],
        ..EmulatorConfig::default()
    });
    let base = emulator.base_url();
    let full = okta_emulator::Tenant::generate(1, 25, 6, 5);
    for kind in ["ENTITY_RISK", "POST_AUTH_SESSION"] {
        let response = get(&format!("{base}/api/v1/policies?type={kind}"), SSWS);
        assert_okta_error(&response, 400, "E0000002");
        assert!(emulator
            .tenant()
            .policies()
            .iter()
            .all(|p| p["type"] != kind));
        // Nor can the policy the full org would have be read by id.
        let id = full.policies().iter().find(|p| p["type"] == kind).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_okta_error(
            &get(&format!("{base}/api/v1/policies/{id}"), SSWS),
            404,
            "E0000007",
        );
        assert_okta_error(
            &get(&format!("{base}/api/v1/policies/{id}/rules"), SSWS),
            404,
            "E0000007",
        );
    }
    // Every other type is still there.
    get_ok(&format!("{base}/api/v1/policies?type=IDP_DISCOVERY"));
    assert_eq!(
        emulator.tenant().policies().len(),
        full.policies().len() - 2
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

    // Methods no endpoint of the path takes.
    for (method, path) in [
        ("PATCH", format!("/api/v1/users/{user}")),
        ("POST", "/api/v1/org".to_owned()),
        ("PUT", "/api/v1/logs".to_owned()),
        ("DELETE", "/api/v1/groups".to_owned()),
    ] {
        let response = send(
            method,
            &format!("{base}{path}"),
            &[("Authorization", SSWS)],
            Some("{}"),
        );
        assert_okta_error(&response, 405, "E0000022");
        assert_eq!(response.header("Allow"), Some("GET"), "{method} {path}");
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
    // With the challenge naming the scope the token lacks, as Okta sends it.
    let challenge = denied
        .header("WWW-Authenticate")
        .expect("a Bearer challenge");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    for part in [
        "scope=\"okta.groups.read\"",
        "error=\"insufficient_scope\"",
        "resource=\"/api/v1/groups\"",
    ] {
        assert!(challenge.contains(part), "{challenge}");
    }
    // Scopes follow the spec's security requirements beyond the identity families.
    let zones = format!("{}/api/v1/zones", emulator.base_url());
    assert_okta_error(&get(&zones, "Bearer access-token"), 403, "E0000006");
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
    let tenant = emulator.tenant();
    let oidc = tenant
        .apps()
        .iter()
        .find(|a| a["signOnMode"] == "OPENID_CONNECT")
        .unwrap();
    assert!(oidc["credentials"]["oauthClient"]["client_id"].is_string());
}
