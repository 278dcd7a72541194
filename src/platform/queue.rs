//! The [`JobQueue`] port over the `JOB_QUEUE` Cloudflare Queue binding. Messages go as JSON
//! (content type `json`), so the consumer reads exactly the object the core sent.

use async_trait::async_trait;
use worker::{Queue, QueueContentType, RawMessageBuilder};

use crate::ports::{JobQueue, QueueError};

pub struct WorkerQueue(pub Queue);

#[async_trait(?Send)]
impl JobQueue for WorkerQueue {
    async fn send(
        &self,
        message: &serde_json::Value,
        delay_seconds: u32,
    ) -> Result<(), QueueError> {
        let error = |e: String| QueueError(e);
        let json = serde_json::to_string(message).map_err(|e| error(e.to_string()))?;
        let body = js_sys::JSON::parse(&json).map_err(|e| error(format!("{e:?}")))?;
        let message = RawMessageBuilder::new(body)
            .delay_seconds(delay_seconds)
            .build_with_content_type(QueueContentType::Json);
        self.0
            .send_raw(message)
            .await
            .map_err(|e| error(e.to_string()))
    }
}
