//! For every resource type, real Okta payloads edited the way admins (and Okta itself) change
//! them: volatile edits and reordered sets report nothing, meaningful edits report exactly the
//! expected JSON-Pointer paths, secrets are withheld.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::okta::{restored_elsewhere, tenant, State};
use crate::drift::{
    diff_states, ChangeKind, DiffOptions, MatchBy, Op, ResourceChange, ResourceType, REDACTED,
};

use ResourceType as T;

/// What a case expects.
enum Expect {
    /// Nothing changes.
    Nothing,
    /// The edited resource changed at exactly these paths.
    Fields(&'static [(&'static str, Op)]),
    /// The edited resource is reported as one secret change at this path.
    Secret(&'static str, Op),
    Added,
    Removed,
}

struct Case {
    resource: ResourceType,
    /// Index of the item edited, in the fixture tenant's list.
    index: usize,
    what: &'static str,
    /// Applied to both sides first (to give a list something to reorder).
    prepare: Option<Edit>,
    edit: Edit,
    expect: Expect,
}

type Edit = fn(&mut State, ResourceType, usize);

fn set(ptr: &'static str, value: Value) -> impl Fn(&mut Value) {
    move |item| {
        let (parent, last) = ptr.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut *item
        } else {
            item.pointer_mut(parent)
                .unwrap_or_else(|| panic!("no {parent} in fixture"))
        };
        target[last] = value.clone();
    }
}

fn item(s: &mut State, t: ResourceType, i: usize) -> &mut Value {
    &mut s.get_mut(&t).unwrap()[i]
}

macro_rules! edit {
    ($($ptr:literal => $value:tt),+ $(,)?) => {
        |s: &mut State, t: ResourceType, i: usize| {
            let item = item(s, t, i);
            $( set($ptr, json!($value))(item); )+
        }
    };
}

fn reverse(ptr: &'static str) -> impl Fn(&mut Value) {
    move |item| {
        let arr = item
            .pointer_mut(ptr)
            .and_then(Value::as_array_mut)
            .unwrap_or_else(|| panic!("no array at {ptr}"));
        assert!(arr.len() > 1, "{ptr} has something to reorder");
        arr.reverse();
    }
}

macro_rules! reorder {
    ($ptr:literal) => {
        |s: &mut State, t: ResourceType, i: usize| reverse($ptr)(item(s, t, i))
    };
}

macro_rules! push {
    ($ptr:literal, $value:tt) => {
        |s: &mut State, t: ResourceType, i: usize| {
            item(s, t, i)
                .pointer_mut($ptr)
                .and_then(Value::as_array_mut)
                .unwrap_or_else(|| panic!("no array at {}", $ptr))
                .push(json!($value))
        }
    };
}

fn remove(s: &mut State, t: ResourceType, i: usize) {
    s.get_mut(&t).unwrap().remove(i);
}

fn duplicate_with_new_id(s: &mut State, t: ResourceType, i: usize) {
    let items = s.get_mut(&t).unwrap();
    let mut copy = items[i].clone();
    let id = copy
        .pointer_mut(id_path(t))
        .unwrap_or_else(|| panic!("{t} has an id"));
    *id = json!("00new1added");
    items.push(copy);
}

fn id_path(t: ResourceType) -> &'static str {
    match t {
        T::GroupMembers => "/userId",
        T::AppUserAssignments => "/user/id",
        T::AppGroupAssignments => "/group/id",
        T::PolicyRules | T::AuthorizationServerPolicyRules => "/rule/id",
        T::UserRoles | T::GroupRoles => "/role/id",
        T::AuthorizationServerScopes | T::AuthorizationServerClaims => "/item/id",
        T::AuthorizationServerPolicies => "/policy/id",
        _ => "/id",
    }
}

