//! sendgrid-fake: a local stand-in for SendGrid's v3 mail send API, with an inbox to read what
//! was sent and signed event webhooks.
//!
//! - `POST /v3/mail/send`: `Authorization: Bearer <key>`, body validated against the request
//!   schema of SendGrid's OpenAPI spec (`spec/openapi-subset.json`) plus the documented rules
//!   the schema cannot say (text/plain before text/html, reserved headers, a subject unless a
//!   template is used, at most 10 categories); `202` with `X-Message-Id`, or SendGrid's
//!   `{"errors": [{"message", "field", "help"}]}` with 400/401/413.
//! - `GET /v3/user/webhooks/event/settings/signed[/{id}]`: the event webhook's public key
//!   (base64 SubjectPublicKeyInfo), as SendGrid shows it.
//! - Inbox: `GET /` (HTML), `GET /__fake/messages`, `GET /__fake/messages/{id}`,
//!   `DELETE /__fake/messages`.
//! - Control: `POST /__fake/faults {"status", "count", "retry_after"?}` fails the next sends;
//!   `POST /__fake/events {"events": [{"event", "message_id", ...}]}` signs a webhook post the
//!   way SendGrid does (ECDSA P-256 over timestamp + body) and delivers it to `--webhook-url`.

pub mod schema;

use std::collections::VecDeque;
use std::io::{self, Cursor, Read};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tiny_http::{Header, Method, Request, Response, Server};

/// Largest body SendGrid accepts (30 MB, attachments included).
const MAX_BODY: usize = 30 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct FakeConfig {
    pub host: String,
    pub port: u16,
    pub api_key: String,
    /// Where signed event posts go; `None` only returns them.
    pub webhook_url: Option<String>,
    /// Seeds the event-signing key, so a dev stack can know the public key in advance.
    pub key_seed: String,
    /// Post `processed` and `delivered` events for every accepted message.
    pub auto_events: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            host: "127.0.0.1".into(),
            port: 0,
            api_key: "SG.fakefake.0123456789abcdefghijklmn".into(),
            webhook_url: None,
            key_seed: "sendgrid-fake".into(),
            auto_events: false,
        }
    }
}

pub const USAGE: &str = "\
usage: sendgrid-fake [--host H] [--port P] [--api-key SG.x.y] [--webhook-url URL]
                     [--key-seed S] [--auto-events]
Prints `sendgrid-fake listening on http://H:P` once ready.
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
                "--webhook-url" => config.webhook_url = Some(value()?),
                "--key-seed" => config.key_seed = value()?,
                "--auto-events" => config.auto_events = true,
                other => return Err(format!("unknown flag {other}")),
            }
        }
        Ok(config)
    }
}

struct Fault {
    status: u16,
    retry_after: Option<u64>,
}

#[derive(Default)]
struct State {
    messages: Vec<Value>,
    faults: VecDeque<Fault>,
    counter: u64,
}

struct Shared {
    config: FakeConfig,
    key: SigningKey,
    state: Mutex<State>,
}

pub struct RunningFake {
    server: Arc<Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
    public_key: String,
}

impl RunningFake {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The event webhook verification key (base64 DER SubjectPublicKeyInfo).
    pub fn public_key(&self) -> &str {
        &self.public_key
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

fn signing_key(seed: &str) -> SigningKey {
    let mut counter = 0u32;
    loop {
        let digest = Sha256::new()
            .chain_update(seed.as_bytes())
            .chain_update(counter.to_be_bytes())
            .finalize();
        if let Ok(key) = SigningKey::from_bytes(&digest) {
            return key;
        }
        counter += 1;
    }
}

fn public_key_b64(key: &SigningKey) -> String {
    let der = p256::PublicKey::from(key.verifying_key())
        .to_public_key_der()
        .expect("encodes");
    STANDARD.encode(der.as_bytes())
}

pub fn start(config: FakeConfig) -> io::Result<RunningFake> {
    let server =
        Arc::new(Server::http((config.host.as_str(), config.port)).map_err(io::Error::other)?);
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| io::Error::other("no IP address"))?;
    let key = signing_key(&config.key_seed);
    let public_key = public_key_b64(&key);
    let shared = Arc::new(Shared {
        config,
        key,
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
        public_key,
    })
}

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
            body: value.to_string(),
            content_type: "application/json",
            headers: Vec::new(),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: String::new(),
            content_type: "text/plain",
            headers: Vec::new(),
        }
    }

    fn html(status: u16, body: String) -> Reply {
        Reply {
            status,
            body,
            content_type: "text/html; charset=utf-8",
            headers: vec![(
                "Content-Security-Policy".into(),
                "default-src 'none'; style-src 'unsafe-inline'; sandbox".into(),
            )],
        }
    }
}

