//! One guidance request, end to end: the team's switch, the prompt, the budget, the providers,
//! re-identification and the record.
//!
//! This is the whole of what the worker does with a model: send a redacted prompt over the HTTP
//! port and show the answer as text. It is handed no Okta client and no store, and nothing in an
//! answer is parsed for actions; a suggestion reaches Okta only if an administrator carries it
//! out through the remediation or restore flows, with their own approvals.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::breaker::Breakers;
use super::budget::{
    admit, estimate_tokens, settle, BudgetError, BudgetPolicy, Reservation, Usage,
};
use super::config::AiConfig;
use super::failover::{RouteError, Router};
use super::prompts::{build, Prompt, PromptError, Subject};
use super::provider::{CallError, ProviderId};
use super::record::{GuidanceRecord, RecordOutcome};
use super::tenant::TenantView;
use crate::ids::{ConnectionId, TeamId, UserId};
use crate::ports::{Clock, HttpClient};

/// A team's choices (stored per team; off until an owner or admin turns it on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AiSettings {
    pub enabled: bool,
    /// Keep answer text in the records (off: records hold no answer).
    pub keep_answers: bool,
}

/// Who asks what.
pub struct Ask<'a> {
    pub team: TeamId,
    pub connection: Option<ConnectionId>,
    pub requested_by: Option<UserId>,
    /// Butterfly's id of the subject (check id, drift alert, restore plan, backup).
    pub target: String,
    pub subject: Subject<'a>,
}

/// The ports and shared state a request uses.
pub struct Deps<'a> {
    pub http: &'a dyn HttpClient,
    pub clock: &'a dyn Clock,
    pub config: &'a AiConfig,
    /// This isolate's circuit breakers.
    pub breakers: &'a Breakers,
}

/// A model's answer, re-identified for the team. Text only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advice {
    pub text: String,
    pub provider: ProviderId,
    pub model: String,
}

#[derive(Debug)]
pub struct Guidance {
    pub advice: Option<Advice>,
    pub record: GuidanceRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GuideError {
    /// The team has not turned AI guidance on (or turned it off): nothing is built or sent.
    #[error("AI guidance is turned off for this team")]
    Disabled,
}

/// A prompt built for an enabled team with providers configured: admitted against the team's
/// budget next, then sent. The worker stores the budget's reservation between the two, so two
/// concurrent requests cannot both spend the last of it.
#[derive(Debug)]
pub struct Pending {
    prompt: Prompt,
    record: GuidanceRecord,
    keep_answers: bool,
}

/// What [`prepare`] produced: a request ready to admit and send, or one that ended before
/// anything could be sent (too large, no providers), with its record.
#[derive(Debug)]
pub enum Prepared {
    Ready(Pending),
    Done(Guidance),
}

/// Checks the team's switch and builds the prompt. Nothing is sent.
pub fn prepare(
    deps: &Deps<'_>,
    settings: AiSettings,
    ask: Ask<'_>,
    tenant: &dyn TenantView,
) -> Result<Prepared, GuideError> {
    if !settings.enabled {
        return Err(GuideError::Disabled);
    }
    let now = deps.clock.now();
    let mut record = GuidanceRecord {
        team_id: ask.team,
        connection_id: ask.connection,
        requested_by: ask.requested_by,
        prompt: ask.subject.kind(),
        target: ask.target,
        payload_sha256: None,
        payload_bytes: 0,
        pseudonyms: 0,
        provider: None,
        model: None,
        attempts: Vec::new(),
        latency_ms: 0,
        input_tokens: 0,
        output_tokens: 0,
        cost_micro_usd: None,
        outcome: RecordOutcome::NoProviders,
        error: None,
        answer: None,
        created_at: now,
    };
    let prompt = match build(ask.subject, tenant, now) {
        Ok(p) => p,
        Err(PromptError::TooLarge(bytes)) => {
            record.payload_bytes = bytes;
            record.outcome = RecordOutcome::TooLarge;
            return Ok(Prepared::Done(Guidance {
                advice: None,
                record,
            }));
        }
    };
    record.payload_sha256 = Some(prompt.sha256());
    record.payload_bytes = prompt.system.len() + prompt.user.len();
    record.pseudonyms = prompt.pseudonyms().len();
    if deps.config.providers.is_empty() {
        return Ok(Prepared::Done(Guidance {
            advice: None,
            record,
        }));
    }
    Ok(Prepared::Ready(Pending {
        prompt,
        record,
        keep_answers: settings.keep_answers,
    }))
}

impl Pending {
    /// The most this request can spend: estimated input plus the prompt's output cap.
    pub fn worst_case_tokens(&self) -> u64 {
        estimate_tokens(self.prompt.system)
            + estimate_tokens(&self.prompt.user)
            + u64::from(self.prompt.max_output_tokens)
    }

