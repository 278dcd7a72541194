//! Drift alert rules: which captured changes matter and how much, as data per connection
//! (`drift_settings.rules`; [`default_rules`] when unset), and the key that deduplicates alerts.
//!
//! Rules are tried in order and the first that matches a change decides its severity
//! (`none` silences it). A rule matches by resource type, optionally by kind of change
//! (added / removed / changed), by changed field (a JSON Pointer prefix into the normalised
//! content) and by a field's value (e.g. a policy's `type`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::drift::{ChangeKind, ResourceChange};
use crate::tenant::ResourceType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Matched, and deliberately not alerted on.
    None,
    Low,
    Medium,
    High,
}

/// A field of the resource and the values that make the rule apply (`/type` in
/// `["OKTA_SIGN_ON", ...]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldIn {
    pub path: String,
    #[serde(rename = "in")]
    pub values: Vec<String>,
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Names the rule in alerts and in their deduplication key.
    pub id: String,
    pub resource: ResourceType,
    /// Kinds of change it applies to; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<ChangeKind>,
    /// JSON Pointer prefixes of changed fields it applies to; empty: any (and added or removed
    /// resources, which change every field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<FieldIn>,
    pub severity: Severity,
}

/// At most this many rules per connection.
pub const MAX_RULES: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RulesError {
    #[error("at most {MAX_RULES} rules")]
    TooMany,
    #[error("rule ids must be 1-64 characters of a-z, 0-9, '-' or '_', and unique")]
    BadId,
    #[error("field paths must be JSON Pointers (start with '/'), at most 200 characters")]
    BadPath,
}

/// Checks a connection's rules (from the API) before they are stored.
pub fn check_rules(rules: &[AlertRule]) -> Result<(), RulesError> {
    if rules.len() > MAX_RULES {
        return Err(RulesError::TooMany);
    }
    let mut ids: Vec<&str> = Vec::new();
    for r in rules {
        let ok = (1..=64).contains(&r.id.len())
            && r.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok || ids.contains(&r.id.as_str()) {
            return Err(RulesError::BadId);
        }
        ids.push(&r.id);
        let paths = r.fields.iter().chain(r.when.iter().map(|w| &w.path));
        for p in paths {
            if !p.starts_with('/') || p.len() > 200 {
                return Err(RulesError::BadPath);
            }
        }
    }
    Ok(())
}

/// Policy types whose changes decide who signs in and how.
const SIGN_IN_POLICIES: &[&str] = &["OKTA_SIGN_ON", "PASSWORD", "MFA_ENROLL", "ACCESS_POLICY"];
/// The same, as policy rules name their type.
const SIGN_IN_RULES: &[&str] = &["SIGN_ON", "PASSWORD", "MFA_ENROLL", "ACCESS_POLICY"];

fn rule(
    id: &str,
    resource: ResourceType,
    kinds: &[ChangeKind],
    when: Option<(&str, &[&str])>,
    severity: Severity,
) -> AlertRule {
    AlertRule {
        id: id.into(),
        resource,
        kinds: kinds.to_vec(),
        fields: Vec::new(),
        when: when.map(|(path, values)| FieldIn {
            path: path.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }),
        severity,
    }
}

