//! `/__emulator/changes`: an admin changes the org with Okta's write semantics, and each change
//! logs the events Okta logs, attributed to the actor, client and transaction.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{assert_okta_error, get, get_ok, send, start_default, SSWS};
use crate::syslog::{change, iso_ago, one};

fn events_since(base: &str, since: &str) -> Vec<Value> {
    get_ok(&format!("{base}/api/v1/logs?since={since}&limit=1000"))
        .json()
        .as_array()
        .unwrap()
        .clone()
}

fn types(result: &Value) -> Vec<String> {
    result["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn changes_need_one_of_the_orgs_tokens() {
    let emulator = start_default();
    let url = format!("{}/__emulator/changes", emulator.base_url());
    let body = json!({"requests": []}).to_string();
    assert_okta_error(&send("POST", &url, &[], Some(&body)), 401, "E0000011");
    assert_okta_error(
        &send("POST", &url, &[("Authorization", "SSWS nope")], Some(&body)),
        401,
        "E0000011",
    );
    let bad = send(
        "POST",
        &url,
        &[("Authorization", SSWS)],
        Some(r#"{"requests": 3}"#),
    );
    assert_okta_error(&bad, 400, "E0000001");
    // An unknown write path is Okta's 404, reported per request.
    let results = change(
        &emulator.base_url(),
        &json!({"requests": [{"method": "POST", "path": "/api/v1/nothing"}]}),
    );
    assert_eq!(results[0]["status"], 404);
    assert_eq!(results[0]["body"]["errorCode"], "E0000007");
}

#[test]
fn events_name_the_actor_client_transaction_and_targets() {
    let emulator = start_default();
    let base = emulator.base_url();
    let tenant = emulator.tenant();
    let actor = tenant.users()[1].clone();
    let user = tenant.users()[2]["id"].as_str().unwrap().to_owned();
    let group = tenant.groups()[2]["id"].as_str().unwrap().to_owned();
    let since = iso_ago(Duration::from_secs(60));
    let results = change(
        &base,
        &json!({
            "actor": actor["profile"]["login"],
            "client": {
                "ipAddress": "203.0.113.99",
                "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36",
                "geographicalContext": {"city": "Lagos", "country": "Nigeria"},
            },
            "requests": [
                {"method": "PUT", "path": format!("/api/v1/groups/{group}/users/{user}")},
                {"method": "POST", "path": format!("/api/v1/users/{user}/lifecycle/deactivate")},
            ],
        }),
    );
    assert_eq!(types(&results[0]), ["group.user_membership.add"]);
    assert_eq!(types(&results[1]), ["user.lifecycle.deactivate"]);
    assert_ne!(results[0]["transaction"], results[1]["transaction"]);
    let logged = events_since(&base, &since);
    assert_eq!(logged.len(), 2);
    let (membership, deactivation) = (&logged[0], &logged[1]);
    for (event, result) in [(membership, &results[0]), (deactivation, &results[1])] {
        assert_eq!(event["actor"]["id"], actor["id"]);
        assert_eq!(event["actor"]["type"], "User");
        assert_eq!(event["actor"]["alternateId"], actor["profile"]["login"]);
        assert_eq!(event["client"]["ipAddress"], "203.0.113.99");
        assert_eq!(event["client"]["userAgent"]["browser"], "CHROME");
        assert_eq!(event["client"]["userAgent"]["os"], "Windows");
        assert_eq!(event["client"]["geographicalContext"]["city"], "Lagos");
        assert_eq!(event["transaction"]["id"], result["transaction"]);
        assert_eq!(
            event["debugContext"]["debugData"]["requestId"],
            result["transaction"]
        );
        assert_eq!(event["outcome"]["result"], "SUCCESS");
    }
    assert_eq!(
        membership["debugContext"]["debugData"]["requestUri"],
        format!("/api/v1/groups/{group}/users/{user}")
    );
    let targets: Vec<(&str, &str)> = membership["target"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["type"].as_str().unwrap(), t["id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        targets,
        [("User", user.as_str()), ("UserGroup", group.as_str())]
    );
    assert_eq!(deactivation["target"][0]["id"], user.as_str());
    // The default actor is the super admin, from the Admin Console's place.
    one(
        &base,
        "POST",
        "/api/v1/groups",
        json!({"profile": {"name": "By default"}}),
        200,
    );
    let last = events_since(&base, &since).pop().unwrap();
    assert_eq!(last["actor"]["id"], tenant.super_admin()["id"]);
    assert_eq!(last["client"]["ipAddress"], "10.0.0.1");
}

#[test]
fn users_follow_oktas_lifecycle() {
    let emulator = start_default();
    let base = emulator.base_url();
    let profile = |login: &str| json!({"firstName": "Nia", "lastName": "Okafor", "email": login, "login": login});
    // activate=false: STAGED; activation without a password: PROVISIONED.
    let staged = one(
        &base,
        "POST",
        "/api/v1/users?activate=false",
        json!({"profile": profile("nia@example.com")}),
        200,
    );
    assert_eq!(staged["body"]["status"], "STAGED");
    assert_eq!(types(&staged), ["user.lifecycle.create"]);
    let id = staged["body"]["id"].as_str().unwrap().to_owned();
    let activated = one(
        &base,
        "POST",
        &format!("/api/v1/users/{id}/lifecycle/activate?sendEmail=false"),
        Value::Null,
        200,
    );
    assert!(activated["body"]["activationToken"].is_string());
    assert_eq!(
        get_ok(&format!("{base}/api/v1/users/{id}")).json()["status"],
        "PROVISIONED"
    );
    // With a password: ACTIVE at once, and the password never shows.
    let active = one(
        &base,
        "POST",
        "/api/v1/users",
        json!({"profile": profile("kai@example.com"), "credentials": {"password": {"value": "Tr0ub4dor&3x!"}, "recovery_question": {"question": "Pet?", "answer": "Rex"}}}),
        200,
    );
    assert_eq!(
        types(&active),
        ["user.lifecycle.create", "user.lifecycle.activate"]
    );
    let kai = active["body"]["id"].as_str().unwrap().to_owned();
    let shown = get_ok(&format!("{base}/api/v1/users/{kai}")).json();
    assert_eq!(shown["status"], "ACTIVE");
    assert_eq!(shown["credentials"]["password"], json!({}));
    assert_eq!(
        shown["credentials"]["recovery_question"],
        json!({"question": "Pet?"})
    );
    let text = shown.to_string();
    assert!(!text.contains("Tr0ub4dor") && !text.contains("Rex"));
    // A login is unique.
    let dup = one(
        &base,
        "POST",
        "/api/v1/users",
        json!({"profile": profile("kai@example.com")}),
        400,
    );
    assert_eq!(dup["body"]["errorCode"], "E0000001");
    // suspend needs ACTIVE; unlock needs LOCKED_OUT.
    one(
        &base,
        "POST",
        &format!("/api/v1/users/{kai}/lifecycle/suspend"),
        Value::Null,
        200,
    );
    let again = one(
        &base,
        "POST",
        &format!("/api/v1/users/{kai}/lifecycle/suspend"),
        Value::Null,
        400,
    );
    assert_eq!(again["body"]["errorCode"], "E0000001");
    one(
        &base,
        "POST",
        &format!("/api/v1/users/{kai}/lifecycle/unsuspend"),
        Value::Null,
        200,
    );
    let unlock = one(
        &base,
        "POST",
        &format!("/api/v1/users/{kai}/lifecycle/unlock"),
        Value::Null,
        403,
    );
    assert_eq!(unlock["body"]["errorCode"], "E0000032");
    // Profile updates log the change.
    let updated = one(
        &base,
        "POST",
        &format!("/api/v1/users/{kai}"),
        json!({"profile": {"title": "CFO"}}),
        200,
    );
    assert_eq!(updated["body"]["profile"]["title"], "CFO");
    assert_eq!(updated["body"]["profile"]["login"], "kai@example.com");
    assert_eq!(types(&updated), ["user.account.update_profile"]);
    // Deactivated: out of the plain list and every group; back only to PROVISIONED.
    one(
        &base,
        "POST",
        &format!("/api/v1/users/{kai}/lifecycle/deactivate"),
        Value::Null,
        200,
    );
    let listed = get_ok(&format!("{base}/api/v1/users?limit=200")).json();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["id"] != kai.as_str()));
    let everyone = emulator.tenant().groups()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let members = get_ok(&format!("{base}/api/v1/groups/{everyone}/users?limit=1000")).json();
    assert!(members
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["id"] != kai.as_str()));
    let back = one(
        &base,
        "POST",
        &format!("/api/v1/users/{kai}/lifecycle/activate"),
        Value::Null,
        200,
    );
    assert_eq!(types(&back), ["user.lifecycle.activate"]);
    let user = get_ok(&format!("{base}/api/v1/users/{kai}")).json();
    assert_eq!(user["status"], "PROVISIONED");
    assert!(
        user["credentials"]["password"].is_null(),
        "the old password no longer counts"
    );
    // DELETE: first deactivates, then deletes.
    let first = one(
        &base,
        "DELETE",
        &format!("/api/v1/users/{kai}"),
        Value::Null,
        204,
    );
    assert_eq!(types(&first), ["user.lifecycle.deactivate"]);
    let second = one(
        &base,
        "DELETE",
        &format!("/api/v1/users/{kai}"),
        Value::Null,
        204,
    );
    assert_eq!(
        types(&second),
        [
            "user.lifecycle.delete.initiated",
            "user.lifecycle.delete.completed"
        ]
    );
    assert_okta_error(
        &get(&format!("{base}/api/v1/users/{kai}"), SSWS),
        404,
        "E0000007",
    );
}

