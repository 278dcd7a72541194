//! The OpenAPI 3.1 document of Butterfly's own API, generated from the route table: every
//! [`ROUTES`] row becomes one operation, and [`entry`] says what each [`Route`] takes and answers
//! with an exhaustive `match` (no `_` arm), so a route added without its spec entry does not
//! compile. What the table already knows is derived, never restated: the path and its
//! parameters, the security (from [`Access`]), and the errors the edge itself can answer with
//! (authentication, rate limits from [`LimiterDown`], body refusals from [`BodyKind`]). An entry
//! adds only the summary, the tag, the body and query it reads, its success responses and the
//! errors of its own use case.
//!
//! Built with `utoipa`'s `openapi` types (request bodies that exist as Rust types derive
//! `ToSchema`; utoipa builds for wasm32 and added 191 KB to the release wasm, 63 KB gzipped,
//! against a 10 MB compressed limit). The document is served at `GET /api/v1/openapi.json`,
//! validated by `openapi-spec-validator` in the tests, and every stack-test response is checked
//! against it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{json, Value};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder,
    Ref, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, Content, InfoBuilder, OpenApi, OpenApiBuilder, Paths, RefOr, Required,
    ResponseBuilder, Tag,
};
use utoipa::ToSchema;

use super::error::ApiError;
use super::http::ApiResponse;
use super::routes::{Access, BodyKind, LimiterDown, Route, RouteDef, ROUTES};
use crate::ports::Method;

type S = RefOr<Schema>;

/// Security scheme of a Supabase user JWT (`Authorization: Bearer <jwt>`).
pub const JWT_SCHEME: &str = "userJwt";
/// Security scheme of an API key (`Authorization: Bearer bfk_...`).
pub const KEY_SCHEME: &str = "apiKey";

// ---- schema helpers: short to write, so an entry stays a few lines ----

fn ty(t: Type) -> S {
    ObjectBuilder::new().schema_type(t).into()
}
fn string() -> S {
    ty(Type::String)
}
fn int() -> S {
    ty(Type::Integer)
}
fn number() -> S {
    ty(Type::Number)
}
fn boolean() -> S {
    ty(Type::Boolean)
}
fn formatted(format: KnownFormat) -> S {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(format)))
        .into()
}
fn uuid() -> S {
    custom_format("uuid")
}
/// A format utoipa has no variant for without its optional features.
fn custom_format(format: &str) -> S {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom(format.into())))
        .into()
}
fn time() -> S {
    formatted(KnownFormat::DateTime)
}
fn uri() -> S {
    custom_format("uri")
}
/// Any JSON value.
fn any() -> S {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .into()
}
/// Any JSON object.
fn object() -> S {
    ty(Type::Object)
}
fn one_of_strings(values: &[&str]) -> S {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .into()
}
fn array(items: S) -> S {
    ArrayBuilder::new().items(items).into()
}
/// The value or `null`.
fn null_or(schema: S) -> S {
    AnyOfBuilder::new().item(schema).item(ty(Type::Null)).into()
}
/// A component schema by name (`#/components/schemas/{name}`).
fn r(name: &str) -> S {
    RefOr::Ref(Ref::from_schema_name(name))
}
fn derived<T: ToSchema>() -> S {
    T::schema()
}

/// An object; `req` fields are required, `opt` ones may be absent. Unlisted fields are allowed
/// (clients must ignore what they do not know) unless [`Obj::closed`].
struct Obj(ObjectBuilder);

fn obj() -> Obj {
    Obj(ObjectBuilder::new().schema_type(Type::Object))
}

impl Obj {
    fn req(self, name: &str, schema: impl Into<S>) -> Obj {
        Obj(self.0.property(name, schema.into()).required(name))
    }
    fn opt(self, name: &str, schema: impl Into<S>) -> Obj {
        Obj(self.0.property(name, schema.into()))
    }
    fn closed(self) -> Obj {
        Obj(self
            .0
            .additional_properties(Some(AdditionalProperties::FreeForm(false))))
    }
}

impl From<Obj> for S {
    fn from(o: Obj) -> S {
        o.0.into()
    }
}

/// `{ key: schema }`: the wrapper most responses use.
fn wrap(key: &str, schema: S) -> S {
    obj().req(key, schema).into()
}
fn list_of(key: &str, component: &str) -> S {
    wrap(key, array(r(component)))
}

// ---- one operation's own facts ----