/// The rules of a connection that set none: any change to sign-on, password, MFA and access
/// policies and their rules, admin roles, network zones, API tokens, IdPs and authenticators,
/// and every new app, is high; other policy, app, hook, authorization server and group rule
/// changes are medium; users, groups and assignments change all day and alert on nothing
/// (they are still captured).
pub fn default_rules() -> Vec<AlertRule> {
    use ResourceType as R;
    use Severity::{High, Medium};
    vec![
        rule(
            "sign-in-policies",
            R::Policies,
            &[],
            Some(("/type", SIGN_IN_POLICIES)),
            High,
        ),
        rule(
            "sign-in-policy-rules",
            R::PolicyRules,
            &[],
            Some(("/rule/type", SIGN_IN_RULES)),
            High,
        ),
        rule("user-admin-roles", R::UserRoles, &[], None, High),
        rule("group-admin-roles", R::GroupRoles, &[], None, High),
        rule("network-zones", R::NetworkZones, &[], None, High),
        rule("api-tokens", R::ApiTokens, &[], None, High),
        rule("identity-providers", R::Idps, &[], None, High),
        rule("authenticators", R::Authenticators, &[], None, High),
        rule("new-apps", R::Apps, &[ChangeKind::Added], None, High),
        rule("other-policies", R::Policies, &[], None, Medium),
        rule("other-policy-rules", R::PolicyRules, &[], None, Medium),
        rule("apps", R::Apps, &[], None, Medium),
        rule("event-hooks", R::EventHooks, &[], None, Medium),
        rule("inline-hooks", R::InlineHooks, &[], None, Medium),
        rule(
            "authorization-servers",
            R::AuthorizationServers,
            &[],
            None,
            Medium,
        ),
        rule(
            "authorization-server-policies",
            R::AuthorizationServerPolicies,
            &[],
            None,
            Medium,
        ),
        rule(
            "authorization-server-policy-rules",
            R::AuthorizationServerPolicyRules,
            &[],
            None,
            Medium,
        ),
        rule("group-rules", R::GroupRules, &[], None, Medium),
        rule("threat-insight", R::ThreatInsight, &[], None, Medium),
    ]
}

fn lookup<'v>(content: &'v Value, pointer: &str) -> Option<&'v Value> {
    content.pointer(pointer)
}

impl AlertRule {
    /// Whether the rule applies to `change`; `content` is the resource's normalised content
    /// (after the change, or before it for a removal).
    pub fn matches(&self, change: &ResourceChange, content: Option<&Value>) -> bool {
        if self.resource != change.resource {
            return false;
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&change.kind) {
            return false;
        }
        if !self.fields.is_empty() && change.kind == ChangeKind::Changed {
            let hit = change.fields.iter().any(|f| {
                self.fields.iter().any(|p| {
                    f.path == *p
                        || f.path
                            .strip_prefix(p.as_str())
                            .is_some_and(|rest| rest.starts_with('/'))
                })
            });
            if !hit {
                return false;
            }
        }
        match &self.when {
            None => true,
            Some(w) => content
                .and_then(|c| lookup(c, &w.path))
                .and_then(Value::as_str)
                .is_some_and(|v| w.values.iter().any(|x| x == v)),
        }
    }
}

/// The first rule that matches, if it alerts.
pub fn evaluate<'r>(
    rules: &'r [AlertRule],
    change: &ResourceChange,
    content: Option<&Value>,
) -> Option<&'r AlertRule> {
    rules
        .iter()
        .find(|r| r.matches(change, content))
        .filter(|r| r.severity != Severity::None)
}

