//! Ports: the only ways the core reaches the outside world (the database's is
//! [`crate::store::Database`], with its store traits).
//!
//! The wasm adapter (`platform`) implements them over Workers APIs; unit tests use the in-memory
//! fakes in `crate::testing`. Keeping time and randomness here makes crypto and pacing deterministic
//! under test.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Wall-clock time and waiting.
#[async_trait(?Send)]
pub trait Clock {
    fn now(&self) -> DateTime<Utc>;
    async fn sleep(&self, duration: Duration);
}

/// Cryptographically secure randomness.
pub trait Rng {
    fn fill(&self, buf: &mut [u8]);
}

/// HTTP method subset the core uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    /// Okta's full replacements (groups, apps, memberships) are PUTs.
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// An outbound HTTP request.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// An inbound HTTP response, fully buffered.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Case-insensitive header lookup (first value).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Transport failure (no HTTP status was received).
#[derive(Debug, thiserror::Error)]
#[error("transport error: {0}")]
pub struct TransportError(pub String);

/// Outbound HTTP.
#[async_trait(?Send)]
pub trait HttpClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// Object storage failure.
#[derive(Debug, thiserror::Error)]
#[error("object store error: {0}")]
pub struct StoreError(pub String);

/// Most keys one R2 list request returns, and most keys one R2 delete request takes.
pub const LIST_PAGE_KEYS: u32 = 1000;
pub const DELETE_BATCH_KEYS: usize = 1000;

/// Smallest part of a multipart upload other than the last (R2's and S3's rule).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// Bytes of one ranged read, with the size of the whole stored object (so a reader can tell a
/// short object from a short read without relying on how the store clamps ranges).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeRead {
    pub bytes: Vec<u8>,
    pub object_len: u64,
}

/// A part of a multipart upload, as `complete_multipart` needs it back.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadedPart {
    pub part_number: u16,
    pub etag: String,
}

/// Object storage (R2 in production).
///
/// Large objects go through multipart upload so a writer never holds a whole object: parts
/// other than the last must be at least [`MIN_PART_SIZE`] and (R2) all of the same size. The
/// object only becomes visible on `complete_multipart`.
#[async_trait(?Send)]
pub trait ObjectStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Up to `len` bytes of an object from `offset` (fewer only where the object ends first);
    /// `None` if the object is missing. `offset` must not exceed the object's length.
    async fn get_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Option<RangeRead>, StoreError>;
    /// Every key under `prefix`, in lexical order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Removes an object; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// The first `limit` keys under `prefix` (at most [`LIST_PAGE_KEYS`]), in lexical order: one
    /// request, so a job that deletes as it lists stays within its subrequest budget.
    async fn list_page(&self, prefix: &str, limit: u32) -> Result<Vec<String>, StoreError> {
        let mut keys = self.list(prefix).await?;
        keys.truncate(limit.min(LIST_PAGE_KEYS) as usize);
        Ok(keys)
    }
    /// Removes up to [`DELETE_BATCH_KEYS`] objects (one request to R2); missing keys are not an
    /// error.
    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        for key in keys {
            self.delete(key).await?;
        }
        Ok(())
    }
    /// Starts a multipart upload; returns its upload id.
    async fn create_multipart(&self, key: &str) -> Result<String, StoreError>;
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u16,
        bytes: Vec<u8>,
    ) -> Result<UploadedPart, StoreError>;
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
    ) -> Result<(), StoreError>;
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError>;
}

/// An incoming request's body as it arrives, piece by piece (the Workers request stream in
/// production), so the core decides how much of it is ever read.
#[async_trait(?Send)]
pub trait RequestBody {
    /// The next piece, or `None` at the end of the body.
    async fn next_piece(&mut self) -> Result<Option<Vec<u8>>, TransportError>;
}

/// The rate-limit budgets a request can spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateBudget {
    /// Authenticated calls, per user (a user's API keys share it).
    Caller,
    /// Failed authentications, per client IP.
    FailedAuth,
    /// API-key lookups, per client IP and per key id, spent before the key's row is read.
    KeyLookup,
    /// Signed-URL downloads, per client IP.
    Download,
}

/// What the limiter said about one unit of a budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Refused,
    /// The limiter could not count (its binding failed): the route decides what that means.
    Unavailable,
}

/// Counting limiter (the Workers Rate Limiting binding in production): spends one unit of
/// `budget` for `key`.
#[async_trait(?Send)]
pub trait RateLimiter {
    async fn spend(&self, budget: RateBudget, key: &str) -> Verdict;
}

/// Queue failure.
#[derive(Debug, thiserror::Error)]
#[error("queue error: {0}")]
pub struct QueueError(pub String);

/// The job queue (a Cloudflare Queue in production). Messages are JSON (the job runner's
/// `Job`); a delay postpones delivery.
#[async_trait(?Send)]
pub trait JobQueue {
    async fn send(&self, message: &serde_json::Value, delay_seconds: u32)
        -> Result<(), QueueError>;
}

/// A sealing primitive of the runtime failed (not an authentication failure: that is
/// [`AesGcmKey::open`]'s `None`). The message names the operation, never data or keys.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("sealing primitive failed: {0}")]
pub struct PrimitiveError(pub String);

/// One gzip stream being written (RFC 1952), fed in pieces.
#[async_trait(?Send)]
pub trait Compressor {
    /// Adds input; returns the compressed bytes ready so far (possibly none: output may lag).
    async fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, PrimitiveError>;
    /// Ends the stream; returns the rest of it, trailer included.
    async fn finish(self: Box<Self>) -> Result<Vec<u8>, PrimitiveError>;
}

/// One gzip stream being read, fed in pieces.
#[async_trait(?Send)]
pub trait Decompressor {
    /// Adds compressed input; returns the bytes decompressed so far (output may lag).
    async fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, PrimitiveError>;
    /// Ends the input; fails unless it was one complete gzip stream.
    async fn finish(self: Box<Self>) -> Result<Vec<u8>, PrimitiveError>;
}

/// AES-256-GCM under one imported key, 96-bit nonces and 128-bit tags.
#[async_trait(?Send)]
pub trait AesGcmKey {
    /// `ciphertext || tag` of `plaintext`.
    async fn seal(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PrimitiveError>;
    /// The plaintext of `ciphertext || tag`, or `None` if it does not authenticate.
    async fn open(&self, nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>>;
}

/// The compression and cipher primitives snapshot sealing is built from: the runtime's
/// `CompressionStream` and `crypto.subtle` in the worker, flate2 and aes-gcm natively. Only
/// the primitive calls go through here; the format (framing, nonces, AAD, key derivation) is
/// the core's (`crypto::stream`).
#[async_trait(?Send)]
pub trait SealPrimitives {
    fn gzip(&self) -> Box<dyn Compressor>;
    fn gunzip(&self) -> Box<dyn Decompressor>;
    async fn aes_256_gcm(&self, key: &[u8; 32]) -> Result<Box<dyn AesGcmKey>, PrimitiveError>;
}
