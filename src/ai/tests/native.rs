//! Real ports for native tests against local servers: HTTP over ureq and the system clock,
//! each blocking call on its own thread so the core's timeout race works as on Workers.

use std::thread;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::channel::oneshot;

use crate::ports::{Clock, HttpClient, HttpRequest, HttpResponse, Method, TransportError};

pub struct UreqHttp;

fn blocking(request: HttpRequest) -> Result<HttpResponse, TransportError> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build();
    let mut req = agent.request(request.method.as_str(), &request.url);
    for (k, v) in &request.headers {
        req = req.set(k, v);
    }
    let result = match (&request.method, &request.body) {
        (Method::Get, _) | (_, None) => req.call(),
        (_, Some(body)) => req.send_bytes(body),
    };
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(TransportError(e.to_string())),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = response.header(&n).unwrap_or_default().to_owned();
            (n, v)
        })
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body)
        .map_err(|e| TransportError(e.to_string()))?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[async_trait(?Send)]
impl HttpClient for UreqHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let (tx, rx) = oneshot::channel();
        thread::spawn(move || {
            let _ = tx.send(blocking(request));
        });
        rx.await
            .unwrap_or_else(|_| Err(TransportError("request thread ended".into())))
    }
}

pub struct SystemClock;

#[async_trait(?Send)]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(std::time::SystemTime::now())
    }

    async fn sleep(&self, duration: Duration) {
        let (tx, rx) = oneshot::channel::<()>();
        thread::spawn(move || {
            thread::sleep(duration);
            let _ = tx.send(());
        });
        let _ = rx.await;
    }
}