/// Alerts with equal keys are one alert while it is open: a resource changed again under the
/// same rule adds an occurrence instead of a new alert (and no new email).
pub fn dedup_key(resource: ResourceType, id: &str, rule: &str) -> String {
    let mut h = Sha256::new();
    for part in [resource.as_str(), id, rule] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::{FieldChange, Op, ResourceId};
    use serde_json::json;

    fn change(resource: ResourceType, kind: ChangeKind, paths: &[&str]) -> ResourceChange {
        ResourceChange {
            resource,
            id: ResourceId::new("x1"),
            after_id: None,
            natural_key: None,
            kind,
            fields: paths
                .iter()
                .map(|p| FieldChange {
                    path: p.to_string(),
                    op: Op::Modified,
                    before: Some(json!(1)),
                    after: Some(json!(2)),
                    members: None,
                    secret: false,
                })
                .collect(),
            before: None,
            after: None,
        }
    }

    #[test]
    fn defaults_rate_sign_in_policies_high_and_others_lower() {
        let rules = default_rules();
        check_rules(&rules).unwrap();
        let edit = change(ResourceType::Policies, ChangeKind::Changed, &["/settings"]);
        let sign_on = json!({"type": "OKTA_SIGN_ON"});
        let profile = json!({"type": "PROFILE_ENROLLMENT"});
        assert_eq!(
            evaluate(&rules, &edit, Some(&sign_on)).map(|r| r.severity),
            Some(Severity::High)
        );
        assert_eq!(
            evaluate(&rules, &edit, Some(&profile)).map(|r| r.id.as_str()),
            Some("other-policies")
        );
        let rule_edit = change(
            ResourceType::PolicyRules,
            ChangeKind::Changed,
            &["/rule/actions"],
        );
        assert_eq!(
            evaluate(
                &rules,
                &rule_edit,
                Some(&json!({"rule": {"type": "PASSWORD"}}))
            )
            .map(|r| r.severity),
            Some(Severity::High)
        );
        let new_app = change(ResourceType::Apps, ChangeKind::Added, &[]);
        assert_eq!(
            evaluate(&rules, &new_app, None).map(|r| r.id.as_str()),
            Some("new-apps")
        );
        let app_edit = change(ResourceType::Apps, ChangeKind::Changed, &["/label"]);
        assert_eq!(
            evaluate(&rules, &app_edit, None).map(|r| r.severity),
            Some(Severity::Medium)
        );
        for quiet in [ResourceType::Users, ResourceType::GroupMembers] {
            assert!(evaluate(&rules, &change(quiet, ChangeKind::Changed, &["/x"]), None).is_none());
        }
    }

    #[test]
    fn field_rules_match_pointer_prefixes_and_none_silences() {
        let rules = vec![
            AlertRule {
                id: "quiet-nicknames".into(),
                resource: ResourceType::Users,
                kinds: vec![],
                fields: vec!["/profile/nickName".into()],
                when: None,
                severity: Severity::None,
            },
            AlertRule {
                id: "user-profile".into(),
                resource: ResourceType::Users,
                kinds: vec![ChangeKind::Changed],
                fields: vec!["/profile".into()],
                when: None,
                severity: Severity::Low,
            },
        ];
        check_rules(&rules).unwrap();
        let nick = change(
            ResourceType::Users,
            ChangeKind::Changed,
            &["/profile/nickName"],
        );
        assert!(evaluate(&rules, &nick, None).is_none());
        let email = change(
            ResourceType::Users,
            ChangeKind::Changed,
            &["/profile/email"],
        );
        assert_eq!(evaluate(&rules, &email, None).unwrap().id, "user-profile");
        // A prefix matches whole tokens only.
        let other = change(ResourceType::Users, ChangeKind::Changed, &["/profileUrl"]);
        assert!(evaluate(&rules, &other, None).is_none());
    }

    #[test]
    fn bad_rules_are_refused() {
        let mut r = default_rules();
        r.push(r[0].clone());
        assert_eq!(check_rules(&r), Err(RulesError::BadId));
        let mut bad = default_rules()[0].clone();
        bad.when = Some(FieldIn {
            path: "type".into(),
            values: vec![],
        });
        assert_eq!(check_rules(&[bad]), Err(RulesError::BadPath));
        let many: Vec<AlertRule> = (0..=MAX_RULES)
            .map(|i| AlertRule {
                id: format!("r{i}"),
                ..default_rules()[0].clone()
            })
            .collect();
        assert_eq!(check_rules(&many), Err(RulesError::TooMany));
        assert!(
            serde_json::from_value::<AlertRule>(json!({"id": "a", "resource": "users",
            "severity": "urgent"}))
            .is_err()
        );
    }

    #[test]
    fn dedup_keys_separate_resources_and_rules() {
        let a = dedup_key(ResourceType::Apps, "0oa1", "apps");
        assert_eq!(a, dedup_key(ResourceType::Apps, "0oa1", "apps"));
        assert_ne!(a, dedup_key(ResourceType::Apps, "0oa2", "apps"));
        assert_ne!(a, dedup_key(ResourceType::Apps, "0oa1", "new-apps"));
        assert_ne!(
            dedup_key(ResourceType::Apps, "ab", "c"),
            dedup_key(ResourceType::Apps, "a", "bc")
        );
        assert_eq!(a.len(), 32);
    }
}
