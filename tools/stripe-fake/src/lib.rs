//! stripe-fake: a local stand-in for the parts of Stripe's API Butterfly calls, speaking Stripe's
//! wire format (API version of `spec/openapi-subset.json`): form-encoded bodies checked against
//! the spec's parameters, `Authorization: Bearer sk_test_...`, `Stripe-Version`,
//! `Idempotency-Key` replay and conflict semantics, Stripe's error bodies, `Request-Id`; and
//! signed webhook events (`Stripe-Signature`, v1 scheme) for what a customer does in Checkout.
//!
//! API: `POST /v1/customers`, `GET|DELETE /v1/customers/{id}`, `POST /v1/checkout/sessions`,
//! `GET /v1/checkout/sessions/{id}`, `POST /v1/billing_portal/sessions`,
//! `GET|DELETE /v1/subscriptions/{id}`, `GET /v1/events/{id}`.
//! Pages: `GET /checkout/{session}` (a pay button) and `GET /portal/{session}`.
//! Control (`/__fake/...`, not Stripe's): complete a checkout, change or fail a subscription's
//! payment, set the clock, list events with their signed payloads, list requests, reset.

pub mod spec;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Cursor, Read};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use tiny_http::{Header, Method, Request, Response, Server};

/// How the fake is set up.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    pub host: String,
    pub port: u16,
    /// The secret key callers must present.
    pub api_key: String,
    /// Signs webhook events (`whsec_...`).
    pub webhook_secret: String,
    /// Where events are POSTed as they happen; `None` keeps them for `/__fake/events` only.
    pub webhook_url: Option<String>,
    /// Recurring prices that exist (`price_...`).
    pub prices: Vec<String>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            host: "127.0.0.1".into(),
            port: 0,
            api_key: "sk_test_fake0123456789abcdef".into(),
            webhook_secret: "whsec_fake0123456789abcdef0123".into(),
            webhook_url: None,
            prices: vec!["price_standard_fake".into(), "price_business_fake".into()],
        }
    }
}

pub const USAGE: &str = "\
usage: stripe-fake [--host H] [--port P] [--api-key sk_test_...] [--webhook-secret whsec_...]
                   [--webhook-url URL] [--prices price_a,price_b]
Prints `stripe-fake listening on http://H:P` once ready.
";

impl FakeConfig {
    pub fn from_args(args: Vec<String>) -> Result<FakeConfig, String> {
        let mut config = FakeConfig::default();
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--host" => config.host = value()?,
                "--port" => config.port = value()?.parse().map_err(|_| "bad --port")?,
                "--api-key" => config.api_key = value()?,
                "--webhook-secret" => config.webhook_secret = value()?,
                "--webhook-url" => config.webhook_url = Some(value()?),
                "--prices" => config.prices = value()?.split(',').map(str::to_string).collect(),
                other => return Err(format!("unknown flag {other}")),
            }
        }
        Ok(config)
    }
}

/// A cached answer to an idempotent POST.
struct Cached {
    operation: String,
    params: Vec<(String, String)>,
    status: u16,
    body: String,
}

#[derive(Default)]
struct State {
    customers: BTreeMap<String, Value>,
    sessions: BTreeMap<String, Value>,
    subscriptions: BTreeMap<String, Value>,
    /// (event, exact payload signed and delivered, Stripe-Signature header)
    events: Vec<(Value, String, String)>,
    idempotency: HashMap<String, Cached>,
    requests: Vec<Value>,
    counter: u64,
    clock: Option<i64>,
}

struct Shared {
    config: FakeConfig,
    origin: String,
    state: Mutex<State>,
}

