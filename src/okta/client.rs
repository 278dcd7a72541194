//! An Okta management API client: authenticates, follows cursor pagination, paces on
//! rate-limit headers, waits out 429s and retries transient failures (transport errors, 5xx, and
//! 2xx bodies that are not JSON, i.e. cut transfers) with jittered backoff. Reads go out as
//! `butterfly-backup/…`; a restore's writes ([`OktaClient::write`]) as `butterfly-restore/…`, so
//! the drift capture can tell Butterfly's own writes (see `drift::capture::events`).

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use zeroize::Zeroizing;

use super::domain::OrgDomain;
use super::link::next_link;
use super::pacing::{bucket_of, Pacer, Window};
use super::service_app::{dpop_proof, AccessToken};
use crate::ports::{Clock, HttpClient, HttpRequest, HttpResponse, Method, Rng};

/// The user agent of a restore's writes: `butterfly-restore/<version>`.
pub const RESTORE_USER_AGENT: &str = concat!("butterfly-restore/", env!("CARGO_PKG_VERSION"));

/// Okta's answer to a write that it did not refuse for the credential or the rate limit.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteResponse {
    pub status: u16,
    /// The JSON body, when there is one (a `204` has none).
    pub body: Option<Value>,
    /// `X-Okta-Request-Id`: Okta logs it as the System Log event's `transaction.id`.
    pub request_id: Option<String>,
    /// The `errorCode` of an error body (`E0000001`, ...), checked to be of its documented shape.
    pub error_code: Option<String>,
}

impl WriteResponse {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Attempts per request before giving up (the first try plus retries).
const MAX_ATTEMPTS: u32 = 6;
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Pages larger than this are refused rather than buffered.
const MAX_PAGE_BYTES: usize = 32 * 1024 * 1024;

/// An Okta credential. Never printed.
pub enum OktaAuth {
    /// An admin API token: `Authorization: SSWS <token>`.
    ApiToken(Zeroizing<String>),
    /// A service app's access token: `Authorization: Bearer <token>`, or for a DPoP-bound one
    /// `Authorization: DPoP <token>` with a fresh `DPoP` proof per request.
    ServiceApp(AccessToken),
}

impl OktaAuth {
    /// The headers that authenticate `method url`.
    fn headers(
        &self,
        method: Method,
        url: &str,
        now: chrono::DateTime<chrono::Utc>,
        rng: &dyn Rng,
    ) -> Vec<(&'static str, Zeroizing<String>)> {
        match self {
            OktaAuth::ApiToken(t) => vec![(
                "authorization",
                Zeroizing::new(format!("SSWS {}", t.as_str())),
            )],
            OktaAuth::ServiceApp(AccessToken {
                token, dpop: None, ..
            }) => {
                vec![(
                    "authorization",
                    Zeroizing::new(format!("Bearer {}", token.as_str())),
                )]
            }
            OktaAuth::ServiceApp(AccessToken {
                token,
                dpop: Some(key),
                ..
            }) => {
                let mut jti = [0u8; 16];
                rng.fill(&mut jti);
                let proof = dpop_proof(
                    key,
                    method,
                    url,
                    now,
                    &hex::encode(jti),
                    None,
                    Some(token.as_str()),
                );
                vec![
                    (
                        "authorization",
                        Zeroizing::new(format!("DPoP {}", token.as_str())),
                    ),
                    ("dpop", Zeroizing::new(proof)),
                ]
            }
        }
    }
}

impl fmt::Debug for OktaAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OktaAuth::ApiToken(_) => "OktaAuth::ApiToken(..redacted..)",
            OktaAuth::ServiceApp(_) => "OktaAuth::ServiceApp(..redacted..)",
        })
    }
}

/// Okta's error body (`E0000xxx`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OktaErrorBody {
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub error_summary: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OktaError {
    #[error("Okta rejected the credential ({code})")]
    Unauthorized { code: String },
    #[error("the credential lacks permission for {path} ({code})")]
    Forbidden { path: String, code: String },
    #[error("Okta resource not found: {path}")]
    NotFound { path: String },
    #[error("Okta refused the request with HTTP {status} ({code})")]
    Rejected { status: u16, code: String },
    #[error("Okta kept failing after {attempts} attempts (last: {last})")]
    GaveUp { attempts: u32, last: String },
    #[error("Okta returned a malformed response for {path}")]
    Malformed { path: String },
    #[error("Okta pagination pointed outside the org")]
    ForeignLink,
    /// `400 E0000029` ("Invalid paging request"): Okta no longer accepts the `after` cursor of
    /// `path`, e.g. one stored by an earlier invocation that has since expired.
    #[error("Okta refused the paging cursor of {path} (E0000029)")]
    CursorRefused { path: String },
    /// The pages of a list came round again: following its `next` links would never end.
    #[error("Okta's pagination of {path} loops back to a page already read")]
    PaginationLoop { path: String },
}

