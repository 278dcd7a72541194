//! The route table: one list the dispatcher, the tests and the docs all read. Each row carries
//! how the route authenticates and, for team routes, the permission [`Action`] it performs: an
//! API key reaches a route only if one of its scopes allows that action, before any handler runs.

use crate::authz::matrix::Action;
use crate::ports::Method;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Health,
    OpenApi,
    ListConnections,
    CreateConnection,
    GetConnection,
    DeleteConnection,
    VerifyConnection,
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
    ListInvitations,
    RevokeInvitation,
    GetTeamSettings,
    ChangeTeamSettings,
    AcceptInvitation,
    ChangeMemberRole,
    RemoveMember,
    CreateApiKey,
    ListApiKeys,
    RevokeApiKey,
    TeamPlan,
    BillingCheckout,
    BillingPortal,
    StripeWebhook,
    RotateDataKey,
    GetAiSettings,
    SetAiSettings,
    DeleteAiAnswers,
    ListGuidanceRecords,
    GetGuidanceRecord,
    FindingGuidance,
    PrivilegedAccessGuidance,
    DriftAlertGuidance,
    RestorePlanGuidance,
    VerifyAuditChain,
    ExportAuditPack,
    GetAllowList,
    SetAllowList,
    TrustCenter,
    TrustStylesheet,
    SecurityTxt,
    AuditKeys,
    AuditKeyPem,
    DeleteTeam,
    CancelTeamDeletion,
    GetTeamDeletion,
    UserExport,
    SnapshotDiff,
    ResourceHistory,
    DriftView,
    TransitionDriftAlert,
    SetDriftSettings,
    RequestEmailVerification,
    ConfirmEmailVerification,
    GetEmailPreferences,
    SetEmailPreferences,
    UnsubscribePage,
    Unsubscribe,
    SendGridWebhook,
    CreateRestorePlan,
    GetRestorePlan,
    ApplyRestore,
    ApproveRestore,
    GetRestoreReceipt,
    SetRestoreSettings,
    DashboardPage,
    DashboardAsset,
    DevSession,
    SetConnectionEnvironment,
    PutDrillSettings,
    PatchDrillSettings,
    RunDrill,
    ListDrills,
    GetDrill,
}

/// What a route reads from the request body (`api::body` enforces it, before the handler runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// Nothing: a body is refused (413) at its declared length or its first piece.
    None,
    /// An action without a payload: nothing, whitespace or `{}` (at most 64 bytes).
    Empty,
    /// A strict JSON document of at most 64 KiB.
    Json,
    /// A provider's signed payload, kept byte for byte for the signature check: at most 1 MiB
    /// (a webhook event carries whole provider objects, which can outgrow the JSON cap).
    Signed,
    /// A small HTML form post (the RFC 8058 one-click unsubscribe body): at most 4 KiB.
    Form,
}

impl Route {
    /// The body each route takes; the one place that says so.
    pub const fn body(self) -> BodyKind {
        use Route::*;
        match self {
            CreateConnection
            | TransitionFinding
            | CreateInvitation
            | AcceptInvitation
            | ChangeMemberRole
            | CreateApiKey
            | ChangeTeamSettings
            | BillingCheckout
            | BillingPortal
            | SetAiSettings
            | SetAllowList
            | DeleteTeam
            | TransitionDriftAlert
            | SetDriftSettings
            | ConfirmEmailVerification
            | SetEmailPreferences
            | CreateRestorePlan
            | SetRestoreSettings
            | SetConnectionEnvironment
            | PutDrillSettings
            | PatchDrillSettings => BodyKind::Json,
            StripeWebhook | SendGridWebhook => BodyKind::Signed,
            Unsubscribe => BodyKind::Form,
            DeleteConnection
            | VerifyConnection
            | CreateBackup
            | CreateComplianceRun
            | RemoveMember
            | RevokeApiKey
            | RevokeInvitation
            | RotateDataKey
            | DeleteAiAnswers
            | FindingGuidance
            | PrivilegedAccessGuidance
            | DriftAlertGuidance
            | RestorePlanGuidance
            | CancelTeamDeletion
            | RequestEmailVerification
            | ApplyRestore
            | ApproveRestore
            | DevSession
            | RunDrill => BodyKind::Empty,
            Health | OpenApi | ListConnections | GetConnection | ListBackups | GetBackup
            | ObjectUrl | Download | ListComplianceRuns | GetComplianceRun | ListFindings
            | ComplianceTrend | ListTeams | ListMembers | ListApiKeys | ListInvitations
            | GetTeamSettings | TeamPlan | GetAiSettings | ListGuidanceRecords
            | GetGuidanceRecord | VerifyAuditChain | ExportAuditPack | GetAllowList
            | TrustCenter | TrustStylesheet | SecurityTxt | AuditKeys | AuditKeyPem
            | GetTeamDeletion | UserExport | SnapshotDiff | ResourceHistory | DriftView
            | GetEmailPreferences | UnsubscribePage | GetRestorePlan | GetRestoreReceipt
            | DashboardPage | DashboardAsset | ListDrills | GetDrill => BodyKind::None,
        }
    }
}