/// A running fake; stops when dropped.
pub struct RunningFake {
    server: Arc<Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl RunningFake {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningFake {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn start(config: FakeConfig) -> io::Result<RunningFake> {
    let server =
        Arc::new(Server::http((config.host.as_str(), config.port)).map_err(io::Error::other)?);
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| io::Error::other("no IP address"))?;
    let shared = Arc::new(Shared {
        origin: format!("http://{addr}"),
        config,
        state: Mutex::new(State::default()),
    });
    let listener = server.clone();
    let thread = thread::spawn(move || {
        for request in listener.incoming_requests() {
            let shared = shared.clone();
            thread::spawn(move || handle(&shared, request));
        }
    });
    Ok(RunningFake {
        server,
        addr,
        thread: Some(thread),
    })
}

/// What a handler answers.
struct Reply {
    status: u16,
    body: String,
    content_type: &'static str,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            body: serde_json::to_string_pretty(value).expect("json"),
            content_type: "application/json",
            headers: Vec::new(),
        }
    }

    fn html(status: u16, body: String) -> Reply {
        Reply {
            status,
            body,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
        }
    }
}

/// Stripe's error body.
fn error(status: u16, kind: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Reply {
    let mut e = json!({"type": kind, "message": message});
    if let Some(code) = code {
        e["code"] = json!(code);
        e["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        e["param"] = json!(param);
    }
    Reply::json(status, &json!({ "error": e }))
}

fn missing(kind: &str, id: &str, param: &str) -> Reply {
    error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
        Some(param),
    )
}

fn handle(shared: &Shared, mut request: Request) {
    let mut body = Vec::new();
    let _ = request.as_reader().take(1 << 20).read_to_end(&mut body);
    let method = request.method().clone();
    let url = request.url().to_string();
    let path = url.split('?').next().unwrap_or_default().to_string();
    let header = |name: &str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_string())
    };
    let auth = header("authorization");
    let version = header("stripe-version");
    let idempotency_key = header("idempotency-key");
    let content_type = header("content-type").unwrap_or_default();
    let mut reply = if path.starts_with("/v1/") {
        api(
            shared,
            ApiCall {
                method: &method,
                path: &path,
                body: &body,
                auth: auth.as_deref(),
                version: version.as_deref(),
                idempotency_key: idempotency_key.as_deref(),
                content_type: &content_type,
            },
        )
    } else if path.starts_with("/__fake/") {
        control(shared, &method, &path, &body)
    } else {
        page(shared, &method, &path)
    };
    let request_id = shared.next_id("req");
    reply.headers.push(("Request-Id".into(), request_id));
    if path.starts_with("/v1/") {
        reply
            .headers
            .push(("Stripe-Version".into(), spec::api_version().into()));
    }
    let mut response = Response::new(
        reply.status.into(),
        vec![Header::from_bytes("Content-Type", reply.content_type).expect("header")],
        Cursor::new(reply.body.into_bytes()),
        None,
        None,
    );
    for (k, v) in reply.headers {
        if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            response.add_header(h);
        }
    }
    let _ = request.respond(response);
}

impl Shared {
    fn next_id(&self, prefix: &str) -> String {
        let mut state = self.state.lock().expect("state");
        state.next_id(prefix)
    }

    fn now(state: &State) -> i64 {
        state.clock.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default()
        })
    }
}

impl State {
    fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        // 24 base62 characters, like Stripe's ids; deterministic per run.
        let mut x = self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66_D1CE_4E5B;
        let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut id = String::with_capacity(prefix.len() + 25);
        id.push_str(prefix);
        id.push('_');
        for _ in 0..24 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            id.push(alphabet[(x % 62) as usize] as char);
        }
        id
    }
}

/// Nested JSON from bracketed keys with a common prefix: `metadata[team_id]` → `{"team_id"}`.
fn nested(pairs: &[(String, String)], prefix: &str) -> Map<String, Value> {
    let start = format!("{prefix}[");
    pairs
        .iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(&start)?.strip_suffix(']')?;
            (!rest.contains('[')).then(|| (rest.to_string(), Value::String(v.clone())))
        })
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// One `/v1/` request as the API handler reads it.
#[derive(Clone, Copy)]
struct ApiCall<'a> {
    method: &'a Method,
    path: &'a str,
    body: &'a [u8],
    auth: Option<&'a str>,
    version: Option<&'a str>,
    idempotency_key: Option<&'a str>,
    content_type: &'a str,
}

