//! The error of every settings parser (`crate::config` and the feature configs it holds), in a
//! module of its own so those parsers need not import the `Config` that imports them.

/// A missing or malformed setting; names the setting, never its value.
#[derive(Debug, thiserror::Error)]
#[error("configuration {name} is {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: &'static str,
}
