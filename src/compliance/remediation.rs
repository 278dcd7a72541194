//! The remediation workflow of a failing check, as pure state transitions.
//!
//! A check's state is kept per connection across runs. Users move it open → acknowledged, accept
//! the risk (with justification, approver and expiry) or reopen it; runs move it to resolved when
//! the check passes and back to open when it fails again or an acceptance has expired.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::outcome::Outcome;
use crate::authz::matrix::Action;

/// Longest a risk acceptance may last before it must be reviewed.
pub const MAX_ACCEPTANCE_DAYS: i64 = 365;
/// Longest justification stored (the database enforces the same bound).
pub const MAX_JUSTIFICATION_CHARS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Open,
    Acknowledged,
    Resolved,
    RiskAccepted,
}

impl State {
    pub const ALL: [State; 4] = [
        State::Open,
        State::Acknowledged,
        State::Resolved,
        State::RiskAccepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acknowledged => "acknowledged",
            State::Resolved => "resolved",
            State::RiskAccepted => "risk_accepted",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The stored state of one (connection, check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remediation {
    pub state: State,
    /// When a risk acceptance lapses; set only in `RiskAccepted`.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a run's outcome does to the state; `None` means "leave it as it is".
///
/// A failure opens a new finding, reopens a resolved one and reopens a lapsed acceptance. A pass
/// resolves whatever was pending. `NotApplicable` resolves too (nothing left to fix), while
/// `Error` proves nothing either way and only lets a lapsed acceptance fall back to open.
pub fn after_run(
    current: Option<&Remediation>,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Option<State> {
    let lapsed = current
        .is_some_and(|r| r.state == State::RiskAccepted && r.expires_at.is_none_or(|at| at <= now));
    let state = current.map(|r| r.state);
    match (outcome, state) {
        (Outcome::Fail, None | Some(State::Resolved)) => Some(State::Open),
        (Outcome::Fail | Outcome::Error, Some(State::RiskAccepted)) if lapsed => Some(State::Open),
        (
            Outcome::Pass | Outcome::NotApplicable,
            Some(State::Open | State::Acknowledged | State::RiskAccepted),
        ) => Some(State::Resolved),
        _ => None,
    }
}

/// A transition a user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Acknowledge,
    Reopen,
    AcceptRisk {
        justification: String,
        expires_at: DateTime<Utc>,
    },
}

impl Request {
    pub fn target(&self) -> State {
        match self {
            Request::Acknowledge => State::Acknowledged,
            Request::Reopen => State::Open,
            Request::AcceptRisk { .. } => State::RiskAccepted,
        }
    }

    /// The permission this transition needs: accepting risk makes the caller its approver.
    pub fn action(&self) -> Action {
        match self {
            Request::AcceptRisk { .. } => Action::RiskAccept,
            Request::Acknowledge | Request::Reopen => Action::FindingTriage,
        }
    }
}

/// Why a user transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("a finding in state {from} cannot move to {to}")]
    NotAllowed {
        from: &'static str,
        to: &'static str,
    },
    #[error("justification {0}")]
    Justification(&'static str),
    #[error("expires_at {0}")]
    Expiry(&'static str),
}

/// Checks a user transition from `from`; resolved is reached only by a passing run.
pub fn check_transition(
    from: State,
    request: &Request,
    now: DateTime<Utc>,
) -> Result<(), TransitionError> {
    let allowed = matches!(
        (from, request),
        (State::Open, Request::Acknowledge)
            | (
                State::Open | State::Acknowledged,
                Request::AcceptRisk { .. }
            )
            | (State::Acknowledged | State::RiskAccepted, Request::Reopen)
    );
    if !allowed {
        return Err(TransitionError::NotAllowed {
            from: from.as_str(),
            to: request.target().as_str(),
        });
    }
    if let Request::AcceptRisk {
        justification,
        expires_at,
    } = request
    {
        let trimmed = justification.trim();
        if trimmed.is_empty() {
            return Err(TransitionError::Justification("must not be empty"));
        }
        if trimmed.chars().count() > MAX_JUSTIFICATION_CHARS {
            return Err(TransitionError::Justification("is too long"));
        }
        if *expires_at <= now {
            return Err(TransitionError::Expiry("must be in the future"));
        }
        if *expires_at > now + Duration::days(MAX_ACCEPTANCE_DAYS) {
            return Err(TransitionError::Expiry("must be within 365 days"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn at(state: State) -> Remediation {
        Remediation {
            state,
            expires_at: None,
        }
    }

    fn accepted(expires_at: DateTime<Utc>) -> Remediation {
        Remediation {
            state: State::RiskAccepted,
            expires_at: Some(expires_at),
        }
    }

    #[test]
    fn a_failing_run_opens_new_and_reopens_resolved_findings() {
        assert_eq!(after_run(None, Outcome::Fail, now()), Some(State::Open));
        assert_eq!(
            after_run(Some(&at(State::Resolved)), Outcome::Fail, now()),
            Some(State::Open)
        );
        for kept in [State::Open, State::Acknowledged] {
            assert_eq!(after_run(Some(&at(kept)), Outcome::Fail, now()), None);
        }
    }

    #[test]
    fn a_passing_run_resolves_pending_findings() {
        for pending in [State::Open, State::Acknowledged] {
            assert_eq!(
                after_run(Some(&at(pending)), Outcome::Pass, now()),
                Some(State::Resolved)
            );
        }
        let live = accepted(now() + Duration::days(10));
        assert_eq!(
            after_run(Some(&live), Outcome::Pass, now()),
            Some(State::Resolved)
        );
        assert_eq!(
            after_run(Some(&at(State::Resolved)), Outcome::Pass, now()),
            None
        );
        // A check that never failed gets no remediation row.
        assert_eq!(after_run(None, Outcome::Pass, now()), None);
        assert_eq!(after_run(None, Outcome::Error, now()), None);
    }

    #[test]
    fn an_accepted_risk_holds_until_it_expires() {
        let live = accepted(now() + Duration::seconds(1));
        assert_eq!(after_run(Some(&live), Outcome::Fail, now()), None);
        let lapsed = accepted(now());
        assert_eq!(
            after_run(Some(&lapsed), Outcome::Fail, now()),
            Some(State::Open)
        );
        assert_eq!(
            after_run(Some(&lapsed), Outcome::Error, now()),
            Some(State::Open)
        );
    }

    #[test]
    fn an_error_proves_nothing() {
        for state in [State::Open, State::Acknowledged, State::Resolved] {
            assert_eq!(after_run(Some(&at(state)), Outcome::Error, now()), None);
        }
    }

    fn accept(days: i64, justification: &str) -> Request {
        Request::AcceptRisk {
            justification: justification.into(),
            expires_at: now() + Duration::days(days),
        }
    }

    #[test]
    fn users_move_findings_along_the_allowed_edges_only() {
        use State::*;
        let ok = [
            (Open, Request::Acknowledge),
            (Open, accept(30, "compensating control")),
            (Acknowledged, accept(30, "compensating control")),
            (Acknowledged, Request::Reopen),
            (RiskAccepted, Request::Reopen),
        ];
        for (from, req) in ok {
            assert_eq!(
                check_transition(from, &req, now()),
                Ok(()),
                "{from:?} {req:?}"
            );
        }
        let refused = [
            (Acknowledged, Request::Acknowledge),
            (Resolved, Request::Acknowledge),
            (Resolved, Request::Reopen),
            (Resolved, accept(30, "x")),
            (Open, Request::Reopen),
            (RiskAccepted, Request::Acknowledge),
            (RiskAccepted, accept(30, "x")),
        ];
        for (from, req) in refused {
            assert!(
                matches!(
                    check_transition(from, &req, now()),
                    Err(TransitionError::NotAllowed { .. })
                ),
                "{from:?} {req:?}"
            );
        }
    }

    #[test]
    fn risk_acceptance_needs_a_justification_and_a_bounded_expiry() {
        let from = State::Open;
        assert_eq!(
            check_transition(from, &accept(30, "  "), now()),
            Err(TransitionError::Justification("must not be empty"))
        );
        let long = "x".repeat(MAX_JUSTIFICATION_CHARS + 1);
        assert_eq!(
            check_transition(from, &accept(30, &long), now()),
            Err(TransitionError::Justification("is too long"))
        );
        assert_eq!(
            check_transition(from, &accept(0, "ok"), now()),
            Err(TransitionError::Expiry("must be in the future"))
        );
        assert_eq!(
            check_transition(from, &accept(366, "ok"), now()),
            Err(TransitionError::Expiry("must be within 365 days"))
        );
        assert_eq!(check_transition(from, &accept(365, "ok"), now()), Ok(()));
    }

    #[test]
    fn only_admins_and_owners_approve_risk() {
        assert_eq!(accept(1, "x").action(), Action::RiskAccept);
        assert_eq!(Request::Acknowledge.action(), Action::FindingTriage);
        assert_eq!(Request::Reopen.action(), Action::FindingTriage);
    }

    #[test]
    fn state_names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(State::parse("closed"), None);
    }
}