/// What a route does when the rate limiter cannot count (its binding fails): every budget the
/// route spends follows it. Authentication and authorisation apply in full either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimiterDown {
    /// Serve the request: reads, cheap changes, and the incident-response actions (revoking a
    /// key, removing a member, deleting a connection) that a counting outage must never block.
    Open,
    /// Refuse with `503 rate_limiter_unavailable`: requests that spend something scarce or hand
    /// something out (Okta calls, queued jobs, email, new credentials, download links, decrypted
    /// downloads), whose cost the limit exists to bound.
    Closed,
}

impl Route {
    /// Fail open or fail closed, per route; the one place that decides it (docs/security.md,
    /// "Rate limits", gives the reasons).
    pub const fn when_limiter_down(self) -> LimiterDown {
        use Route::*;
        match self {
            CreateConnection
            | VerifyConnection
            | CreateBackup
            | CreateComplianceRun
            | CreateInvitation
            | AcceptInvitation
            | CreateApiKey
            | ObjectUrl
            | Download
            | BillingCheckout
            | BillingPortal
            | FindingGuidance
            | PrivilegedAccessGuidance
            | DriftAlertGuidance
            | RestorePlanGuidance
            | ExportAuditPack
            | RequestEmailVerification
            | ConfirmEmailVerification
            | CreateRestorePlan
            | ApplyRestore
            | DevSession
            | RunDrill => LimiterDown::Closed,
            Health
            | OpenApi
            | ListConnections
            | GetConnection
            | DeleteConnection
            | ListBackups
            | GetBackup
            | ListComplianceRuns
            | GetComplianceRun
            | ListFindings
            | TransitionFinding
            | ComplianceTrend
            | ListTeams
            | ListMembers
            | ChangeMemberRole
            | RemoveMember
            | ListApiKeys
            | RevokeApiKey
            | ListInvitations
            | RevokeInvitation
            | GetTeamSettings
            | ChangeTeamSettings
            | TeamPlan
            | StripeWebhook
            | RotateDataKey
            | GetAiSettings
            | SetAiSettings
            | DeleteAiAnswers
            | ListGuidanceRecords
            | GetGuidanceRecord
            | VerifyAuditChain
            | GetAllowList
            | SetAllowList
            | TrustCenter
            | TrustStylesheet
            | SecurityTxt
            | AuditKeys
            | AuditKeyPem
            | DeleteTeam
            | CancelTeamDeletion
            | GetTeamDeletion
            | UserExport
            | SnapshotDiff
            | ResourceHistory
            | DriftView
            | TransitionDriftAlert
            | SetDriftSettings
            | GetEmailPreferences
            | SetEmailPreferences
            | UnsubscribePage
            | Unsubscribe
            | SendGridWebhook
            | GetRestorePlan
            | ApproveRestore
            | GetRestoreReceipt
            | SetRestoreSettings
            | DashboardPage
            | DashboardAsset
            | SetConnectionEnvironment
            | PutDrillSettings
            | PatchDrillSettings
            | ListDrills
            | GetDrill => LimiterDown::Open,
        }
    }
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
    /// A provider's signature over the raw body, checked by the handler before anything else.
    Webhook,
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
    // This table as an OpenAPI 3.1 document (`api::openapi`).
    def(
        Method::Get,
        "/api/v1/openapi.json",
        Route::OpenApi,
        Access::Public,
    ),
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
    // A service app's key registered in Okta: get a token, record the granted scopes.
    def(
        Method::Post,
        "/api/v1/connections/{id}/verify",
        Route::VerifyConnection,
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
        Method::Post,
        "/api/v1/connections/{id}/restores",
        Route::CreateRestorePlan,
        Access::Team(Action::RestorePlan),
    ),
    def(
        Method::Get,
        "/api/v1/restores/{id}",
        Route::GetRestorePlan,
        Access::Team(Action::BackupRead),
    ),
    def(
        Method::Post,
        "/api/v1/restores/{id}/apply",
        Route::ApplyRestore,
        Access::Team(Action::RestoreApply),
    ),
    def(
        Method::Post,
        "/api/v1/restores/{id}/approvals",
        Route::ApproveRestore,
        Access::Team(Action::RestoreApply),
    ),
    def(
        Method::Get,
        "/api/v1/restores/{id}/receipt",
        Route::GetRestoreReceipt,
        Access::Team(Action::BackupRead),
    ),
    def(
        Method::Patch,
        "/api/v1/teams/{id}/restore-settings",
        Route::SetRestoreSettings,
        Access::Team(Action::RestoreApply),
    ),
    // Labels a connection production or sandbox (drills write only into a sandbox).
    def(
        Method::Patch,
        "/api/v1/connections/{id}/environment",
        Route::SetConnectionEnvironment,
        Access::Team(Action::ConnectionManage),
    ),
    def(
        Method::Put,
        "/api/v1/connections/{id}/drills/settings",
        Route::PutDrillSettings,
        Access::Team(Action::DrillManage),
    ),
    def(
        Method::Patch,
        "/api/v1/connections/{id}/drills/settings",
        Route::PatchDrillSettings,
        Access::Team(Action::DrillManage),
    ),
    def(
        Method::Post,
        "/api/v1/connections/{id}/drills",
        Route::RunDrill,
        Access::Team(Action::DrillRun),
    ),
    def(
        Method::Get,
        "/api/v1/connections/{id}/drills",
        Route::ListDrills,
        Access::Team(Action::BackupRead),
    ),
    def(
        Method::Get,
        "/api/v1/drills/{id}",
        Route::GetDrill,
        Access::Team(Action::BackupRead),
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
    // Two backups of the connection compared (`?from=&to=`, filters, opaque cursor).
    def(
        Method::Get,
        "/api/v1/connections/{id}/diff",
        Route::SnapshotDiff,
        Access::Team(Action::DriftRead),
    ),
    // Every recorded version of one resource, with the diff between consecutive versions
    // (`okta_id` is the resource's key; a child key's `/` is sent as `%2F`).
    def(
        Method::Get,
        "/api/v1/connections/{id}/resources/{type}/{okta_id}/history",
        Route::ResourceHistory,
        Access::Team(Action::DriftRead),
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
        "/api/v1/connections/{id}/drift",
        Route::DriftView,
        Access::Team(Action::DriftRead),
    ),
    def(
        Method::Post,
        "/api/v1/connections/{id}/drift/alerts/{alert_id}/transitions",
        Route::TransitionDriftAlert,
        Access::Team(Action::DriftTriage),
    ),
    def(
        Method::Patch,
        "/api/v1/connections/{id}/drift/settings",
        Route::SetDriftSettings,
        Access::Team(Action::ConnectionManage),
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
        Method::Get,
        "/api/v1/teams/{id}/invitations",
        Route::ListInvitations,
        Access::Team(Action::MemberManage),
    ),
    def(
        Method::Delete,
        "/api/v1/teams/{id}/invitations/{invitation_id}",
        Route::RevokeInvitation,
        Access::Team(Action::MemberManage),
    ),
    def(
        Method::Get,
        "/api/v1/teams/{id}/settings",
        Route::GetTeamSettings,
        Access::Team(Action::TeamRead),
    ),
    def(
        Method::Patch,
        "/api/v1/teams/{id}/settings",
        Route::ChangeTeamSettings,
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
    def(
        Method::Get,
        "/api/v1/teams/{id}/plan",
        Route::TeamPlan,
        Access::Team(Action::TeamRead),
    ),
    def(
        Method::Post,
        "/api/v1/billing/checkout",
        Route::BillingCheckout,
        Access::Team(Action::BillingManage),
    ),
    def(
        Method::Post,
        "/api/v1/billing/portal",
        Route::BillingPortal,
        Access::Team(Action::BillingManage),
    ),
    def(
        Method::Post,
        "/api/webhooks/stripe",
        Route::StripeWebhook,
        Access::Webhook,
    ),
    def(
        Method::Post,
        "/api/v1/teams/{id}/data-key/rotations",
        Route::RotateDataKey,
        Access::Team(Action::KeyRotate),
    ),
    def(
        Method::Get,
        "/api/v1/teams/{id}/ai",
        Route::GetAiSettings,
        Access::Team(Action::AiRead),
    ),
    def(
        Method::Patch,
        "/api/v1/teams/{id}/ai",
        Route::SetAiSettings,
        Access::Team(Action::AiManage),
    ),
    def(
        Method::Delete,
        "/api/v1/teams/{id}/ai/answers",
        Route::DeleteAiAnswers,
        Access::Team(Action::AiManage),
    ),
    def(
        Method::Get,
        "/api/v1/teams/{id}/ai/records",
        Route::ListGuidanceRecords,
        Access::Team(Action::AiRead),
    ),
    def(
        Method::Get,
        "/api/v1/ai-records/{id}",
        Route::GetGuidanceRecord,
        Access::Team(Action::AiRead),
    ),
    def(
        Method::Post,
        "/api/v1/connections/{id}/findings/{check_id}/guidance",
        Route::FindingGuidance,
        Access::Team(Action::AiRequest),
    ),
    def(
        Method::Post,
        "/api/v1/connections/{id}/privileged-access/guidance",
        Route::PrivilegedAccessGuidance,
        Access::Team(Action::AiRequest),
    ),
    def(
        Method::Post,
        "/api/v1/connections/{id}/drift/alerts/{alert_id}/guidance",
        Route::DriftAlertGuidance,
        Access::Team(Action::AiRequest),
    ),
    def(
        Method::Post,
        "/api/v1/restores/{id}/guidance",
        Route::RestorePlanGuidance,
        Access::Team(Action::AiRequest),
    ),
    def(
        Method::Get,
        "/api/v1/teams/{id}/audit/verify",
        Route::VerifyAuditChain,
        Access::Team(Action::ActivityRead),
    ),
    // A signed zip of the team's evidence (`?team_id=&from=&to=`); the Trust Center names the
    // path without the version.
    def(
        Method::Get,
        "/api/v1/export/audit-pack",
        Route::ExportAuditPack,
        Access::Team(Action::AuditExport),
    ),
    def(
        Method::Get,
        "/api/export/audit-pack",
        Route::ExportAuditPack,
        Access::Team(Action::AuditExport),
    ),
    def(
        Method::Get,
        "/api/v1/teams/{id}/ip-allowlist",
        Route::GetAllowList,
        Access::Team(Action::TeamRead),
    ),
    // Replaces the list's entries (an empty list removes the restriction).
    def(
        Method::Patch,
        "/api/v1/teams/{id}/ip-allowlist",
        Route::SetAllowList,
        Access::Team(Action::MemberManage),
    ),
    // Deleting a team (GDPR Art. 17): two calls, the second with the first's token; owners only.
    def(
        Method::Delete,
        "/api/v1/teams/{id}",
        Route::DeleteTeam,
        Access::Team(Action::TeamDelete),
    ),
    def(
        Method::Post,
        "/api/v1/teams/{id}/deletion/cancel",
        Route::CancelTeamDeletion,
        Access::Team(Action::TeamDelete),
    ),
    def(
        Method::Get,
        "/api/v1/teams/{id}/deletion",
        Route::GetTeamDeletion,
        Access::Team(Action::TeamRead),
    ),
    // The signed-in user's own data (GDPR Art. 20), never through an API key.
    def(
        Method::Get,
        "/api/v1/me/export",
        Route::UserExport,
        Access::Account,
    ),
    def(Method::Get, "/trust", Route::TrustCenter, Access::Public),
    def(
        Method::Get,
        "/trust.css",
        Route::TrustStylesheet,
        Access::Public,
    ),
    def(
        Method::Get,
        "/.well-known/security.txt",
        Route::SecurityTxt,
        Access::Public,
    ),
    def(
        Method::Get,
        "/.well-known/butterfly-audit-keys.json",
        Route::AuditKeys,
        Access::Public,
    ),
    // `{kid}.pem`: the handler takes the `.pem` off.
    def(
        Method::Get,
        "/.well-known/butterfly-audit-keys/{kid}",
        Route::AuditKeyPem,
        Access::Public,
    ),
    def(
        Method::Post,
        "/api/v1/me/email/verification",
        Route::RequestEmailVerification,
        Access::Account,
    ),
    def(
        Method::Post,
        "/api/v1/me/email/verification/confirm",
        Route::ConfirmEmailVerification,
        Access::Account,
    ),
    def(
        Method::Get,
        "/api/v1/me/email-preferences",
        Route::GetEmailPreferences,
        Access::Account,
    ),
    def(
        Method::Patch,
        "/api/v1/me/email-preferences",
        Route::SetEmailPreferences,
        Access::Account,
    ),
    // The signed token in the query authenticates; `GET` only shows a confirmation page.
    def(
        Method::Get,
        "/api/v1/email/unsubscribe",
        Route::UnsubscribePage,
        Access::Public,
    ),
    def(
        Method::Post,
        "/api/v1/email/unsubscribe",
        Route::Unsubscribe,
        Access::Public,
    ),
    def(
        Method::Post,
        "/api/webhooks/sendgrid",
        Route::SendGridWebhook,
        Access::Webhook,
    ),
    // The web dashboard (`crate::web`): one shell page and its embedded assets, public like
    // any page; every view then calls the API above with the user's token.
    def(Method::Get, "/app", Route::DashboardPage, Access::Public),
    def(
        Method::Get,
        "/app/assets/{name}",
        Route::DashboardAsset,
        Access::Public,
    ),
    // Local stacks only: mints the demo user's JWT; 404 unless `DEV_SIGN_IN_USER` is set.
    def(
        Method::Post,
        "/app/dev-session",
        Route::DevSession,
        Access::Public,
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
                Access::Public | Access::SignedUrl | Access::Webhook => continue,
            };
            let key_route = def.template.starts_with("/api/v1/api-keys");
            let account = def.access == Access::Account;
            // Billing and deleting the team are the owner's own decisions: no key scope
            // reaches them.
            let billing = def.template.starts_with("/api/v1/billing");
            let deletion = matches!(def.route, Route::DeleteTeam | Route::CancelTeamDeletion);
            assert_eq!(
                reachable,
                !key_route && !account && !billing && !deletion,
                "{}",
                def.template
            );
        }
    }

