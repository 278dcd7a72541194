//! What changed in a connection's tenant: the diff of two backups, and one resource's history.

use std::collections::BTreeSet;

use crate::api::call::Call;
use crate::api::error::ApiError;
use crate::api::http::ApiResponse;
use crate::drift::Filter;
use crate::ids::{BackupId, ConnectionId};
use crate::services::resource_history;
use crate::services::snapshot_diff::{self, DiffQuery, DEFAULT_LIMIT, MAX_LIMIT};
use crate::services::ServiceError;
use crate::tenant::ResourceType;

fn invalid(field: &'static str, message: &str) -> ApiError {
    ServiceError::invalid(field, message.to_string()).into()
}

/// `from`, `to` (required backup ids), `type` (comma-separated resource types), `resource_id`,
/// `cursor`, `limit` (1..=200); anything else, a repeat or a bad value is refused with its field.
fn parse_query(query: &str) -> Result<DiffQuery, ApiError> {
    let (mut from, mut to, mut cursor, mut limit) = (None, None, None, None);
    let mut filter = Filter::default();
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if seen.contains(&key.to_string()) {
            return Err(invalid("query", "repeats a parameter"));
        }
        seen.push(key.to_string());
        match key.as_ref() {
            "from" => {
                from = Some(
                    BackupId::parse(&value).map_err(|_| invalid("from", "is not a backup id"))?,
                )
            }
            "to" => {
                to = Some(BackupId::parse(&value).map_err(|_| invalid("to", "is not a backup id"))?)
            }
            "type" => {
                let types: Option<BTreeSet<ResourceType>> =
                    value.split(',').map(ResourceType::parse).collect();
                filter.resources = Some(
                    types
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| invalid("type", "is not a list of resource types"))?,
                );
            }
            "resource_id" => {
                let ok = !value.is_empty()
                    && value.len() <= 100
                    && (value.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !ok {
                    return Err(invalid("resource_id", "is not a resource id"));
                }
                filter.id = Some(value.into_owned());
            }
            "cursor" => cursor = Some(value.into_owned()),
            "limit" => {
                let n = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| invalid("limit", "must be a number from 1 to 200"))?;
                limit = Some(n);
            }
            _ => return Err(invalid("query", "has an unknown parameter")),
        }
    }
    Ok(DiffQuery {
        from: from.ok_or_else(|| invalid("from", "is required"))?,
        to: to.ok_or_else(|| invalid("to", "is required"))?,
        filter,
        cursor,
        limit: limit.unwrap_or(DEFAULT_LIMIT),
    })
}

/// `GET /connections/{id}/diff?from=&to=`.
pub async fn diff(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let query = parse_query(&call.request.query)?;
    let view = snapshot_diff::diff(call.caller()?, id, query).await?;
    Ok(ApiResponse::json(200, &view))
}

/// A resource key from the path: percent-decoded (a child key's `/` arrives as `%2F`), then
/// letters, digits, `_`, `-` and `/` only, at most 400 bytes, as Okta ids and keys are.
fn parse_key(raw: &str) -> Option<String> {
    let key = url::form_urlencoded::parse(format!("k={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    let ok = !key.is_empty()
        && key.len() <= 400
        && (key.bytes()).all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'/'));
    ok.then_some(key)
}

/// `cursor`, `limit` (1..=50).
fn parse_history_query(query: &str) -> Result<(Option<String>, usize), ApiError> {
    let (mut cursor, mut limit) = (None, None);
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if seen.contains(&key.to_string()) {
            return Err(invalid("query", "repeats a parameter"));
        }
        seen.push(key.to_string());
        match key.as_ref() {
            "cursor" => cursor = Some(value.into_owned()),
            "limit" => {
                let n = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=resource_history::MAX_LIMIT).contains(n))
                    .ok_or_else(|| invalid("limit", "must be a number from 1 to 50"))?;
                limit = Some(n);
            }
            _ => return Err(invalid("query", "has an unknown parameter")),
        }
    }
    Ok((cursor, limit.unwrap_or(resource_history::DEFAULT_LIMIT)))
}

/// `GET /connections/{id}/resources/{type}/{okta_id}/history`: an unknown type or a malformed
/// key is simply not found.
pub async fn history(call: &Call<'_>) -> Result<ApiResponse, ApiError> {
    let id = call.id(0, ConnectionId::parse)?;
    let resource = (call.params.get(1))
        .and_then(|t| ResourceType::parse(t))
        .ok_or_else(ApiError::not_found)?;
    let key = (call.params.get(2))
        .and_then(|k| parse_key(k))
        .ok_or_else(ApiError::not_found)?;
    let (cursor, limit) = parse_history_query(&call.request.query)?;
    let page =
        resource_history::history(call.caller()?, id, resource, &key, cursor.as_deref(), limit)
            .await?;
    Ok(ApiResponse::json(200, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "00000000-0000-4000-8000-000000000001";
    const B: &str = "00000000-0000-4000-8000-000000000002";

    fn field(query: &str) -> &'static str {
        let e = parse_query(query).expect_err("refused");
        assert_eq!((e.status, e.code), (422, "validation_failed"));
        e.field.expect("names its field")
    }

    #[test]
    fn a_query_parses_into_the_pair_filters_and_page() {
        let q = parse_query(&format!(
            "from={A}&to={B}&type=users,groups&resource_id=00u1&limit=7&cursor=abc"
        ))
        .unwrap();
        assert_eq!((q.from.to_string(), q.to.to_string()), (A.into(), B.into()));
        assert_eq!(
            q.filter.resources.unwrap().into_iter().collect::<Vec<_>>(),
            vec![ResourceType::Users, ResourceType::Groups]
        );
        assert_eq!(q.filter.id.as_deref(), Some("00u1"));
        assert_eq!((q.limit, q.cursor.as_deref()), (7, Some("abc")));
        let q = parse_query(&format!("from={A}&to={B}")).unwrap();
        assert_eq!((q.limit, q.filter), (DEFAULT_LIMIT, Filter::default()));
    }

    #[test]
    fn history_keys_and_queries_parse_strictly() {
        assert_eq!(parse_key("00u1").as_deref(), Some("00u1"));
        assert_eq!(parse_key("00g1%2F00u2").as_deref(), Some("00g1/00u2"));
        for bad in ["", "a%20b", "a'b", "%00", &"x".repeat(401)] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
        assert_eq!(parse_history_query("").unwrap(), (None, 10));
        assert_eq!(
            parse_history_query("cursor=abc&limit=3").unwrap(),
            (Some("abc".into()), 3)
        );
        for (q, f) in [
            ("limit=51", "limit"),
            ("limit=x", "limit"),
            ("from=1", "query"),
        ] {
            assert_eq!(parse_history_query(q).unwrap_err().field, Some(f), "{q}");
        }
    }

    #[test]
    fn bad_queries_name_their_field() {
        for (query, expected) in [
            (format!("to={B}"), "from"),
            (format!("from={A}"), "to"),
            (format!("from=nope&to={B}"), "from"),
            (format!("from={A}&to={B}&type=users,nope"), "type"),
            (format!("from={A}&to={B}&type="), "type"),
            (format!("from={A}&to={B}&resource_id=a/b"), "resource_id"),
            (format!("from={A}&to={B}&limit=0"), "limit"),
            (format!("from={A}&to={B}&limit=201"), "limit"),
            (format!("from={A}&to={B}&to={B}"), "query"),
            (format!("from={A}&to={B}&sort=id"), "query"),
        ] {
            assert_eq!(field(&query), expected, "{query}");
        }
    }
}
