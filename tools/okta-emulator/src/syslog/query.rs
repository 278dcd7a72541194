//! `GET /api/v1/logs` as Okta's System Log query guide describes it
//! (developer.okta.com/docs/reference/system-log-query/):
//!
//! - a *polling* request (`until` absent, `sortOrder=ASCENDING`, the default) returns events in
//!   storage order from `since` (default: 7 days ago) and always has a `next` link, even when no
//!   new events exist yet, so a client polls by following `next` forever;
//! - a *bounded* request (`until` given, or `DESCENDING`) returns the events whose `published`
//!   lies in `[since, until)`, ordered by `published`, and its last page has no `next` link.
//!
//! `filter` is a SCIM expression (not on `published`), `q` up to 10 keywords of at most 40
//! characters each, all of which must appear (case-insensitively) as words of the event; `limit`
//! is 0-1000 (default 100). Events older than the 90-day retention are never returned, and a
//! `since` more than 180 days back is refused. The cursor is `<persisted epoch ms>_<sequence>`,
//! like Okta's own (`after=1627500044869_1`).

use serde_json::Value;

use super::{Entry, SystemLog};
use crate::errors::ApiError;
use crate::filter::{Dialect, Expr, FilterError};
use crate::paging::Query;
use crate::routes::{Call, Reply};
use crate::time::{iso8601, parse_iso8601};

const DAY_MS: u64 = 86_400_000;
const RETENTION_MS: u64 = 90 * DAY_MS;
const OLDEST_SINCE_MS: u64 = 180 * DAY_MS;
const DEFAULT_WINDOW_MS: u64 = 7 * DAY_MS;
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

pub(crate) fn list(log: &SystemLog, call: &Call) -> Result<Reply, ApiError> {
    let query = &call.query;
    let now = call.now_ms;
    let limit = limit(query.get("limit"))?;
    let descending = match query.get("sortOrder") {
        None | Some("ASCENDING") => false,
        Some("DESCENDING") => true,
        Some(other) => {
            return Err(ApiError::validation(
                "sortOrder",
                format!("sortOrder: '{other}' is not ASCENDING or DESCENDING"),
            ))
        }
    };
    let until = query.get("until").map(|t| time("until", t)).transpose()?;
    let since = query.get("since").map(|t| time("since", t)).transpose()?;
    if since.is_some_and(|s| s + OLDEST_SINCE_MS < now) {
        return Err(ApiError::custom(
            400,
            "E0000053",
            "Invalid parameter: The since parameter is over 180 days prior to the current day.",
        ));
    }
    let matcher = Matcher::new(query)?;
    let polling = until.is_none() && !descending;
    let entries = log.entries();
    let retained = |e: &Entry| e.published_ms + RETENTION_MS >= now;

    if polling {
        if since.is_some() && query.get("after").is_some() {
            return Err(ApiError::validation(
                "after",
                "after: since and after can't be specified simultaneously",
            ));
        }
        let (start, mut cursor) = match query.get("after") {
            Some(raw) => {
                let (ms, seq) = cursor(raw)?;
                (entries.partition_point(|e| e.seq <= seq), (ms, seq))
            }
            None => {
                let since = since.unwrap_or(now.saturating_sub(DEFAULT_WINDOW_MS));
                let start = entries.partition_point(|e| e.persisted_ms < since);
                let before = start
                    .checked_sub(1)
                    .map_or((since, 0), |i| (entries[i].persisted_ms, entries[i].seq));
                (start, before)
            }
        };
        let mut page = Vec::new();
        for entry in &entries[start..] {
            if page.len() == limit {
                break;
            }
            cursor = (entry.persisted_ms, entry.seq);
            if retained(entry) && matcher.matches(&entry.event) {
                page.push(entry.event.clone());
            }
        }
        let next = query.without(&["since", "after"]);
        let links = vec![
            self_link(call),
            next_link(call, &next, &format!("after={}_{}", cursor.0, cursor.1)),
        ];
        return Ok(Reply {
            status: 200,
            body: Value::Array(page),
            links,
        });
    }

    let until = until.unwrap_or(now);
    let since = since.unwrap_or(until.saturating_sub(DEFAULT_WINDOW_MS));
    let mut window: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.published_ms >= since && e.published_ms < until)
        .filter(|e| retained(e) && matcher.matches(&e.event))
        .collect();
    window.sort_by_key(|e| (e.published_ms, e.seq));
    if descending {
        window.reverse();
    }
    let start = match query.get("after") {
        Some(raw) => {
            let key = cursor(raw)?;
            let after = |e: &&Entry| {
                let k = (e.published_ms, e.seq);
                if descending {
                    k >= key
                } else {
                    k <= key
                }
            };
            window.partition_point(after)
        }
        None => 0,
    };
    let end = (start + limit).min(window.len());
    let page: Vec<Value> = window[start..end].iter().map(|e| e.event.clone()).collect();
    let mut links = vec![self_link(call)];
    if end < window.len() && end > start {
        let last = window[end - 1];
        let mut next = query.without(&["after", "since", "until"]);
        next.push(format!("since={}", encode(&iso8601(since as i64))));
        next.push(format!("until={}", encode(&iso8601(until as i64))));
        let after = format!("after={}_{}", last.published_ms, last.seq);
        links.push(next_link(call, &next, &after));
    }
    Ok(Reply {
        status: 200,
        body: Value::Array(page),
        links,
    })
}