fn cases() -> Vec<Case> {
    let c = |resource, index, what, edit, expect| Case {
        resource,
        index,
        what,
        prepare: None,
        edit,
        expect,
    };
    let p = |resource, index, what, prepare, edit, expect| Case {
        resource,
        index,
        what,
        prepare: Some(prepare),
        edit,
        expect,
    };
    vec![
        // users
        c(
            T::Users,
            0,
            "sign-in and read-only timestamps",
            edit!(
                "/lastLogin" => "2030-01-01T00:00:00.000Z",
                "/lastUpdated" => "2030-01-01T00:00:00.000Z",
                "/statusChanged" => "2030-01-01T00:00:00.000Z",
                "/passwordChanged" => "2030-01-01T00:00:00.000Z",
                "/activated" => "2030-01-01T00:00:00.000Z",
            ),
            Expect::Nothing,
        ),
        c(
            T::Users,
            0,
            "suspension and a profile edit",
            edit!(
                "/status" => "SUSPENDED",
                "/profile/mobilePhone" => "+1 555 0100",
            ),
            Expect::Fields(&[
                ("/profile/mobilePhone", Op::Added),
                ("/status", Op::Modified),
            ]),
        ),
        c(
            T::Users,
            1,
            "password set by an admin",
            edit!("/credentials/password" => {"value": "Sup3rs3cret!"}),
            Expect::Secret("/credentials/password", Op::Modified),
        ),
        c(
            T::Users,
            1,
            "new user",
            duplicate_with_new_id,
            Expect::Added,
        ),
        // groups
        c(
            T::Groups,
            0,
            "membership activity",
            edit!(
                "/lastMembershipUpdated" => "2030-01-01T00:00:00.000Z",
                "/lastUpdated" => "2030-01-01T00:00:00.000Z",
            ),
            Expect::Nothing,
        ),
        c(
            T::Groups,
            0,
            "description",
            edit!("/profile/description" => "changed"),
            Expect::Fields(&[("/profile/description", Op::Modified)]),
        ),
        c(T::Groups, 1, "deleted", remove, Expect::Removed),
        // group members
        c(
            T::GroupMembers,
            0,
            "user left a group",
            remove,
            Expect::Removed,
        ),
        c(
            T::GroupMembers,
            0,
            "user joined a group",
            duplicate_with_new_id,
            Expect::Added,
        ),
        // apps
        c(
            T::Apps,
            4,
            "client secret rotated",
            edit!("/credentials/oauthClient/client_secret" => "n3w-s3cret"),
            Expect::Secret("/credentials/oauthClient/client_secret", Op::Modified),
        ),
        c(
            T::Apps,
            4,
            "redirect URIs reordered",
            reorder!("/settings/oauthClient/redirect_uris"),
            Expect::Nothing,
        ),
        c(
            T::Apps,
            4,
            "redirect URI added",
            push!(
                "/settings/oauthClient/redirect_uris",
                "https://evil.example.com/cb"
            ),
            Expect::Fields(&[("/settings/oauthClient/redirect_uris", Op::Modified)]),
        ),
        p(
            T::Apps,
            3,
            "SAML attribute statements reordered",
            |s, t, i| {
                item(s, t, i)["settings"]["signOn"]["attributeStatements"] = json!([
                    {"type": "EXPRESSION", "name": "email", "values": ["user.email"]},
                    {"type": "GROUP", "name": "groups", "filterType": "REGEX", "filterValue": ".*"},
                ]);
            },
            reorder!("/settings/signOn/attributeStatements"),
            Expect::Nothing,
        ),
        c(
            T::Apps,
            3,
            "SAML audience and label",
            edit!(
                "/settings/signOn/audience" => "https://attacker.example.com",
                "/label" => "Renamed",
            ),
            Expect::Fields(&[
                ("/label", Op::Modified),
                ("/settings/signOn/audience", Op::Modified),
            ]),
        ),
        p(
            T::Apps,
            0,
            "authentication policy switched",
            edit!(
                "/_links/accessPolicy" => {"href": "https://acme.okta.com/api/v1/policies/rst1strong"},
            ),
            edit!(
                "/_links/accessPolicy" => {"href": "https://acme.okta.com/api/v1/policies/rst2weak"},
            ),
            Expect::Fields(&[("/_links/accessPolicy", Op::Modified)]),
        ),
        c(
            T::Apps,
            1,
            "authentication policy link appears",
            edit!(
                "/_links/accessPolicy" => {"href": "https://acme.okta.com/api/v1/policies/rst2weak"},
            ),
            Expect::Fields(&[("/_links", Op::Added)]),
        ),
        c(
            T::Apps,
            3,
            "certificate rotation timestamps",
            edit!(
                "/lastUpdated" => "2030-01-01T00:00:00.000Z",
                "/created" => "2030-01-01T00:00:00.000Z",
            ),
            Expect::Nothing,
        ),
        // app user assignments
        c(
            T::AppUserAssignments,
            0,
            "provisioning sync",
            edit!(
                "/user/lastSync" => "2030-01-01T00:00:00.000Z",
                "/user/syncState" => "ERROR",
                "/user/lastUpdated" => "2030-01-01T00:00:00.000Z",
            ),
            Expect::Nothing,
        ),
        c(
            T::AppUserAssignments,
            0,
            "app profile and scope",
            edit!(
                "/user/profile/role" => "admin",
                "/user/scope" => "GROUP",
            ),
            Expect::Fields(&[
                ("/user/profile/role", Op::Modified),
                ("/user/scope", Op::Modified),
            ]),
        ),
        c(
            T::AppUserAssignments,
            0,
            "unassigned",
            remove,
            Expect::Removed,
        ),
        // app group assignments
        c(
            T::AppGroupAssignments,
            0,
            "priority",
            edit!("/group/priority" => 5),
            Expect::Fields(&[("/group/priority", Op::Modified)]),
        ),
        c(
            T::AppGroupAssignments,
            0,
            "security answer in the profile",
            edit!("/group/profile/securityAnswer" => "Pele"),
            Expect::Secret("/group/profile/securityAnswer", Op::Modified),
        ),
        c(
            T::AppGroupAssignments,
            0,
            "touched",
            edit!("/group/lastUpdated" => "2030-01-01T00:00:00.000Z"),
            Expect::Nothing,
        ),
        // policies
        c(
            T::Policies,
            0,
            "priority",
            edit!("/priority" => 7),
            Expect::Fields(&[("/priority", Op::Modified)]),
        ),
        c(
            T::Policies,
            1,
            "group added to a password policy",
            push!("/conditions/people/groups/include", "00gContractors"),
            Expect::Fields(&[("/conditions/people/groups/include", Op::Modified)]),
        ),
        c(
            T::Policies,
            2,
            "MFA enrollment authenticators reordered",
            reorder!("/settings/authenticators"),
            Expect::Nothing,
        ),
        c(
            T::Policies,
            1,
            "password minimum length lowered",
            edit!("/settings/password/complexity/minLength" => 4),
            Expect::Fields(&[("/settings/password/complexity/minLength", Op::Modified)]),
        ),
        c(
            T::Policies,
            3,
            "timestamps",
            edit!("/lastUpdated" => "2030-01-01T00:00:00.000Z"),
            Expect::Nothing,
        ),
        // policy rules
        c(
            T::PolicyRules,
            0,
            "sign-on session lengthened",
            edit!(
                "/rule/actions/signon/session/maxSessionLifetimeMinutes" => 100000,
            ),
            Expect::Fields(&[(
                "/rule/actions/signon/session/maxSessionLifetimeMinutes",
                Op::Modified,
            )]),
        ),
        c(
            T::PolicyRules,
            4,
            "registration form fields reordered",
            reorder!("/rule/actions/profileEnrollment/profileAttributes"),
            Expect::Fields(&[
                (
                    "/rule/actions/profileEnrollment/profileAttributes/0/label",
                    Op::Modified,
                ),
                (
                    "/rule/actions/profileEnrollment/profileAttributes/0/name",
                    Op::Modified,
                ),
                (
                    "/rule/actions/profileEnrollment/profileAttributes/2/label",
                    Op::Modified,
                ),
                (
                    "/rule/actions/profileEnrollment/profileAttributes/2/name",
                    Op::Modified,
                ),
            ]),
        ),
        c(
            T::PolicyRules,
            3,
            "catch-all rule denies",
            edit!("/rule/actions/appSignOn/access" => "DENY"),
            Expect::Fields(&[("/rule/actions/appSignOn/access", Op::Modified)]),
        ),
        c(T::PolicyRules, 1, "rule deleted", remove, Expect::Removed),
        c(
            T::PolicyRules,
            2,
            "timestamps",
            edit!("/rule/lastUpdated" => "2030-01-01T00:00:00.000Z"),
            Expect::Nothing,
        ),
        // group rules
        c(
            T::GroupRules,
            0,
            "expression",
            edit!("/conditions/expression/value" => "true"),
            Expect::Fields(&[("/conditions/expression/value", Op::Modified)]),
        ),
        c(
            T::GroupRules,
            0,
            "target added then targets reordered",
            |s, t, i| {
                push!("/actions/assignUserToGroups/groupIds", "00gAdmins")(s, t, i);
                reverse("/actions/assignUserToGroups/groupIds")(item(s, t, i));
            },
            Expect::Fields(&[("/actions/assignUserToGroups/groupIds", Op::Modified)]),
        ),
        c(
            T::GroupRules,
            0,
            "validity recomputed",
            edit!("/allGroupsValid" => false),
            Expect::Nothing,
        ),
        // authenticators
        c(
            T::Authenticators,
            4,
            "Duo secret key set",
            edit!("/provider/configuration/secretKey" => "duo-s3cret"),
            Expect::Secret("/provider/configuration/secretKey", Op::Added),
        ),
        c(
            T::Authenticators,
            2,
            "phone activated",
            edit!("/status" => "ACTIVE"),
            Expect::Fields(&[("/status", Op::Modified)]),
        ),
        c(
            T::Authenticators,
            0,
            "timestamps",
            edit!("/lastUpdated" => "2030-01-01T00:00:00.000Z"),
            Expect::Nothing,
        ),
        // network zones
        p(
            T::NetworkZones,
            2,
            "gateways reordered",
            push!("/gateways", {"type": "RANGE", "value": "10.0.0.1-10.0.0.9"}),
            reorder!("/gateways"),
            Expect::Nothing,
        ),
        c(
            T::NetworkZones,
            2,
            "gateway added",
            push!("/gateways", {"type": "CIDR", "value": "0.0.0.0/0"}),
            Expect::Fields(&[("/gateways", Op::Modified)]),
        ),
        c(
            T::NetworkZones,
            3,
            "blocklist deactivated",
            edit!("/status" => "INACTIVE"),
            Expect::Fields(&[("/status", Op::Modified)]),
        ),
        // idps
        c(
            T::Idps,
            0,
            "client secret changed",
            edit!("/protocol/credentials/client/client_secret" => "1dp-s3cret"),
            Expect::Secret("/protocol/credentials/client/client_secret", Op::Modified),
        ),
        c(
            T::Idps,
            0,
            "token endpoint moved",
            edit!("/protocol/endpoints/token/url" => "https://idp.attacker.example/token"),
            Expect::Fields(&[("/protocol/endpoints/token/url", Op::Modified)]),
        ),
        c(
            T::Idps,
            1,
            "timestamps",
            edit!("/lastUpdated" => "2030-01-01T00:00:00.000Z"),
            Expect::Nothing,
        ),
        // event hooks
        c(
            T::EventHooks,
            0,
            "subscriptions reordered",
            reorder!("/events/items"),
            Expect::Nothing,
        ),
        c(
            T::EventHooks,
            0,
            "subscription added",
            push!("/events/items", "user.session.start"),
            Expect::Fields(&[("/events/items", Op::Modified)]),
        ),
        p(
            T::EventHooks,
            0,
            "header value changed",
            push!("/channel/config/headers", {"key": "X-Api-Key", "value": "0ld-h3ader"}),
            |s, t, i| {
                let headers = item(s, t, i)
                    .pointer_mut("/channel/config/headers")
                    .unwrap();
                headers[0]["value"] = json!("n3w-h3ader");
            },
            Expect::Fields(&[("/channel/config/headers", Op::Modified)]),
        ),
        c(
            T::EventHooks,
            0,
            "endpoint moved",
            edit!("/channel/config/uri" => "https://collector.attacker.example"),
            Expect::Fields(&[("/channel/config/uri", Op::Modified)]),
        ),
        // inline hooks
        c(
            T::InlineHooks,
            0,
            "endpoint moved",
            edit!("/channel/config/uri" => "https://attacker.example/hook"),
            Expect::Fields(&[("/channel/config/uri", Op::Modified)]),
        ),
        c(
            T::InlineHooks,
            1,
            "client secret set",
            edit!("/channel/config/clientSecret" => "h00k-s3cret"),
            Expect::Secret("/channel/config/clientSecret", Op::Added),
        ),
        c(
            T::InlineHooks,
            2,
            "timestamps",
            edit!("/lastUpdated" => "2030-01-01T00:00:00.000Z"),
            Expect::Nothing,
        ),
        // api tokens
        c(
            T::ApiTokens,
            0,
            "used (expiry slides)",
            edit!("/expiresAt" => "2030-01-01T00:00:00.000Z"),
            Expect::Nothing,
        ),
        c(
            T::ApiTokens,
            0,
            "network restriction lifted",
            edit!("/network/connection" => "ANYWHERE_ELSE"),
            Expect::Fields(&[("/network/connection", Op::Modified)]),
        ),
        c(
            T::ApiTokens,
            1,
            "new token",
            duplicate_with_new_id,
            Expect::Added,
        ),
        // roles
        c(
            T::UserRoles,
            2,
            "super admin granted",
            duplicate_with_new_id,
            Expect::Added,
        ),
        c(
            T::UserRoles,
            0,
            "assignment touched",
            edit!("/role/lastUpdated" => "2030-01-01T00:00:00.000Z"),
            Expect::Nothing,
        ),
        c(
            T::UserRoles,
            0,
            "status",
            edit!("/role/status" => "INACTIVE"),
            Expect::Fields(&[("/role/status", Op::Modified)]),
        ),
        c(
            T::GroupRoles,
            1,
            "custom role revoked",
            remove,
            Expect::Removed,
        ),
        c(
            T::GroupRoles,
            0,
            "assignment touched",
            edit!("/role/lastUpdated" => "2030-01-01T00:00:00.000Z"),
            Expect::Nothing,
        ),
        c(
            T::GroupRoles,
            0,
            "label",
            edit!("/role/label" => "App Admin"),
            Expect::Fields(&[("/role/label", Op::Modified)]),
        ),
        // authorization servers
        c(
            T::AuthorizationServers,
            0,
            "automatic key rotation",
            edit!(
                "/credentials/signing/kid" => "newkid",
                "/credentials/signing/lastRotated" => "2030-01-01T00:00:00.000Z",
                "/credentials/signing/nextRotation" => "2030-04-01T00:00:00.000Z",
            ),
            Expect::Nothing,
        ),
        c(
            T::AuthorizationServers,
            0,
            "audience added",
            push!("/audiences", "api://other"),
            Expect::Fields(&[("/audiences", Op::Modified)]),
        ),
        c(
            T::AuthorizationServerScopes,
            0,
            "consent",
            edit!("/item/consent" => "IMPLICIT"),
            Expect::Fields(&[("/item/consent", Op::Modified)]),
        ),
        c(
            T::AuthorizationServerClaims,
            0,
            "claim value",
            edit!("/item/value" => "user.email"),
            Expect::Fields(&[("/item/value", Op::Modified)]),
        ),
        p(
            T::AuthorizationServerPolicies,
            0,
            "clients reordered",
            push!("/policy/conditions/clients/include", "0oaOther"),
            reorder!("/policy/conditions/clients/include"),
            Expect::Nothing,
        ),
        c(
            T::AuthorizationServerPolicies,
            0,
            "priority",
            edit!("/policy/priority" => 3),
            Expect::Fields(&[("/policy/priority", Op::Modified)]),
        ),
        c(
            T::AuthorizationServerPolicyRules,
            0,
            "grant types reordered",
            reorder!("/rule/conditions/grantTypes/include"),
            Expect::Nothing,
        ),
        c(
            T::AuthorizationServerPolicyRules,
            0,
            "refresh tokens made long-lived",
            edit!(
                "/rule/actions/token/refreshTokenLifetimeMinutes" => 525600,
            ),
            Expect::Fields(&[(
                "/rule/actions/token/refreshTokenLifetimeMinutes",
                Op::Modified,
            )]),
        ),
        // threat insight and org
        c(
            T::ThreatInsight,
            0,
            "blocking turned off",
            edit!("/action" => "audit"),
            Expect::Fields(&[("/action", Op::Modified)]),
        ),
        c(
            T::ThreatInsight,
            0,
            "timestamps",
            edit!("/lastUpdated" => "2030-01-01T00:00:00.000Z"),
            Expect::Nothing,
        ),
        c(
            T::Org,
            0,
            "support phone",
            edit!("/supportPhoneNumber" => "+1 555 0199"),
            Expect::Fields(&[("/supportPhoneNumber", Op::Modified)]),
        ),
        c(
            T::Org,
            0,
            "renewal",
            edit!("/expiresAt" => "2030-01-01T00:00:00Z"),
            Expect::Nothing,
        ),
    ]
}

