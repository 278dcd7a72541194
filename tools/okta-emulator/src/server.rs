//! The HTTP side: a tiny_http listener that hands every request to its own thread, so slow pages
//! overlap and the concurrency limit sees real parallelism, as a real org would.

use std::io::{self, Cursor, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
#[cfg(unix)]
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::{json, Value};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::auth::{Auth, CallProof, Principal};
use crate::config::EmulatorConfig;
use crate::errors::ApiError;
use crate::faults::{Candidate, Effect, Fault, Faults, Stage};
use crate::paging::{Cursors, Query};
use crate::prng::SplitMix64;
use crate::rate_limit::{Bucket, Concurrency, RateLimiter, Verdict};
use crate::routes::{self, Call};
use crate::stats::{Family, Stats};
use crate::syslog::{self, Actor, Client, Context, SystemLog};
use crate::tenant::{with_origin, Tenant};
use crate::time::{now_epoch_ms, now_epoch_secs, parse_iso8601};
use crate::writes::{self, Env, Write};

/// Largest API request body read; the largest Okta payloads (apps, policies) are a few kilobytes.
const MAX_API_BODY: u64 = 1024 * 1024;

/// Largest control body read: fault specs are a few dozen bytes, change batches a few kilobytes.
const MAX_CONTROL_BODY: u64 = 1024 * 1024;

type JsonResponse = Response<Cursor<Vec<u8>>>;

/// How a request is answered: with a response, or (an injected reset) not at all.
enum Answer {
    Respond(JsonResponse),
    Reset,
}

/// A listening emulator. Dropping it (or [`RunningEmulator::stop`]) stops the listener.
pub struct RunningEmulator {
    server: Arc<Server>,
    state: Arc<State>,
    addr: SocketAddr,
    accept_loop: Option<JoinHandle<()>>,
}

struct State {
    /// The org: read by every API request, changed by writes one at a time.
    tenant: RwLock<Tenant>,
    log: SystemLog,
    /// New ids for objects writes create (its own stream, so reads never shift it).
    ids: Mutex<SplitMix64>,
    auth: Auth,
    limiter: RateLimiter,
    concurrency: Concurrency,
    stats: Stats,
    faults: Faults,
    cursors: Cursors,
    page_delay: Duration,
    /// Origin for links when a request has no usable `Host` header.
    fallback_origin: String,
    /// The listening port, to find a connection's socket when a fault resets it.
    port: u16,
    seed: u64,
    requests: AtomicU64,
}

/// Generates the tenant for `config` and starts serving it.
pub fn start(config: EmulatorConfig) -> io::Result<RunningEmulator> {
    let server = Server::http((config.host.as_str(), config.port)).map_err(io::Error::other)?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| io::Error::other("listener has no IP address"))?;
    let addr = connectable(bound);
    let tenant = crate::tenant(&config);
    let log = SystemLog::new(config.seed, config.log_history, &tenant, now_epoch_ms());
    let state = Arc::new(State {
        tenant: RwLock::new(tenant),
        log,
        ids: Mutex::new(SplitMix64::new(config.seed ^ 0x7772_6974_6573_0001)),
        auth: Auth::new(&config.api_tokens, &config.bearer_tokens),
        limiter: RateLimiter::new(config.rate_limits.clone(), config.time_scale),
        concurrency: Concurrency::new(config.concurrency_limit),
        stats: Stats::default(),
        faults: Faults::default(),
        cursors: Cursors::with_ttl(config.cursor_ttl),
        page_delay: config.page_delay,
        fallback_origin: format!("http://{addr}"),
        port: addr.port(),
        seed: config.seed,
        requests: AtomicU64::new(0),
    });
    let server = Arc::new(server);
    let accept_loop = {
        let (server, state) = (Arc::clone(&server), Arc::clone(&state));
        thread::Builder::new()
            .name("okta-emulator-accept".to_owned())
            .spawn(move || accept(&server, &state))?
    };
    Ok(RunningEmulator {
        server,
        state,
        addr,
        accept_loop: Some(accept_loop),
    })
}

impl RunningEmulator {
    /// `http://host:port`, with no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A copy of the data being served right now, to compare a client's view against.
    pub fn tenant(&self) -> Tenant {
        self.state.read_tenant().clone()
    }