/// One page of a list endpoint, kept as the bytes Okta sent: a collector holding a few pages
/// in flight holds a few response bodies, not their parsed trees (several times larger).
#[derive(Debug)]
pub struct Page {
    body: Vec<u8>,
    /// The URL this page was read from.
    pub url: String,
    pub next: Option<String>,
}

impl Page {
    /// The page's items, each still raw JSON (the body was checked to be an array).
    pub fn items(&self) -> Vec<&RawValue> {
        serde_json::from_slice(&self.body).expect("checked to be an array when received")
    }

    /// Length of the page's body in bytes.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }
}

/// Per-bucket counters for reports and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BucketStats {
    pub requests: u64,
    pub rate_limited: u64,
    pub retries: u64,
    pub waited_ms: u64,
}

pub struct OktaClient<'a> {
    http: &'a dyn HttpClient,
    clock: &'a dyn Clock,
    rng: &'a dyn Rng,
    base: String,
    auth: OktaAuth,
    pacer: RefCell<Pacer>,
    stats: RefCell<BTreeMap<String, BucketStats>>,
}

impl<'a> OktaClient<'a> {
    pub fn new(
        http: &'a dyn HttpClient,
        clock: &'a dyn Clock,
        rng: &'a dyn Rng,
        org: &OrgDomain,
        auth: OktaAuth,
    ) -> Self {
        OktaClient {
            http,
            clock,
            rng,
            base: org.base_url(),
            auth,
            pacer: RefCell::new(Pacer::default()),
            stats: RefCell::new(BTreeMap::new()),
        }
    }

    /// Absolute URL of an API path such as `/api/v1/users?limit=200`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    /// GET a single JSON document.
    pub async fn get(&self, path_and_query: &str) -> Result<Value, OktaError> {
        let response = self.fetch(&self.url(path_and_query)).await?;
        serde_json::from_slice(&response.body).map_err(|_| OktaError::Malformed {
            path: path_and_query.to_string(),
        })
    }

