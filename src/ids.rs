//! Identifier newtypes. Parsed once at the edge; the rest of the code cannot confuse a team id
//! with a connection id or carry an unchecked string into a query or an object key.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

use crate::ports::Rng;

/// A malformed identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id")]
pub struct InvalidId {
    pub kind: &'static str,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const KIND: &'static str = $kind;

            /// A fresh random (v4) id.
            pub fn generate(rng: &dyn Rng) -> Self {
                let mut bytes = [0u8; 16];
                rng.fill(&mut bytes);
                $name(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }

            /// Accepts only the canonical hyphenated lowercase or uppercase form.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                if s.len() != 36 {
                    return Err(InvalidId { kind: $kind });
                }
                Uuid::parse_str(s).map($name).map_err(|_| InvalidId { kind: $kind })
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A Supabase auth user.
    UserId,
    "user"
);
uuid_id!(
    /// A team: the tenant that owns connections, backups and keys.
    TeamId,
    "team"
);
uuid_id!(
    /// An Okta connection.
    ConnectionId,
    "connection"
);
uuid_id!(
    /// One backup run.
    BackupId,
    "backup"
);
uuid_id!(
    /// One restore plan (a dry run of restoring a backup into a connection).
    RestorePlanId,
    "restore plan"
);
uuid_id!(
    /// One recovery drill (a restore of a backup into a sandbox, verified).
    DrillId,
    "drill"
);
uuid_id!(
    /// One compliance evaluation of a connection.
    ComplianceRunId,
    "compliance_run"
);
uuid_id!(
    /// An API key (the public half of `bfk_<id>_<secret>`).
    ApiKeyId,
    "api key"
);
uuid_id!(
    /// A team invitation.
    InvitationId,
    "invitation"
);
uuid_id!(
    /// The record of one AI guidance request.
    GuidanceRecordId,
    "guidance record"
);
uuid_id!(
    /// One change capture of a drift check (a restore point on its base backup).
    DriftCaptureId,
    "drift capture"
);
uuid_id!(
    /// One drift alert.
    DriftAlertId,
    "drift alert"
);
uuid_id!(
    /// One notification in the outbox (SendGrid's `outbox_id` custom argument).
    OutboxId,
    "notification"
);
uuid_id!(
    /// One email verification code.
    CodeId,
    "verification code"
);

/// A request id: echoed in `X-Request-Id` and stored in the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    pub fn generate(rng: &dyn Rng) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes);
        RequestId(format!("req_{}", hex::encode(bytes)))
    }

    /// A caller-supplied id is kept only when it is short and plain, so it cannot smuggle
    /// anything into logs.
    pub fn from_header(value: &str) -> Option<Self> {
        let ok = (8..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| RequestId(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeqRng;

    #[test]
    fn parses_canonical_uuid_only() {
        let id = TeamId::parse("0b7e5f5e-8d2c-4d4e-9d59-4d2f8f2a9e11").unwrap();
        assert_eq!(id.to_string(), "0b7e5f5e-8d2c-4d4e-9d59-4d2f8f2a9e11");
        assert!(TeamId::parse("0b7e5f5e8d2c4d4e9d594d2f8f2a9e11").is_err());
        assert!(TeamId::parse("../../etc/passwd").is_err());
        assert!(TeamId::parse("").is_err());
        assert_eq!(
            BackupId::parse("x").unwrap_err().to_string(),
            "invalid backup id"
        );
    }

    #[test]
    fn generated_ids_are_v4_and_distinct() {
        let rng = SeqRng::new(1);
        let a = ConnectionId::generate(&rng);
        let b = ConnectionId::generate(&rng);
        assert_ne!(a, b);
        assert_eq!(a.as_uuid().get_version_num(), 4);
    }

    #[test]
    fn request_ids_from_headers_are_sanitised() {
        assert!(RequestId::from_header("abcDEF12-_x").is_some());
        assert!(RequestId::from_header("short").is_none());
        assert!(RequestId::from_header("has space in it").is_none());
        assert!(RequestId::from_header("evil\ninjected-line").is_none());
        let generated = RequestId::generate(&SeqRng::new(7));
        assert!(generated.as_str().starts_with("req_"));
        assert_eq!(generated.as_str().len(), 36);
    }
}
