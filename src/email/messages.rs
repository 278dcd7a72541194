//! The emails Butterfly sends, rendered to a subject and plain-text + HTML parts.
//!
//! Rendered here rather than with SendGrid dynamic templates, so every email is reviewed and
//! tested with the code that sends it and works the same against the local fake. Every value
//! put into HTML is escaped. Verification codes are not outbox payloads (a plaintext code
//! must not rest in the database): they are rendered and sent while the user waits.

use serde::{Deserialize, Serialize};

use super::codes::CodePurpose;
use super::preferences::Category;
use crate::billing::plans::PlanId;

/// A notification, as stored in the outbox payload (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
    RestoreReceipt {
        org_domain: String,
        restore_id: String,
        objects_restored: u64,
        objects_failed: u64,
        finished_at: String,
    },
    DriftAlert {
        org_domain: String,
        changes: u64,
        high_severity: u64,
        report_url: String,
    },
    BackupFailed {
        org_domain: String,
        backup_id: String,
        reason_code: String,
    },
    DrillFailed {
        org_domain: String,
        drill_id: String,
        reason_code: String,
    },
    PaymentFailed {
        grace_until: String,
        portal_url: String,
    },
    PlanChanged {
        from: PlanId,
        to: PlanId,
        /// When a shorter retention takes effect, for a downgrade.
        retention_from: Option<String>,
    },
    DeletionScheduled {
        team_name: String,
        purge_after: String,
    },
    /// To the owner who asked, once the purge has run. It names no team: the row outlives the
    /// team it is about until it is delivered.
    DeletionCompleted {
        requested_at: String,
    },
    ProductUpdate {
        subject: String,
        text: String,
    },
}

impl Notification {
    pub fn category(&self) -> Category {
        match self {
            Notification::RestoreReceipt { .. }
            | Notification::DeletionScheduled { .. }
            | Notification::DeletionCompleted { .. } => Category::Security,
            Notification::PaymentFailed { .. } | Notification::PlanChanged { .. } => {
                Category::Billing
            }
            Notification::DriftAlert { .. }
            | Notification::BackupFailed { .. }
            | Notification::DrillFailed { .. } => Category::Alerts,
            Notification::ProductUpdate { .. } => Category::ProductUpdates,
        }
    }

    /// Carries tenant details, so only a verified address may receive it.
    pub fn sensitive(&self) -> bool {
        matches!(
            self,
            Notification::RestoreReceipt { .. }
                | Notification::DriftAlert { .. }
                | Notification::BackupFailed { .. }
                | Notification::DrillFailed { .. }
        )
    }

    pub fn render(&self, unsubscribe_link: Option<&str>) -> Rendered {
        let (subject, lines): (String, Vec<String>) = match self {
            Notification::RestoreReceipt { org_domain, restore_id, objects_restored, objects_failed, finished_at } => (
                format!("Restore finished for {org_domain}"),
                vec![
                    format!("The restore {restore_id} into {org_domain} finished at {finished_at}."),
                    format!("Objects restored: {objects_restored}. Objects that failed: {objects_failed}."),
                    "The full receipt is in the restore's page and in your audit log.".into(),
                ],
            ),
            Notification::DriftAlert { org_domain, changes, high_severity, report_url } => (
                format!("{changes} changes detected in {org_domain}"),
                vec![
                    format!("Butterfly found {changes} changes in {org_domain} since the last check, {high_severity} of them high severity."),
                    format!("Review them: {report_url}"),
                ],
            ),
            Notification::BackupFailed { org_domain, backup_id, reason_code } => (
                format!("Backup of {org_domain} failed"),
                vec![
                    format!("The backup {backup_id} of {org_domain} failed ({reason_code})."),
                    "Your previous backups are intact. The next scheduled backup will try again.".into(),
                ],
            ),
            Notification::DrillFailed { org_domain, drill_id, reason_code } => (
                format!("Restore drill for {org_domain} failed"),
                vec![format!("The restore drill {drill_id} for {org_domain} failed ({reason_code}).")],
            ),
            Notification::PaymentFailed { grace_until, portal_url } => (
                "Your Butterfly payment failed".into(),
                vec![
                    "We could not charge your payment method.".into(),
                    format!("Your plan stays active until {grace_until}; update your payment details before then: {portal_url}"),
                ],
            ),
            Notification::PlanChanged { from, to, retention_from } => (
                format!("Your Butterfly plan is now {}", to.plan().name),
                {
                    let mut l = vec![format!("Your team moved from {} to {}.", from.plan().name, to.plan().name)];
                    if let Some(when) = retention_from {
                        l.push(format!("Snapshots older than the {} plan keeps will be deleted from {when}. Download anything you need before then.", to.plan().name));
                    }
                    l
                },
            ),
            Notification::DeletionScheduled { team_name, purge_after } => (
                format!("Deletion of {team_name} is scheduled"),
                vec![
                    format!("An owner asked to delete the team {team_name}. Everything it holds will be purged after {purge_after}."),
                    "Until then any owner can cancel the deletion from the team settings.".into(),
                ],
            ),
            Notification::DeletionCompleted { requested_at } => (
                "Your team has been deleted".to_string(),
                vec![format!("The team whose deletion you requested on {requested_at} has been purged: its snapshots, credentials and keys are destroyed, and its activity log no longer names anyone.")],
            ),
            Notification::ProductUpdate { subject, text } => (subject.clone(), vec![text.clone()]),
        };
        layout(subject, &lines, unsubscribe_link)
    }
}

