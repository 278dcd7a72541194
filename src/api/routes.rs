//! The route table: one list the dispatcher, the tests and the docs all read. Each row carries
//! how the route authenticates and, for team routes, the permission [`Action`] it performs: an
//! API key reaches a route only if one of its scopes allows that action, before any handler runs.

use crate::authz::matrix::Action;
use crate::ports::Method;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Health,
    ListConnections,
    CreateConnection,
    GetConnection,
    DeleteConnection,
    CreateBackup,
    ListBackups,
    GetBackup,
    ObjectUrl,
    Download,
    CreateComplianceRun,
    ListComplianceRuns,
    GetComplianceRun,
    ListFindings,
    TransitionFinding,
    ComplianceTrend,
    ListTeams,
    ListMembers,
    CreateInvitation,
    AcceptInvitation,
    ChangeMemberRole,
    RemoveMember,
    CreateApiKey,
    ListApiKeys,
    RevokeApiKey,
}

/// How a route authenticates its caller, and what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    /// The HMAC signature in the URL itself.
    SignedUrl,
    /// A Supabase user JWT, or an API key whose scopes allow the action (confined to its team).
    /// The use case checks the caller's role for the action in the team it resolves.
    Team(Action),
    /// The caller's own account (accepting an invitation): a user JWT only, never an API key.
    Account,
}

pub struct RouteDef {
    pub method: Method,
    pub template: &'static str,
    pub route: Route,
    pub access: Access,
}

const fn def(method: Method, template: &'static str, route: Route, access: Access) -> RouteDef {
    RouteDef {
        method,
        template,
        route,
        access,
    }
}

pub const ROUTES: &[RouteDef] = &[
    def(Method::Get, "/api/v1/health", Route::Health, Access::Public),
    def(
        Method::Get,
        "/api/v1/connections",
        Route::ListConnections,
        Access::Team(Action::ConnectionRead),
    ),
    def(
        Method::Post,
        "/api/v1/connections",
        Route::CreateConnection,
        Access::Team(Action::ConnectionManage),
    ),
    def(
        Method::Get,
        "/api/v1/connections/{id}",
        Route::GetConnection,
        Access::Team(Action::ConnectionRead),
    ),
    def(
        Method::Delete,
        "/api/v1/connections/{id}",
        Route::DeleteConnection,
        Access::Team(Action::ConnectionManage),
    ),
    def(
        Method::Post,
        "/api/v1/connections/{id}/backups",
        Route::CreateBackup,
        Access::Team(Action::BackupRun),
    ),
    def(
        Method::Get,
        "/api/v1/connections/{id}/backups",
        Route::ListBackups,
        Access::Team(Action::BackupRead),
    ),
    def(
        Method::Get,
        "/api/v1/backups/{id}",
        Route::GetBackup,
        Access::Team(Action::BackupRead),
    ),
    def(
        Method::Get,
        "/api/v1/backups/{id}/objects/{type}/url",
        Route::ObjectUrl,
        Access::Team(Action::BackupDownload),
    ),
    def(
        Method::Get,
        "/api/v1/downloads",
        Route::Download,
        Access::SignedUrl,
    ),
    def(
        Method::Post,
        "/api/v1/connections/{id}/compliance-runs",
        Route::CreateComplianceRun,
        Access::Team(Action::ComplianceRun),
    ),
    def(
        Method::Get,
        "/api/v1/connections/{id}/compliance-runs",
        Route::ListComplianceRuns,
        Access::Team(Action::ComplianceRead),
    ),
    def(
        Method::Get,
        "/api/v1/compliance-runs/{id}",
        Route::GetComplianceRun,
        Access::Team(Action::ComplianceRead),
    ),
    def(
        Method::Get,
        "/api/v1/connections/{id}/findings",
        Route::ListFindings,
        Access::Team(Action::ComplianceRead),
    ),
    def(
        Method::Post,
        "/api/v1/connections/{id}/findings/{check_id}/transitions",
        Route::TransitionFinding,
        Access::Team(Action::FindingTriage),
    ),
    def(
        Method::Get,
        "/api/v1/teams/{id}/compliance-trend",
        Route::ComplianceTrend,
        Access::Team(Action::ComplianceRead),
    ),
    def(
        Method::Get,
        "/api/v1/teams",
        Route::ListTeams,
        Access::Team(Action::TeamRead),
    ),
    def(
        Method::Get,
        "/api/v1/teams/{id}/members",
        Route::ListMembers,
        Access::Team(Action::TeamRead),
    ),
    def(
        Method::Post,
        "/api/v1/teams/{id}/invitations",
        Route::CreateInvitation,
        Access::Team(Action::MemberManage),
    ),
    def(
        Method::Post,
        "/api/v1/invitations/accept",
        Route::AcceptInvitation,
        Access::Account,
    ),
    def(
        Method::Patch,
        "/api/v1/teams/{id}/members/{user_id}",
        Route::ChangeMemberRole,
        Access::Team(Action::MemberManage),
    ),
    def(
        Method::Delete,
        "/api/v1/teams/{id}/members/{user_id}",
        Route::RemoveMember,
        Access::Team(Action::MemberManage),
    ),
    def(
        Method::Post,
        "/api/v1/api-keys",
        Route::CreateApiKey,
        Access::Team(Action::ApiKeyManage),
    ),
    def(
        Method::Get,
        "/api/v1/api-keys",
        Route::ListApiKeys,
        Access::Team(Action::ApiKeyManage),
    ),
    def(
        Method::Delete,
        "/api/v1/api-keys/{id}",
        Route::RevokeApiKey,
        Access::Team(Action::ApiKeyManage),
    ),
];

