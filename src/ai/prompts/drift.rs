//! Explain a drift alert: what changed since the last backup, and what it means.
//!
//! The input is the shape a drift alert reduces to (the drift module's own types convert into
//! it): per object, the kind of change and the JSON pointers that changed, with values before
//! and after. A changed field is named only if the resource's view or its identity fields
//! declare it, and its values travel only in the declared form; other changes are counted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::views::{
    self, API_TOKEN, APP, AUTHENTICATOR, GROUP, GROUP_ROLE, GROUP_RULE, IDP, NETWORK_ZONE, POLICY,
    POLICY_RULE, USER, USER_ROLE,
};
use super::{capped, PromptKind, PromptSpec};
use crate::ai::fields::{project, treat, Field};
use crate::ai::redact::Redactor;
use crate::ai::tenant::TenantView;
use crate::tenant::ResourceType;

const MAX_CHANGES: usize = 50;
const MAX_FIELDS: usize = 30;

/// Changes between two snapshots of a tenant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftAlert {
    pub changes: Vec<DriftChange>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftChange {
    pub resource: ResourceType,
    /// The object's Okta id (for entries without one, such as memberships, their key).
    pub object_id: String,
    pub change: ChangeKind,
    pub fields: Vec<FieldChange>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
}

/// One changed value, by JSON pointer into the object as the backup stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

pub const SPEC: PromptSpec = PromptSpec {
    kind: PromptKind::ExplainDrift,
    task: "Explain this drift alert: the changes made to the org since its last backup. For each \
change that matters, say what it does to security, to who can sign in to what, and to admin \
access; say which changes look risky or unusual and what to verify with whoever made them. If a \
change should be undone, say how (Admin Console path and API call) and that it can also be \
restored from the backup.",
    views: &[
        &USER,
        &GROUP,
        &APP,
        &POLICY,
        &POLICY_RULE,
        &GROUP_RULE,
        &NETWORK_ZONE,
        &AUTHENTICATOR,
        &API_TOKEN,
        &IDP,
        &USER_ROLE,
        &GROUP_ROLE,
    ],
    identity_changes: true,
    keys: &[
        ("changes_total", "how many changes the alert has"),
        ("changes", "the first 50 of them"),
        (
            "resource",
            "the resource type (users, groups, policy_rules, ...)",
        ),
        ("object", "the object's pseudonym (or its scrubbed key)"),
        ("change", "added, removed or modified"),
        ("fields", "declared fields that changed (first 30)"),
        ("field", "the field's key in the resource's view"),
        ("before", "its value before, in the declared form"),
        ("after", "its value after, in the declared form"),
        (
            "changed_within",
            "true when part of the field (e.g. one list entry) changed",
        ),
        (
            "other_fields_changed",
            "how many undeclared fields changed (names withheld)",
        ),
        ("current", "the object now, as its view"),
    ],
    max_output_tokens: 1500,
};

impl DriftChange {
    /// The change a drift alert names, as its capture recorded it: the capture's summary holds
    /// each change (a [`crate::drift::ResourceChange`], field by field with secrets withheld).
    /// An alert whose change is not among the summary's first entries (the summary is capped)
    /// is described by its changed paths alone, without values.
    pub fn of_alert(
        summary: &Value,
        resource: ResourceType,
        key: &str,
        kind: &str,
        paths: &[String],
    ) -> DriftChange {
        let recorded = summary.as_array().into_iter().flatten().find_map(|entry| {
            let c: crate::drift::ResourceChange = serde_json::from_value(entry.clone()).ok()?;
            (c.resource == resource && c.id.as_str() == key).then_some(c)
        });
        match recorded {
            Some(c) => DriftChange::from(&c),
            None => DriftChange {
                resource,
                object_id: views::okta_id(resource, key).to_owned(),
                change: match kind {
                    "added" => ChangeKind::Added,
                    "removed" => ChangeKind::Removed,
                    _ => ChangeKind::Modified,
                },
                fields: paths
                    .iter()
                    .map(|p| FieldChange {
                        path: p.clone(),
                        before: None,
                        after: None,
                    })
                    .collect(),
            },
        }
    }
}

