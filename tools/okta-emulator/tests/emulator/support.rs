//! A minimal blocking HTTP/1.1 client (so the tests control every header, `Host` included) and
//! helpers shared by the test modules.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use okta_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;

pub const SSWS: &str = "SSWS demo-okta-token";

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `rel="next"` URL from the `Link` headers, if any.
    pub fn next_link(&self) -> Option<String> {
        self.all("Link").into_iter().find_map(|link| {
            let url = link.strip_suffix(">; rel=\"next\"")?.strip_prefix('<')?;
            Some(url.to_owned())
        })
    }

    pub fn rate_header(&self, name: &str) -> u64 {
        self.header(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("missing numeric {name} header"))
    }
}

/// Sends one request to an absolute `http://` URL. `Host` defaults to the URL's authority.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Response {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, target) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let mut stream = TcpStream::connect(authority).expect("connect to emulator");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("Host")) {
        request.push_str(&format!("Host: {authority}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || method != "GET" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body = raw[split + 4..].to_vec();
    let response = Response {
        status,
        headers,
        body,
    };
    if let Some(length) = response.header("Content-Length") {
        assert_eq!(
            length.parse::<usize>().unwrap(),
            response.body.len(),
            "Content-Length"
        );
    }
    response
}

/// GET with an `Authorization` header value.
pub fn get(url: &str, authorization: &str) -> Response {
    send("GET", url, &[("Authorization", authorization)], None)
}

/// GET with the default API token, asserting 200.
pub fn get_ok(url: &str) -> Response {
    let response = get(url, SSWS);
    assert_eq!(
        response.status,
        200,
        "GET {url}: {}",
        String::from_utf8_lossy(&response.body)
    );
    response
}

/// Follows `next` links from `url`, returning every item and how many pages it took.
pub fn collect_all(url: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut next = Some(url.to_owned());
    let mut pages = 0;
    while let Some(url) = next {
        let response = get_ok(&url);
        items.extend(response.json().as_array().expect("a list").iter().cloned());
        next = response.next_link();
        pages += 1;
        assert!(pages < 10_000, "pagination does not end");
    }
    (items, pages)
}

pub fn start(config: EmulatorConfig) -> RunningEmulator {
    okta_emulator::start(config).expect("start emulator")
}

pub fn start_default() -> RunningEmulator {
    start(EmulatorConfig::default())
}

/// Asserts Okta's error body: exactly the five fields, `errorLink` equal to the code, and an
/// `errorId` that matches the request id header.
pub fn assert_okta_error(response: &Response, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status,
        status,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    let body = response.json();
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "errorCauses",
            "errorCode",
            "errorId",
            "errorLink",
            "errorSummary"
        ]
    );
    assert_eq!(body["errorCode"], code);
    assert_eq!(body["errorLink"], code);
    assert!(body["errorSummary"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(body["errorCauses"].is_array());
    let error_id = body["errorId"].as_str().expect("errorId");
    assert!(error_id.len() >= 20);
    if let Some(request_id) = response.header("X-Okta-Request-Id") {
        assert_eq!(request_id, error_id);
    }
    body
}
