//! A whole worker in memory for unit tests of the use cases: the in-memory database (with its
//! tenancy rules), object store, queue and clock, and an Okta org that answers every request as
//! an org with nothing in it but the users a test puts there (or fails, when a test says so);
//! writes succeed, and a user a write creates is listed from then on. Built once per test; its parts are
//! leaked so every borrow lives as long as the test.

use std::cell::{Cell, RefCell};

use chrono::TimeZone;
use futures::executor::block_on;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::{
    json_response, CountingLimiter, ManualClock, MemoryQueue, MemoryStore, ScriptedHttp, SeqRng,
};
use crate::auth::jwks::JwksCache;
use crate::authz::matrix::{Role, Scope};
use crate::authz::{KeyGrant, Principal};
use crate::config::Config;
use crate::ids::{ApiKeyId, ConnectionId, TeamId, UserId};
use crate::jobs::{self, backup};
use crate::ports::{HttpRequest, HttpResponse, Method, TransportError};
use crate::services::audit::{Actor, RequestMeta};
use crate::services::connections::{self, CreateConnection};
use crate::services::{Caller, Deps, Privileged};
use crate::store::memory::MemoryDb;
use crate::store::{BackupRow, BackupStatus};

/// The Okta org of every test world.
pub const ORG: &str = "acme.okta.com";

/// A second org of the fake, as a team's sandbox (it answers from the same scripted state).
pub const SANDBOX_ORG: &str = "acme-sandbox.oktapreview.com";
/// A token of the right shape; the fake org accepts any.
pub const OKTA_TOKEN: &str = "00aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789-_AB";

/// How the fake Okta org answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OktaMode {
    /// An org with nothing in it.
    Empty,
    /// Unreachable: every request fails in transport.
    Down,
    /// Every request answers 401 (a revoked token).
    Revoked,
}