    /// Every System Log event stored so far, oldest first.
    pub fn log_events(&self) -> Vec<Value> {
        self.state
            .log
            .entries()
            .into_iter()
            .map(|e| e.event)
            .collect()
    }

    /// Stops accepting requests; requests already being answered finish on their own threads.
    pub fn stop(self) {}
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(handle) = self.accept_loop.take() {
            // The loop only ends; a panic in it has nothing left to clean up.
            let _ = handle.join();
        }
    }
}

/// A wildcard bind address is not something a client can call; use loopback instead.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

fn accept(server: &Server, state: &Arc<State>) {
    // `recv` fails once `unblock` is called (or the listener breaks): either way, stop.
    while let Ok(request) = server.recv() {
        let state = Arc::clone(state);
        if let Err(err) = thread::Builder::new().spawn(move || handle(&state, request)) {
            eprintln!("okta-emulator: cannot spawn a request thread: {err}");
        }
    }
}

fn handle(state: &State, mut request: Request) {
    let target = request.url().to_owned();
    let (path, raw_query) = target.split_once('?').unwrap_or((&target, ""));
    let answer = match path.strip_prefix("/__emulator/") {
        Some(control_path) => Answer::Respond(control(state, &mut request, control_path)),
        None if path == "/oauth2/v1/token" => {
            let body = read_body(&mut request);
            Answer::Respond(token(state, &request, body))
        }
        None => {
            let body = read_body(&mut request);
            api(state, &request, body, &target, path, raw_query)
        }
    };
    match answer {
        // The client may have hung up; there is nobody left to tell.
        Answer::Respond(response) => drop(request.respond(response)),
        Answer::Reset => reset_connection(state, request),
    }
}

/// Closes the request's connection without a response byte, so the client sees a transport
/// error (the connection closed before any response), as on a reset or a dropped proxy hop.
///
/// tiny_http cannot close a connection, so the socket is found among the process's descriptors by
/// its two addresses and shut down; the connection's reader then sees the end and lets it go.
/// Where that is impossible, tiny_http answers the unanswered request with a bare 500.
fn reset_connection(state: &State, request: Request) {
    let closed = request
        .remote_addr()
        .is_some_and(|peer| shutdown_socket(state.port, *peer));
    if closed {
        // Nothing is written through it: the socket is already shut.
        drop(request.into_writer());
    } else {
        eprintln!("okta-emulator: cannot reset this connection; answering 500 instead");
    }
}

/// Shuts down (both ways) the accepted socket on `local_port` whose peer is `peer`.
#[cfg(unix)]
fn shutdown_socket(local_port: u16, peer: SocketAddr) -> bool {
    use std::os::fd::{BorrowedFd, RawFd};

    let Ok(entries) = std::fs::read_dir("/dev/fd") else {
        return false;
    };
    for entry in entries.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: `fd` was listed as open a moment ago and is only duplicated here (the
        // duplicate is ours to close). Had it been closed since, `dup` fails; had the number been
        // reused, the duplicate is some other file, which the address check below rejects.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let Ok(owned) = borrowed.try_clone_to_owned() else {
            continue;
        };
        let socket = TcpStream::from(owned);
        let ours = socket.local_addr().is_ok_and(|a| a.port() == local_port);
        if ours && socket.peer_addr().is_ok_and(|p| p == peer) {
            return socket.shutdown(Shutdown::Both).is_ok();
        }
    }
    false
}

#[cfg(not(unix))]
fn shutdown_socket(_local_port: u16, _peer: SocketAddr) -> bool {
    false
}

/// One API request as the server sees it, before routing.
struct Incoming<'r> {
    request: &'r Request,
    /// The request body (`Err`: larger than Okta takes).
    body: Result<Vec<u8>, ApiError>,
    method: String,
    target: &'r str,
    path: &'r str,
    query: Query<'r>,
    origin: String,
}

