//! Explain a compliance finding and how to remediate it in this tenant.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::views::{
    API_TOKEN, APP, AUTHENTICATOR, GROUP, IDP, NETWORK_ZONE, POLICY, POLICY_RULE, USER,
};
use super::{capped, PromptKind, PromptSpec};
use crate::ai::fields::{project, View};
use crate::ai::redact::Redactor;
use crate::ai::tenant::TenantView;
use crate::compliance::{catalog, Finding};

/// Evidence items sent (the total is sent too).
const MAX_EVIDENCE: usize = 20;

pub const SPEC: PromptSpec = PromptSpec {
    kind: PromptKind::ExplainFinding,
    task: "Explain this compliance finding to the org's administrators: why it matters for this \
org in particular (use the affected objects in the data), what an attacker or an auditor would \
make of it, and the exact steps to remediate it, each with its Okta Admin Console path and API \
call. Say which objects to change, by pseudonym, and what to check afterwards.",
    views: &[
        &USER,
        &GROUP,
        &APP,
        &POLICY,
        &POLICY_RULE,
        &NETWORK_ZONE,
        &AUTHENTICATOR,
        &API_TOKEN,
        &IDP,
    ],
    identity_changes: false,
    keys: &[
        ("finding", "the finding"),
        ("check_id", "Butterfly's check id, e.g. BF-CIS5-015"),
        ("title", "the check's title (Butterfly's text)"),
        ("cis_control", "CIS Controls v8 control number"),
        ("cis_safeguard", "CIS Controls v8 safeguard"),
        ("severity", "critical, high, medium or low"),
        ("outcome", "pass, fail, not_applicable or error"),
        (
            "message_text",
            "the finding's message, scrubbed, ≤ 300 chars",
        ),
        (
            "frameworks",
            "framework ids and control ids the check maps to",
        ),
        ("framework", "framework id"),
        ("controls", "control ids in that framework"),
        (
            "evidence_total",
            "how many offending objects the check found",
        ),
        ("evidence", "the first 20 of them"),
        ("object_type", "user, app, policy, policy_rule, ..."),
        ("object", "the object's pseudonym (or its scrubbed id)"),
        (
            "detail_text",
            "what is wrong with it, scrubbed, ≤ 200 chars",
        ),
        (
            "guidance",
            "Butterfly's own rationale and remediation text for the check",
        ),
        ("rationale", "why the check exists (Butterfly's text)"),
        ("remediation", "how to fix it in general (Butterfly's text)"),
        (
            "objects",
            "the evidence objects that exist in the snapshot, as their views",
        ),
        ("ref", "the object's pseudonym"),
        ("type", "the object's type"),
    ],
    max_output_tokens: 1500,
};

/// The view for an evidence `object_type`.
fn view_of(object_type: &str) -> Option<&'static View> {
    Some(match object_type {
        "user" => &USER,
        "group" => &GROUP,
        "app" => &APP,
        "policy" => &POLICY,
        "policy_rule" => &POLICY_RULE,
        "network_zone" => &NETWORK_ZONE,
        "authenticator" => &AUTHENTICATOR,
        "api_token" => &API_TOKEN,
        "idp" => &IDP,
        _ => return None,
    })
}

pub(super) fn data(
    f: &Finding,
    tenant: &dyn TenantView,
    r: &mut Redactor,
    now: DateTime<Utc>,
) -> Value {
    let (evidence, total) = capped(f.evidence.iter().collect(), MAX_EVIDENCE);
    let mut items = Vec::new();
    let mut objects = Vec::new();
    for e in evidence {
        let view = view_of(&e.object_type);
        let object = match view {
            Some(v) => r.object(v.kind, &e.object_id),
            None => r.free_text(&e.object_id, 80),
        };
        items.push(json!({
            "object_type": e.object_type,
            "object": object,
            "detail_text": r.free_text(&e.detail, 200),
        }));
        if let Some(v) = view {
            let already = objects.iter().any(|o: &Value| o["ref"] == object.as_str());
            if let Some(found) = v.find(tenant.all(v.resource), &e.object_id) {
                if !already {
                    let mut o = Map::new();
                    o.insert("ref".into(), Value::from(object.clone()));
                    o.insert("type".into(), Value::from(e.object_type.clone()));
                    o.extend(project(v.fields, found, r, now));
                    objects.push(Value::Object(o));
                }
            }
        }
    }
    let frameworks: Vec<Value> = f
        .mappings
        .iter()
        .map(|(fw, controls)| json!({"framework": fw.id(), "controls": controls}))
        .collect();
    let def = catalog().iter().find(|d| d.id == f.check_id);
    json!({
        "finding": {
            "check_id": f.check_id,
            "title": f.title,
            "cis_control": f.cis_control,
            "cis_safeguard": f.cis_safeguard,
            "severity": f.severity,
            "outcome": f.outcome,
            "message_text": r.free_text(&f.message, 300),
            "frameworks": frameworks,
            "evidence_total": total,
            "evidence": items,
        },
        "guidance": {
            "rationale": def.map(|d| d.rationale),
            "remediation": def.map(|d| d.remediation),
        },
        "objects": objects,
    })
}
