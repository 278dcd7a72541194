//! The plans Butterfly sells, as data in one place, and the one function services call to
//! enforce them.
//!
//! | plan | retention | connections | manual backups / connection / day | members | API keys |
//! |---|---|---|---|---|---|
//! | Free | 7 days | 1 | 2 | 3 | 2 |
//! | Standard | 90 days | 5 | 12 | 25 | 20 |
//! | Business | unlimited | 25 | 48 | unlimited | 100 |
//!
//! Scheduled backups (every 6 hours) run on every plan and do not count against the manual
//! quota, so a Free team is always protected and can still take a backup before a risky
//! change. Members count pending invitations too, so an invitation cannot be used to go past
//! the limit later. The limits are there to keep a plan honest about cost (each connection is
//! a tenant's worth of Okta calls and R2 storage), not to nag: each is far above what the plan's
//! typical team uses.
//!
//! **Trial**: a team's first Checkout may start a 14-day trial of Standard ([`TRIAL`]). An admin
//! evaluating a backup product needs to see what 90-day history and several orgs look like
//! before paying for it, and Free (one org, a week of history) does not show that. The trial is
//! a Stripe subscription in status `trialing` (card collected by Checkout, so it converts
//! without a second step and cannot be farmed), once per team.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A plan's identifier, as stored in `team_billing.plan` and reported by the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanId {
    Free,
    Standard,
    Business,
}

impl PlanId {
    /// Every plan, cheapest first (the order upgrades go in).
    pub const ALL: [PlanId; 3] = [PlanId::Free, PlanId::Standard, PlanId::Business];

    pub fn as_str(self) -> &'static str {
        match self {
            PlanId::Free => "free",
            PlanId::Standard => "standard",
            PlanId::Business => "business",
        }
    }

    pub fn parse(s: &str) -> Option<PlanId> {
        PlanId::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The plan's terms.
    pub fn plan(self) -> &'static Plan {
        match self {
            PlanId::Free => &FREE,
            PlanId::Standard => &STANDARD,
            PlanId::Business => &BUSINESS,
        }
    }
}

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a plan keeps snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retention {
    Days(u32),
    Unlimited,
}

impl Retention {
    /// The longer of two retentions.
    pub fn longest(self, other: Retention) -> Retention {
        match (self, other) {
            (Retention::Unlimited, _) | (_, Retention::Unlimited) => Retention::Unlimited,
            (Retention::Days(a), Retention::Days(b)) => Retention::Days(a.max(b)),
        }
    }

    /// As a duration; `None` for unlimited.
    pub fn as_duration(self) -> Option<chrono::Duration> {
        match self {
            Retention::Days(d) => Some(chrono::Duration::days(i64::from(d))),
            Retention::Unlimited => None,
        }
    }
}

/// Something a plan counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Okta connections of the team.
    Connections,
    /// Backups started by hand (API or UI) per connection per UTC day; scheduled ones are free.
    ManualBackupsPerDay,
    /// Members plus pending invitations.
    Members,
    /// Active (unrevoked) API keys.
    ApiKeys,
}

impl Limit {
    pub const ALL: [Limit; 4] = [
        Limit::Connections,
        Limit::ManualBackupsPerDay,
        Limit::Members,
        Limit::ApiKeys,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Connections => "connections",
            Limit::ManualBackupsPerDay => "manual_backups_per_day",
            Limit::Members => "members",
            Limit::ApiKeys => "api_keys",
        }
    }
}

/// A ceiling on a count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quota {
    Max(u32),
    Unlimited,
}

impl Quota {
    /// May one more be added to `used`?
    fn admits_one_more(self, used: u32) -> bool {
        match self {
            Quota::Max(max) => used < max,
            Quota::Unlimited => true,
        }
    }
}

/// A plan's terms.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub id: PlanId,
    /// Shown to users.
    pub name: &'static str,
    pub retention: Retention,
    pub connections: Quota,
    pub manual_backups_per_day: Quota,
    pub members: Quota,
    pub api_keys: Quota,
}

pub static FREE: Plan = Plan {
    id: PlanId::Free,
    name: "Free",
    retention: Retention::Days(7),
    connections: Quota::Max(1),
    manual_backups_per_day: Quota::Max(2),
    members: Quota::Max(3),
    api_keys: Quota::Max(2),
};

pub static STANDARD: Plan = Plan {
    id: PlanId::Standard,
    name: "Standard",
    retention: Retention::Days(90),
    connections: Quota::Max(5),
    manual_backups_per_day: Quota::Max(12),
    members: Quota::Max(25),
    api_keys: Quota::Max(20),
};

pub static BUSINESS: Plan = Plan {
    id: PlanId::Business,
    name: "Business",
    retention: Retention::Unlimited,
    connections: Quota::Max(25),
    manual_backups_per_day: Quota::Max(48),
    members: Quota::Unlimited,
    api_keys: Quota::Max(100),
};

/// The trial a team's first Checkout may start.
#[derive(Debug, PartialEq, Eq)]
pub struct Trial {
    pub plan: PlanId,
    pub days: u32,
}

pub static TRIAL: Trial = Trial {
    plan: PlanId::Standard,
    days: 14,
};

/// A limit the team's plan does not allow one more of.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {plan} plan allows at most {max} {}", limit.as_str())]
pub struct PlanError {
    pub plan: PlanId,
    pub limit: Limit,
    pub max: u32,
    /// The cheapest plan that would allow it, if any.
    pub upgrade_to: Option<PlanId>,
}

impl PlanError {
    /// The stable error code the edge returns.
    pub const CODE: &'static str = "plan_limit_reached";

