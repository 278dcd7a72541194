//! Sending a prompt: the primary provider first, the fallback on timeout, 429, 5xx and the like,
//! each behind its circuit breaker and bounded by a timeout.
//!
//! The timeout races the provider's response against the clock port, so the core enforces it
//! the same way natively and on Workers (where `fetch` has no timeout of its own). Each
//! provider is tried at most once per request: a retry would double the cost of a failing
//! request, and the fallback is the retry.

use std::time::Duration;

use futures_util::future::{select, Either};
use serde::{Deserialize, Serialize};

use super::breaker::{Breakers, Permit};
use super::prompts::Prompt;
use super::provider::{CallError, Completion, ProviderConfig, ProviderId};
use crate::ports::{Clock, HttpClient};

/// What happened at one provider during a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub provider: ProviderId,
    pub model: String,
    pub key_id: String,
    /// `ok`, a [`CallError::code`], or `circuit_open` when the provider was skipped.
    pub outcome: String,
    pub status: Option<u16>,
    pub latency_ms: u64,
}

/// Why no provider produced an answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no AI provider is configured")]
    NoProviders,
    #[error("every AI provider is unavailable")]
    Unavailable,
    /// A provider rejected the request itself (or the model refused); no other was tried.
    #[error("the request was rejected: {0}")]
    Rejected(CallError),
}

#[derive(Debug)]
pub struct Routed {
    pub result: Result<(ProviderId, Completion), RouteError>,
    pub attempts: Vec<Attempt>,
}

/// Everything sending needs: the providers in order of preference and this isolate's breakers.
pub struct Router<'a> {
    pub providers: &'a [ProviderConfig],
    pub breakers: &'a Breakers,
    pub timeout: Duration,
}

impl Router<'_> {
    pub async fn complete(
        &self,
        http: &dyn HttpClient,
        clock: &dyn Clock,
        prompt: &Prompt,
        safety_id: &str,
    ) -> Routed {
        let mut attempts = Vec::new();
        if self.providers.is_empty() {
            return Routed {
                result: Err(RouteError::NoProviders),
                attempts,
            };
        }
        for provider in self.providers {
            let started = clock.now();
            let attempt = |outcome: &str, status: Option<u16>, latency_ms: u64| Attempt {
                provider: provider.id,
                model: provider.model.clone(),
                key_id: provider.key_id.clone(),
                outcome: outcome.to_owned(),
                status,
                latency_ms,
            };
            if let Permit::Skip { .. } = self.breakers.with(provider.id, |b| b.permit(started)) {
                attempts.push(attempt("circuit_open", None, 0));
                continue;
            }
            let result = self.call(http, clock, provider, prompt, safety_id).await;
            let ended = clock.now();
            let latency = (ended - started).num_milliseconds().max(0) as u64;
            match result {
                Ok((status, completion)) => {
                    self.breakers.with(provider.id, |b| b.success());
                    attempts.push(attempt("ok", Some(status), latency));
                    return Routed {
                        result: Ok((provider.id, completion)),
                        attempts,
                    };
                }
                Err(error) => {
                    attempts.push(attempt(error.code(), error.status(), latency));
                    if error.trips_breaker() {
                        let retry = error.retry_after();
                        self.breakers.with(provider.id, |b| b.failure(ended, retry));
                    } else {
                        // The provider answered properly; it is healthy.
                        self.breakers.with(provider.id, |b| b.success());
                    }
                    if !error.fails_over() {
                        return Routed {
                            result: Err(RouteError::Rejected(error)),
                            attempts,
                        };
                    }
                }
            }
        }
        Routed {
            result: Err(RouteError::Unavailable),
            attempts,
        }
    }

    async fn call(
        &self,
        http: &dyn HttpClient,
        clock: &dyn Clock,
        provider: &ProviderConfig,
        prompt: &Prompt,
        safety_id: &str,
    ) -> Result<(u16, Completion), CallError> {
        let request = provider.request(prompt, safety_id);
        let send = Box::pin(http.send(request));
        let timer = Box::pin(clock.sleep(self.timeout));
        match select(send, timer).await {
            Either::Left((Ok(response), _)) => {
                provider.response(&response).map(|c| (response.status, c))
            }
            Either::Left((Err(_), _)) => Err(CallError::Transport),
            Either::Right(((), _)) => Err(CallError::Timeout(self.timeout)),
        }
    }
}
