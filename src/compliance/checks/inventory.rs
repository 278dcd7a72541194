//! CIS 1 (enterprise assets), adapted to an IdP: the assets Okta can know about are the networks
//! users come from (network zones) and the devices they sign in with (device conditions in
//! authentication policies). Device inventory itself (`/api/v1/devices`) is not collected, so
//! these checks verify that Okta is configured to know and act on device state.

use serde_json::Value;

use super::okta::{flag, granting_rules_of, has_items, id, in_force, is_active, text};
use super::{guard, Verdict};
use crate::compliance::check_def::CheckDef;
use crate::compliance::context::EvalContext;
use crate::compliance::frameworks::Framework::{Iso27001_2022, Nist80053, Soc2};
use crate::compliance::outcome::{CheckResult, Severity};
use crate::tenant::{ResourceType, TenantSnapshot};

pub(super) const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "BF-CIS1-001",
        title: "A trusted corporate network zone is defined",
        cis_safeguard: "1.1",
        cis_control: 1,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.1", "CC6.6"]),
            (Nist80053, &["CM-8", "SC-7"]),
            (Iso27001_2022, &["A.5.9", "A.8.20"]),
        ],
        remediation: "Security > Networks > Add zone > IP Zone: name the zone after the site, list \
            the corporate egress addresses under Gateway IPs (and trusted proxies under Proxy IPs), \
            save, and reference it from global session and authentication policy rules.",
        rationale: "Policies can only treat corporate networks differently from the internet once \
            those networks are inventoried as a zone. Without one, every sign-in looks the same \
            and network context cannot be used for access decisions.",
        eval: trusted_zone_defined,
    },
    CheckDef {
        id: "BF-CIS1-002",
        title: "Network zone inventory has no stale zones",
        cis_safeguard: "1.1",
        cis_control: 1,
        severity: Severity::Low,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Nist80053, &["CM-8"]),
            (Iso27001_2022, &["A.5.9"]),
        ],
        remediation: "Security > Networks: for each listed zone, delete it if it is no longer \
            used, or add its addresses/locations and activate it. Okta system zones \
            (LegacyIpZone, BlockedIpZone, DefaultEnhancedDynamicZone) are excluded.",
        rationale: "An inventory is only useful while accurate: deactivated or empty zones are \
            leftovers that policies may still reference, silently matching nothing.",
        eval: no_stale_zones,
    },
    CheckDef {
        id: "BF-CIS1-003",
        title: "An authentication policy requires registered devices",
        cis_safeguard: "1.1",
        cis_control: 1,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1"]),
            (Nist80053, &["CM-8", "IA-3"]),
            (Iso27001_2022, &["A.5.9", "A.8.1"]),
        ],
        remediation: "Security > Authentication Policies > (policy) > Add rule > IF Device state \
            is: Registered. Registration happens through Okta Verify, which records the device in \
            Directory > Devices, giving an inventory of the endpoints that reach your apps.",
        rationale: "A device becomes known to Okta (and appears in its device inventory) when a \
            policy requires it to be registered; otherwise devices that access apps stay \
            anonymous.",
        eval: registered_devices_required,
    },
    CheckDef {
        id: "BF-CIS1-004",
        title: "An authentication policy enforces device assurance or managed devices",
        cis_safeguard: "1.2",
        cis_control: 1,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.1", "CC6.8"]),
            (Nist80053, &["CM-8(3)", "IA-3"]),
            (Iso27001_2022, &["A.8.1"]),
        ],
        remediation: "Security > Device assurance policies > Add a policy (OS version, disk \
            encryption, screen lock…); then Security > Authentication Policies > (policy) > rule \
            > Device state is: Registered, Device management is: Managed, Device assurance \
            policy is: (your policy), and add a lower-priority rule that denies other devices.",
        rationale: "CIS 1.2 asks that unauthorised assets be denied or quarantined. In an IdP \
            that is a rule gating access on device assurance or management state, so unknown or \
            non-compliant endpoints cannot reach apps.",
        eval: device_assurance_enforced,
    },
];

fn trusted_zone_defined(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let trusted: Vec<&str> = s
            .get(ResourceType::NetworkZones)?
            .iter()
            .filter(|z| {
                is_active(z)
                    && text(z, "/type") == Some("IP")
                    && text(z, "/usage") == Some("POLICY")
                    && has_items(z, "/gateways")
            })
            .map(id)
            .collect();
        Ok(if trusted.is_empty() {
            CheckResult::fail(
                "no active IP zone with gateway addresses is available to policies",
                Vec::new(),
            )
        } else {
            CheckResult::pass(format!("trusted IP zone(s): {}", trusted.join(", ")))
        })
    })
}

fn no_stale_zones(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let mut verdict = Verdict::default();
        for zone in s.get(ResourceType::NetworkZones)? {
            if flag(zone, "/system") == Some(true) {
                continue;
            }
            if !in_force(zone) {
                verdict.violation("network_zone", id(zone), "status INACTIVE");
                continue;
            }
            match defines_addresses(zone) {
                Some(true) => {}
                Some(false) => verdict.violation("network_zone", id(zone), "defines no addresses"),
                None => verdict.unknown(
                    "network_zone",
                    id(zone),
                    format!("zone type {:?}", text(zone, "/type").unwrap_or("missing")),
                ),
            }
        }
        Ok(verdict.conclude(
            "every custom network zone is active and defines addresses",
            "custom network zones are inactive or empty",
        ))
    })
}

/// Whether a zone matches anything; `None` for a zone type this engine does not know.
fn defines_addresses(zone: &Value) -> Option<bool> {
    Some(match text(zone, "/type")? {
        "IP" => has_items(zone, "/gateways") || has_items(zone, "/proxies"),
        "DYNAMIC" => {
            has_items(zone, "/locations")
                || has_items(zone, "/asns")
                || text(zone, "/proxyType").is_some_and(|p| !p.is_empty() && p != "null")
        }
        "DYNAMIC_V2" => [
            "/locations/include",
            "/asns/include",
            "/ipServiceCategories/include",
        ]
        .iter()
        .any(|p| has_items(zone, p)),
        _ => return None,
    })
}

fn registered_devices_required(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    device_rule_exists(s, "registered devices", |rule| {
        rule.pointer("/conditions/device/registered") == Some(&Value::Bool(true))
    })
}

fn device_assurance_enforced(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    device_rule_exists(s, "device assurance or managed devices", |rule| {
        has_items(rule, "/conditions/device/assurance/include")
            || rule.pointer("/conditions/device/managed") == Some(&Value::Bool(true))
    })
}

/// Passes when an in-force allow rule of an in-force authentication policy matches `gate`.
fn device_rule_exists(s: &TenantSnapshot, what: &str, gate: fn(&Value) -> bool) -> CheckResult {
    guard(|| {
        let rules = granting_rules_of(s, "ACCESS_POLICY", "/actions/appSignOn/access")?;
        Ok(match rules.iter().find(|r| gate(r)) {
            Some(rule) => CheckResult::pass(format!("rule {} requires {what}", id(rule))),
            None => CheckResult::fail(
                format!("no active authentication policy rule requires {what}"),
                Vec::new(),
            ),
        })
    })
}
