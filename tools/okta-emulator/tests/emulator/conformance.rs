//! Spec conformance: every payload type the emulator serves validates against the response schema
//! Okta's OpenAPI spec declares for its endpoint.

use std::collections::BTreeSet;

use okta_emulator::{BearerToken, Bucket, EmulatorConfig, RateLimits, Tenant};
use serde_json::{json, Value};

use crate::schema::{fixtures_dir, Spec};
use crate::support::{collect_all, get, get_ok, send, start, SSWS};

/// The schema an example file is for, from its name (`<endpoint slug>--<example name>.json`).
fn schema_for_example(file: &str) -> Value {
    let slug = file.split("--").next().unwrap_or_default();
    let path = match slug {
        "error" => return Spec::component("Error"),
        "users" => "/api/v1/users",
        "users-id" => "/api/v1/users/{id}",
        "groups" => "/api/v1/groups",
        "groups-groupid" => "/api/v1/groups/{groupId}",
        "groups-groupid-users" => "/api/v1/groups/{groupId}/users",
        "apps" => "/api/v1/apps",
        "apps-appid" => "/api/v1/apps/{appId}",
        "apps-appid-users" => "/api/v1/apps/{appId}/users",
        "apps-appid-groups" => "/api/v1/apps/{appId}/groups",
        "policies" => "/api/v1/policies",
        "policies-policyid" => "/api/v1/policies/{policyId}",
        "policies-policyid-rules" => "/api/v1/policies/{policyId}/rules",
        "org" => "/api/v1/org",
        other => panic!("no schema known for example slug {other:?}"),
    };
    Spec::load().response(path).clone()
}

