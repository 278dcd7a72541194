//! The Okta read API over a [`Tenant`]: routing, list filters and paging.

use serde_json::Value;

use crate::errors::ApiError;
use crate::filter::Expr;
use crate::paging::{link_headers, paginate, Cursors, PageSize, Query};
use crate::tenant::{with_origin, Tenant};

/// A successful API response: its status, the JSON body (`null`: none, as for 204) and any
/// `Link` header values.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) links: Vec<String>,
}

/// One API request, as far as routing cares.
pub(crate) struct Call<'a> {
    /// Scheme and host the client used, e.g. `http://127.0.0.1:8080`, for links.
    pub(crate) origin: &'a str,
    /// Path and query exactly as requested, echoed in the `self` link.
    pub(crate) target: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Query<'a>,
    pub(crate) cursors: Cursors,
    /// When the request arrived (epoch milliseconds), for cursor lifetimes.
    pub(crate) now_ms: u64,
}

// Page sizes from the spec (default / max); where the spec gives no maximum, Okta's earlier API
// reference does (users: "maximum 200").
const USERS: PageSize = PageSize::new(Some(200), 200);
/// Users matched by `q`: 10 unless `limit` says otherwise, and never more than one page.
const USERS_Q: PageSize = PageSize::new(Some(10), 200);
const GROUPS: PageSize = PageSize::new(Some(10_000), 10_000);
/// Groups matched by `q`: "the default limit for a query is 300 results", one page.
const GROUPS_Q: PageSize = PageSize::new(Some(300), 10_000);
const GROUP_MEMBERS: PageSize = PageSize::new(Some(1000), 1000);
const GROUP_RULES: PageSize = PageSize::new(Some(50), 200);
/// Documented default -1 ("server default"): pages of 200.
const APPS: PageSize = PageSize {
    minus_one_means_default: true,
    ..PageSize::new(Some(200), 200)
};
const APP_USERS: PageSize = PageSize::new(Some(50), 500);
/// The spec's minimum for this list is 20.
const APP_GROUPS: PageSize = PageSize {
    min: 20,
    ..PageSize::new(Some(20), 200)
};
const IDPS: PageSize = PageSize::new(Some(20), 200);
const AUTHORIZATION_SERVERS: PageSize = PageSize::new(Some(200), 200);
const SCOPES: PageSize = PageSize::new(None, 200);
/// Zones document `limit=-1` ("server default") as their default: all of them.
const ZONES: PageSize = PageSize {
    minus_one_means_default: true,
    ..PageSize::new(None, 200)
};
/// Policies and rules come in one page unless a `limit` asks otherwise (the spec types it as a
/// string and gives no maximum).
const POLICIES: PageSize = PageSize::new(None, 200);

