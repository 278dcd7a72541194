//! Polling the System Log the way Okta documents it (developer.okta.com/docs/reference/
//! system-log-query/, "Polling requests"): the first request gives `since` (the base backup's
//! start) and `sortOrder=ASCENDING`, no `until`; every later one is the `next` link of the page
//! before, followed as Okta sent it. A polling page always carries a `next` link, even an empty
//! one, and that link later returns what happened since; so the link is the cursor, stored as
//! is. The requests count against the `/api/v1/logs` rate bucket, which the client paces.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::events::LogEvent;
use crate::okta::{OktaClient, OktaError};

/// Events per page (Okta's maximum for `/api/v1/logs`).
pub const PAGE_LIMIT: u32 = 1000;

/// Okta keeps System Log events for 90 days; a `since` further back is clamped to just inside
/// that window (and anything older than the window was never going to be returned).
pub const RETENTION_DAYS: i64 = 90;

/// Where a poll starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// The first poll of a connection: from the base backup's start.
    Since(DateTime<Utc>),
    /// A stored `next` link.
    Next(String),
}

impl Start {
    /// The URL to request (a stored link is used unchanged).
    pub fn url(&self, okta: &OktaClient<'_>, now: DateTime<Utc>) -> String {
        match self {
            Start::Next(link) => link.clone(),
            Start::Since(since) => {
                let floor = now - Duration::days(RETENTION_DAYS) + Duration::minutes(5);
                let since = (*since).max(floor);
                okta.url(&format!(
                    "/api/v1/logs?since={}&sortOrder=ASCENDING&limit={PAGE_LIMIT}",
                    url_encode(&since.to_rfc3339_opts(SecondsFormat::Millis, true))
                ))
            }
        }
    }
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// One page of events and the cursor after it.
#[derive(Debug)]
pub struct Polled {
    /// Events in the order Okta returned them; unreadable ones are counted, not kept.
    pub events: Vec<LogEvent>,
    pub unreadable: u32,
    /// The link to poll next: the page's `next` link (or, should Okta omit it, the page's own
    /// URL, which asks again for what comes after the same point).
    pub next: String,
}

/// Reads one page from `url`.
pub async fn poll_page(okta: &OktaClient<'_>, url: &str) -> Result<Polled, OktaError> {
    let page = okta.page(url).await?;
    let mut events = Vec::new();
    let mut unreadable = 0;
    for raw in page.items() {
        match serde_json::from_str::<LogEvent>(raw.get()) {
            Ok(e) => events.push(e),
            Err(_) => unreadable += 1,
        }
    }
    Ok(Polled {
        events,
        unreadable,
        next: page.next.unwrap_or(page.url),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okta::{DomainPolicy, OktaAuth, OrgDomain};
    use crate::testing::{json_response, ManualClock, ScriptedHttp, SeqRng};
    use chrono::TimeZone;
    use futures::executor::block_on;
    use serde_json::json;
    use zeroize::Zeroizing;

    fn event(uuid: &str) -> serde_json::Value {
        let mut e: serde_json::Value =
            serde_json::from_str(include_str!("testdata/log-event.json")).unwrap();
        e["uuid"] = json!(uuid);
        e
    }

    #[test]
    fn polls_since_once_then_follows_next_links_unchanged() {
        let next = "https://acme.okta.com/api/v1/logs?after=1627500044869_1&limit=1000&sortOrder=ASCENDING";
        let http = ScriptedHttp::new(move |req| {
            let (body, link) = if req.url.contains("after=") {
                (json!([]), next.to_string())
            } else {
                (
                    json!([event("e1"), {"no": "uuid"}, event("e2")]),
                    next.to_string(),
                )
            };
            Ok(json_response(
                200,
                &body,
                &[("link", &format!("<{link}>; rel=\"next\""))],
            ))
        });
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let clock = ManualClock::at(now);
        let rng = SeqRng::new(1);
        let org = OrgDomain::parse("acme.okta.com", DomainPolicy::OktaOnly).unwrap();
        let okta = OktaClient::new(
            &http,
            &clock,
            &rng,
            &org,
            OktaAuth::ApiToken(Zeroizing::new("t".into())),
        );
        let since = Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).unwrap();
        let first = Start::Since(since).url(&okta, now);
        assert_eq!(
            first,
            "https://acme.okta.com/api/v1/logs?since=2026-03-01T06%3A00%3A00.000Z&sortOrder=ASCENDING&limit=1000"
        );
        assert!(!first.contains("until"));
        let page = block_on(poll_page(&okta, &first)).unwrap();
        let ids: Vec<&str> = page.events.iter().map(|e| e.uuid.as_str()).collect();
        assert_eq!(ids, ["e1", "e2"]);
        assert_eq!(page.unreadable, 1);
        assert_eq!(page.next, next);
        // The stored link is requested exactly as Okta sent it.
        let again = Start::Next(page.next.clone()).url(&okta, now);
        let empty = block_on(poll_page(&okta, &again)).unwrap();
        assert!(empty.events.is_empty());
        assert_eq!(empty.next, next, "an empty polling page keeps the cursor");
        let urls: Vec<String> = http
            .requests
            .borrow()
            .iter()
            .map(|r| r.url.clone())
            .collect();
        assert_eq!(urls, [first, next.to_string()]);
    }

    #[test]
    fn a_since_beyond_retention_is_clamped_and_foreign_links_refused() {
        let http = ScriptedHttp::new(|_| {
            Ok(json_response(
                200,
                &json!([]),
                &[(
                    "link",
                    "<https://evil.example/api/v1/logs?after=1>; rel=\"next\"",
                )],
            ))
        });
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let clock = ManualClock::at(now);
        let rng = SeqRng::new(1);
        let org = OrgDomain::parse("acme.okta.com", DomainPolicy::OktaOnly).unwrap();
        let okta = OktaClient::new(
            &http,
            &clock,
            &rng,
            &org,
            OktaAuth::ApiToken(Zeroizing::new("t".into())),
        );
        let url = Start::Since(now - Duration::days(400)).url(&okta, now);
        assert!(url.contains("since=2025-12-01T12%3A05%3A00.000Z"), "{url}");
        assert!(matches!(
            block_on(poll_page(&okta, &url)),
            Err(OktaError::ForeignLink)
        ));
    }
}
