//! Engine tests: every check against the compliant baseline and its failing cases, catalog
//! integrity, framework mappings, resilience to missing or odd data, and doc coverage.

mod cases;
mod fixtures;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::*;
use crate::tenant::{ResourceType, TenantSnapshot};
use cases::cases;
use fixtures::{baseline, ctx};

const DOC: &str = include_str!("../../docs/compliance.md");

fn def(id: &str) -> &'static CheckDef {
    catalog()
        .iter()
        .find(|d| d.id == id)
        .unwrap_or_else(|| panic!("{id} not in catalog"))
}

fn evidence_ids(result: &CheckResult) -> Vec<&str> {
    result
        .evidence
        .iter()
        .map(|e| e.object_id.as_str())
        .collect()
}

#[test]
fn every_check_passes_on_the_compliant_baseline() {
    let snapshot = baseline();
    for def in catalog() {
        let result = (def.eval)(&snapshot, &ctx());
        assert_eq!(
            result.outcome,
            Outcome::Pass,
            "{}: {}",
            def.id,
            result.message
        );
        assert!(
            result.evidence.is_empty(),
            "{}: {:?}",
            def.id,
            result.evidence
        );
    }
}

#[test]
fn every_case_gives_its_outcome_and_evidence() {
    for case in cases() {
        let mut snapshot = baseline();
        (case.mutate)(&mut snapshot);
        let result = (def(case.check).eval)(&snapshot, &ctx());
        let label = format!("{} / {}: {}", case.check, case.name, result.message);
        assert_eq!(result.outcome, case.outcome, "{label}");
        assert_eq!(evidence_ids(&result), case.evidence, "{label}");
        assert!(!result.message.is_empty(), "{label}");
    }
}

/// A new check without a failing fixture fails here.
#[test]
fn every_catalog_check_has_a_failing_case() {
    let cases = cases();
    for def in catalog() {
        assert!(
            cases
                .iter()
                .any(|c| c.check == def.id && c.outcome == Outcome::Fail),
            "{} has no failing case",
            def.id
        );
    }
    let ids: BTreeSet<&str> = catalog().iter().map(|d| d.id).collect();
    for case in &cases {
        assert!(
            ids.contains(case.check),
            "case for unknown check {}",
            case.check
        );
    }
}

#[test]
fn every_check_errors_on_an_empty_snapshot() {
    let empty = TenantSnapshot::default();
    for def in catalog() {
        let result = (def.eval)(&empty, &ctx());
        assert_eq!(
            result.outcome,
            Outcome::Error,
            "{}: {}",
            def.id,
            result.message
        );
        assert!(
            result.message.contains("not in snapshot"),
            "{}: {}",
            def.id,
            result.message
        );
    }
}

/// Dropping any one resource may leave a check unaffected, but must never turn it into a
/// verdict: it either still passes (it does not read that resource) or reports an error.
#[test]
fn a_missing_resource_is_an_error_never_a_verdict() {
    let full = baseline();
    for name in full.resources.keys() {
        let mut partial = full.clone();
        partial.resources.remove(name);
        for def in catalog() {
            let result = (def.eval)(&partial, &ctx());
            assert!(
                matches!(result.outcome, Outcome::Pass | Outcome::Error),
                "{} without {name}: {:?} {}",
                def.id,
                result.outcome,
                result.message
            );
            if result.outcome == Outcome::Error {
                assert!(
                    result
                        .message
                        .contains(&format!("resource `{name}` not in snapshot")),
                    "{} without {name}: {}",
                    def.id,
                    result.message
                );
            }
        }
    }
}

#[test]
fn missing_resource_message_names_the_resource() {
    let mut snapshot = baseline();
    snapshot.resources.remove(&ResourceType::Apps);
    let result = (def("BF-CIS2-002").eval)(&snapshot, &ctx());
    assert_eq!(result.outcome, Outcome::Error);
    assert_eq!(result.message, "resource `apps` not in snapshot");
}

#[test]
fn odd_data_never_panics() {
    let odd = vec![
        Value::Null,
        json!(42),
        json!("text"),
        json!([1, 2]),
        json!({}),
        json!({"id": 7, "status": ["ACTIVE"], "type": {}, "lastLogin": 5, "created": "x",
               "profile": null, "settings": {"password": "no"}, "_links": {"accessPolicy": 1},
               "rule": "r", "policyId": 3, "role": {"type": 1}, "user": [], "network": "x",
               "conditions": {"people": {"groups": {"include": "Everyone"}}}}),
        json!({"id": "x", "name": "saasure", "key": "webauthn", "status": "ACTIVE",
               "_links": {"accessPolicy": {"href": ""}}, "type": "BUILT_IN",
               "profile": {"name": "Everyone"}, "groupId": "x", "userId": "x",
               "policyId": "", "rule": {"actions": {"appSignOn": {"verificationMethod": 1}}}}),
    ];
    let mut snapshot = TenantSnapshot::default();
    for name in baseline().resources.keys() {
        snapshot.resources.insert(*name, odd.clone());
    }
    assert_eq!(evaluate(&snapshot, &ctx()).len(), catalog().len());
}

#[test]
fn evaluate_reports_one_finding_per_check_in_id_order() {
    let findings = evaluate(&baseline(), &ctx());
    let ids: Vec<&str> = findings.iter().map(|f| f.check_id).collect();
    let catalog_ids: Vec<&str> = catalog().iter().map(|d| d.id).collect();
    assert_eq!(ids, catalog_ids);
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    assert!(findings.iter().all(|f| f.outcome == Outcome::Pass));
}