    /// 402 Payment Required when an upgrade would allow it; 403 when no plan does.
    pub fn http_status(&self) -> u16 {
        if self.upgrade_to.is_some() {
            402
        } else {
            403
        }
    }
}

impl Plan {
    pub fn quota(&self, limit: Limit) -> Quota {
        match limit {
            Limit::Connections => self.connections,
            Limit::ManualBackupsPerDay => self.manual_backups_per_day,
            Limit::Members => self.members,
            Limit::ApiKeys => self.api_keys,
        }
    }

    /// The one enforcement point: may the team add one more `limit` when it already has
    /// `used`? Services call this right before the insert it guards (the database re-checks
    /// nothing here: counts come from the caller's own rows, and a race past the limit by one
    /// is harmless, unlike refusing a paying customer because of a stale count).
    pub fn allows(&self, limit: Limit, used: u32) -> Result<(), PlanError> {
        let max = match self.quota(limit) {
            Quota::Unlimited => return Ok(()),
            Quota::Max(max) if used < max => return Ok(()),
            Quota::Max(max) => max,
        };
        let upgrade_to = PlanId::ALL
            .into_iter()
            .filter(|p| *p > self.id)
            .find(|p| p.plan().quota(limit).admits_one_more(used));
        Err(PlanError {
            plan: self.id,
            limit,
            max,
            upgrade_to,
        })
    }

    /// Usage against every limit, for `GET /teams/{id}/plan`.
    pub fn report(&self, usage: &Usage) -> Vec<LimitReport> {
        Limit::ALL
            .into_iter()
            .map(|limit| LimitReport {
                limit,
                used: usage.get(limit),
                quota: self.quota(limit),
            })
            .collect()
    }
}

/// What a team uses now. `manual_backups_today` is the busiest connection's count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub connections: u32,
    pub manual_backups_today: u32,
    pub members: u32,
    pub api_keys: u32,
}

impl Usage {
    pub fn get(&self, limit: Limit) -> u32 {
        match limit {
            Limit::Connections => self.connections,
            Limit::ManualBackupsPerDay => self.manual_backups_today,
            Limit::Members => self.members,
            Limit::ApiKeys => self.api_keys,
        }
    }
}

/// One row of a usage report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LimitReport {
    pub limit: Limit,
    pub used: u32,
    pub quota: Quota,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_keep_what_the_product_promises() {
        assert_eq!(PlanId::Free.plan().retention, Retention::Days(7));
        assert_eq!(PlanId::Standard.plan().retention, Retention::Days(90));
        assert_eq!(PlanId::Business.plan().retention, Retention::Unlimited);
        for id in PlanId::ALL {
            assert_eq!(id.plan().id, id, "table row {id} is filed under its own id");
            assert_eq!(PlanId::parse(id.as_str()), Some(id));
        }
        assert_eq!(PlanId::parse("enterprise"), None);
    }

    #[test]
    fn every_limit_grows_or_stays_with_the_plan() {
        // An upgrade never takes anything away.
        for pair in PlanId::ALL.windows(2) {
            let (lower, higher) = (pair[0].plan(), pair[1].plan());
            for limit in Limit::ALL {
                let ok = match (lower.quota(limit), higher.quota(limit)) {
                    (_, Quota::Unlimited) => true,
                    (Quota::Unlimited, Quota::Max(_)) => false,
                    (Quota::Max(a), Quota::Max(b)) => a <= b,
                };
                assert!(ok, "{:?} shrinks from {} to {}", limit, lower.id, higher.id);
            }
            assert_eq!(lower.retention.longest(higher.retention), higher.retention);
        }
    }

    #[test]
    fn allows_up_to_the_quota_and_names_the_cheapest_upgrade() {
        let free = PlanId::Free.plan();
        assert_eq!(free.allows(Limit::Connections, 0), Ok(()));
        let err = free.allows(Limit::Connections, 1).unwrap_err();
        assert_eq!(
            err,
            PlanError {
                plan: PlanId::Free,
                limit: Limit::Connections,
                max: 1,
                upgrade_to: Some(PlanId::Standard)
            }
        );
        assert_eq!(err.http_status(), 402);
        assert_eq!(
            err.to_string(),
            "the free plan allows at most 1 connections"
        );

        // 6 connections: Standard's 5 are not enough, so the upgrade named is Business.
        let err = free.allows(Limit::Connections, 6).unwrap_err();
        assert_eq!(err.upgrade_to, Some(PlanId::Business));

        // Nothing above Business: 403, not an upsell.
        let business = PlanId::Business.plan();
        assert_eq!(business.allows(Limit::Connections, 24), Ok(()));
        let err = business.allows(Limit::Connections, 25).unwrap_err();
        assert_eq!(err.upgrade_to, None);
        assert_eq!(err.http_status(), 403);
        assert_eq!(business.allows(Limit::Members, 1_000_000), Ok(()));
    }

    #[test]
    fn report_lists_every_limit_with_its_usage() {
        let usage = Usage {
            connections: 1,
            manual_backups_today: 2,
            members: 3,
            api_keys: 0,
        };
        let report = PlanId::Free.plan().report(&usage);
        assert_eq!(report.len(), Limit::ALL.len());
        assert_eq!(
            report[2],
            LimitReport {
                limit: Limit::Members,
                used: 3,
                quota: Quota::Max(3)
            }
        );
        let json = serde_json::to_value(report[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"limit": "connections", "used": 1, "quota": {"max": 1}})
        );
    }

    #[test]
    fn the_trial_is_of_a_paid_plan() {
        assert_ne!(TRIAL.plan, PlanId::Free);
        assert_eq!(TRIAL.days, 14);
    }
}
