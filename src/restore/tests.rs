//! The planner over Okta-shaped tenants: hand-built orgs for each rule, Okta's own examples
//! restored into another org, and the emulator's demo org restored into its empty sandbox.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::access::Credential;
use super::estimate::{Bucket, Limits};
use super::lockout::{Lock, Verdict};
use super::manual::Missing;
use super::order::phase;
use super::plan::Blocker;
use super::*;
use crate::drift::tests::okta::{restored_elsewhere, tenant};
use crate::tenant::ResourceType;

use ResourceType as T;

type State = BTreeMap<ResourceType, Vec<Value>>;

fn super_admin_token() -> Credential {
    Credential::ApiToken {
        roles: BTreeSet::from(["SUPER_ADMIN".to_string()]),
    }
}

fn plan_with(
    source: &State,
    target: &State,
    scope: &Scope,
    options: PlanOptions,
    admin: Option<&str>,
    credential: &Credential,
) -> Plan {
    plan(&PlanInput {
        source,
        target,
        scope,
        options,
        restoring_admin: admin,
        credential,
        limits: Limits::default(),
    })
    .unwrap()
}

fn whole(source: &State, target: &State) -> Plan {
    plan_with(
        source,
        target,
        &Scope::Tenant,
        PlanOptions::default(),
        Some("00uadmin"),
        &super_admin_token(),
    )
}

fn user(id: &str, login: &str, status: &str) -> Value {
    json!({"id": id, "status": status, "created": "2024-01-01T00:00:00.000Z",
           "profile": {"login": login, "email": login, "firstName": "A", "lastName": "B"},
           "credentials": {"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}},
           "type": {"id": "oty1default"}})
}

fn group(id: &str, name: &str, kind: &str) -> Value {
    json!({"id": id, "type": kind, "profile": {"name": name, "description": null},
           "objectClass": ["okta:user_group"]})
}

fn rule(policy: &str, id: &str, name: &str, priority: i64, access: &str, system: bool) -> Value {
    json!({"policyId": policy, "rule": {"id": id, "name": name, "type": "SIGN_ON", "status": "ACTIVE",
           "priority": priority, "system": system,
           "conditions": {"network": {"connection": "ANYWHERE"}},
           "actions": {"signon": {"access": access, "requireFactor": false}}}})
}

/// A small org: a super admin, a user, Everyone and two groups, the Admin Console with its app
/// sign-in policy, and the default global session policy.
fn mini() -> State {
    let mut s = State::new();
    s.insert(
        T::Users,
        vec![
            user("00uadmin", "admin@example.com", "ACTIVE"),
            user("00uann", "ann@example.com", "ACTIVE"),
        ],
    );
    s.insert(
        T::Groups,
        vec![
            group("00geveryone", "Everyone", "BUILT_IN"),
            group("00geng", "Engineering", "OKTA_GROUP"),
            group("00gadmins", "Admins", "OKTA_GROUP"),
        ],
    );
    s.insert(
        T::GroupMembers,
        vec![
            json!({"groupId": "00geveryone", "userId": "00uadmin"}),
            json!({"groupId": "00geveryone", "userId": "00uann"}),
            json!({"groupId": "00geng", "userId": "00uann"}),
            json!({"groupId": "00gadmins", "userId": "00uadmin"}),
        ],
    );
    s.insert(T::Apps, vec![json!({"id": "0oaconsole", "name": "saasure", "label": "Okta Admin Console",
        "status": "ACTIVE", "signOnMode": "OPENID_CONNECT", "features": [],
        "_links": {"accessPolicy": {"href": "https://example.okta.com/api/v1/policies/rstconsole"}}})]);
    s.insert(T::AppUserAssignments, vec![]);
    s.insert(T::AppGroupAssignments, vec![]);
    s.insert(T::Policies, vec![
        json!({"id": "00pdefault", "type": "OKTA_SIGN_ON", "name": "Default Policy", "system": true,
               "status": "ACTIVE", "priority": 1,
               "conditions": {"people": {"groups": {"include": ["00geveryone"]}}}}),
        json!({"id": "rstconsole", "type": "ACCESS_POLICY", "name": "Okta Admin Console", "system": false,
               "status": "ACTIVE", "priority": 1}),
    ]);
    s.insert(T::PolicyRules, vec![
        rule("00pdefault", "0prdefault", "Default Rule", 1, "ALLOW", true),
        json!({"policyId": "rstconsole", "rule": {"id": "rulconsole", "name": "Catch-all Rule", "system": true,
               "status": "ACTIVE", "priority": 99, "type": "ACCESS_POLICY",
               "actions": {"appSignOn": {"access": "ALLOW"}}}}),
    ]);
    s.insert(
        T::UserRoles,
        vec![
            json!({"userId": "00uadmin", "role": {"id": "ra1super", "type": "SUPER_ADMIN",
        "label": "Super Administrator", "status": "ACTIVE", "assignmentType": "USER"}}),
        ],
    );
    s.insert(T::GroupRoles, vec![]);
    s
}

fn ops(p: &Plan, action: Action) -> Vec<&Operation> {
    p.operations.iter().filter(|o| o.action == action).collect()
}

fn find<'p>(p: &'p Plan, t: ResourceType, id: &str) -> &'p Operation {
    p.operations
        .iter()
        .find(|o| o.resource == t && o.subject_id() == Some(id))
        .unwrap_or_else(|| panic!("no operation on {t} {id}: {:#?}", p.operations))
}

