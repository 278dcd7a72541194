//! Email categories, per-user preferences, and the one decision "may this email go to this
//! person": preferences, suppression and address verification in one place.

use serde::{Deserialize, Serialize};

use super::event_webhook::SuppressionReason;

/// What kind of email a notification is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Verification codes, deletion confirmations, restore receipts: transactional, always
    /// sent (a user cannot opt out of proof of what was done in their name).
    Security,
    /// Payment failures, plan changes: transactional.
    Billing,
    /// Drift alerts, failed backups and drills: on by default, one click to leave.
    Alerts,
    /// Product news: only to users who opted in.
    ProductUpdates,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Security,
        Category::Billing,
        Category::Alerts,
        Category::ProductUpdates,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Security => "security",
            Category::Billing => "billing",
            Category::Alerts => "alerts",
            Category::ProductUpdates => "product_updates",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Non-transactional: the user may leave it, and its emails carry the RFC 8058 headers.
    pub fn optional(self) -> bool {
        matches!(self, Category::Alerts | Category::ProductUpdates)
    }
}

/// A user's choices (`email_preferences`); a user without a row has the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    pub alerts: bool,
    pub product_updates: bool,
}

impl Default for Preferences {
    /// Alerts on (they are why a team runs Butterfly), product updates off (opt-in only).
    fn default() -> Self {
        Preferences {
            alerts: true,
            product_updates: false,
        }
    }
}

impl Preferences {
    pub fn wants(&self, category: Category) -> bool {
        match category {
            Category::Security | Category::Billing => true,
            Category::Alerts => self.alerts,
            Category::ProductUpdates => self.product_updates,
        }
    }

    /// After a one-click unsubscribe.
    pub fn without(mut self, category: Category) -> Preferences {
        match category {
            Category::Alerts => self.alerts = false,
            Category::ProductUpdates => self.product_updates = false,
            Category::Security | Category::Billing => {}
        }
        self
    }
}

/// Everything the decision needs to know about the recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub preferences: Preferences,
    pub suppressed: Option<SuppressionReason>,
    /// The address was proven with a verification code.
    pub verified: bool,
}

/// Why an email is not sent (stored as the outbox row's outcome).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    OptedOut,
    Suppressed(SuppressionReason),
    Unverified,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::OptedOut => "opted_out",
            Skip::Suppressed(_) => "suppressed",
            Skip::Unverified => "unverified",
        }
    }
}

/// May an email of `category` go out? `sensitive` emails (tenant details: alerts, receipts)
/// need a verified address; a verification code goes to the unverified address it verifies.
/// A bounced or spam-reporting address gets nothing at all except a verification code it asked
/// for (it may have been fixed; the code proves it).
pub fn decide(
    category: Category,
    sensitive: bool,
    is_verification_code: bool,
    recipient: &Recipient,
) -> Result<(), Skip> {
    if let Some(reason) = recipient.suppressed {
        if !is_verification_code {
            return Err(Skip::Suppressed(reason));
        }
    }
    if !recipient.preferences.wants(category) {
        return Err(Skip::OptedOut);
    }
    if sensitive && !recipient.verified {
        return Err(Skip::Unverified);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(
        prefs: Preferences,
        suppressed: Option<SuppressionReason>,
        verified: bool,
    ) -> Recipient {
        Recipient {
            preferences: prefs,
            suppressed,
            verified,
        }
    }

    #[test]
    fn defaults_send_alerts_but_not_product_updates() {
        let r = recipient(Preferences::default(), None, true);
        assert_eq!(decide(Category::Alerts, true, false, &r), Ok(()));
        assert_eq!(
            decide(Category::ProductUpdates, false, false, &r),
            Err(Skip::OptedOut)
        );
        let opted_in = Preferences {
            product_updates: true,
            ..Preferences::default()
        };
        assert_eq!(
            decide(
                Category::ProductUpdates,
                false,
                false,
                &recipient(opted_in, None, true)
            ),
            Ok(())
        );
    }

    #[test]
    fn transactional_mail_ignores_preferences_but_not_suppression() {
        let none = Preferences {
            alerts: false,
            product_updates: false,
        };
        let r = recipient(none, None, true);
        assert_eq!(decide(Category::Security, true, false, &r), Ok(()));
        assert_eq!(decide(Category::Billing, false, false, &r), Ok(()));
        assert_eq!(
            decide(Category::Alerts, true, false, &r),
            Err(Skip::OptedOut)
        );
        let bounced = recipient(none, Some(SuppressionReason::Bounce), true);
        assert_eq!(
            decide(Category::Billing, false, false, &bounced),
            Err(Skip::Suppressed(SuppressionReason::Bounce))
        );
        assert_eq!(
            decide(Category::Security, false, true, &bounced),
            Ok(()),
            "a requested code still goes"
        );
    }

    #[test]
    fn sensitive_mail_needs_a_verified_address() {
        let r = recipient(Preferences::default(), None, false);
        assert_eq!(
            decide(Category::Alerts, true, false, &r),
            Err(Skip::Unverified)
        );
        assert_eq!(decide(Category::Security, false, true, &r), Ok(()));
    }

    #[test]
    fn unsubscribing_only_leaves_optional_categories() {
        let p = Preferences::default()
            .without(Category::Alerts)
            .without(Category::Security);
        assert!(!p.wants(Category::Alerts));
        assert!(p.wants(Category::Security));
        assert!(Category::ALL
            .iter()
            .all(|c| Category::parse(c.as_str()) == Some(*c)));
        assert_eq!(Category::ALL.iter().filter(|c| c.optional()).count(), 2);
    }
}