    /// Admits the request against `usage` (reserving its worst case), or ends it as
    /// `over_budget` with nothing sent.
    pub fn admit(
        self,
        policy: &BudgetPolicy,
        usage: &mut Usage,
        now: DateTime<Utc>,
    ) -> Result<(Pending, Reservation), (Box<Guidance>, BudgetError)> {
        match admit(policy, usage, now, self.worst_case_tokens()) {
            Ok(r) => Ok((self, r)),
            Err(e) => {
                let mut record = self.record;
                record.outcome = RecordOutcome::OverBudget;
                record.error = Some(e.code().to_owned());
                let done = Guidance {
                    advice: None,
                    record,
                };
                Err((Box::new(done), e))
            }
        }
    }

    /// Sends the prompt (primary, then fallback) and re-identifies the answer. Returns the
    /// guidance and the tokens the providers billed, to [`settle`] the reservation with.
    pub async fn send(self, deps: &Deps<'_>, safety_id: &str) -> (Guidance, u64) {
        let Pending {
            prompt,
            mut record,
            keep_answers,
        } = self;
        let started = deps.clock.now();
        let router = Router {
            providers: &deps.config.providers,
            breakers: deps.breakers,
            timeout: deps.config.timeout,
        };
        let routed = router
            .complete(deps.http, deps.clock, &prompt, safety_id)
            .await;
        record.latency_ms = (deps.clock.now() - started).num_milliseconds().max(0) as u64;
        record.attempts = routed.attempts;
        match routed.result {
            Ok((provider, completion)) => {
                let spent = completion.input_tokens + completion.output_tokens;
                record.provider = Some(provider);
                record.model = Some(completion.model.clone());
                record.input_tokens = completion.input_tokens;
                record.output_tokens = completion.output_tokens;
                record.cost_micro_usd = deps.config.prices.cost(
                    &completion.model,
                    completion.input_tokens,
                    completion.output_tokens,
                );
                record.outcome = RecordOutcome::Answered;
                let text = prompt.reidentify(&completion.text);
                if keep_answers {
                    record.answer = Some(text.clone());
                }
                let advice = Some(Advice {
                    text,
                    provider,
                    model: completion.model,
                });
                (Guidance { advice, record }, spent)
            }
            Err(e) => {
                let (outcome, code) = match &e {
                    RouteError::NoProviders => (RecordOutcome::NoProviders, "no_providers"),
                    RouteError::Unavailable => (RecordOutcome::Unavailable, "unavailable"),
                    RouteError::Rejected(CallError::Refused) => (RecordOutcome::Refused, "refused"),
                    RouteError::Rejected(call) => (RecordOutcome::Rejected, call.code()),
                };
                record.outcome = outcome;
                record.error = Some(code.to_owned());
                // Errors are not billed by either provider.
                (
                    Guidance {
                        advice: None,
                        record,
                    },
                    0,
                )
            }
        }
    }
}

/// Answers `ask` over `tenant`, spending from the team's `usage`: [`prepare`], admit, send and
/// settle in one go (the worker stores `usage` between the steps instead).
pub async fn ask(
    deps: &Deps<'_>,
    settings: AiSettings,
    policy: &BudgetPolicy,
    usage: &mut Usage,
    ask: Ask<'_>,
    tenant: &dyn TenantView,
) -> Result<Guidance, GuideError> {
    let team = ask.team;
    let pending = match prepare(deps, settings, ask, tenant)? {
        Prepared::Ready(p) => p,
        Prepared::Done(g) => return Ok(g),
    };
    let (pending, reservation) = match pending.admit(policy, usage, deps.clock.now()) {
        Ok(admitted) => admitted,
        Err((done, _)) => return Ok(*done),
    };
    let (guidance, spent) = pending.send(deps, &safety_id(team)).await;
    settle(usage, deps.clock.now(), reservation, spent);
    Ok(guidance)
}

/// An opaque, stable identifier of the team for the providers' abuse detection: a hash, so it
/// reveals neither the team id nor anything about its members.
pub fn safety_id(team: TeamId) -> String {
    let digest = Sha256::digest(format!("butterfly-ai-safety:{team}").as_bytes());
    hex::encode(&digest[..16])
}
