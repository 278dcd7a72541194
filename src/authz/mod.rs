//! Authorization: who is calling ([`Principal`]) and what they may do. The matrix is data
//! ([`matrix`]); migration 0006 mirrors it in `role_permissions`/`scope_permissions`, and a
//! stack test proves the two agree.

pub mod matrix;
mod principal;

pub use principal::{KeyGrant, Principal};
