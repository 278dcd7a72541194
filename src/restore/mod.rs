//! Restore planning (pure core): what restoring a backup into a tenant, as that tenant is right
//! now, would create, update, skip or delete, in the order Okta needs, and what it would do to
//! the people who use the tenant before anything is written.
//!
//! A plan is a diff ([`crate::drift`], matching by id then natural key) of the target's live
//! state (`before`) against the source (`after`), so every update is already expressed in the
//! target's ids and the id map pairs each source id with the target object it restores. On top
//! of the diff the planner decides, per resource:
//!
//! - [`order`]: the dependency order of the writes (parents, and anything referenced, first);
//! - [`system`]: Okta's default objects, which exist in every org and are updated, never
//!   created or deleted;
//! - [`manual`]: what a restore cannot bring back (secrets Okta never returns, signing keys),
//!   per object, with the step the admin must take;
//! - [`blast`]: users who would be activated or emailed, SAML apps whose signing certificate
//!   changes, provisioning (SCIM) apps whose downstream accounts the restore touches;
//! - [`lockout`]: whether the resulting sign-on and Admin Console access policies would lock
//!   out the restoring admin or every super admin;
//! - [`estimate`]: the write-rate floor of applying it, from Okta's per-bucket write limits;
//! - [`access`]: whether the target's credential can make every write, naming what is missing.
//!
//! [`apply`] then carries a plan out as a resumable job, and [`receipt`] is what it leaves.
//!
//! See docs/restore.md.

pub mod access;
pub mod apply;
pub mod blast;
pub mod estimate;
pub mod fidelity;
pub mod live;
pub mod lockout;
pub mod manual;
mod operation;
pub mod order;
mod plan;
pub mod receipt;
pub mod scope;
pub mod system;

pub use operation::{Action, Operation, SkipReason};
pub use plan::{plan, IdPair, Plan, PlanInput, PlanOptions, Summary};
pub use scope::{ResourceRef, Scope, ScopeError};

/// Why a plan could not be made. Messages name types and positions, never tenant data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("comparing the source with the target: {0}")]
    Diff(#[from] crate::drift::DiffError),
}

#[cfg(test)]
mod apply_tests;
#[cfg(test)]
mod tests;
