//! Okta's cursor pagination: `limit` and `after` in, `Link` headers out.
//!
//! The cursor is the id of the last item on the page, as Okta's own cursors for these lists are;
//! clients are expected to follow the `next` link verbatim and never build one. Okta documents no
//! cursor lifetime; with [`Cursors::with_ttl`] cursors also carry the instant they were issued and
//! are refused once older than the TTL, so clients can be tested against one that expired.

use std::time::Duration;

use crate::errors::ApiError;

/// A request's query string, decoded for reading but kept raw for echoing into links.
#[derive(Clone)]
pub(crate) struct Query<'a> {
    pairs: Vec<(String, String, &'a str)>,
}

impl<'a> Query<'a> {
    pub(crate) fn parse(raw: &'a str) -> Self {
        let pairs = raw
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key), percent_decode(value), pair)
            })
            .collect();
        Self { pairs }
    }

    /// The first value of `key`, decoded.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    /// This query with `limit` and `after` replaced, other parameters kept byte for byte.
    fn with_cursor(&self, limit: usize, after: &str) -> String {
        let mut parts = self.without(&["limit", "after"]);
        parts.push(format!("limit={limit}"));
        parts.push(format!("after={}", percent_encode(after)));
        parts.join("&")
    }

    /// The raw `key=value` pairs of this query, without the given keys.
    pub(crate) fn without(&self, keys: &[&str]) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _, _)| !keys.contains(&k.as_str()))
            .map(|(_, _, raw)| (*raw).to_owned())
            .collect()
    }

    /// This query with its `after` cursor replaced, other parameters (`limit` too) kept.
    pub(crate) fn with_after(&self, after: &str) -> String {
        let mut parts = self.without(&["after"]);
        parts.push(format!("after={}", percent_encode(after)));
        parts.join("&")
    }

    /// The first page of the same list: this query without its `after` cursor.
    pub(crate) fn first_page(&self) -> String {
        self.without(&["after"]).join("&")
    }
}

/// How cursors are written into `next` links and read back from `after`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Cursors {
    ttl: Option<Duration>,
}

impl Cursors {
    /// Cursors that expire `ttl` after they were issued.
    pub(crate) fn with_ttl(ttl: Option<Duration>) -> Self {
        Self { ttl }
    }

    /// The cursor for the page after the item `id`, issued at `now_ms` (epoch milliseconds).
    pub(crate) fn encode(&self, id: &str, now_ms: u64) -> String {
        match self.ttl {
            None => id.to_owned(),
            Some(_) => format!("{id}.{now_ms}"),
        }
    }

    /// The item id an `after` value names, or Okta's invalid-paging error when it has expired or
    /// is not one of this emulator's cursors.
    pub(crate) fn decode<'c>(&self, cursor: &'c str, now_ms: u64) -> Result<&'c str, ApiError> {
        let Some(ttl) = self.ttl else {
            return Ok(cursor);
        };
        let (id, issued) = cursor
            .rsplit_once('.')
            .and_then(|(id, issued)| Some((id, issued.parse::<u64>().ok()?)))
            .ok_or_else(ApiError::invalid_paging)?;
        let age = now_ms.saturating_sub(issued);
        if issued > now_ms || u128::from(age) > ttl.as_millis() {
            return Err(ApiError::invalid_paging());
        }
        Ok(id)
    }
}

/// Page-size rules of one endpoint, from the spec.
#[derive(Clone, Copy)]
pub(crate) struct PageSize {
    /// `None`: without `limit`, everything comes in one page.
    pub(crate) default: Option<usize>,
    /// Larger requested limits are clamped to this, as Okta does.
    pub(crate) max: usize,
    /// Smaller requested limits are raised to this (`/api/v1/apps/{id}/groups` has a minimum of
    /// 20); below 1 is a 400.
    pub(crate) min: usize,
    /// `/api/v1/apps` documents `limit=-1` as its default, meaning "server default".
    pub(crate) minus_one_means_default: bool,
}

impl PageSize {
    pub(crate) const fn new(default: Option<usize>, max: usize) -> Self {
        Self {
            default,
            max,
            min: 1,
            minus_one_means_default: false,
        }
    }

    /// The page size for a raw `limit` parameter; `None` means unlimited.
    pub(crate) fn resolve(&self, raw: Option<&str>) -> Result<Option<usize>, ApiError> {
        let Some(raw) = raw else {
            return Ok(self.default);
        };
        let invalid = || ApiError::validation("limit", format!("limit: Invalid limit '{raw}'"));
        match raw.trim().parse::<i64>().map_err(|_| invalid())? {
            -1 if self.minus_one_means_default => Ok(self.default),
            n if n < 1 => Err(invalid()),
            n => Ok(Some(
                usize::try_from(n).map_or(self.max, |n| n.clamp(self.min, self.max)),
            )),
        }
    }
}

pub(crate) struct Page<'i, T> {
    pub(crate) items: &'i [T],
    /// Cursor for the next page, if there is one.
    pub(crate) next: Option<String>,
}

