//! Opt-in AI guidance on redacted Okta metadata.
//!
//! Admins ask why a finding matters in their tenant, what a drift alert or a restore plan would
//! do to sign-in, and who can reach admin power through which groups, rules and apps. Each of
//! these is a [`prompts::PromptKind`] that declares, as data, the fields it sends; everything
//! else stays in Butterfly. Identifiers and personal data are replaced by per-request
//! pseudonyms ([`redact`]) and put back only in the worker, after the answer returns. Free text
//! from Okta travels only as scrubbed, bounded, quoted data in a delimited section, and the
//! answer is advisory text: nothing here can call Okta or act on what a model says.
//!
//! Requests go to a primary provider (Anthropic's Messages API) and fail over to a second
//! (OpenAI's Chat Completions API) on timeouts, 429s and 5xx, behind a per-provider circuit
//! breaker; per-team budgets bound tokens and request rates, and every request leaves a
//! [`record::GuidanceRecord`]. `docs/ai.md` describes all of it for admins.

pub mod breaker;
pub mod budget;
pub mod config;
pub mod cost;
pub mod failover;
pub mod fields;
pub mod guide;
pub mod index;
pub mod prompts;
pub mod provider;
pub mod pseudonym;
pub mod record;
pub mod redact;
pub mod tenant;

#[cfg(test)]
pub(crate) mod tests;
