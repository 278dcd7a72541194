//! The user data export (GDPR Art. 20): everything Butterfly holds about one user, in one
//! structured, machine-readable JSON document (`butterfly.user-export.v1`).
//!
//! Included: the profile, email verification state and preferences, suppressions of the
//! user's address, team memberships, the user's API keys (metadata only), invitations the user
//! sent or received, and the activity-log entries the user performed. Excluded, and why:
//! secrets (API key hashes, sealed Okta tokens: not the user's data and dangerous to export),
//! other people's data, and tenant snapshots (the team's Okta data, which its admins download
//! through the backups API).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::authz::matrix::Role;
use crate::email::address::EmailAddress;
use crate::email::preferences::Preferences;
use crate::ids::{TeamId, UserId};

pub const FORMAT: &str = "butterfly.user-export.v1";

#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    pub id: UserId,
    pub email: Option<EmailAddress>,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Membership {
    pub team_id: TeamId,
    pub team_name: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ApiKeyInfo {
    pub id: String,
    pub team_id: TeamId,
    pub name: String,
    /// The visible prefix only; the secret is never stored.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Invitation {
    pub team_id: TeamId,
    /// `sent` by this user or `received` at their address.
    pub direction: &'static str,
    pub email: EmailAddress,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Activity {
    pub occurred_at: DateTime<Utc>,
    pub team_id: Option<TeamId>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Suppression {
    pub reason: String,
    pub since: DateTime<Utc>,
}

/// The whole export.
/// What the stores hold about one user, section by section.
#[derive(Clone, Debug, Serialize)]
pub struct UserData {
    pub profile: Profile,
    pub email_preferences: Preferences,
    pub email_suppressions: Vec<Suppression>,
    pub memberships: Vec<Membership>,
    pub api_keys: Vec<ApiKeyInfo>,
    pub invitations: Vec<Invitation>,
    /// Oldest first.
    pub activity: Vec<Activity>,
}

#[derive(Clone, Debug, Serialize)]
pub struct UserExport {
    pub format: &'static str,
    pub generated_at: DateTime<Utc>,
    #[serde(flatten)]
    pub data: UserData,
}

impl UserExport {
    /// Assembles the export; `activity` is sorted, other sections keep the stores' order.
    pub fn new(now: DateTime<Utc>, mut data: UserData) -> UserExport {
        data.activity.sort_by_key(|a| a.occurred_at);
        UserExport {
            format: FORMAT,
            generated_at: now,
            data,
        }
    }

    /// The file served as `butterfly-export-<user>.json` (`Content-Disposition: attachment`).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("export serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn export_is_complete_json_in_a_versioned_format() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let user = UserId::parse("11111111-2222-4333-8444-555555555555").unwrap();
        let team = TeamId::parse("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f").unwrap();
        let email = EmailAddress::parse("ana@acme.example").unwrap();
        let activity = |secs, action: &str| Activity {
            occurred_at: t + Duration::seconds(secs),
            team_id: Some(team),
            action: action.into(),
            target_type: None,
            target_id: None,
            source_ip: Some("203.0.113.9".into()),
            request_id: None,
        };
        let export = UserExport::new(
            t,
            UserData {
                profile: Profile {
                    id: user,
                    email: Some(email.clone()),
                    email_verified_at: Some(t),
                    display_name: Some("Ana".into()),
                    created_at: t,
                },
                email_preferences: Preferences::default(),
                email_suppressions: vec![],
                memberships: vec![Membership {
                    team_id: team,
                    team_name: "Acme".into(),
                    role: Role::Owner,
                    joined_at: t,
                }],
                api_keys: vec![ApiKeyInfo {
                    id: "k1".into(),
                    team_id: team,
                    name: "ci".into(),
                    prefix: "bfk_ab12".into(),
                    scopes: vec!["read".into()],
                    created_at: t,
                    last_used_at: None,
                    revoked_at: None,
                }],
                invitations: vec![Invitation {
                    team_id: team,
                    direction: "sent",
                    email,
                    role: Role::Viewer,
                    created_at: t,
                    accepted_at: None,
                }],
                activity: vec![
                    activity(20, "backup.start"),
                    activity(10, "connection.create"),
                ],
            },
        );
        let json: serde_json::Value = serde_json::from_slice(&export.to_json()).unwrap();
        assert_eq!(json["format"], FORMAT);
        assert_eq!(json["profile"]["email"], "ana@acme.example");
        assert_eq!(json["memberships"][0]["role"], "owner");
        assert_eq!(
            json["email_preferences"],
            serde_json::json!({"alerts": true, "product_updates": false})
        );
        assert_eq!(
            json["activity"][0]["action"], "connection.create",
            "oldest first"
        );
        assert_eq!(json["api_keys"][0]["prefix"], "bfk_ab12");
        assert!(json["api_keys"][0].get("hash").is_none());
    }
}