/// The page of `items` that starts right after the cursor item (at index `after`), or at the
/// beginning without a cursor.
pub(crate) fn paginate<'i, T>(
    items: &'i [T],
    id: impl Fn(&'i T) -> &'i str,
    after: Option<usize>,
    limit: Option<usize>,
) -> Page<'i, T> {
    let start = after.map_or(0, |i| (i + 1).min(items.len()));
    let end = limit.map_or(items.len(), |limit| (start + limit).min(items.len()));
    let next = (end < items.len() && end > start).then(|| id(&items[end - 1]).to_owned());
    Page {
        items: &items[start..end],
        next,
    }
}

/// Okta's two `Link` header values: `rel="self"` echoing the request, and `rel="next"` while more
/// pages exist.
pub(crate) fn link_headers(
    origin: &str,
    target: &str,
    path: &str,
    query: &Query,
    limit: Option<usize>,
    next: Option<&str>,
) -> Vec<String> {
    let mut links = vec![format!("<{origin}{target}>; rel=\"self\"")];
    if let (Some(limit), Some(after)) = (limit, next) {
        let next_query = query.with_cursor(limit, after);
        links.push(format!("<{origin}{path}?{next_query}>; rel=\"next\""));
    }
    links
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_values() {
        let query = Query::parse("filter=status%20eq%20%22ACTIVE%22&q=a+b&limit=5&bad=%zz%4");
        assert_eq!(query.get("filter"), Some("status eq \"ACTIVE\""));
        assert_eq!(query.get("q"), Some("a b"));
        assert_eq!(query.get("bad"), Some("%zz%4"));
        assert_eq!(query.get("after"), None);
    }

    #[test]
    fn limits_default_clamp_and_reject() {
        let size = PageSize::new(Some(200), 200);
        assert_eq!(size.resolve(None), Ok(Some(200)));
        assert_eq!(size.resolve(Some("5")), Ok(Some(5)));
        assert_eq!(size.resolve(Some("100000")), Ok(Some(200)));
        for bad in ["0", "-1", "abc", ""] {
            assert_eq!(size.resolve(Some(bad)).unwrap_err().status, 400, "{bad}");
        }
        let apps = PageSize {
            minus_one_means_default: true,
            ..size
        };
        assert_eq!(apps.resolve(Some("-1")), Ok(Some(200)));
        assert_eq!(PageSize::new(None, 200).resolve(None), Ok(None));
        let at_least_20 = PageSize {
            min: 20,
            ..PageSize::new(Some(20), 200)
        };
        assert_eq!(at_least_20.resolve(Some("1")), Ok(Some(20)));
        assert_eq!(at_least_20.resolve(Some("0")).unwrap_err().status, 400);
    }

    #[test]
    fn cursors_expire_when_given_a_ttl() {
        let plain = Cursors::default();
        assert_eq!(plain.encode("00u1", 5), "00u1");
        assert_eq!(plain.decode("anything", 5), Ok("anything"));

        let expiring = Cursors::with_ttl(Some(Duration::from_secs(2)));
        let cursor = expiring.encode("00u1", 10_000);
        assert_eq!(cursor, "00u1.10000");
        assert_eq!(expiring.decode(&cursor, 11_999), Ok("00u1"));
        for (raw, now) in [
            (cursor.as_str(), 12_001),
            (cursor.as_str(), 9_000),
            ("00u1", 10_000),
            ("00u1.x", 10_000),
        ] {
            assert_eq!(
                expiring.decode(raw, now).unwrap_err().status,
                400,
                "{raw} at {now}"
            );
        }
    }

    #[test]
    fn first_page_drops_only_the_cursor() {
        let query = Query::parse("q=a+b&limit=5&after=00u9&filter=x");
        assert_eq!(query.first_page(), "q=a+b&limit=5&filter=x");
    }

    #[test]
    fn pages_follow_cursors() {
        let items: Vec<String> = (0..5).map(|i| format!("id{i}")).collect();
        let first = paginate(&items, String::as_str, None, Some(2));
        assert_eq!(first.items, ["id0", "id1"]);
        assert_eq!(first.next.as_deref(), Some("id1"));
        let last = paginate(&items, String::as_str, Some(3), Some(2));
        assert_eq!(last.items, ["id4"]);
        assert_eq!(last.next, None);
        let all = paginate(&items, String::as_str, None, None);
        assert_eq!((all.items.len(), all.next), (5, None));
    }

    #[test]
    fn next_link_keeps_other_parameters() {
        let query = Query::parse("filter=status%20eq%20%22STAGED%22&limit=500&after=old");
        let links = link_headers(
            "http://h:1",
            "/api/v1/users?filter=status%20eq%20%22STAGED%22&limit=500&after=old",
            "/api/v1/users",
            &query,
            Some(200),
            Some("00uX"),
        );
        assert_eq!(
            links[1],
            "<http://h:1/api/v1/users?filter=status%20eq%20%22STAGED%22&limit=200&after=00uX>; rel=\"next\""
        );
    }
}
