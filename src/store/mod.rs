//! The database seam: one small trait per store, the row types they speak in, and the
//! [`Database`] port that hands out a set of stores acting as someone.
//!
//! Which credential a set of stores carries decides its reach. [`Acting::Caller`] stores read
//! with the caller's own JWT, so row-level security decides what exists for them; they write
//! nothing the product audits. [`Acting::System`] stores use the service role: jobs, key custody,
//! and every audited write, which the worker makes only after it has authorised the caller, and
//! which takes its [`AuditRecord`] along so the change and its activity row commit together.
//!
//! `crate::db` implements the stores over PostgREST; `memory` (tests only) implements them in
//! memory with the same tenancy rules, so use cases can be tested natively.

mod ai;
mod allowlist;
mod api_keys;
mod audit;
mod backups;
mod billing;
mod compliance;
mod connections;
mod drift;
mod drills;
mod email;
mod evidence;
mod job_state;
mod lifecycle;
#[cfg(test)]
pub mod memory;
mod resource_versions;
mod restores;
mod teams;
mod tenant_keys;

pub use ai::{AiSettingsRow, AiStore, GuidanceRecordRow};
pub use allowlist::AllowListStore;
pub use api_keys::{ApiKeyRow, ApiKeySecretRow, ApiKeyStore, NewApiKey, MAX_ACTIVE_KEYS_PER_USER};
pub use audit::{ActorType, AuditRecord, AuditStore};
pub use backups::{
    BackupKeyRow, BackupResult, BackupRow, BackupStatus, BackupStore, NewBackup, Trigger,
};
pub use billing::{BillingRow, BillingStore, EventOutcome, StripeEventWrite};
pub use compliance::{
    ComplianceRunRow, ComplianceStore, FindingRow, NewComplianceRun, RemediationRow, RunResult,
    RunStatus, TrendRow,
};
pub use connections::{
    AuthType, ConnectionRow, ConnectionSecretRow, ConnectionStatus, ConnectionStore, Environment,
    NewConnection, UnreadableRow,
};
pub use drift::{
    AlertStatus, DriftAdvance, DriftAlertRow, DriftCaptureRow, DriftSettingsRow, DriftStateRow,
    DriftStore, DueCheck, NewDriftAlert, RecordedCapture, DRIFT_ERROR_PREFIX,
};
pub use drills::{
    DrillEnd, DrillRow, DrillSettingsRow, DrillStatus, DrillStore, DrillTrigger, NewDrill,
};
pub use email::{
    Audience, ClaimedRow, CodeRow, EmailStore, EventEffect, EventWrite, EventsApplied,
    RecipientState,
};
pub use evidence::{ActivityQuery, ChainHeadRow, EvidenceQuery, EvidenceStore, EvidenceTable};
pub use job_state::{Claim, Commit, JobKey, JobStateStore};
pub use lifecycle::{DeletionRow, HoldKind, LifecycleStore, PruneCandidate, PruneMark};
pub use resource_versions::{
    Attribution, IndexCheckpoint, IndexPhase, IndexProgress, NewVersion, ObserveBatch, Observed,
    ObservedItem, ResourceVersionStore, Swept, VersionHead, VersionRow, VersionSource,
    VersionState, MAX_OBSERVED_PER_CALL, MAX_VERSIONS_PER_CALL, SWEEP_HEADS_PER_CALL,
};
pub use restores::{
    ApplyEnd, ApplyStatus, NewRestorePlan, PlanStatus, RestoreApprovalRow, RestorePlanRow,
    RestoreStore,
};
pub use teams::{
    InvitationRow, MemberRow, Membership, NewInvitation, TeamRow, TeamStore, INVITATION_COLUMNS,
};
pub use tenant_keys::{TenantKeyRow, TenantKeyStore};

use crate::authz::Principal;

/// Why the database did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Row-level security or a grant refused the operation.
    #[error("database refused the operation")]
    Forbidden,
    /// A unique constraint was violated, or the row was not in the state the change needs.
    #[error("conflicting row")]
    Conflict,
    /// A check/foreign-key constraint refused the values.
    #[error("rejected by a database constraint")]
    Constraint,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("unexpected database response: {0}")]
    Unexpected(String),
}

/// Every store, as one object: what a use case reaches the database through.
pub trait Stores:
    ConnectionStore
    + BackupStore
    + TeamStore
    + ApiKeyStore
    + AuditStore
    + ComplianceStore
    + JobStateStore
    + TenantKeyStore
    + BillingStore
    + AiStore
    + EvidenceStore
    + AllowListStore
    + LifecycleStore
    + ResourceVersionStore
    + DriftStore
    + EmailStore
    + RestoreStore
    + DrillStore
{
}

impl<T> Stores for T where
    T: ConnectionStore
        + BackupStore
        + TeamStore
        + ApiKeyStore
        + AuditStore
        + ComplianceStore
        + JobStateStore
        + TenantKeyStore
        + BillingStore
        + AiStore
        + EvidenceStore
        + AllowListStore
        + LifecycleStore
        + ResourceVersionStore
        + DriftStore
        + EmailStore
        + RestoreStore
        + DrillStore
{
}

/// Whose rights a set of stores acts with.
#[derive(Clone, Copy)]
pub enum Acting<'a> {
    /// The verified caller: their JWT goes to the database, which applies row-level security.
    Caller(&'a Principal),
    /// The service role: only for what the worker has authorised itself.
    System,
}

/// The database port: a set of stores acting as someone, for one request or job.
pub trait Database {
    fn stores<'a>(&'a self, acting: Acting<'_>, request_id: &str) -> Box<dyn Stores + 'a>;
}