/// A change as drift computes it. A changed resource keeps its field changes; an added or
/// removed one is described by the declared fields its content has (as `after` or `before`),
/// so the prompt can say what appeared or went without sending anything undeclared.
impl From<&crate::drift::ResourceChange> for DriftChange {
    fn from(c: &crate::drift::ResourceChange) -> DriftChange {
        use crate::drift::ChangeKind as Kind;
        let declared = |content: &Option<Value>, added: bool| -> Vec<FieldChange> {
            let Some(content) = content else {
                return Vec::new();
            };
            views::of(c.resource)
                .map(|v| v.fields)
                .unwrap_or_default()
                .iter()
                .chain(views::identity_fields(c.resource))
                .filter_map(|f| {
                    let value = content.pointer(f.path)?.clone();
                    let (before, after) = if added {
                        (None, Some(value))
                    } else {
                        (Some(value), None)
                    };
                    Some(FieldChange {
                        path: f.path.to_owned(),
                        before,
                        after,
                    })
                })
                .collect()
        };
        let (change, fields) = match c.kind {
            Kind::Added => (ChangeKind::Added, declared(&c.after, true)),
            Kind::Removed => (ChangeKind::Removed, declared(&c.before, false)),
            Kind::Changed => (
                ChangeKind::Modified,
                c.fields
                    .iter()
                    .map(|f| FieldChange {
                        path: f.path.clone(),
                        before: f.before.clone(),
                        after: f.after.clone(),
                    })
                    .collect(),
            ),
        };
        DriftChange {
            resource: c.resource,
            object_id: views::okta_id(c.resource, c.id.as_str()).to_owned(),
            change,
            fields,
        }
    }
}

pub(super) fn data(
    alert: &DriftAlert,
    tenant: &dyn TenantView,
    r: &mut Redactor,
    now: DateTime<Utc>,
) -> Value {
    let (changes, total) = capped(alert.changes.iter().collect(), MAX_CHANGES);
    let changes: Vec<Value> = changes
        .into_iter()
        .map(|c| change(c, tenant, r, now))
        .collect();
    json!({"changes_total": total, "changes": changes})
}

fn change(c: &DriftChange, tenant: &dyn TenantView, r: &mut Redactor, now: DateTime<Utc>) -> Value {
    let view = views::of(c.resource);
    let object = match view {
        Some(v) => r.object(v.kind, &c.object_id),
        None => r.free_text(&c.object_id, 80),
    };
    let declared: Vec<&Field> = view
        .map(|v| v.fields)
        .unwrap_or_default()
        .iter()
        .chain(views::identity_fields(c.resource))
        .collect();
    let mut fields = Vec::new();
    let mut other = 0;
    for fc in &c.fields {
        let exact = declared.iter().find(|f| f.path == fc.path);
        let within = declared
            .iter()
            .find(|f| fc.path.starts_with(f.path) && fc.path[f.path.len()..].starts_with('/'));
        let mut entry = Map::new();
        match (exact, within) {
            (Some(f), _) => {
                entry.insert("field".into(), f.key.into());
                let mut value = |v: &Option<Value>| {
                    v.as_ref()
                        .and_then(|v| treat(f.treatment, v, r, now))
                        .unwrap_or(Value::Null)
                };
                let before = value(&fc.before);
                let after = value(&fc.after);
                entry.insert("before".into(), before);
                entry.insert("after".into(), after);
            }
            (None, Some(f)) => {
                entry.insert("field".into(), f.key.into());
                entry.insert("changed_within".into(), true.into());
            }
            (None, None) => {
                other += 1;
                continue;
            }
        }
        if fields.len() < MAX_FIELDS {
            fields.push(Value::Object(entry));
        } else {
            other += 1;
        }
    }
    let current = view.and_then(|v| {
        v.find(tenant.all(v.resource), &c.object_id)
            .map(|o| Value::Object(project(v.fields, o, r, now)))
    });
    json!({
        "resource": c.resource,
        "object": object,
        "change": c.change,
        "fields": fields,
        "other_fields_changed": other,
        "current": current,
    })
}
