//! Network-level protections in front of the IdP. ThreatInsight (CIS 13 territory) is filed
//! under 4.1; block-list zones and API-token network restrictions are the IdP's equivalent of a
//! host firewall and are filed under 4.4.

use serde_json::Value;

use super::okta::{has_items, id, is_active, strings, text};
use super::{guard, Verdict};
use crate::compliance::check_def::CheckDef;
use crate::compliance::context::EvalContext;
use crate::compliance::frameworks::Framework::{DisaStig, Hipaa, Iso27001_2022, Nist80053, Soc2};
use crate::compliance::outcome::{CheckResult, Evidence, Severity};
use crate::tenant::{ResourceType, TenantSnapshot};

pub(super) const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "BF-CIS4-011",
        title: "Okta ThreatInsight blocks suspicious IPs",
        cis_safeguard: "4.1",
        cis_control: 4,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.6", "CC7.2"]),
            (Hipaa, &["164.308(a)(5)(ii)(C)"]),
            (Nist80053, &["SI-4", "SC-7"]),
            (Iso27001_2022, &["A.8.16"]),
        ],
        remediation: "Security > General > Okta ThreatInsight settings > Log and enforce security \
            based on threat level; list trusted egress zones under Exempt zones.",
        rationale: "ThreatInsight recognises IPs behind credential stuffing and password spraying \
            across Okta's customer base; in audit mode (or off) it only logs them.",
        eval: threat_insight_blocks,
    },
    CheckDef {
        id: "BF-CIS4-012",
        title: "Anonymizing proxies (Tor, anonymizers) are blocked",
        cis_safeguard: "4.4",
        cis_control: 4,
        severity: Severity::Medium,
        mappings: &[
            (Soc2, &["CC6.6"]),
            (Nist80053, &["AC-4", "SC-7"]),
            (Iso27001_2022, &["A.8.20"]),
            (DisaStig, &["OKTA-APP-003243"]),
        ],
        remediation: "Security > Networks > DefaultEnhancedDynamicZone (Enhanced dynamic zone \
            blocklist): activate it with IP service category All anonymizers; or add a Dynamic \
            zone that blocks proxy type Any and set its usage to Block list.",
        rationale: "Legitimate users rarely sign in through Tor or anonymising proxies, while \
            attackers use them to hide and to evade geo rules; blocking them at the IdP removes \
            a cheap evasion path.",
        eval: anonymizers_blocked,
    },
    CheckDef {
        id: "BF-CIS4-013",
        title: "API tokens can only be used from network zones",
        cis_safeguard: "4.4",
        cis_control: 4,
        severity: Severity::High,
        mappings: &[
            (Soc2, &["CC6.1", "CC6.6"]),
            (Nist80053, &["CM-6", "SC-7"]),
            (Iso27001_2022, &["A.8.20"]),
            (DisaStig, &["OKTA-APP-003240"]),
        ],
        remediation: "Security > API > Tokens > (token) > Edit > Token can be used from: In zone, \
            choosing the zone of the integration's egress addresses.",
        rationale: "An Okta API token is a bearer secret with its owner's admin rights; limiting \
            where it can be used makes a leaked token useless outside known networks.",
        eval: api_tokens_zoned,
    },
];

fn threat_insight_blocks(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let config = s.get(ResourceType::ThreatInsight)?.first().ok_or_else(|| {
            CheckResult::error("threat_insight is empty; expected the configuration object")
        })?;
        Ok(match text(config, "/action") {
            Some("block") => CheckResult::pass("ThreatInsight action is block"),
            Some(action) => CheckResult::fail(
                format!("ThreatInsight action is {action}"),
                vec![Evidence::new(
                    "threat_insight",
                    "configuration",
                    format!("action {action}"),
                )],
            ),
            None => CheckResult::error("ThreatInsight configuration has no action"),
        })
    })
}

fn anonymizers_blocked(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let blocking = s.get(ResourceType::NetworkZones)?.iter().find(|z| {
            is_active(z) && text(z, "/usage") == Some("BLOCKLIST") && blocks_anonymizers(z)
        });
        Ok(match blocking {
            Some(zone) => CheckResult::pass(format!("zone {} blocks anonymizers", id(zone))),
            None => CheckResult::fail(
                "no active block-list zone covers anonymizing proxies",
                Vec::new(),
            ),
        })
    })
}

/// Enhanced dynamic zones name IP service categories; legacy dynamic zones use `proxyType`.
fn blocks_anonymizers(zone: &Value) -> bool {
    match text(zone, "/type") {
        Some("DYNAMIC_V2") => {
            let categories = strings(zone, "/ipServiceCategories/include");
            let has = |c: &str| categories.contains(&c);
            has("ALL_ANONYMIZERS")
                || has("ALL_IP_SERVICES")
                || (has("ALL_ANONYMIZERS_EXCEPT_TOR") && has("ANONYMIZER_TOR"))
        }
        Some("DYNAMIC") => text(zone, "/proxyType").is_some_and(|p| p.eq_ignore_ascii_case("any")),
        _ => false,
    }
}

fn api_tokens_zoned(s: &TenantSnapshot, _ctx: &EvalContext) -> CheckResult {
    guard(|| {
        let tokens = s.get(ResourceType::ApiTokens)?;
        if tokens.is_empty() {
            return Ok(CheckResult::not_applicable("no API tokens exist"));
        }
        let mut verdict = Verdict::default();
        for token in tokens {
            let detail = match text(token, "/network/connection") {
                Some("ZONE") if has_items(token, "/network/include") => continue,
                Some("ZONE") => "network.connection ZONE without included zones".to_owned(),
                Some(other) => format!("network.connection {other}"),
                None => "network.connection not set (usable from anywhere)".to_owned(),
            };
            verdict.violation("api_token", id(token), detail);
        }
        Ok(verdict.conclude(
            "every API token is restricted to network zones",
            "API tokens usable from any network",
        ))
    })
}
