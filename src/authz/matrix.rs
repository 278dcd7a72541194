//! The permission matrix: team role × action, and API-key scope × action. The worker decides with
//! these tables; the database's `public.can(team, action)` decides with the same rows (seeded in
//! migration 0006, compared by the `access_matrix` stack test), so tenancy holds twice.

use serde::{Deserialize, Serialize};

/// A member's role in a team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Operator,
    Viewer,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Operator,
        Role::Viewer,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What an API key was granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Backup,
    Restore,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Backup, Scope::Restore, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Backup => "backup",
            Scope::Restore => "restore",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Everything the API lets a caller do inside a team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    TeamRead,
    MemberManage,
    ConnectionRead,
    ConnectionManage,
    BackupRead,
    BackupRun,
    BackupDownload,
    ActivityRead,
    ApiKeyManage,
    ComplianceRead,
    ComplianceRun,
    FindingTriage,
    RiskAccept,
    /// Checkout and the Customer Portal: owners only, and no API-key scope grants it.
    BillingManage,
    KeyRotate,
    /// See the team's AI settings and guidance records.
    AiRead,
    /// Turn AI guidance on or off, keep or delete answers.
    AiManage,
    /// Ask for AI guidance (sends a redacted prompt to a provider).
    AiRequest,
    /// Export a signed audit pack (the team's whole evidence for a time range).
    AuditExport,
    /// Request (or cancel) the team's deletion: owners only, and no API-key scope grants it.
    TeamDelete,
    /// Read what changed in a connection's tenant: snapshot diffs and resource histories, and
    /// the live drift captures and alerts.
    DriftRead,
    /// Acknowledge a drift alert.
    DriftTriage,
    /// Accept a drift alert's change as the new baseline.
    DriftAccept,
    /// Plan a restore: a dry run against a connection's live tenant (reads Okta, writes
    /// nothing there).
    RestorePlan,
    /// Apply a restore plan (writes to the connection's Okta tenant), approve another
    /// member's full-tenant restore, and set whether such restores need a second approver.
    RestoreApply,
    /// Configure a connection's recovery drills (the sandbox they write into, the schedule,
    /// the RTO objective).
    DrillManage,
    /// Run a connection's drill now (it writes only into the configured sandbox).
    DrillRun,
}

impl Action {
    pub const ALL: [Action; 27] = [
        Action::TeamRead,
        Action::MemberManage,
        Action::ConnectionRead,
        Action::ConnectionManage,
        Action::BackupRead,
        Action::BackupRun,
        Action::BackupDownload,
        Action::ActivityRead,
        Action::ApiKeyManage,
        Action::ComplianceRead,
        Action::ComplianceRun,
        Action::FindingTriage,
        Action::RiskAccept,
        Action::BillingManage,
        Action::KeyRotate,
        Action::AiRead,
        Action::AiManage,
        Action::AiRequest,
        Action::AuditExport,
        Action::TeamDelete,
        Action::DriftRead,
        Action::DriftTriage,
        Action::DriftAccept,
        Action::RestorePlan,
        Action::RestoreApply,
        Action::DrillManage,
        Action::DrillRun,
    ];

    /// The name the database uses for this action.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::TeamRead => "team.read",
            Action::MemberManage => "member.manage",
            Action::ConnectionRead => "connection.read",
            Action::ConnectionManage => "connection.manage",
            Action::BackupRead => "backup.read",
            Action::BackupRun => "backup.run",
            Action::BackupDownload => "backup.download",
            Action::ActivityRead => "activity.read",
            Action::ApiKeyManage => "apikey.manage",
            Action::ComplianceRead => "compliance.read",
            Action::ComplianceRun => "compliance.run",
            Action::FindingTriage => "finding.triage",
            Action::RiskAccept => "risk.accept",
            Action::BillingManage => "billing.manage",
            Action::KeyRotate => "key.rotate",
            Action::AiRead => "ai.read",
            Action::AiManage => "ai.manage",
            Action::AiRequest => "ai.request",
            Action::AuditExport => "audit.export",
            Action::TeamDelete => "team.delete",
            Action::DriftRead => "drift.read",
            Action::DriftTriage => "drift.triage",
            Action::DriftAccept => "drift.accept",
            Action::RestorePlan => "restore.plan",
            Action::RestoreApply => "restore.apply",
            Action::DrillManage => "drill.manage",
            Action::DrillRun => "drill.run",
        }
    }
}

use Action as A;
use Role as R;