pub struct World {
    pub db: &'static MemoryDb,
    pub objects: &'static MemoryStore,
    pub queue: &'static MemoryQueue,
    pub okta: &'static Cell<OktaMode>,
    pub deps: &'static Deps<'static>,
    /// Every HTTP request the worker made (Okta, the AI provider and SendGrid).
    pub http: &'static ScriptedHttp,
    /// The users the org lists (none unless a test puts some there).
    pub okta_users: &'static RefCell<Vec<Value>>,
    /// Answers the fake org gives instead of its empty one: a request whose path and query
    /// start with the key gets the response (the last matching entry wins).
    pub okta_answers: &'static RefCell<Vec<(String, HttpResponse)>>,
    /// Statuses SendGrid answers the next sends with (then 202 again).
    pub mail_faults: &'static RefCell<Vec<u16>>,
    pub clock: &'static ManualClock,
    users: Cell<u8>,
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

fn id(prefix: u8, n: u8) -> String {
    format!("00000000-0000-4000-8000-0000000{prefix:02x}{n:03}")
}

/// The AI provider the world's worker is configured with (Anthropic's API shape).
pub const AI_PROVIDER: &str = "https://anthropic.test";

/// SendGrid, when a world has email on ([`World::with_email`]).
pub const SENDGRID: &str = "https://sendgrid.test";

/// The fake org's scripted state, and SendGrid's next answers.
struct Scripts {
    users: &'static RefCell<Vec<Value>>,
    answers: &'static RefCell<Vec<(String, HttpResponse)>>,
    mail_faults: &'static RefCell<Vec<u16>>,
}

fn okta(
    mode: &Cell<OktaMode>,
    scripts: &Scripts,
    request: &HttpRequest,
) -> Result<HttpResponse, TransportError> {
    let Scripts {
        users,
        answers,
        mail_faults,
    } = scripts;
    if request.url.starts_with(SENDGRID) {
        let status = mail_faults.borrow_mut().pop().unwrap_or(202);
        let n = mail_faults.borrow().len();
        return Ok(json_response(
            status,
            &json!({"errors": [{"message": "scripted", "field": null}]}),
            &[("x-message-id", &format!("msg-{n}"))],
        ));
    }
    if request.url.starts_with(AI_PROVIDER) {
        return Ok(json_response(
            200,
            &json!({"id": "msg_01", "type": "message", "role": "assistant",
                    "model": "claude-sonnet-4-5", "stop_reason": "end_turn", "stop_sequence": null,
                    "content": [{"type": "text", "text": "Narrow the admin path of group-1."}],
                    "usage": {"input_tokens": 1000, "output_tokens": 200}}),
            &[],
        ));
    }
    match mode.get() {
        OktaMode::Down => return Err(TransportError("connection refused".into())),
        OktaMode::Revoked => {
            return Ok(json_response(
                401,
                &json!({"errorCode": "E0000011", "errorSummary": "Invalid token provided"}),
                &[],
            ))
        }
        OktaMode::Empty => {}
    }
    let path = request
        .url
        .split_once(ORG)
        .or_else(|| request.url.split_once(SANDBOX_ORG))
        .map_or(request.url.as_str(), |(_, p)| p);
    if let Some((_, answer)) = answers
        .borrow()
        .iter()
        .rev()
        .find(|(prefix, _)| path.starts_with(prefix.as_str()))
    {
        return Ok(answer.clone());
    }
    // Writes (a restore's): a created user is listed from then on; other writes succeed.
    if request.method != Method::Get {
        let mut body = json!({});
        if request.method == Method::Post && path.starts_with("/api/v1/users?") {
            let sent: Value = serde_json::from_slice(request.body.as_deref().unwrap_or(b"{}"))
                .unwrap_or_default();
            let id = format!("00uw{}", users.borrow().len() + 1);
            let status = if path.contains("activate=true") {
                "PROVISIONED"
            } else {
                "STAGED"
            };
            body = json!({"id": id, "status": status, "profile": sent["profile"]});
            users.borrow_mut().push(body.clone());
        }
        let n = format!("req-w{}", users.borrow().len());
        return Ok(json_response(200, &body, &[("x-okta-request-id", &n)]));
    }
    if let Some(key) =
        (path.strip_prefix("/api/v1/users/")).filter(|k| *k != "me" && !k.contains(['/', '?']))
    {
        let key = key.replace("%40", "@");
        let found = (users.borrow().iter())
            .find(|u| u["id"] == key.as_str() || u["profile"]["login"] == key.as_str())
            .cloned();
        return Ok(match found {
            Some(u) => json_response(200, &u, &[]),
            None => json_response(404, &json!({"errorCode": "E0000007"}), &[]),
        });
    }
    let body = match path.split('?').next().unwrap_or_default() {
        "/api/v1/users" if !path.contains("filter=") => Value::Array(users.borrow().clone()),
        // Every org has an id (a restore plan pairs the org settings by it).
        "/api/v1/org" => json!({"id": "00o1acme", "subdomain": "acme"}),
        "/api/v1/users/me" | "/api/v1/threats/configuration" => json!({}),
        p if p.starts_with("/api/v1/iam/assignees") => json!({"value": []}),
        _ => json!([]),
    };
    Ok(json_response(200, &body, &[]))
}

/// Stripe settings of a world with billing on ([`World::with_vars`]).
pub const BILLING_VARS: &[(&str, &str)] = &[
    ("STRIPE_SECRET_KEY", "sk_test_0123456789abcdefABCDEF"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_0123456789abcdefABCDEF0123"),
    ("STRIPE_PRICE_STANDARD", "price_std"),
    ("STRIPE_PRICE_BUSINESS", "price_biz"),
];

impl World {
    /// A world with email through SendGrid on (answered at [`SENDGRID`]), teams on Business.
    pub fn with_email() -> World {
        let webhook_key = crate::email::event_webhook::tests::keypair(5).1;
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let (unsubscribe, peppers) = (format!("u1:{key}"), format!("c1:{key}"));
        World::with_vars(&[
            ("DEFAULT_PLAN", "business"),
            ("SENDGRID_API_KEY", "SG.worldkey1.0123456789abcdefghij"),
            ("SENDGRID_API_BASE", SENDGRID),
            ("EMAIL_FROM", "Butterfly <notifications@butterfly.test>"),
            ("SENDGRID_WEBHOOK_PUBLIC_KEY", &webhook_key),
            ("UNSUBSCRIBE_SIGNING_KEYS", &unsubscribe),
            ("VERIFICATION_CODE_PEPPERS", &peppers),
        ])
    }

    /// Moves the worker's and the database's clocks on together.
    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by.to_std().expect("forward"));
        self.db.set_now(self.deps.clock.now());
    }