    #[test]
    fn reads_never_take_a_body_and_writes_say_what_they_take() {
        for def in ROUTES {
            let kind = def.route.body();
            match def.method {
                Method::Get => assert_eq!(kind, BodyKind::None, "{}", def.template),
                Method::Patch => assert_eq!(kind, BodyKind::Json, "{}", def.template),
                Method::Post | Method::Put | Method::Delete => {
                    assert_ne!(kind, BodyKind::None, "{}", def.template)
                }
            }
        }
    }

    #[test]
    fn what_costs_or_hands_out_fails_closed_and_incident_response_fails_open() {
        use LimiterDown::*;
        for (route, down) in [
            (Route::Download, Closed),
            (Route::ObjectUrl, Closed),
            (Route::CreateApiKey, Closed),
            (Route::CreateInvitation, Closed),
            (Route::CreateBackup, Closed),
            (Route::RevokeApiKey, Open),
            (Route::RemoveMember, Open),
            (Route::DeleteConnection, Open),
        ] {
            assert_eq!(route.when_limiter_down(), down, "{route:?}");
        }
        // Every read fails open, but the two that hand out snapshot data and the audit pack
        // (a whole team's evidence, expensive to write).
        for def in ROUTES.iter().filter(|d| d.method == Method::Get) {
            let hands_out_data = matches!(
                def.route,
                Route::Download | Route::ObjectUrl | Route::ExportAuditPack
            );
            assert_eq!(
                def.route.when_limiter_down() == Closed,
                hands_out_data,
                "{}",
                def.template
            );
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
