//! In-memory fakes of the ports, for unit tests of the core; [`world`] assembles them (with the
//! in-memory database of `crate::store::memory`) into a whole worker.

pub mod world;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::ports::{
    Clock, HttpClient, HttpRequest, HttpResponse, ObjectStore, RangeRead, Rng, StoreError,
    TransportError, UploadedPart, MIN_PART_SIZE,
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
    pub(crate) now: Cell<DateTime<Utc>>,
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

/// An in-progress multipart upload in [`MemoryStore`].
#[derive(Default)]
struct Upload {
    key: String,
    parts: BTreeMap<u16, Vec<u8>>,
}

/// An object store in a BTreeMap that enforces R2's multipart rules, with failure injection
/// on the Nth write operation (put, create, upload part, complete or abort — counted together,
/// so a test can fail "any step").
pub struct MemoryStore {
    pub objects: RefCell<BTreeMap<String, Vec<u8>>>,
    pub fail_write_at: Cell<Option<usize>>,
    writes: Cell<usize>,
    uploads: RefCell<BTreeMap<String, Upload>>,
    next_upload: Cell<u64>,
    /// Largest single buffer handed to the store, to check writers stay bounded.
    pub largest_write: Cell<usize>,
    /// Smallest allowed non-final part: R2's 5 MiB unless a test shrinks it.
    pub min_part_size: Cell<usize>,
    /// Largest single buffer handed out by `get` or `get_range`, to check readers stay bounded.
    pub largest_read: Cell<usize>,
    /// Calls of `get` (whole-object reads).
    pub whole_gets: Cell<usize>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            objects: RefCell::default(),
            fail_write_at: Cell::default(),
            writes: Cell::default(),
            uploads: RefCell::default(),
            next_upload: Cell::default(),
            largest_write: Cell::default(),
            min_part_size: Cell::new(MIN_PART_SIZE),
            largest_read: Cell::default(),
            whole_gets: Cell::default(),
        }
    }
}

impl MemoryStore {
    fn write_op(&self, len: usize) -> Result<(), StoreError> {
        let n = self.writes.get();
        self.writes.set(n + 1);
        self.largest_write.set(self.largest_write.get().max(len));
        if self.fail_write_at.get() == Some(n) {
            return Err(StoreError("injected failure".into()));
        }
        Ok(())
    }

    /// Write operations attempted so far (including the failed one).
    pub fn writes(&self) -> usize {
        self.writes.get()
    }

    /// Multipart uploads started and neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        self.uploads.borrow().len()
    }

    fn etag(bytes: &[u8]) -> String {
        crate::snapshot::manifest::sha256_hex(bytes)
    }
}

