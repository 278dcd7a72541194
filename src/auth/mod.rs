//! Authentication: verifying callers.
pub mod jwt;
