//! The recording transport: passes every request to a live transport and keeps the
//! exchange, for `switchyard record`.

use crate::error::RuntimeError;
use crate::http::{SendFuture, Transport, UpstreamRequest, UpstreamResponse};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One live exchange, unredacted: it never leaves the process as is.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub request: UpstreamRequest,
    pub response: UpstreamResponse,
}

pub struct RecordingTransport {
    inner: Arc<dyn Transport>,
    log: Mutex<Vec<Recorded>>,
}

impl RecordingTransport {
    pub fn new(inner: Arc<dyn Transport>) -> RecordingTransport {
        RecordingTransport { inner, log: Mutex::new(Vec::new()) }
    }

    /// The exchanges so far, in the order they were sent.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Transport for RecordingTransport {
    fn send(&self, request: UpstreamRequest, timeout: Duration) -> SendFuture<'_> {
        Box::pin(async move {
            let response: Result<UpstreamResponse, RuntimeError> = self.inner.send(request.clone(), timeout).await;
            if let Ok(response) = &response {
                self.log.lock().unwrap_or_else(|e| e.into_inner()).push(Recorded { request, response: response.clone() });
            }
            response
        })
    }
}