/// Role × action: the one place role permissions are written down.
pub const ROLE_MATRIX: &[(Action, &[Role])] = &[
    (
        A::TeamRead,
        &[R::Owner, R::Admin, R::Operator, R::Viewer, R::Auditor],
    ),
    (A::MemberManage, &[R::Owner, R::Admin]),
    (
        A::ConnectionRead,
        &[R::Owner, R::Admin, R::Operator, R::Viewer, R::Auditor],
    ),
    (A::ConnectionManage, &[R::Owner, R::Admin]),
    (
        A::BackupRead,
        &[R::Owner, R::Admin, R::Operator, R::Viewer, R::Auditor],
    ),
    (A::BackupRun, &[R::Owner, R::Admin, R::Operator]),
    // A snapshot holds every Okta user's profile and app assignments: viewers and auditors
    // (who get evidence, not data) download only where the team's owner granted it
    // (`DOWNLOAD_GRANTABLE`, `team_role_allows`).
    (A::BackupDownload, &[R::Owner, R::Admin, R::Operator]),
    (
        A::ActivityRead,
        &[R::Owner, R::Admin, R::Operator, R::Viewer, R::Auditor],
    ),
    (A::ApiKeyManage, &[R::Owner, R::Admin]),
    (
        A::ComplianceRead,
        &[R::Owner, R::Admin, R::Operator, R::Viewer, R::Auditor],
    ),
    (A::ComplianceRun, &[R::Owner, R::Admin, R::Operator]),
    (A::FindingTriage, &[R::Owner, R::Admin, R::Operator]),
    // Accepting a risk makes the caller its approver.
    (A::RiskAccept, &[R::Owner, R::Admin]),
    (A::BillingManage, &[R::Owner]),
    // Rotating the team's data key (the re-seal job then moves every credential onto it).
    (A::KeyRotate, &[R::Owner, R::Admin]),
    (
        A::AiRead,
        &[R::Owner, R::Admin, R::Operator, R::Viewer, R::Auditor],
    ),
    (A::AiManage, &[R::Owner, R::Admin]),
    (A::AiRequest, &[R::Owner, R::Admin, R::Operator]),
    // Auditors get evidence: the signed pack is what their role is for.
    (A::AuditExport, &[R::Owner, R::Admin, R::Auditor]),
    // Deleting the team and everything in it (GDPR Art. 17) is the owners' decision alone.
    (A::TeamDelete, &[R::Owner]),
    // Whoever may see a connection's backups may see what changed between them: change review
    // is the point of drift. Secrets are never shown (drift withholds them).
    (
        A::DriftRead,
        &[R::Owner, R::Admin, R::Operator, R::Viewer, R::Auditor],
    ),
    (A::DriftTriage, &[R::Owner, R::Admin, R::Operator]),
    (A::DriftAccept, &[R::Owner, R::Admin]),
    (A::RestorePlan, &[R::Owner, R::Admin, R::Operator]),
    // Writing to the tenant is an admin's decision; operators may plan (a dry run) only.
    (A::RestoreApply, &[R::Owner, R::Admin]),
    // Choosing where drills write is an admin's decision; operators may run one (into that
    // sandbox only).
    (A::DrillManage, &[R::Owner, R::Admin]),
    (A::DrillRun, &[R::Owner, R::Admin, R::Operator]),
];

const READ: &[Action] = &[A::TeamRead, A::ConnectionRead, A::BackupRead];

/// Scope × action. No scope grants `ApiKeyManage`: a key can never mint or revoke keys.
pub const SCOPE_MATRIX: &[(Scope, &[Action])] = &[
    (
        Scope::Read,
        &[
            A::TeamRead,
            A::ConnectionRead,
            A::BackupRead,
            A::ActivityRead,
            A::ComplianceRead,
            A::AiRead,
            A::DriftRead,
        ],
    ),
    (
        Scope::Backup,
        &[READ[0], READ[1], READ[2], A::BackupRun, A::ComplianceRun],
    ),
    (
        Scope::Restore,
        &[
            READ[0],
            READ[1],
            READ[2],
            A::BackupDownload,
            A::RestorePlan,
            A::RestoreApply,
            A::DrillRun,
        ],
    ),
    (
        Scope::Admin,
        &[
            A::TeamRead,
            A::MemberManage,
            A::ConnectionRead,
            A::ConnectionManage,
            A::BackupRead,
            A::BackupRun,
            A::BackupDownload,
            A::ActivityRead,
            A::ComplianceRead,
            A::ComplianceRun,
            A::FindingTriage,
            A::RiskAccept,
            A::KeyRotate,
            A::AiRead,
            A::AiManage,
            A::AiRequest,
            A::AuditExport,
            A::DriftRead,
            A::DriftTriage,
            A::DriftAccept,
            A::RestorePlan,
            A::RestoreApply,
            A::DrillManage,
            A::DrillRun,
        ],
    ),
];

/// Does `role` allow `action`?
pub fn role_allows(role: Role, action: Action) -> bool {
    ROLE_MATRIX
        .iter()
        .any(|(a, roles)| *a == action && roles.contains(&role))
}

/// The roles a team owner may grant `backup.download` to, beyond the matrix (a team setting,
/// `team_download_roles` in the database).
pub const DOWNLOAD_GRANTABLE: [Role; 2] = [Role::Viewer, Role::Auditor];

/// Does `role` allow `action` in a team whose owner granted downloads to `download_roles`? The
/// matrix, plus `backup.download` for a granted role that the matrix leaves out. `public.can`
/// decides the same way.
pub fn team_role_allows(role: Role, action: Action, download_roles: &[Role]) -> bool {
    role_allows(role, action)
        || (action == Action::BackupDownload
            && DOWNLOAD_GRANTABLE.contains(&role)
            && download_roles.contains(&role))
}