    /// GET one page of a list endpoint; `url` is absolute (a previous page's next link, or
    /// [`OktaClient::url`]).
    pub async fn page(&self, url: &str) -> Result<Page, OktaError> {
        let path = self.path_of(url)?;
        let response = self.fetch(url).await?;
        if serde_json::from_slice::<Vec<&RawValue>>(&response.body).is_err() {
            return Err(OktaError::Malformed { path });
        }
        let next = next_link(
            response
                .headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("link"))
                .map(|(_, v)| v.as_str()),
        );
        if let Some(next) = &next {
            // The next link carries our credential's reach: it must stay on this org.
            self.path_of(next)?;
        }
        Ok(Page {
            body: response.body,
            url: url.to_string(),
            next,
        })
    }

    /// Every item of a (small) list endpoint.
    pub async fn list_all(&self, path_and_query: &str) -> Result<Vec<Value>, OktaError> {
        let mut all = Vec::new();
        let mut next = Some(self.url(path_and_query));
        while let Some(url) = next {
            let page = self.page(&url).await?;
            for item in page.items() {
                all.push(
                    serde_json::from_str(item.get()).map_err(|_| OktaError::Malformed {
                        path: path_and_query.to_string(),
                    })?,
                );
            }
            next = page.next;
        }
        Ok(all)
    }

    pub fn stats(&self) -> BTreeMap<String, BucketStats> {
        self.stats.borrow().clone()
    }

    /// The API path of an absolute URL on this org; links elsewhere are refused, since following
    /// them would send our credential to another host.
    pub fn path_of(&self, url: &str) -> Result<String, OktaError> {
        let rest = url.strip_prefix(&self.base).ok_or(OktaError::ForeignLink)?;
        if !rest.starts_with("/api/") {
            return Err(OktaError::ForeignLink);
        }
        Ok(rest.to_string())
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// The rate-limit windows seen so far, per bucket.
    pub fn rate_windows(&self) -> BTreeMap<String, Window> {
        self.pacer.borrow().windows().clone()
    }

    /// Starts from windows an earlier invocation saw.
    pub fn restore_rate_windows(&self, windows: &BTreeMap<String, Window>) {
        self.pacer.borrow_mut().restore(windows);
    }

    async fn wait(&self, bucket: &str, duration: Duration) {
        if duration.is_zero() {
            return;
        }
        self.bump(bucket, |s| s.waited_ms += duration.as_millis() as u64);
        self.clock.sleep(duration).await;
    }

    fn bump(&self, bucket: &str, f: impl FnOnce(&mut BucketStats)) {
        f(self
            .stats
            .borrow_mut()
            .entry(bucket.to_string())
            .or_default());
    }

    /// Exponential backoff with full jitter: uniform in [0, base * 2^attempt].
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = BACKOFF_BASE.as_millis() as u64 * (1u64 << attempt.min(6));
        let mut bytes = [0u8; 8];
        self.rng.fill(&mut bytes);
        Duration::from_millis(u64::from_le_bytes(bytes) % (ceiling + 1))
    }

    /// Sends one write (`POST`, `PUT` or `DELETE` with a JSON body), paced like reads. 429s are
    /// waited out and sent again (Okta did nothing). Transport errors and 5xx are retried only
    /// when `idempotent`: a create whose answer was lost may have happened, so it is left to the
    /// caller to look it up before trying again ([`OktaError::GaveUp`]). Every other answer is
    /// returned as it is, for the caller to record; only a rejected credential is an error.
    pub async fn write(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<WriteResponse, OktaError> {
        let url = self.url(path_and_query);
        let path = self.path_of(&url)?;
        let bucket = bucket_of(&path);
        let bytes = body.map(|b| serde_json::to_vec(b).expect("JSON serialises"));
        let (mut last, mut tried) = (String::new(), 0);
        for attempt in 0..MAX_ATTEMPTS {
            tried = attempt + 1;
            let pause = self.pacer.borrow_mut().wait_before(&bucket, self.now_ms());
            if let Some(pause) = pause {
                self.wait(&bucket, pause).await;
            }
            if attempt > 0 {
                self.bump(&bucket, |s| s.retries += 1);
            }
            self.bump(&bucket, |s| s.requests += 1);
            let mut request = HttpRequest::get(url.as_str())
                .header("accept", "application/json")
                .header("user-agent", RESTORE_USER_AGENT);
            for (name, value) in self.auth.headers(method, &url, self.clock.now(), self.rng) {
                request = request.header(name, value.as_str());
            }
            request.method = method;
            if let Some(bytes) = &bytes {
                request = request.header("content-type", "application/json");
                request.body = Some(bytes.clone());
            }
            let response = match self.http.send(request).await {
                Ok(r) => r,
                Err(e) => {
                    last = e.to_string();
                    if !idempotent {
                        break;
                    }
                    self.wait(&bucket, self.backoff(attempt)).await;
                    continue;
                }
            };
            let window = Window::from_response(&response);
            if let Some(window) = window {
                self.pacer.borrow_mut().observe(&bucket, window);
            }
            match response.status {
                429 => {
                    self.bump(&bucket, |s| s.rate_limited += 1);
                    last = "HTTP 429".into();
                    let pause = window
                        .map(|w| w.until_reset(self.now_ms()))
                        .unwrap_or(super::pacing::MAX_WAIT);
                    self.wait(&bucket, pause.max(self.backoff(0))).await;
                }
                500..=599 => {
                    last = format!("HTTP {}", response.status);
                    if !idempotent {
                        break;
                    }
                    self.wait(&bucket, self.backoff(attempt)).await;
                }
                401 => {
                    return Err(OktaError::Unauthorized {
                        code: error_code(&response),
                    })
                }
                status => {
                    let body = (!response.body.is_empty())
                        .then(|| serde_json::from_slice::<Value>(&response.body).ok())
                        .flatten();
                    let error_code = (!(200..300).contains(&status)).then(|| error_code(&response));
                    return Ok(WriteResponse {
                        status,
                        body,
                        request_id: response
                            .header("x-okta-request-id")
                            .filter(|id| id.len() <= 100)
                            .map(str::to_string),
                        error_code,
                    });
                }
            }
        }
        Err(OktaError::GaveUp {
            attempts: tried,
            last,
        })
    }

    /// GETs `url` and checks its body is JSON, retrying what is likely transient.
    async fn fetch(&self, url: &str) -> Result<HttpResponse, OktaError> {
        let path = self.path_of(url)?;
        let bucket = bucket_of(&path);
        let mut last = String::new();
        for attempt in 0..MAX_ATTEMPTS {
            let pause = self.pacer.borrow_mut().wait_before(&bucket, self.now_ms());
            if let Some(pause) = pause {
                self.wait(&bucket, pause).await;
            }
            if attempt > 0 {
                self.bump(&bucket, |s| s.retries += 1);
            }
            self.bump(&bucket, |s| s.requests += 1);
            let mut request = HttpRequest::get(url)
                .header("accept", "application/json")
                .header("user-agent", "butterfly-backup/0.1");
            for (name, value) in self
                .auth
                .headers(Method::Get, url, self.clock.now(), self.rng)
            {
                request = request.header(name, value.as_str());
            }
            let response = match self.http.send(request).await {
                Ok(r) => r,
                Err(e) => {
                    last = e.to_string();
                    self.wait(&bucket, self.backoff(attempt)).await;
                    continue;
                }
            };
            let window = Window::from_response(&response);
            if let Some(window) = window {
                self.pacer.borrow_mut().observe(&bucket, window);
            }
            match response.status {
                200..=299 => {
                    if response.body.len() > MAX_PAGE_BYTES {
                        return Err(OktaError::Malformed { path });
                    }
                    // Checked without building it (the caller parses what it needs).
                    match serde_json::from_slice::<IgnoredAny>(&response.body) {
                        Ok(_) => return Ok(response),
                        // Almost always a transfer cut short (a dropped connection or a proxy):
                        // retried like a 5xx.
                        Err(_) => {
                            last = format!("HTTP {} with a body that is not JSON", response.status);
                            self.wait(&bucket, self.backoff(attempt)).await;
                        }
                    }
                }
                429 => {
                    self.bump(&bucket, |s| s.rate_limited += 1);
                    last = "HTTP 429".into();
                    let pause = window
                        .map(|w| w.until_reset(self.now_ms()))
                        .unwrap_or(super::pacing::MAX_WAIT);
                    self.wait(&bucket, pause.max(self.backoff(0))).await;
                }
                500..=599 => {
                    last = format!("HTTP {}", response.status);
                    self.wait(&bucket, self.backoff(attempt)).await;
                }
                401 => {
                    return Err(OktaError::Unauthorized {
                        code: error_code(&response),
                    })
                }
                403 => {
                    return Err(OktaError::Forbidden {
                        path,
                        code: error_code(&response),
                    })
                }
                404 => return Err(OktaError::NotFound { path }),
                400 if path.contains("after=") && error_code(&response) == "E0000029" => {
                    return Err(OktaError::CursorRefused { path })
                }
                status => {
                    return Err(OktaError::Rejected {
                        status,
                        code: error_code(&response),
                    })
                }
            }
        }
        Err(OktaError::GaveUp {
            attempts: MAX_ATTEMPTS,
            last,
        })
    }
}

