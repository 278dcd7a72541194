//! The providers' request and response schemas (`spec/`), compiled once. Public so tests can
//! check responses (the fakes' own, and anything else claiming to be a provider's) too.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::Value;

const ANTHROPIC: &str = include_str!("../spec/anthropic-messages.schema.json");
const OPENAI: &str = include_str!("../spec/openai-chat-completions.schema.json");

/// A schema in `spec/`: which file, which `$defs` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    AnthropicRequest,
    AnthropicMessage,
    AnthropicError,
    OpenAiRequest,
    OpenAiResponse,
    OpenAiError,
}

impl Schema {
    const ALL: [Schema; 6] = [
        Schema::AnthropicRequest,
        Schema::AnthropicMessage,
        Schema::AnthropicError,
        Schema::OpenAiRequest,
        Schema::OpenAiResponse,
        Schema::OpenAiError,
    ];

    fn source(self) -> (&'static str, &'static str) {
        match self {
            Schema::AnthropicRequest => (ANTHROPIC, "CreateMessageParams"),
            Schema::AnthropicMessage => (ANTHROPIC, "Message"),
            Schema::AnthropicError => (ANTHROPIC, "ErrorResponse"),
            Schema::OpenAiRequest => (OPENAI, "CreateChatCompletionRequest"),
            Schema::OpenAiResponse => (OPENAI, "CreateChatCompletionResponse"),
            Schema::OpenAiError => (OPENAI, "ErrorResponse"),
        }
    }

    fn compile(self) -> Validator {
        let (file, def) = self.source();
        let mut doc: Value = serde_json::from_str(file).expect("spec files are JSON");
        doc["$ref"] = Value::String(format!("#/$defs/{def}"));
        jsonschema::validator_for(&doc).expect("spec files are valid schemas")
    }

    /// Every way `instance` breaks this schema, as `path: message` lines (empty when valid).
    pub fn violations(self, instance: &Value) -> Vec<String> {
        static COMPILED: OnceLock<Vec<Validator>> = OnceLock::new();
        let all = COMPILED.get_or_init(|| Schema::ALL.iter().map(|s| s.compile()).collect());
        let i = Schema::ALL.iter().position(|s| *s == self).expect("listed");
        all[i]
            .iter_errors(instance)
            .map(|e| format!("{}: {}", e.instance_path(), e))
            .collect()
    }
}