    /// The SendGrid `mail/send` bodies sent so far.
    pub fn mail_sent(&self) -> Vec<serde_json::Value> {
        self.http
            .requests
            .borrow()
            .iter()
            .filter(|r| r.url.starts_with(SENDGRID))
            .map(|r| serde_json::from_slice(r.body.as_deref().unwrap_or_default()).expect("JSON"))
            .collect()
    }

    /// A world whose teams are all on Business (`DEFAULT_PLAN`), so plan limits stay out of the
    /// way of tests about something else.
    pub fn new() -> World {
        World::with_vars(&[("DEFAULT_PLAN", "business")])
    }

    /// A world with extra configuration (on top of the minimum every world has).
    pub fn with_vars(vars: &[(&str, &str)]) -> World {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let config = Config::from_lookup(|name| {
            if let Some((_, value)) = vars.iter().find(|(n, _)| *n == name) {
                return Some(value.to_string());
            }
            Some(
                match name {
                    "SUPABASE_JWT_SECRET" => "x".repeat(40),
                    "PUBLIC_BASE_URL" => "https://butterfly.test".into(),
                    "POSTGREST_URL" => "https://db.test".into(),
                    "SUPABASE_SERVICE_ROLE_KEY" => "service.jwt".into(),
                    "MASTER_KEYS" => format!("k1:{key}"),
                    "SNAPSHOT_MASTER_SECRET" | "DOWNLOAD_SIGNING_KEY" | "API_KEY_PEPPER" => {
                        key.into()
                    }
                    "ANTHROPIC_API_KEY" => "sk-ant-world".into(),
                    "AI_ANTHROPIC_URL" => AI_PROVIDER.into(),
                    _ => return None,
                }
                .to_string(),
            )
        })
        .expect("test configuration");
        let now = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let clock = leak(ManualClock::at(now));
        let mode = leak(Cell::new(OktaMode::Empty));
        let scripts = leak(Scripts {
            users: leak(RefCell::new(Vec::new())),
            answers: leak(RefCell::default()),
            mail_faults: leak(RefCell::new(Vec::new())),
        });
        let (okta_users, answers, mail_faults) =
            (scripts.users, scripts.answers, scripts.mail_faults);
        let http = leak(ScriptedHttp::new(move |r| okta(mode, scripts, r)));
        let db = leak(MemoryDb::new(now));
        let objects = leak(MemoryStore::default());
        let queue = leak(MemoryQueue::default());
        let deps = leak(Deps {
            config: leak(config),
            http,
            store: objects,
            seal: &crate::crypto::native::RustPrimitives,
            db,
            queue,
            clock,
            rng: leak(SeqRng::new(7)),
            limiter: leak(CountingLimiter::new(1000)),
            jwks: leak(JwksCache::default()),
            ai_breakers: leak(crate::ai::breaker::Breakers::default()),
        });
        World {
            http,
            okta_answers: answers,
            mail_faults,
            db,
            objects,
            queue,
            okta: mode,
            deps,
            okta_users,
            clock,
            users: Cell::new(0),
        }
    }

    /// A new user with a personal team (as sign-up makes).
    pub fn user(&self) -> UserId {
        let n = self.users.get() + 1;
        self.users.set(n);
        let user = UserId::parse(&id(1, n)).unwrap();
        self.db
            .add_team(TeamId::parse(&id(2, n)).unwrap(), user, true);
        user
    }

    /// The personal team of a user made by [`World::user`].
    pub fn team_of(&self, user: UserId) -> TeamId {
        let n = &user.to_string()[33..];
        TeamId::parse(&id(2, n.parse().unwrap())).unwrap()
    }

    /// A new user who is a member of `team` in `role`.
    pub fn member(&self, team: TeamId, role: Role) -> UserId {
        let user = self.user();
        self.db.add_member(team, user, role);
        user
    }

    fn meta(&self) -> RequestMeta {
        RequestMeta {
            request_id: format!("req_{}", self.db.activity.borrow().len()),
            client_request_id: None,
            source_ip: None,
        }
    }