fn api(
    state: &State,
    request: &Request,
    body: Result<Vec<u8>, ApiError>,
    target: &str,
    path: &str,
    raw_query: &str,
) -> Answer {
    let incoming = Incoming {
        request,
        body,
        method: request.method().as_str().to_ascii_uppercase(),
        target,
        path,
        query: Query::parse(raw_query),
        origin: origin(request).unwrap_or_else(|| state.fallback_origin.clone()),
    };
    let bucket = Bucket::for_request(&incoming.method, path);
    let family = Family::for_path(path);
    state.stats.record_request(family, bucket);
    let request_id = state.next_request_id();
    let mut headers = vec![("X-Okta-Request-Id", request_id.clone())];

    let slot = state.concurrency.enter();
    let verdict = if slot.over_limit() {
        Verdict::over_concurrency(now_epoch_secs())
    } else {
        state.limiter.check(bucket, now_epoch_secs())
    };
    // Injected faults hit requests the rate limits let through.
    let before = Candidate {
        has_cursor: incoming.query.get("after").is_some(),
        ..Candidate::default()
    };
    let injection = verdict
        .allowed
        .then(|| state.faults.take(path, Stage::Before, before))
        .flatten();
    if let Some(injection) = injection {
        thread::sleep(injection.delay);
    }
    let mut effect = injection.and_then(|i| i.effect);
    let outcome = match effect {
        _ if !verdict.allowed => Err(ApiError::rate_limited()),
        Some(Effect::Reset) => return Answer::Reset,
        Some(Effect::Status { status, .. }) => Err(ApiError::injected(status)),
        Some(Effect::ExpiredCursor) => Err(ApiError::invalid_paging()),
        Some(Effect::RevokeToken) => {
            if let Ok(principal) = state.auth.authenticate(header(request, "Authorization")) {
                state.auth.revoke(Some(principal.token()));
            }
            Err(ApiError::invalid_token())
        }
        _ => answer(state, &incoming, &request_id),
    };
    drop(slot);
    let outcome = outcome.map(|reply| {
        let after = Candidate {
            is_list: reply.body.is_array(),
            has_next: reply.links.iter().any(|l| l.ends_with("rel=\"next\"")),
            ..before
        };
        match state.faults.take(path, Stage::After, after) {
            Some(injection) => {
                effect = injection.effect;
                reshape_links(state, &incoming, reply, injection.effect)
            }
            None => reply,
        }
    });
    // Every 429 says the window is used up, injected ones included.
    let remaining = match &outcome {
        Err(error) if error.status == 429 => 0,
        _ => verdict.remaining,
    };
    let reset = match effect {
        Some(Effect::Status {
            status: 429,
            reset_in_s: Some(seconds),
        }) => now_epoch_secs().ceil() as u64 + seconds,
        _ => verdict.reset,
    };

    headers.push(("X-Rate-Limit-Limit", verdict.limit.to_string()));
    headers.push(("X-Rate-Limit-Remaining", remaining.to_string()));
    headers.push(("X-Rate-Limit-Reset", reset.to_string()));
    let (status, body) = match outcome {
        Ok(reply) => {
            headers.extend(reply.links.into_iter().map(|link| ("Link", link)));
            (reply.status, reply.body)
        }
        Err(error) => {
            if error.status == 429 {
                state.stats.record_rate_limited(family, bucket);
            }
            if error.status == 405 {
                headers.push(("Allow", "GET".to_owned()));
            }
            if error.status == 403 {
                headers.extend(insufficient_scope(&incoming));
            }
            (error.status, error.body(&request_id))
        }
    };
    // 202 and 204 answers have no body.
    let mut bytes = if body.is_null() && matches!(status, 202 | 204) {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    if effect == Some(Effect::Malformed) {
        // A strict prefix of a JSON array or object is never valid JSON: the page as a cut
        // transfer or a broken proxy delivers it, cut mid-item, with a matching Content-Length.
        bytes.truncate(bytes.len() / 2);
    }
    Answer::Respond(respond(status, bytes, &headers))
}

/// The `next` link a link fault gives a list page instead of its own.
fn reshape_links(
    state: &State,
    incoming: &Incoming,
    mut reply: routes::Reply,
    effect: Option<Effect>,
) -> routes::Reply {
    let query = match effect {
        Some(Effect::LoopNext) => incoming.query.first_page(),
        Some(Effect::EmptyNext) => {
            // Right after the last item there is nothing: an empty page without a `next` link,
            // as Okta's lists sometimes end.
            let last = reply
                .body
                .as_array()
                .and_then(|items| items.last())
                .and_then(|item| item["id"].as_str())
                .unwrap_or_default();
            let cursor = state.cursors.encode(last, now_epoch_ms());
            incoming.query.with_after(&cursor)
        }
        _ => return reply,
    };
    reply.links.retain(|l| !l.ends_with("rel=\"next\""));
    let separator = if query.is_empty() { "" } else { "?" };
    reply.links.push(format!(
        "<{}{}{separator}{query}>; rel=\"next\"",
        incoming.origin, incoming.path
    ));
    reply
}

/// The `WWW-Authenticate` challenge Okta adds when an access token lacks the endpoint's scope
/// (as recorded in github.com/okta/terraform-provider-okta issue 2375).
fn insufficient_scope(incoming: &Incoming) -> Option<(&'static str, String)> {
    let bearer = header(incoming.request, "Authorization").is_some_and(|h| {
        let h = h.trim_start().to_ascii_lowercase();
        h.starts_with("bearer ") || h.starts_with("dpop ")
    });
    let scope = Principal::required_scope(&incoming.method, incoming.path)?;
    let origin = &incoming.origin;
    bearer.then(|| {
        (
            "WWW-Authenticate",
            format!(
                "Bearer authorization_uri=\"{origin}/oauth2/v1/authorize\", realm=\"{origin}\", \
                 scope=\"{scope}\", error=\"insufficient_scope\", error_description=\"The access \
                 token provided does not contain the required scopes.\", resource=\"{}\"",
                incoming.path
            ),
        )
    })
}

/// Everything after the rate limits and injected faults: latency, authentication, routing.
fn answer(state: &State, incoming: &Incoming, request_id: &str) -> Result<routes::Reply, ApiError> {
    thread::sleep(state.page_delay);
    let url = format!("{}{}", incoming.origin, incoming.path);
    let proof = CallProof {
        proof: header(incoming.request, "DPoP"),
        method: &incoming.method,
        url: &url,
    };
    let principal = state
        .auth
        .authenticate_call(header(incoming.request, "Authorization"), Some(&proof))?;
    if !principal.may_call(&incoming.method, incoming.path) {
        return Err(ApiError::access_denied());
    }
    if let Some(reply) = grants(state, incoming)? {
        return Ok(reply);
    }
    if *incoming.request.method() != Method::Get {
        return write(state, incoming, &principal, request_id);
    }
    let call = Call {
        origin: &incoming.origin,
        target: incoming.target,
        path: incoming.path,
        query: incoming.query.clone(),
        cursors: state.cursors,
        now_ms: now_epoch_ms(),
    };
    if incoming.path == "/api/v1/logs" {
        return syslog::list(&state.log, &call);
    }
    routes::route(&state.read_tenant(), &call)
}

/// `/api/v1/apps/{appId}/grants[/{grantId}]`: the Okta scopes an app may request.
fn grants(state: &State, incoming: &Incoming) -> Result<Option<routes::Reply>, ApiError> {
    let rest = incoming.path.strip_prefix("/api/v1/apps/");
    let segments: Vec<&str> = rest.map(|r| r.split('/').collect()).unwrap_or_default();
    let oauth = &state.auth.oauth;
    let reply = |status, body| {
        Ok(Some(routes::Reply {
            status,
            body,
            links: Vec::new(),
        }))
    };
    match (incoming.method.as_str(), segments.as_slice()) {
        ("GET", [app, "grants"]) => {
            if state.read_tenant().app(app).is_none() {
                return Err(ApiError::not_found("AppInstance", app));
            }
            reply(200, Value::Array(oauth.grants(app)))
        }
        ("POST", [app, "grants"]) => {
            let bytes = incoming.body.clone()?;
            let body: Value =
                serde_json::from_slice(&bytes).map_err(|_| ApiError::malformed_body())?;
            let mut ids = state.ids.lock().unwrap_or_else(PoisonError::into_inner);
            let grant = oauth.grant(
                &state.read_tenant(),
                app,
                &body,
                &incoming.origin,
                &mut ids,
                now_epoch_ms(),
            )?;
            reply(201, grant)
        }
        ("DELETE", [app, "grants", grant]) => {
            if oauth.revoke_grant(app, grant) {
                reply(204, Value::Null)
            } else {
                Err(ApiError::not_found("OAuth2ScopeConsentGrant", grant))
            }
        }
        _ => Ok(None),
    }
}

/// `POST /oauth2/v1/token` of the org authorization server (see [`crate::oauth`]).
fn token(state: &State, request: &Request, body: Result<Vec<u8>, ApiError>) -> JsonResponse {
    let origin = origin(request).unwrap_or_else(|| state.fallback_origin.clone());
    let no_store = [
        ("Cache-Control", "no-store".to_owned()),
        ("Pragma", "no-cache".to_owned()),
    ];
    if *request.method() != Method::Post {
        let error = ApiError::method_not_allowed();
        return json_response(405, &error.body(&state.next_request_id()), &no_store);
    }
    let form = body
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let issued = state.auth.oauth.token(
        &state.read_tenant(),
        &format!("{origin}/oauth2/v1/token"),
        &form,
        header(request, "DPoP"),
        now_epoch_secs() as u64,
        || {
            let mut ids = state.ids.lock().unwrap_or_else(PoisonError::into_inner);
            ids.base62(48)
        },
    );
    match issued {
        Ok(body) => json_response(200, &body, &no_store),
        Err(error) => {
            let mut headers = no_store.to_vec();
            if error.nonce {
                headers.push(("DPoP-Nonce", state.auth.oauth.nonce().to_owned()));
            }
            json_response(error.status, &error.body(), &headers)
        }
    }
}

/// A write through the API: the caller's token decides the actor, the connection the client,
/// the request id the transaction, as Okta records API changes.
fn write(
    state: &State,
    incoming: &Incoming,
    principal: &Principal,
    request_id: &str,
) -> Result<routes::Reply, ApiError> {
    let bytes = incoming.body.clone()?;
    let body: Option<Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(serde_json::from_slice(&bytes).map_err(|_| ApiError::malformed_body())?)
    };
    let actor = match principal {
        Principal::ApiToken(_) => Actor::user(state.read_tenant().super_admin()),
        Principal::Bearer { token, .. } => Actor::service_app(token),
    };
    let client = Client {
        ip_address: incoming
            .request
            .remote_addr()
            .map_or_else(|| "127.0.0.1".to_owned(), |a| a.ip().to_string()),
        user_agent: header(incoming.request, "User-Agent")
            .unwrap_or("unknown")
            .to_owned(),
        geo: None,
    };
    let context = Context {
        actor,
        client,
        transaction_id: request_id.to_owned(),
        request_uri: incoming.target.to_owned(),
        published_ms: None,
    };
    let now_ms = now_epoch_ms();
    if incoming.method == "DELETE" && incoming.path == "/api/v1/api-tokens/current" {
        // The caller revokes the very token it calls with.
        state.auth.revoke(Some(principal.token()));
        let target = syslog::Target::new("current", "Token", "unknown", "API token");
        let event = syslog::Emitted::new("system.api_token.revoke", vec![target]);
        state.log.record(&context, &[event], now_ms);
        return Ok(routes::Reply {
            status: 204,
            body: Value::Null,
            links: Vec::new(),
        });
    }
    let write = Write {
        method: &incoming.method,
        path: incoming.path,
        query: &incoming.query,
        body: body.as_ref(),
    };
    let outcome = {
        let mut tenant = state.tenant.write().unwrap_or_else(PoisonError::into_inner);
        let mut ids = state.ids.lock().unwrap_or_else(PoisonError::into_inner);
        let mut env = Env {
            now_ms,
            rng: &mut ids,
        };
        writes::route(&mut tenant, &write, &mut env)?
    };
    let outcome = outcome.ok_or_else(ApiError::method_not_allowed)?;
    state.log.record(&context, &outcome.events, now_ms);
    Ok(routes::Reply {
        status: outcome.status,
        body: outcome
            .body
            .map_or(Value::Null, |b| with_origin(&b, &incoming.origin)),
        links: Vec::new(),
    })
}