pub(crate) fn route(tenant: &Tenant, call: &Call) -> Result<Reply, ApiError> {
    let segments: Vec<&str> = call
        .path
        .strip_prefix("/api/v1/")
        .map(|rest| rest.split('/').collect())
        .unwrap_or_default();
    let q = &call.query;
    match segments.as_slice() {
        ["users"] => list_users(call, tenant),
        ["users", "me"] => one(call, Some(tenant.super_admin()), "User", "me"),
        ["users", id] => one(call, tenant.user(id), "User", id),
        // "List all groups of a user": not paged (the spec declares no `limit`/`after`).
        ["users", id, "groups"] => {
            let user = tenant
                .user_index(id)
                .ok_or_else(|| ApiError::not_found("User", id))?;
            let ids = tenant.groups_of(user);
            let groups: Vec<&Value> = ids.iter().filter_map(|g| tenant.group(g)).collect();
            unpaged(call, &groups)
        }
        ["groups"] => match q.get("q") {
            // "Paging and searching are currently mutually exclusive. You can't page a query."
            Some(_) => first_page(
                call,
                GROUPS_Q,
                &search(tenant.groups(), q, &["profile.name"])?,
            ),
            None => values(
                call,
                GROUPS,
                &search(tenant.groups(), q, &["profile.name"])?,
            ),
        },
        ["groups", "rules"] => settings_route(tenant, call, &segments),
        ["groups", id] => one(call, tenant.group(id), "UserGroup", id),
        ["groups", id, "users"] => {
            let members = tenant
                .group_member_indexes(id)
                .ok_or_else(|| ApiError::not_found("UserGroup", id))?;
            users(call, tenant, GROUP_MEMBERS, members)
        }
        ["apps"] => values(call, APPS, &search(tenant.apps(), q, &["label", "name"])?),
        ["apps", id] => one(call, tenant.app(id), "AppInstance", id),
        ["apps", id, "users"] => {
            let assignments = tenant
                .app_assignments(id)
                .ok_or_else(|| ApiError::not_found("AppInstance", id))?;
            let records = assignments.records();
            let all_users = tenant.users();
            list(
                call,
                APP_USERS,
                records,
                |r| id_of(&all_users[r.user]),
                |cursor| {
                    let user = tenant.user_position(cursor)?;
                    records.binary_search_by_key(&user, |r| r.user).ok()
                },
                |r| {
                    with_origin(
                        &assignments.render(r, all_users, tenant.groups()),
                        call.origin,
                    )
                },
            )
        }
        ["apps", id, "users", user] => {
            known(tenant.app(id), "AppInstance", id)?;
            one(call, tenant.app_user(id, user).as_ref(), "AppUser", user)
        }
        ["apps", id, "groups"] => {
            let groups = tenant
                .app_groups(id)
                .ok_or_else(|| ApiError::not_found("AppInstance", id))?;
            values(call, APP_GROUPS, &groups.iter().collect::<Vec<_>>())
        }
        ["apps", id, "groups", group] => {
            known(tenant.app(id), "AppInstance", id)?;
            one(
                call,
                tenant.app_group(id, group),
                "ApplicationGroupAssignment",
                group,
            )
        }
        ["policies"] => values(call, POLICIES, &policies(tenant, q)?),
        ["policies", id] => one(call, tenant.policy(id), "Policy", id),
        ["policies", id, "rules"] => {
            let rules = tenant
                .policy_rules(id)
                .ok_or_else(|| ApiError::not_found("Policy", id))?;
            values(call, POLICIES, &rules.iter().collect::<Vec<_>>())
        }
        ["policies", id, "rules", rule] => {
            known(tenant.policy(id), "Policy", id)?;
            one(call, tenant.policy_rule(id, rule), "PolicyRule", rule)
        }
        ["org"] => one(call, Some(tenant.org()), "Org", "org"),
        _ => settings_route(tenant, call, &segments),
    }
}

fn all(c: &crate::tenant::Collection) -> Vec<&Value> {
    c.items().iter().collect()
}

/// Org configuration endpoints. Those the spec gives no paging parameters come whole.
fn settings_route(tenant: &Tenant, call: &Call, segments: &[&str]) -> Result<Reply, ApiError> {
    let s = tenant.settings();
    match segments {
        ["groups", "rules"] => values(call, GROUP_RULES, &all(&s.group_rules)),
        ["groups", id, "roles"] => {
            known(tenant.group(id), "UserGroup", id)?;
            let roles = s.group_roles.get(*id).map(all).unwrap_or_default();
            unpaged(call, &roles)
        }
        ["users", id, "roles"] => {
            known(tenant.user(id), "User", id)?;
            let roles = s.user_roles.get(*id).map(all).unwrap_or_default();
            unpaged(call, &roles)
        }
        ["iam", "assignees", "users"] => Ok(Reply {
            status: 200,
            body: with_origin(&s.role_assignees(), call.origin),
            links: Vec::new(),
        }),
        ["groups", "rules", id] => one(call, s.group_rules.get(id), "GroupRule", id),
        ["authenticators"] => unpaged(call, &all(&s.authenticators)),
        ["authenticators", id] => one(call, s.authenticators.get(id), "Authenticator", id),
        ["zones"] => values(call, ZONES, &all(&s.network_zones)),
        ["zones", id] => one(call, s.network_zones.get(id), "NetworkZone", id),
        ["idps"] => values(call, IDPS, &all(&s.idps)),
        ["idps", id] => one(call, s.idps.get(id), "IdentityProvider", id),
        ["eventHooks"] => unpaged(call, &all(&s.event_hooks)),
        ["eventHooks", id] => one(call, s.event_hooks.get(id), "EventHook", id),
        ["inlineHooks"] => unpaged(call, &all(&s.inline_hooks)),
        ["inlineHooks", id] => one(call, s.inline_hooks.get(id), "InlineHook", id),
        ["api-tokens"] => unpaged(call, &all(&s.api_tokens)),
        ["api-tokens", id] => one(call, s.api_tokens.get(id), "ApiToken", id),
        ["threats", "configuration"] => one(
            call,
            Some(&s.threat_insight),
            "ThreatInsight",
            "configuration",
        ),
        ["authorizationServers"] => {
            values(call, AUTHORIZATION_SERVERS, &all(&s.authorization_servers))
        }
        ["authorizationServers", id] => one(
            call,
            s.authorization_servers.get(id),
            "AuthorizationServer",
            id,
        ),
        ["authorizationServers", id, child @ ..] => {
            let server = s
                .auth_servers
                .get(*id)
                .ok_or_else(|| ApiError::not_found("AuthorizationServer", id))?;
            match child {
                ["scopes"] => values(call, SCOPES, &all(&server.scopes)),
                ["scopes", scope] => one(call, server.scopes.get(scope), "OAuth2Scope", scope),
                ["claims"] => unpaged(call, &all(&server.claims)),
                ["claims", claim] => one(call, server.claims.get(claim), "OAuth2Claim", claim),
                ["policies"] => unpaged(call, &all(&server.policies)),
                ["policies", policy] => one(
                    call,
                    server.policies.get(policy),
                    "AuthorizationServerPolicy",
                    policy,
                ),
                ["policies", policy, "rules", rule] => {
                    let rules = server
                        .policy_rules
                        .get(*policy)
                        .ok_or_else(|| ApiError::not_found("AuthorizationServerPolicy", policy))?;
                    one(call, rules.get(rule), "AuthorizationServerPolicyRule", rule)
                }
                ["policies", policy, "rules"] => {
                    let rules = server
                        .policy_rules
                        .get(*policy)
                        .ok_or_else(|| ApiError::not_found("AuthorizationServerPolicy", policy))?;
                    unpaged(call, &all(rules))
                }
                _ => Err(ApiError::not_found("Path", call.path)),
            }
        }
        _ => Err(ApiError::not_found("Path", call.path)),
    }
}