#[test]
fn a_tenant_restored_onto_itself_plans_nothing() {
    let p = whole(&mini(), &mini());
    assert!(p.operations.is_empty(), "{:#?}", p.operations);
    assert_eq!(p.summary.types[&T::Users].unchanged, 2);
    assert_eq!(p.lockout.verdict, Verdict::Clear);
    assert!(p.blockers().is_empty());
    assert_eq!(p.estimate.floor_seconds, 0.0);
}

#[test]
fn changes_become_updates_in_the_targets_ids_and_missing_objects_creates() {
    let source = mini();
    let mut target = mini();
    // The target lost Engineering (and its membership) and Ann's name changed.
    target
        .get_mut(&T::Groups)
        .unwrap()
        .retain(|g| g["id"] != "00geng");
    target
        .get_mut(&T::GroupMembers)
        .unwrap()
        .retain(|m| m["groupId"] != "00geng");
    target.get_mut(&T::Users).unwrap()[1]["profile"]["firstName"] = json!("Anne");
    let p = whole(&source, &target);
    let create = find(&p, T::Groups, "00geng");
    assert_eq!(create.action, Action::Create);
    assert_eq!(
        create.content.as_ref().unwrap()["profile"]["name"],
        "Engineering"
    );
    assert_eq!(
        find(&p, T::GroupMembers, "00geng/00uann").action,
        Action::Create
    );
    let update = find(&p, T::Users, "00uann");
    assert_eq!(update.action, Action::Update);
    assert_eq!(update.fields.len(), 1);
    assert_eq!(update.fields[0].path, "/profile/firstName");
    assert_eq!(p.summary.total(Action::Create), 2);
    assert_eq!(p.summary.total(Action::Update), 1);
    // Order: the group before its membership, users between them.
    let seq = |t, id| find(&p, t, id).seq;
    assert!(seq(T::Groups, "00geng") < seq(T::Users, "00uann"));
    assert!(seq(T::Users, "00uann") < seq(T::GroupMembers, "00geng/00uann"));
    assert_eq!(
        p.operations.iter().map(|o| o.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

#[test]
fn target_only_objects_are_skipped_unless_deletes_are_asked_for_and_then_deleted_last() {
    let source = mini();
    let mut target = mini();
    target
        .get_mut(&T::Groups)
        .unwrap()
        .push(group("00gextra", "Contractors", "OKTA_GROUP"));
    target
        .get_mut(&T::GroupMembers)
        .unwrap()
        .push(json!({"groupId": "00gextra", "userId": "00uann"}));
    target.get_mut(&T::Users).unwrap()[1]["profile"]["firstName"] = json!("Anne");
    let kept = whole(&source, &target);
    assert_eq!(find(&kept, T::Groups, "00gextra").action, Action::Skip);
    assert_eq!(
        find(&kept, T::Groups, "00gextra").reason,
        Some(SkipReason::OnlyInTarget)
    );
    assert!(ops(&kept, Action::Delete).is_empty());

    let options = PlanOptions {
        delete_missing: true,
        ..PlanOptions::default()
    };
    let p = plan_with(
        &source,
        &target,
        &Scope::Tenant,
        options,
        Some("00uadmin"),
        &super_admin_token(),
    );
    let deletes = ops(&p, Action::Delete);
    assert_eq!(deletes.len(), 2);
    // The membership goes before its group, and both after every create and update.
    assert_eq!(deletes[0].resource, T::GroupMembers);
    assert_eq!(deletes[1].resource, T::Groups);
    assert!(p
        .operations
        .iter()
        .filter(|o| o.action != Action::Delete)
        .all(|o| o.seq < deletes[0].seq));
    assert_eq!(
        deletes[1].content.as_ref().unwrap()["profile"]["name"],
        "Contractors"
    );
}

#[test]
fn default_objects_are_updated_never_created_or_deleted() {
    // The source lacks Everyone and the default policy's rule; the target lacks its Admin
    // Console: none of it is created or deleted.
    let mut source = mini();
    source
        .get_mut(&T::Groups)
        .unwrap()
        .retain(|g| g["type"] != "BUILT_IN");
    source
        .get_mut(&T::GroupMembers)
        .unwrap()
        .retain(|m| m["groupId"] != "00geveryone");
    source
        .get_mut(&T::PolicyRules)
        .unwrap()
        .retain(|r| r["rule"]["id"] != "0prdefault");
    let mut target = mini();
    target.get_mut(&T::Apps).unwrap().clear();
    // A default policy the admin changed: restored by update.
    target.get_mut(&T::Policies).unwrap()[0]["status"] = json!("INACTIVE");
    let options = PlanOptions {
        delete_missing: true,
        override_lockout: true,
    };
    let p = plan_with(
        &source,
        &target,
        &Scope::Tenant,
        options,
        Some("00uadmin"),
        &super_admin_token(),
    );
    for (t, id) in [
        (T::Groups, "00geveryone"),
        (T::PolicyRules, "00pdefault/0prdefault"),
        (T::Apps, "0oaconsole"),
    ] {
        let op = find(&p, t, id);
        assert_eq!(
            (op.action, op.reason, op.system),
            (Action::Skip, Some(SkipReason::SystemObject), true),
            "{t} {id}"
        );
    }
    let update = find(&p, T::Policies, "00pdefault");
    assert_eq!((update.action, update.system), (Action::Update, true));
    assert!(p
        .operations
        .iter()
        .all(|o| !(o.system && matches!(o.action, Action::Create | Action::Delete))));
}

#[test]
fn a_natural_key_shared_by_two_target_objects_is_not_guessed() {
    let mut source = mini();
    source
        .get_mut(&T::Groups)
        .unwrap()
        .push(group("00gsales", "Sales", "OKTA_GROUP"));
    let mut target = mini();
    target.get_mut(&T::Groups).unwrap().extend([
        group("00gs1", "Sales", "OKTA_GROUP"),
        group("00gs2", "Sales", "OKTA_GROUP"),
    ]);
    let p = whole(&source, &target);
    let op = find(&p, T::Groups, "00gsales");
    assert_eq!(
        (op.action, op.reason),
        (Action::Skip, Some(SkipReason::AmbiguousNaturalKey))
    );
    assert!(ops(&p, Action::Create).is_empty());
}

#[test]
fn a_cross_org_restore_pairs_by_natural_key_and_speaks_the_targets_ids() {
    let source = tenant();
    let mut target = restored_elsewhere(&source);
    // One meaningful edit in the other org: a group's description.
    let gi = target[&T::Groups]
        .iter()
        .position(|g| g["profile"]["name"] == "West Coast users")
        .unwrap();
    target.get_mut(&T::Groups).unwrap()[gi]["profile"]["description"] = json!("edited");
    let target_gid = target[&T::Groups][gi]["id"].as_str().unwrap().to_string();
    let source_gid = source[&T::Groups]
        .iter()
        .find(|g| g["profile"]["name"] == "West Coast users")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = plan_with(
        &source,
        &target,
        &Scope::Tenant,
        PlanOptions::default(),
        None,
        &super_admin_token(),
    );
    let changed: Vec<_> = p
        .operations
        .iter()
        .filter(|o| o.action != Action::Skip)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:#?}");
    assert_eq!(changed[0].action, Action::Update);
    assert_eq!(changed[0].target_id.as_ref().unwrap().as_str(), target_gid);
    assert_eq!(changed[0].source_id.as_ref().unwrap().as_str(), source_gid);
    assert!(p.ids.iter().any(|i| i.resource == T::Groups
        && i.source_id.as_str() == source_gid
        && i.target_id.as_str() == target_gid));
    // Every resource was paired: the id map covers each top-level type the fixture has.
    for t in [
        T::Users,
        T::Apps,
        T::Policies,
        T::NetworkZones,
        T::Idps,
        T::AuthorizationServers,
    ] {
        assert!(p.ids.iter().any(|i| i.resource == t), "{t} in the id map");
    }
    // API tokens can never be written: skipped, and listed as not restorable.
    assert!(p
        .operations
        .iter()
        .filter(|o| o.resource == T::ApiTokens)
        .all(|o| o.action == Action::Skip));
}

#[test]
fn references_in_created_objects_are_rewritten_to_the_targets_ids() {
    // The target has Engineering under another id; a new policy of the source names it.
    let mut source = mini();
    source
        .get_mut(&T::Policies)
        .unwrap()
        .push(json!({"id": "00pnew", "type": "OKTA_SIGN_ON",
        "name": "Engineers", "system": false, "status": "ACTIVE", "priority": 1,
        "conditions": {"people": {"groups": {"include": ["00geng"]}}}}));
    let mut target = mini();
    for g in target.get_mut(&T::Groups).unwrap() {
        if g["id"] == "00geng" {
            g["id"] = json!("00gTARGETeng");
        }
    }
    for m in target.get_mut(&T::GroupMembers).unwrap() {
        if m["groupId"] == "00geng" {
            m["groupId"] = json!("00gTARGETeng");
        }
    }
    let p = whole(&source, &target);
    let create = find(&p, T::Policies, "00pnew");
    assert_eq!(create.action, Action::Create);
    assert_eq!(
        create
            .content
            .as_ref()
            .unwrap()
            .pointer("/conditions/people/groups/include"),
        Some(&json!(["00gTARGETeng"]))
    );
    assert_eq!(
        p.operations.len(),
        1,
        "the renamed-id group and its membership are unchanged"
    );
}

#[test]
fn policies_are_written_by_type_then_priority_and_rules_after_their_policy() {
    let mut source = mini();
    let policies = source.get_mut(&T::Policies).unwrap();
    for (id, name, priority) in [
        ("00pthird", "Third", 3),
        ("00pfirst", "First", 1),
        ("00psecond", "Second", 2),
    ] {
        policies.push(json!({"id": id, "type": "PASSWORD", "name": name, "system": false, "status": "ACTIVE", "priority": priority}));
    }
    let rules = source.get_mut(&T::PolicyRules).unwrap();
    for (policy, id, priority) in [
        ("00pfirst", "r2", 2),
        ("00pthird", "r1", 1),
        ("00pfirst", "r1", 1),
    ] {
        rules.push(json!({"policyId": policy, "rule": {"id": id, "name": format!("{policy} {id}"), "type": "PASSWORD",
            "status": "ACTIVE", "priority": priority, "system": false}}));
    }
    let p = whole(&source, &mini());
    let order: Vec<&str> = p
        .operations
        .iter()
        .map(|o| o.subject_id().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "00pfirst",
            "00psecond",
            "00pthird",
            "00pfirst/r1",
            "00pfirst/r2",
            "00pthird/r1"
        ]
    );
}

#[test]
fn phases_follow_the_dependency_order() {
    let p = whole(
        &tenant(),
        &State::from_iter(ResourceType::ALL.map(|t| (t, Vec::new()))),
    );
    let phases: Vec<usize> = p
        .operations
        .iter()
        .filter(|o| o.action != Action::Delete)
        .map(|o| phase(o.resource))
        .collect();
    assert!(phases.windows(2).all(|w| w[0] <= w[1]), "{phases:?}");
    assert!(p.summary.total(Action::Create) > 30);
}

#[test]
fn a_restore_that_denies_every_sign_in_is_refused_unless_overridden() {
    let mut source = mini();
    source.get_mut(&T::PolicyRules).unwrap().push(rule(
        "00pdefault",
        "0prblock",
        "Block everyone",
        0,
        "DENY",
        false,
    ));
    let target = mini();
    let p = whole(&source, &target);
    assert_eq!(p.lockout.verdict, Verdict::LocksOutRestoringAdmin);
    let admin = p
        .lockout
        .admins
        .iter()
        .find(|a| a.user_id == "00uadmin")
        .unwrap();
    assert!(admin.restoring && admin.super_admin && admin.now.is_none());
    assert_eq!(
        admin.after,
        Some(Lock::Denied {
            policy: "00pdefault".into(),
            rule: "00pdefault/0prblock".into(),
            rule_name: "Block everyone".into()
        })
    );
    assert_eq!(p.blockers(), vec![Blocker::Lockout]);

    // Without a known restoring admin, the super admins are still protected.
    let anonymous = plan_with(
        &source,
        &target,
        &Scope::Tenant,
        PlanOptions::default(),
        None,
        &super_admin_token(),
    );
    assert_eq!(anonymous.lockout.verdict, Verdict::LocksOutEverySuperAdmin);

    let options = PlanOptions {
        override_lockout: true,
        ..PlanOptions::default()
    };
    let overridden = plan_with(
        &source,
        &target,
        &Scope::Tenant,
        options,
        Some("00uadmin"),
        &super_admin_token(),
    );
    assert!(overridden.lockout_overridden);
    assert!(overridden.blockers().is_empty());
}

#[test]
fn a_deny_rule_that_spares_the_admins_or_only_one_zone_allows_is_judged_as_okta_would() {
    // Excluding the admins' group: they still reach the default rule.
    let mut spared = mini();
    let mut deny = rule(
        "00pdefault",
        "0prblock",
        "Block everyone else",
        0,
        "DENY",
        false,
    );
    deny["rule"]["conditions"]["people"] = json!({"groups": {"exclude": ["00gadmins"]}});
    spared.get_mut(&T::PolicyRules).unwrap().push(deny);
    assert_eq!(whole(&spared, &mini()).lockout.verdict, Verdict::Clear);

    // The only ALLOW limited to a zone: an admin outside it has no way in.
    let mut zoned = mini();
    let r = &mut zoned.get_mut(&T::PolicyRules).unwrap()[0]["rule"]["conditions"]["network"];
    *r = json!({"connection": "ZONE", "include": ["nzoOffice"]});
    let p = whole(&zoned, &mini());
    assert_eq!(p.lockout.verdict, Verdict::LocksOutRestoringAdmin);
    assert!(matches!(
        p.lockout.admins[0].after,
        Some(Lock::NoRule { .. })
    ));

    // The Admin Console's own policy denying the admin locks them out too.
    let mut console = mini();
    console.get_mut(&T::PolicyRules).unwrap()[1]["rule"]["actions"]["appSignOn"]["access"] =
        json!("DENY");
    assert_eq!(
        whole(&console, &mini()).lockout.verdict,
        Verdict::LocksOutRestoringAdmin
    );

    // Suspending the admin does as well; suspending someone else does not.
    let mut suspended = mini();
    suspended.get_mut(&T::Users).unwrap()[0]["status"] = json!("SUSPENDED");
    let p = whole(&suspended, &mini());
    assert_eq!(
        p.lockout.admins[0].after,
        Some(Lock::Status {
            status: "SUSPENDED".into()
        })
    );
    let mut other = mini();
    other.get_mut(&T::Users).unwrap()[1]["status"] = json!("SUSPENDED");
    let p = whole(&other, &mini());
    assert_eq!(p.lockout.verdict, Verdict::Clear);
    assert_eq!(p.blast_radius.users_deactivated.count, 1);
}

#[test]
fn a_lockout_the_target_already_has_does_not_block_the_restore() {
    let mut locked = mini();
    locked.get_mut(&T::PolicyRules).unwrap()[1]["rule"]["actions"]["appSignOn"]["access"] =
        json!("DENY");
    let mut source = locked.clone();
    source.get_mut(&T::Users).unwrap()[1]["profile"]["firstName"] = json!("Anne");
    let p = whole(&source, &locked);
    assert_eq!(p.lockout.verdict, Verdict::Clear);
    assert!(p.lockout.admins[0].now.is_some());
}

#[test]
fn scope_selects_types_or_listed_resources_and_their_children() {
    let mut source = mini();
    source.get_mut(&T::Groups).unwrap()[1]["profile"]["description"] = json!("builders");
    source.get_mut(&T::Users).unwrap()[1]["profile"]["firstName"] = json!("Anne");
    source
        .get_mut(&T::GroupMembers)
        .unwrap()
        .push(json!({"groupId": "00geng", "userId": "00uadmin"}));
    let target = mini();
    let scoped = |scope: Scope| {
        plan_with(
            &source,
            &target,
            &scope,
            PlanOptions::default(),
            Some("00uadmin"),
            &super_admin_token(),
        )
        .operations
        .iter()
        .map(|o| (o.resource, o.subject_id().unwrap().to_string()))
        .collect::<Vec<_>>()
    };
    assert_eq!(
        scoped(Scope::Types {
            resources: [T::Users].into()
        }),
        vec![(T::Users, "00uann".into())]
    );
    let listed = Scope::Resources {
        items: [ResourceRef {
            resource: T::Groups,
            id: "00geng".into(),
        }]
        .into(),
    };
    assert_eq!(
        scoped(listed),
        vec![
            (T::Groups, "00geng".into()),
            (T::GroupMembers, "00geng/00uadmin".into())
        ]
    );
    assert_eq!(scoped(Scope::Tenant).len(), 3);
    assert_eq!(
        Scope::Types {
            resources: BTreeSet::new()
        }
        .validate(),
        Err(ScopeError::NoTypes)
    );
    assert_eq!(
        Scope::Resources {
            items: BTreeSet::new()
        }
        .validate(),
        Err(ScopeError::NoResources)
    );
}

#[test]
fn blast_radius_names_activations_certificates_provisioning_and_secrets() {
    let mut source = mini();
    let users = source.get_mut(&T::Users).unwrap();
    users.push(user("00unew", "new@example.com", "ACTIVE"));
    let mut federated = user("00ufed", "fed@example.com", "ACTIVE");
    federated["credentials"] = json!({"provider": {"type": "FEDERATION", "name": "FEDERATION"}});
    users.push(federated);
    users.push(user("00ustaged", "staged@example.com", "STAGED"));
    source.get_mut(&T::Apps).unwrap().extend([
        json!({"id": "0oasaml", "name": "workday", "label": "Workday", "status": "ACTIVE", "signOnMode": "SAML_2_0",
               "features": ["PUSH_NEW_USERS", "PUSH_PROFILE_UPDATES"], "credentials": {"signing": {"kid": "k1"}}}),
        json!({"id": "0oaoidc", "name": "oidc_client", "label": "Portal", "status": "ACTIVE", "signOnMode": "OPENID_CONNECT",
               "credentials": {"oauthClient": {"client_id": "portal", "token_endpoint_auth_method": "client_secret_basic"}}}),
    ]);
    source.get_mut(&T::AppUserAssignments).unwrap().push(json!({"appId": "0oasaml", "user": {"id": "00uann", "scope": "USER", "status": "PROVISIONED"}}));
    source.insert(T::EventHooks, vec![json!({"id": "who1", "name": "SIEM", "status": "ACTIVE",
        "channel": {"type": "HTTP", "version": "1.0.0", "config": {"uri": "https://siem.example.com", "authScheme": {"type": "HEADER", "key": "Authorization"}}}})]);
    let mut target = mini();
    target.insert(T::EventHooks, vec![]);
    let p = whole(&source, &target);
    let b = &p.blast_radius;
    let names = |c: &blast::Counted| c.listed.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&b.users_activated),
        ["fed@example.com", "new@example.com"]
    );
    assert_eq!(names(&b.users_emailed), ["new@example.com"]);
    assert_eq!(names(&b.signing_certificate_changes), ["Workday"]);
    assert_eq!(b.provisioning_apps.len(), 1);
    assert_eq!(
        (
            b.provisioning_apps[0].name.as_str(),
            b.provisioning_apps[0].operations
        ),
        ("Workday", 2)
    );
    let missing: BTreeMap<Missing, Vec<String>> = b
        .not_restorable
        .iter()
        .map(|n| (n.missing, names(&n.objects)))
        .collect();
    assert_eq!(
        missing[&Missing::UserPassword],
        ["new@example.com", "staged@example.com"]
    );
    assert_eq!(missing[&Missing::UserFactors].len(), 3);
    assert_eq!(missing[&Missing::ClientSecret], ["Portal"]);
    assert_eq!(missing[&Missing::AppSigningCertificate], ["Workday"]);
    assert_eq!(missing[&Missing::ProvisioningCredentials], ["Workday"]);
    assert_eq!(missing[&Missing::HookSecret], ["SIEM"]);
    assert_eq!(missing[&Missing::HookVerification], ["SIEM"]);
    assert!(b.not_restorable.iter().all(|n| !n.step.is_empty()));
}

