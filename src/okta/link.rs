//! RFC 8288 `Link` header parsing, just enough for Okta's cursor pagination.

/// The `rel="next"` target among one or more Link header values (which a fetch implementation may
/// have joined with commas).
pub fn next_link<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    values.into_iter().find_map(|value| {
        let mut rest = value;
        while let Some(start) = rest.find('<') {
            let after = &rest[start + 1..];
            let end = after.find('>')?;
            let target = &after[..end];
            let params_end = after[end..].find('<').map_or(after.len(), |i| end + i);
            let params = &after[end + 1..params_end];
            if params.split(';').any(|p| {
                let p = p.trim().trim_end_matches(',').trim();
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            }) {
                return Some(target.to_string());
            }
            rest = &after[params_end..];
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn finds_next_in_separate_headers() {
        let headers = [
            "<https://acme.okta.com/api/v1/users?limit=200>; rel=\"self\"",
            "<https://acme.okta.com/api/v1/users?after=00ub0oNGTSWTBKOLGLNR&limit=200>; rel=\"next\"",
        ];
        assert_eq!(
            next_link(headers).as_deref(),
            Some("https://acme.okta.com/api/v1/users?after=00ub0oNGTSWTBKOLGLNR&limit=200")
        );
    }

    #[test]
    fn finds_next_in_comma_joined_header() {
        let joined = "<https://a.okta.com/api/v1/groups?limit=2>; rel=\"self\", <https://a.okta.com/api/v1/groups?after=x,y&limit=2>; rel=\"next\"";
        assert_eq!(
            next_link([joined]).as_deref(),
            Some("https://a.okta.com/api/v1/groups?after=x,y&limit=2")
        );
    }

    #[test]
    fn no_next_on_last_page() {
        assert_eq!(next_link(["<https://a.okta.com/x>; rel=\"self\""]), None);
        assert_eq!(next_link(Vec::<&str>::new()), None);
        assert_eq!(next_link(["garbage <unterminated"]), None);
    }
}
