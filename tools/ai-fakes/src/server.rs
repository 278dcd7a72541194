//! Two tiny_http listeners, one per provider, each request on its own thread (so a slow fault
//! does not hold up the next request), plus test controls under `/__fake/` on both ports.

use std::collections::VecDeque;
use std::io::{self, Cursor, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::{json, Value};
use tiny_http::{Header, Request, Response, Server};

use crate::exchange::{Incoming, Reply};
use crate::{anthropic, openai, FakeConfig, Fault, Provider};

/// Largest request body read (Anthropic's limit is 32 MB; Butterfly's prompts are far smaller).
const MAX_BODY: u64 = 4 * 1024 * 1024;

/// A request as the fake received it; credential headers are recorded as `<redacted>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Default)]
struct State {
    faults: Mutex<VecDeque<Fault>>,
    answers: Mutex<VecDeque<String>>,
    requests: Mutex<Vec<Recorded>>,
    violations: Mutex<Vec<String>>,
    seq: AtomicU64,
}

struct Listener {
    provider: Provider,
    server: Arc<Server>,
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<JoinHandle<()>>,
}

/// Both fakes, listening. Dropping this stops them.
pub struct RunningFakes {
    listeners: Vec<Listener>,
}

/// Starts both fakes.
pub fn start(config: FakeConfig) -> io::Result<RunningFakes> {
    let mut listeners = Vec::new();
    for (provider, port, key) in [
        (
            Provider::Anthropic,
            config.anthropic_port,
            config.anthropic_key.clone(),
        ),
        (
            Provider::OpenAi,
            config.openai_port,
            config.openai_key.clone(),
        ),
    ] {
        let server =
            Arc::new(Server::http((config.host.as_str(), port)).map_err(io::Error::other)?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("listener has no IP address"))?;
        let state = Arc::new(State::default());
        let accept = {
            let (server, state) = (server.clone(), state.clone());
            thread::spawn(move || {
                for request in server.incoming_requests() {
                    let (state, key) = (state.clone(), key.clone());
                    thread::spawn(move || serve(provider, &state, &key, request));
                }
            })
        };
        listeners.push(Listener {
            provider,
            server,
            addr,
            state,
            accept: Some(accept),
        });
    }
    Ok(RunningFakes { listeners })
}

impl RunningFakes {
    fn listener(&self, provider: Provider) -> &Listener {
        self.listeners
            .iter()
            .find(|l| l.provider == provider)
            .expect("both providers listen")
    }

    /// The origin to configure as the provider's base URL, e.g. `http://127.0.0.1:8271`.
    pub fn url(&self, provider: Provider) -> String {
        format!("http://{}", self.listener(provider).addr)
    }

    pub fn port(&self, provider: Provider) -> u16 {
        self.listener(provider).addr.port()
    }

    /// Every API request the provider's fake received, in order.
    pub fn requests(&self, provider: Provider) -> Vec<Recorded> {
        self.listener(provider)
            .state
            .requests
            .lock()
            .unwrap()
            .clone()
    }

    /// Every way a request broke the provider's documented shape.
    pub fn violations(&self, provider: Provider) -> Vec<String> {
        self.listener(provider)
            .state
            .violations
            .lock()
            .unwrap()
            .clone()
    }

    pub fn inject(&self, provider: Provider, fault: Fault) {
        self.listener(provider)
            .state
            .faults
            .lock()
            .unwrap()
            .push_back(fault);
    }

    /// The text of the provider's next successful answer (instead of the default one).
    pub fn answer_next(&self, provider: Provider, text: &str) {
        let state = &self.listener(provider).state;
        state.answers.lock().unwrap().push_back(text.to_owned());
    }

    /// Forgets requests, violations, faults and scripted answers.
    pub fn reset(&self) {
        for l in &self.listeners {
            reset(&l.state);
        }
    }
}

impl Drop for RunningFakes {
    fn drop(&mut self) {
        for l in &mut self.listeners {
            l.server.unblock();
            if let Some(handle) = l.accept.take() {
                let _ = handle.join();
            }
        }
    }
}

fn reset(state: &State) {
    state.faults.lock().unwrap().clear();
    state.answers.lock().unwrap().clear();
    state.requests.lock().unwrap().clear();
    state.violations.lock().unwrap().clear();
}

fn serve(provider: Provider, state: &State, key: &str, mut request: Request) {
    let method = request.method().as_str().to_ascii_uppercase();
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_owned(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    if request
        .as_reader()
        .take(MAX_BODY)
        .read_to_end(&mut body)
        .is_err()
    {
        return;
    }
    let reply = if let Some(control) = path.strip_prefix("/__fake/") {
        controls(state, control, &method, &body)
    } else {
        let fault = {
            let mut faults = state.faults.lock().unwrap();
            let fault = faults.front().cloned();
            if let Some(front) = faults.front_mut() {
                front.count -= 1;
                if front.count == 0 {
                    faults.pop_front();
                }
            }
            fault
        };
        if let Some(delay) = fault.as_ref().map(|f| f.delay_ms).filter(|d| *d > 0) {
            thread::sleep(Duration::from_millis(delay));
        }
        let seq = state.seq.fetch_add(1, Ordering::Relaxed);
        let incoming = Incoming {
            method: &method,
            path: &path,
            headers: &headers,
            body: &body,
        };
        let scripted = fault
            .as_ref()
            .is_none_or(|f| f.status.is_none())
            .then(|| state.answers.lock().unwrap().pop_front())
            .flatten();
        let (reply, violations) = match provider {
            Provider::Anthropic => anthropic::handle(&incoming, key, fault.as_ref(), scripted, seq),
            Provider::OpenAi => openai::handle(&incoming, key, fault.as_ref(), scripted, seq),
        };
        state.violations.lock().unwrap().extend(violations);
        state.requests.lock().unwrap().push(Recorded {
            method,
            path,
            headers: headers
                .iter()
                .map(|(k, v)| {
                    let secret = k.eq_ignore_ascii_case("x-api-key")
                        || k.eq_ignore_ascii_case("authorization");
                    (
                        k.clone(),
                        if secret {
                            "<redacted>".into()
                        } else {
                            v.clone()
                        },
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        reply
    };
    let _ = request.respond(to_response(reply));
}

/// `POST faults`, `POST answer`, `GET requests`, `GET stats`, `POST reset`. No auth: tests only.
fn controls(state: &State, what: &str, method: &str, body: &[u8]) -> Reply {
    let parsed =
        || serde_json::from_slice::<Value>(body).map_err(|_| "body is not JSON".to_string());
    let result: Result<Value, String> = match (what, method) {
        ("faults", "POST") => parsed().and_then(|v| Fault::from_json(&v)).map(|f| {
            let mut faults = state.faults.lock().unwrap();
            faults.push_back(f);
            json!({"pending": faults.len()})
        }),
        ("answer", "POST") => parsed().and_then(|v| {
            let text = v["text"]
                .as_str()
                .ok_or("`text` must be a string")?
                .to_owned();
            state.answers.lock().unwrap().push_back(text);
            Ok(json!({"queued": true}))
        }),
        ("requests", "GET") => {
            let requests = state.requests.lock().unwrap();
            Ok(Value::Array(
                requests
                    .iter()
                    .map(|r| json!({"method": r.method, "path": r.path, "headers": r.headers, "body": r.body}))
                    .collect(),
            ))
        }
        ("stats", "GET") => Ok(json!({
            "requests": state.requests.lock().unwrap().len(),
            "violations": *state.violations.lock().unwrap(),
            "faults_pending": state.faults.lock().unwrap().iter().map(|f| f.count).sum::<u32>(),
        })),
        ("reset", "POST") => {
            reset(state);
            Ok(json!({"reset": true}))
        }
        _ => Err(format!("no control {method} /__fake/{what}")),
    };
    match result {
        Ok(v) => Reply::json(200, v),
        Err(e) => Reply::json(400, json!({"error": e})),
    }
}

fn to_response(reply: Reply) -> Response<Cursor<Vec<u8>>> {
    let body = serde_json::to_vec(&reply.body).expect("a Value always serialises");
    let mut response = Response::from_data(body).with_status_code(reply.status);
    for (k, v) in reply.headers {
        if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            response.add_header(h);
        }
    }
    response
}