/// Outcome of matching a path against the table.
pub enum Resolved<'a> {
    Found(&'a RouteDef, Vec<String>),
    /// The path exists but not with this method.
    MethodNotAllowed,
    NotFound,
}

pub fn resolve(method: Option<Method>, path: &str) -> Resolved<'static> {
    let mut path_matched = false;
    for def in ROUTES {
        if let Some(params) = match_template(def.template, path) {
            if Some(def.method) == method {
                return Resolved::Found(def, params);
            }
            path_matched = true;
        }
    }
    if path_matched {
        Resolved::MethodNotAllowed
    } else {
        Resolved::NotFound
    }
}

/// `{name}` segments capture one non-empty path segment each.
fn match_template(template: &str, path: &str) -> Option<Vec<String>> {
    let mut t = template.split('/');
    let mut p = path.split('/');
    let mut params = Vec::new();
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) if ts.starts_with('{') => {
                if ps.is_empty() {
                    return None;
                }
                params.push(ps.to_string());
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_templates_methods_and_params() {
        match resolve(Some(Method::Get), "/api/v1/backups/abc/objects/users/url") {
            Resolved::Found(def, params) => {
                assert_eq!(def.route, Route::ObjectUrl);
                assert_eq!(params, vec!["abc", "users"]);
            }
            _ => panic!("expected a match"),
        }
        assert!(matches!(
            resolve(Some(Method::Patch), "/api/v1/connections"),
            Resolved::MethodNotAllowed
        ));
        assert!(matches!(
            resolve(None, "/api/v1/connections"),
            Resolved::MethodNotAllowed
        ));
        assert!(matches!(
            resolve(Some(Method::Get), "/api/v1/connections/"),
            Resolved::NotFound
        ));
        assert!(matches!(
            resolve(Some(Method::Get), "/api/v1/nope"),
            Resolved::NotFound
        ));
        assert!(matches!(
            resolve(Some(Method::Get), "/api/v1/connections/a/b"),
            Resolved::NotFound
        ));
    }

    #[test]
    fn keys_reach_team_routes_by_scope_and_never_the_account_or_key_routes() {
        use crate::authz::matrix::{scopes_allow, Scope};
        for def in ROUTES {
            let reachable = match def.access {
                Access::Team(action) => scopes_allow(&Scope::ALL, action),
                Access::Account => false,
                Access::Public | Access::SignedUrl => continue,
            };
            let key_route = def.template.starts_with("/api/v1/api-keys");
            let account = def.route == Route::AcceptInvitation;
            assert_eq!(reachable, !key_route && !account, "{}", def.template);
        }
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.template == b.template),
                    "{}",
                    a.template
                );
            }
        }
    }
}
