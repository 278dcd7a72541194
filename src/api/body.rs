//! Request bodies, read as a stream with the route's cap: a declared `Content-Length` over the
//! cap is refused before a byte is read, and a chunked body is read only until it passes the cap
//! (on a route that takes no body, that is its first non-empty piece). Nothing is buffered beyond
//! the cap plus the one piece the runtime handed over, whatever the client sends.

use super::error::ApiError;
use super::http::{ApiRequest, MAX_BODY_BYTES};
use super::routes::BodyKind;
use crate::ports::RequestBody;

/// Largest body an action route without a payload accepts: room for the `{}` (or whitespace)
/// some clients send with every POST and DELETE.
pub const EMPTY_BODY_BYTES: usize = 64;

/// Largest signed provider payload (a webhook event) read.
pub const SIGNED_BODY_BYTES: usize = 1024 * 1024;

/// Largest form post read (an RFC 8058 one-click body is 26 bytes, a multipart one a few
/// hundred).
pub const FORM_BODY_BYTES: usize = 4 * 1024;

impl BodyKind {
    /// The most bytes this kind of route reads.
    pub const fn cap(self) -> usize {
        match self {
            BodyKind::None => 0,
            BodyKind::Empty => EMPTY_BODY_BYTES,
            BodyKind::Json => MAX_BODY_BYTES,
            BodyKind::Signed => SIGNED_BODY_BYTES,
            BodyKind::Form => FORM_BODY_BYTES,
        }
    }
}

fn too_large(cap: usize) -> ApiError {
    ApiError::new(
        413,
        "payload_too_large",
        if cap == 0 {
            "this endpoint takes no request body".to_string()
        } else {
            format!("request body exceeds {cap} bytes")
        },
    )
}

/// The `Content-Length` the client declared, if any (an unparsable one counts as too large).
fn declared_len(request: &ApiRequest) -> Option<u64> {
    request
        .header("content-length")
        .map(|v| v.trim().parse::<u64>().unwrap_or(u64::MAX))
}

/// Checks the declared length before anything is read (before authentication, too).
pub fn precheck(kind: BodyKind, request: &ApiRequest) -> Result<(), ApiError> {
    let cap = kind.cap();
    match declared_len(request) {
        Some(len) if len > cap as u64 => Err(too_large(cap)),
        _ => Ok(()),
    }
}

