//! Port implementations over the Workers runtime.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use std::time::Duration;
use worker::{Bucket, Delay, Fetch, Headers, Range, Request, RequestInit, RequestRedirect};

use crate::ports::{
    Clock, HttpClient, HttpRequest, HttpResponse, Method, ObjectStore, RangeRead, RateBudget,
    RateLimiter, RequestBody, Rng, StoreError, TransportError, UploadedPart, Verdict,
    LIST_PAGE_KEYS,
};

/// Outbound fetches never follow redirects: a 3xx comes back to the core as it is (and is an
/// error there), so an Okta org, a JWKS endpoint or a provider cannot send the request (and its
/// credential) on to another host.
pub struct FetchHttp;

#[async_trait(?Send)]
impl HttpClient for FetchHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let err = |e: worker::Error| TransportError(e.to_string());
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers.append(name, value).map_err(err)?;
        }
        let mut init = RequestInit::new();
        init.with_method(match request.method {
            Method::Get => worker::Method::Get,
            Method::Post => worker::Method::Post,
            Method::Put => worker::Method::Put,
            Method::Patch => worker::Method::Patch,
            Method::Delete => worker::Method::Delete,
        })
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
        if let Some(body) = request.body {
            init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
        }
        let req = Request::new_with_init(&request.url, &init).map_err(err)?;
        let mut response = Fetch::Request(req).send().await.map_err(err)?;
        let body = response.bytes().await.map_err(err)?;
        Ok(HttpResponse {
            status: response.status_code(),
            headers: response.headers().entries().collect(),
            body,
        })
    }
}

/// An incoming request's body stream, pulled piece by piece by the core.
pub struct StreamBody(pub worker::ByteStream);

#[async_trait(?Send)]
impl RequestBody for StreamBody {
    async fn next_piece(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
        use futures_util::StreamExt;
        self.0
            .next()
            .await
            .transpose()
            .map_err(|e| TransportError(e.to_string()))
    }
}

pub struct R2Store(pub Bucket);

#[async_trait(?Send)]
impl ObjectStore for R2Store {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.0
            .put(key, bytes)
            .execute()
            .await
            .map(|_| ())
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let object = self
            .0
            .get(key)
            .execute()
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        let Some(object) = object else {
            return Ok(None);
        };
        let Some(body) = object.body() else {
            return Ok(None);
        };
        body.bytes()
            .await
            .map(Some)
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn get_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Option<RangeRead>, StoreError> {
        let object = self
            .0
            .get(key)
            .range(Range::OffsetWithLength {
                offset,
                length: len,
            })
            .execute()
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        let Some(object) = object else {
            return Ok(None);
        };
        // `size` is the whole object's, whatever range was read.
        let object_len = object.size();
        let Some(body) = object.body() else {
            return Ok(None);
        };
        let bytes = body.bytes().await.map_err(|e| StoreError(e.to_string()))?;
        Ok(Some(RangeRead { bytes, object_len }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = self.0.list().prefix(prefix.to_string());
            if let Some(c) = cursor.take() {
                request = request.cursor(c);
            }
            let page = request
                .execute()
                .await
                .map_err(|e| StoreError(e.to_string()))?;
            keys.extend(page.objects().iter().map(|o| o.key()));
            match (page.truncated(), page.cursor()) {
                (true, Some(next)) => cursor = Some(next),
                _ => return Ok(keys),
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0
            .delete(key)
            .await
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn list_page(&self, prefix: &str, limit: u32) -> Result<Vec<String>, StoreError> {
        let page = self
            .0
            .list()
            .prefix(prefix.to_string())
            .limit(limit.min(LIST_PAGE_KEYS))
            .execute()
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(page.objects().iter().map(|o| o.key()).collect())
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        self.0
            .delete_multiple(keys.iter().map(String::as_str).collect())
            .await
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn create_multipart(&self, key: &str) -> Result<String, StoreError> {
        let upload = self
            .0
            .create_multipart_upload(key)
            .execute()
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(upload.upload_id().await)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u16,
        bytes: Vec<u8>,
    ) -> Result<UploadedPart, StoreError> {
        let part = self
            .0
            .resume_multipart_upload(key, upload_id)
            .map_err(|e| StoreError(e.to_string()))?
            .upload_part(part_number, bytes)
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(UploadedPart {
            part_number: part.part_number(),
            etag: part.etag(),
        })
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<UploadedPart>,
    ) -> Result<(), StoreError> {
        self.0
            .resume_multipart_upload(key, upload_id)
            .map_err(|e| StoreError(e.to_string()))?
            .complete(
                parts
                    .into_iter()
                    .map(|p| worker::UploadedPart::new(p.part_number, p.etag)),
            )
            .await
            .map(|_| ())
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        self.0
            .resume_multipart_upload(key, upload_id)
            .map_err(|e| StoreError(e.to_string()))?
            .abort()
            .await
            .map_err(|e| StoreError(e.to_string()))
    }
}

pub struct WorkerClock;

#[async_trait(?Send)]
impl Clock for WorkerClock {
    fn now(&self) -> DateTime<Utc> {
        let millis = worker::Date::now().as_millis() as i64;
        Utc.timestamp_millis_opt(millis)
            .single()
            .unwrap_or_default()
    }

    async fn sleep(&self, duration: Duration) {
        Delay::from(duration).await;
    }
}

pub struct SystemRng;

impl Rng for SystemRng {
    fn fill(&self, buf: &mut [u8]) {
        // crypto.getRandomValues; failure here means the runtime is broken, not a recoverable state.
        getrandom::getrandom(buf).expect("crypto.getRandomValues is available in workerd");
    }
}

/// The Workers Rate Limiting bindings declared in wrangler.toml, one per budget.
pub struct WorkerLimiter {
    pub caller: worker::RateLimiter,
    pub failed_auth: worker::RateLimiter,
    pub key_lookup: worker::RateLimiter,
    pub download: worker::RateLimiter,
}

#[async_trait(?Send)]
impl RateLimiter for WorkerLimiter {
    async fn spend(&self, budget: RateBudget, key: &str) -> Verdict {
        let binding = match budget {
            RateBudget::Caller => &self.caller,
            RateBudget::FailedAuth => &self.failed_auth,
            RateBudget::KeyLookup => &self.key_lookup,
            RateBudget::Download => &self.download,
        };
        match binding.limit(key.to_string()).await {
            Ok(outcome) if outcome.success => Verdict::Allowed,
            Ok(_) => Verdict::Refused,
            Err(_) => Verdict::Unavailable,
        }
    }
}
