//! The wasm adapter: Workers entry points and the port implementations over `worker::`.
//! Nothing here decides anything; it converts types and hands over to the core.

mod adapters;

use std::rc::Rc;
use worker::{
    event, Context, Env, MessageBatch, MessageBuilder, MessageExt, QueueRetryOptionsBuilder,
    Request, Response, ScheduleContext, ScheduledEvent,
};

use crate::api::http::{ApiRequest, ApiResponse, Body, MAX_BODY_BYTES};
use crate::auth::jwks::JwksCache;
use crate::config::Config;
use crate::ids::RequestId;
use crate::ports::{Clock, Method, Rng};
use crate::services::audit::RequestMeta;
use crate::services::backups::{self, SliceEnd};
use crate::services::jobs::QueuedJob;
use crate::services::{compliance, scheduler, Deps};
use crate::snapshot::ObjectStream;
use adapters::{FetchHttp, R2Store, SystemRng, WorkerClock, WorkerLimiter};

thread_local! {
    /// One JWKS cache per isolate, so key sets survive across requests (leaked once: it lives as
    /// long as the isolate anyway).
    static JWKS: &'static JwksCache = Box::leak(Box::default());
}

/// Everything a request or job needs, owned so background work can outlive the response.
struct Runtime {
    config: Config,
    http: FetchHttp,
    store: R2Store,
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
        let limiter = WorkerLimiter {
            caller: env
                .rate_limiter("CALLER_LIMITER")
                .map_err(|_| "rate limit binding CALLER_LIMITER missing".to_string())?,
            failed_auth: env
                .rate_limiter("FAILED_AUTH_LIMITER")
                .map_err(|_| "rate limit binding FAILED_AUTH_LIMITER missing".to_string())?,
        };
        Ok(Runtime {
            config,
            limiter,
            http: FetchHttp,
            store: R2Store(bucket),
            clock: WorkerClock,
            rng: SystemRng,
        })
    }

    fn deps(&self) -> Deps<'_> {
        Deps {
            config: &self.config,
            http: &self.http,
            store: &self.store,
            clock: &self.clock,
            rng: &self.rng,
            limiter: &self.limiter,
            jwks: JWKS.with(|cache| *cache),
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
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let runtime = match Runtime::load(&env) {
        Ok(r) => Rc::new(r),
        Err(e) => return unavailable(&e),
    };
    let started = runtime.clock.now();
    let url = req.url()?;
    let declared_len = req
        .headers()
        .get("content-length")?
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    // Refuse oversized bodies before reading them.
    let body = if declared_len > MAX_BODY_BYTES {
        vec![0; MAX_BODY_BYTES + 1]
    } else {
        req.bytes().await.unwrap_or_default()
    };
    let request = ApiRequest {
        method: Method::parse(req.method().as_ref()),
        path: url.path().to_string(),
        query: url.query().unwrap_or("").to_string(),
        headers: req.headers().entries().collect(),
        body,
        https: url.scheme() == "https",
        preflight: req.method() == worker::Method::Options,
    };
    let handled = crate::api::handle(&runtime.deps(), request).await;
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
        "actor": handled.actor,
        "key_id": handled.key_id,
        "error": handled.internal_error,
    }));
    if let Some(job) = handled.job {
        // The backup runs on the queue: one bounded invocation after another, each resumable.
        if let Err(e) = enqueue(&env, &QueuedJob::Backup(job.clone()), 0).await {
            log_line(
                serde_json::json!({"level": "error", "event": "backup.enqueue", "request_id": job.meta.request_id, "backup_id": job.backup.to_string(), "error": e.to_string()}),
            );
            let runtime = runtime.clone();
            ctx.wait_until(async move {
                let _ =
                    backups::abandon(&runtime.deps(), &job, "the backup could not be queued").await;
            });
        }
    }
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
    let meta = RequestMeta {
        request_id: RequestId::generate(&runtime.rng as &dyn Rng).to_string(),
        source_ip: None,
    };
    let cron = event.cron();
    let deps = runtime.deps();
    let (kind, jobs, mut log) = if cron == runtime.config.compliance_cron {
        match compliance::scheduled_jobs(&deps, &meta).await {
            Ok(jobs) => (
                "compliance",
                jobs.into_iter()
                    .map(QueuedJob::Compliance)
                    .collect::<Vec<_>>(),
                serde_json::json!({}),
            ),
            Err(e) => return log_scheduled_error("compliance", &meta, &e.to_string()),
        }
    } else if cron == runtime.config.backup_cron {
        match scheduler::schedule_backups(&deps, &meta).await {
            Ok((skipped_running, jobs)) => (
                "backups",
                jobs.into_iter().map(QueuedJob::Backup).collect(),
                serde_json::json!({"skipped_running": skipped_running}),
            ),
            Err(e) => return log_scheduled_error("backups", &meta, &e.to_string()),
        }
    } else {
        return log_line(
            serde_json::json!({"level": "warn", "event": "scheduled", "cron": cron, "error": "no job for this schedule"}),
        );
    };
    // One message per connection: each consumer invocation does one connection's work.
    let (mut queued, mut failed) = (0, 0);
    for job in jobs {
        match enqueue(&env, &job, 0).await {
            Ok(()) => queued += 1,
            Err(e) => {
                failed += 1;
                log_line(
                    serde_json::json!({"level": "error", "event": "scheduled.enqueue", "request_id": meta.request_id, "job": job, "error": e.to_string()}),
                );
            }
        }
    }
    log["level"] = "info".into();
    log["event"] = format!("scheduled.{kind}").into();
    log["request_id"] = meta.request_id.clone().into();
    log["queued"] = queued.into();
    log["failed"] = failed.into();
    log_line(log);
}