#[test]
fn groups_memberships_and_rules() {
    let emulator = start_default();
    let base = emulator.base_url();
    let tenant = emulator.tenant();
    let everyone = tenant.groups()[0]["id"].as_str().unwrap().to_owned();
    let user = tenant.users()[1]["id"].as_str().unwrap().to_owned();
    // Everyone is read-only.
    let refused = one(
        &base,
        "PUT",
        &format!("/api/v1/groups/{everyone}"),
        json!({"profile": {"name": "All"}}),
        403,
    );
    assert_eq!(refused["body"]["errorCode"], "E0000111");
    one(
        &base,
        "PUT",
        &format!("/api/v1/groups/{everyone}/users/{user}"),
        Value::Null,
        403,
    );
    let group = one(
        &base,
        "POST",
        "/api/v1/groups",
        json!({"profile": {"name": "Auditors", "description": "Read-only"}}),
        200,
    );
    let id = group["body"]["id"].as_str().unwrap().to_owned();
    assert_eq!(group["body"]["type"], "OKTA_GROUP");
    one(
        &base,
        "POST",
        "/api/v1/groups",
        json!({"profile": {"name": "Auditors"}}),
        400,
    );
    let renamed = one(
        &base,
        "PUT",
        &format!("/api/v1/groups/{id}"),
        json!({"profile": {"name": "Auditors EU"}}),
        200,
    );
    assert_eq!(types(&renamed), ["group.profile.update"]);
    let added = one(
        &base,
        "PUT",
        &format!("/api/v1/groups/{id}/users/{user}"),
        Value::Null,
        204,
    );
    assert_eq!(types(&added), ["group.user_membership.add"]);
    // Adding again changes nothing and logs nothing.
    assert!(types(&one(
        &base,
        "PUT",
        &format!("/api/v1/groups/{id}/users/{user}"),
        Value::Null,
        204
    ))
    .is_empty());
    let members = get_ok(&format!("{base}/api/v1/groups/{id}/users")).json();
    assert_eq!(members[0]["id"], user.as_str());

    // A group rule: created INACTIVE, edited only while INACTIVE, actions fixed.
    let rule_body = json!({
        "type": "group_rule",
        "name": "Engineers to Auditors",
        "conditions": {"expression": {"value": "user.department==\"Engineering\"", "type": "urn:okta:expression:1.0"}},
        "actions": {"assignUserToGroups": {"groupIds": [id]}},
    });
    let rule = one(
        &base,
        "POST",
        "/api/v1/groups/rules",
        rule_body.clone(),
        200,
    );
    assert_eq!(rule["body"]["status"], "INACTIVE");
    let rule_id = rule["body"]["id"].as_str().unwrap().to_owned();
    let mut changed = rule_body.clone();
    changed["actions"]["assignUserToGroups"]["groupIds"] = json!([everyone]);
    one(
        &base,
        "PUT",
        &format!("/api/v1/groups/rules/{rule_id}"),
        changed,
        400,
    );
    let activated = one(
        &base,
        "POST",
        &format!("/api/v1/groups/rules/{rule_id}/lifecycle/activate"),
        Value::Null,
        204,
    );
    let engineers = tenant
        .users()
        .iter()
        .filter(|u| u["profile"]["department"] == "Engineering" && u["status"] != "DEPROVISIONED")
        .count();
    assert!(engineers > 0);
    let event_types = types(&activated);
    assert_eq!(event_types[0], "group.user_membership.rule.trigger");
    assert!(
        event_types
            .iter()
            .filter(|t| *t == "group.user_membership.add")
            .count()
            >= engineers - 1
    );
    let mut renamed = rule_body.clone();
    renamed["name"] = json!("Renamed");
    one(
        &base,
        "PUT",
        &format!("/api/v1/groups/rules/{rule_id}"),
        renamed.clone(),
        400,
    );
    one(
        &base,
        "DELETE",
        &format!("/api/v1/groups/rules/{rule_id}"),
        Value::Null,
        400,
    );
    one(
        &base,
        "POST",
        &format!("/api/v1/groups/rules/{rule_id}/lifecycle/deactivate"),
        Value::Null,
        204,
    );
    one(
        &base,
        "PUT",
        &format!("/api/v1/groups/rules/{rule_id}"),
        renamed,
        200,
    );
    one(
        &base,
        "DELETE",
        &format!("/api/v1/groups/rules/{rule_id}"),
        Value::Null,
        202,
    );

    let removed = one(
        &base,
        "DELETE",
        &format!("/api/v1/groups/{id}/users/{user}"),
        Value::Null,
        204,
    );
    assert_eq!(types(&removed), ["group.user_membership.remove"]);
    let deleted = one(
        &base,
        "DELETE",
        &format!("/api/v1/groups/{id}"),
        Value::Null,
        204,
    );
    assert_eq!(types(&deleted), ["group.lifecycle.delete"]);
    assert_okta_error(
        &get(&format!("{base}/api/v1/groups/{id}"), SSWS),
        404,
        "E0000007",
    );
}

