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
}

impl Action {
    pub const ALL: [Action; 13] = [
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
    (
        A::BackupDownload,
        &[R::Owner, R::Admin, R::Operator, R::Viewer, R::Auditor],
    ),
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
        ],
    ),
    (
        Scope::Backup,
        &[READ[0], READ[1], READ[2], A::BackupRun, A::ComplianceRun],
    ),
    (
        Scope::Restore,
        &[READ[0], READ[1], READ[2], A::BackupDownload],
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
        ],
    ),
];

/// Does `role` allow `action`?
pub fn role_allows(role: Role, action: Action) -> bool {
    ROLE_MATRIX
        .iter()
        .any(|(a, roles)| *a == action && roles.contains(&role))
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

    #[test]
    fn no_scope_manages_keys() {
        assert!(!scopes_allow(&Scope::ALL, A::ApiKeyManage));
        assert!(scopes_allow(&[Scope::Backup], A::BackupRun));
        assert!(!scopes_allow(&[Scope::Read], A::BackupRun));
        assert!(!scopes_allow(&[Scope::Read], A::BackupDownload));
    }

    /// The SQL mirror is the same data: every row of the migration's seed appears in the matrix
    /// and vice versa (the stack test then checks the live database).
    #[test]
    fn migration_seed_matches_the_matrix() {
        let sql = include_str!("../../migrations/0006_access_control.sql");
        let seeded = |table: &str| {
            let start = sql
                .find(&format!("insert into public.{table}"))
                .expect("seed present");
            let block = &sql[start..];
            let block = &block[..block.find(';').unwrap()];
            let mut rows: Vec<(String, String)> = block
                .split('(')
                .skip(2)
                .filter_map(|t| {
                    let inner = t.split(')').next()?;
                    let mut parts = inner.split(',').map(|p| p.trim().trim_matches('\''));
                    Some((parts.next()?.to_string(), parts.next()?.to_string()))
                })
                .collect();
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