#[test]
fn the_estimate_is_the_write_rate_floor_per_phase_and_bucket() {
    let mut source = mini();
    for i in 0..30 {
        source.get_mut(&T::Users).unwrap().push(user(
            &format!("00u{i}"),
            &format!("u{i}@example.com"),
            "STAGED",
        ));
    }
    for i in 0..5 {
        source
            .get_mut(&T::Apps)
            .unwrap()
            .push(json!({"id": format!("0oa{i}"), "name": "bookmark",
            "label": format!("Link {i}"), "status": "ACTIVE", "signOnMode": "BOOKMARK"}));
    }
    let p = whole(&source, &mini());
    assert_eq!(p.estimate.requests[&Bucket::Users], 30);
    assert_eq!(p.estimate.requests[&Bucket::Apps], 5);
    // 30 user creates at half of 600/min, then 5 app creates at half of 100/min.
    assert!(
        (p.estimate.floor_seconds - (30.0 * 60.0 / 300.0 + 5.0 * 60.0 / 50.0)).abs() < 1e-9,
        "{}",
        p.estimate.floor_seconds
    );
}

#[test]
fn the_credential_check_names_each_missing_scope_or_role() {
    let mut source = mini();
    source
        .get_mut(&T::Groups)
        .unwrap()
        .push(group("00gnew", "New", "OKTA_GROUP"));
    source.get_mut(&T::PolicyRules).unwrap().push(rule(
        "00pdefault",
        "0prmfa",
        "MFA",
        0,
        "ALLOW",
        false,
    ));
    let scoped = Credential::OAuth {
        scopes: ["okta.groups.manage".to_string()].into(),
    };
    let p = plan_with(
        &source,
        &mini(),
        &Scope::Tenant,
        PlanOptions::default(),
        None,
        &scoped,
    );
    assert!(!p.access.sufficient);
    assert_eq!(p.access.missing.len(), 1);
    assert_eq!(
        (
            p.access.missing[0].resource,
            p.access.missing[0].needs.clone()
        ),
        (T::PolicyRules, vec!["okta.policies.manage".to_string()])
    );
    assert_eq!(p.blockers(), vec![Blocker::Access]);
    let org_admin = Credential::ApiToken {
        roles: ["ORG_ADMIN".to_string()].into(),
    };
    let p = plan_with(
        &source,
        &mini(),
        &Scope::Tenant,
        PlanOptions::default(),
        None,
        &org_admin,
    );
    assert_eq!(
        p.access
            .missing
            .iter()
            .map(|m| m.resource)
            .collect::<Vec<_>>(),
        vec![T::PolicyRules]
    );
    assert_eq!(p.access.missing[0].needs, ["SUPER_ADMIN"]);
    assert!(whole(&source, &mini()).access.sufficient);
}