#[test]
fn apps_and_assignments() {
    let emulator = start_default();
    let base = emulator.base_url();
    let tenant = emulator.tenant();
    let user = tenant.users()[1]["id"].as_str().unwrap().to_owned();
    let group = tenant.groups()[3]["id"].as_str().unwrap().to_owned();
    // An OIDC app keeps the client_id it is given; its secret shows only once.
    let oidc = one(
        &base,
        "POST",
        "/api/v1/apps",
        json!({
            "name": "oidc_client",
            "label": "Expense Portal",
            "signOnMode": "OPENID_CONNECT",
            "credentials": {"oauthClient": {"client_id": "expense-portal-prod", "token_endpoint_auth_method": "client_secret_basic"}},
            "settings": {"oauthClient": {"redirect_uris": ["https://expenses.example.com/cb"], "response_types": ["code"], "grant_types": ["authorization_code"], "application_type": "web"}},
        }),
        200,
    );
    assert_eq!(
        types(&oidc),
        [
            "application.lifecycle.create",
            "application.lifecycle.activate"
        ]
    );
    let app = oidc["body"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        oidc["body"]["credentials"]["oauthClient"]["client_id"],
        "expense-portal-prod"
    );
    assert!(
        oidc["body"]["credentials"]["oauthClient"]["client_secret"]
            .as_str()
            .unwrap()
            .len()
            >= 40
    );
    let read = get_ok(&format!("{base}/api/v1/apps/{app}")).json();
    assert_eq!(
        read["credentials"]["oauthClient"]["client_id"],
        "expense-portal-prod"
    );
    assert!(read["credentials"]["oauthClient"]
        .get("client_secret")
        .is_none());
    one(
        &base,
        "POST",
        "/api/v1/apps",
        json!({"label": "Expense Portal", "signOnMode": "BOOKMARK", "name": "bookmark", "settings": {"app": {"url": "https://x"}}}),
        400,
    );
    // A SAML app signs with a key of its own.
    let saml = |label: &str| {
        one(
            &base,
            "POST",
            "/api/v1/apps",
            json!({"label": label, "signOnMode": "SAML_2_0", "settings": {"signOn": {
                "ssoAcsUrl": "https://sp.example.com/acs", "audience": "https://sp.example.com",
                "recipient": "https://sp.example.com/acs", "destination": "https://sp.example.com/acs",
                "subjectNameIdTemplate": "${user.userName}",
                "subjectNameIdFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
                "responseSigned": true, "assertionSigned": true, "signatureAlgorithm": "RSA_SHA256",
                "digestAlgorithm": "SHA256", "honorForceAuthn": true,
                "authnContextClassRef": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
                "requestCompressed": false, "allowMultipleAcsEndpoints": false, "acsEndpoints": [],
                "idpIssuer": "http://www.okta.com/${org.externalKey}",
            }}}),
            200,
        )
    };
    let (a, b) = (saml("SP one"), saml("SP two"));
    let kid = |r: &Value| {
        r["body"]["credentials"]["signing"]["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_ne!(kid(&a), kid(&b));
    // Assignments: a direct one with a profile, a group one with a priority.
    let assigned = one(
        &base,
        "POST",
        &format!("/api/v1/apps/{app}/users"),
        json!({"id": user, "scope": "USER", "profile": {"costCenter": "42"}}),
        200,
    );
    assert_eq!(assigned["body"]["scope"], "USER");
    assert_eq!(assigned["body"]["profile"]["costCenter"], "42");
    assert_eq!(types(&assigned), ["application.user_membership.add"]);
    let dup = one(
        &base,
        "POST",
        &format!("/api/v1/apps/{app}/users"),
        json!({"id": user}),
        409,
    );
    assert_eq!(dup["body"]["errorCode"], "E0000062");
    let by_group = one(
        &base,
        "PUT",
        &format!("/api/v1/apps/{app}/groups/{group}"),
        json!({"priority": 0}),
        200,
    );
    assert_eq!(types(&by_group), ["group.application_assignment.add"]);
    let member = emulator.tenant().group_members(&group).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let inherited = get_ok(&format!("{base}/api/v1/apps/{app}/users/{member}")).json();
    assert_eq!(
        inherited["scope"],
        if member == user { "USER" } else { "GROUP" }
    );
    // An ACTIVE app cannot be deleted; an INACTIVE one cannot be changed.
    assert_eq!(
        one(
            &base,
            "DELETE",
            &format!("/api/v1/apps/{app}"),
            Value::Null,
            403
        )["body"]["errorCode"],
        "E0000056"
    );
    let deactivated = one(
        &base,
        "POST",
        &format!("/api/v1/apps/{app}/lifecycle/deactivate"),
        Value::Null,
        200,
    );
    assert_eq!(types(&deactivated), ["application.lifecycle.deactivate"]);
    let mut update = read.clone();
    update["label"] = json!("Expense Portal v2");
    one(
        &base,
        "PUT",
        &format!("/api/v1/apps/{app}"),
        update.clone(),
        400,
    );
    one(
        &base,
        "POST",
        &format!("/api/v1/apps/{app}/lifecycle/activate"),
        Value::Null,
        200,
    );
    let updated = one(&base, "PUT", &format!("/api/v1/apps/{app}"), update, 200);
    assert_eq!(updated["body"]["label"], "Expense Portal v2");
    assert_eq!(
        updated["body"]["credentials"]["oauthClient"]["client_id"],
        "expense-portal-prod"
    );
    assert_eq!(types(&updated), ["application.lifecycle.update"]);
    let unassigned = one(
        &base,
        "DELETE",
        &format!("/api/v1/apps/{app}/users/{user}"),
        Value::Null,
        204,
    );
    assert_eq!(types(&unassigned), ["application.user_membership.remove"]);
    one(
        &base,
        "DELETE",
        &format!("/api/v1/apps/{app}/groups/{group}"),
        Value::Null,
        204,
    );
    one(
        &base,
        "POST",
        &format!("/api/v1/apps/{app}/lifecycle/deactivate"),
        Value::Null,
        200,
    );
    let deleted = one(
        &base,
        "DELETE",
        &format!("/api/v1/apps/{app}"),
        Value::Null,
        204,
    );
    assert_eq!(types(&deleted), ["application.lifecycle.delete"]);
}

#[test]
fn policies_and_rules_get_oktas_priorities() {
    let emulator = start_default();
    let base = emulator.base_url();
    let list = |kind: &str| get_ok(&format!("{base}/api/v1/policies?type={kind}")).json();
    let before = list("PASSWORD");
    assert_eq!(before.as_array().unwrap().len(), 2);
    // A new policy asking for priority 1 goes first; the others move down, the default last.
    let created = one(
        &base,
        "POST",
        "/api/v1/policies",
        json!({"type": "PASSWORD", "name": "Contractors", "priority": 1, "conditions": {"people": {"groups": {"include": []}}}}),
        200,
    );
    assert_eq!(
        types(&created),
        ["policy.lifecycle.create", "policy.lifecycle.activate"]
    );
    let after = list("PASSWORD");
    let order: Vec<(&str, u64)> = after
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["priority"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            ("Contractors", 1),
            ("Admin password policy", 2),
            ("Default Policy", 3)
        ]
    );
    let id = created["body"]["id"].as_str().unwrap().to_owned();
    // Rules too, before the system default rule.
    let rule = one(
        &base,
        "POST",
        &format!("/api/v1/policies/{id}/rules"),
        json!({"name": "First", "type": "PASSWORD", "actions": {}}),
        200,
    );
    assert_eq!(types(&rule), ["policy.rule.add", "policy.rule.activate"]);
    let second = one(
        &base,
        "POST",
        &format!("/api/v1/policies/{id}/rules"),
        json!({"name": "Second", "type": "PASSWORD", "priority": 1, "actions": {}}),
        200,
    );
    let rules = get_ok(&format!("{base}/api/v1/policies/{id}/rules")).json();
    let names: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Second", "First"]);
    assert_eq!(second["body"]["type"], "PASSWORD");
    // Wrong rule type, read-only types, system objects.
    one(
        &base,
        "POST",
        &format!("/api/v1/policies/{id}/rules"),
        json!({"name": "X", "type": "SIGN_ON"}),
        400,
    );
    one(
        &base,
        "POST",
        "/api/v1/policies",
        json!({"type": "IDP_DISCOVERY", "name": "Another"}),
        400,
    );
    let default = after
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["system"] == true)
        .unwrap();
    let default_id = default["id"].as_str().unwrap();
    assert_eq!(
        one(
            &base,
            "DELETE",
            &format!("/api/v1/policies/{default_id}"),
            Value::Null,
            403
        )["body"]["errorCode"],
        "E0000111"
    );
    one(
        &base,
        "POST",
        &format!("/api/v1/policies/{default_id}/lifecycle/deactivate"),
        Value::Null,
        403,
    );
    // A new app sign-in policy comes with its catch-all rule at 99.
    let access = one(
        &base,
        "POST",
        "/api/v1/policies",
        json!({"type": "ACCESS_POLICY", "name": "Finance apps"}),
        200,
    );
    let access_id = access["body"]["id"].as_str().unwrap();
    assert!(access_id.starts_with("rst"));
    let rules = get_ok(&format!("{base}/api/v1/policies/{access_id}/rules")).json();
    assert_eq!(rules[0]["priority"], 99);
    assert_eq!(rules[0]["system"], true);
    // Deleting moves the rest up.
    let deleted = one(
        &base,
        "DELETE",
        &format!("/api/v1/policies/{id}"),
        Value::Null,
        204,
    );
    assert_eq!(types(&deleted), ["policy.lifecycle.delete"]);
    let priorities: Vec<u64> = list("PASSWORD")
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["priority"].as_u64().unwrap())
        .collect();
    assert_eq!(priorities, [1, 2]);
}

