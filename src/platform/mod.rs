//! The wasm adapter: Workers entry points and the port implementations over `worker::`.
//! Nothing here decides anything: it converts types and hands over to the core (`api::handle`,
//! `jobs::scheduled`, `jobs::deliver`). A unit test in `crate::jobs` keeps it that way.

mod adapters;
mod queue;
mod seal;

use std::rc::Rc;
use worker::{
    event, Context, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, Request, Response,
    ScheduleContext, ScheduledEvent,
};

use crate::ai::breaker::Breakers;
use crate::api::http::{ApiRequest, ApiResponse, Body};
use crate::auth::jwks::JwksCache;
use crate::config::Config;
use crate::db::PostgrestDb;
use crate::evidence::pack::pull::pull;
use crate::ports::{Clock, Method, RequestBody};
use crate::services::audit_pack::PackExport;
use crate::services::Deps;
use crate::snapshot::ObjectStream;
use adapters::{FetchHttp, R2Store, StreamBody, SystemRng, WorkerClock, WorkerLimiter};
use queue::WorkerQueue;

thread_local! {
    /// One JWKS cache per isolate, so key sets survive across requests (leaked once: it lives as
    /// long as the isolate anyway).
    static JWKS: &'static JwksCache = Box::leak(Box::default());
    /// The AI providers' circuit breakers, one set per isolate (isolates share no memory).
    static AI_BREAKERS: &'static Breakers = Box::leak(Box::default());
}

/// Queue binding jobs go out on (validated in build.rs).
const JOB_QUEUE: &str = "JOB_QUEUE";

/// Everything a request or job needs, owned so a streamed response can outlive the handler.
struct Runtime {
    config: Config,
    http: FetchHttp,
    store: R2Store,
    queue: WorkerQueue,
    clock: WorkerClock,
    rng: SystemRng,
    limiter: WorkerLimiter,
}

impl Runtime {
    fn load(env: &Env) -> Result<Runtime, String> {
        let lookup = |name: &str| {
            env.secret(name)
                .map(|s| s.to_string())
                .or_else(|_| env.var(name).map(|v| v.to_string()))
                .ok()
        };
        let config = Config::from_lookup(lookup).map_err(|e| e.to_string())?;
        let bucket = env
            .bucket("SNAPSHOTS")
            .map_err(|_| "R2 binding SNAPSHOTS missing".to_string())?;
        let queue = env
            .queue(JOB_QUEUE)
            .map_err(|_| format!("queue binding {JOB_QUEUE} missing"))?;
        let limiter = |name: &str| {
            env.rate_limiter(name)
                .map_err(|_| format!("rate limit binding {name} missing"))
        };
        let limiter = WorkerLimiter {
            caller: limiter("CALLER_LIMITER")?,
            failed_auth: limiter("FAILED_AUTH_LIMITER")?,
            key_lookup: limiter("KEY_LOOKUP_LIMITER")?,
            download: limiter("DOWNLOAD_LIMITER")?,
        };
        Ok(Runtime {
            config,
            limiter,
            http: FetchHttp,
            store: R2Store(bucket),
            queue: WorkerQueue(queue),
            clock: WorkerClock,
            rng: SystemRng,
        })
    }

    /// The database port over this runtime's fetch and configuration.
    fn db(&self) -> PostgrestDb<'_> {
        PostgrestDb::new(&self.http, &self.config)
    }

    fn deps<'a>(&'a self, db: &'a PostgrestDb<'a>) -> Deps<'a> {
        Deps {
            config: &self.config,
            http: &self.http,
            store: &self.store,
            seal: &seal::WebPrimitives,
            db,
            queue: &self.queue,
            clock: &self.clock,
            rng: &self.rng,
            limiter: &self.limiter,
            jwks: JWKS.with(|cache| *cache),
            ai_breakers: AI_BREAKERS.with(|breakers| *breakers),
        }
    }
}

fn log_line(value: serde_json::Value) {
    worker::console_log!("{}", value);
}

fn to_worker(
    response: ApiResponse,
    runtime: &Rc<Runtime>,
    request_id: &str,
) -> worker::Result<Response> {
    let out = match response.body {
        Body::Bytes(bytes) => Response::from_bytes(bytes)?,
        Body::Object(stream) => Response::from_stream(object_body(
            runtime.clone(),
            *stream,
            request_id.to_string(),
        ))?,
        Body::Pack(export) => {
            Response::from_stream(pack_body(runtime.clone(), *export, request_id.to_string()))?
        }
    };
    let mut out = out.with_status(response.status);
    let headers = out.headers_mut();
    for (name, value) in &response.headers {
        headers.set(name, value)?;
    }
    Ok(out)
}