/// What a route's entry says beyond what the route table already knows.
pub struct Entry {
    summary: &'static str,
    tag: &'static str,
    body: Option<S>,
    query: Vec<(&'static str, bool, &'static str)>,
    headers: Vec<(&'static str, &'static str)>,
    ok: Vec<(u16, &'static str, &'static str, S)>,
    errors: Vec<(u16, &'static str)>,
}

fn op(summary: &'static str, tag: &'static str) -> Entry {
    Entry {
        summary,
        tag,
        body: None,
        query: Vec::new(),
        headers: Vec::new(),
        ok: Vec::new(),
        errors: Vec::new(),
    }
}

impl Entry {
    /// The JSON body the route reads (its `BodyKind` must be `Json`).
    fn body(mut self, schema: S) -> Self {
        self.body = Some(schema);
        self
    }
    fn query(mut self, name: &'static str, required: bool, about: &'static str) -> Self {
        self.query.push((name, required, about));
        self
    }
    fn header(mut self, name: &'static str, about: &'static str) -> Self {
        self.headers.push((name, about));
        self
    }
    /// A JSON success response.
    fn ok(self, status: u16, about: &'static str, schema: S) -> Self {
        self.media(status, about, "application/json", schema)
    }
    fn media(mut self, status: u16, about: &'static str, media: &'static str, schema: S) -> Self {
        self.ok.push((status, about, media, schema));
        self
    }
    /// Errors of the route's own use case (the edge's are added from the route table).
    fn err(mut self, errors: &[(u16, &'static str)]) -> Self {
        self.errors.extend_from_slice(errors);
        self
    }
}

/// Errors of use cases that call Okta.
const OKTA: &[(u16, &str)] = &[(422, "okta_rejected"), (502, "okta_unavailable")];
const INVALID: &[(u16, &str)] = &[(422, "validation_failed")];
const PLAN_LIMIT: &[(u16, &str)] = &[(402, "plan_limit_reached"), (403, "plan_limit_reached")];

/// The spec entry of each route. No `_` arm: a new route is a compile error here until it has one.
pub fn entry(route: Route) -> Entry {
    use Route::*;
    match route {
        Health => op("Liveness", "meta").ok(
            200,
            "Up",
            obj().req("status", one_of_strings(&["ok"])).into(),
        ),
        OpenApi => op("This OpenAPI document", "meta").ok(200, "The document", object()),
        ListConnections => op("List the caller's connections", "connections").ok(
            200,
            "Connections",
            list_of("connections", "Connection"),
        ),
        CreateConnection => op("Connect an Okta org", "connections")
            .body(derived::<crate::services::connections::CreateConnection>())
            .ok(
                201,
                "Connected (a service app also gets `setup`: the public JWK to register in Okta, \
                 the scopes to grant and the steps)",
                obj()
                    .req("connection", r("Connection"))
                    .opt("setup", object())
                    .into(),
            )
            .err(&[(409, "connection_exists")])
            .err(OKTA)
            .err(PLAN_LIMIT),
        GetConnection => op("One connection and its health", "connections").ok(
            200,
            "The connection, and its health: last successful call, last error, key creation and \
             token expiry, missing scopes",
            obj()
                .req("connection", r("Connection"))
                .req("health", object())
                .into(),
        ),
        VerifyConnection => op(
            "Verify a service-app connection: get a token, record the granted scopes",
            "connections",
        )
        .ok(
            200,
            "Verified",
            obj()
                .req("connection", r("Connection"))
                .req("health", object())
                .into(),
        )
        .err(INVALID)
        .err(OKTA),
        DeleteConnection => {
            op("Delete a connection", "connections").ok(200, "Deleted", wrap("deleted", uuid()))
        }
        CreateBackup => op("Start a backup", "backups")
            .ok(202, "Started", wrap("backup", r("Backup")))
            .err(&[(409, "backup_in_progress"), (409, "connection_not_active")])
            .err(PLAN_LIMIT),
        ListBackups => op("Backups of a connection", "backups").ok(
            200,
            "Backups",
            list_of("backups", "Backup"),
        ),
        GetBackup => op("One backup (poll for progress)", "backups").ok(
            200,
            "The backup",
            wrap("backup", r("Backup")),
        ),
        ObjectUrl => op(
            "A short-lived signed download URL for one object",
            "backups",
        )
        .ok(
            200,
            "Signed URL",
            obj().req("url", uri()).req("expires_at", int()).into(),
        )
        .err(&[
            (409, "backup_not_complete"),
            (410, "snapshot_key_destroyed"),
        ]),
        Download => op("Download an object through its signed URL", "backups")
            .query("b", true, "backup id")
            .query("o", true, "object")
            .query("t", true, "team")
            .query("e", true, "expiry (Unix seconds)")
            .query("s", true, "signature")
            .ok(200, "The decrypted object (JSON)", any())
            .err(&[
                (403, "link_denied"),
                (409, "backup_not_complete"),
                (410, "snapshot_key_destroyed"),
            ]),
        CreateRestorePlan => op("Plan a restore (a dry run)", "restores")
            .body(
                obj()
                    .req("source_backup_id", uuid())
                    .req("scope", object())
                    .opt("options", object())
                    .closed()
                    .into(),
            )
            .ok(201, "Planned", r("RestorePlanView"))
            .err(&[(409, "backup_not_complete")])
            .err(OKTA),
        GetRestorePlan => {
            op("One restore plan", "restores").ok(200, "The plan", r("RestorePlanView"))
        }
        ApplyRestore => op("Apply a restore plan (a resumable job)", "restores")
            .ok(202, "Applying", r("RestorePlanView"))
            .err(&[
                (409, "restore_already_applied"),
                (409, "plan_blocked"),
                (409, "plan_expired"),
                (409, "plan_changed"),
                (409, "approval_required"),
            ])
            .err(OKTA),
        ApproveRestore => op("Approve another member's restore", "restores")
            .ok(200, "Approved", object())
            .err(&[(409, "restore_not_approvable")]),
        GetRestoreReceipt => op("The sealed receipt of an ended restore", "restores")
            .ok(
                200,
                "The receipt and its SHA-256",
                obj()
                    .req("sha256", string())
                    .req("receipt", object())
                    .into(),
            )
            .err(&[(409, "no_receipt_yet")]),
        DashboardPage => op(
            "The web dashboard (one HTML shell; strict CSP)",
            "dashboard",
        )
        .media(200, "HTML", "text/html", string()),
        DashboardAsset => op("A script or stylesheet of the dashboard", "dashboard")
            .media(200, "A script or a stylesheet", "text/javascript", string())
            .media(200, "A script or a stylesheet", "text/css", string()),
        DevSession => op(
            "Local stacks only: the demo user's JWT (404 unless DEV_SIGN_IN_USER is set)",
            "dashboard",
        )
        .ok(
            200,
            "A user token",
            obj()
                .req("access_token", string())
                .req("token_type", string())
                .req("expires_in", int())
                .req("user", S::from(obj().req("id", uuid())))
                .into(),
        )
        .err(&[(404, "not_found")]),
        SetConnectionEnvironment => op("Label a connection production or sandbox", "drills")
            .body(
                obj()
                    .req("environment", one_of_strings(&["production", "sandbox"]))
                    .closed()
                    .into(),
            )
            .ok(
                200,
                "Labelled",
                obj()
                    .req("id", uuid())
                    .req("environment", one_of_strings(&["production", "sandbox"]))
                    .into(),
            )
            .err(&[(409, "sandbox_in_use")]),
        PutDrillSettings => op("Set a connection's recovery drill settings", "drills")
            .body(r("DrillSettingsBody"))
            .ok(200, "Saved", wrap("settings", r("DrillSettings")))
            .err(&[(409, "target_not_sandbox")])
            .err(INVALID),
        PatchDrillSettings => op("Change some of a connection's drill settings", "drills")
            .body(r("DrillSettingsBody"))
            .ok(200, "Saved", wrap("settings", r("DrillSettings")))
            .err(&[(409, "target_not_sandbox")])
            .err(INVALID),
        RunDrill => op("Run the connection's recovery drill now (a job)", "drills")
            .ok(202, "Started", wrap("drill", r("Drill")))
            .err(&[
                (409, "no_drill_settings"),
                (409, "no_complete_backup"),
                (409, "drill_running"),
                (409, "target_not_sandbox"),
            ]),
        ListDrills => op("A connection's drill settings, reports and trend", "drills").ok(
            200,
            "The history, newest first",
            obj()
                .req("settings", null_or(r("DrillSettings")))
                .req("drills", array(r("Drill")))
                .req(
                    "trend",
                    obj()
                        .req("finished", int())
                        .req("passed", int())
                        .req("failed", int())
                        .req("over_objective", int())
                        .req("last_rto_seconds", null_or(int()))
                        .req("median_rto_seconds", null_or(int()))
                        .req("rto_change_seconds", null_or(int()))
                        .req("points", array(object())),
                )
                .into(),
        ),
        GetDrill => {
            op("One drill and its report", "drills").ok(200, "The drill", wrap("drill", r("Drill")))
        }
        SetRestoreSettings => op("Set the team's restore approval rule", "restores")
            .body(object())
            .ok(200, "Set", obj().req("second_approver", any()).into())
            .err(INVALID),
        CreateComplianceRun => op(
            "Run the compliance checks on the latest backup",
            "compliance",
        )
        .ok(201, "Ran", r("ComplianceRunView"))
        .err(&[
            (409, "no_complete_backup"),
            (409, "compliance_run_in_progress"),
        ]),
        ListComplianceRuns => op("Compliance runs of a connection", "compliance").ok(
            200,
            "Runs",
            list_of("runs", "ComplianceRun"),
        ),
        GetComplianceRun => op("One compliance run and its findings", "compliance").ok(
            200,
            "The run",
            r("ComplianceRunView"),
        ),
        ListFindings => op("Findings of the latest run", "compliance")
            .query("framework", false, "filter")
            .query("control", false, "filter")
            .query("severity", false, "filter")
            .query("outcome", false, "filter")
            .query("state", false, "filter")
            .ok(
                200,
                "Findings",
                obj()
                    .req("run", null_or(r("ComplianceRun")))
                    .req("findings", array(r("Finding")))
                    .into(),
            )
            .err(INVALID),
        TransitionFinding => op("Move a finding through remediation", "compliance")
            .body(derived::<super::handlers::compliance::TransitionBody>())
            .ok(200, "Moved", wrap("remediation", r("Remediation")))
            .err(&[(409, "invalid_transition")]),
        ComplianceTrend => op("Daily compliance pass rate", "compliance")
            .ok(200, "Trend", wrap("trend", array(r("TrendPoint"))))
            .err(INVALID),
        SnapshotDiff => op("Compare two backups", "drift")
            .query("from", true, "backup id")
            .query("to", true, "backup id")
            .query("type", false, "resource type filter")
            .query("resource_id", false, "one resource")
            .query("limit", false, "page size, 1 to 200")
            .query("cursor", false, "opaque page cursor")
            .ok(
                200,
                "Diff",
                obj()
                    .req("from", r("BackupRef"))
                    .req("to", r("BackupRef"))
                    .req("summary", any())
                    .req("total", int())
                    .req("changes", array(object()))
                    .req("next_cursor", null_or(string()))
                    .into(),
            )
            .err(&[
                (409, "backup_not_complete"),
                (410, "snapshot_key_destroyed"),
            ])
            .err(INVALID),
        ResourceHistory => op("Every recorded version of one resource", "drift")
            .query("cursor", false, "opaque page cursor")
            .query("limit", false, "page size")
            .ok(
                200,
                "Versions",
                obj()
                    .req("resource", string())
                    .req("id", string())
                    .req(
                        "versions",
                        array(obj().req("change", obj().req("kind", string())).into()),
                    )
                    .req("next_cursor", null_or(string()))
                    .into(),
            )
            .err(INVALID),
        DriftView => op(
            "Drift settings, alerts and captures of a connection",
            "drift",
        )
        .query("status", false, "open, acknowledged or accepted")
        .ok(
            200,
            "Drift",
            obj()
                .req("interval_minutes", int())
                .req("rules", array(object()))
                .req("custom_rules", boolean())
                .req("last_checked_at", null_or(time()))
                .req("next_due_at", null_or(time()))
                .req("alerts", array(r("DriftAlert")))
                .req("captures", array(object()))
                .into(),
        )
        .err(INVALID),
        TransitionDriftAlert => op("Acknowledge or accept a drift alert", "drift")
            .body(derived::<super::handlers::drift_alerts::TransitionBody>())
            .ok(200, "Moved", wrap("alert", r("DriftAlert")))
            .err(&[(409, "invalid_transition")]),
        SetDriftSettings => op("Set a connection's drift interval and rules", "drift")
            .body(
                obj()
                    .req("interval_minutes", int())
                    .req("rules", null_or(array(object())))
                    .closed()
                    .into(),
            )
            .ok(
                200,
                "Saved",
                wrap(
                    "settings",
                    obj()
                        .req("connection_id", uuid())
                        .req("interval_minutes", int())
                        .req("rules", null_or(array(object())))
                        .req("next_due_at", time())
                        .req("last_checked_at", null_or(time()))
                        .into(),
                ),
            ),
        ListTeams => op("The caller's teams", "teams").ok(200, "Teams", list_of("teams", "Team")),
        ListMembers => {
            op("Members of a team", "teams").ok(200, "Members", list_of("members", "Member"))
        }
        CreateInvitation => op("Invite someone by email", "teams")
            .body(derived::<crate::services::teams::CreateInvitation>())
            .ok(
                201,
                "Invited (the token is shown once)",
                obj()
                    .req("invitation", r("Invitation"))
                    .req("token", string())
                    .into(),
            )
            .err(PLAN_LIMIT),
        ListInvitations => op("Invitations of a team", "teams").ok(
            200,
            "Invitations",
            list_of("invitations", "Invitation"),
        ),
        RevokeInvitation => op("Revoke an invitation", "teams")
            .ok(200, "Revoked", wrap("revoked", uuid()))
            .err(&[(409, "invitation_closed")]),
        GetTeamSettings => op("A team's settings", "teams").ok(
            200,
            "Settings",
            wrap("settings", r("TeamSettings")),
        ),
        ChangeTeamSettings => op("Change a team's settings", "teams")
            .body(derived::<crate::services::teams::ChangeSettings>())
            .ok(200, "Saved", wrap("settings", r("TeamSettings"))),
        AcceptInvitation => op("Accept an invitation (the signed-in account)", "teams")
            .body(derived::<crate::services::teams::AcceptInvitation>())
            .ok(200, "Joined", wrap("member", r("Member")))
            .err(&[
                (404, "not_found"),
                (409, "invitation_closed"),
                (403, "email_not_verified"),
            ])
            .err(PLAN_LIMIT),
        ChangeMemberRole => op("Change a member's role", "teams")
            .body(derived::<crate::services::teams::ChangeRole>())
            .ok(200, "Changed", wrap("member", r("Member")))
            .err(&[(409, "last_owner")]),
        RemoveMember => op("Remove a member", "teams")
            .ok(200, "Removed", wrap("removed", uuid()))
            .err(&[(409, "last_owner")]),
        CreateApiKey => op("Create an API key (its secret is shown once)", "api-keys")
            .body(derived::<crate::services::api_keys::CreateApiKey>())
            .ok(
                201,
                "Created",
                obj()
                    .req("api_key", r("ApiKey"))
                    .req("key", string())
                    .into(),
            )
            .err(&[(409, "api_key_limit")])
            .err(PLAN_LIMIT),
        ListApiKeys => {
            op("The caller's API keys", "api-keys").ok(200, "Keys", list_of("api_keys", "ApiKey"))
        }
        RevokeApiKey => {
            op("Revoke an API key", "api-keys").ok(200, "Revoked", wrap("api_key", r("ApiKey")))
        }
        TeamPlan => op("A team's plan, limits and subscription", "billing").ok(
            200,
            "Plan",
            obj()
                .req("team_id", uuid())
                .req("plan", string())
                .req("name", string())
                .req("limits", array(object()))
                .req("billing_enabled", boolean())
                .into(),
        ),
        BillingCheckout => op("Start a Stripe Checkout session", "billing")
            .body(
                obj()
                    .opt("team_id", null_or(uuid()))
                    .req("plan", string())
                    .closed()
                    .into(),
            )
            .ok(201, "Session", r("BillingSession"))
            .err(&[
                (409, "subscription_exists"),
                (502, "billing_unavailable"),
                (503, "billing_not_configured"),
            ]),
        BillingPortal => op("Open the Stripe customer portal", "billing")
            .body(obj().opt("team_id", null_or(uuid())).closed().into())
            .ok(201, "Session", r("BillingSession"))
            .err(&[
                (409, "no_billing_account"),
                (502, "billing_unavailable"),
                (503, "billing_not_configured"),
            ]),
        StripeWebhook => op("Stripe's webhook (signed)", "webhooks")
            .header("stripe-signature", "Stripe's signature over the raw body")
            .ok(200, "Received", r("WebhookReceipt"))
            .err(&[
                (400, "invalid_webhook"),
                (503, "retry_later"),
                (404, "not_found"),
            ]),
        RotateDataKey => op("Rotate a team's data key", "teams")
            .ok(202, "Rotating", wrap("rotation", object()))
            .err(&[(409, "rotation_in_progress")]),
        GetAiSettings => op("A team's AI guidance settings", "ai").ok(
            200,
            "Settings",
            wrap("ai", r("AiSettings")),
        ),
        SetAiSettings => op("Switch AI guidance on or off", "ai")
            .body(derived::<super::handlers::ai::SettingsBody>())
            .ok(200, "Saved", wrap("ai", r("AiSettings")))
            .err(INVALID),
        DeleteAiAnswers => op("Erase the stored AI answers of a team", "ai").ok(
            200,
            "Erased",
            wrap("erased", int()),
        ),
        ListGuidanceRecords => op("A team's AI guidance records", "ai").ok(
            200,
            "Records",
            wrap("records", array(object())),
        ),
        GetGuidanceRecord => {
            op("One AI guidance record", "ai").ok(200, "Record", wrap("record", object()))
        }
        FindingGuidance => op("AI guidance for a finding", "ai")
            .ok(200, "Guidance", r("Guidance"))
            .err(&[
                (409, "ai_disabled"),
                (409, "no_compliance_run"),
                (429, "ai_budget_exhausted"),
                (503, "ai_unavailable"),
            ]),
        DriftAlertGuidance => op("AI explanation of a drift alert", "ai")
            .ok(200, "Guidance", r("Guidance"))
            .err(&[
                (409, "ai_disabled"),
                (409, "drift_capture_gone"),
                (429, "ai_budget_exhausted"),
                (503, "ai_unavailable"),
            ]),
        RestorePlanGuidance => op("AI explanation of a restore plan's blast radius", "ai")
            .ok(200, "Guidance", r("Guidance"))
            .err(&[
                (409, "ai_disabled"),
                (429, "ai_budget_exhausted"),
                (503, "ai_unavailable"),
            ]),
        PrivilegedAccessGuidance => op("AI review of privileged access", "ai")
            .ok(200, "Guidance", r("Guidance"))
            .err(&[
                (409, "ai_disabled"),
                (409, "no_complete_backup"),
                (429, "ai_budget_exhausted"),
                (503, "ai_unavailable"),
            ]),
        VerifyAuditChain => op("Verify a team's activity chain against its anchor", "audit").ok(
            200,
            "Report",
            wrap("verification", object()),
        ),
        ExportAuditPack => op("Export a signed audit pack (zip)", "audit")
            .query("team_id", true, "team")
            .query("from", false, "start (RFC 3339)")
            .query("to", false, "end (RFC 3339)")
            .media(
                200,
                "The pack",
                "application/zip",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .content_media_type("application/zip")
                    .into(),
            )
            .err(&[(503, "audit_pack_unavailable")])
            .err(INVALID),
        GetAllowList => op("A team's IP allow-list", "teams").ok(
            200,
            "Entries",
            wrap("entries", array(string())),
        ),
        SetAllowList => op("Replace a team's IP allow-list", "teams")
            .body(derived::<crate::services::allowlist::SetAllowList>())
            .ok(200, "Saved", wrap("entries", array(string())))
            .err(&[(409, "would_lock_out")]),
        DeleteTeam => op(
            "Delete a team (two calls: confirm, then request)",
            "lifecycle",
        )
        .body(derived::<crate::services::lifecycle::DeleteTeam>())
        .ok(
            200,
            "Confirm with this token",
            wrap(
                "confirmation",
                obj()
                    .req("confirmation_token", string())
                    .req("expires_at", time())
                    .req("team_id", uuid())
                    .req("purge_after", time())
                    .req("removes", array(string()))
                    .into(),
            ),
        )
        .ok(202, "Deletion requested", wrap("deletion", r("Deletion")))
        .err(&[(409, "deletion_pending")]),
        CancelTeamDeletion => op("Cancel a team's deletion", "lifecycle")
            .ok(200, "Cancelled", wrap("deletion", r("Deletion")))
            .err(&[(409, "not_cancellable")]),
        GetTeamDeletion => op("A team's pending deletion", "lifecycle").ok(
            200,
            "Deletion or null",
            wrap("deletion", null_or(r("Deletion"))),
        ),
        UserExport => {
            op("Export the signed-in user's own data", "lifecycle").ok(200, "The export", object())
        }
        TrustCenter => {
            op("The Trust Center page", "trust").media(200, "HTML", "text/html", string())
        }
        TrustStylesheet => {
            op("The Trust Center stylesheet", "trust").media(200, "CSS", "text/css", string())
        }
        SecurityTxt => {
            op("RFC 9116 security.txt", "trust").media(200, "Text", "text/plain", string())
        }
        AuditKeys => op("Audit-pack signing keys (JWKS)", "trust").ok(
            200,
            "JWKS",
            wrap(
                "keys",
                array(
                    obj()
                        .req("kty", string())
                        .req("crv", string())
                        .req("kid", string())
                        .req("x", string())
                        .into(),
                ),
            ),
        ),
        AuditKeyPem => op("One audit-pack signing key as PEM (`{kid}.pem`)", "trust").media(
            200,
            "PEM",
            "application/x-pem-file",
            string(),
        ),
        RequestEmailVerification => op("Mail a verification code", "email")
            .ok(
                202,
                "Sent",
                obj()
                    .req("sent", boolean())
                    .req("expires_at", time())
                    .into(),
            )
            .err(&[
                (409, "no_email_address"),
                (429, "code_rate_limited"),
                (503, "email_not_configured"),
                (503, "email_unavailable"),
            ]),
        ConfirmEmailVerification => op("Confirm the mailed code", "email")
            .body(derived::<super::handlers::email::Confirm>())
            .ok(200, "Verified", obj().req("verified", boolean()).into())
            .err(&[
                (400, "invalid_code"),
                (404, "no_pending_code"),
                (409, "code_changed"),
                (410, "code_expired"),
                (429, "too_many_attempts"),
            ]),
        GetEmailPreferences => op("The account's email preferences", "email").ok(
            200,
            "Preferences",
            r("EmailPreferences"),
        ),
        SetEmailPreferences => op("Change the account's email preferences", "email")
            .body(derived::<crate::services::email::PreferencesPatch>())
            .ok(200, "Preferences", r("EmailPreferences")),
        UnsubscribePage => op("Confirmation page of an unsubscribe link", "email")
            .query("token", true, "signed token")
            .media(200, "HTML", "text/html", string())
            .err(&[(400, "invalid_unsubscribe_link")]),
        Unsubscribe => op("RFC 8058 one-click unsubscribe", "email")
            .query("token", true, "signed token")
            .media(200, "HTML", "text/html", string())
            .err(&[(400, "invalid_unsubscribe_link"), (400, "not_one_click")]),
        SendGridWebhook => op("SendGrid's event webhook (signed)", "webhooks")
            .ok(200, "Applied", object())
            .err(&[
                (400, "invalid_webhook"),
                (503, "retry_later"),
                (404, "not_found"),
            ]),
    }
}

/// Component schemas the entries refer to by name: the rows handlers return.
fn component_schemas() -> Vec<(&'static str, S)> {
    let id = uuid;
    vec![
        (
            "Error",
            obj()
                .req(
                    "error",
                    obj()
                        .req("code", string())
                        .req("message", string())
                        .req("request_id", string())
                        .opt("field", string())
                        .opt("upgrade_to", string())
                        .closed(),
                )
                .closed()
                .into(),
        ),
        (
            "Connection",
            obj()
                .req("id", id())
                .req("team_id", id())
                .req("org_domain", string())
                .req("auth_type", string())
                .req("status", one_of_strings(&["active", "error", "deleted"]))
                .req("environment", one_of_strings(&["production", "sandbox"]))
                .req("granted_scopes", array(string()))
                .req("last_error", null_or(string()))
                .req("verified_at", null_or(time()))
                .req("created_at", time())
                .opt("client_id", null_or(string()))
                .opt("key_id", null_or(string()))
                .opt("key_created_at", null_or(time()))
                .opt("requested_scopes", array(string()))
                .opt("missing_scopes", array(string()))
                .opt("last_success_at", null_or(time()))
                .into(),
        ),
        (
            "DrillSettingsBody",
            obj()
                .opt("sandbox_connection_id", id())
                .opt("enabled", boolean())
                .opt("rto_objective_seconds", int())
                .closed()
                .into(),
        ),
        (
            "DrillSettings",
            obj()
                .req("connection_id", id())
                .req("team_id", id())
                .req("sandbox_connection_id", id())
                .req("enabled", boolean())
                .req("rto_objective_seconds", int())
                .req("configured_by", id())
                .req("updated_at", time())
                .into(),
        ),
        (
            "Drill",
            obj()
                .req("id", id())
                .req("team_id", id())
                .req("connection_id", id())
                .req("sandbox_connection_id", id())
                .req("source_backup_id", null_or(id()))
                .req("restore_plan_id", null_or(id()))
                .req("trigger", one_of_strings(&["scheduled", "manual"]))
                .req("requested_by", null_or(id()))
                .req("status", one_of_strings(&["running", "passed", "failed"]))
                .req("started_at", time())
                .req("finished_at", null_or(time()))
                .req("rto_seconds", null_or(int()))
                .req("rpo_seconds", null_or(int()))
                .req("rto_objective_seconds", int())
                .req("report", null_or(object()))
                .req("error", null_or(string()))
                .req("alerted", boolean())
                .into(),
        ),
        (
            "Backup",
            obj()
                .req("id", id())
                .req("team_id", id())
                .req("connection_id", id())
                .req("trigger", one_of_strings(&["manual", "schedule"]))
                .req("status", one_of_strings(&["running", "complete", "failed"]))
                .req("started_at", time())
                .req("finished_at", null_or(time()))
                .req("counts", any())
                .req("object_count", null_or(int()))
                .req("error", null_or(string()))
                .into(),
        ),
        (
            "RestorePlanView",
            obj()
                .req(
                    "restore",
                    obj()
                        .req("id", id())
                        .req("target_connection_id", id())
                        .req("source_backup_id", id())
                        .req("status", one_of_strings(&["ready", "blocked"]))
                        .req("digest", string())
                        .req("created_at", time())
                        .req("expires_at", time()),
                )
                .req("expired", boolean())
                .req("plan", any())
                .into(),
        ),
        (
            "ComplianceRun",
            obj()
                .req("id", id())
                .req("connection_id", id())
                .req(
                    "status",
                    one_of_strings(&["running", "complete", "failed", "skipped"]),
                )
                .req("started_at", time())
                .req("pass_count", int())
                .req("fail_count", int())
                .req("not_applicable_count", int())
                .req("error_count", int())
                .into(),
        ),
        (
            "ComplianceRunView",
            obj()
                .req("run", r("ComplianceRun"))
                .req("findings", array(r("Finding")))
                .into(),
        ),
        (
            "Finding",
            obj()
                .req("check_id", string())
                .req("cis_safeguard", string())
                .req("severity", string())
                .req("outcome", string())
                .req("message", string())
                .req("evidence", any())
                .into(),
        ),
        (
            "Remediation",
            obj()
                .req("connection_id", id())
                .req("check_id", string())
                .req("state", string())
                .req("justification", null_or(string()))
                .req("expires_at", null_or(time()))
                .req("updated_at", time())
                .into(),
        ),
        (
            "TrendPoint",
            obj()
                .req("connection_id", id())
                .req("day", string())
                .req("pass_count", int())
                .req("fail_count", int())
                .req("pass_rate", null_or(number()))
                .into(),
        ),
        (
            "DriftAlert",
            obj()
                .req("id", id())
                .req("connection_id", id())
                .req("resource_type", string())
                .req("resource_id", string())
                .req("kind", string())
                .req("severity", string())
                .req("occurrences", int())
                .req(
                    "status",
                    one_of_strings(&["open", "acknowledged", "accepted"]),
                )
                .req("first_seen_at", time())
                .req("last_seen_at", time())
                .into(),
        ),
        (
            "Team",
            obj()
                .req("id", id())
                .req("name", string())
                .req("personal", boolean())
                .into(),
        ),
        (
            "Member",
            obj()
                .req("team_id", id())
                .req("user_id", id())
                .req("role", string())
                .into(),
        ),
        (
            "Invitation",
            obj()
                .req("id", id())
                .req("team_id", id())
                .req("email", string())
                .req("role", string())
                .req("expires_at", time())
                .into(),
        ),
        (
            "ApiKey",
            obj()
                .req("id", id())
                .req("team_id", id())
                .req("name", string())
                .req("prefix", string())
                .req(
                    "scopes",
                    array(one_of_strings(&["read", "backup", "restore", "admin"])),
                )
                .req("expires_at", null_or(time()))
                .req("revoked_at", null_or(time()))
                .req("last_used_at", null_or(time()))
                .req("created_at", time())
                .into(),
        ),
        (
            "BillingSession",
            obj().req("url", uri()).req("id", string()).into(),
        ),
        (
            "WebhookReceipt",
            obj()
                .req("received", boolean())
                .req(
                    "outcome",
                    one_of_strings(&["applied", "recorded", "duplicate"]),
                )
                .opt("ignored", string())
                .into(),
        ),
        (
            "AiSettings",
            obj()
                .req("team_id", id())
                .req("enabled", boolean())
                .req("keep_answers", boolean())
                .req("providers", array(any()))
                .into(),
        ),
        (
            "Guidance",
            obj()
                .req("outcome", string())
                .req(
                    "advice",
                    null_or(
                        obj()
                            .req("text", string())
                            .req("provider", string())
                            .req("model", string())
                            .req("advisory", boolean())
                            .into(),
                    ),
                )
                .req("record", object())
                .into(),
        ),
        (
            "TeamSettings",
            obj().req("download_roles", array(string())).into(),
        ),
        (
            "EmailPreferences",
            obj()
                .req("alerts", boolean())
                .req("product_updates", boolean())
                .req("email_verified", boolean())
                .into(),
        ),
        (
            "BackupRef",
            obj()
                .req("id", id())
                .req("started_at", time())
                .req("finished_at", null_or(time()))
                .into(),
        ),
        (
            "Deletion",
            obj()
                .req("team_id", id())
                .req("state", string())
                .req("requested_by", id())
                .req("requested_at", time())
                .req("purge_after", time())
                .into(),
        ),
    ]
}

// ---- what the route table itself implies ----

fn method_of(m: Method) -> HttpMethod {
    match m {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
        Method::Put => HttpMethod::Put,
        Method::Patch => HttpMethod::Patch,
        Method::Delete => HttpMethod::Delete,
    }
}

/// The errors the edge answers for this route before (or around) its use case, from the route
/// table: transport, authentication, scopes and roles, rate limits, body refusals.
fn edge_errors(def: &RouteDef) -> Vec<(u16, &'static str)> {
    let mut errors = vec![(403, "https_required"), (500, "internal_error")];
    if def.template.contains('{') {
        errors.push((404, "not_found"));
    }
    match def.access {
        Access::Team(_) => errors.extend([
            (401, "unauthorized"),
            (403, "forbidden"),
            (403, "address_not_allowed"),
            (404, "not_found"),
            (429, "rate_limited"),
        ]),
        Access::Account => errors.extend([
            (401, "unauthorized"),
            (403, "forbidden"),
            (429, "rate_limited"),
        ]),
        Access::SignedUrl => errors.push((429, "rate_limited")),
        Access::Public | Access::Webhook => {}
    }
    if def.route.when_limiter_down() == LimiterDown::Closed {
        errors.push((503, "rate_limiter_unavailable"));
    }
    match def.route.body() {
        BodyKind::None => errors.push((413, "payload_too_large")),
        BodyKind::Empty => errors.extend([
            (400, "invalid_json"),
            (400, "body_unreadable"),
            (413, "payload_too_large"),
        ]),
        BodyKind::Json => errors.extend([
            (400, "invalid_json"),
            (400, "body_unreadable"),
            (413, "payload_too_large"),
            (415, "unsupported_media_type"),
            (422, "validation_failed"),
        ]),
        BodyKind::Signed | BodyKind::Form => {
            errors.extend([(400, "body_unreadable"), (413, "payload_too_large")])
        }
    }
    if def.method != Method::Get {
        // A write that races another on a unique key.
        errors.push((409, "conflict"));
    }
    errors
}

/// One operation's error responses, one per status, each the edge's error body with its `code`
/// limited to the codes the route can answer with at that status.
fn error_responses(errors: &[(u16, &'static str)]) -> BTreeMap<u16, Vec<&'static str>> {
    let mut by_status: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    for &(status, code) in errors {
        let codes = by_status.entry(status).or_default();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    by_status
}

fn error_schema(codes: &[&str]) -> S {
    AllOfBuilder::new()
        .item(r("Error"))
        .item(obj().req("error", obj().req("code", one_of_strings(codes))))
        .into()
}

fn operation_id(def: &RouteDef) -> String {
    let name = format!("{:?}", def.route);
    let mut id = name[..1].to_lowercase() + &name[1..];
    if !def.template.starts_with("/api/v1/") && def.template.starts_with("/api/") {
        id.push_str("Unversioned");
    }
    id
}

/// Builds the document.
pub fn document() -> OpenApi {
    let mut paths = Paths::new();
    for def in ROUTES {
        let entry = entry(def.route);
        let mut operation = OperationBuilder::new()
            .operation_id(Some(operation_id(def)))
            .summary(Some(entry.summary))
            .tag(entry.tag);
        for segment in def.template.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(string())),
                );
            }
        }
        for (name, required, about) in &entry.query {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Query)
                    .required(if *required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(Some(*about))
                    .schema(Some(string())),
            );
        }
        for (name, about) in &entry.headers {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Header)
                    .required(Required::True)
                    .description(Some(*about))
                    .schema(Some(string())),
            );
        }
        operation = match (def.route.body(), entry.body) {
            (BodyKind::Json, Some(schema)) => operation.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", Content::new(Some(schema)))
                    .build(),
            )),
            (BodyKind::Empty, _) => operation.request_body(Some(
                RequestBodyBuilder::new()
                    .description(Some("Nothing, or `{}`"))
                    .required(Some(Required::False))
                    .content(
                        "application/json",
                        Content::new(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::Object)
                                .max_properties(Some(0)),
                        )),
                    )
                    .build(),
            )),
            (BodyKind::Signed, _) => operation.request_body(Some(
                RequestBodyBuilder::new()
                    .description(Some(
                        "The provider's signed event payload, verified byte for byte",
                    ))
                    .required(Some(Required::True))
                    .content("application/json", Content::new(Some(any())))
                    .build(),
            )),
            (BodyKind::Form, _) => operation.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/x-www-form-urlencoded",
                        Content::new(Some(
                            obj().req("List-Unsubscribe", one_of_strings(&["One-Click"])),
                        )),
                    )
                    .build(),
            )),
            (BodyKind::None, _) | (BodyKind::Json, None) => operation,
        };
        // One response per status; a status may come in several media types (the dashboard's
        // assets are scripts or stylesheets).
        let mut responses: BTreeMap<u16, ResponseBuilder> = BTreeMap::new();
        for (status, about, media, schema) in entry.ok {
            let response = responses
                .remove(&status)
                .unwrap_or_else(|| ResponseBuilder::new().description(about));
            responses.insert(status, response.content(media, Content::new(Some(schema))));
        }
        for (status, response) in responses {
            operation = operation.response(status.to_string(), response.build());
        }
        let mut errors = edge_errors(def);
        errors.extend(entry.errors);
        for (status, codes) in error_responses(&errors) {
            let about = codes
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ");
            operation = operation.response(
                status.to_string(),
                ResponseBuilder::new()
                    .description(about)
                    .content("application/json", Content::new(Some(error_schema(&codes))))
                    .build(),
            );
        }
        operation = match def.access {
            Access::Team(_) => operation
                .security(SecurityRequirement::new(JWT_SCHEME, Vec::<String>::new()))
                .security(SecurityRequirement::new(KEY_SCHEME, Vec::<String>::new())),
            Access::Account => {
                operation.security(SecurityRequirement::new(JWT_SCHEME, Vec::<String>::new()))
            }
            Access::Public | Access::SignedUrl | Access::Webhook => operation,
        };
        paths.add_path_operation(def.template, vec![method_of(def.method)], operation.build());
    }
    let mut components = ComponentsBuilder::new()
        .security_scheme(
            JWT_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A Supabase Auth user access token"))
                    .build(),
            ),
        )
        .security_scheme(
            KEY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("bfk_<id>_<secret>")
                    .description(Some(
                        "A Butterfly API key; it reaches a team route only if one of its scopes \
                         allows the route's action, and never the account routes",
                    ))
                    .build(),
            ),
        );
    for (name, schema) in component_schemas() {
        components = components.schema(name, schema);
    }
    let mut tags: Vec<&str> = ROUTES.iter().map(|d| entry(d.route).tag).collect();
    tags.sort_unstable();
    tags.dedup();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Butterfly API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Okta backup, drift, restore and compliance evidence. Every error is \
                     `{\"error\": {\"code\", \"message\", \"request_id\", \"field\"?}}` with a \
                     stable `code`; each response lists the codes it can carry.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .tags(Some(tags.into_iter().map(Tag::new)))
        .build()
}

