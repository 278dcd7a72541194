//! Re-reading what an event touched, and only that, from Okta: single-object reads where Okta
//! has them, the parent's short child list where it does not. Items come back in the
//! snapshot's shapes (child items wrapped with their parents' ids, docs/snapshot-format.md), so
//! they diff against captured versions directly. A 404 means the resource is gone.

use serde_json::{Map, Value};

use super::events::Touched;
use crate::okta::{OktaClient, OktaError};
use crate::tenant::ResourceType;

/// What one re-read found: the resources of each type it covers, as they are now.
#[derive(Debug, Default, PartialEq)]
pub struct Fresh {
    pub items: Vec<(ResourceType, Value)>,
}

/// The path of a top-level resource's single-object read.
fn item_path(resource: ResourceType, id: &str) -> Option<String> {
    let base = match resource {
        ResourceType::Users => "users",
        ResourceType::Groups => "groups",
        ResourceType::Apps => "apps",
        ResourceType::Policies => "policies",
        ResourceType::GroupRules => "groups/rules",
        ResourceType::Authenticators => "authenticators",
        ResourceType::NetworkZones => "zones",
        ResourceType::Idps => "idps",
        ResourceType::EventHooks => "eventHooks",
        ResourceType::InlineHooks => "inlineHooks",
        ResourceType::ApiTokens => "api-tokens",
        ResourceType::AuthorizationServers => "authorizationServers",
        _ => return None,
    };
    Some(format!("/api/v1/{base}/{id}"))
}

fn wrap(parents: &[(&str, &str)], field: &str, item: Value) -> Value {
    let mut object = Map::new();
    for (name, id) in parents {
        object.insert((*name).into(), Value::String((*id).into()));
    }
    object.insert(field.into(), item);
    Value::Object(object)
}

/// GET one document; `None` on 404.
async fn get(okta: &OktaClient<'_>, path: &str) -> Result<Option<Value>, OktaError> {
    match okta.get(path).await {
        Ok(v) => Ok(Some(v)),
        Err(OktaError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every item of a list; empty on 404 (the parent is gone, and its children with it).
async fn list(okta: &OktaClient<'_>, path: &str) -> Result<Vec<Value>, OktaError> {
    match okta.list_all(path).await {
        Ok(v) => Ok(v),
        Err(OktaError::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Re-reads what `touched` names.
pub async fn reread(okta: &OktaClient<'_>, touched: &Touched) -> Result<Fresh, OktaError> {
    use ResourceType as R;
    let mut fresh = Fresh::default();
    let mut push = |resource, item| fresh.items.push((resource, item));
    match touched {
        Touched::Item { resource, id } => {
            if let Some(path) = item_path(*resource, id) {
                if let Some(item) = get(okta, &path).await? {
                    push(*resource, item);
                }
            }
        }
        Touched::PolicyRule { policy, rule } => {
            let path = format!("/api/v1/policies/{policy}/rules/{rule}");
            if let Some(item) = get(okta, &path).await? {
                push(R::PolicyRules, wrap(&[("policyId", policy)], "rule", item));
            }
        }
        Touched::Membership { group, user } => {
            // Okta reads a membership from the user's groups: bounded by one user's groups,
            // where the group's member list grows with the org.
            let groups = list(okta, &format!("/api/v1/users/{user}/groups")).await?;
            if groups.iter().any(|g| g["id"].as_str() == Some(group)) {
                push(
                    R::GroupMembers,
                    wrap(&[("groupId", group)], "userId", Value::String(user.clone())),
                );
            }
        }
        Touched::AppUser { app, user } => {
            if let Some(item) = get(okta, &format!("/api/v1/apps/{app}/users/{user}")).await? {
                push(R::AppUserAssignments, wrap(&[("appId", app)], "user", item));
            }
        }
        Touched::AppGroup { app, group } => {
            if let Some(item) = get(okta, &format!("/api/v1/apps/{app}/groups/{group}")).await? {
                push(
                    R::AppGroupAssignments,
                    wrap(&[("appId", app)], "group", item),
                );
            }
        }
        Touched::UserRoles { user } => {
            for role in list(okta, &format!("/api/v1/users/{user}/roles")).await? {
                push(R::UserRoles, wrap(&[("userId", user)], "role", role));
            }
        }
        Touched::GroupRoles { group } => {
            for role in list(okta, &format!("/api/v1/groups/{group}/roles")).await? {
                push(R::GroupRoles, wrap(&[("groupId", group)], "role", role));
            }
        }
        Touched::AuthServerChildren { server } => {
            let base = format!("/api/v1/authorizationServers/{server}");
            let parent = [("authServerId", server.as_str())];
            for scope in list(okta, &format!("{base}/scopes")).await? {
                push(R::AuthorizationServerScopes, wrap(&parent, "item", scope));
            }
            for claim in list(okta, &format!("{base}/claims")).await? {
                push(R::AuthorizationServerClaims, wrap(&parent, "item", claim));
            }
            for policy in list(okta, &format!("{base}/policies")).await? {
                let id = policy["id"].as_str().map(str::to_string);
                push(
                    R::AuthorizationServerPolicies,
                    wrap(&parent, "policy", policy),
                );
                let Some(id) = id.filter(|id| super::events::plain_id(id)) else {
                    continue;
                };
                for rule in list(okta, &format!("{base}/policies/{id}/rules")).await? {
                    push(
                        R::AuthorizationServerPolicyRules,
                        wrap(&[("authServerId", server), ("policyId", &id)], "rule", rule),
                    );
                }
            }
        }
        Touched::ThreatInsight => {
            if let Some(item) = get(okta, "/api/v1/threats/configuration").await? {
                push(R::ThreatInsight, item);
            }
        }
    }
    Ok(fresh)
}
