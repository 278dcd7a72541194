//! Authentication: verifying callers.
pub mod apikey;
pub mod jwks;
pub mod jwt;