/// The document as JSON bytes, built once per isolate.
fn document_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| serde_json::to_vec(&document()).expect("the document serializes"))
}

/// `GET /api/v1/openapi.json`: public, and cacheable for five minutes (it changes only with a
/// deploy).
pub fn serve() -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse {
        status: 200,
        headers: vec![
            (
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("cache-control".into(), "public, max-age=300".into()),
        ],
        body: super::http::Body::Bytes(document_bytes().to_vec()),
    })
}

/// The document as a JSON value (tests and tooling).
pub fn document_json() -> Value {
    serde_json::from_slice(document_bytes()).expect("the document is JSON")
}

/// The JSON Schema a response of `method template` with `status` must match, with the document's
/// components beside it so its `$ref`s resolve; `None` when the route does not declare that
/// status, `Some(None)` when it declares a non-JSON body.
pub fn response_schema(
    doc: &Value,
    method: Method,
    template: &str,
    status: u16,
) -> Option<Option<Value>> {
    let method = match method {
        Method::Get => "get",
        Method::Post => "post",
        Method::Put => "put",
        Method::Patch => "patch",
        Method::Delete => "delete",
    };
    let response = doc["paths"][template][method]["responses"].get(status.to_string())?;
    let Some(schema) = response["content"]["application/json"]["schema"].as_object() else {
        return Some(None);
    };
    let mut schema = schema.clone();
    schema.insert("components".into(), doc["components"].clone());
    schema.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    Some(Some(Value::Object(schema)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_an_operation_with_its_method_path_and_security() {
        let doc = document_json();
        for def in ROUTES {
            let method = format!("{:?}", def.method).to_lowercase();
            let op = &doc["paths"][def.template][&method];
            assert!(
                op.is_object(),
                "{} {} has no operation",
                method,
                def.template
            );
            let schemes: Vec<String> = op["security"]
                .as_array()
                .map(|reqs| {
                    reqs.iter()
                        .flat_map(|r| r.as_object().unwrap().keys().cloned())
                        .collect()
                })
                .unwrap_or_default();
            let expected: &[&str] = match def.access {
                Access::Team(_) => &[JWT_SCHEME, KEY_SCHEME],
                Access::Account => &[JWT_SCHEME],
                Access::Public | Access::SignedUrl | Access::Webhook => &[],
            };
            assert_eq!(schemes, expected, "{} {}", method, def.template);
            for segment in def.template.split('/').filter(|s| s.starts_with('{')) {
                let name = &segment[1..segment.len() - 1];
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{} lacks path parameter {name}",
                    def.template
                );
            }
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{} {} declares no success",
                method,
                def.template
            );
            // Every authenticated route says it can refuse credentials.
            if !expected.is_empty() {
                let codes = &responses["401"]["content"]["application/json"]["schema"]["allOf"][1]
                    ["properties"]["error"]["properties"]["code"]["enum"];
                assert_eq!(codes, &json!(["unauthorized"]), "{}", def.template);
            }
            if def.route.body() == BodyKind::Json {
                assert!(
                    op["requestBody"]["content"]["application/json"]["schema"].is_object(),
                    "{} has no body schema",
                    def.template
                );
            }
        }
        // Nothing but the table: operations count equals rows.
        let count: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(count, ROUTES.len());
        assert_eq!(doc["openapi"], "3.1.0");
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        assert_eq!(schemes[JWT_SCHEME]["scheme"], "bearer");
        assert_eq!(schemes[KEY_SCHEME]["scheme"], "bearer");
    }

    #[test]
    fn refs_point_at_components_that_exist_and_operation_ids_are_unique() {
        let doc = document_json();
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling $ref {name}"
            );
        }
        let mut ids: Vec<String> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| {
                item.as_object()
                    .unwrap()
                    .values()
                    .map(|op| op["operationId"].as_str().unwrap().to_string())
            })
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn error_responses_carry_the_route_codes_per_status() {
        let doc = document_json();
        let schema = response_schema(&doc, Method::Post, "/api/v1/connections/{id}/backups", 409)
            .unwrap()
            .unwrap();
        let codes = &schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"];
        for code in ["backup_in_progress", "connection_not_active", "conflict"] {
            assert!(codes.as_array().unwrap().contains(&json!(code)), "{code}");
        }
        // Undeclared statuses are undeclared; non-JSON bodies say so.
        assert!(response_schema(&doc, Method::Get, "/api/v1/health", 401).is_none());
        assert_eq!(
            response_schema(&doc, Method::Get, "/trust", 200),
            Some(None)
        );
    }

    /// The standard validator (`openapi-spec-validator`, installed by scripts/bootstrap.sh)
    /// accepts the document; where it is not installed the test fails, never skips.
    #[test]
    fn a_standard_validator_accepts_the_document() {
        let root = env!("CARGO_MANIFEST_DIR");
        let validator = format!("{root}/.venv/bin/openapi-spec-validator");
        let path =
            std::env::temp_dir().join(format!("butterfly-openapi-{}.json", std::process::id()));
        std::fs::write(&path, document_bytes()).unwrap();
        let out = std::process::Command::new(&validator)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("{validator}: {e} (run scripts/bootstrap.sh)"));
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "openapi-spec-validator refused the document:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