fn log_scheduled_error(kind: &str, meta: &RequestMeta, error: &str) {
    log_line(
        serde_json::json!({"level": "error", "event": format!("scheduled.{kind}"), "request_id": meta.request_id, "error": error}),
    );
}

/// The wasm heap's size: linear memory only grows, so after a backup slice this is its peak
/// (plus whatever earlier requests in this isolate needed) — the figure the 128 MB isolate limit
/// and scripts/bench.sh care about, apart from the JS heap.
fn wasm_memory_bytes() -> usize {
    core::arch::wasm32::memory_size::<0>() * 65_536
}

/// Queue binding the cron fans jobs out on (validated in build.rs).
const JOB_QUEUE: &str = "JOB_QUEUE";

async fn enqueue(env: &Env, job: &QueuedJob, delay_seconds: u32) -> worker::Result<()> {
    let message = MessageBuilder::new(job)
        .delay_seconds(delay_seconds)
        .build();
    env.queue(JOB_QUEUE)?.send(message).await
}

/// How long a message that found its backup busy waits before it is delivered again: a held
/// lease is either renewed by a live invocation (which re-enqueues itself) or lapses.
const BUSY_RETRY_SECONDS: u32 = 60;

/// One job per message (`max_batch_size = 1`). A backup slice that paused sends its job again
/// (a fresh message, so a long backup is not bounded by the retry limit); one that found the
/// backup busy is retried later, in case the holder died. Everything else is acknowledged: the
/// outcome is on the run's row.
#[event(queue)]
async fn queue(batch: MessageBatch<QueuedJob>, env: Env, _ctx: Context) -> worker::Result<()> {
    let runtime = Runtime::load(&env).map_err(worker::Error::RustError)?;
    let deps = runtime.deps();
    for message in batch.messages()? {
        let request_id = match message.body() {
            QueuedJob::Backup(job) => &job.meta.request_id,
            QueuedJob::Compliance(job) => &job.meta.request_id,
        };
        let mut log = serde_json::json!({"level": "info", "event": "queue.job", "request_id": request_id, "job": message.body()});
        match message.body() {
            QueuedJob::Backup(job) => {
                let report = backups::SliceReport::default();
                let outcome = backups::run_slice(&deps, job, &report).await;
                log["okta_buckets"] = serde_json::json!(*report.okta_buckets.borrow());
                log["wasm_memory_bytes"] = wasm_memory_bytes().into();
                // A paused slice's job goes out again at once; one that met a transient
                // failure, after the configured delay.
                let resend = match &outcome {
                    Ok(SliceEnd::Paused) => Some(0),
                    Ok(SliceEnd::RetryLater(_)) => Some(runtime.config.backup_slice.retry_seconds),
                    _ => None,
                };
                match (resend, &outcome) {
                    (Some(delay), _) => match enqueue(&env, message.body(), delay).await {
                        Ok(()) => message.ack(),
                        Err(e) => {
                            log["enqueue_error"] = e.to_string().into();
                            message.retry();
                        }
                    },
                    (None, Ok(SliceEnd::Busy)) => message.retry_with_options(
                        &QueueRetryOptionsBuilder::new()
                            .with_delay_seconds(BUSY_RETRY_SECONDS)
                            .build(),
                    ),
                    (None, _) => message.ack(),
                }
                log["outcome"] = outcome
                    .map_or_else(|e| e.to_string(), |o| format!("{o:?}"))
                    .into();
            }
            QueuedJob::Compliance(job) => {
                let outcome = compliance::run_job(&deps, job).await;
                log["outcome"] = outcome
                    .map_or_else(|e| e.to_string(), |o| format!("{o:?}"))
                    .into();
                message.ack();
            }
        }
        log_line(log);
    }
    Ok(())
}
