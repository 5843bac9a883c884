//! Every failure a client can cause or meet, as an HTTP status with a JSON message.

use crate::embedder::EmbedderError;
use crate::monitors::MonitorError;
use crate::store::StoreError;
use asd_scoring::bank::BankError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct BadClip {
    pub file: String,
    pub error: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub bad_clips: Vec<BadClip>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            bad_clips: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "<[BadClip]>::is_empty")]
    bad_clips: &'a [BadClip],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), "{}", self.message);
        }
        (self.status, Json(self.body())).into_response()
    }
}

impl ApiError {
    /// The one JSON shape of every error, HTTP answers and MQTT error messages alike.
    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(Body {
            error: &self.message,
            status: self.status.as_u16(),
            bad_clips: &self.bad_clips,
        })
        .unwrap_or_default()
    }
}

impl From<MonitorError> for ApiError {
    fn from(e: MonitorError) -> Self {
        let status = match &e {
            MonitorError::NoMonitor(_) | MonitorError::NoReference { .. } => StatusCode::NOT_FOUND,
            MonitorError::Invalid(_) => StatusCode::BAD_REQUEST,
            MonitorError::TooFewReferences { .. } => StatusCode::CONFLICT,
            MonitorError::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            MonitorError::Store(StoreError::NoMonitor(_)) => StatusCode::NOT_FOUND,
            MonitorError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            MonitorError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            MonitorError::Bank(BankError::UnknownId(_)) => StatusCode::NOT_FOUND,
            MonitorError::Bank(BankError::TooSmall { .. }) => StatusCode::CONFLICT,
            MonitorError::Bank(BankError::Corrupt(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            MonitorError::Bank(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self::new(status, e.to_string())
    }
}

impl From<EmbedderError> for ApiError {
    fn from(e: EmbedderError) -> Self {
        let status = match e {
            // A clip the front-end cannot embed: the request's fault.
            EmbedderError::Clip(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self::new(status, e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(format!("a worker task failed: {e}"))
    }
}