fn only_change(diff: &[ResourceChange], what: &str) -> ResourceChange {
    assert_eq!(diff.len(), 1, "{what}: {diff:#?}");
    diff[0].clone()
}

#[test]
fn every_resource_type_reports_real_changes_and_ignores_noise() {
    let base = tenant();
    let mut changed_types = BTreeSet::new();
    let mut quiet_types = BTreeSet::new();
    for case in cases() {
        let what = format!("{} #{}: {}", case.resource, case.index, case.what);
        let mut before = base.clone();
        if let Some(prepare) = case.prepare {
            prepare(&mut before, case.resource, case.index);
        }
        let mut after = before.clone();
        (case.edit)(&mut after, case.resource, case.index);
        let diff = diff_states(&before, &after, &DiffOptions::default()).unwrap();
        match case.expect {
            Expect::Nothing => {
                assert!(diff.changes.is_empty(), "{what}: {:#?}", diff.changes);
                assert!(before != after, "{what}: the edit changed something");
                quiet_types.insert(case.resource);
            }
            Expect::Fields(paths) => {
                let change = only_change(&diff.changes, &what);
                assert_eq!(change.resource, case.resource, "{what}");
                assert_eq!(change.kind, ChangeKind::Changed, "{what}");
                let got: Vec<(&str, Op)> = change
                    .fields
                    .iter()
                    .map(|f| (f.path.as_str(), f.op))
                    .collect();
                assert_eq!(got, paths, "{what}: {:#?}", change.fields);
                changed_types.insert(case.resource);
            }
            Expect::Secret(path, op) => {
                let change = only_change(&diff.changes, &what);
                assert_eq!(change.fields.len(), 1, "{what}: {:#?}", change.fields);
                let f = &change.fields[0];
                assert_eq!(
                    (f.path.as_str(), f.op, f.secret),
                    (path, op, true),
                    "{what}"
                );
                assert_eq!((&f.before, &f.after), (&None, &None), "{what}");
                changed_types.insert(case.resource);
            }
            Expect::Added | Expect::Removed => {
                let change = only_change(&diff.changes, &what);
                let kind = if matches!(case.expect, Expect::Added) {
                    ChangeKind::Added
                } else {
                    ChangeKind::Removed
                };
                assert_eq!(
                    (change.resource, change.kind),
                    (case.resource, kind),
                    "{what}"
                );
                assert!(change.before.is_some() || change.after.is_some(), "{what}");
                changed_types.insert(case.resource);
            }
        }
        let text = serde_json::to_string(&diff).unwrap();
        for secret in [
            "Sup3rs3cret!",
            "n3w-s3cret",
            "Pele",
            "duo-s3cret",
            "1dp-s3cret",
            "0ld-h3ader",
            "n3w-h3ader",
            "h00k-s3cret",
            "Ronaldinho",
        ] {
            assert!(
                !text.contains(&format!("\"{secret}\"")),
                "{what} shows {secret}"
            );
        }
        let summary = diff.summary.of(case.resource).unwrap();
        assert!(summary.compared, "{what}");
        assert_eq!(
            summary.changes_count(),
            diff.changes.len() as u64,
            "{what}: summary counts"
        );
    }
    let all: BTreeSet<ResourceType> = ResourceType::ALL.into_iter().collect();
    assert_eq!(changed_types, all, "a real change for every type");
    // Types whose items have nothing volatile (a membership is only its key; scopes and
    // claims carry no timestamps in Okta's schema).
    let nothing_volatile: BTreeSet<ResourceType> = [
        T::GroupMembers,
        T::AuthorizationServerScopes,
        T::AuthorizationServerClaims,
    ]
    .into_iter()
    .collect();
    assert_eq!(
        all.difference(&quiet_types)
            .copied()
            .collect::<BTreeSet<_>>(),
        nothing_volatile,
        "every type with volatile fields or sets has a case showing they are ignored"
    );
}

