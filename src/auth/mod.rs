//! Authentication: verifying callers.
pub mod apikey;
pub mod jwt;
