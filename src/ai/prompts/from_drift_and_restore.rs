//! The drift and restore prompts built from what drift capture and the restore planner really
//! produce (a capture's summary, a stored plan), not from hand-made inputs: the facts reach the
//! model, nothing identifying does, and text an admin typed into an Okta field changes nothing
//! that is sent.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::tests::{identifying_values, now, tenant, EXPRESSION, INJECTION};
use super::*;
use crate::drift::{diff_states, DiffOptions};
use crate::restore::access::Credential;
use crate::restore::estimate::Limits;
use crate::restore::{Plan, PlanInput, PlanOptions, Scope};
use crate::tenant::{ResourceType, TenantSnapshot};

const CAROL: &str = "00u3ccccccccccccccc3";
const ADMINS: &str = "00g1adminsssssssss01";
const STRONG_RULE: &str = "rst1strongpolicy0001/rul1strongrule000001";
const BRANCH: &str = "nzo2branch0000000002";

fn objects(t: &mut TenantSnapshot, r: ResourceType) -> &mut Vec<Value> {
    t.resources.get_mut(&r).unwrap()
}

/// The small tenant with the admin group's description set to `description`.
fn described(description: &str) -> TenantSnapshot {
    let mut t = tenant(EXPRESSION);
    for g in objects(&mut t, ResourceType::Groups) {
        if g["id"] == ADMINS {
            g["profile"]["description"] = json!(description);
        }
    }
    t
}

/// `before` after an admin's session: Carol reactivated under a new login, the admin group
/// renamed and its description set to `description`, the admin policy's rule down to one
/// factor, and a new network zone.
fn after_session(before: &TenantSnapshot, description: &str) -> TenantSnapshot {
    let mut t = before.clone();
    for u in objects(&mut t, ResourceType::Users) {
        if u["id"] == CAROL {
            u["status"] = json!("ACTIVE");
            u["profile"]["login"] = json!("carol.n@acme.test");
            u["profile"]["email"] = json!("carol.n@acme.test");
        }
    }
    for g in objects(&mut t, ResourceType::Groups) {
        if g["id"] == ADMINS {
            g["profile"]["name"] = json!("Acme Helpdesk Superusers");
            g["profile"]["description"] = json!(description);
        }
    }
    for r in objects(&mut t, ResourceType::PolicyRules) {
        if r["rule"]["id"] == "rul1strongrule000001" {
            r["rule"]["actions"]["appSignOn"]["verificationMethod"]["factorMode"] = json!("1FA");
        }
    }
    objects(&mut t, ResourceType::NetworkZones).push(json!({
        "id": BRANCH, "name": "Acme Branch", "type": "IP", "status": "ACTIVE",
        "gateways": [{"type": "CIDR", "value": "198.51.100.0/24"}]}));
    t
}

/// A capture's summary of the session, as the drift check stores it: each change drift
/// computed, with its attribution beside it.
fn summary(before: &TenantSnapshot, after: &TenantSnapshot) -> Value {
    let diff = diff_states(before, after, &DiffOptions::default()).unwrap();
    Value::Array(
        diff.changes
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).unwrap();
                v["attribution"] = json!([{"actor_display_name": "Mallory Admin",
                    "client_ip": "203.0.113.7", "event_type": "user.account.update_profile"}]);
                v
            })
            .collect(),
    )
}

/// Every identifying value of both states, and the session's own new values.
fn forbidden(before: &TenantSnapshot, after: &TenantSnapshot) -> Vec<String> {
    let mut values: BTreeSet<String> = identifying_values(before).into_iter().collect();
    values.extend(identifying_values(after));
    values.extend(
        [
            "carol.n",
            "acme.test",
            "acme.okta.com",
            "Acme Branch",
            "Superusers",
            "198.51.100",
            "203.0.113",
            "Mallory",
            "Carol",
            "Nguyen",
        ]
        .map(String::from),
    );
    values
        .into_iter()
        // Expression text and enums found at a `value`/`name`-like key (as in the other scan).
        .filter(|v| {
            !(v.starts_with("user.department")
                || v == "urn:okta:expression:1.0"
                || v == "ACCESS_POLICY")
        })
        .collect()
}