/// A snapshot object's plaintext as a response body, pulled piece by piece as the client reads
/// (the JS stream asks for the next piece only when it has room), so memory stays bounded by a
/// piece whatever the object's size. A verification failure errors the stream, which aborts the
/// transfer: the client never sees a clean end of a tampered or truncated object.
fn object_body(
    runtime: Rc<Runtime>,
    stream: ObjectStream,
    request_id: String,
) -> impl futures_util::Stream<Item = worker::Result<Vec<u8>>> {
    futures_util::stream::try_unfold(
        (runtime, stream, request_id),
        |(runtime, mut stream, request_id)| async move {
            match stream.next_piece(&runtime.store).await {
                Ok(Some(piece)) => Ok(Some((piece, (runtime, stream, request_id)))),
                Ok(None) => Ok(None),
                Err(e) => {
                    log_line(serde_json::json!({
                        "level": "error",
                        "event": "download.aborted",
                        "request_id": request_id,
                        "error": e.to_string(),
                    }));
                    Err(worker::Error::RustError("download aborted".into()))
                }
            }
        },
    )
}

/// An audit pack as a response body: the exporter runs inside the stream, one page ahead of the
/// client at most ([`pull`]). A failure errors the stream, which aborts the
/// transfer: the client is left with a truncated archive, never a clean end.
fn pack_body(
    runtime: Rc<Runtime>,
    export: PackExport,
    request_id: String,
) -> impl futures_util::Stream<Item = worker::Result<Vec<u8>>> {
    use futures_util::StreamExt;
    pull(move |mut sink| async move {
        let db = runtime.db();
        let deps = runtime.deps(&db);
        export.write(&deps, &mut sink).await
    })
    .map(move |piece| {
        piece.map_err(|e| {
            log_line(serde_json::json!({
                "level": "error",
                "event": "audit_pack.aborted",
                "request_id": request_id,
                "error": e.to_string(),
            }));
            worker::Error::RustError("audit pack aborted".into())
        })
    })
}

/// An opaque 500 for failures before the core could run (the detail goes to the log).
fn unavailable(detail: &str) -> worker::Result<Response> {
    log_line(serde_json::json!({"level": "error", "event": "startup", "error": detail}));
    let body =
        serde_json::json!({"error": {"code": "internal_error", "message": "internal error"}});
    Ok(Response::from_json(&body)?.with_status(500))
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let runtime = match Runtime::load(&env) {
        Ok(r) => Rc::new(r),
        Err(e) => return unavailable(&e),
    };
    let started = runtime.clock.now();
    let url = req.url()?;
    // The body stays a stream: the core reads it (or not) with the route's cap.
    let mut body = req.stream().ok().map(StreamBody);
    let request = ApiRequest {
        method: Method::parse(req.method().as_ref()),
        path: url.path().to_string(),
        query: url.query().unwrap_or("").to_string(),
        headers: req.headers().entries().collect(),
        body: Vec::new(),
        https: url.scheme() == "https",
        preflight: req.method() == worker::Method::Options,
    };
    let db = runtime.db();
    let body = body.as_mut().map(|b| b as &mut dyn RequestBody);
    let handled = crate::api::handle(&runtime.deps(&db), request, body).await;
    let status = handled.response.status;
    let request_id = handled
        .response
        .headers
        .iter()
        .find(|(k, _)| k == "x-request-id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    log_line(serde_json::json!({
        "level": if status >= 500 { "error" } else { "info" },
        "request_id": request_id,
        "route": handled.route,
        "status": status,
        "latency_ms": (runtime.clock.now() - started).num_milliseconds(),
        // After the request: what a heavy route (a snapshot diff) grew the heap to.
        "wasm_memory_bytes": wasm_memory_bytes(),
        "actor": handled.actor,
        "key_id": handled.key_id,
        "error": handled.internal_error,
    }));
    to_worker(handled.response, &runtime, &request_id)
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let runtime = match Runtime::load(&env) {
        Ok(r) => r,
        Err(e) => {
            log_line(serde_json::json!({"level": "error", "event": "scheduled", "error": e}));
            return;
        }
    };
    let db = runtime.db();
    log_line(crate::jobs::scheduled(&runtime.deps(&db), &event.cron()).await);
}

/// The wasm heap's size: linear memory only grows, so after a backup slice this is its peak
/// (plus whatever earlier requests in this isolate needed) — the figure the 128 MB isolate limit
/// and scripts/bench.sh care about, apart from the JS heap.
fn wasm_memory_bytes() -> usize {
    core::arch::wasm32::memory_size::<0>() * 65_536
}

/// One job per message (`max_batch_size = 1`): the core runs it and says whether the message is
/// done or must be delivered again after a delay.
#[event(queue)]
async fn queue(
    batch: MessageBatch<serde_json::Value>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    let runtime = Runtime::load(&env).map_err(worker::Error::RustError)?;
    let db = runtime.db();
    let deps = runtime.deps(&db);
    // Marks where the invocation's work begins (scripts/bench.sh cuts its CPU profile here and
    // at the `queue.job` line each message ends with).
    log_line(serde_json::json!({"level": "info", "event": "queue.start"}));
    for message in batch.messages()? {
        let mut delivery = crate::jobs::deliver(&deps, message.body().clone()).await;
        delivery.log["wasm_memory_bytes"] = wasm_memory_bytes().into();
        match delivery.retry_after {
            None => message.ack(),
            Some(seconds) => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(seconds)
                    .build(),
            ),
        }
        log_line(delivery.log);
    }
    Ok(())
}