/// Reads a request body up to [`MAX_API_BODY`]; a larger one is refused, not buffered.
fn read_body(request: &mut Request) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_API_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|_| ApiError::malformed_body())?;
    if body.len() as u64 > MAX_API_BODY {
        return Err(ApiError::malformed_body());
    }
    Ok(body)
}

/// Test controls: `POST reset`, `GET stats`, `POST faults`, `POST tokens/revoke`. No
/// authentication: tests only.
fn control(state: &State, request: &mut Request, path: &str) -> JsonResponse {
    let method = request.method().clone();
    let result = match (path, &method) {
        ("reset", Method::Post) => {
            state.stats.reset();
            state.limiter.reset();
            state.faults.clear();
            state.auth.restore();
            state.concurrency.reset_peak();
            Ok(json!({ "reset": true }))
        }
        ("stats", Method::Get) => {
            let mut stats = state
                .stats
                .to_json(state.concurrency.peak(), &state.limiter);
            stats["faults_pending"] = state.faults.pending().into();
            Ok(stats)
        }
        ("faults", Method::Post) => read_json(request).and_then(|body| {
            let fault =
                Fault::from_json(&body).map_err(|cause| ApiError::validation("fault", cause))?;
            Ok(json!({ "pending": state.faults.add(fault) }))
        }),
        ("tokens/revoke", Method::Post) => read_json_or_empty(request).and_then(|body| {
            let token = match &body["token"] {
                Value::Null => None,
                Value::String(token) => Some(token.as_str()),
                _ => return Err(ApiError::validation("token", "token must be a string")),
            };
            let revoked = state
                .auth
                .revoke(token)
                .ok_or_else(|| ApiError::validation("token", "token: not a configured token"))?;
            Ok(json!({ "revoked": revoked }))
        }),
        ("changes", Method::Post) => {
            read_json(request).and_then(|body| changes(state, request, &body))
        }
        ("reset" | "stats" | "faults" | "tokens/revoke" | "changes", _) => {
            Err(ApiError::method_not_allowed())
        }
        _ => Err(ApiError::not_found("Path", request.url())),
    };
    match result {
        Ok(body) => json_response(200, &body, &[]),
        Err(error) => json_response(error.status, &error.body(&state.next_request_id()), &[]),
    }
}