fn assert_nothing_identifying(prompt: &Prompt, values: &[String]) {
    let sent = format!("{}\n{}", prompt.system, prompt.user);
    for v in values {
        assert!(
            !sent.contains(v.as_str()),
            "{} sends {v:?}",
            prompt.kind.as_str()
        );
    }
}

/// The alert drift raises for each changed resource, as the guidance route builds it.
fn alert(summary: &Value) -> DriftAlert {
    let change =
        |resource, key: &str, kind| DriftChange::of_alert(summary, resource, key, kind, &[]);
    DriftAlert {
        changes: vec![
            change(ResourceType::Users, CAROL, "changed"),
            change(ResourceType::Groups, ADMINS, "changed"),
            change(ResourceType::PolicyRules, STRONG_RULE, "changed"),
            change(ResourceType::NetworkZones, BRANCH, "added"),
        ],
    }
}

#[test]
fn a_drift_alert_is_explained_from_its_captures_record() {
    let before = described("Helpdesk staff");
    let after = after_session(&before, "Helpdesk staff and on-call");
    let summary = summary(&before, &after);
    let alert = alert(&summary);
    assert_eq!(alert.changes[2].object_id, "rul1strongrule000001");
    assert_eq!(alert.changes[3].change, ChangeKind::Added);
    let prompt = build(Subject::Drift(&alert), &after, now()).unwrap();
    let d = &prompt.data;
    assert_eq!(d["changes_total"], 4);

    let user = &d["changes"][0];
    assert_eq!(user["change"], "modified");
    let field = |c: &Value, key: &str| {
        c["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} in {c}"))
    };
    assert_eq!(
        field(user, "status"),
        json!({"field": "status", "before": "SUSPENDED", "after": "ACTIVE"})
    );
    let login = field(user, "login");
    assert!(login["before"].is_string() && login["before"] != login["after"]);
    assert_eq!(
        user["current"]["status"], "ACTIVE",
        "the tenant as of the capture"
    );

    let group = &d["changes"][1];
    assert!(field(group, "name")["after"].is_string());
    assert!(
        group["other_fields_changed"].as_u64().unwrap() >= 1,
        "the description is counted, not sent: {group}"
    );
    let rule = &d["changes"][2];
    assert_eq!(
        field(rule, "factor_mode"),
        json!({"field": "factor_mode", "before": "2FA", "after": "1FA"})
    );
    assert!(rule["current"].is_object(), "found by the rule's own id");
    let zone = &d["changes"][3];
    assert_eq!(zone["change"], "added");
    assert!(field(zone, "name")["after"].is_string());
    assert!(zone["current"].is_object());
    // The pseudonyms stand for the real objects once the answer comes back.
    let carol = user["object"].as_str().unwrap();
    assert!(prompt.reidentify(carol).contains(CAROL), "{carol}");

    assert_nothing_identifying(&prompt, &forbidden(&before, &after));
    assert!(!prompt.user.contains("Mallory") && !prompt.user.contains("attribution"));

    // An alert whose change the capped summary does not hold is described by its paths.
    let bare = DriftChange::of_alert(
        &json!([]),
        ResourceType::Users,
        CAROL,
        "changed",
        &["/status".to_string()],
    );
    assert_eq!(bare.change, ChangeKind::Modified);
    assert_eq!(
        (bare.fields[0].path.as_str(), &bare.fields[0].after),
        ("/status", &None)
    );
}

