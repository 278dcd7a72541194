//! Account lifecycle rules: snapshot retention by plan, team deletion (request, grace period,
//! purge steps) and the user data export. Pure: driven by the Clock port's time, applied by
//! jobs and services that own the storage.

pub mod deletion;
pub mod export;
pub mod retention;