/// `POST /__emulator/changes`: an admin changes the org. Each request is carried out as the
/// Okta API would (same rules, same answer) and logs its System Log events with the batch's
/// actor and client, one transaction per request. The caller must hold one of the org's API
/// tokens, as an admin would.
fn changes(state: &State, request: &Request, body: &Value) -> Result<Value, ApiError> {
    state.auth.authenticate(header(request, "Authorization"))?;
    let requests = body["requests"]
        .as_array()
        .ok_or_else(|| ApiError::validation("requests", "requests: a list of requests"))?;
    let published_ms = match &body["published"] {
        Value::Null => None,
        Value::String(text) => Some(
            parse_iso8601(text)
                .and_then(|ms| u64::try_from(ms).ok())
                .ok_or_else(|| ApiError::validation("published", "published: an ISO 8601 time"))?,
        ),
        _ => {
            return Err(ApiError::validation(
                "published",
                "published: an ISO 8601 time",
            ))
        }
    };
    let actor = {
        let tenant = state.read_tenant();
        match &body["actor"] {
            Value::Null => Actor::user(tenant.super_admin()),
            v => {
                let key = v.as_str().or(v["id"].as_str()).unwrap_or_default();
                let user = tenant.user(key).ok_or_else(|| {
                    ApiError::validation("actor", format!("actor: no user {key}"))
                })?;
                Actor::user(user)
            }
        }
    };
    let client = client(&body["client"])?;
    let origin = origin(request).unwrap_or_else(|| state.fallback_origin.clone());
    let mut results = Vec::with_capacity(requests.len());
    for item in requests {
        let method = item["method"]
            .as_str()
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let target = item["path"]
            .as_str()
            .filter(|p| p.starts_with("/api/v1/"))
            .ok_or_else(|| ApiError::validation("path", "path: an /api/v1/ path"))?;
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let query = Query::parse(raw_query);
        let transaction_id = state.next_request_id();
        let write = Write {
            method: &method,
            path,
            query: &query,
            body: item.get("body").filter(|b| !b.is_null()),
        };
        let now_ms = now_epoch_ms();
        let outcome = {
            let mut tenant = state.tenant.write().unwrap_or_else(PoisonError::into_inner);
            let mut ids = state.ids.lock().unwrap_or_else(PoisonError::into_inner);
            let mut env = Env {
                now_ms,
                rng: &mut ids,
            };
            writes::route(&mut tenant, &write, &mut env)
        };
        let result = match outcome {
            Ok(Some(outcome)) => {
                let context = Context {
                    actor: actor.clone(),
                    client: client.clone(),
                    transaction_id: transaction_id.clone(),
                    request_uri: target.to_owned(),
                    published_ms,
                };
                state.log.record(&context, &outcome.events, now_ms);
                let events: Vec<&str> = outcome.events.iter().map(|e| e.event_type).collect();
                json!({
                    "status": outcome.status,
                    "body": outcome.body.map(|b| with_origin(&b, &origin)),
                    "events": events,
                    "transaction": transaction_id,
                })
            }
            Ok(None) => {
                let error = ApiError::not_found("Path", path);
                json!({ "status": error.status, "body": error.body(&transaction_id), "events": [] })
            }
            Err(error) => {
                json!({ "status": error.status, "body": error.body(&transaction_id), "events": [] })
            }
        };
        results.push(result);
    }
    Ok(json!({ "results": results }))
}

