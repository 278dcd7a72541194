//! In-memory fakes of the ports, for unit tests of the core.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::ports::{
    Clock, HttpClient, HttpRequest, HttpResponse, ObjectStore, Rng, StoreError, TransportError,
};

/// Deterministic "randomness": a splitmix64 stream. Never use outside tests.
pub struct SeqRng(Cell<u64>);

impl SeqRng {
    pub fn new(seed: u64) -> Self {
        SeqRng(Cell::new(seed))
    }
}

impl Rng for SeqRng {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let mut z = self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            self.0.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// A clock that only moves when slept on or advanced; records every sleep.
pub struct ManualClock {
    now: Cell<DateTime<Utc>>,
    pub sleeps: RefCell<Vec<Duration>>,
}

impl ManualClock {
    pub fn at(now: DateTime<Utc>) -> Self {
        ManualClock {
            now: Cell::new(now),
            sleeps: RefCell::new(Vec::new()),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.now
            .set(self.now.get() + chrono::Duration::from_std(by).expect("duration in range"));
    }
}

#[async_trait(?Send)]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.now.get()
    }

    async fn sleep(&self, duration: Duration) {
        self.sleeps.borrow_mut().push(duration);
        self.advance(duration);
    }
}

/// An object store in a BTreeMap, with optional failure injection on the Nth put.
#[derive(Default)]
pub struct MemoryStore {
    pub objects: RefCell<BTreeMap<String, Vec<u8>>>,
    pub fail_put_at: Cell<Option<usize>>,
    puts: Cell<usize>,
}

#[async_trait(?Send)]
impl ObjectStore for MemoryStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let n = self.puts.get();
        self.puts.set(n + 1);
        if self.fail_put_at.get() == Some(n) {
            return Err(StoreError("injected failure".into()));
        }
        self.objects.borrow_mut().insert(key.to_string(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.objects.borrow().get(key).cloned())
    }
}

type Handler = Box<dyn Fn(&HttpRequest) -> Result<HttpResponse, TransportError>>;

/// An HTTP client answered by a closure; records every request.
pub struct ScriptedHttp {
    handler: Handler,
    pub requests: RefCell<Vec<HttpRequest>>,
}

impl ScriptedHttp {
    pub fn new(
        handler: impl Fn(&HttpRequest) -> Result<HttpResponse, TransportError> + 'static,
    ) -> Self {
        ScriptedHttp {
            handler: Box::new(handler),
            requests: RefCell::new(Vec::new()),
        }
    }
}

#[async_trait(?Send)]
impl HttpClient for ScriptedHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let response = (self.handler)(&request);
        self.requests.borrow_mut().push(request);
        response
    }
}

/// A JSON response with the given status and extra headers.
pub fn json_response(
    status: u16,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut all = vec![("content-type".to_string(), "application/json".to_string())];
    all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    HttpResponse {
        status,
        headers: all,
        body: serde_json::to_vec(body).expect("json"),
    }
}

/// A rate limiter that allows `limit` calls per (budget, key), then refuses.
pub struct CountingLimiter {
    limit: u32,
    spent: RefCell<std::collections::HashMap<(crate::ports::RateBudget, String), u32>>,
}

impl CountingLimiter {
    pub fn new(limit: u32) -> Self {
        CountingLimiter {
            limit,
            spent: RefCell::default(),
        }
    }
}

#[async_trait(?Send)]
impl crate::ports::RateLimiter for CountingLimiter {
    async fn allow(&self, budget: crate::ports::RateBudget, key: &str) -> bool {
        let mut spent = self.spent.borrow_mut();
        let n = spent.entry((budget, key.to_string())).or_insert(0);
        *n += 1;
        *n <= self.limit
    }
}
