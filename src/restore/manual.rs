//! What a restore cannot bring back, per object, and what the admin must do instead.
//!
//! Okta never returns secrets (passwords, client secrets, hook credentials, provider keys) and
//! keeps signing keys to itself, so a backup holds none of them and a restore cannot write
//! them. The planner lists each affected object under the kind of thing it lacks, with the
//! manual step, before anything is written; a fidelity diff after a restore may differ from
//! the source only in these.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tenant::ResourceType;

/// A kind of thing a restore cannot write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// Users' passwords are write-only.
    UserPassword,
    /// Recovery question answers are write-only.
    RecoveryAnswer,
    /// Enrolled authenticators (factors) are not part of a backup.
    UserFactors,
    /// A SAML or WS-Federation app created anew gets a new signing key and certificate.
    AppSigningCertificate,
    /// An OAuth client's secret is shown only when the app is created.
    ClientSecret,
    /// A shared or per-user app password (SWA) is write-only.
    AppPassword,
    /// Provisioning (SCIM) connection credentials are not in the Apps API.
    ProvisioningCredentials,
    /// An identity provider's client secret is write-only.
    IdpClientSecret,
    /// An identity provider's trust certificate is a key credential the target must hold.
    IdpCertificate,
    /// A hook's authorization header value is write-only.
    HookSecret,
    /// A new event hook must be verified by its endpoint again.
    HookVerification,
    /// An authenticator's provider secret (Duo, RADIUS) is write-only.
    AuthenticatorSecret,
    /// API tokens are shown once, when issued: they are never restored.
    ApiToken,
}

impl Missing {
    /// What the admin must do.
    pub fn step(self) -> &'static str {
        match self {
            Missing::UserPassword => "Okta never returns passwords: restored users activate by email or get a password reset (federated users sign in through their provider).",
            Missing::RecoveryAnswer => "Users set their recovery question and answer again at their next sign-in.",
            Missing::UserFactors => "Users enrol their authenticators (Okta Verify, WebAuthn, phone) again; plan help-desk capacity for it.",
            Missing::AppSigningCertificate => "Download the app's new IdP metadata or signing certificate from the Admin Console and upload it to the service provider before users sign in.",
            Missing::ClientSecret => "Copy the app's new client secret from the Admin Console into the application's configuration (or rotate it there).",
            Missing::AppPassword => "Re-enter the shared app password, or ask users to re-enter theirs.",
            Missing::ProvisioningCredentials => "Re-enter the app's provisioning (API/SCIM) credentials, test the connection, then enable provisioning.",
            Missing::IdpClientSecret => "Re-enter the identity provider's client secret.",
            Missing::IdpCertificate => "Upload the identity provider's signing certificate as an IdP key in the target org and select it in the provider.",
            Missing::HookSecret => "Re-enter the hook's authorization header value.",
            Missing::HookVerification => "Verify the event hook again (its endpoint must answer Okta's verification request).",
            Missing::AuthenticatorSecret => "Re-enter the authenticator's provider secret (integration secret key or shared secret).",
            Missing::ApiToken => "Issue new API tokens in the target org and update the integrations that used the old ones.",
        }
    }
}

const SIGNED_MODES: [&str; 2] = ["SAML_2_0", "WS_FEDERATION"];
const SECRET_AUTH: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
];

fn str_at<'v>(v: &'v Value, ptr: &str) -> Option<&'v str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// Whether an app provisions accounts downstream (Okta lists provisioning features).
pub fn provisions(app: &Value) -> bool {
    app.get("features")
        .and_then(Value::as_array)
        .is_some_and(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .any(|f| f.starts_with("PUSH_") || f.starts_with("IMPORT_") || f == "GROUP_PUSH")
        })
}

/// What creating `item` (a source item) in the target cannot bring back.
pub fn on_create(resource: ResourceType, item: &Value) -> Vec<Missing> {
    use ResourceType as T;
    let mut out = Vec::new();
    match resource {
        T::Users => {
            let federated = str_at(item, "/credentials/provider/type")
                .is_some_and(|t| !matches!(t, "OKTA" | "IMPORT"));
            if !federated {
                out.push(Missing::UserPassword);
            }
            if item.pointer("/credentials/recovery_question").is_some() {
                out.push(Missing::RecoveryAnswer);
            }
            out.push(Missing::UserFactors);
        }
        T::Apps => {
            let mode = str_at(item, "/signOnMode").unwrap_or_default();
            if SIGNED_MODES.contains(&mode) {
                out.push(Missing::AppSigningCertificate);
            }
            let auth = str_at(item, "/credentials/oauthClient/token_endpoint_auth_method");
            if auth.is_some_and(|a| SECRET_AUTH.contains(&a)) {
                out.push(Missing::ClientSecret);
            }
            if str_at(item, "/credentials/scheme").is_some_and(|s| s.contains("PASSWORD")) {
                out.push(Missing::AppPassword);
            }
            if provisions(item) {
                out.push(Missing::ProvisioningCredentials);
            }
        }
        T::AppUserAssignments if item.pointer("/user/credentials/password").is_some() => {
            out.push(Missing::AppPassword);
        }
        T::Idps => {
            if item
                .pointer("/protocol/credentials/client/client_secret")
                .is_some()
                || str_at(item, "/protocol/type").is_some_and(|t| t == "OIDC" || t == "OAUTH2")
            {
                out.push(Missing::IdpClientSecret);
            }
            if item.pointer("/protocol/credentials/trust/kid").is_some() {
                out.push(Missing::IdpCertificate);
            }
        }
        T::EventHooks | T::InlineHooks => {
            if item.pointer("/channel/config/authScheme").is_some() {
                out.push(Missing::HookSecret);
            }
            if resource == T::EventHooks {
                out.push(Missing::HookVerification);
            }
        }
        // Okta returns a provider's configuration without its secret (Duo's secret key,
        // RADIUS's shared secret).
        T::Authenticators
            if str_at(item, "/provider/type").is_some_and(|t| matches!(t, "DUO" | "RADIUS")) =>
        {
            out.push(Missing::AuthenticatorSecret);
        }
        T::ApiTokens => out.push(Missing::ApiToken),
        _ => {}
    }
    out
}

/// What updating the target's copy to `source` cannot bring back, given the target's `now`.
pub fn on_update(resource: ResourceType, source: &Value, now: &Value) -> Vec<Missing> {
    match resource {
        // The signing key in use differs and cannot be copied between orgs or back.
        ResourceType::Apps
            if str_at(source, "/credentials/signing/kid")
                != str_at(now, "/credentials/signing/kid")
                && str_at(source, "/credentials/signing/kid").is_some() =>
        {
            vec![Missing::AppSigningCertificate]
        }
        _ => Vec::new(),
    }
}