/// SendGrid's error body.
fn errors(status: u16, list: &[(&str, Option<&str>)]) -> Reply {
    let items: Vec<Value> = list
        .iter()
        .map(|(message, field)| json!({"message": message, "field": field, "help": null}))
        .collect();
    Reply::json(status, &json!({ "errors": items }))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn handle(shared: &Shared, mut request: Request) {
    let mut body = Vec::new();
    let _ = request
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body);
    let method = request.method().clone();
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let auth = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("authorization"))
        .map(|h| h.value.as_str().to_string());
    let reply = route(shared, &method, &path, &body, auth.as_deref());
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

fn authorized(shared: &Shared, auth: Option<&str>) -> Result<(), Reply> {
    match auth.and_then(|a| a.strip_prefix("Bearer ")) {
        Some(k) if k == shared.config.api_key => Ok(()),
        Some(_) => Err(errors(
            401,
            &[(
                "The provided authorization grant is invalid, expired, or revoked",
                None,
            )],
        )),
        None => Err(errors(401, &[("authorization required", None)])),
    }
}

fn route(shared: &Shared, method: &Method, path: &str, body: &[u8], auth: Option<&str>) -> Reply {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::Post, ["v3", "mail", "send"]) => {
            if let Err(reply) = authorized(shared, auth) {
                return reply;
            }
            send(shared, body)
        }
        (Method::Get, ["v3", "user", "webhooks", "event", "settings", "signed", ..]) => {
            if let Err(reply) = authorized(shared, auth) {
                return reply;
            }
            Reply::json(
                200,
                &json!({"id": "fake-webhook", "public_key": public_key_b64(&shared.key)}),
            )
        }
        (Method::Get, [""]) => inbox(shared),
        (Method::Get, ["__fake", "messages"]) => {
            let state = shared.state.lock().expect("state");
            Reply::json(200, &json!({ "messages": state.messages }))
        }
        (Method::Get, ["__fake", "messages", id]) => {
            let state = shared.state.lock().expect("state");
            match state.messages.iter().find(|m| m["id"] == *id) {
                Some(m) => Reply::json(200, m),
                None => Reply::json(404, &json!({"error": "no such message"})),
            }
        }
        (Method::Get, ["__fake", "messages", id, "html"]) => {
            let state = shared.state.lock().expect("state");
            match state.messages.iter().find(|m| m["id"] == *id) {
                Some(m) => Reply::html(200, m["html"].as_str().unwrap_or_default().to_string()),
                None => Reply::html(404, String::new()),
            }
        }
        (Method::Delete, ["__fake", "messages"]) => {
            shared.state.lock().expect("state").messages.clear();
            Reply::empty(204)
        }
        (Method::Post, ["__fake", "faults"]) => {
            let input: Value = serde_json::from_slice(body).unwrap_or_default();
            let status = input["status"].as_u64().unwrap_or(500) as u16;
            let count = input["count"].as_u64().unwrap_or(1);
            let mut state = shared.state.lock().expect("state");
            for _ in 0..count {
                state.faults.push_back(Fault {
                    status,
                    retry_after: input["retry_after"].as_u64(),
                });
            }
            Reply::json(200, &json!({"pending": state.faults.len()}))
        }
        (Method::Post, ["__fake", "events"]) => {
            let input: Value = serde_json::from_slice(body).unwrap_or_default();
            let events = input["events"].as_array().cloned().unwrap_or_default();
            match events_post(shared, &events) {
                Ok(post) => Reply::json(200, &post),
                Err(message) => Reply::json(400, &json!({ "error": message })),
            }
        }
        _ => errors(404, &[("resource not found", None)]),
    }
}