#[test]
fn every_configuration_object_can_change_and_logs_it() {
    let emulator = start_default();
    let base = emulator.base_url();
    let tenant = emulator.tenant();
    let check = |method: &str, path: &str, body: Value, status: u16, event: &[&str]| -> Value {
        let result = one(&base, method, path, body, status);
        assert_eq!(types(&result), event, "{method} {path}");
        result["body"].clone()
    };
    // Network zones: system zones are updated, never deleted.
    let zone = check(
        "POST",
        "/api/v1/zones",
        json!({"type": "IP", "name": "Office", "usage": "POLICY", "gateways": [{"type": "CIDR", "value": "198.51.100.0/24"}]}),
        200,
        &["zone.create", "zone.activate"],
    );
    let zone_id = zone["id"].as_str().unwrap().to_owned();
    check(
        "PUT",
        &format!("/api/v1/zones/{zone_id}"),
        json!({"type": "IP", "name": "Office HQ", "usage": "POLICY"}),
        200,
        &["zone.update"],
    );
    one(
        &base,
        "DELETE",
        &format!("/api/v1/zones/{zone_id}"),
        Value::Null,
        400,
    );
    check(
        "POST",
        &format!("/api/v1/zones/{zone_id}/lifecycle/deactivate"),
        Value::Null,
        200,
        &["zone.deactivate"],
    );
    check(
        "DELETE",
        &format!("/api/v1/zones/{zone_id}"),
        Value::Null,
        204,
        &["zone.delete"],
    );
    let legacy = "nzowc1U5Jh5xuAK0o0g3";
    check(
        "PUT",
        &format!("/api/v1/zones/{legacy}"),
        json!({"type": "IP", "name": "LegacyIpZone", "gateways": []}),
        200,
        &["zone.update"],
    );
    assert_eq!(
        one(
            &base,
            "DELETE",
            &format!("/api/v1/zones/{legacy}"),
            Value::Null,
            403
        )["body"]["errorCode"],
        "E0000111"
    );

    // Authenticators: one an enrollment policy uses stays active.
    let authenticators = get_ok(&format!("{base}/api/v1/authenticators")).json();
    let phone = authenticators
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "phone_number")
        .unwrap();
    let phone_id = phone["id"].as_str().unwrap();
    check(
        "POST",
        &format!("/api/v1/authenticators/{phone_id}/lifecycle/activate"),
        Value::Null,
        200,
        &["security.authenticator.lifecycle.activate"],
    );
    check(
        "POST",
        &format!("/api/v1/authenticators/{phone_id}/lifecycle/deactivate"),
        Value::Null,
        200,
        &["security.authenticator.lifecycle.deactivate"],
    );
    let enrollment = tenant
        .policies()
        .iter()
        .find(|p| p["type"] == "MFA_ENROLL")
        .unwrap()
        .clone();
    let mut uses_phone = enrollment.clone();
    uses_phone["settings"]["authenticators"] =
        json!([{"key": "phone_number", "enroll": {"self": "REQUIRED"}}]);
    let enrollment_id = enrollment["id"].as_str().unwrap();
    // Activate before use: a policy cannot ask for an inactive authenticator.
    one(
        &base,
        "PUT",
        &format!("/api/v1/policies/{enrollment_id}"),
        uses_phone,
        400,
    );
    let password = authenticators
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "okta_password")
        .unwrap();
    let in_use = one(
        &base,
        "POST",
        &format!(
            "/api/v1/authenticators/{}/lifecycle/deactivate",
            password["id"].as_str().unwrap()
        ),
        Value::Null,
        403,
    );
    assert_eq!(in_use["body"]["errorCode"], "E0000148");

    // Authorization servers and their children.
    let server = check(
        "POST",
        "/api/v1/authorizationServers",
        json!({"name": "Partner API", "audiences": ["api://partners"]}),
        201,
        &["oauth2.as.created", "oauth2.as.activated"],
    );
    let server_id = server["id"].as_str().unwrap().to_owned();
    assert!(server["issuer"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/oauth2/{server_id}")));
    check(
        "POST",
        &format!("/api/v1/authorizationServers/{server_id}/scopes"),
        json!({"name": "partners:read"}),
        201,
        &["oauth2.scope.created"],
    );
    check(
        "POST",
        &format!("/api/v1/authorizationServers/{server_id}/claims"),
        json!({"name": "tier", "claimType": "RESOURCE", "valueType": "EXPRESSION", "value": "\"gold\""}),
        201,
        &["oauth2.claim.created"],
    );
    let policy = check(
        "POST",
        &format!("/api/v1/authorizationServers/{server_id}/policies"),
        json!({"type": "OAUTH_AUTHORIZATION_POLICY", "name": "Partners", "priority": 1, "conditions": {"clients": {"include": ["ALL_CLIENTS"]}}}),
        201,
        &["policy.lifecycle.create", "policy.lifecycle.activate"],
    );
    let policy_id = policy["id"].as_str().unwrap();
    check(
        "POST",
        &format!("/api/v1/authorizationServers/{server_id}/policies/{policy_id}/rules"),
        json!({"type": "RESOURCE_ACCESS", "name": "Client credentials", "priority": 1,
            "conditions": {"people": {"groups": {"include": ["EVERYONE"]}}, "grantTypes": {"include": ["client_credentials"]}, "scopes": {"include": ["*"]}},
            "actions": {"token": {"accessTokenLifetimeMinutes": 60, "refreshTokenLifetimeMinutes": 0, "refreshTokenWindowMinutes": 10080}}}),
        201,
        &["policy.rule.add", "policy.rule.activate"],
    );
    let scopes = get_ok(&format!(
        "{base}/api/v1/authorizationServers/{server_id}/scopes"
    ))
    .json();
    assert_eq!(scopes[0]["name"], "partners:read");
    check(
        "PUT",
        "/api/v1/authorizationServers/default",
        json!({"name": "default", "audiences": ["api://default"]}),
        200,
        &["oauth2.as.updated"],
    );
    one(
        &base,
        "DELETE",
        "/api/v1/authorizationServers/default",
        Value::Null,
        403,
    );
    check(
        "POST",
        &format!("/api/v1/authorizationServers/{server_id}/lifecycle/deactivate"),
        Value::Null,
        204,
        &["oauth2.as.deactivated"],
    );
    check(
        "DELETE",
        &format!("/api/v1/authorizationServers/{server_id}"),
        Value::Null,
        204,
        &["oauth2.as.deleted"],
    );

    // Identity providers.
    let idp = check(
        "POST",
        "/api/v1/idps",
        json!({"type": "OIDC", "name": "Partner IdP", "protocol": {"type": "OIDC"}}),
        200,
        &[
            "system.idp.lifecycle.create",
            "system.idp.lifecycle.activate",
        ],
    );
    let idp_id = idp["id"].as_str().unwrap();
    check(
        "POST",
        &format!("/api/v1/idps/{idp_id}/lifecycle/deactivate"),
        Value::Null,
        200,
        &["system.idp.lifecycle.deactivate"],
    );
    check(
        "DELETE",
        &format!("/api/v1/idps/{idp_id}"),
        Value::Null,
        204,
        &["system.idp.lifecycle.delete"],
    );

    // Hooks: the auth secret is write-only; new event hooks start UNVERIFIED.
    let hook = check(
        "POST",
        "/api/v1/eventHooks",
        json!({"name": "SIEM", "events": {"type": "EVENT_TYPE", "items": ["user.lifecycle.create"]}, "channel": {"type": "HTTP", "version": "1.0.0", "config": {"uri": "https://siem.example.com/okta", "authScheme": {"type": "HEADER", "key": "Authorization", "value": "s3cr3t-hook-key"}}}}),
        200,
        &["event_hook.created", "event_hook.activated"],
    );
    let hook_id = hook["id"].as_str().unwrap();
    assert_eq!(hook["verificationStatus"], "UNVERIFIED");
    assert!(!hook.to_string().contains("s3cr3t-hook-key"));
    let verified = check(
        "POST",
        &format!("/api/v1/eventHooks/{hook_id}/lifecycle/verify"),
        Value::Null,
        200,
        &["event_hook.verified"],
    );
    assert_eq!(verified["verificationStatus"], "VERIFIED");
    one(
        &base,
        "DELETE",
        &format!("/api/v1/eventHooks/{hook_id}"),
        Value::Null,
        400,
    );
    check(
        "POST",
        &format!("/api/v1/eventHooks/{hook_id}/lifecycle/deactivate"),
        Value::Null,
        200,
        &["event_hook.deactivated"],
    );
    check(
        "DELETE",
        &format!("/api/v1/eventHooks/{hook_id}"),
        Value::Null,
        204,
        &["event_hook.deleted"],
    );
    let inline = get_ok(&format!("{base}/api/v1/inlineHooks")).json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    check(
        "POST",
        &format!("/api/v1/inlineHooks/{inline}"),
        json!({"name": "Renamed hook", "version": "1.0.0", "channel": {"type": "HTTP", "version": "1.0.0", "config": {"uri": "https://hooks.example.com/t", "method": "POST"}}}),
        200,
        &["inline_hook.updated"],
    );

    // Admin roles and API tokens.
    let user = tenant.users()[3]["id"].as_str().unwrap().to_owned();
    let role = check(
        "POST",
        &format!("/api/v1/users/{user}/roles"),
        json!({"type": "ORG_ADMIN"}),
        201,
        &["user.account.privilege.grant"],
    );
    assert_eq!(
        one(
            &base,
            "POST",
            &format!("/api/v1/users/{user}/roles"),
            json!({"type": "ORG_ADMIN"}),
            409
        )["body"]["errorCode"],
        "E0000090"
    );
    let roles = get_ok(&format!("{base}/api/v1/users/{user}/roles")).json();
    assert_eq!(roles[0]["type"], "ORG_ADMIN");
    check(
        "DELETE",
        &format!(
            "/api/v1/users/{user}/roles/{}",
            role["id"].as_str().unwrap()
        ),
        Value::Null,
        204,
        &["user.account.privilege.revoke"],
    );
    let everyone = tenant.groups()[0]["id"].as_str().unwrap();
    assert_eq!(
        one(
            &base,
            "POST",
            &format!("/api/v1/groups/{everyone}/roles"),
            json!({"type": "READ_ONLY_ADMIN"}),
            400
        )["body"]["errorCode"],
        "E0000211"
    );
    let group = tenant.groups()[2]["id"].as_str().unwrap();
    check(
        "POST",
        &format!("/api/v1/groups/{group}/roles"),
        json!({"type": "READ_ONLY_ADMIN"}),
        200,
        &["group.privilege.grant"],
    );
    let token = get_ok(&format!("{base}/api/v1/api-tokens")).json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    check(
        "DELETE",
        &format!("/api/v1/api-tokens/{token}"),
        Value::Null,
        204,
        &["system.api_token.revoke"],
    );
    assert_eq!(
        get_ok(&format!("{base}/api/v1/api-tokens")).json(),
        json!([])
    );
    check(
        "POST",
        "/api/v1/threats/configuration",
        json!({"action": "block", "excludeZones": []}),
        200,
        &["security.threat.configuration.update"],
    );
    assert_eq!(
        get_ok(&format!("{base}/api/v1/threats/configuration")).json()["action"],
        "block"
    );
}
