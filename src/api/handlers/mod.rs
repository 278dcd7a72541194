//! Route handlers, one module per resource: each parses its request, calls a use case with the
//! call's [`Caller`](crate::services::Caller) and maps the result. `route` is the single place a
//! route meets its code.

pub(super) mod ai;
mod api_keys;
mod backups;
mod billing;
pub(super) mod compliance;
mod connections;
mod dashboard;
mod drift;
pub(super) mod drift_alerts;
mod drills;
pub(super) mod email;
mod lifecycle;
mod restores;
mod teams;
mod trust;

use serde_json::json;

use super::call::Call;
use super::error::ApiError;
use super::http::ApiResponse;
use super::routes::Route;

pub async fn route(route: Route, call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    match route {
        Route::Health => Ok(ApiResponse::json(200, &json!({"status": "ok"}))),
        Route::OpenApi => super::openapi::serve(),
        Route::ListConnections => connections::list(call).await,
        Route::CreateConnection => connections::create(call).await,
        Route::VerifyConnection => connections::verify(call).await,
        Route::GetConnection => connections::get(call).await,
        Route::DeleteConnection => connections::delete(call).await,
        Route::CreateBackup => backups::create(call).await,
        Route::ListBackups => backups::list(call).await,
        Route::GetBackup => backups::get(call).await,
        Route::ObjectUrl => backups::object_url(call).await,
        Route::Download => backups::download(call).await,
        Route::CreateComplianceRun => compliance::create_run(call).await,
        Route::ListComplianceRuns => compliance::list_runs(call).await,
        Route::GetComplianceRun => compliance::get_run(call).await,
        Route::ListFindings => compliance::list_findings(call).await,
        Route::TransitionFinding => compliance::transition(call).await,
        Route::ComplianceTrend => compliance::trend(call).await,
        Route::ListTeams => teams::list(call).await,
        Route::ListMembers => teams::members(call).await,
        Route::CreateInvitation => teams::invite(call).await,
        Route::ListInvitations => teams::invitations(call).await,
        Route::RevokeInvitation => teams::revoke_invitation(call).await,
        Route::GetTeamSettings => teams::settings(call).await,
        Route::ChangeTeamSettings => teams::change_settings(call).await,
        Route::AcceptInvitation => teams::accept(call).await,
        Route::ChangeMemberRole => teams::change_role(call).await,
        Route::RemoveMember => teams::remove(call).await,
        Route::CreateApiKey => api_keys::create(call).await,
        Route::ListApiKeys => api_keys::list(call).await,
        Route::RevokeApiKey => api_keys::revoke(call).await,
        Route::TeamPlan => billing::plan(call).await,
        Route::BillingCheckout => billing::checkout(call).await,
        Route::BillingPortal => billing::portal(call).await,
        Route::StripeWebhook => billing::stripe_webhook(call).await,
        Route::RotateDataKey => teams::rotate_data_key(call).await,
        Route::GetAiSettings => ai::settings(call).await,
        Route::SetAiSettings => ai::set_settings(call).await,
        Route::DeleteAiAnswers => ai::delete_answers(call).await,
        Route::ListGuidanceRecords => ai::records(call).await,
        Route::GetGuidanceRecord => ai::record(call).await,
        Route::FindingGuidance => ai::finding(call).await,
        Route::PrivilegedAccessGuidance => ai::privileged_access(call).await,
        Route::DriftAlertGuidance => ai::drift_alert(call).await,
        Route::RestorePlanGuidance => ai::restore_plan(call).await,
        Route::VerifyAuditChain => teams::verify_audit_chain(call).await,
        Route::ExportAuditPack => teams::audit_pack(call).await,
        Route::GetAllowList => teams::allow_list(call).await,
        Route::SetAllowList => teams::set_allow_list(call).await,
        Route::TrustCenter => trust::page(call),
        Route::TrustStylesheet => trust::stylesheet(),
        Route::SecurityTxt => trust::security_txt(call),
        Route::AuditKeys => trust::keys(call),
        Route::AuditKeyPem => trust::key_pem(call),
        Route::DeleteTeam => lifecycle::delete_team(call).await,
        Route::CancelTeamDeletion => lifecycle::cancel_deletion(call).await,
        Route::GetTeamDeletion => lifecycle::deletion(call).await,
        Route::UserExport => lifecycle::export(call).await,
        Route::SnapshotDiff => drift::diff(call).await,
        Route::ResourceHistory => drift::history(call).await,
        Route::DriftView => drift_alerts::view(call).await,
        Route::TransitionDriftAlert => drift_alerts::transition(call).await,
        Route::SetDriftSettings => drift_alerts::set_settings(call).await,
        Route::RequestEmailVerification => email::request_verification(call).await,
        Route::ConfirmEmailVerification => email::confirm_verification(call).await,
        Route::GetEmailPreferences => email::preferences(call).await,
        Route::SetEmailPreferences => email::set_preferences(call).await,
        Route::UnsubscribePage => email::unsubscribe_page(call).await,
        Route::Unsubscribe => email::unsubscribe(call).await,
        Route::SendGridWebhook => email::sendgrid_webhook(call).await,
        Route::CreateRestorePlan => restores::create(call).await,
        Route::GetRestorePlan => restores::get(call).await,
        Route::ApplyRestore => restores::apply(call).await,
        Route::ApproveRestore => restores::approve(call).await,
        Route::GetRestoreReceipt => restores::receipt(call).await,
        Route::SetRestoreSettings => restores::set_settings(call).await,
        Route::DashboardPage => dashboard::page(call),
        Route::DashboardAsset => dashboard::asset(call),
        Route::DevSession => dashboard::dev_session(call).await,
        Route::SetConnectionEnvironment => drills::set_environment(call).await,
        Route::PutDrillSettings => drills::put_settings(call).await,
        Route::PatchDrillSettings => drills::patch_settings(call).await,
        Route::RunDrill => drills::run(call).await,
        Route::ListDrills => drills::list(call).await,
        Route::GetDrill => drills::get(call).await,
    }
}