/// The `errorCode` of an Okta error body, limited to its documented shape so nothing odd is
/// echoed back to users.
fn error_code(response: &HttpResponse) -> String {
    serde_json::from_slice::<OktaErrorBody>(&response.body)
        .ok()
        .map(|b| b.error_code)
        .filter(|c| c.len() <= 16 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okta::domain::DomainPolicy;
    use crate::ports::TransportError;
    use crate::testing::{json_response, ManualClock, ScriptedHttp, SeqRng};
    use chrono::TimeZone;
    use futures::executor::block_on;
    use serde_json::json;
    use std::cell::Cell;
    use std::rc::Rc;

    fn org() -> OrgDomain {
        OrgDomain::parse("acme.okta.com", DomainPolicy::OktaOnly).unwrap()
    }

    fn clock() -> ManualClock {
        ManualClock::at(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
    }

    fn token() -> OktaAuth {
        OktaAuth::ApiToken(Zeroizing::new("00abc".into()))
    }

    #[test]
    fn follows_next_links_and_sends_ssws() {
        let http = ScriptedHttp::new(|req| {
            let page = if req.url.contains("after=2") {
                (json!([{"id": 3}]), vec![])
            } else {
                (
                    json!([{"id": 1}, {"id": 2}]),
                    vec![(
                        "link",
                        "<https://acme.okta.com/api/v1/users?after=2&limit=2>; rel=\"next\"",
                    )],
                )
            };
            Ok(json_response(200, &page.0, &page.1))
        });
        let (clock, rng) = (clock(), SeqRng::new(1));
        let client = OktaClient::new(&http, &clock, &rng, &org(), token());
        let all = block_on(client.list_all("/api/v1/users?limit=2")).unwrap();
        assert_eq!(all, vec![json!({"id":1}), json!({"id":2}), json!({"id":3})]);
        let requests = http.requests.borrow();
        assert_eq!(requests.len(), 2);
        assert!(requests[0]
            .headers
            .contains(&("authorization".into(), "SSWS 00abc".into())));
    }

    #[test]
    fn refuses_next_links_to_other_hosts() {
        let http = ScriptedHttp::new(|_| {
            Ok(json_response(
                200,
                &json!([]),
                &[(
                    "link",
                    "<https://evil.example/api/v1/users?after=x>; rel=\"next\"",
                )],
            ))
        });
        let (clock, rng) = (clock(), SeqRng::new(1));
        let client = OktaClient::new(&http, &clock, &rng, &org(), token());
        let err = block_on(client.list_all("/api/v1/users")).unwrap_err();
        assert!(matches!(err, OktaError::ForeignLink));
    }

    #[test]
    fn waits_for_reset_on_429_then_succeeds() {
        let calls = Rc::new(Cell::new(0));
        let seen = calls.clone();
        let reset = (chrono::Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp()
            + 20)
            .to_string();
        let http = ScriptedHttp::new(move |_| {
            seen.set(seen.get() + 1);
            if seen.get() == 1 {
                Ok(json_response(
                    429,
                    &json!({"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit due to too many requests."}),
                    &[
                        ("x-rate-limit-limit", "100"),
                        ("x-rate-limit-remaining", "0"),
                        ("x-rate-limit-reset", &reset),
                    ],
                ))
            } else {
                Ok(json_response(200, &json!({"id": "org"}), &[]))
            }
        });
        let (clock, rng) = (clock(), SeqRng::new(1));
        let client = OktaClient::new(&http, &clock, &rng, &org(), token());
        assert_eq!(
            block_on(client.get("/api/v1/org")).unwrap(),
            json!({"id":"org"})
        );
        assert_eq!(calls.get(), 2);
        // Until the reset (20 s away) plus the skew margin.
        assert!(clock.sleeps.borrow()[0] >= Duration::from_millis(20_250));
        let stats = client.stats();
        assert_eq!(stats["/api/v1/org"].rate_limited, 1);
        assert_eq!(stats["/api/v1/org"].requests, 2);
    }

    #[test]
    fn paces_before_exhausting_a_bucket() {
        let reset = (chrono::Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp()
            + 10)
            .to_string();
        let http = ScriptedHttp::new(move |_| {
            Ok(json_response(
                200,
                &json!([]),
                &[
                    ("x-rate-limit-limit", "100"),
                    ("x-rate-limit-remaining", "5"),
                    ("x-rate-limit-reset", &reset),
                ],
            ))
        });
        let (clock, rng) = (clock(), SeqRng::new(1));
        let client = OktaClient::new(&http, &clock, &rng, &org(), token());
        block_on(client.list_all("/api/v1/apps")).unwrap();
        assert!(clock.sleeps.borrow().is_empty());
        block_on(client.list_all("/api/v1/apps")).unwrap();
        assert_eq!(
            clock.sleeps.borrow().as_slice(),
            &[Duration::from_millis(10_250)]
        );
    }

    #[test]
    fn retries_transient_failures_but_not_forever() {
        let http = ScriptedHttp::new(|_| Err(TransportError("reset".into())));
        let (clock, rng) = (clock(), SeqRng::new(1));
        let client = OktaClient::new(&http, &clock, &rng, &org(), token());
        let err = block_on(client.get("/api/v1/org")).unwrap_err();
        assert!(matches!(
            err,
            OktaError::GaveUp {
                attempts: MAX_ATTEMPTS,
                ..
            }
        ));
        assert_eq!(http.requests.borrow().len(), MAX_ATTEMPTS as usize);
    }

    #[test]
    fn retries_a_page_that_is_not_json_like_a_5xx() {
        let calls = Rc::new(Cell::new(0));
        let seen = calls.clone();
        let http = ScriptedHttp::new(move |_| {
            seen.set(seen.get() + 1);
            let mut response = json_response(200, &json!([{"id": 1}, {"id": 2}]), &[]);
            if seen.get() <= 2 {
                // Cut mid-array, as a dropped transfer delivers it.
                response.body.truncate(response.body.len() / 2);
            }
            Ok(response)
        });
        let (clock, rng) = (clock(), SeqRng::new(1));
        let client = OktaClient::new(&http, &clock, &rng, &org(), token());
        let page = block_on(client.page(&client.url("/api/v1/users"))).unwrap();
        let items: Vec<&str> = page.items().iter().map(|i| i.get()).collect();
        assert_eq!(items, [r#"{"id":1}"#, r#"{"id":2}"#]);
        assert_eq!(calls.get(), 3);
        // Jittered exponential backoff between the attempts: [0, 500] ms, then [0, 1000] ms.
        let sleeps = clock.sleeps.borrow().clone();
        assert!(sleeps.len() <= 2, "{sleeps:?}");
        assert!(sleeps.iter().all(|d| *d <= Duration::from_millis(1000)));
        assert_eq!(client.stats()["/api/v1/users"].retries, 2);

        // Never valid: an error once the attempts are spent, not a page of nothing.
        let http = ScriptedHttp::new(|_| {
            let mut response = json_response(200, &json!({"id": "org"}), &[]);
            response.body.truncate(5);
            Ok(response)
        });
        let client = OktaClient::new(&http, &clock, &rng, &org(), token());
        match block_on(client.get("/api/v1/org")).unwrap_err() {
            OktaError::GaveUp { attempts, last } => {
                assert_eq!(attempts, MAX_ATTEMPTS);
                assert!(last.contains("not JSON"), "{last}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(http.requests.borrow().len(), MAX_ATTEMPTS as usize);
    }

    #[test]
    fn maps_okta_errors_without_echoing_bodies() {
        let http = ScriptedHttp::new(|req| {
            let (status, code) = if req.url.ends_with("/me") {
                (401, "E0000011")
            } else {
                (403, "E0000006<script>")
            };
            Ok(json_response(
                status,
                &json!({"errorCode": code, "errorSummary": "x"}),
                &[],
            ))
        });
        let (clock, rng) = (clock(), SeqRng::new(1));
        let client = OktaClient::new(&http, &clock, &rng, &org(), token());
        match block_on(client.get("/api/v1/users/me")).unwrap_err() {
            OktaError::Unauthorized { code } => assert_eq!(code, "E0000011"),
            other => panic!("unexpected {other:?}"),
        }
        match block_on(client.get("/api/v1/apps")).unwrap_err() {
            OktaError::Forbidden { code, .. } => assert_eq!(code, "unknown"),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// The HTTP port never follows redirects (`FetchHttp` fetches with `redirect: manual`), so
    /// a 3xx reaches the client as it is: an error, with no request to the `Location` (which
    /// would carry the tenant's token to another host).
    #[test]
    fn a_redirect_is_an_error_and_is_not_followed() {
        let http = ScriptedHttp::new(|_| {
            Ok(json_response(
                302,
                &json!({}),
                &[("location", "https://evil.example/api/v1/users")],
            ))
        });
        let (clock, rng) = (clock(), SeqRng::new(1));
        let client = OktaClient::new(&http, &clock, &rng, &org(), token());
        match block_on(client.get("/api/v1/users/me")).unwrap_err() {
            OktaError::Rejected { status, .. } => assert_eq!(status, 302),
            other => panic!("unexpected {other:?}"),
        }
        let requests = http.requests.borrow();
        assert_eq!(requests.len(), 1);
        assert!(!requests[0].url.contains("evil.example"));
    }

    #[test]
    fn credential_is_redacted_in_debug() {
        assert_eq!(format!("{:?}", token()), "OktaAuth::ApiToken(..redacted..)");
    }
}