#[test]
fn the_digest_changes_exactly_when_the_writes_would() {
    let mut source = mini();
    source.get_mut(&T::Users).unwrap()[1]["profile"]["firstName"] = json!("Anne");
    let a = whole(&source, &mini());
    assert_eq!(a.digest, whole(&source, &mini()).digest);
    let mut moved = mini();
    // A volatile field moving in the target changes nothing.
    moved.get_mut(&T::Users).unwrap()[1]["lastLogin"] = json!("2031-01-01T00:00:00.000Z");
    assert_eq!(a.digest, whole(&source, &moved).digest);
    moved.get_mut(&T::Users).unwrap()[1]["profile"]["lastName"] = json!("Changed");
    assert_ne!(a.digest, whole(&source, &moved).digest);
}

/// The emulator's demo org (with every default object Okta creates), restored into its empty
/// sandbox org, read over HTTP as a backup reads them.
#[test]
fn the_demo_org_restored_into_an_empty_sandbox() {
    use okta_emulator::{start, EmulatorConfig, DEFAULT_TOKEN};
    let demo = start(EmulatorConfig {
        okta_defaults: true,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let sandbox = start(EmulatorConfig {
        sandbox: true,
        seed: 2,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let collect = crate::ai::tests::tenant_scan::collect;
    let (source, target) = (
        collect(&demo.base_url(), DEFAULT_TOKEN),
        collect(&sandbox.base_url(), DEFAULT_TOKEN),
    );
    let admin = target.resources[&T::UserRoles][0]["userId"]
        .as_str()
        .unwrap()
        .to_string();
    let p = plan(&PlanInput {
        source: &source,
        target: &target,
        scope: &Scope::Tenant,
        options: PlanOptions::default(),
        restoring_admin: Some(&admin),
        credential: &super_admin_token(),
        limits: Limits::default(),
    })
    .unwrap();
    // Nothing of Okta's own is created, and everything the sandbox has is restored into.
    assert!(p
        .operations
        .iter()
        .all(|o| !(o.system && o.action == Action::Create)));
    assert!(ops(&p, Action::Delete).is_empty());
    let everyone = |s: &crate::tenant::TenantSnapshot| {
        s.resources[&T::Groups]
            .iter()
            .find(|g| g["type"] == "BUILT_IN")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(p.ids.iter().any(|i| i.resource == T::Groups
        && i.source_id.as_str() == everyone(&source)
        && i.target_id.as_str() == everyone(&target)));
    // The source's Everyone id appears in no write: every reference to it was rewritten.
    let writes = serde_json::to_string(
        &p.operations
            .iter()
            .filter(|o| o.action != Action::Skip)
            .map(|o| (&o.content, &o.fields))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(
        !writes.contains(&everyone(&source)),
        "a write still names the source's Everyone"
    );
    // Every non-default group and app of the demo org is created.
    let created = |t| {
        ops(&p, Action::Create)
            .iter()
            .filter(|o| o.resource == t)
            .count()
    };
    let custom_groups = source.resources[&T::Groups]
        .iter()
        .filter(|g| g["type"] == "OKTA_GROUP")
        .count();
    assert_eq!(created(T::Groups), custom_groups);
    assert!(created(T::Users) >= source.resources[&T::Users].len() - 1);
    assert!(created(T::PolicyRules) > 0 && created(T::GroupRules) > 0);
    let phases: Vec<usize> = p
        .operations
        .iter()
        .filter(|o| o.action != Action::Skip)
        .map(|o| phase(o.resource))
        .collect();
    assert!(phases.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(p.lockout.verdict, Verdict::Clear, "{:#?}", p.lockout);
    assert!(p.blockers().is_empty(), "{:?}", p.blockers());
    assert!(p.blast_radius.users_activated.count > 0);
    assert!(p
        .blast_radius
        .not_restorable
        .iter()
        .any(|n| n.missing == Missing::UserPassword));
    assert!(p.estimate.floor_seconds > 0.0);
}
