//! A circuit breaker per provider, kept per isolate.
//!
//! Closed, it lets calls through and counts consecutive failures; at the threshold, or when the
//! provider names a `Retry-After`, it opens and calls skip the provider until the open period
//! ends. Then it is half-open: one call (the probe) may try the provider while every other
//! call still skips it; the probe's success closes the circuit, its failure opens it again for
//! twice as long (up to a ceiling). A probe that never reports back (its request was dropped)
//! stops blocking after `probe_timeout`.
//!
//! The state is plain data driven by the caller's clock, so it tests without waiting; the
//! worker keeps one [`Breakers`] per isolate (isolates do not share memory, so each learns on
//! its own, which only makes recovery slightly slower).

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::provider::ProviderId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// First open period; doubled after each failed probe.
    pub open_for: Duration,
    pub max_open_for: Duration,
    /// How long a probe may stay unanswered before another call may probe.
    pub probe_timeout: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            failure_threshold: 3,
            open_for: Duration::from_secs(30),
            max_open_for: Duration::from_secs(600),
            probe_timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: DateTime<Utc>,
        /// The open period that led here, doubled on the next failed probe.
        period: Duration,
    },
    HalfOpen {
        probe_started: DateTime<Utc>,
        period: Duration,
    },
}

/// What the breaker lets a call do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permit {
    /// Call the provider.
    Call,
    /// Call it as the half-open probe.
    Probe,
    /// Skip it until then.
    Skip { until: DateTime<Utc> },
}

#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    policy: BreakerPolicy,
    state: State,
}

impl CircuitBreaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        CircuitBreaker {
            policy,
            state: State::Closed { failures: 0 },
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn permit(&mut self, now: DateTime<Utc>) -> Permit {
        match self.state {
            State::Closed { .. } => Permit::Call,
            State::Open { until, period } if now >= until => {
                self.state = State::HalfOpen {
                    probe_started: now,
                    period,
                };
                Permit::Probe
            }
            State::Open { until, .. } => Permit::Skip { until },
            State::HalfOpen {
                probe_started,
                period,
            } => {
                if now >= probe_started + self.policy.probe_timeout {
                    self.state = State::HalfOpen {
                        probe_started: now,
                        period,
                    };
                    Permit::Probe
                } else {
                    Permit::Skip {
                        until: probe_started + self.policy.probe_timeout,
                    }
                }
            }
        }
    }

    pub fn success(&mut self) {
        self.state = State::Closed { failures: 0 };
    }

    /// A failure that says the provider is unwell; `retry_after` is how long it asked us to
    /// stay away, which opens the circuit for at least that long at once.
    pub fn failure(&mut self, now: DateTime<Utc>, retry_after: Option<Duration>) {
        let p = self.policy;
        let next = match self.state {
            State::Closed { failures }
                if failures + 1 < p.failure_threshold && retry_after.is_none() =>
            {
                State::Closed {
                    failures: failures + 1,
                }
            }
            State::Closed { .. } | State::Open { .. } => self.open(now, p.open_for, retry_after),
            State::HalfOpen { period, .. } => {
                let doubled = (period * 2).min(p.max_open_for);
                self.open(now, doubled, retry_after)
            }
        };
        self.state = next;
    }

    fn open(&self, now: DateTime<Utc>, period: Duration, retry_after: Option<Duration>) -> State {
        let wait = retry_after
            .map_or(period, |r| r.max(period))
            .min(self.policy.max_open_for);
        State::Open {
            until: now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
            period,
        }
    }
}

/// The breakers of every provider, as one isolate keeps them.
#[derive(Debug, Default)]
pub struct Breakers {
    policy: BreakerPolicy,
    by_provider: RefCell<HashMap<ProviderId, CircuitBreaker>>,
}

impl Breakers {
    pub fn new(policy: BreakerPolicy) -> Self {
        Breakers {
            policy,
            by_provider: RefCell::default(),
        }
    }

    /// Runs `f` on `provider`'s breaker. The borrow ends with `f`, so it is never held across
    /// an await.
    pub fn with<T>(&self, provider: ProviderId, f: impl FnOnce(&mut CircuitBreaker) -> T) -> T {
        let mut map = self.by_provider.borrow_mut();
        let breaker = map
            .entry(provider)
            .or_insert_with(|| CircuitBreaker::new(self.policy));
        f(breaker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn opens_after_consecutive_failures_and_skips_until_the_period_ends() {
        let mut b = CircuitBreaker::new(BreakerPolicy::default());
        b.failure(at(0), None);
        b.failure(at(1), None);
        assert_eq!(b.permit(at(1)), Permit::Call, "two failures keep it closed");
        b.success();
        b.failure(at(2), None);
        b.failure(at(3), None);
        assert_eq!(b.permit(at(3)), Permit::Call, "a success resets the count");
        b.failure(at(4), None);
        assert_eq!(b.permit(at(5)), Permit::Skip { until: at(34) });
        assert_eq!(b.permit(at(33)), Permit::Skip { until: at(34) });
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_outcome_decides() {
        let mut b = CircuitBreaker::new(BreakerPolicy::default());
        for s in 0..3 {
            b.failure(at(s), None);
        }
        assert_eq!(b.permit(at(32)), Permit::Probe);
        assert_eq!(
            b.permit(at(33)),
            Permit::Skip { until: at(152) },
            "others skip while the probe is out"
        );
        b.failure(at(40), None);
        assert_eq!(
            b.permit(at(41)),
            Permit::Skip { until: at(100) },
            "a failed probe doubles the period"
        );
        assert_eq!(b.permit(at(100)), Permit::Probe);
        b.success();
        assert_eq!(b.state(), State::Closed { failures: 0 });
        assert_eq!(b.permit(at(101)), Permit::Call);
    }

    #[test]
    fn retry_after_opens_at_once_for_at_least_that_long() {
        let mut b = CircuitBreaker::new(BreakerPolicy::default());
        b.failure(at(0), Some(Duration::from_secs(90)));
        assert_eq!(b.permit(at(1)), Permit::Skip { until: at(90) });
        let mut b = CircuitBreaker::new(BreakerPolicy::default());
        b.failure(at(0), Some(Duration::from_secs(5)));
        assert_eq!(
            b.permit(at(1)),
            Permit::Skip { until: at(30) },
            "never shorter than the period"
        );
        let mut b = CircuitBreaker::new(BreakerPolicy::default());
        b.failure(at(0), Some(Duration::from_secs(86_400)));
        assert_eq!(b.permit(at(1)), Permit::Skip { until: at(600) }, "capped");
    }

    #[test]
    fn a_lost_probe_stops_blocking() {
        let mut b = CircuitBreaker::new(BreakerPolicy::default());
        for s in 0..3 {
            b.failure(at(s), None);
        }
        assert_eq!(b.permit(at(40)), Permit::Probe);
        assert!(matches!(b.permit(at(100)), Permit::Skip { .. }));
        assert_eq!(
            b.permit(at(160)),
            Permit::Probe,
            "the first probe never reported"
        );
    }

    #[test]
    fn breakers_are_per_provider() {
        let breakers = Breakers::new(BreakerPolicy::default());
        for s in 0..3 {
            breakers.with(ProviderId::Anthropic, |b| b.failure(at(s), None));
        }
        assert!(matches!(
            breakers.with(ProviderId::Anthropic, |b| b.permit(at(4))),
            Permit::Skip { .. }
        ));
        assert_eq!(
            breakers.with(ProviderId::OpenAi, |b| b.permit(at(4))),
            Permit::Call
        );
    }
}