    pub fn caller(&self, user: UserId) -> Caller<'static> {
        let principal = Principal {
            user,
            jwt: String::new(),
            email: Some(format!("{user}@test.local")),
            email_verified: true,
            key: None,
        };
        Caller::new(self.deps, principal, self.meta())
    }

    /// A signed-in `user` whose token does not say their email is confirmed.
    pub fn unverified_caller(&self, user: UserId) -> Caller<'static> {
        let principal = Principal {
            user,
            jwt: String::new(),
            email: Some(format!("{user}@test.local")),
            email_verified: false,
            key: None,
        };
        Caller::new(self.deps, principal, self.meta())
    }

    /// A caller using an API key of `user` for `team` with `scopes`.
    pub fn key_caller(&self, user: UserId, team: TeamId, scopes: &[Scope]) -> Caller<'static> {
        let principal = Principal {
            user,
            jwt: String::new(),
            email: None,
            email_verified: false,
            key: Some(KeyGrant {
                id: ApiKeyId::parse("00000000-0000-4000-8000-0000000000aa").unwrap(),
                team,
                scopes: scopes.to_vec(),
            }),
        };
        Caller::new(self.deps, principal, self.meta())
    }

    /// The worker acting as a job.
    pub fn system(&self, name: &'static str) -> Privileged<'static> {
        Privileged::new(self.deps, Actor::System(name), self.meta())
    }

    pub fn connection_body(&self, team: TeamId) -> CreateConnection {
        CreateConnection {
            org_domain: ORG.into(),
            auth_type: "api_token".into(),
            api_token: Some(Zeroizing::new(OKTA_TOKEN.into())),
            client_id: None,
            restore: false,
            team_id: Some(team.to_string()),
        }
    }

    /// Delivers queued messages (and those they send on) until the queue is empty, like the
    /// queue consumer; returns how many were delivered.
    pub fn drain_queue(&self) -> usize {
        let mut delivered = 0;
        loop {
            let next = {
                let mut sent = self.queue.sent.borrow_mut();
                (!sent.is_empty()).then(|| sent.remove(0))
            };
            let Some((message, _delay)) = next else {
                return delivered;
            };
            let delivery = block_on(jobs::deliver(self.deps, message.clone()));
            delivered += 1;
            if delivery.retry_after.is_some() {
                self.queue.sent.borrow_mut().push((message, 0));
            }
            assert!(delivered < 100, "the queue never drains: {}", delivery.log);
        }
    }

    /// A connection of `owner`'s personal team with one complete backup (audit rows cleared).
    pub fn backed_up(&self, owner: UserId) -> (ConnectionId, BackupRow) {
        let connection = self.connect(owner);
        let row = block_on(backup::request(&self.caller(owner), connection)).expect("backup");
        self.drain_queue();
        let done = self
            .db
            .backups()
            .into_iter()
            .find(|b| b.id == row.id)
            .expect("backup row");
        assert_eq!(done.status, BackupStatus::Complete, "{done:?}");
        self.db.activity.borrow_mut().clear();
        (connection, done)
    }

    /// Another complete backup of `connection`, an hour later (so it has its own prefix).
    pub fn back_up_again(&self, owner: UserId, connection: ConnectionId) -> BackupRow {
        self.clock.advance(std::time::Duration::from_secs(3600));
        self.db.set_now(self.deps.clock.now());
        let row = block_on(backup::request(&self.caller(owner), connection)).expect("backup");
        self.drain_queue();
        let done = (self.db.backups().into_iter())
            .find(|b| b.id == row.id)
            .expect("backup row");
        assert_eq!(done.status, BackupStatus::Complete, "{done:?}");
        done
    }

    /// A second connection of `owner`'s personal team, to [`SANDBOX_ORG`], labelled a sandbox
    /// through the use case (audit rows cleared).
    pub fn connect_sandbox(&self, owner: UserId) -> ConnectionId {
        let mut body = self.connection_body(self.team_of(owner));
        body.org_domain = SANDBOX_ORG.into();
        let caller = self.caller(owner);
        let row = block_on(connections::create(&caller, body))
            .expect("connect sandbox")
            .connection;
        let label = crate::services::drills::EnvironmentRequest {
            environment: crate::store::Environment::Sandbox,
        };
        block_on(crate::services::drills::set_environment(
            &caller, row.id, label,
        ))
        .expect("label sandbox");
        self.db.activity.borrow_mut().clear();
        row.id
    }

    /// A verified connection of `owner`'s personal team, through the use case (audit rows it
    /// writes are cleared, so a test sees only its own).
    pub fn connect(&self, owner: UserId) -> ConnectionId {
        let body = self.connection_body(self.team_of(owner));
        let row = block_on(connections::create(&self.caller(owner), body)).expect("connect");
        self.db.activity.borrow_mut().clear();
        row.connection.id
    }
}