fn send(shared: &Shared, body: &[u8]) -> Reply {
    if body.len() > MAX_BODY {
        return errors(
            413,
            &[(
                "The JSON payload you have included in your request is too large.",
                None,
            )],
        );
    }
    if let Some(fault) = shared.state.lock().expect("state").faults.pop_front() {
        let mut reply = errors(fault.status, &[("injected by sendgrid-fake", None)]);
        if let Some(s) = fault.retry_after {
            reply.headers.push(("Retry-After".into(), s.to_string()));
            reply
                .headers
                .push(("X-RateLimit-Reset".into(), (now() + s as i64).to_string()));
        }
        return reply;
    }
    let mail: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return errors(400, &[("Bad Request", None)]),
    };
    if let Err((message, field)) = schema::check_mail(&mail) {
        return errors(400, &[(&message, Some(&field))]);
    }
    let mut state = shared.state.lock().expect("state");
    state.counter += 1;
    let message_id = format!("fake{:018}", state.counter);
    let content = mail["content"].as_array().cloned().unwrap_or_default();
    let part = |kind: &str| {
        content
            .iter()
            .find(|c| c["type"] == kind)
            .and_then(|c| c["value"].as_str())
            .map(str::to_string)
    };
    let personalization = &mail["personalizations"][0];
    let message = json!({
        "id": message_id,
        "received_at": now(),
        "to": mail["personalizations"].as_array().into_iter().flatten()
            .flat_map(|p| p["to"].as_array().cloned().unwrap_or_default())
            .map(|t| t["email"].clone()).collect::<Vec<_>>(),
        "from": mail["from"],
        "subject": personalization["subject"].as_str().or(mail["subject"].as_str()),
        "headers": mail["headers"],
        "categories": mail["categories"],
        "custom_args": personalization["custom_args"],
        "tracking_settings": mail["tracking_settings"],
        "text": part("text/plain"),
        "html": part("text/html"),
    });
    state.messages.push(message);
    drop(state);
    if shared.config.auto_events {
        let _ = events_post(
            shared,
            &[
                json!({"event": "processed", "message_id": message_id}),
                json!({"event": "delivered", "message_id": message_id}),
            ],
        );
    }
    let mut reply = Reply::empty(202);
    reply.headers.push(("X-Message-Id".into(), message_id));
    reply
}

/// Builds, signs and (if configured) delivers one event webhook post. Each event names a
/// captured message (`message_id`), from which email, `sg_message_id` and custom args come.
fn events_post(shared: &Shared, events: &[Value]) -> Result<Value, String> {
    let mut list = Vec::new();
    let mut state = shared.state.lock().expect("state");
    for spec in events {
        let id = spec["message_id"]
            .as_str()
            .ok_or("every event needs message_id")?;
        let message = state
            .messages
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .ok_or(format!("no captured message {id}"))?;
        state.counter += 1;
        let mut event = json!({
            "email": spec["email"].as_str().or(message["to"][0].as_str()),
            "timestamp": now(),
            "event": spec["event"],
            "sg_event_id": format!("ZmFrZS1ldmVudC0{:08}", state.counter),
            "sg_message_id": format!("{id}.filterdrecv-fake-1"),
            "smtp-id": format!("<{id}@fake.sendgrid.net>"),
            "category": message["categories"],
        });
        for (k, v) in message["custom_args"].as_object().into_iter().flatten() {
            event[k] = v.clone();
        }
        for field in ["type", "reason", "status", "bounce_classification"] {
            if !spec[field].is_null() {
                event[field] = spec[field].clone();
            }
        }
        list.push(event);
    }
    drop(state);
    // SendGrid posts a JSON array followed by CRLF.
    let payload = format!("{}\r\n", Value::Array(list));
    let timestamp = now().to_string();
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(payload.as_bytes());
    let signature: Signature = shared.key.sign(&signed);
    let signature = STANDARD.encode(signature.to_der().as_bytes());
    if let Some(url) = shared.config.webhook_url.clone() {
        let (p, s, t) = (payload.clone(), signature.clone(), timestamp.clone());
        thread::spawn(move || {
            let _ = ureq::post(&url)
                .set("Content-Type", "application/json")
                .set("X-Twilio-Email-Event-Webhook-Signature", &s)
                .set("X-Twilio-Email-Event-Webhook-Timestamp", &t)
                .set("User-Agent", "SendGrid Event API")
                .send_string(&p);
        });
    }
    Ok(json!({"payload": payload, "signature": signature, "timestamp": timestamp}))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn inbox(shared: &Shared) -> Reply {
    let state = shared.state.lock().expect("state");
    let mut rows = String::new();
    for m in state.messages.iter().rev() {
        let to: Vec<&str> = m["to"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        rows.push_str(&format!(
            "<article><h2>{}</h2><p>To {} · from {} · <a href=\"/__fake/messages/{id}\">JSON</a> · <a href=\"/__fake/messages/{id}/html\">HTML part</a></p><pre>{}</pre></article>",
            escape(m["subject"].as_str().unwrap_or("(no subject)")),
            escape(&to.join(", ")),
            escape(m["from"]["email"].as_str().unwrap_or("")),
            escape(m["text"].as_str().unwrap_or("")),
            id = escape(m["id"].as_str().unwrap_or("")),
        ));
    }
    if rows.is_empty() {
        rows.push_str("<p>No mail yet.</p>");
    }
    Reply::html(
        200,
        format!("<!doctype html><html lang=en><title>sendgrid-fake inbox</title><h1>Captured mail ({})</h1>{rows}</html>", state.messages.len()),
    )
}