fn api(shared: &Shared, call: ApiCall<'_>) -> Reply {
    let ApiCall {
        method,
        path,
        body,
        auth,
        version,
        idempotency_key,
        content_type,
    } = call;
    let key = auth.and_then(|a| a.strip_prefix("Bearer "));
    match key {
        None => {
            return error(401, "invalid_request_error", None, "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').", None)
        }
        Some(k) if k != shared.config.api_key => {
            let tail: String = k.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            return error(401, "invalid_request_error", None, &format!("Invalid API Key provided: sk_test_****{tail}"), None);
        }
        Some(_) => {}
    }
    if let Some(v) = version {
        if v != spec::api_version() {
            let valid_form = v.len() >= 10 && v.as_bytes()[4] == b'-' && v.as_bytes()[7] == b'-';
            let message = if valid_form {
                format!(
                    "stripe-fake renders API version {} only, not {v}",
                    spec::api_version()
                )
            } else {
                format!("Invalid Stripe API version: {v}")
            };
            return error(400, "invalid_request_error", None, &message, None);
        }
    }
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    let (operation, id) = match (method, segments.as_slice()) {
        (Method::Post, ["customers"]) => ("POST /v1/customers", None),
        (Method::Get, ["customers", id]) => ("GET /v1/customers/{customer}", Some(*id)),
        (Method::Delete, ["customers", id]) => ("DELETE /v1/customers/{customer}", Some(*id)),
        (Method::Post, ["checkout", "sessions"]) => ("POST /v1/checkout/sessions", None),
        (Method::Get, ["checkout", "sessions", id]) => ("GET /v1/checkout/sessions/{session}", Some(*id)),
        (Method::Post, ["billing_portal", "sessions"]) => ("POST /v1/billing_portal/sessions", None),
        (Method::Get, ["subscriptions", id]) => ("GET /v1/subscriptions/{subscription_exposed_id}", Some(*id)),
        (Method::Delete, ["subscriptions", id]) => ("DELETE /v1/subscriptions/{subscription_exposed_id}", Some(*id)),
        (Method::Get, ["events", id]) => ("GET /v1/events/{id}", Some(*id)),
        _ => {
            return error(404, "invalid_request_error", None, &format!("Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."), None)
        }
    };
    if !body.is_empty() && !content_type.starts_with("application/x-www-form-urlencoded") {
        return error(
            400,
            "invalid_request_error",
            None,
            "Invalid request: the body must be application/x-www-form-urlencoded.",
            None,
        );
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    if let Err(e) = spec::check_params(operation, &pairs) {
        return error(
            400,
            "invalid_request_error",
            Some(e.code),
            &e.message,
            Some(&e.param),
        );
    }
    let mut state = shared.state.lock().expect("state");
    state.requests.push(json!({
        "operation": operation, "idempotency_key": idempotency_key, "stripe_version": version,
        "params": pairs.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
    }));
    let idempotent = *method == Method::Post;
    if let (true, Some(k)) = (idempotent, idempotency_key) {
        if k.len() > 255 {
            return error(
                400,
                "invalid_request_error",
                None,
                "Invalid Idempotency-Key: must be at most 255 characters.",
                None,
            );
        }
        if let Some(cached) = state.idempotency.get(k) {
            if cached.operation != operation || cached.params != pairs {
                return error(400, "idempotency_error", None, &format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{k}' if you meant to execute a different request."), None);
            }
            let mut reply = Reply {
                status: cached.status,
                body: cached.body.clone(),
                content_type: "application/json",
                headers: Vec::new(),
            };
            reply
                .headers
                .push(("Idempotent-Replayed".into(), "true".into()));
            reply.headers.push(("Idempotency-Key".into(), k.into()));
            return reply;
        }
    }
    let mut reply = execute(shared, &mut state, operation, id, &pairs);
    if let (true, Some(k)) = (idempotent, idempotency_key) {
        // Stripe saves the result once the endpoint started executing (not for failed validation).
        state.idempotency.insert(
            k.to_string(),
            Cached {
                operation: operation.into(),
                params: pairs.clone(),
                status: reply.status,
                body: reply.body.clone(),
            },
        );
        reply.headers.push(("Idempotency-Key".into(), k.into()));
    }
    reply
}

fn execute(
    shared: &Shared,
    state: &mut State,
    operation: &str,
    id: Option<&str>,
    pairs: &[(String, String)],
) -> Reply {
    let now = Shared::now(state);
    let id = id.unwrap_or_default();
    match operation {
        "POST /v1/customers" => {
            let mut customer = spec::fixture("customer");
            let cid = state.next_id("cus");
            customer["id"] = json!(cid);
            customer["created"] = json!(now);
            customer["email"] = json!(param(pairs, "email"));
            customer["name"] = json!(param(pairs, "name"));
            customer["description"] = json!(param(pairs, "description"));
            customer["metadata"] = Value::Object(nested(pairs, "metadata"));
            customer["livemode"] = json!(false);
            state.customers.insert(cid, customer.clone());
            Reply::json(200, &customer)
        }
        "GET /v1/customers/{customer}" => match state.customers.get(id) {
            Some(c) => Reply::json(200, c),
            None => missing("customer", id, "id"),
        },
        "DELETE /v1/customers/{customer}" => match state.customers.get(id) {
            Some(c) if c["deleted"] == true => missing("customer", id, "id"),
            Some(_) => {
                let deleted = json!({"id": id, "object": "customer", "deleted": true});
                state.customers.insert(id.to_string(), deleted.clone());
                Reply::json(200, &deleted)
            }
            None => missing("customer", id, "id"),
        },
        "POST /v1/checkout/sessions" => create_session(shared, state, pairs, now),
        "GET /v1/checkout/sessions/{session}" => match state.sessions.get(id) {
            Some(s) => Reply::json(200, s),
            None => missing("checkout.session", id, "session"),
        },
        "POST /v1/billing_portal/sessions" => {
            let customer = param(pairs, "customer").unwrap_or_default();
            if !state
                .customers
                .get(customer)
                .is_some_and(|c| c["deleted"] != true)
            {
                return missing("customer", customer, "customer");
            }
            let mut session = spec::fixture("billing_portal.session");
            let sid = state.next_id("bps");
            session["id"] = json!(sid);
            session["customer"] = json!(customer);
            session["created"] = json!(now);
            session["livemode"] = json!(false);
            session["return_url"] = json!(param(pairs, "return_url"));
            session["url"] = json!(format!("{}/portal/{sid}", shared.origin));
            Reply::json(200, &session)
        }
        "GET /v1/subscriptions/{subscription_exposed_id}" => match state.subscriptions.get(id) {
            Some(s) => Reply::json(200, s),
            None => missing("subscription", id, "id"),
        },
        "DELETE /v1/subscriptions/{subscription_exposed_id}" => {
            let Some(sub) = state.subscriptions.get(id).cloned() else {
                return missing("subscription", id, "id");
            };
            if sub["status"] == "canceled" {
                return missing("subscription", id, "id");
            }
            let mut canceled = sub.clone();
            canceled["status"] = json!("canceled");
            canceled["canceled_at"] = json!(now);
            canceled["ended_at"] = json!(now);
            state.subscriptions.insert(id.to_string(), canceled.clone());
            emit(
                shared,
                state,
                "customer.subscription.deleted",
                &canceled,
                None,
            );
            Reply::json(200, &canceled)
        }
        "GET /v1/events/{id}" => match state.events.iter().find(|(e, _, _)| e["id"] == id) {
            Some((e, _, _)) => Reply::json(200, e),
            None => missing("event", id, "id"),
        },
        _ => unreachable!("routed operations only"),
    }
}

fn create_session(
    shared: &Shared,
    state: &mut State,
    pairs: &[(String, String)],
    now: i64,
) -> Reply {
    let mode = param(pairs, "mode").unwrap_or("payment");
    let customer = param(pairs, "customer");
    if let Some(c) = customer {
        if !state.customers.get(c).is_some_and(|c| c["deleted"] != true) {
            return missing("customer", c, "customer");
        }
    }
    let price = param(pairs, "line_items[0][price]");
    if mode == "subscription" {
        let Some(price) = price else {
            return error(400, "invalid_request_error", None, "You must provide at least one recurring price in `subscription` mode when using prices.", None);
        };
        if !shared.config.prices.iter().any(|p| p == price) {
            return missing("price", price, "line_items[0][price]");
        }
    }
    let mut session = spec::fixture("checkout.session");
    let sid = state.next_id("cs_test");
    session["id"] = json!(sid);
    session["object"] = json!("checkout.session");
    session["mode"] = json!(mode);
    session["customer"] = json!(customer);
    session["client_reference_id"] = json!(param(pairs, "client_reference_id"));
    session["success_url"] = json!(param(pairs, "success_url"));
    session["cancel_url"] = json!(param(pairs, "cancel_url"));
    session["metadata"] = Value::Object(nested(pairs, "metadata"));
    session["status"] = json!("open");
    session["payment_status"] = json!("unpaid");
    session["subscription"] = Value::Null;
    session["livemode"] = json!(false);
    session["created"] = json!(now);
    session["expires_at"] = json!(now + 24 * 3600);
    session["url"] = json!(format!("{}/checkout/{sid}", shared.origin));
    // Kept for completion (not part of Stripe's object): what the subscription will be.
    let pending = json!({
        "price": price,
        "trial_period_days": param(pairs, "subscription_data[trial_period_days]").and_then(|d| d.parse::<i64>().ok()),
        "metadata": nested(pairs, "subscription_data[metadata]"),
    });
    state.sessions.insert(sid.clone(), session.clone());
    state.sessions.insert(format!("pending:{sid}"), pending);
    Reply::json(200, &session)
}

/// Records an event and delivers it if a webhook URL is set.
fn emit(shared: &Shared, state: &mut State, kind: &str, object: &Value, previous: Option<Value>) {
    let now = Shared::now(state);
    let mut event = spec::fixture("event");
    event["id"] = json!(state.next_id("evt"));
    event["type"] = json!(kind);
    event["created"] = json!(now);
    event["livemode"] = json!(false);
    event["api_version"] = json!(spec::api_version());
    event["pending_webhooks"] = json!(1);
    event["request"] = json!({"id": null, "idempotency_key": null});
    event["data"] = json!({ "object": object });
    if let Some(previous) = previous {
        event["data"]["previous_attributes"] = previous;
    }
    if let Some(account) = event.as_object_mut() {
        account.remove("account");
    }
    let payload = serde_json::to_string_pretty(&event).expect("json");
    let header = signature_header(&shared.config.webhook_secret, now, &payload);
    state.events.push((event, payload.clone(), header.clone()));
    if let Some(url) = shared.config.webhook_url.clone() {
        thread::spawn(move || {
            let _ = ureq::post(&url)
                .set("Content-Type", "application/json; charset=utf-8")
                .set("Stripe-Signature", &header)
                .set(
                    "User-Agent",
                    "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                )
                .send_string(&payload);
        });
    }
}

/// `t=...,v1=...`: HMAC-SHA256 keyed by the whole secret over `{t}.{payload}`.
pub fn signature_header(secret: &str, timestamp: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    format!("t={timestamp},v1={}", hex(&mac.finalize().into_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn complete_checkout(shared: &Shared, state: &mut State, sid: &str) -> Result<Value, Reply> {
    let Some(session) = state.sessions.get(sid).cloned() else {
        return Err(missing("checkout.session", sid, "session"));
    };
    if session["status"] != "open" {
        return Err(error(
            400,
            "invalid_request_error",
            None,
            "This Checkout Session is no longer open.",
            None,
        ));
    }
    let pending = state
        .sessions
        .get(&format!("pending:{sid}"))
        .cloned()
        .unwrap_or_default();
    let now = Shared::now(state);
    let customer = match session["customer"].as_str() {
        Some(c) => c.to_string(),
        None => {
            let mut c = spec::fixture("customer");
            let cid = state.next_id("cus");
            c["id"] = json!(cid);
            c["created"] = json!(now);
            state.customers.insert(cid.clone(), c);
            cid
        }
    };
    let mut session = session;
    session["customer"] = json!(customer);
    session["status"] = json!("complete");
    session["payment_status"] = json!("paid");
    session["url"] = Value::Null;
    if session["mode"] == "subscription" {
        let trial = pending["trial_period_days"].as_i64();
        let sub_id = state.next_id("sub");
        let mut sub = spec::fixture("subscription");
        sub["id"] = json!(sub_id);
        sub["customer"] = json!(customer);
        sub["status"] = json!(if trial.is_some() {
            "trialing"
        } else {
            "active"
        });
        sub["created"] = json!(now);
        sub["start_date"] = json!(now);
        sub["billing_cycle_anchor"] = json!(now + trial.unwrap_or(0) * 86_400);
        sub["current_period_start"] = json!(now);
        sub["current_period_end"] = json!(now + trial.map_or(30, |d| d) * 86_400);
        sub["trial_start"] = json!(trial.map(|_| now));
        sub["trial_end"] = json!(trial.map(|d| now + d * 86_400));
        sub["cancel_at"] = Value::Null;
        sub["canceled_at"] = Value::Null;
        sub["ended_at"] = Value::Null;
        sub["cancel_at_period_end"] = json!(false);
        sub["livemode"] = json!(false);
        sub["metadata"] = pending["metadata"].clone();
        sub["latest_invoice"] = Value::Null;
        set_price(&mut sub, pending["price"].as_str().unwrap_or_default(), now);
        session["subscription"] = json!(sub_id);
        state.subscriptions.insert(sub_id.clone(), sub.clone());
        state.sessions.insert(sid.to_string(), session.clone());
        emit(shared, state, "checkout.session.completed", &session, None);
        emit(shared, state, "customer.subscription.created", &sub, None);
        let invoice = invoice_for(state, &sub, true, now);
        emit(shared, state, "invoice.paid", &invoice, None);
    } else {
        state.sessions.insert(sid.to_string(), session.clone());
        emit(shared, state, "checkout.session.completed", &session, None);
    }
    Ok(session)
}

fn set_price(sub: &mut Value, price: &str, now: i64) {
    let sub_id = sub["id"].clone();
    if let Some(item) = sub["items"]["data"].get_mut(0) {
        item["price"]["id"] = json!(price);
        item["subscription"] = sub_id.clone();
        item["created"] = json!(now);
        if item.get("plan").is_some() {
            item["plan"]["id"] = json!(price);
        }
    }
    sub["items"]["url"] = json!(format!(
        "/v1/subscription_items?subscription={}",
        sub_id.as_str().unwrap_or_default()
    ));
    if sub.get("plan").is_some_and(|p| !p.is_null()) {
        sub["plan"]["id"] = json!(price);
    }
}

fn invoice_for(state: &mut State, sub: &Value, paid: bool, now: i64) -> Value {
    let mut invoice = spec::fixture("invoice");
    invoice["id"] = json!(state.next_id("in"));
    invoice["customer"] = sub["customer"].clone();
    invoice["subscription"] = sub["id"].clone();
    invoice["created"] = json!(now);
    invoice["livemode"] = json!(false);
    invoice["paid"] = json!(paid);
    invoice["status"] = json!(if paid { "paid" } else { "open" });
    invoice["attempted"] = json!(true);
    invoice["attempt_count"] = json!(1);
    invoice["next_payment_attempt"] = if paid {
        Value::Null
    } else {
        json!(now + 3 * 86_400)
    };
    invoice
}

fn control(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Reply {
    let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let segments: Vec<&str> = path.trim_start_matches("/__fake/").split('/').collect();
    let mut state = shared.state.lock().expect("state");
    match (method, segments.as_slice()) {
        (Method::Post, ["checkout", sid, "complete"]) => {
            match complete_checkout(shared, &mut state, sid) {
                Ok(session) => Reply::json(200, &session),
                Err(reply) => reply,
            }
        }
        (Method::Post, ["subscriptions", id, "update"]) => {
            let Some(mut sub) = state.subscriptions.get(*id).cloned() else {
                return missing("subscription", id, "id");
            };
            let mut previous = Map::new();
            if let Some(status) = input["status"].as_str() {
                previous.insert("status".into(), sub["status"].clone());
                sub["status"] = json!(status);
            }
            if let Some(price) = input["price"].as_str() {
                if !shared.config.prices.iter().any(|p| p == price) {
                    return missing("price", price, "price");
                }
                previous.insert("items".into(), sub["items"].clone());
                let now = Shared::now(&state);
                set_price(&mut sub, price, now);
            }
            if let Some(flag) = input["cancel_at_period_end"].as_bool() {
                previous.insert(
                    "cancel_at_period_end".into(),
                    sub["cancel_at_period_end"].clone(),
                );
                sub["cancel_at_period_end"] = json!(flag);
            }
            state.subscriptions.insert(id.to_string(), sub.clone());
            emit(
                shared,
                &mut state,
                "customer.subscription.updated",
                &sub,
                Some(Value::Object(previous)),
            );
            Reply::json(200, &sub)
        }
        (Method::Post, ["subscriptions", id, "payment_failed"]) => {
            let Some(mut sub) = state.subscriptions.get(*id).cloned() else {
                return missing("subscription", id, "id");
            };
            let now = Shared::now(&state);
            let invoice = invoice_for(&mut state, &sub, false, now);
            emit(shared, &mut state, "invoice.payment_failed", &invoice, None);
            let previous = json!({"status": sub["status"].clone()});
            sub["status"] = json!("past_due");
            state.subscriptions.insert(id.to_string(), sub.clone());
            emit(
                shared,
                &mut state,
                "customer.subscription.updated",
                &sub,
                Some(previous),
            );
            Reply::json(200, &sub)
        }
        (Method::Post, ["clock"]) => {
            state.clock = input["now"].as_i64();
            Reply::json(200, &json!({"now": state.clock}))
        }
        (Method::Get, ["events"]) => {
            let list: Vec<Value> = state
                .events
                .iter()
                .map(|(e, payload, header)| json!({"id": e["id"], "type": e["type"], "payload": payload, "stripe_signature": header}))
                .collect();
            Reply::json(200, &json!({ "events": list }))
        }
        (Method::Get, ["requests"]) => Reply::json(200, &json!({ "requests": state.requests })),
        (Method::Post, ["reset"]) => {
            *state = State::default();
            Reply::json(200, &json!({"reset": true}))
        }
        _ => Reply::json(404, &json!({"error": "no such control endpoint"})),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(shared: &Shared, method: &Method, path: &str) -> Reply {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::Get, ["checkout", sid]) => {
            let state = shared.state.lock().expect("state");
            let Some(session) = state.sessions.get(*sid) else {
                return Reply::html(404, "<!doctype html><title>Not found</title><p>No such Checkout Session.".into());
            };
            let price = state.sessions.get(&format!("pending:{sid}")).map(|p| p["price"].to_string()).unwrap_or_default();
            Reply::html(200, format!(
                "<!doctype html><html lang=en><title>stripe-fake Checkout</title><h1>Checkout (stripe-fake)</h1>\
                 <p>Session {} for price {}, status {}.</p>\
                 <form method=post action=\"/checkout/{}/pay\"><button>Pay with a test card</button></form>\
                 <p><a href=\"{}\">Cancel</a></p></html>",
                escape(sid), escape(&price), escape(session["status"].as_str().unwrap_or("")), escape(sid),
                escape(session["cancel_url"].as_str().unwrap_or("/")),
            ))
        }
        (Method::Post, ["checkout", sid, "pay"]) => {
            let mut state = shared.state.lock().expect("state");
            match complete_checkout(shared, &mut state, sid) {
                Ok(session) => {
                    let mut reply = Reply::html(303, String::new());
                    let to = session["success_url"].as_str().unwrap_or("/").replace("{CHECKOUT_SESSION_ID}", sid);
                    reply.headers.push(("Location".into(), to));
                    reply
                }
                Err(reply) => reply,
            }
        }
        (Method::Get, ["portal", sid]) => Reply::html(200, format!(
            "<!doctype html><html lang=en><title>stripe-fake Customer Portal</title><h1>Customer Portal (stripe-fake)</h1><p>Session {}.</p></html>",
            escape(sid)
        )),
        _ => Reply::html(404, "<!doctype html><title>Not found</title>".into()),
    }
}