#[test]
fn a_removed_resource_is_shown_with_its_secrets_redacted() {
    let base = tenant();
    let mut after = base.clone();
    after.get_mut(&T::Apps).unwrap().remove(4);
    let diff = diff_states(&base, &after, &DiffOptions::default()).unwrap();
    let change = only_change(&diff.changes, "OIDC app deleted");
    assert_eq!(change.kind, ChangeKind::Removed);
    let shown = change.before.unwrap();
    assert_eq!(
        shown.pointer("/credentials/oauthClient/client_secret"),
        Some(&json!(REDACTED))
    );
    assert_eq!(shown["label"], "Sample Client profile");
    assert!(
        shown.get("id").is_none(),
        "the key is reported as the change's id"
    );
    assert_eq!(change.id.as_str(), "0oafxqCAJWWGELFTYASJ");
    let text = serde_json::to_string(&shown).unwrap();
    assert!(
        !text.contains("wj9bOsLK0BRNJqy7KMMnaE7m8qrW51bPO2n1"),
        "{text}"
    );
}

#[test]
fn the_same_tenant_in_another_org_has_no_drift_once_paired_by_natural_key() {
    let a = tenant();
    let b = restored_elsewhere(&a);
    // By id, nothing pairs: everything is removed and added.
    let by_id = diff_states(&a, &b, &DiffOptions::default()).unwrap();
    let items: u64 = a.values().map(|v| v.len() as u64).sum();
    assert_eq!(
        by_id.summary.types.iter().map(|t| t.removed).sum::<u64>(),
        items - 1,
        "all but the threat insight singleton"
    );
    let options = DiffOptions {
        match_by: MatchBy::IdThenNaturalKey,
        ..DiffOptions::default()
    };
    let diff = diff_states(&a, &b, &options).unwrap();
    assert!(diff.changes.is_empty(), "{:#?}", diff.changes);
    for t in &diff.summary.types {
        assert_eq!(t.before, t.after, "{}", t.resource);
        assert_eq!(t.unchanged, t.before, "{}", t.resource);
        assert_eq!(t.ambiguous, 0, "{}", t.resource);
    }
    // A real change in org B still shows, with the pair's two ids.
    let mut b2 = b.clone();
    let zone = b2
        .get_mut(&T::NetworkZones)
        .unwrap()
        .iter_mut()
        .find(|z| z["name"] == "BlockedIpZone")
        .unwrap();
    zone["status"] = json!("INACTIVE");
    let diff = diff_states(&a, &b2, &options).unwrap();
    let change = only_change(&diff.changes, "zone deactivated in org B");
    assert_eq!(change.id.as_str(), "nzou3u0stMCmgOzXK1d6");
    assert!(change.after_id.as_ref().unwrap().as_str().starts_with('B'));
    assert_eq!(change.natural_key.unwrap().as_str(), r#"["BlockedIpZone"]"#);
}

#[test]
fn references_are_compared_through_the_id_map() {
    // A group-rule target in org B pointing at B's copy of the group is not drift; pointing at
    // another group is.
    let a = tenant();
    let mut b = restored_elsewhere(&a);
    let options = DiffOptions {
        match_by: MatchBy::IdThenNaturalKey,
        ..DiffOptions::default()
    };
    let groups_b: Vec<String> = b[&T::Groups]
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect();
    let rule = &mut b.get_mut(&T::GroupRules).unwrap()[0];
    rule["actions"]["assignUserToGroups"]["groupIds"] = json!(groups_b);
    let diff = diff_states(&a, &b, &options).unwrap();
    let change = only_change(&diff.changes, "group rule retargeted");
    assert_eq!(change.fields.len(), 1);
    let members = change.fields[0].members.as_ref().unwrap();
    // Both of B's groups, shown in A's ids; the rule's original target is not a group of the
    // tenant, so it appears as removed unchanged.
    assert_eq!(
        members.added,
        [json!("00g1emaKYZTWRYYRRTSK"), json!("00garwpuyxHaWOkdV0g4")]
    );
    assert_eq!(members.removed, [json!("00gjitX9HqABSoqTB0g3")]);
}

#[test]
fn ambiguous_natural_keys_are_reported_not_guessed() {
    let mut a = tenant();
    // Two apps with the same label and sign-on mode.
    let apps = a.get_mut(&T::Apps).unwrap();
    apps[0]["label"] = json!("hrportal");
    apps[1]["label"] = json!("hrportal");
    let b = restored_elsewhere(&a);
    let options = DiffOptions {
        match_by: MatchBy::IdThenNaturalKey,
        ..DiffOptions::default()
    };
    let diff = diff_states(&a, &b, &options).unwrap();
    let apps = diff.summary.of(T::Apps).unwrap();
    assert_eq!(apps.ambiguous, 1);
    assert_eq!((apps.added, apps.removed), (2, 2));
}

#[test]
fn a_type_one_side_did_not_collect_is_not_compared() {
    let a = tenant();
    let mut b = a.clone();
    b.remove(&T::Users);
    b.get_mut(&T::Groups).unwrap().clear();
    let diff = diff_states(&a, &b, &DiffOptions::default()).unwrap();
    let users = diff.summary.of(T::Users).unwrap();
    assert!(!users.compared);
    assert_eq!(users.removed, 0);
    let groups = diff.summary.of(T::Groups).unwrap();
    assert!(groups.compared);
    assert_eq!(groups.removed, 2, "an empty list is a real answer");
    assert!(diff.changes.iter().all(|c| c.resource != T::Users));
}
