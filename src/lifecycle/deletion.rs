//! Team deletion (GDPR Art. 17): request → cancellable grace period → purge, finished within
//! 30 days of the request.
//!
//! ```text
//!  request (owner, code-confirmed)        cancel (any owner, before purge_after)
//!  ───────────────▶ Requested ────────────────────────────────────▶ Cancelled
//!                      │ purge_after = requested_at + GRACE_PERIOD
//!                      ▼
//!                   Purging { next step of PURGE_STEPS }  (resumable, step by step)
//!                      │ last step done
//!                      ▼
//!                   Purged  (tombstone: team id, dates, step counts; nothing identifying)
//! ```
//!
//! The purge is a job on the job runner: each [`PurgeStep`] is idempotent (deleting what is
//! already gone is success) and the row records the last completed step, so a killed purge
//! resumes where it stopped and never reports partial work as done.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::crypto::keyring::KeyRing;
use crate::email::codes::{CodePurpose, Verdict};
use crate::ids::{TeamId, UserId};

/// Cancellable period between the request and the purge.
pub const GRACE_PERIOD: Duration = Duration::days(7);
/// The purge must be complete this long after the request (Art. 12(3): one month).
pub const PURGE_DEADLINE: Duration = Duration::days(30);

/// What the purge does, in order. Earlier steps make the data unusable (freeze, revoke,
/// shred); later steps remove what is left. Each names what it removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeStep {
    /// `teams.status = 'deleting'`: every API call for the team is refused from here on
    /// (scheduled backups, drift checks and drills skip it) and pending outbox mail for it is
    /// cancelled, except the deletion receipt.
    Freeze,
    /// Cancels the Stripe subscription at once and deletes the Stripe customer (Stripe keeps
    /// the invoices the law requires; Butterfly keeps no billing data).
    CancelBilling,
    /// Deletes the team's API keys and pending invitations.
    RevokeAccess,
    /// Deletes the Okta connections with their sealed API tokens.
    DeleteConnections,
    /// Deletes every `tenant_keys` row of the team (crypto-shredding): sealed tokens and
    /// anything else sealed under the team's data keys can no longer be opened, even from a
    /// database backup taken before the purge.
    DestroyDataKeys,
    /// Deletes every R2 object of the team: snapshots, change-capture deltas, work files,
    /// exports (resumable by listing cursor).
    DeleteObjects,
    /// Deletes the team's rows: backups and checkpoints, compliance runs and findings, drift
    /// alerts, restores and drills, billing state and Stripe event records, outbox rows.
    DeleteRecords,
    /// Pseudonymises the team's activity log through the hash chain's erasure function
    /// (`activity_logs_pseudonymise(team)`, from the evidence work): actor email and name and
    /// source IP are erased, identifying `details` keys (email, display name, IP) removed, user
    /// ids replaced by per-purge pseudonyms (`erased-<hash>`, so one anonymous person's actions
    /// still read as one), and the rows' identity salts deleted. The salted commitments stay, so
    /// the chain still verifies, and without the salts they cannot be opened or guessed at.
    PseudonymiseActivity,
    /// Removes memberships and replaces the team row by a tombstone (id, dates, no name).
    RemoveTeam,
    /// Emails the requester the deletion receipt (then the outbox row's address is erased).
    SendReceipt,
}

impl PurgeStep {
    pub const ALL: [PurgeStep; 10] = [
        PurgeStep::Freeze,
        PurgeStep::CancelBilling,
        PurgeStep::RevokeAccess,
        PurgeStep::DeleteConnections,
        PurgeStep::DestroyDataKeys,
        PurgeStep::DeleteObjects,
        PurgeStep::DeleteRecords,
        PurgeStep::PseudonymiseActivity,
        PurgeStep::RemoveTeam,
        PurgeStep::SendReceipt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PurgeStep::Freeze => "freeze",
            PurgeStep::CancelBilling => "cancel_billing",
            PurgeStep::RevokeAccess => "revoke_access",
            PurgeStep::DeleteConnections => "delete_connections",
            PurgeStep::DestroyDataKeys => "destroy_data_keys",
            PurgeStep::DeleteObjects => "delete_objects",
            PurgeStep::DeleteRecords => "delete_records",
            PurgeStep::PseudonymiseActivity => "pseudonymise_activity",
            PurgeStep::RemoveTeam => "remove_team",
            PurgeStep::SendReceipt => "send_receipt",
        }
    }

    /// The step after this one; `None` after the last.
    pub fn next(self) -> Option<PurgeStep> {
        let i = PurgeStep::ALL.iter().position(|s| *s == self)?;
        PurgeStep::ALL.get(i + 1).copied()
    }
}

