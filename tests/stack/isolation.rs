//! The tenant isolation matrix: callers from another team in every role, and API keys with every
//! scope, try the first team's resources (ids in path, query and body) on every route of the
//! router's own table, then straight through PostgREST on every user-scoped table and verb.
//! Nothing may be seen and nothing written.

use crate::access::{api_as, create_key, key_jwt, personal_team, team_with};
use crate::support::*;
use butterfly::api::routes::{Route, ROUTES};
use butterfly::authz::matrix::{Role, Scope};
use serde_json::{json, Value};

/// The victim's ids, and a snapshot of everything of theirs that must not change.
struct Victim {
    user: User,
    team: String,
    connection: String,
    backup: String,
    key: String,
    invitation: String,
    run: String,
    /// A guidance record of the victim's team (written straight into the table).
    record: String,
}

fn victim() -> Victim {
    let user = new_user();
    let team = personal_team(&user);
    let connection = user.create_connection();
    let backup = user.backup(&connection)["id"].as_str().unwrap().to_string();
    let run = user.api(
        "POST",
        &format!("/connections/{connection}/compliance-runs"),
        None,
    );
    assert_eq!(run.status, 201, "{}", run.text());
    let run = run.json()["run"]["id"].as_str().unwrap().to_string();
    let (key, _) = create_key(&user, &team, &[Scope::Admin]);
    let invite = user.api(
        "POST",
        &format!("/teams/{team}/invitations"),
        Some(&json!({"email": "someone@test.local", "role": "viewer"})),
    );
    assert_eq!(invite.status, 201, "{}", invite.text());
    let invitation = invite.json()["invitation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    plant(invite.json()["token"].as_str().unwrap());
    let record = psql(&format!(
        "insert into guidance_records (id, team_id, prompt, target, payload_bytes, pseudonyms, \
         latency_ms, input_tokens, output_tokens, outcome, answer) values (gen_random_uuid(), \
         '{team}', 'privileged_access', 'x', 0, 0, 0, 0, 0, 'answered', 'kept') returning id"
    ));
    Victim {
        record,
        user,
        team,
        connection,
        backup,
        key,
        invitation,
        run,
    }
}

/// Everything of the victim's, as the service role sees it.
fn state(v: &Victim) -> Value {
    let get = |q: String| service("GET", &q, None).json();
    json!({
        "team": get(format!("teams?id=eq.{}", v.team)),
        "members": get(format!("team_members?team_id=eq.{}&order=user_id", v.team)),
        "connections": get(format!("okta_connections?team_id=eq.{}&select=id,status,environment,updated_at", v.team)),
        "backups": get(format!("backups?team_id=eq.{}&select=id,status&order=id", v.team)),
        "keys": get(format!("api_keys?team_id=eq.{}&select=id,revoked_at&order=id", v.team)),
        "invitations": get(format!("team_invitations?team_id=eq.{}&select=id,accepted_at,revoked_at", v.team)),
        "download_roles": get(format!("team_download_roles?team_id=eq.{}&select=role", v.team)),
        "compliance_runs": get(format!("compliance_runs?team_id=eq.{}&select=id,status&order=id", v.team)),
        "remediations": get(format!("compliance_remediations?team_id=eq.{}&order=check_id", v.team)),
        "ai_settings": get(format!("team_ai_settings?team_id=eq.{}", v.team)),
        "guidance": get(format!("guidance_records?team_id=eq.{}&order=id", v.team)),
        "drift_settings": get(format!("drift_settings?team_id=eq.{}", v.team)),
        "restore_plans": get(format!("restore_plans?team_id=eq.{}&select=id,apply_status", v.team)),
        "restore_settings": get(format!("team_restore_settings?team_id=eq.{}", v.team)),
        "restore_approvals": get(format!("restore_approvals?team_id=eq.{}", v.team)),
        "drill_settings": get(format!("drill_settings?team_id=eq.{}", v.team)),
        "drills": get(format!("drills?team_id=eq.{}&select=id,status", v.team)),
        "activity": get(format!("activity_logs?team_id=eq.{}&select=id&order=id", v.team)).as_array().unwrap().len(),
    })
}

/// The request(s) that aim `route` at the victim. Exhaustive on purpose: a new route does not
/// compile here until it has a case.
fn attacks(route: Route, v: &Victim) -> Vec<(String, Option<Value>)> {
    let q = format!("?team_id={}&connection_id={}", v.team, v.connection);
    let (t, c, b, u) = (&v.team, &v.connection, &v.backup, &v.user.id);
    let p = |s: String| (format!("{s}{q}"), None);
    let with = |s: String, body: Value| (format!("{s}{q}"), Some(body));
    match route {
        Route::Health => vec![p("/health".into())],
        Route::OpenApi => vec![p("/openapi.json".into())],
        Route::ListConnections => vec![p("/connections".into())],
        Route::CreateConnection => {
            let mut body = okta_connection_body();
            body["team_id"] = json!(t);
            vec![with("/connections".into(), body)]
        }
        Route::GetConnection | Route::DeleteConnection => vec![p(format!("/connections/{c}"))],
        Route::VerifyConnection => vec![p(format!("/connections/{c}/verify"))],
        Route::CreateBackup | Route::ListBackups => vec![p(format!("/connections/{c}/backups"))],
        Route::GetBackup => vec![p(format!("/backups/{b}"))],
        Route::CreateRestorePlan => vec![with(
            format!("/connections/{c}/restores"),
            json!({"source_backup_id": b, "scope": {"kind": "tenant"}}),
        )],
        // The victim's backup id stands for a plan id: no plan of theirs is shown either way.
        Route::GetRestorePlan
        | Route::ApplyRestore
        | Route::ApproveRestore
        | Route::GetRestoreReceipt => {
            let path = match route {
                Route::ApplyRestore => format!("/restores/{b}/apply"),
                Route::ApproveRestore => format!("/restores/{b}/approvals"),
                Route::GetRestoreReceipt => format!("/restores/{b}/receipt"),
                _ => format!("/restores/{b}"),
            };
            vec![p(path)]
        }
        Route::SetRestoreSettings => vec![with(
            format!("/teams/{t}/restore-settings"),
            json!({"second_approver": false}),
        )],
        Route::SetConnectionEnvironment => vec![with(
            format!("/connections/{c}/environment"),
            json!({"environment": "sandbox"}),
        )],
        Route::PutDrillSettings | Route::PatchDrillSettings => vec![with(
            format!("/connections/{c}/drills/settings"),
            json!({"sandbox_connection_id": c, "rto_objective_seconds": 60}),
        )],
        Route::RunDrill | Route::ListDrills => vec![p(format!("/connections/{c}/drills"))],
        // The victim's backup id stands for a drill id.
        Route::GetDrill => vec![p(format!("/drills/{b}"))],
        Route::ObjectUrl => vec![p(format!("/backups/{b}/objects/users/url"))],
        Route::Download => vec![(
            format!("/downloads?backup={b}&object=users&team={t}&exp=9999999999&sig=AAAA"),
            None,
        )],
        Route::ListTeams => vec![p("/teams".into())],
        Route::ListMembers => vec![p(format!("/teams/{t}/members"))],
        Route::CreateInvitation => vec![with(
            format!("/teams/{t}/invitations"),
            json!({"email": "x@test.local", "role": "owner"}),
        )],
        Route::ListInvitations => vec![p(format!("/teams/{t}/invitations"))],
        Route::RevokeInvitation => {
            vec![p(format!("/teams/{t}/invitations/{}", v.invitation))]
        }
        Route::GetTeamSettings => vec![p(format!("/teams/{t}/settings"))],
        Route::ChangeTeamSettings => vec![with(
            format!("/teams/{t}/settings"),
            json!({"download_roles": ["viewer", "auditor"]}),
        )],
        Route::AcceptInvitation => vec![with(
            "/invitations/accept".into(),
            json!({"token": v.invitation}),
        )],
        Route::ChangeMemberRole => vec![with(
            format!("/teams/{t}/members/{u}"),
            json!({"role": "viewer"}),
        )],
        Route::RemoveMember => vec![p(format!("/teams/{t}/members/{u}"))],
        Route::CreateApiKey => vec![with(
            "/api-keys".into(),
            json!({"name": "x", "scopes": ["admin"], "team_id": t}),
        )],
        Route::ListApiKeys => vec![p("/api-keys".into())],
        Route::RevokeApiKey => vec![p(format!("/api-keys/{}", v.key))],
        Route::CreateComplianceRun | Route::ListComplianceRuns => {
            vec![p(format!("/connections/{c}/compliance-runs"))]
        }
        Route::GetComplianceRun => vec![p(format!("/compliance-runs/{}", v.run))],
        Route::ListFindings => vec![p(format!("/connections/{c}/findings"))],
        Route::TransitionFinding => vec![with(
            format!("/connections/{c}/findings/BF-CIS5-001/transitions"),
            json!({"to": "acknowledged"}),
        )],
        Route::ComplianceTrend => vec![p(format!("/teams/{t}/compliance-trend"))],
        Route::TeamPlan => vec![p(format!("/teams/{t}/plan"))],
        Route::BillingCheckout => vec![with(
            "/billing/checkout".into(),
            json!({"team_id": t, "plan": "business"}),
        )],
        Route::BillingPortal => vec![with("/billing/portal".into(), json!({"team_id": t}))],
        // Outside /api/v1: an unsigned event naming the victim's team.
        Route::StripeWebhook => vec![with(
            "/../webhooks/stripe".into(),
            json!({"id": "evt_x", "type": "checkout.session.completed", "created": 1,
                   "livemode": false, "data": {"object": {"client_reference_id": t}}}),
        )],
        Route::RotateDataKey => vec![p(format!("/teams/{t}/data-key/rotations"))],
        Route::GetAiSettings => vec![p(format!("/teams/{t}/ai"))],
        Route::SetAiSettings => vec![with(
            format!("/teams/{t}/ai"),
            json!({"enabled": true, "keep_answers": true}),
        )],
        Route::DeleteAiAnswers => vec![p(format!("/teams/{t}/ai/answers"))],
        Route::ListGuidanceRecords => vec![p(format!("/teams/{t}/ai/records"))],
        Route::GetGuidanceRecord => vec![p(format!("/ai-records/{}", v.record))],
        Route::FindingGuidance => {
            vec![p(format!("/connections/{c}/findings/BF-CIS5-001/guidance"))]
        }
        Route::PrivilegedAccessGuidance => {
            vec![p(format!("/connections/{c}/privileged-access/guidance"))]
        }
        Route::DriftAlertGuidance => vec![p(format!(
            "/connections/{c}/drift/alerts/00000000-0000-4000-8000-000000000001/guidance"
        ))],
        // As for `GetRestorePlan`, the victim's backup id stands for a plan id.
        Route::RestorePlanGuidance => vec![p(format!("/restores/{b}/guidance"))],
        Route::VerifyAuditChain => vec![p(format!("/teams/{t}/audit/verify"))],
        Route::ExportAuditPack => vec![(
            format!(
                "/export/audit-pack?team_id={t}&from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z"
            ),
            None,
        )],
        Route::DriftView => vec![p(format!("/connections/{c}/drift"))],
        Route::TransitionDriftAlert => vec![with(
            format!(
                "/connections/{c}/drift/alerts/00000000-0000-4000-8000-000000000001/transitions"
            ),
            json!({"to": "accepted"}),
        )],
        Route::SetDriftSettings => vec![with(
            format!("/connections/{c}/drift/settings"),
            json!({"interval_minutes": 5, "rules": []}),
        )],
        Route::GetAllowList => vec![p(format!("/teams/{t}/ip-allowlist"))],
        Route::SetAllowList => vec![with(
            format!("/teams/{t}/ip-allowlist"),
            json!({"entries": ["203.0.113.0/24"], "confirm_lockout": true}),
        )],
        Route::DeleteTeam => vec![with(format!("/teams/{t}"), json!({"confirm_name": "x"}))],
        Route::CancelTeamDeletion => vec![p(format!("/teams/{t}/deletion/cancel"))],
        Route::GetTeamDeletion => vec![p(format!("/teams/{t}/deletion"))],
        // The caller's own data only.
        Route::UserExport => vec![p("/me/export".into())],
        Route::SnapshotDiff => vec![(format!("/connections/{c}/diff?from={b}&to={b}"), None)],
        Route::ResourceHistory => vec![(
            format!("/connections/{c}/resources/users/00u1/history"),
            None,
        )],
        // The caller's own account only: nothing of the victim's is named or reachable.
        Route::RequestEmailVerification => vec![p("/me/email/verification".into())],
        Route::ConfirmEmailVerification => vec![with(
            "/me/email/verification/confirm".into(),
            json!({"code": "000000"}),
        )],
        Route::GetEmailPreferences => vec![p("/me/email-preferences".into())],
        Route::SetEmailPreferences => {
            vec![with(
                "/me/email-preferences".into(),
                json!({"alerts": true}),
            )]
        }
        // An unsubscribe link forged for the victim, and an unsigned SendGrid post about them.
        Route::UnsubscribePage | Route::Unsubscribe => {
            use base64::Engine as _;
            let payload =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{u}:alerts:1"));
            vec![(
                format!("/email/unsubscribe?token=v1.unsub1.{payload}.AAAA"),
                None,
            )]
        }
        Route::SendGridWebhook => vec![with(
            "/../webhooks/sendgrid".into(),
            json!([{"email": format!("user-{u}@test.local"), "event": "spamreport",
                    "sg_event_id": "forged"}]),
        )],
        // Public pages outside /api/v1 (Trust Center, security.txt, signing keys): no team's data.
        Route::TrustCenter
        | Route::TrustStylesheet
        | Route::SecurityTxt
        | Route::AuditKeys
        | Route::AuditKeyPem => Vec::new(),
        // The dashboard's shell and assets hold no data; the dev sign-in (when a stack enables
        // it) mints only its one configured demo user's token, whoever asks.
        Route::DashboardPage | Route::DashboardAsset | Route::DevSession => Vec::new(),
    }
}

/// Which statuses a foreign caller may get: public routes answer, list routes answer with the
/// caller's own (empty of the victim's) data, everything aimed at the victim is 403 or 404.
fn acceptable(route: Route, status: u16, is_key: bool) -> bool {
    let own_listing = matches!(
        route,
        Route::Health
            | Route::OpenApi
            | Route::ListConnections
            | Route::ListTeams
            | Route::ListApiKeys
            | Route::UserExport
    );
    match route {
        Route::Download => matches!(status, 400 | 403 | 404),
        Route::StripeWebhook => status == 400,
        // A key never reaches the caller's account; a user reaches only their own (these tokens
        // carry no address, so no code can be requested or pending).
        Route::RequestEmailVerification
        | Route::ConfirmEmailVerification
        | Route::GetEmailPreferences
        | Route::SetEmailPreferences
            if is_key =>
        {
            status == 403
        }
        Route::RequestEmailVerification => status == 409,
        Route::ConfirmEmailVerification => status == 404,
        Route::GetEmailPreferences | Route::SetEmailPreferences => status == 200,
        Route::UnsubscribePage | Route::Unsubscribe | Route::SendGridWebhook => status == 400,
        _ if own_listing => status == 200 || (is_key && status == 403),
        _ => matches!(status, 403 | 404 | 422),
    }
}

#[test]
fn no_foreign_caller_reaches_another_teams_resources_on_any_route() {
    let v = victim();
    let before = state(&v);

    // Callers: one user per role in another team, and keys of every scope of another team.
    let mut callers: Vec<(String, String, bool)> = Vec::new();
    let mut users = Vec::new();
    for role in Role::ALL {
        let owner = new_user();
        let member = new_user();
        team_with(&owner, Some((&member, role)));
        callers.push((format!("{role:?}"), member.jwt.clone(), false));
        users.push(member);
    }
    let key_owner = new_user();
    let key_team = personal_team(&key_owner);
    for scope in Scope::ALL {
        let (_, key) = create_key(&key_owner, &key_team, &[scope]);
        callers.push((format!("key:{scope:?}"), key, true));
    }

    let mut covered = 0;
    for def in ROUTES {
        let cases = attacks(def.route, &v);
        assert!(
            !cases.is_empty() || !def.template.starts_with("/api/v1"),
            "{} has no isolation case",
            def.template
        );
        for (path, body) in cases {
            for (who, token, is_key) in &callers {
                let reply = api_as(token, def.method.as_str(), &path, body.as_ref());
                let text = reply.text();
                assert!(
                    acceptable(def.route, reply.status, *is_key),
                    "{who} {} {path}: HTTP {} {text}",
                    def.method.as_str(),
                    reply.status
                );
                for secret in [
                    &v.team,
                    &v.connection,
                    &v.backup,
                    &v.user.id,
                    &v.key,
                    &v.run,
                    &v.record,
                ] {
                    assert!(
                        !text.contains(secret.as_str()),
                        "{who} {path} leaked {secret}: {text}"
                    );
                }
                covered += 1;
            }
        }
    }
    let attacked = ROUTES
        .iter()
        .filter(|d| d.template.starts_with("/api/v1"))
        .count();
    assert!(covered >= attacked * callers.len());
    assert_eq!(
        state(&v),
        before,
        "a foreign caller changed the victim's data"
    );
}

#[test]
fn postgrest_hides_and_protects_every_user_scoped_table() {
    let v = victim();
    let before = state(&v);
    let mut jwts = Vec::new();
    for role in Role::ALL {
        let owner = new_user();
        let member = new_user();
        team_with(&owner, Some((&member, role)));
        jwts.push((format!("{role:?}"), member.jwt.clone()));
    }
    let key_owner = new_user();
    let key_team = personal_team(&key_owner);
    for scope in Scope::ALL {
        jwts.push((
            format!("key:{scope:?}"),
            key_jwt(&key_owner.id, &key_team, &[scope.as_str()]),
        ));
    }
    // A key JWT naming the victim's team but for a non-member is powerless too.
    jwts.push((
        "forged key_team".into(),
        key_jwt(&key_owner.id, &v.team, &["admin"]),
    ));

    let tables: &[(&str, &str, Value)] = &[
        ("teams", "id", json!({"name": "pwned"})),
        ("team_members", "team_id", json!({"role": "owner"})),
        ("profiles", "id", json!({"display_name": "pwned"})),
        ("okta_connections", "team_id", json!({"status": "deleted"})),
        ("backups", "team_id", json!({"error": "x"})),
        ("activity_logs", "team_id", json!({"action": "x"})),
        ("tenant_keys", "team_id", json!({"version": 9})),
        (
            "api_keys",
            "team_id",
            json!({"revoked_at": "2026-01-01T00:00:00Z"}),
        ),
        (
            "team_invitations",
            "team_id",
            json!({"accepted_at": "2026-01-01T00:00:00Z"}),
        ),
        ("compliance_runs", "team_id", json!({"status": "failed"})),
        ("compliance_findings", "team_id", json!({"outcome": "pass"})),
        (
            "compliance_remediations",
            "team_id",
            json!({"state": "resolved"}),
        ),
        ("team_download_roles", "team_id", json!({"role": "viewer"})),
        ("team_ai_settings", "team_id", json!({"enabled": true})),
        ("ai_usage", "team_id", json!({"version": 9})),
        ("guidance_records", "team_id", json!({"answer": null})),
        ("resource_versions", "team_id", json!({"state": "removed"})),
        (
            "restore_plans",
            "team_id",
            json!({"apply_status": "complete"}),
        ),
        ("restore_approvals", "team_id", json!({"approved_by": null})),
        (
            "team_restore_settings",
            "team_id",
            json!({"second_approver": false}),
        ),
        ("drill_settings", "team_id", json!({"enabled": false})),
        ("drills", "team_id", json!({"status": "passed"})),
        ("role_permissions", "role", json!({"action": "x"})),
        ("scope_permissions", "scope", json!({"action": "x"})),
    ];
    for (who, jwt) in &jwts {
        for (table, column, patch) in tables {
            let target = if *table == "profiles" {
                &v.user.id
            } else {
                &v.team
            };
            let filter = if matches!(*table, "role_permissions" | "scope_permissions") {
                format!("{table}?{column}=not.is.null")
            } else {
                format!("{table}?{column}=eq.{target}")
            };
            let read = rest_as(jwt, "GET", &filter, None);
            assert!(
                read.status >= 400 || read.json() == json!([]),
                "{who} read {table}: {}",
                read.text()
            );
            for (method, body) in [("PATCH", Some(patch)), ("DELETE", None)] {
                let reply = rest_as(jwt, method, &filter, body);
                assert!(
                    reply.status >= 400 || reply.json() == json!([]),
                    "{who} {method} {table}: {}",
                    reply.text()
                );
            }
            let mut row = patch.clone();
            row[column] = json!(target);
            let insert = rest_as(jwt, "POST", table, Some(&row));
            assert!(
                insert.status >= 400,
                "{who} POST {table}: {}",
                insert.text()
            );
        }
        // Joining the victim's team directly is refused.
        let join = rest_as(
            jwt,
            "POST",
            "team_members",
            Some(&json!({"team_id": v.team, "user_id": v.user.id, "role": "owner"})),
        );
        assert!(join.status >= 400, "{who}: {}", join.text());
    }
    assert_eq!(state(&v), before);
}

/// A direct PostgREST write by the team's own members, with their own JWTs (owner, an operator,
/// and an admin-scoped key token): what the product audits must not be writable around the
/// worker. One case per table: each insert, update and delete is refused (or touches no row),
/// and nothing of the team's changes.
#[test]
fn a_teams_own_members_cannot_write_audited_tables_around_the_worker() {
    let v = victim();
    let (t, c, b, owner) = (&v.team, &v.connection, &v.backup, &v.user.id);
    let operator = new_user();
    psql(&format!(
        "insert into team_members (team_id, user_id, role) values ('{t}', '{}', 'operator')",
        operator.id
    ));
    let stranger = new_user();
    let (revoked_key, _) = create_key(&v.user, t, &[Scope::Read]);
    let revoked = v
        .user
        .api("DELETE", &format!("/api-keys/{revoked_key}"), None);
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let before = state(&v);
    let callers = [
        ("owner", v.user.jwt.clone()),
        ("operator", operator.jwt.clone()),
        ("admin key", key_jwt(owner, t, &["admin"])),
    ];
    let id = "00000000-0000-4000-8000-00000000c0de";
    let sealed = service(
        "GET",
        &format!("okta_connections?id=eq.{c}&select=sealed_token"),
        None,
    )
    .json()[0]["sealed_token"]
        .clone();
    // (table, filter of the team's rows and a column the caller may read, a row to insert,
    // patches to try)
    let cases: Vec<(&str, String, Value, Vec<Value>)> = vec![
        (
            "okta_connections",
            format!("id=eq.{c}&select=id"),
            json!({"id": id, "team_id": t, "created_by": owner, "org_domain": "evil.okta.com",
                   "auth_type": "api_token", "sealed_token": sealed, "key_version": -1,
                   "status": "active"}),
            vec![
                json!({"key_version": -1}),
                json!({"sealed_token": "v1.9.AAAA"}),
                json!({"status": "error"}),
                json!({"status": "deleted", "sealed_token": null, "deleted_at": "2026-01-01T00:00:00Z"}),
            ],
        ),
        (
            "backups",
            format!("id=eq.{b}&select=id"),
            // A running row that starts in the far future would block the connection forever.
            json!({"id": id, "team_id": t, "connection_id": c, "requested_by": owner,
                   "trigger": "manual", "status": "running", "r2_prefix": "users/x/",
                   "started_at": "2999-01-01T00:00:00Z"}),
            vec![json!({"error": "x"})],
        ),
        (
            "team_members",
            format!("team_id=eq.{t}&user_id=eq.{}&select=user_id", operator.id),
            // Anyone joined without an invitation or consent.
            json!({"team_id": t, "user_id": stranger.id, "role": "owner"}),
            vec![json!({"role": "admin"})],
        ),
        (
            "team_invitations",
            format!("team_id=eq.{t}&select=id"),
            json!({"id": id, "team_id": t, "email": "x@test.local", "role": "owner",
                   "invited_by": owner, "token_hash": "0".repeat(64),
                   "expires_at": "2999-01-01T00:00:00Z"}),
            vec![
                json!({"accepted_at": "2026-01-01T00:00:00Z"}),
                json!({"role": "owner"}),
            ],
        ),
        (
            "api_keys",
            format!("team_id=eq.{t}&select=id"),
            json!({"id": id, "team_id": t, "user_id": owner, "name": "x",
                   "secret_hash": "0".repeat(64), "scopes": ["admin"]}),
            // Un-revoking, and revoking without an audit row.
            vec![
                json!({"revoked_at": null}),
                json!({"revoked_at": "2026-01-01T00:00:00Z"}),
            ],
        ),
        (
            "compliance_runs",
            format!("team_id=eq.{t}&select=id"),
            json!({"id": id, "team_id": t, "connection_id": c, "trigger": "manual",
                   "requested_by": owner, "status": "running"}),
            vec![json!({"status": "failed", "error": "x", "finished_at": "2026-01-01T00:00:00Z"})],
        ),
        (
            "compliance_findings",
            format!("team_id=eq.{t}&select=check_id"),
            json!({"run_id": v.run, "team_id": t, "connection_id": c, "check_id": "BF-CIS5-999",
                   "cis_safeguard": "5.1", "severity": "low", "outcome": "pass", "message": "x"}),
            vec![json!({"outcome": "pass"})],
        ),
        (
            "compliance_remediations",
            format!("team_id=eq.{t}&select=check_id"),
            json!({"connection_id": c, "check_id": "BF-CIS5-999", "team_id": t, "state": "resolved"}),
            vec![json!({"state": "resolved"})],
        ),
        (
            "tenant_keys",
            format!("team_id=eq.{t}&select=version"),
            json!({"team_id": t, "version": 9, "master_key_id": "x", "wrapped_key": "x"}),
            vec![json!({"retired_at": "2026-01-01T00:00:00Z"})],
        ),
        (
            "activity_logs",
            format!("team_id=eq.{t}&select=id"),
            json!({"team_id": t, "actor_type": "user", "actor_id": owner, "action": "x.y"}),
            vec![json!({"action": "x.y"})],
        ),
        (
            "job_checkpoints",
            format!("job_id=eq.{b}&select=job_id"),
            json!({"job_kind": "backup", "job_id": id, "team_id": t}),
            vec![json!({"state": {}})],
        ),
        (
            "team_download_roles",
            format!("team_id=eq.{t}&select=role"),
            // Granting downloads to viewers without the owner's audited decision.
            json!({"team_id": t, "role": "viewer"}),
            vec![json!({"role": "auditor"})],
        ),
        (
            "teams",
            format!("id=eq.{t}&select=id"),
            json!({"id": id, "name": "x", "created_by": owner}),
            vec![json!({"name": "pwned"})],
        ),
        (
            // Switching AI on without an audit row, or raising one's own budget.
            "team_ai_settings",
            format!("team_id=eq.{t}&select=team_id"),
            json!({"team_id": t, "enabled": true, "keep_answers": true}),
            vec![
                json!({"enabled": true}),
                json!({"monthly_tokens": 999_999_999}),
            ],
        ),
        (
            "ai_usage",
            format!("team_id=eq.{t}&select=team_id"),
            json!({"team_id": t, "usage": {}, "version": 0}),
            vec![json!({"usage": {}})],
        ),
        (
            // A forged record, an edited one, or an answer erased without an audit row.
            "guidance_records",
            format!("team_id=eq.{t}&select=id"),
            json!({"id": id, "team_id": t, "prompt": "privileged_access", "target": "x",
                   "payload_bytes": 0, "pseudonyms": 0, "latency_ms": 0, "input_tokens": 0,
                   "output_tokens": 0, "outcome": "answered"}),
            vec![json!({"answer": null}), json!({"outcome": "refused"})],
        ),
        (
            // A forged version in a resource's history, or a rewritten one.
            "resource_versions",
            format!("team_id=eq.{t}&select=id"),
            json!({"team_id": t, "connection_id": t, "resource_type": "users",
                   "resource_id": "00u1", "state": "removed", "hash_key": "x",
                   "source": "capture", "capture_id": id, "captured_at": "2026-01-01T00:00:00Z"}),
            vec![
                json!({"state": "removed"}),
                json!({"actor_display_name": "someone else"}),
            ],
        ),
    ];
    for (who, jwt) in &callers {
        for (table, filter, row, patches) in &cases {
            let insert = rest_insert(jwt, table, row);
            assert!(
                insert.status >= 400,
                "{who} inserted into {table}: {}",
                insert.text()
            );
            for patch in patches {
                let reply = rest_as(jwt, "PATCH", &format!("{table}?{filter}"), Some(patch));
                assert!(
                    reply.status >= 400 || reply.json() == json!([]),
                    "{who} updated {table} with {patch}: {}",
                    reply.text()
                );
            }
            let delete = rest_as(jwt, "DELETE", &format!("{table}?{filter}"), None);
            assert!(
                delete.status >= 400 || delete.json() == json!([]),
                "{who} deleted from {table}: {}",
                delete.text()
            );
        }
    }
    assert_eq!(state(&v), before, "a direct write changed the team's data");
    // The worker's write functions are the service role's alone.
    let functions = psql(
        "select string_agg(p.proname, ',' order by p.proname) from pg_proc p
           join pg_namespace n on n.oid = p.pronamespace
          where n.nspname = 'public' and p.prorettype <> 'trigger'::regtype
            and has_function_privilege('authenticated', p.oid, 'execute')
            and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')",
    );
    // activity_chain_verify checks can(team, 'activity.read') itself; team_frozen says only
    // whether a team is frozen for billing or deletion.
    let allowed = [
        "activity_chain_verify",
        "can",
        "has_team_role",
        "is_team_member",
        "local_jwks",
        "team_frozen",
    ];
    for f in functions.split(',').filter(|f| !f.is_empty()) {
        assert!(allowed.contains(&f), "authenticated may execute {f}");
    }
    // Revocation is one-way, whoever writes.
    let unrevoke = service(
        "PATCH",
        &format!("api_keys?id=eq.{revoked_key}"),
        Some(&json!({"revoked_at": null})),
    );
    assert!(unrevoke.status >= 400, "{}", unrevoke.text());
    // The connection still backs up: nothing above blocked it.
    assert_eq!(v.user.backup(c)["status"], "complete");
}