/// Reads the body up to the route's cap; the first piece that passes it ends the reading with a
/// 413. A route without a payload gets only whitespace or `{}`.
pub async fn read(
    kind: BodyKind,
    source: Option<&mut (dyn RequestBody + '_)>,
) -> Result<Vec<u8>, ApiError> {
    let cap = kind.cap();
    let mut body = Vec::new();
    if let Some(source) = source {
        while let Some(piece) = source
            .next_piece()
            .await
            .map_err(|_| ApiError::new(400, "body_unreadable", "the request body ended abruptly"))?
        {
            if body.len() + piece.len() > cap {
                return Err(too_large(cap));
            }
            body.extend_from_slice(&piece);
        }
    }
    if kind == BodyKind::Empty
        && !(body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"{}")
    {
        return Err(ApiError::invalid_json("this endpoint takes no body"));
    }
    Ok(body)
}

/// The most of a refused request's body [`discard`] reads.
pub const DISCARD_BYTES: usize = 1024 * 1024;

/// Reads and drops what is left of a refused request's body, up to [`DISCARD_BYTES`], so a
/// keep-alive connection is left at the next request rather than mid-body (wrangler dev's
/// local proxy stalled the next request on such a connection). A larger body is left to the
/// transport, which cannot reuse that connection; an unreadable one is dropped the same way.
pub async fn discard(source: Option<&mut (dyn RequestBody + '_)>) {
    let Some(source) = source else { return };
    let mut read = 0;
    while read <= DISCARD_BYTES {
        match source.next_piece().await {
            Ok(Some(piece)) => read += piece.len(),
            Ok(None) | Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::TransportError;
    use async_trait::async_trait;
    use futures::executor::block_on;

    /// A client that would send `pieces` pieces of `size` bytes (an endless one with
    /// `usize::MAX`), counting what was pulled.
    struct Client {
        size: usize,
        pieces: usize,
        pulled: usize,
    }

    #[async_trait(?Send)]
    impl RequestBody for Client {
        async fn next_piece(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
            if self.pieces == 0 {
                return Ok(None);
            }
            self.pieces -= 1;
            self.pulled += self.size;
            Ok(Some(vec![b' '; self.size]))
        }
    }

    fn client(size: usize, pieces: usize) -> Client {
        Client {
            size,
            pieces,
            pulled: 0,
        }
    }

    fn request(content_length: Option<&str>) -> ApiRequest {
        ApiRequest {
            method: None,
            path: "/api/v1/connections".into(),
            query: String::new(),
            headers: content_length
                .map(|v| vec![("Content-Length".to_string(), v.to_string())])
                .unwrap_or_default(),
            body: Vec::new(),
            https: true,
            preflight: false,
        }
    }

    #[test]
    fn an_endless_chunked_body_is_read_only_past_the_cap() {
        let mut endless = client(16 * 1024, usize::MAX);
        let err = block_on(read(BodyKind::Json, Some(&mut endless))).unwrap_err();
        assert_eq!((err.status, err.code), (413, "payload_too_large"));
        // Four pieces fill the 64 KiB; the fifth passes it and reading stops there.
        assert_eq!(endless.pulled, MAX_BODY_BYTES + 16 * 1024);
    }

    #[test]
    fn a_body_within_the_cap_is_read_whole() {
        let mut fits = client(1024, 64);
        let body = block_on(read(BodyKind::Json, Some(&mut fits))).unwrap();
        assert_eq!(body.len(), MAX_BODY_BYTES);
        assert_eq!(block_on(read(BodyKind::Json, None)).unwrap(), b"");
    }

    #[test]
    fn a_declared_length_over_the_cap_is_refused_before_reading() {
        for (kind, ok, over) in [
            (BodyKind::Json, "65536", "65537"),
            (BodyKind::Empty, "64", "65"),
            (BodyKind::None, "0", "1"),
        ] {
            assert!(precheck(kind, &request(Some(ok))).is_ok(), "{kind:?}");
            let err = precheck(kind, &request(Some(over))).unwrap_err();
            assert_eq!((err.status, err.code), (413, "payload_too_large"));
            let err = precheck(kind, &request(Some("lots"))).unwrap_err();
            assert_eq!(err.status, 413);
        }
        // Chunked: no length to judge by, so the reading decides.
        assert!(precheck(BodyKind::None, &request(None)).is_ok());
    }

    #[test]
    fn a_route_without_a_body_reads_no_more_than_the_first_piece() {
        let mut sender = client(1024, 10);
        let err = block_on(read(BodyKind::None, Some(&mut sender))).unwrap_err();
        assert_eq!((err.status, err.code), (413, "payload_too_large"));
        assert_eq!(sender.pulled, 1024);
        // An empty stream (some runtimes hand one over for every request) is no body.
        let mut empty = client(0, 3);
        assert_eq!(
            block_on(read(BodyKind::None, Some(&mut empty))).unwrap(),
            b""
        );
    }

    #[test]
    fn an_action_route_takes_only_nothing_or_an_empty_object() {
        struct Once(Option<&'static [u8]>);
        #[async_trait(?Send)]
        impl RequestBody for Once {
            async fn next_piece(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
                Ok(self.0.take().map(<[u8]>::to_vec))
            }
        }
        for ok in [&b""[..], b"  \n", b"{}", b" {} "] {
            assert!(block_on(read(BodyKind::Empty, Some(&mut Once(Some(ok))))).is_ok());
        }
        let err = block_on(read(BodyKind::Empty, Some(&mut Once(Some(b"{\"a\":1}"))))).unwrap_err();
        assert_eq!((err.status, err.code), (400, "invalid_json"));
        let mut big = client(EMPTY_BODY_BYTES + 1, 1);
        assert_eq!(
            block_on(read(BodyKind::Empty, Some(&mut big)))
                .unwrap_err()
                .status,
            413
        );
        struct Broken;
        #[async_trait(?Send)]
        impl RequestBody for Broken {
            async fn next_piece(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
                Err(TransportError("reset".into()))
            }
        }
        let err = block_on(read(BodyKind::Json, Some(&mut Broken))).unwrap_err();
        assert_eq!((err.status, err.code), (400, "body_unreadable"));
    }

    #[test]
    fn a_refused_body_is_drained_only_up_to_the_discard_limit() {
        let mut small = client(1000, 3);
        block_on(discard(Some(&mut small)));
        assert_eq!((small.pulled, small.pieces), (3000, 0), "drained whole");
        let mut endless = client(64 * 1024, usize::MAX);
        block_on(discard(Some(&mut endless)));
        assert_eq!(
            endless.pulled,
            DISCARD_BYTES + 64 * 1024,
            "stopped past the limit"
        );
    }
}
