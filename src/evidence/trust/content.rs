//! What the Trust Center says, kept next to the code it describes. Every claim names the
//! controls that implement it — a doc section, a code path or a test — and a test fails when
//! one of them no longer exists, so the page cannot outlive what it promises. A claim whose
//! control is not built yet says so (`InProgress`) rather than pointing at nothing.

use super::{Claim, Control, Framework, Status, Subprocessor, TrustCenter};
use Control::{Code, Doc, Test};
use Status::{Implemented, InProgress};

/// When this content was last reviewed (shown on the page).
pub const REVIEWED: &str = "2026-12-01";

pub const ALIGNED_MEANS: &str = "Aligned means we have mapped the framework's requirements that apply to Butterfly to \
     controls we operate, and each control on this page links to the code, test or document that implements it. \
     It is our own assessment: no auditor has certified it, and we say so wherever that matters.";

pub static TRUST_CENTER: TrustCenter = TrustCenter {
    frameworks: &[
        Framework {
            name: "OWASP ASVS 4.0.3, Level 2",
            scope: "The Butterfly API, its worker and its data stores",
            status: "Aligned (self-assessed)",
            controls: &[
                Doc("docs/security.md#owasp-asvs-403-level-2"),
                Test("tests/stack/isolation.rs::no_foreign_caller_reaches_another_teams_resources_on_any_route"),
            ],
        },
        Framework {
            name: "GDPR (as a processor)",
            scope: "Personal data of customers' team members: emails, names, source IPs",
            status: "Aligned in part: erasure from the audit trail built; account deletion and export in progress",
            controls: &[
                Doc("docs/audit-pack.md#identifying-values"),
                Code("migrations/0008_activity_chain.sql"),
            ],
        },
        Framework {
            name: "SOC 2 (Security, Confidentiality)",
            scope: "Butterfly's service",
            status: "Not audited: there is no SOC 2 report yet",
            controls: &[Doc("docs/security.md#defence-in-depth")],
        },
        Framework {
            name: "CIS Controls v8 (for your Okta tenant)",
            scope: "Checks Butterfly runs on customers' Okta configuration, mapped to SOC 2, HIPAA, PCI DSS 4.0, NIST 800-53, ISO 27001:2022 and DISA STIG",
            status: "44 checks in production",
            controls: &[Doc("docs/compliance.md#checks"), Code("src/compliance/catalog.rs")],
        },
    ],
    subprocessors: &[
        Subprocessor {
            name: "Cloudflare",
            purpose: "Runs the service (Workers), its queue, and stores encrypted snapshots (R2); edge TLS, DDoS protection",
            data: "Encrypted snapshots; requests in transit; request logs without secrets",
            region: "Global edge network; R2 bucket in the location chosen at deployment",
            status: Implemented,
            controls: &[Code("wrangler.toml"), Doc("docs/snapshot-format.md#sealing-bfs1")],
        },
        Subprocessor {
            name: "Supabase",
            purpose: "Database (PostgreSQL) and sign-in",
            data: "Accounts, teams, connection metadata, sealed Okta tokens, backup and compliance records, the activity log",
            region: "The project's region, chosen at deployment",
            status: Implemented,
            controls: &[Code("migrations/0001_tenancy.sql"), Code("src/db/client.rs")],
        },
        Subprocessor {
            name: "Stripe",
            purpose: "Billing and subscriptions (no card data reaches Butterfly)",
            data: "Billing contact's name and email, subscription and invoices",
            region: "United States",
            status: Implemented,
            controls: &[
                Code("src/billing/stripe/client.rs"),
                Test("tests/stack/billing.rs::billing_checkout_webhooks_drive_the_plan_and_its_limits"),
            ],
        },
        Subprocessor {
            name: "Twilio SendGrid",
            purpose: "Email: verification codes, restore receipts, alerts",
            data: "Recipient email address and message content",
            region: "United States",
            status: InProgress,
            controls: &[],
        },
        Subprocessor {
            name: "Anthropic",
            purpose: "Optional AI guidance on findings (opt-in per team)",
            data: "Redacted configuration metadata only: no credentials, no personal data",
            region: "United States",
            status: Implemented,
            controls: &[Doc("docs/ai.md#providers"), Code("src/ai/provider/anthropic.rs")],
        },
        Subprocessor {
            name: "OpenAI",
            purpose: "Optional AI guidance on findings (opt-in per team, alternative provider)",
            data: "Redacted configuration metadata only: no credentials, no personal data",
            region: "United States",
            status: Implemented,
            controls: &[Doc("docs/ai.md#providers"), Code("src/ai/provider/openai.rs")],
        },
    ],
    data_handling: &[
        Claim {
            text: "Optional IP allow-list: a team's owners and admins can restrict API access, for people and API keys alike, to their own networks; every change is recorded in the team's activity log.",
            status: Implemented,
            controls: &[
                Doc("docs/security.md#defence-in-depth"),
                Code("src/services/allowlist.rs"),
                Test("tests/stack/allowlist.rs::the_allow_list_admits_only_its_networks_for_sessions_and_keys"),
            ],
        },
        Claim {
            text: "What we store: your Okta configuration as encrypted snapshots, the read-only Okta API token you give us (sealed, never shown again), your team's members and roles, backup and compliance records, and an activity log of every change.",
            status: Implemented,
            controls: &[Doc("docs/snapshot-format.md#resource-types"), Code("migrations/0002_connections.sql")],
        },
        Claim {
            text: "Encryption in transit: TLS on every connection; HSTS on every response; plain HTTP is refused.",
            status: Implemented,
            controls: &[
                Doc("docs/security.md#defence-in-depth"),
                Test("src/api/edge.rs::plain_http_is_refused_unless_configured_off"),
            ],
        },
        Claim {
            text: "Encryption at rest: Okta tokens sealed with AES-256-GCM under a per-team data key, itself wrapped by a master key kept outside the database; snapshots sealed per segment under per-team derived keys.",
            status: Implemented,
            controls: &[
                Code("src/crypto/envelope.rs"),
                Test("src/crypto/envelope.rs::master_key_rotation"),
                Doc("docs/snapshot-format.md#key-derivation"),
            ],
        },
        Claim {
            text: "Key rotation: a team's data key rotates on request and a background job re-seals its credentials, then destroys the old version; the master key, the download-signing key and the API-key pepper carry key ids and rotate without breaking backups, links or keys. The root secret that snapshot keys derive from cannot rotate yet.",
            status: InProgress,
            controls: &[
                Doc("docs/security.md#key-management"),
                Test("src/jobs/key_reseal.rs::rotation_seals_new_credentials_moves_old_ones_and_retires_the_old_version"),
                Test("src/jobs/key_rewrap.rs::master_key_rotation_rewraps_every_data_key_so_the_old_key_can_go"),
            ],
        },
        Claim {
            text: "Tenant isolation: every request is checked against your team's roles by the service, and again by row-level security in the database; tests try every route as every role of another team.",
            status: Implemented,
            controls: &[
                Doc("docs/security.md#permission-matrix"),
                Test("tests/stack/isolation.rs::postgrest_hides_and_protects_every_user_scoped_table"),
            ],
        },
        Claim {
            text: "Retention by plan: Free keeps snapshots 7 days, Standard 90 days, Business without limit.",
            status: InProgress,
            controls: &[],
        },
        Claim {
            text: "Deletion: when an owner deletes a team, its snapshots, keys, tokens and the identifying details in its activity log are purged within 30 days; the log stays verifiable after erasure.",
            status: InProgress,
            controls: &[
                Doc("docs/audit-pack.md#identifying-values"),
                Test("tests/stack/chain.rs::pseudonymisation_erases_identities_and_the_chain_still_verifies"),
            ],
        },
    ],
    audit_trail: &[
        Claim {
            text: "Every change writes an activity-log row that no one can edit or delete, not even our database administrators without it showing: rows are hash-chained per team in the database, and the chain head is anchored in write-once storage outside it.",
            status: Implemented,
            controls: &[
                Doc("docs/audit-pack.md#the-activity-chain"),
                Test("tests/stack/chain.rs::tampering_as_the_database_owner_is_detected_and_located"),
                Test("tests/stack/chain.rs::concurrent_writers_never_fork_a_chain"),
                Code("src/evidence/anchor.rs"),
                Code("src/jobs/anchor.rs"),
                Test("tests/stack/evidence.rs::the_anchor_job_anchors_each_head_and_verify_catches_a_rewrite_after_it"),
            ],
        },
        Claim {
            text: "Evidence export: an audit pack of your activity log, backup manifests, compliance runs and findings with remediation history, in one archive with a SHA-256 manifest signed with Ed25519, verifiable offline with our open verifier or with sha256sum, jq and openssl alone. The pack format, its signing keys and the verifier are in place; the export endpoint is being built.",
            status: InProgress,
            controls: &[
                Doc("docs/audit-pack.md#verifying-a-pack"),
                Code("tools/audit-verify"),
                Test("tools/audit-verify/tests/tamper.rs::a_removed_row_is_located_even_in_a_re_signed_pack"),
                Test("tools/audit-verify/tests/auditor_commands.rs::the_documented_commands_verify_a_genuine_pack"),
            ],
        },
    ],
    incident_response: &[
        Claim {
            text: "We acknowledge a security report within 24 hours, triage it within 24 hours to 14 days by severity, and fix critical issues within 72 hours.",
            status: Implemented,
            controls: &[Doc("docs/security.md#incident-response-and-disclosure")],
        },
        Claim {
            text: "If an incident affects your data, we notify your team's owners within 72 hours of confirming it.",
            status: Implemented,
            controls: &[Doc("docs/security.md#incident-response-and-disclosure")],
        },
    ],
    disclosure: &[Claim {
        text: "Coordinated disclosure: report to the contacts in our security.txt; research in good faith within the published rules is welcome and credited; advisories follow fixes, within 90 days of a report.",
        status: Implemented,
        controls: &[
            Doc("docs/security.md#incident-response-and-disclosure"),
            Test("src/evidence/security_txt.rs::expires_is_within_a_year_and_not_about_to_lapse"),
        ],
    }],
};