/// The `client` of a change batch: `{"ipAddress", "userAgent", "geographicalContext"}`, each
/// optional (the default is an admin in the Admin Console).
fn client(value: &Value) -> Result<Client, ApiError> {
    let mut client = Client::admin_console();
    if value.is_null() {
        return Ok(client);
    }
    if !value.is_object() {
        return Err(ApiError::validation("client", "client: an object"));
    }
    if let Some(ip) = value["ipAddress"].as_str() {
        if ip.parse::<IpAddr>().is_err() {
            return Err(ApiError::validation(
                "client",
                "client.ipAddress: an IP address",
            ));
        }
        client.ip_address = ip.to_owned();
        // A new address comes without the console's place unless the batch gives one.
        client.geo = None;
    }
    if let Some(agent) = value["userAgent"].as_str() {
        client.user_agent = agent.to_owned();
    }
    if let Some(geo) = value.get("geographicalContext") {
        client.geo = (!geo.is_null()).then(|| geo.clone());
    }
    Ok(client)
}

/// A JSON body, or `{}` when there is none.
fn read_json_or_empty(request: &mut Request) -> Result<Value, ApiError> {
    if request.body_length() == Some(0) {
        return Ok(json!({}));
    }
    read_json(request)
}

fn read_json(request: &mut Request) -> Result<Value, ApiError> {
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_CONTROL_BODY)
        .read_to_end(&mut body)
        .map_err(|err| ApiError::validation("body", err.to_string()))?;
    serde_json::from_slice(&body).map_err(|err| ApiError::validation("body", err.to_string()))
}

