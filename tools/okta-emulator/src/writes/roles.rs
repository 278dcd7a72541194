//! Admin role assignments to users and groups (developer.okta.com/docs/api/openapi/okta-management/
//! management/tag/RoleAssignmentAUser/ and .../RoleAssignmentBGroup/): the standard role types
//! of the spec's `StandardRoleAssignmentSchema`; assigning a role twice is Okta's 409 E0000090,
//! roles go to Okta groups only (E0000211 for `Everyone`, E0000194 for app groups).

use serde_json::{json, Value};

use super::{link, object, required, target, Env, Outcome, Write};
use crate::errors::ApiError;
use crate::syslog::Emitted;
use crate::tenant::{Collection, Tenant};

/// Standard role types and their labels.
const ROLES: [(&str, &str); 12] = [
    ("SUPER_ADMIN", "Super Organization Administrator"),
    ("ORG_ADMIN", "Organizational Administrator"),
    ("APP_ADMIN", "Application Administrator"),
    ("USER_ADMIN", "Group Administrator"),
    ("HELP_DESK_ADMIN", "Help Desk Administrator"),
    ("READ_ONLY_ADMIN", "Read Only Administrator"),
    (
        "API_ACCESS_MANAGEMENT_ADMIN",
        "API Access Management Administrator",
    ),
    ("REPORT_ADMIN", "Report Administrator"),
    ("GROUP_MEMBERSHIP_ADMIN", "Group Membership Administrator"),
    ("WORKFLOWS_ADMIN", "Workflows Administrator"),
    (
        "ACCESS_CERTIFICATIONS_ADMIN",
        "Access Certifications Administrator",
    ),
    ("ACCESS_REQUESTS_ADMIN", "Access Requests Administrator"),
];

/// `POST /api/v1/{users|groups}/{id}/roles`.
pub(super) fn grant(
    tenant: &mut Tenant,
    write: &Write,
    env: &mut Env,
    family: &str,
    id: &str,
) -> Result<Outcome, ApiError> {
    let body = Value::Object(object(write)?.clone());
    let kind = required(&body, "type")?;
    let label = ROLES
        .iter()
        .find(|(t, _)| *t == kind)
        .map(|(_, label)| *label)
        .ok_or_else(|| ApiError::validation("type", format!("type: Invalid role type {kind}")))?;
    let (assignee, assignee_target, assignment_type) = if family == "users" {
        let index = tenant
            .user_index(id)
            .ok_or_else(|| ApiError::not_found("User", id))?;
        let user = tenant.user_at(index);
        (
            user["id"].as_str().unwrap_or_default().to_owned(),
            target::user(user),
            "USER",
        )
    } else {
        let group = tenant
            .group(id)
            .ok_or_else(|| ApiError::not_found("UserGroup", id))?;
        match group["type"].as_str() {
            Some("BUILT_IN") => {
                return Err(ApiError::custom(
                    400,
                    "E0000211",
                    format!("Roles cannot be granted to built-in groups: {id}"),
                ))
            }
            Some("OKTA_GROUP") => {}
            _ => {
                return Err(ApiError::custom(
                    400,
                    "E0000194",
                    format!(
                        "Roles can only be granted to Okta groups, AD groups and LDAP groups. {id}"
                    ),
                ))
            }
        }
        (id.to_owned(), target::group(group), "GROUP")
    };
    let roles = assignments(tenant, family)
        .entry(assignee.clone())
        .or_default();
    if roles.items().iter().any(|r| r["type"] == kind) {
        return Err(ApiError::custom(
            409,
            "E0000090",
            "The role specified is already assigned to the user.",
        ));
    }
    let role_id = env.id("ra1");
    let now = env.now();
    let role = json!({
        "id": role_id,
        "label": label,
        "type": kind,
        "status": "ACTIVE",
        "created": now,
        "lastUpdated": now,
        "assignmentType": assignment_type,
        "_links": { "assignee": link(&format!("/api/v1/{family}/{assignee}")) },
    });
    roles.insert(role.clone(), None);
    let event = if family == "users" {
        "user.account.privilege.grant"
    } else {
        "group.privilege.grant"
    };
    // Okta answers 201 for a user's new role and 200 for a group's.
    let outcome = if family == "users" {
        Outcome::created
    } else {
        Outcome::ok
    };
    Ok(outcome(
        role,
        vec![Emitted::new(event, vec![assignee_target])],
    ))
}

/// `DELETE /api/v1/{users|groups}/{id}/roles/{roleAssignmentId}`.
pub(super) fn revoke(
    tenant: &mut Tenant,
    family: &str,
    id: &str,
    role: &str,
) -> Result<Outcome, ApiError> {
    let assignee = if family == "users" {
        let index = tenant
            .user_index(id)
            .ok_or_else(|| ApiError::not_found("User", id))?;
        tenant.user_at(index).clone()
    } else {
        tenant
            .group(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("UserGroup", id))?
    };
    let key = assignee["id"].as_str().unwrap_or_default().to_owned();
    let roles = assignments(tenant, family);
    roles
        .get_mut(&key)
        .and_then(|r| r.remove(role))
        .ok_or_else(|| ApiError::not_found("RoleAssignment", role))?;
    if roles.get(&key).is_some_and(|r| r.len() == 0) {
        roles.remove(&key);
    }
    let (event, target) = if family == "users" {
        ("user.account.privilege.revoke", target::user(&assignee))
    } else {
        ("group.privilege.revoke", target::group(&assignee))
    };
    Ok(Outcome::empty(204, vec![Emitted::new(event, vec![target])]))
}

fn assignments<'t>(
    tenant: &'t mut Tenant,
    family: &str,
) -> &'t mut std::collections::HashMap<String, Collection> {
    let settings = tenant.settings_mut();
    if family == "users" {
        &mut settings.user_roles
    } else {
        &mut settings.group_roles
    }
}