#[test]
fn injected_text_in_a_drifted_description_changes_nothing_sent() {
    let before = described("Helpdesk staff");
    let sent: Vec<Prompt> = ["Helpdesk staff and on-call", INJECTION]
        .into_iter()
        .map(|description| {
            let after = after_session(&before, description);
            let alert = alert(&summary(&before, &after));
            build(Subject::Drift(&alert), &after, now()).unwrap()
        })
        .collect();
    assert_eq!(sent[0].user, sent[1].user);
    assert_eq!(sent[0].sha256(), sent[1].sha256());
    assert!(!sent[1].user.contains("Ignore previous"));
}

/// A plan restoring the backup taken before the session into the tenant after it, deleting
/// what the session added.
fn restore_plan(source: &TenantSnapshot, target: &TenantSnapshot) -> Plan {
    let plan = crate::restore::plan(&PlanInput {
        source,
        target,
        scope: &Scope::Tenant,
        options: PlanOptions {
            delete_missing: true,
            override_lockout: false,
        },
        restoring_admin: Some("00u1aaaaaaaaaaaaaaa1"),
        credential: &Credential::ApiToken {
            roles: BTreeSet::from(["SUPER_ADMIN".to_string()]),
        },
        limits: Limits::default(),
    })
    .unwrap();
    // The route reads the plan back from its sealed JSON.
    let stored: Plan = serde_json::from_slice(&serde_json::to_vec(&plan).unwrap()).unwrap();
    assert_eq!(stored, plan);
    stored
}

#[test]
fn a_restore_plan_is_explained_from_what_the_planner_made() {
    let before = described("Helpdesk staff");
    let after = after_session(&before, "Helpdesk staff and on-call");
    let plan = restore_plan(&before, &after);
    let subject = RestorePlan::from(&plan);
    let writes = plan
        .operations
        .iter()
        .filter(|o| o.action != crate::restore::Action::Skip)
        .count();
    assert_eq!(subject.operations.len(), writes, "skips write nothing");
    let op = |resource, id: &str| {
        subject
            .operations
            .iter()
            .find(|o| o.resource == resource && o.object_id == id)
            .unwrap_or_else(|| panic!("{resource:?} {id} in {subject:?}"))
    };
    assert_eq!(
        op(ResourceType::NetworkZones, BRANCH).action,
        RestoreAction::Delete
    );
    let rule = op(ResourceType::PolicyRules, "rul1strongrule000001");
    assert_eq!(rule.action, RestoreAction::Update);

    let prompt = build(Subject::Restore(&subject), &after, now()).unwrap();
    let d = &prompt.data;
    assert_eq!(d["operations_total"], writes);
    let sent = |resource: &str| {
        d["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["resource"] == resource)
            .cloned()
            .unwrap_or_else(|| panic!("{resource} in {d}"))
    };
    let rule = sent("policy_rules");
    assert_eq!(rule["fields_changed"], json!(["factor_mode"]));
    assert_eq!(rule["impact"]["policy_type"], "ACCESS_POLICY");
    assert_eq!(
        rule["impact"]["apps_bound"]["count"], 1,
        "the Admin Console"
    );
    let group = sent("groups");
    assert_eq!(group["impact"]["members"], 1);
    assert_eq!(group["impact"]["admin_roles"], json!(["HELP_DESK_ADMIN"]));
    assert!(group["other_fields_changed"].as_u64().unwrap() >= 1);
    assert_eq!(sent("network_zones")["action"], "delete");

    assert_nothing_identifying(&prompt, &forbidden(&before, &after));
}

#[test]
fn injected_text_in_a_restored_description_changes_nothing_sent() {
    let sent: Vec<Prompt> = ["Helpdesk staff", INJECTION]
        .into_iter()
        .map(|description| {
            let before = described(description);
            let after = after_session(&before, "Helpdesk staff and on-call");
            let plan = RestorePlan::from(&restore_plan(&before, &after));
            build(Subject::Restore(&plan), &after, now()).unwrap()
        })
        .collect();
    assert_eq!(sent[0].user, sent[1].user);
    assert!(!sent[1].user.contains("Ignore previous"));
}