#[async_trait(?Send)]
impl ObjectStore for MemoryStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.write_op(bytes.len())?;
        self.objects.borrow_mut().insert(key.to_string(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.whole_gets.set(self.whole_gets.get() + 1);
        let object = self.objects.borrow().get(key).cloned();
        if let Some(bytes) = &object {
            self.largest_read
                .set(self.largest_read.get().max(bytes.len()));
        }
        Ok(object)
    }

    async fn get_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Option<RangeRead>, StoreError> {
        let objects = self.objects.borrow();
        let Some(object) = objects.get(key) else {
            return Ok(None);
        };
        let object_len = object.len() as u64;
        if offset > object_len {
            // R2 refuses a range starting past the end.
            return Err(StoreError("range not satisfiable".into()));
        }
        let end = offset.saturating_add(len).min(object_len);
        let bytes = object[offset as usize..end as usize].to_vec();
        self.largest_read
            .set(self.largest_read.get().max(bytes.len()));
        Ok(Some(RangeRead { bytes, object_len }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .objects
            .borrow()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.write_op(0)?;
        self.objects.borrow_mut().remove(key);
        Ok(())
    }

    async fn create_multipart(&self, key: &str) -> Result<String, StoreError> {
        self.write_op(0)?;
        let id = format!("upload-{}", self.next_upload.get());
        self.next_upload.set(self.next_upload.get() + 1);
        self.uploads.borrow_mut().insert(
            id.clone(),
            Upload {
                key: key.to_string(),
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u16,
        bytes: Vec<u8>,
    ) -> Result<UploadedPart, StoreError> {
        self.write_op(bytes.len())?;
        let mut uploads = self.uploads.borrow_mut();
        let upload = uploads
            .get_mut(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| StoreError("no such upload".into()))?;
        if part_number == 0 || part_number > 10_000 {
            return Err(StoreError("part number out of range".into()));
        }
        let etag = Self::etag(&bytes);
        upload.parts.insert(part_number, bytes);
        Ok(UploadedPart { part_number, etag })
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
    ) -> Result<(), StoreError> {
        self.write_op(0)?;
        let mut uploads = self.uploads.borrow_mut();
        let upload = uploads
            .get(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| StoreError("no such upload".into()))?;
        let mut object = Vec::new();
        let mut sizes = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let bytes = upload
                .parts
                .get(&part.part_number)
                .filter(|b| Self::etag(b) == part.etag)
                .ok_or_else(|| StoreError("unknown part or etag".into()))?;
            if i > 0 && parts[i - 1].part_number >= part.part_number {
                return Err(StoreError("parts out of order".into()));
            }
            sizes.push(bytes.len());
            object.extend_from_slice(bytes);
        }
        let (last, rest) = sizes
            .split_last()
            .ok_or_else(|| StoreError("no parts".into()))?;
        let min = self.min_part_size.get();
        if rest.iter().any(|&s| s < min || s != rest[0]) || rest.first() < Some(last) {
            return Err(StoreError(
                "parts must be equal-sized and at least the minimum".into(),
            ));
        }
        uploads.remove(upload_id);
        self.objects.borrow_mut().insert(key.to_string(), object);
        Ok(())
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        self.write_op(0)?;
        let mut uploads = self.uploads.borrow_mut();
        if uploads.get(upload_id).is_some_and(|u| u.key == key) {
            uploads.remove(upload_id);
        }
        Ok(())
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

/// A job queue that keeps what it is sent (message and delay), and refuses while `down`.
#[derive(Default)]
pub struct MemoryQueue {
    pub sent: RefCell<Vec<(serde_json::Value, u32)>>,
    pub down: Cell<bool>,
}

#[async_trait(?Send)]
impl crate::ports::JobQueue for MemoryQueue {
    async fn send(
        &self,
        message: &serde_json::Value,
        delay_seconds: u32,
    ) -> Result<(), crate::ports::QueueError> {
        if self.down.get() {
            return Err(crate::ports::QueueError("queue unavailable".into()));
        }
        self.sent
            .borrow_mut()
            .push((message.clone(), delay_seconds));
        Ok(())
    }
}

/// A rate limiter that allows `limit` calls per (budget, key), then refuses; while `down`, it
/// cannot count at all. Keeps every key it was asked about, in order.
pub struct CountingLimiter {
    limit: u32,
    spent: RefCell<std::collections::HashMap<(crate::ports::RateBudget, String), u32>>,
    pub asked: RefCell<Vec<(crate::ports::RateBudget, String)>>,
    pub down: Cell<bool>,
}

impl CountingLimiter {
    pub fn new(limit: u32) -> Self {
        CountingLimiter {
            limit,
            spent: RefCell::default(),
            asked: RefCell::default(),
            down: Cell::new(false),
        }
    }
}

#[async_trait(?Send)]
impl crate::ports::RateLimiter for CountingLimiter {
    async fn spend(&self, budget: crate::ports::RateBudget, key: &str) -> crate::ports::Verdict {
        use crate::ports::Verdict;
        self.asked.borrow_mut().push((budget, key.to_string()));
        if self.down.get() {
            return Verdict::Unavailable;
        }
        let mut spent = self.spent.borrow_mut();
        let n = spent.entry((budget, key.to_string())).or_insert(0);
        *n += 1;
        if *n <= self.limit {
            Verdict::Allowed
        } else {
            Verdict::Refused
        }
    }
}

/// Returns `Pending` once, as real I/O would; otherwise every fake call completes the moment it
/// is polled, and neither concurrency nor a kill between two calls can be observed.
pub async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// A fake port whose calls take a step: a request goes out when first polled and its response
/// arrives a poll later, as over a network; a store call also waits a step before it starts.
pub struct Yielding<'a, T: ?Sized>(pub &'a T);

#[async_trait(?Send)]
impl<T: HttpClient + ?Sized> HttpClient for Yielding<'_, T> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let response = self.0.send(request).await;
        yield_once().await;
        response
    }
}

#[async_trait(?Send)]
impl<T: ObjectStore + ?Sized> ObjectStore for Yielding<'_, T> {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        yield_once().await;
        self.0.put(key, bytes).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        yield_once().await;
        self.0.get(key).await
    }

    async fn get_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Option<RangeRead>, StoreError> {
        yield_once().await;
        self.0.get_range(key, offset, len).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        yield_once().await;
        self.0.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        yield_once().await;
        self.0.delete(key).await
    }

    async fn create_multipart(&self, key: &str) -> Result<String, StoreError> {
        yield_once().await;
        self.0.create_multipart(key).await
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u16,
        bytes: Vec<u8>,
    ) -> Result<UploadedPart, StoreError> {
        yield_once().await;
        self.0.upload_part(key, upload_id, part_number, bytes).await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
    ) -> Result<(), StoreError> {
        yield_once().await;
        self.0.complete_multipart(key, upload_id, parts).await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        yield_once().await;
        self.0.abort_multipart(key, upload_id).await
    }
}

/// Polls `future` at most `polls` times (a "kill" after that many steps drops it mid-flight);
/// `None` if it had not finished.
pub fn poll_at_most<F: std::future::Future>(future: F, polls: usize) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    (0..polls).find_map(|_| match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    })
}