/// `limit`: 0-1000, larger values are clamped as elsewhere.
fn limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    let n: i64 = raw.trim().parse().map_err(|_| invalid_limit(raw))?;
    if n < 0 {
        return Err(invalid_limit(raw));
    }
    Ok(usize::try_from(n).map_or(MAX_LIMIT, |n| n.min(MAX_LIMIT)))
}

fn invalid_limit(raw: &str) -> ApiError {
    ApiError::validation("limit", format!("limit: Invalid limit '{raw}'"))
}

/// An ISO 8601 `since`/`until`, or the error Okta's guide shows for one it cannot read.
fn time(name: &str, text: &str) -> Result<u64, ApiError> {
    parse_iso8601(text)
        .and_then(|ms| u64::try_from(ms).ok())
        .ok_or_else(|| {
            let unreadable = format!(
                "{name}: The date format in your query is not recognized. Please enter dates \
                 using ISO8601 string format."
            );
            let empty = format!("{name}: must be a valid date-time or empty.");
            ApiError::with_causes(
                400,
                "E0000001",
                format!(
                    "Api validation failed: '{name}': The date format in your query is not \
                     recognized. Please enter dates using ISO8601 string format. '{name}': must \
                     be a valid date-time or empty."
                ),
                vec![unreadable, empty],
            )
        })
}

/// `<epoch ms>_<sequence>`.
fn cursor(raw: &str) -> Result<(u64, u64), ApiError> {
    raw.split_once('_')
        .and_then(|(ms, seq)| Some((ms.parse().ok()?, seq.parse().ok()?)))
        .ok_or_else(ApiError::invalid_paging)
}

/// `filter` and `q` together.
struct Matcher {
    filter: Option<Expr>,
    keywords: Vec<String>,
}

impl Matcher {
    fn new(query: &Query) -> Result<Self, ApiError> {
        let filter = match query.get("filter") {
            None => None,
            Some(text) => {
                let invalid = |reason: &str| {
                    ApiError::custom(400, "E0000053", format!("Invalid filter '{text}'{reason}"))
                };
                let expr = Expr::parse_in(text, Dialect::Scim).map_err(|e| match e {
                    FilterError::Operator { op, position } => invalid(&format!(
                        ": Unrecognized attribute operator '{op}' at position {position}. \
                         Expected: eq,co,sw,pr,gt,ge,lt,le"
                    )),
                    FilterError::Syntax => invalid(""),
                })?;
                if expr.paths().iter().any(|p| p == "published") {
                    return Err(invalid(
                        ": published can't be filtered on; use since and until",
                    ));
                }
                Some(expr)
            }
        };
        let keywords: Vec<String> = query
            .get("q")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        if keywords.iter().any(|k| k.chars().count() > 40) {
            return Err(ApiError::custom(
                400,
                "E0000001",
                "Api validation failed: 'q': Freeform search cannot contain items longer than 40 \
                 characters. Please shorten the items in your search or use an advanced filter \
                 to query by specific fields.",
            ));
        }
        if keywords.len() > 10 {
            return Err(ApiError::custom(
                400,
                "E0000001",
                "Api validation failed: 'q': Freeform search cannot contain more than 10 items. \
                 Please use an advanced filter to query by specific fields.",
            ));
        }
        Ok(Self { filter, keywords })
    }

    fn matches(&self, event: &Value) -> bool {
        if self.filter.as_ref().is_some_and(|f| !f.matches(event)) {
            return false;
        }
        if self.keywords.is_empty() {
            return true;
        }
        let mut words = Vec::new();
        collect_words(event, &mut words);
        self.keywords.iter().all(|k| words.contains(k))
    }
}

/// Every word of every string in the event, lower-cased; hyphenated words also count in parts.
fn collect_words(value: &Value, words: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            for word in text.split_whitespace() {
                let word = word.to_lowercase();
                if word.contains('-') {
                    words.extend(word.split('-').map(str::to_owned));
                }
                words.push(word);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_words(v, words)),
        Value::Object(map) => map.values().for_each(|v| collect_words(v, words)),
        _ => {}
    }
}

fn self_link(call: &Call) -> String {
    format!("<{}{}>; rel=\"self\"", call.origin, call.target)
}

fn next_link(call: &Call, parts: &[String], after: &str) -> String {
    let mut query = parts.to_vec();
    query.push(after.to_owned());
    format!(
        "<{}{}?{}>; rel=\"next\"",
        call.origin,
        call.path,
        query.join("&")
    )
}

fn encode(text: &str) -> String {
    text.replace(':', "%3A").replace('+', "%2B")
}
