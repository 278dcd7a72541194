//! The API over HTTPS: the key as a bearer token on every call (the worker mints its short-lived
//! JWT from it), JSON in and out, the API's error body turned into [`CliError::Api`], and
//! downloads streamed to disk.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::ApiKey;
use crate::error::{local, CliError};

pub struct Client {
    base: String,
    key: Option<ApiKey>,
    agent: ureq::Agent,
}

/// What a streamed download wrote.
pub struct Downloaded {
    pub bytes: u64,
    pub sha256: String,
}

impl Client {
    /// `base` is a normalised origin ([`crate::config::normalise_url`]); without a key only
    /// public routes answer.
    pub fn new(base: String, key: Option<ApiKey>) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(15))
            // Per read: a long plan or a large streamed export is fine while bytes keep coming.
            .timeout_read(Duration::from_secs(300))
            .timeout_write(Duration::from_secs(60))
            // The API never redirects; following one could send the key elsewhere.
            .redirects(0)
            .user_agent(concat!("butterfly-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Client { base, key, agent }
    }

    fn request(&self, method: &str, path: &str) -> Result<ureq::Request, CliError> {
        let mut req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("accept", "application/json");
        if !path.starts_with("/.well-known/") {
            let key = self.key.as_ref().ok_or(CliError::NotSignedIn)?;
            req = req.set("authorization", &format!("Bearer {}", key.expose()));
        }
        Ok(req)
    }

    /// `GET /api/v1{path}`.
    pub fn get(&self, path: &str) -> Result<Value, CliError> {
        let req = self.request("GET", &format!("/api/v1{path}"))?;
        json_of(req.call())
    }

    /// `POST /api/v1{path}` with a JSON body (or none).
    pub fn post(&self, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let req = self.request("POST", &format!("/api/v1{path}"))?;
        json_of(match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        })
    }

    /// A public document outside `/api/v1` (the audit-pack keys), as text.
    pub fn public_text(&self, path: &str) -> Result<String, CliError> {
        let response = ok_response(self.request("GET", path)?.call())?;
        let mut text = String::new();
        response
            .into_reader()
            .take(1 << 20)
            .read_to_string(&mut text)
            .map_err(|e| CliError::Network(format!("reading {path}: {e}")))?;
        Ok(text)
    }

    /// `GET /api/v1{path}` streamed into `out`, hashing as it goes; `tick` sees the running
    /// byte count.
    pub fn download(
        &self,
        path: &str,
        out: &mut dyn Write,
        tick: &mut dyn FnMut(u64),
    ) -> Result<Downloaded, CliError> {
        let req = self
            .request("GET", &format!("/api/v1{path}"))?
            .set("accept", "application/zip, application/json");
        let mut reader = ok_response(req.call())?.into_reader();
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut bytes = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // The worker aborts a stream it cannot finish; only a complete body is the file.
                Err(e) => {
                    return Err(CliError::Network(format!(
                        "the download stopped after {bytes} bytes: {e}"
                    )))
                }
            };
            out.write_all(&buf[..n])
                .map_err(|e| local("writing the download", e))?;
            hash.update(&buf[..n]);
            bytes += n as u64;
            tick(bytes);
        }
        Ok(Downloaded {
            bytes,
            sha256: hex(&hash.finalize()),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn json_of(result: Result<ureq::Response, ureq::Error>) -> Result<Value, CliError> {
    let response = ok_response(result)?;
    response
        .into_json()
        .map_err(|e| CliError::Network(format!("the API answered something that is not JSON: {e}")))
}

/// A 2xx response, or the error it stands for.
fn ok_response(result: Result<ureq::Response, ureq::Error>) -> Result<ureq::Response, CliError> {
    match result {
        Ok(r) if (200..300).contains(&r.status()) => Ok(r),
        Ok(r) | Err(ureq::Error::Status(_, r)) => Err(api_error(r)),
        Err(ureq::Error::Transport(t)) => Err(CliError::Network(format!(
            "cannot reach the API: {}",
            t.message()
                .map(str::to_string)
                .unwrap_or_else(|| t.kind().to_string())
        ))),
    }
}

fn api_error(response: ureq::Response) -> CliError {
    let status = response.status();
    let header_id = response.header("x-request-id").map(str::to_string);
    let mut text = String::new();
    let _ = response
        .into_reader()
        .take(64 * 1024)
        .read_to_string(&mut text);
    from_error_body(status, &text, header_id)
}

/// The API's `{"error": {"code", "message", "request_id"}}`; anything else keeps its status.
pub fn from_error_body(status: u16, body: &str, header_id: Option<String>) -> CliError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let field = |name: &str| error.and_then(|e| e[name].as_str()).map(str::to_string);
    match field("code") {
        Some(code) => {
            let mut message = field("message").unwrap_or_else(|| code.clone());
            if let Some(f) = field("field") {
                message = format!("{message} (field {f})");
            }
            CliError::Api {
                status,
                code,
                message,
                request_id: field("request_id").or(header_id),
            }
        }
        None => CliError::Api {
            status,
            code: "http_error".into(),
            message: format!("the API answered HTTP {status} without an error body"),
            request_id: header_id,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_api_errors_with_their_code() {
        let body = r#"{"error":{"code":"validation_failed","message":"is required","field":"from","request_id":"req_9"}}"#;
        match from_error_body(422, body, Some("req_header".into())) {
            CliError::Api {
                status,
                code,
                message,
                request_id,
            } => {
                assert_eq!((status, code.as_str()), (422, "validation_failed"));
                assert_eq!(message, "is required (field from)");
                assert_eq!(request_id.as_deref(), Some("req_9"));
            }
            other => panic!("{other:?}"),
        }
        let e = from_error_body(502, "<html>bad gateway</html>", Some("req_h".into()));
        assert_eq!((e.code(), e.exit_code()), ("http_error", 5));
        assert!(e.human().contains("req_h"));
        assert_eq!(from_error_body(401, "", None).exit_code(), 3);
    }

    #[test]
    fn a_client_without_a_key_refuses_api_calls_before_sending_them() {
        let client = Client::new("http://127.0.0.1:9".into(), None);
        assert!(matches!(client.get("/teams"), Err(CliError::NotSignedIn)));
    }
}
