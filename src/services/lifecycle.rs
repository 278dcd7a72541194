//! Team deletion (GDPR Art. 17) and the user data export (Art. 20): the routes' use cases over
//! the `lifecycle` cores. The purge itself is the job `jobs::purge`.
//!
//! Deleting a team takes two calls of `DELETE /teams/{id}` by an owner, both with the team's
//! name typed out: the first answers what will be deleted and when, with a confirmation token
//! (10 minutes, this user and team only); the second brings the token back and opens the
//! request. During the grace period the team works as before and any owner can cancel.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit::Event;
use super::{Caller, ServiceError};
use crate::authz::matrix::{Action, Role};
use crate::email::address::EmailAddress;
use crate::email::preferences::Preferences;
use crate::ids::{TeamId, UserId};
use crate::lifecycle::deletion::{
    self, ConfirmationToken, DeletionError, DeletionState, Proof, PurgeStep, TeamDeletion,
    GRACE_PERIOD,
};
use crate::lifecycle::export::{self, UserData, UserExport};
use crate::store::DbError;

/// `DELETE /teams/{id}`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteTeam {
    /// The team's name, typed out.
    pub confirm_name: String,
    /// The token the first call answered with; absent on the first call.
    pub confirmation_token: Option<String>,
}

/// What `DELETE /teams/{id}` answers.
pub enum DeleteOutcome {
    /// First call: nothing changed yet; confirm with this token.
    Confirm(Value),
    /// Second call: the deletion is requested.
    Requested(TeamDeletion),
}

/// A deletion as the API shows it.
pub fn view(d: &TeamDeletion) -> Value {
    let mut v = json!({
        "team_id": d.team,
        "requested_by": d.requested_by,
        "requested_at": d.requested_at,
        "purge_after": d.purge_after,
        "purge_deadline": d.deadline(),
    });
    let state = serde_json::to_value(&d.state).unwrap_or_default();
    if let (Value::Object(v), Value::Object(state)) = (&mut v, state) {
        v.extend(state);
    }
    v
}

async fn team_name(caller: &Caller<'_>, team: TeamId) -> Result<String, ServiceError> {
    caller
        .stores()
        .teams()
        .await?
        .into_iter()
        .find(|t| t.id == team)
        .map(|t| t.name)
        .ok_or(ServiceError::NotFound)
}

/// `DELETE /teams/{id}`: the confirmation step, then the request (audited as
/// `team.deletion_request`).
pub async fn request_deletion(
    caller: &Caller<'_>,
    team: TeamId,
    body: DeleteTeam,
) -> Result<DeleteOutcome, ServiceError> {
    caller.authorize(team, Action::TeamDelete).await?;
    let deps = caller.deps();
    let now = deps.clock.now();
    let name = team_name(caller, team).await?;
    let keys = &deps.config.api_key_pepper;
    let refused = |e: DeletionError| match e {
        DeletionError::NameMismatch => {
            ServiceError::invalid("confirm_name", "does not match the team's name")
        }
        _ => ServiceError::invalid(
            "confirmation_token",
            "is not valid for this team or has expired; send the first request again",
        ),
    };
    let Some(token) = body.confirmation_token.as_deref() else {
        deletion::confirm(&name, &body.confirm_name, Proof::Token(true)).map_err(refused)?;
        if let Some(pending) = caller.system().stores().team_deletion(team).await? {
            if !matches!(pending.state, DeletionState::Cancelled { .. }) {
                return Err(pending_conflict());
            }
        }
        let (token, expires_at) = ConfirmationToken::issue(keys, team, caller.user(), now);
        return Ok(DeleteOutcome::Confirm(json!({
            "confirmation_token": token,
            "expires_at": expires_at,
            "team_id": team,
            "purge_after": now + GRACE_PERIOD,
            "removes": PurgeStep::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        })));
    };
    let valid = ConfirmationToken::verify(keys, token, team, caller.user(), now);
    let confirmed =
        deletion::confirm(&name, &body.confirm_name, Proof::Token(valid)).map_err(refused)?;
    let planned = TeamDeletion::request(team, caller.user(), now, confirmed);
    let audit = caller.audit(Event {
        team,
        action: "team.deletion_request",
        target_type: "team",
        target_id: team.to_string(),
        details: json!({"purge_after": planned.purge_after}),
    });
    let grace = u32::try_from(GRACE_PERIOD.num_seconds()).unwrap_or(u32::MAX);
    caller
        .system()
        .stores()
        .request_team_deletion(team, caller.user(), grace, &audit)
        .await
        .map(DeleteOutcome::Requested)
        .map_err(|e| match e {
            DbError::Conflict => pending_conflict(),
            e => e.into(),
        })
}

fn pending_conflict() -> ServiceError {
    ServiceError::Conflict {
        code: "deletion_pending",
        message: "this team's deletion is already requested; cancel it first to request again",
    }
}