/// Where a deletion is (`team_deletions.state` and its columns).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeletionState {
    Requested,
    Cancelled {
        by: UserId,
        at: DateTime<Utc>,
    },
    Purging {
        started_at: DateTime<Utc>,
        /// The step to run next.
        next: PurgeStep,
    },
    Purged {
        at: DateTime<Utc>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamDeletion {
    pub team: TeamId,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
    pub purge_after: DateTime<Utc>,
    pub state: DeletionState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeletionError {
    #[error("the typed team name does not match")]
    NameMismatch,
    #[error("the confirmation code is not valid")]
    CodeNotVerified,
    #[error("the deletion can no longer be cancelled")]
    NotCancellable,
    #[error("the purge is not due yet")]
    NotDue,
    #[error("the deletion is not purging")]
    NotPurging,
    #[error("step {0:?} is not the next step")]
    OutOfOrder(PurgeStep),
}

/// Proof that the owner confirmed: the right team name typed and a second proof that the
/// request was meant. Only [`confirm`] makes one, so a request cannot be created without both.
#[derive(Debug)]
pub struct Confirmed(());

/// The second proof of a deletion request, besides the typed name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof {
    /// A code sent to the owner's verified address (`email::codes`).
    Code(CodePurpose, Verdict),
    /// The confirmation token the first `DELETE` answered with ([`ConfirmationToken`]), and
    /// whether it verified for this team, this user and now.
    Token(bool),
}

/// The confirmation step of `DELETE /teams/{id}`.
pub fn confirm(
    team_name: &str,
    typed_name: &str,
    proof: Proof,
) -> Result<Confirmed, DeletionError> {
    if team_name.trim() != typed_name.trim() {
        return Err(DeletionError::NameMismatch);
    }
    let proven = match proof {
        Proof::Code(purpose, verdict) => {
            purpose == CodePurpose::ConfirmTeamDeletion && verdict == Verdict::Verified
        }
        Proof::Token(valid) => valid,
    };
    if !proven {
        return Err(DeletionError::CodeNotVerified);
    }
    Ok(Confirmed(()))
}

/// How long a confirmation token stays valid.
pub const CONFIRMATION_TTL: Duration = Duration::minutes(10);

/// The token the first `DELETE /teams/{id}` hands out and the second must bring back:
/// `v1.<key id>.<expiry, unix seconds>.<base64url HMAC-SHA256>` over the team, the user and the
/// expiry, under a key of `API_KEY_PEPPER` with its own label. It proves the caller read the
/// first answer (what will be deleted, and when) shortly before confirming, as the same user.
pub struct ConfirmationToken;

const TOKEN_LABEL: &[u8] = b"butterfly-team-deletion-v1\0";

fn token_mac(key: &[u8], team: TeamId, user: UserId, expires: i64) -> [u8; 32] {
    let message = format!("{team}\n{user}\n{expires}");
    crate::crypto::hmac_sha256(key, &[TOKEN_LABEL, message.as_bytes()])
}

impl ConfirmationToken {
    /// A token for `user` deleting `team`, and when it expires.
    pub fn issue(
        keys: &KeyRing,
        team: TeamId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let expires = now + CONFIRMATION_TTL;
        let (id, key) = keys.active();
        let mac = token_mac(key.expose(), team, user, expires.timestamp());
        let token = format!(
            "v1.{id}.{}.{}",
            expires.timestamp(),
            URL_SAFE_NO_PAD.encode(mac)
        );
        (token, expires)
    }

    /// Whether `token` was issued for `user` deleting `team` and has not expired.
    pub fn verify(
        keys: &KeyRing,
        token: &str,
        team: TeamId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> bool {
        let mut parts = token.split('.');
        let (Some("v1"), Some(id), Some(expires), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return false;
        };
        let (Some(key), Ok(expires), Ok(mac)) = (
            keys.get(id),
            expires.parse::<i64>(),
            URL_SAFE_NO_PAD.decode(mac),
        ) else {
            return false;
        };
        now.timestamp() < expires
            && crate::crypto::ct_eq(&mac, &token_mac(key.expose(), team, user, expires))
    }
}

impl TeamDeletion {
    pub fn request(team: TeamId, by: UserId, now: DateTime<Utc>, _: Confirmed) -> TeamDeletion {
        TeamDeletion {
            team,
            requested_by: by,
            requested_at: now,
            purge_after: now + GRACE_PERIOD,
            state: DeletionState::Requested,
        }
    }

    /// Any owner may cancel while the grace period runs.
    pub fn cancel(&self, by: UserId, now: DateTime<Utc>) -> Result<TeamDeletion, DeletionError> {
        if self.state != DeletionState::Requested || now >= self.purge_after {
            return Err(DeletionError::NotCancellable);
        }
        Ok(TeamDeletion {
            state: DeletionState::Cancelled { by, at: now },
            ..self.clone()
        })
    }

    pub fn due(&self, now: DateTime<Utc>) -> bool {
        self.state == DeletionState::Requested && now >= self.purge_after
    }

    pub fn start_purge(&self, now: DateTime<Utc>) -> Result<TeamDeletion, DeletionError> {
        if !self.due(now) {
            return Err(DeletionError::NotDue);
        }
        Ok(TeamDeletion {
            state: DeletionState::Purging {
                started_at: now,
                next: PurgeStep::ALL[0],
            },
            ..self.clone()
        })
    }

    /// Records `done` as complete; it must be the next step (steps never run out of order,
    /// and a step reported twice after a crash is refused rather than skipping one).
    pub fn complete(
        &self,
        done: PurgeStep,
        now: DateTime<Utc>,
    ) -> Result<TeamDeletion, DeletionError> {
        let DeletionState::Purging { started_at, next } = self.state else {
            return Err(DeletionError::NotPurging);
        };
        if done != next {
            return Err(DeletionError::OutOfOrder(done));
        }
        let state = match next.next() {
            Some(step) => DeletionState::Purging {
                started_at,
                next: step,
            },
            None => DeletionState::Purged { at: now },
        };
        Ok(TeamDeletion {
            state,
            ..self.clone()
        })
    }

    /// The deadline, for alerting: a purge still unfinished then is an incident.
    pub fn deadline(&self) -> DateTime<Utc> {
        self.requested_at + PURGE_DEADLINE
    }

    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        matches!(
            self.state,
            DeletionState::Requested | DeletionState::Purging { .. }
        ) && now >= self.deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + Duration::days(days)
    }

    fn team() -> TeamId {
        TeamId::parse("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f").unwrap()
    }

    fn owner() -> UserId {
        UserId::parse("11111111-2222-4333-8444-555555555555").unwrap()
    }

    fn requested() -> TeamDeletion {
        let ok = confirm(
            "Acme",
            "Acme",
            Proof::Code(CodePurpose::ConfirmTeamDeletion, Verdict::Verified),
        )
        .unwrap();
        TeamDeletion::request(team(), owner(), t(0), ok)
    }

    #[test]
    fn confirmation_needs_the_name_and_a_deletion_code() {
        assert_eq!(
            confirm(
                "Acme",
                "acme",
                Proof::Code(CodePurpose::ConfirmTeamDeletion, Verdict::Verified)
            )
            .unwrap_err(),
            DeletionError::NameMismatch
        );
        assert_eq!(
            confirm(
                "Acme",
                "Acme",
                Proof::Code(CodePurpose::VerifyEmail, Verdict::Verified)
            )
            .unwrap_err(),
            DeletionError::CodeNotVerified,
            "an email-verification code does not confirm a deletion"
        );
        assert_eq!(
            confirm(
                "Acme",
                "Acme",
                Proof::Code(
                    CodePurpose::ConfirmTeamDeletion,
                    Verdict::Wrong { attempts_left: 3 }
                )
            )
            .unwrap_err(),
            DeletionError::CodeNotVerified
        );
        assert_eq!(
            confirm("Acme", "Acme", Proof::Token(false)).unwrap_err(),
            DeletionError::CodeNotVerified
        );
        assert!(confirm(" Acme ", "Acme", Proof::Token(true)).is_ok());
    }

    #[test]
    fn a_confirmation_token_binds_team_user_and_ten_minutes() {
        use crate::crypto::keys::Key256;
        let keys = KeyRing::single("k1", Key256::from_bytes([7; 32]));
        let other_keys = KeyRing::single("k1", Key256::from_bytes([8; 32]));
        let other_team = TeamId::parse("7f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f").unwrap();
        let other_user = UserId::parse("21111111-2222-4333-8444-555555555555").unwrap();
        let (token, expires) = ConfirmationToken::issue(&keys, team(), owner(), t(0));
        assert_eq!(expires, t(0) + CONFIRMATION_TTL);
        let ok = |k: &KeyRing, tok: &str, tm, u, at| ConfirmationToken::verify(k, tok, tm, u, at);
        assert!(ok(
            &keys,
            &token,
            team(),
            owner(),
            t(0) + Duration::minutes(9)
        ));
        assert!(!ok(&keys, &token, team(), owner(), expires), "expired");
        assert!(
            !ok(&keys, &token, other_team, owner(), t(0)),
            "another team"
        );
        assert!(!ok(&keys, &token, team(), other_user, t(0)), "another user");
        assert!(
            !ok(&other_keys, &token, team(), owner(), t(0)),
            "another key"
        );
        let later = token.replacen(
            &expires.timestamp().to_string(),
            &(expires.timestamp() + 3600).to_string(),
            1,
        );
        assert!(
            !ok(&keys, &later, team(), owner(), t(0)),
            "a stretched expiry"
        );
        assert!(!ok(&keys, "v1.k1.1", team(), owner(), t(0)));
        assert!(!ok(&keys, &format!("{token}.x"), team(), owner(), t(0)));
    }

    #[test]
    fn cancellable_during_the_grace_period_only() {
        let d = requested();
        assert_eq!(d.purge_after, t(7));
        assert!(!d.due(t(6)));
        let cancelled = d.cancel(owner(), t(6)).unwrap();
        assert!(matches!(cancelled.state, DeletionState::Cancelled { .. }));
        assert!(!cancelled.due(t(8)), "a cancelled deletion never purges");
        assert_eq!(
            d.cancel(owner(), t(7)).unwrap_err(),
            DeletionError::NotCancellable
        );
        assert_eq!(d.start_purge(t(6)).unwrap_err(), DeletionError::NotDue);
        let purging = d.start_purge(t(7)).unwrap();
        assert_eq!(
            purging.cancel(owner(), t(7)).unwrap_err(),
            DeletionError::NotCancellable
        );
    }

    #[test]
    fn the_purge_runs_every_step_in_order_and_resumes() {
        let mut d = requested().start_purge(t(7)).unwrap();
        assert_eq!(
            d.complete(PurgeStep::DeleteObjects, t(7)).unwrap_err(),
            DeletionError::OutOfOrder(PurgeStep::DeleteObjects),
            "no skipping ahead"
        );
        for (i, step) in PurgeStep::ALL.iter().enumerate() {
            assert_eq!(
                d.state,
                DeletionState::Purging {
                    started_at: t(7),
                    next: *step
                }
            );
            // A crashed worker re-reading the row resumes at exactly this step.
            let resumed: TeamDeletion =
                serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
            d = resumed.complete(*step, t(7 + i as i64)).unwrap();
            // The step just done, reported again (a retried worker), is refused.
            let again = d.complete(*step, t(8)).unwrap_err();
            if i + 1 < PurgeStep::ALL.len() {
                assert_eq!(again, DeletionError::OutOfOrder(*step));
            } else {
                assert_eq!(again, DeletionError::NotPurging);
            }
        }
        assert_eq!(d.state, DeletionState::Purged { at: t(16) });
        assert!(!d.overdue(t(40)));
        assert!(d.deadline() <= d.requested_at + Duration::days(30));
    }

    #[test]
    fn shredding_comes_before_removal_and_billing_before_records() {
        let pos = |s| PurgeStep::ALL.iter().position(|x| *x == s).unwrap();
        assert_eq!(
            pos(PurgeStep::Freeze),
            0,
            "nothing new arrives once the purge starts"
        );
        assert!(pos(PurgeStep::DestroyDataKeys) < pos(PurgeStep::DeleteObjects));
        assert!(
            pos(PurgeStep::CancelBilling) < pos(PurgeStep::DeleteRecords),
            "the customer id is needed to cancel"
        );
        assert!(pos(PurgeStep::PseudonymiseActivity) < pos(PurgeStep::RemoveTeam));
        assert_eq!(pos(PurgeStep::SendReceipt), PurgeStep::ALL.len() - 1);
        let overdue = requested();
        assert!(overdue.overdue(t(30)) && !overdue.overdue(t(29)));
    }
}