fn examples() -> Vec<(String, Value)> {
    let dir = fixtures_dir().join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("read {}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect()
}

fn example(name: &str) -> Value {
    examples()
        .into_iter()
        .find(|(file, _)| file == name)
        .unwrap_or_else(|| panic!("example {name} missing"))
        .1
}

#[test]
fn validator_accepts_the_spec_examples() {
    let spec = Spec::load();
    let examples = examples();
    assert!(examples.len() >= 15, "examples are in place");
    for (name, example) in examples {
        let errors = spec.violations(&example, &schema_for_example(&name));
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

type Mutation = (&'static str, fn(&mut Value));

/// Each mutation must turn a valid payload into an invalid one.
fn assert_rejects(spec: &Spec, valid: &Value, schema: &Value, mutations: &[Mutation]) {
    assert_eq!(
        spec.violations(valid, schema),
        Vec::<String>::new(),
        "the unmutated payload is valid"
    );
    for (what, mutate) in mutations {
        let mut copy = valid.clone();
        mutate(&mut copy);
        assert!(
            !spec.violations(&copy, schema).is_empty(),
            "accepted a payload with {what}"
        );
    }
}

#[test]
fn validator_rejects_mutated_payloads() {
    let spec = Spec::load();
    let user = example("users-id--user-example.json");
    assert_rejects(
        &spec,
        &user,
        spec.response("/api/v1/users/{id}"),
        &[
            ("an unknown status", |u| u["status"] = json!("HAPPY")),
            ("an undefined property", |u| {
                u["favouriteColour"] = json!("blue")
            }),
            ("a password value", |u| {
                u["credentials"]["password"]["value"] = json!("hunter2")
            }),
            ("a recovery answer", |u| {
                u["credentials"]["recovery_question"]["answer"] = json!("x")
            }),
            ("a malformed timestamp", |u| {
                u["created"] = json!("yesterday")
            }),
            ("null where not nullable", |u| u["created"] = Value::Null),
            ("a number for a string", |u| {
                u["profile"]["firstName"] = json!(42)
            }),
            ("a link without href", |u| {
                u["_links"]["self"] = json!({ "name": "x" })
            }),
        ],
    );

    let policies = example("policies--list-okta-sign-on-policy-response.json");
    assert_rejects(
        &spec,
        &policies,
        spec.response("/api/v1/policies"),
        &[
            ("a missing required name", |p| {
                drop(p[0].as_object_mut().unwrap().remove("name"))
            }),
            ("a type outside the discriminator mapping", |p| {
                p[0]["type"] = json!("BOGUS")
            }),
            ("a string priority", |p| p[0]["priority"] = json!("1")),
            ("a condition of another policy type", |p| {
                p[0]["conditions"]["authProvider"] = json!({ "provider": "OKTA" })
            }),
        ],
    );

    let assignments = example("apps-appid-groups--groupassignmentexlistresponse.json");
    assert_rejects(
        &spec,
        &assignments,
        spec.response("/api/v1/apps/{appId}/groups"),
        &[
            ("a non-integer priority", |a| {
                a[0]["priority"] = json!("high")
            }),
            ("an object where a list belongs", |a| {
                a[0] = json!({ "wrapped": a[0].clone() })
            }),
        ],
    );

    let error = example("error--errortoomanyrequests.json");
    assert_rejects(
        &spec,
        &error,
        &Spec::component("Error"),
        &[
            ("an undefined error field", |e| e["status"] = json!(429)),
            ("causes that are not a list", |e| {
                e["errorCauses"] = json!("none")
            }),
        ],
    );

    // Apps: the spec's own app examples contradict it (nulls, undocumented fields), so use the
    // emulator's, which the conformance test below proves valid.
    let tenant = Tenant::generate(1, 5, 1, 5);
    let app = |mode: &str| {
        tenant
            .apps()
            .iter()
            .find(|a| a["signOnMode"] == mode)
            .unwrap()
            .clone()
    };
    let schema = spec.response("/api/v1/apps/{appId}");
    assert_rejects(
        &spec,
        &app("SAML_2_0"),
        schema,
        &[
            ("an unknown sign-on mode", |a| {
                a["signOnMode"] = json!("TELEPATHY")
            }),
            ("a missing required SAML setting", |a| {
                drop(
                    a["settings"]["signOn"]
                        .as_object_mut()
                        .unwrap()
                        .remove("responseSigned"),
                )
            }),
            ("another mode's settings", |a| {
                a["settings"]["oauthClient"] = json!({ "grant_types": ["implicit"] })
            }),
            ("a missing label", |a| {
                drop(a.as_object_mut().unwrap().remove("label"))
            }),
        ],
    );
    assert_rejects(
        &spec,
        &app("OPENID_CONNECT"),
        schema,
        &[
            ("a name other than oidc_client", |a| {
                a["name"] = json!("my_client")
            }),
            ("no grant types", |a| {
                drop(
                    a["settings"]["oauthClient"]
                        .as_object_mut()
                        .unwrap()
                        .remove("grant_types"),
                )
            }),
            ("an unknown grant type", |a| {
                a["settings"]["oauthClient"]["grant_types"] = json!(["magic"])
            }),
        ],
    );
    assert_rejects(
        &spec,
        &app("BROWSER_PLUGIN"),
        schema,
        &[
            ("an unknown credential scheme", |a| {
                a["credentials"]["scheme"] = json!("POST_IT_NOTE")
            }),
            ("a missing required SWA field", |a| {
                drop(a["settings"]["app"].as_object_mut().unwrap().remove("url"))
            }),
        ],
    );
}

/// Validates GET responses against the spec and remembers what kinds of payload it saw.
struct Checker {
    spec: Spec,
    base: String,
    seen: BTreeSet<String>,
}

impl Checker {
    fn check(&mut self, template: &str, body: &Value) {
        let errors = self.spec.violations(body, self.spec.response(template));
        assert!(errors.is_empty(), "{template}: {errors:#?}");
        let items = body
            .as_array()
            .map_or_else(|| vec![body], |items| items.iter().collect());
        for item in items {
            let kind = item["signOnMode"]
                .as_str()
                .or(item["type"].as_str())
                .unwrap_or("-");
            self.seen.insert(format!("{template} {kind}"));
        }
    }

    /// Every page of a list, or a single object.
    fn get(&mut self, template: &str, path: &str) -> Value {
        let url = format!("{}{path}", self.base);
        let body = if self.spec.response(template)["type"] == "array" {
            Value::Array(collect_all(&url).0)
        } else {
            get_ok(&url).json()
        };
        self.check(template, &body);
        body
    }

    fn error(&self, response: &crate::support::Response) {
        assert!(response.status >= 400);
        let errors = self
            .spec
            .violations(&response.json(), &Spec::component("Error"));
        assert!(errors.is_empty(), "{}: {errors:#?}", response.status);
    }
}

/// Limits this test's many requests cannot reach.
fn generous() -> RateLimits {
    let mut limits = RateLimits::default();
    for bucket in Bucket::ALL {
        limits.set(bucket, 100_000);
    }
    limits
}

fn id(item: &Value) -> &str {
    item["id"].as_str().expect("id")
}

#[test]
fn every_emulator_payload_conforms_to_the_spec() {
    let emulator = start(EmulatorConfig {
        users: 60,
        groups: 6,
        apps: 10,
        okta_defaults: true,
        rate_limits: generous(),
        bearer_tokens: vec![BearerToken {
            token: "users-only".to_owned(),
            scopes: vec!["okta.users.read".to_owned()],
        }],
        ..EmulatorConfig::default()
    });
    let mut checker = Checker {
        spec: Spec::load(),
        base: emulator.base_url(),
        seen: BTreeSet::new(),
    };

    let users = checker.get("/api/v1/users", "/api/v1/users?limit=25");
    checker.get(
        "/api/v1/users",
        "/api/v1/users?filter=status%20eq%20%22DEPROVISIONED%22",
    );
    checker.get("/api/v1/users/{id}", "/api/v1/users/me");
    for user in emulator.tenant().users() {
        checker.get("/api/v1/users/{id}", &format!("/api/v1/users/{}", id(user)));
    }
    assert!(users.as_array().unwrap().len() > 25);

    for group in checker
        .get("/api/v1/groups", "/api/v1/groups?limit=3")
        .as_array()
        .unwrap()
    {
        checker.get(
            "/api/v1/groups/{groupId}",
            &format!("/api/v1/groups/{}", id(group)),
        );
        checker.get(
            "/api/v1/groups/{groupId}/users",
            &format!("/api/v1/groups/{}/users?limit=10", id(group)),
        );
    }

    for app in checker
        .get("/api/v1/apps", "/api/v1/apps?limit=4")
        .as_array()
        .unwrap()
    {
        let app_id = id(app);
        checker.get("/api/v1/apps/{appId}", &format!("/api/v1/apps/{app_id}"));
        let users = checker.get(
            "/api/v1/apps/{appId}/users",
            &format!("/api/v1/apps/{app_id}/users"),
        );
        for user in users.as_array().unwrap().iter().take(3) {
            checker.get(
                "/api/v1/apps/{appId}/users/{userId}",
                &format!("/api/v1/apps/{app_id}/users/{}", id(user)),
            );
        }
        let groups = checker.get(
            "/api/v1/apps/{appId}/groups",
            &format!("/api/v1/apps/{app_id}/groups"),
        );
        for group in groups.as_array().unwrap() {
            checker.get(
                "/api/v1/apps/{appId}/groups/{groupId}",
                &format!("/api/v1/apps/{app_id}/groups/{}", id(group)),
            );
        }
    }

    for kind in okta_emulator::POLICY_TYPES {
        for policy in checker
            .get("/api/v1/policies", &format!("/api/v1/policies?type={kind}"))
            .as_array()
            .unwrap()
        {
            let policy_id = id(policy);
            checker.get(
                "/api/v1/policies/{policyId}",
                &format!("/api/v1/policies/{policy_id}"),
            );
            let rules = checker.get(
                "/api/v1/policies/{policyId}/rules",
                &format!("/api/v1/policies/{policy_id}/rules"),
            );
            for rule in rules.as_array().unwrap() {
                checker.get(
                    "/api/v1/policies/{policyId}/rules/{ruleId}",
                    &format!("/api/v1/policies/{policy_id}/rules/{}", id(rule)),
                );
            }
        }
    }
    checker.get("/api/v1/org", "/api/v1/org");

    // Org configuration beyond identities.
    for path in [
        "/api/v1/groups/rules",
        "/api/v1/iam/assignees/users",
        "/api/v1/authenticators",
        "/api/v1/zones",
        "/api/v1/idps",
        "/api/v1/eventHooks",
        "/api/v1/inlineHooks",
        "/api/v1/api-tokens",
        "/api/v1/threats/configuration",
    ] {
        checker.get(path, path);
    }
    // And each of them by id.
    for (list, one) in [
        ("/api/v1/groups/rules", "/api/v1/groups/rules/{groupRuleId}"),
        (
            "/api/v1/authenticators",
            "/api/v1/authenticators/{authenticatorId}",
        ),
        ("/api/v1/zones", "/api/v1/zones/{zoneId}"),
        ("/api/v1/idps", "/api/v1/idps/{idpId}"),
        ("/api/v1/eventHooks", "/api/v1/eventHooks/{eventHookId}"),
        ("/api/v1/inlineHooks", "/api/v1/inlineHooks/{inlineHookId}"),
        ("/api/v1/api-tokens", "/api/v1/api-tokens/{apiTokenId}"),
    ] {
        for item in checker.get(list, list).as_array().unwrap() {
            checker.get(one, &format!("{list}/{}", id(item)));
        }
    }
    let admin = id(emulator.tenant().super_admin()).to_owned();
    checker.get(
        "/api/v1/users/{userId}/roles",
        &format!("/api/v1/users/{admin}/roles"),
    );
    for group in emulator.tenant().groups().iter().take(3) {
        checker.get(
            "/api/v1/groups/{groupId}/roles",
            &format!("/api/v1/groups/{}/roles", id(group)),
        );
    }
    for server in checker
        .get(
            "/api/v1/authorizationServers",
            "/api/v1/authorizationServers",
        )
        .as_array()
        .unwrap()
    {
        let base = format!("/api/v1/authorizationServers/{}", id(server));
        checker.get("/api/v1/authorizationServers/{authServerId}", &base);
        let scopes = checker.get(
            "/api/v1/authorizationServers/{authServerId}/scopes",
            &format!("{base}/scopes"),
        );
        for scope in scopes.as_array().unwrap() {
            checker.get(
                "/api/v1/authorizationServers/{authServerId}/scopes/{scopeId}",
                &format!("{base}/scopes/{}", id(scope)),
            );
        }
        let claims = checker.get(
            "/api/v1/authorizationServers/{authServerId}/claims",
            &format!("{base}/claims"),
        );
        for claim in claims.as_array().unwrap() {
            checker.get(
                "/api/v1/authorizationServers/{authServerId}/claims/{claimId}",
                &format!("{base}/claims/{}", id(claim)),
            );
        }
        for policy in checker
            .get(
                "/api/v1/authorizationServers/{authServerId}/policies",
                &format!("{base}/policies"),
            )
            .as_array()
            .unwrap()
        {
            checker.get(
                "/api/v1/authorizationServers/{authServerId}/policies/{policyId}",
                &format!("{base}/policies/{}", id(policy)),
            );
            let rules = checker.get(
                "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules",
                &format!("{base}/policies/{}/rules", id(policy)),
            );
            for rule in rules.as_array().unwrap() {
                checker.get(
                    "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}",
                    &format!("{base}/policies/{}/rules/{}", id(policy), id(rule)),
                );
            }
        }
    }

    // Every payload kind was met, not just some.
    for expected in [
        "/api/v1/apps SAML_2_0",
        "/api/v1/apps OPENID_CONNECT",
        "/api/v1/apps BOOKMARK",
        "/api/v1/apps AUTO_LOGIN",
        "/api/v1/apps BROWSER_PLUGIN",
        "/api/v1/zones/{zoneId} DYNAMIC_V2",
        "/api/v1/groups BUILT_IN",
        "/api/v1/groups OKTA_GROUP",
        "/api/v1/policies OKTA_SIGN_ON",
        "/api/v1/policies PASSWORD",
        "/api/v1/policies MFA_ENROLL",
        "/api/v1/policies ACCESS_POLICY",
        "/api/v1/policies PROFILE_ENROLLMENT",
        "/api/v1/policies/{policyId}/rules SIGN_ON",
        "/api/v1/policies/{policyId}/rules PASSWORD",
        "/api/v1/policies/{policyId}/rules MFA_ENROLL",
        "/api/v1/policies/{policyId}/rules ACCESS_POLICY",
        "/api/v1/policies/{policyId}/rules PROFILE_ENROLLMENT",
        "/api/v1/policies IDP_DISCOVERY",
        "/api/v1/policies ENTITY_RISK",
        "/api/v1/policies POST_AUTH_SESSION",
        "/api/v1/policies DEVICE_SIGNAL_COLLECTION",
        "/api/v1/policies SESSION_VIOLATION_DETECTION",
        "/api/v1/policies CLIENT_UPDATE",
        "/api/v1/policies IDENTITY_CLAIM_SOURCING",
        "/api/v1/policies/{policyId}/rules IDP_DISCOVERY",
        "/api/v1/policies/{policyId}/rules ENTITY_RISK",
        "/api/v1/policies/{policyId}/rules POST_AUTH_SESSION",
        "/api/v1/policies/{policyId}/rules DEVICE_SIGNAL_COLLECTION",
        "/api/v1/policies/{policyId}/rules SESSION_VIOLATION_DETECTION",
        "/api/v1/policies/{policyId}/rules CLIENT_UPDATE",
        "/api/v1/policies/{policyId}/rules IDENTITY_CLAIM_SOURCING",
        "/api/v1/apps/{appId}/users -",
        "/api/v1/apps/{appId}/groups -",
        "/api/v1/groups/{groupId}/users -",
        "/api/v1/org -",
        "/api/v1/groups/{groupId}/roles APP_ADMIN",
        "/api/v1/users/{userId}/roles SUPER_ADMIN",
        "/api/v1/zones IP",
        "/api/v1/idps SAML2",
        "/api/v1/authorizationServers/{authServerId}/policies OAUTH_AUTHORIZATION_POLICY",
        "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules RESOURCE_ACCESS",
    ] {
        assert!(
            checker.seen.contains(expected),
            "never validated {expected}: {:#?}",
            checker.seen
        );
    }

    // And the error bodies.
    let base = emulator.base_url();
    checker.error(&get(&format!("{base}/api/v1/policies"), SSWS));
    checker.error(&get(&format!("{base}/api/v1/policies?type=NOPE"), SSWS));
    checker.error(&get(&format!("{base}/api/v1/users?after=nope"), SSWS));
    checker.error(&get(&format!("{base}/api/v1/users?limit=x"), SSWS));
    checker.error(&get(&format!("{base}/api/v1/users"), "SSWS nope"));
    checker.error(&get(&format!("{base}/api/v1/groups"), "Bearer users-only"));
    checker.error(&get(&format!("{base}/api/v1/users/00unope"), SSWS));
    checker.error(&send(
        "DELETE",
        &format!("{base}/api/v1/org"),
        &[("Authorization", SSWS)],
        None,
    ));
    let faults = format!("{base}/__emulator/faults");
    for status in [429, 500, 503] {
        send(
            "POST",
            &faults,
            &[],
            Some(&json!({"path_prefix": "/api/v1/org", "status": status}).to_string()),
        );
        checker.error(&get(&format!("{base}/api/v1/org"), SSWS));
    }
}