fn one(call: &Call, item: Option<&Value>, kind: &str, id: &str) -> Result<Reply, ApiError> {
    let item = known(item, kind, id)?;
    Ok(Reply {
        status: 200,
        body: with_origin(item, call.origin),
        links: Vec::new(),
    })
}

fn known<'v>(item: Option<&'v Value>, kind: &str, id: &str) -> Result<&'v Value, ApiError> {
    item.ok_or_else(|| ApiError::not_found(kind, id))
}

fn id_of(item: &Value) -> &str {
    item["id"].as_str().unwrap_or_default()
}

/// A list the spec declares no paging for: every item, whatever `limit` or `after` say.
fn unpaged(call: &Call, items: &[&Value]) -> Result<Reply, ApiError> {
    Ok(Reply {
        status: 200,
        body: items.iter().map(|i| with_origin(i, call.origin)).collect(),
        links: vec![format!("<{}{}>; rel=\"self\"", call.origin, call.target)],
    })
}

/// The first `limit` items and no `next` link: lists that "don't support pagination" (`q`).
fn first_page(call: &Call, size: PageSize, items: &[&Value]) -> Result<Reply, ApiError> {
    let limit = size.resolve(call.query.get("limit"))?;
    let end = limit.map_or(items.len(), |l| l.min(items.len()));
    unpaged(call, &items[..end])
}

/// A page of stored payloads; short lists, so the cursor is found by scanning.
fn values(call: &Call, size: PageSize, items: &[&Value]) -> Result<Reply, ApiError> {
    list(
        call,
        size,
        items,
        |item| id_of(item),
        |cursor| items.iter().position(|item| id_of(item) == cursor),
        |item| with_origin(item, call.origin),
    )
}

/// A page of users given as ascending indexes into [`Tenant::users`]; the cursor is found through
/// the id index, so paging through a large org stays cheap.
fn users(
    call: &Call,
    tenant: &Tenant,
    size: PageSize,
    indexes: &[usize],
) -> Result<Reply, ApiError> {
    let all = tenant.users();
    list(
        call,
        size,
        indexes,
        |&i| id_of(&all[i]),
        |cursor| indexes.binary_search(&tenant.user_position(cursor)?).ok(),
        |&i| with_origin(&all[i], call.origin),
    )
}

