//! One guidance request, end to end: the team's switch, the prompt, the budget, the providers,
//! re-identification and the record.
//!
//! This is the whole of what the worker does with a model: send a redacted prompt over the HTTP
//! port and show the answer as text. It is handed no Okta client and no store, and nothing in an
//! answer is parsed for actions; a suggestion reaches Okta only if an administrator carries it
//! out through the remediation or restore flows, with their own approvals.

use sha2::{Digest, Sha256};

use super::breaker::Breakers;
use super::budget::{admit, estimate_tokens, settle, BudgetPolicy, Usage};
use super::config::AiConfig;
use super::failover::{RouteError, Router};
use super::prompts::{build, PromptError, Subject};
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

/// Answers `ask` over `tenant`, spending from the team's `usage`.
pub async fn ask(
    deps: &Deps<'_>,
    settings: AiSettings,
    policy: &BudgetPolicy,
    usage: &mut Usage,
    ask: Ask<'_>,
    tenant: &dyn TenantView,
) -> Result<Guidance, GuideError> {
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
            return Ok(Guidance {
                advice: None,
                record,
            });
        }
    };
    record.payload_sha256 = Some(prompt.sha256());
    record.payload_bytes = prompt.system.len() + prompt.user.len();
    record.pseudonyms = prompt.pseudonyms().len();
    if deps.config.providers.is_empty() {
        return Ok(Guidance {
            advice: None,
            record,
        });
    }
    let worst_case = estimate_tokens(prompt.system)
        + estimate_tokens(&prompt.user)
        + u64::from(prompt.max_output_tokens);
    let reservation = match admit(policy, usage, now, worst_case) {
        Ok(r) => r,
        Err(e) => {
            record.outcome = RecordOutcome::OverBudget;
            record.error = Some(e.code().to_owned());
            return Ok(Guidance {
                advice: None,
                record,
            });
        }
    };
    let router = Router {
        providers: &deps.config.providers,
        breakers: deps.breakers,
        timeout: deps.config.timeout,
    };
    let routed = router
        .complete(deps.http, deps.clock, &prompt, &safety_id(ask.team))
        .await;
    record.latency_ms = (deps.clock.now() - now).num_milliseconds().max(0) as u64;
    record.attempts = routed.attempts;
    let advice = match routed.result {
        Ok((provider, completion)) => {
            settle(
                usage,
                deps.clock.now(),
                reservation,
                completion.input_tokens + completion.output_tokens,
            );
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
            if settings.keep_answers {
                record.answer = Some(text.clone());
            }
            Some(Advice {
                text,
                provider,
                model: completion.model,
            })
        }
        Err(e) => {
            // Errors are not billed by either provider.
            settle(usage, deps.clock.now(), reservation, 0);
            let (outcome, code) = match &e {
                RouteError::NoProviders => (RecordOutcome::NoProviders, "no_providers"),
                RouteError::Unavailable => (RecordOutcome::Unavailable, "unavailable"),
                RouteError::Rejected(CallError::Refused) => (RecordOutcome::Refused, "refused"),
                RouteError::Rejected(call) => (RecordOutcome::Rejected, call.code()),
            };
            record.outcome = outcome;
            record.error = Some(code.to_owned());
            None
        }
    };
    Ok(Guidance { advice, record })
}

/// An opaque, stable identifier of the team for the providers' abuse detection: a hash, so it
/// reveals neither the team id nor anything about its members.
pub fn safety_id(team: TeamId) -> String {
    let digest = Sha256::digest(format!("butterfly-ai-safety:{team}").as_bytes());
    hex::encode(&digest[..16])
}