#[test]
fn findings_serialize_with_stable_ids() {
    let mut snapshot = baseline();
    fixtures::edit(
        &mut snapshot,
        ResourceType::Apps,
        fixtures::SWA_APP,
        "/status",
        json!("INACTIVE"),
    );
    let finding = evaluate(&snapshot, &ctx())
        .into_iter()
        .find(|f| f.check_id == "BF-CIS2-002")
        .expect("finding");
    let value = serde_json::to_value(&finding).expect("serializable");
    assert_eq!(value["outcome"], "fail");
    assert_eq!(value["severity"], "low");
    assert_eq!(value["cis_safeguard"], "2.3");
    assert_eq!(value["evidence"][0]["object_id"], fixtures::SWA_APP);
    assert_eq!(value["mappings"]["nist_800_53"], json!(["CM-7", "CM-8"]));
    assert_eq!(
        serde_json::to_value(Outcome::NotApplicable).expect("ok"),
        "not_applicable"
    );
}

#[test]
fn framework_ids_match_their_serde_form() {
    let ids: BTreeSet<&str> = Framework::ALL.iter().map(|f| f.id()).collect();
    assert_eq!(ids.len(), Framework::ALL.len());
    for framework in Framework::ALL {
        assert_eq!(serde_json::to_value(framework).expect("ok"), framework.id());
        assert!(!framework.name().is_empty());
    }
}

#[test]
fn catalog_ids_are_unique_stable_and_in_scope() {
    let defs = catalog();
    assert!(defs.len() >= 30, "only {} checks", defs.len());
    let ids: BTreeSet<&str> = defs.iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), defs.len(), "duplicate check ids");
    for d in defs {
        assert!(
            [1, 2, 4, 5].contains(&d.cis_control),
            "{}: control {}",
            d.id,
            d.cis_control
        );
        let prefix = format!("BF-CIS{}-", d.cis_control);
        let number =
            d.id.strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{}: bad prefix", d.id));
        assert!(
            number.len() == 3 && number.bytes().all(|b| b.is_ascii_digit()),
            "{}",
            d.id
        );
        let (control, safeguard) = d.cis_safeguard.split_once('.').expect("safeguard x.y");
        assert_eq!(control, d.cis_control.to_string(), "{}", d.id);
        assert!(safeguard.parse::<u8>().is_ok_and(|n| n >= 1), "{}", d.id);
        for text in [d.title, d.remediation, d.rationale] {
            assert!(text.trim().len() > 10, "{}: empty text", d.id);
        }
    }
}

#[test]
fn framework_mappings_are_complete_and_well_formed() {
    for d in catalog() {
        assert!(!d.mappings.is_empty(), "{} maps to nothing", d.id);
        let frameworks: BTreeSet<Framework> = d.mappings.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            frameworks.len(),
            d.mappings.len(),
            "{}: framework listed twice",
            d.id
        );
        assert!(
            frameworks.contains(&Framework::Soc2),
            "{}: no SOC 2 mapping",
            d.id
        );
        assert!(
            frameworks.contains(&Framework::Nist80053),
            "{}: no NIST mapping",
            d.id
        );
        assert!(
            frameworks.contains(&Framework::Iso27001_2022),
            "{}: no ISO mapping",
            d.id
        );
        for (framework, controls) in d.mappings {
            assert!(!controls.is_empty(), "{}: empty {framework:?} list", d.id);
            let unique: BTreeSet<&&str> = controls.iter().collect();
            assert_eq!(
                unique.len(),
                controls.len(),
                "{}: repeated {framework:?} control",
                d.id
            );
            for control in *controls {
                assert!(
                    well_formed(*framework, control),
                    "{}: {framework:?} control {control:?}",
                    d.id
                );
            }
        }
    }
}

fn well_formed(framework: Framework, control: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match framework {
        Framework::Soc2 => control
            .strip_prefix("CC")
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(a, b)| digits(a) && digits(b)),
        Framework::Hipaa => control.starts_with("164.3"),
        Framework::PciDss4 => control.split('.').all(digits) && control.contains('.'),
        Framework::Nist80053 => {
            let (family, rest) = control.split_once('-').unwrap_or(("", ""));
            let base = rest.split('(').next().unwrap_or_default();
            family.len() == 2 && family.bytes().all(|b| b.is_ascii_uppercase()) && digits(base)
        }
        Framework::Iso27001_2022 => control.strip_prefix("A.").is_some_and(|rest| {
            rest.split('.').all(digits)
                && ["5.", "6.", "7.", "8."].iter().any(|t| rest.starts_with(t))
        }),
        Framework::DisaStig => control
            .strip_prefix("OKTA-APP-")
            .is_some_and(|n| n.len() == 6 && digits(n)),
    }
}

/// The doc table cannot drift: each check has a row with its title, safeguard, severity and
/// every mapped control.
#[test]
fn docs_list_every_check_with_its_mappings() {
    for d in catalog() {
        let row = DOC
            .lines()
            .find(|line| line.starts_with(&format!("| {} |", d.id)))
            .unwrap_or_else(|| panic!("docs/compliance.md has no row for {}", d.id));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 13, "{}: expected 11 columns", d.id);
        assert_eq!(cells[2], d.title, "{}: title", d.id);
        assert_eq!(cells[3], d.cis_safeguard, "{}: safeguard", d.id);
        assert_eq!(cells[4], format!("{:?}", d.severity), "{}: severity", d.id);
        for (column, framework) in (5..=10).zip(Framework::ALL) {
            let expected = d
                .mappings
                .iter()
                .find(|(f, _)| *f == framework)
                .map_or("—".to_owned(), |(_, controls)| controls.join(", "));
            assert_eq!(
                cells[column],
                expected,
                "{}: {} column",
                d.id,
                framework.id()
            );
        }
    }
}