/// A page of `items`: `id` names an item for the next cursor, `locate` finds the cursor's item,
/// and `render` turns the page's items (only those) into payloads with links at the caller's
/// origin.
fn list<'i, T>(
    call: &Call,
    size: PageSize,
    items: &'i [T],
    id: impl Fn(&'i T) -> &'i str,
    locate: impl Fn(&str) -> Option<usize>,
    render: impl Fn(&T) -> Value,
) -> Result<Reply, ApiError> {
    let limit = size.resolve(call.query.get("limit"))?;
    let after = match call.query.get("after") {
        Some(cursor) => {
            let id = call.cursors.decode(cursor, call.now_ms)?;
            Some(locate(id).ok_or_else(ApiError::invalid_paging)?)
        }
        None => None,
    };
    let page = paginate(items, id, after, limit);
    let next = page
        .next
        .as_deref()
        .map(|id| call.cursors.encode(id, call.now_ms));
    let links = link_headers(
        call.origin,
        call.target,
        call.path,
        &call.query,
        limit,
        next.as_deref(),
    );
    let body = page.items.iter().map(render).collect();
    Ok(Reply {
        status: 200,
        body,
        links,
    })
}

/// Attributes Okta's `q` matches users on.
const USER_Q_ATTRIBUTES: &[&str] = &["profile.firstName", "profile.lastName", "profile.email"];

/// `GET /api/v1/users`, as the spec describes its three modes: a plain list omits DEPROVISIONED
/// users; `filter` and `search` results include them; `q` omits them, defaults to 10 results and
/// does not page.
fn list_users(call: &Call, tenant: &Tenant) -> Result<Reply, ApiError> {
    let query = &call.query;
    let mut parts = Vec::new();
    for key in ["filter", "search"] {
        if let Some(text) = query.get(key) {
            parts.push(Expr::parse(text)?);
        }
    }
    let all = tenant.users();
    if let Some(text) = query.get("q") {
        let q = Expr::prefix_of_any(USER_Q_ATTRIBUTES, text);
        let limit = USERS_Q.resolve(query.get("limit"))?.unwrap_or(usize::MAX);
        let matching: Vec<&Value> = tenant
            .listed_user_indexes()
            .iter()
            .map(|&i| &all[i])
            .filter(|u| q.matches(u) && parts.iter().all(|p| p.matches(u)))
            .take(limit)
            .collect();
        return unpaged(call, &matching);
    }
    if parts.is_empty() {
        return users(call, tenant, USERS, tenant.listed_user_indexes());
    }
    let matching: Vec<usize> = (0..all.len())
        .filter(|&i| parts.iter().all(|p| p.matches(&all[i])))
        .collect();
    users(call, tenant, USERS, &matching)
}

fn search<'t>(
    items: &'t [Value],
    query: &Query,
    q_attributes: &[&str],
) -> Result<Vec<&'t Value>, ApiError> {
    let expr = expression(query, q_attributes)?;
    Ok(items
        .iter()
        .filter(|item| expr.as_ref().is_none_or(|e| e.matches(item)))
        .collect())
}

/// `filter`, `search` and `q` (a prefix match on `q_attributes`) combined with `and`.
fn expression(query: &Query, q_attributes: &[&str]) -> Result<Option<Expr>, ApiError> {
    let mut parts = Vec::new();
    for key in ["filter", "search"] {
        if let Some(text) = query.get(key) {
            parts.push(Expr::parse(text)?);
        }
    }
    if let Some(text) = query.get("q") {
        parts.push(Expr::prefix_of_any(q_attributes, text));
    }
    Ok(parts
        .into_iter()
        .reduce(|a, b| Expr::And(Box::new(a), Box::new(b))))
}

/// `GET /api/v1/policies`: `type` is required, `status` optional. A type outside the spec's
/// list, or one the org's licence lacks, is Okta's E0000002.
fn policies<'t>(tenant: &'t Tenant, query: &Query) -> Result<Vec<&'t Value>, ApiError> {
    let kind = query
        .get("type")
        .ok_or_else(|| ApiError::validation("type", "type: The field cannot be left blank"))?;
    if !tenant.has_policy_type(kind) {
        return Err(ApiError::invalid_policy_type());
    }
    let status = query.get("status");
    if status.is_some_and(|s| s != "ACTIVE" && s != "INACTIVE") {
        return Err(ApiError::validation(
            "status",
            "status: Must be ACTIVE or INACTIVE",
        ));
    }
    Ok(tenant
        .policies()
        .iter()
        .filter(|p| p["type"] == kind && status.is_none_or(|s| p["status"] == s))
        .collect())
}