/// `POST /teams/{id}/deletion/cancel` (any owner, during the grace period; audited as
/// `team.deletion_cancel`).
pub async fn cancel_deletion(
    caller: &Caller<'_>,
    team: TeamId,
) -> Result<TeamDeletion, ServiceError> {
    caller.authorize(team, Action::TeamDelete).await?;
    let audit = caller.audit(Event {
        team,
        action: "team.deletion_cancel",
        target_type: "team",
        target_id: team.to_string(),
        details: json!({}),
    });
    caller
        .system()
        .stores()
        .cancel_team_deletion(team, caller.user(), &audit)
        .await?
        .ok_or(ServiceError::Conflict {
            code: "not_cancellable",
            message: "no deletion of this team is in its grace period",
        })
}

/// `GET /teams/{id}/deletion`: the team's deletion request, if any.
pub async fn deletion_status(
    caller: &Caller<'_>,
    team: TeamId,
) -> Result<Option<TeamDeletion>, ServiceError> {
    caller.authorize(team, Action::TeamRead).await?;
    Ok(caller.stores().team_deletion(team).await?)
}

/// What `user_export` returns, section by section.
#[derive(Debug, Deserialize)]
struct ExportRow {
    profile: ProfileRow,
    email_preferences: Option<Preferences>,
    email_suppressions: Vec<SuppressionRow>,
    memberships: Vec<MembershipRow>,
    api_keys: Vec<ApiKeyRow>,
    invitations: Vec<InvitationRow>,
    activity: Vec<ActivityRow>,
}

#[derive(Debug, Deserialize)]
struct ProfileRow {
    id: UserId,
    email: Option<String>,
    display_name: Option<String>,
    created_at: DateTime<Utc>,
    email_verified_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct SuppressionRow {
    reason: String,
    since: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct MembershipRow {
    team_id: TeamId,
    team_name: String,
    role: Role,
    joined_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct ApiKeyRow {
    id: String,
    team_id: TeamId,
    name: String,
    prefix: String,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct InvitationRow {
    team_id: TeamId,
    direction: String,
    email: String,
    role: Role,
    created_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct ActivityRow {
    occurred_at: DateTime<Utc>,
    team_id: Option<TeamId>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    source_ip: Option<String>,
    request_id: Option<String>,
}

fn user_data(row: ExportRow) -> Result<UserData, ServiceError> {
    let unreadable = |what: &str| ServiceError::Internal(format!("user_export: {what} unreadable"));
    Ok(UserData {
        profile: export::Profile {
            id: row.profile.id,
            email: row
                .profile
                .email
                .as_deref()
                .map(EmailAddress::parse)
                .transpose()
                .map_err(|_| unreadable("profile email"))?,
            email_verified_at: row.profile.email_verified_at,
            display_name: row.profile.display_name,
            created_at: row.profile.created_at,
        },
        email_preferences: row.email_preferences.unwrap_or_default(),
        email_suppressions: row
            .email_suppressions
            .into_iter()
            .map(|s| export::Suppression {
                reason: s.reason,
                since: s.since,
            })
            .collect(),
        memberships: row
            .memberships
            .into_iter()
            .map(|m| export::Membership {
                team_id: m.team_id,
                team_name: m.team_name,
                role: m.role,
                joined_at: m.joined_at,
            })
            .collect(),
        api_keys: row
            .api_keys
            .into_iter()
            .map(|k| export::ApiKeyInfo {
                id: k.id,
                team_id: k.team_id,
                name: k.name,
                prefix: k.prefix,
                scopes: k.scopes,
                created_at: k.created_at,
                last_used_at: k.last_used_at,
                revoked_at: k.revoked_at,
            })
            .collect(),
        invitations: row
            .invitations
            .into_iter()
            .map(|i| {
                Ok(export::Invitation {
                    team_id: i.team_id,
                    direction: if i.direction == "sent" {
                        "sent"
                    } else {
                        "received"
                    },
                    email: EmailAddress::parse(&i.email)
                        .map_err(|_| unreadable("invitation email"))?,
                    role: i.role,
                    created_at: i.created_at,
                    accepted_at: i.accepted_at,
                })
            })
            .collect::<Result<_, ServiceError>>()?,
        activity: row
            .activity
            .into_iter()
            .map(|a| export::Activity {
                occurred_at: a.occurred_at,
                team_id: a.team_id,
                action: a.action,
                target_type: a.target_type,
                target_id: a.target_id,
                source_ip: a.source_ip,
                request_id: a.request_id,
            })
            .collect(),
    })
}

/// `GET /me/export`: everything held about the signed-in user (never through an API key),
/// audited as `user.export`.
pub async fn export(caller: &Caller<'_>) -> Result<UserExport, ServiceError> {
    if caller.principal().key.is_some() {
        return Err(ServiceError::Forbidden);
    }
    let sys = caller.system();
    let value = sys.stores().user_export(caller.user()).await?;
    let row: ExportRow = serde_json::from_value(value)
        .map_err(|e| ServiceError::Internal(format!("user_export unreadable: {e}")))?;
    let data = user_data(row)?;
    let audit = sys.audit_untied("user.export", "user", caller.user().to_string());
    sys.stores()
        .record(&audit)
        .await
        .map_err(|e| ServiceError::Internal(format!("audit write failed: {e}")))?;
    Ok(UserExport::new(caller.deps().clock.now(), data))
}