fn header<'r>(request: &'r Request, name: &'static str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

/// `http://` plus the `Host` the client used, if it is a plausible host (it ends up in headers and
/// bodies, so anything else falls back to the listener's own address).
fn origin(request: &Request) -> Option<String> {
    let host = header(request, "Host")?;
    let plausible = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    plausible.then(|| format!("http://{host}"))
}

fn json_response(status: u16, body: &Value, headers: &[(&str, String)]) -> JsonResponse {
    respond(status, body.to_string().into_bytes(), headers)
}

/// A response with a JSON content type, whatever `body` holds.
fn respond(status: u16, body: Vec<u8>, headers: &[(&str, String)]) -> JsonResponse {
    // Always a Content-Length (never chunked), which keeps simple clients and benchmarks simple.
    let mut response = Response::from_data(body)
        .with_status_code(status)
        .with_chunked_threshold(usize::MAX);
    let all = std::iter::once(("Content-Type", "application/json"))
        .chain(headers.iter().map(|(n, v)| (*n, v.as_str())));
    for (name, value) in all {
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    response
}

impl State {
    fn read_tenant(&self) -> std::sync::RwLockReadGuard<'_, Tenant> {
        self.tenant.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Okta-looking request ids (also used as `errorId`), deterministic per seed and request number.
    fn next_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        // Hash (seed, n) into a fresh seed: SplitMix64 streams whose seeds differ by its step
        // constant would otherwise be shifted copies of each other.
        let key = SplitMix64::new(self.seed.wrapping_add(n.rotate_left(32))).next_u64();
        SplitMix64::new(key).base62(24)
    }
}
