//! The provider clients over real HTTP against `tools/ai-fakes`, which check every request
//! against the providers' published schemas: conformance, failover on injected 529/429/slow
//! answers, and the breaker with a real clock.

use std::time::{Duration, Instant};

use ai_fakes::{
    FakeConfig, Fault, Provider, RunningFakes, DEFAULT_ANTHROPIC_KEY, DEFAULT_OPENAI_KEY,
};
use futures::executor::block_on;

use super::native::{SystemClock, UreqHttp};
use crate::ai::breaker::{BreakerPolicy, Breakers};
use crate::ai::budget::{BudgetPolicy, Usage};
use crate::ai::config::AiConfig;
use crate::ai::guide::{ask, AiSettings, Ask, Deps, Guidance};
use crate::ai::prompts::tests::{drift_alert, restore_plan, tenant, EXPRESSION};
use crate::ai::prompts::Subject;
use crate::ai::provider::ProviderId;
use crate::ai::record::RecordOutcome;
use crate::compliance::{evaluate, EvalContext, Outcome};
use crate::ids::TeamId;

fn config(fakes: &RunningFakes, timeout_s: &str) -> AiConfig {
    let anthropic = fakes.url(Provider::Anthropic);
    let openai = fakes.url(Provider::OpenAi);
    AiConfig::from_env(|name| {
        match name {
            "ANTHROPIC_API_KEY" => Some(DEFAULT_ANTHROPIC_KEY),
            "OPENAI_API_KEY" => Some(DEFAULT_OPENAI_KEY),
            "AI_ANTHROPIC_URL" => Some(anthropic.as_str()),
            "AI_OPENAI_URL" => Some(openai.as_str()),
            "AI_TIMEOUT_SECONDS" => Some(timeout_s),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap()
}

const ON: AiSettings = AiSettings {
    enabled: true,
    keep_answers: true,
};

fn guide(config: &AiConfig, breakers: &Breakers, subject: Subject<'_>) -> Guidance {
    let deps = Deps {
        http: &UreqHttp,
        clock: &SystemClock,
        config,
        breakers,
    };
    let t = tenant(EXPRESSION);
    let request = Ask {
        team: TeamId::parse("6f1c3a52-1d2e-4c9b-8a57-0d9a3a6c2b11").unwrap(),
        connection: None,
        requested_by: None,
        target: "test".into(),
        subject,
    };
    let mut usage = Usage::default();
    block_on(ask(
        &deps,
        ON,
        &BudgetPolicy::default(),
        &mut usage,
        request,
        &t,
    ))
    .unwrap()
}

#[test]
fn every_prompt_type_conforms_to_both_providers_schemas() {
    let fakes = ai_fakes::start(FakeConfig::default()).unwrap();
    let config = config(&fakes, "30");
    let breakers = Breakers::new(BreakerPolicy::default());
    let t = tenant(EXPRESSION);
    let findings = evaluate(&t, &EvalContext::at(super::super::prompts::tests::now()));
    let finding = findings
        .iter()
        .find(|f| f.outcome == Outcome::Fail)
        .unwrap();
    let (alert, plan) = (drift_alert(), restore_plan());
    let subjects = [
        Subject::Finding(finding),
        Subject::Drift(&alert),
        Subject::Restore(&plan),
        Subject::PrivilegedAccess,
    ];
    for subject in subjects {
        let g = guide(&config, &breakers, subject);
        assert_eq!(g.record.outcome, RecordOutcome::Answered, "{:?}", g.record);
        assert_eq!(g.record.provider, Some(ProviderId::Anthropic));
        assert_eq!(
            g.record.model.as_deref(),
            Some("claude-sonnet-4-5-20250929")
        );
        // The fake names the pseudonyms it saw; the worker shows the real objects instead.
        let text = g.advice.unwrap().text;
        assert!(
            text.starts_with("Fake Anthropic advice. Start with "),
            "{text}"
        );
        assert!(
            !text.contains("user-") && !text.contains("group-"),
            "{text}"
        );
        fakes.inject(Provider::Anthropic, Fault::status(529, 1));
        let g = guide(&config, &breakers, subject);
        assert_eq!(g.record.provider, Some(ProviderId::OpenAi));
        breakers.with(ProviderId::Anthropic, |b| b.success());
    }
    assert_eq!(fakes.violations(Provider::Anthropic), Vec::<String>::new());
    assert_eq!(fakes.violations(Provider::OpenAi), Vec::<String>::new());
    assert_eq!(fakes.requests(Provider::Anthropic).len(), 8);
    assert_eq!(fakes.requests(Provider::OpenAi).len(), 4);
}

#[test]
fn a_slow_primary_times_out_and_the_fallback_answers() {
    let fakes = ai_fakes::start(FakeConfig::default()).unwrap();
    let config = config(&fakes, "1");
    let breakers = Breakers::new(BreakerPolicy::default());
    fakes.inject(Provider::Anthropic, Fault::slow(3_000, 1));
    let started = Instant::now();
    let g = guide(&config, &breakers, Subject::PrivilegedAccess);
    let first = &g.record.attempts[0];
    assert_eq!(first.outcome, "timeout");
    assert!(
        (1_000..2_900).contains(&first.latency_ms),
        "{}",
        first.latency_ms
    );
    assert_eq!(g.record.provider, Some(ProviderId::OpenAi));
    assert!(
        started.elapsed() < Duration::from_millis(2_900),
        "did not wait for the slow answer"
    );
}

#[test]
fn retry_after_opens_the_circuit_and_a_probe_closes_it() {
    let fakes = ai_fakes::start(FakeConfig::default()).unwrap();
    let config = config(&fakes, "30");
    let breakers = Breakers::new(BreakerPolicy {
        open_for: Duration::from_millis(500),
        ..BreakerPolicy::default()
    });
    fakes.inject(Provider::Anthropic, Fault::status(429, 1).retry_after(1));
    let g = guide(&config, &breakers, Subject::PrivilegedAccess);
    assert_eq!(g.record.attempts[0].outcome, "rate_limited");
    assert_eq!(g.record.provider, Some(ProviderId::OpenAi));
    let g = guide(&config, &breakers, Subject::PrivilegedAccess);
    assert_eq!(g.record.attempts[0].outcome, "circuit_open");
    assert_eq!(
        fakes.requests(Provider::Anthropic).len(),
        1,
        "skipped while open"
    );
    std::thread::sleep(Duration::from_millis(1_100));
    let g = guide(&config, &breakers, Subject::PrivilegedAccess);
    assert_eq!(
        g.record.provider,
        Some(ProviderId::Anthropic),
        "the probe succeeded"
    );
    assert_eq!(fakes.requests(Provider::Anthropic).len(), 2);

    fakes.inject(Provider::Anthropic, Fault::status(500, 1));
    fakes.inject(Provider::OpenAi, Fault::status(503, 1));
    let g = guide(&config, &breakers, Subject::PrivilegedAccess);
    assert_eq!(g.record.outcome, RecordOutcome::Unavailable);
    assert!(g.advice.is_none());
}