/// The email for a verification code (sent directly, never queued).
pub fn verification_code(digits: &str, purpose: CodePurpose) -> Rendered {
    let what = match purpose {
        CodePurpose::VerifyEmail => "verify your email address",
        CodePurpose::ConfirmTeamDeletion => "confirm the deletion of your team",
    };
    layout(
        format!("Your Butterfly code: {digits}"),
        &[
            format!("Use {digits} to {what}. It expires in 10 minutes."),
            "If you did not ask for it, ignore this email; nothing changes without the code."
                .into(),
        ],
        None,
    )
}

/// A rendered email.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for Rendered {
    /// Bodies never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rendered(..redacted..)")
    }
}

fn layout(subject: String, lines: &[String], unsubscribe: Option<&str>) -> Rendered {
    let mut text = lines.join("\n\n");
    let mut html = String::from(
        "<!doctype html><html><body style=\"font-family:sans-serif;max-width:600px\">",
    );
    for line in lines {
        html.push_str("<p>");
        html.push_str(&escape(line));
        html.push_str("</p>");
    }
    text.push_str("\n\n-- \nButterfly, Okta resilience");
    html.push_str("<hr><p style=\"color:#666;font-size:12px\">Butterfly, Okta resilience");
    if let Some(link) = unsubscribe {
        text.push_str(&format!("\nUnsubscribe from these emails: {link}"));
        html.push_str(&format!(
            "<br><a href=\"{}\">Unsubscribe from these emails</a>",
            escape(link)
        ));
    }
    html.push_str("</p></body></html>");
    Rendered {
        subject: subject.replace(['\r', '\n'], " "),
        text,
        html,
    }
}

/// HTML-escapes text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_subjects_stay_on_one_line() {
        let n = Notification::BackupFailed {
            org_domain: "acme.okta.com".into(),
            backup_id: "<script>alert(1)</script>".into(),
            reason_code: "okta_unavailable".into(),
        };
        let r = n.render(None);
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.text.contains("<script>"), "plain text is not HTML");
        let sneaky = Notification::ProductUpdate {
            subject: "Hi\r\nBcc: x@example.com".into(),
            text: "x".into(),
        };
        assert_eq!(sneaky.render(None).subject, "Hi  Bcc: x@example.com");
    }

    #[test]
    fn optional_mail_carries_the_unsubscribe_link() {
        let n = Notification::DriftAlert {
            org_domain: "acme.okta.com".into(),
            changes: 3,
            high_severity: 1,
            report_url: "https://app.example/drift/1".into(),
        };
        assert_eq!(n.category(), Category::Alerts);
        assert!(n.sensitive());
        let r = n.render(Some("https://b.example/api/v1/email/unsubscribe?token=a&b"));
        assert!(r.text.contains(
            "Unsubscribe from these emails: https://b.example/api/v1/email/unsubscribe?token=a&b"
        ));
        assert!(r
            .html
            .contains("href=\"https://b.example/api/v1/email/unsubscribe?token=a&amp;b\""));
        assert_eq!(format!("{r:?}"), "Rendered(..redacted..)");
    }

    #[test]
    fn payloads_round_trip_through_the_outbox_json() {
        let n = Notification::PlanChanged {
            from: PlanId::Standard,
            to: PlanId::Free,
            retention_from: Some("2026-01-31".into()),
        };
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["kind"], "plan_changed");
        assert_eq!(serde_json::from_value::<Notification>(json).unwrap(), n);
        assert!(n.render(None).text.contains("deleted from 2026-01-31"));
        let code = verification_code("123456", CodePurpose::VerifyEmail);
        assert!(code.subject.contains("123456") && code.text.contains("expires in 10 minutes"));
    }
}