/// Does any of `scopes` allow `action`?
pub fn scopes_allow(scopes: &[Scope], action: Action) -> bool {
    SCOPE_MATRIX
        .iter()
        .any(|(s, actions)| scopes.contains(s) && actions.contains(&action))
}

/// Rows of `role_permissions` the matrix implies, sorted: what the database must hold.
pub fn role_rows() -> Vec<(&'static str, &'static str)> {
    let mut rows: Vec<_> = ROLE_MATRIX
        .iter()
        .flat_map(|(a, roles)| roles.iter().map(|r| (r.as_str(), a.as_str())))
        .collect();
    rows.sort();
    rows
}

/// Rows of `scope_permissions` the matrix implies, sorted.
pub fn scope_rows() -> Vec<(&'static str, &'static str)> {
    let mut rows: Vec<_> = SCOPE_MATRIX
        .iter()
        .flat_map(|(s, actions)| actions.iter().map(|a| (s.as_str(), a.as_str())))
        .collect();
    rows.sort();
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_row_and_names_are_unique() {
        for action in Action::ALL {
            assert_eq!(
                ROLE_MATRIX.iter().filter(|(a, _)| *a == action).count(),
                1,
                "{action:?}"
            );
        }
        let rows = role_rows();
        let mut dedup = rows.clone();
        dedup.dedup();
        assert_eq!(rows, dedup);
    }

    #[test]
    fn owners_can_do_everything_and_auditors_only_read() {
        for action in Action::ALL {
            assert!(role_allows(Role::Owner, action), "{action:?}");
        }
        for action in [
            A::MemberManage,
            A::ConnectionManage,
            A::BackupRun,
            A::ApiKeyManage,
        ] {
            assert!(!role_allows(Role::Auditor, action));
            assert!(!role_allows(Role::Viewer, action));
        }
        assert!(role_allows(Role::Operator, A::BackupRun));
        assert!(!role_allows(Role::Operator, A::ConnectionManage));
    }

    /// Least privilege: decrypted tenant data is for roles that run backups, unless the team's
    /// owner grants it to viewers or auditors; a grant reaches nothing but downloads.
    #[test]
    fn viewers_and_auditors_download_only_where_granted() {
        for role in [Role::Viewer, Role::Auditor] {
            assert!(!role_allows(role, A::BackupDownload));
            assert!(!team_role_allows(role, A::BackupDownload, &[]));
            assert!(team_role_allows(role, A::BackupDownload, &[role]));
            assert!(!team_role_allows(role, A::BackupRun, &[role]));
        }
        assert!(!team_role_allows(
            Role::Viewer,
            A::BackupDownload,
            &[Role::Auditor]
        ));
        for role in [Role::Owner, Role::Admin, Role::Operator] {
            assert!(team_role_allows(role, A::BackupDownload, &[]));
        }
    }

    #[test]
    fn no_scope_manages_keys() {
        assert!(!scopes_allow(&Scope::ALL, A::ApiKeyManage));
        assert!(scopes_allow(&[Scope::Backup], A::BackupRun));
        assert!(!scopes_allow(&[Scope::Read], A::BackupRun));
        assert!(!scopes_allow(&[Scope::Read], A::BackupDownload));
    }

    /// The SQL mirror is the same data: every row the migrations seed (0006's inserts, and
    /// those of every later migration, less the rows they delete) appears in the matrix and vice
    /// versa (the stack test then checks the live database).
    #[test]
    fn migration_seed_matches_the_matrix() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        let migrations: Vec<String> = files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        // The `(a, b)` pairs of every statement starting with `prefix`.
        fn pairs(sql: &str, prefix: &str) -> Vec<(String, String)> {
            let mut rows = Vec::new();
            let mut rest = sql;
            while let Some(start) = rest.find(prefix) {
                let block = &rest[start + prefix.len()..];
                let block = &block[..block.find(';').unwrap()];
                let tuples = &block[block.find("values").or(block.find(" in ")).unwrap()..];
                rows.extend(tuples.split('(').skip(1).filter_map(|t| {
                    let inner = t.split(')').next()?;
                    let mut parts = inner.split(',').map(|p| p.trim().trim_matches('\''));
                    Some((parts.next()?.to_string(), parts.next()?.to_string()))
                }));
                rest = &rest[start + prefix.len()..];
            }
            rows
        }
        let seeded = |table: &str| {
            let mut rows: Vec<(String, String)> = Vec::new();
            for sql in &migrations {
                rows.extend(pairs(sql, &format!("insert into public.{table} (")));
                let gone = pairs(sql, &format!("delete from public.{table} where ("));
                rows.retain(|r| !gone.contains(r));
            }
            rows.sort();
            rows
        };
        let own = |rows: Vec<(&str, &str)>| -> Vec<(String, String)> {
            rows.into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(seeded("role_permissions"), own(role_rows()));
        assert_eq!(seeded("scope_permissions"), own(scope_rows()));
    }
}
