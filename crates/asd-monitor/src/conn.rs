//! Connections: how many the service holds open at once and how long a silent one may stay.
//!
//! The accept loop is hyper's HTTP/1 server with three limits (docs/monitor.md, "Limits"):
//! - **request head**: a client must send a request's whole head within `header_timeout` after the
//!   connection opens or, on a kept-alive connection, after the previous response; otherwise the
//!   connection is closed. This also ends idle keep-alive connections.
//! - **body**: between two pieces of a request body at most `body_idle_timeout` may pass (a slow but
//!   steady `/stream` is fine, a stalled one is cut with 408);
//! - **connections**: at most `max_connections` at once; one more is answered `503` in the service's
//!   JSON error shape and closed, before anything of its request is read.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::timeout::RequestBodyTimeout;

/// The connection limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnLimits {
    /// Longest wait for a request's head (also the longest idle keep-alive).
    pub header_timeout: Duration,
    /// Longest pause inside a request body.
    pub body_idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// Longest wait for open connections to finish once shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections finish (at
/// most 10 s).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let svc = TowerToHyperService::new(RequestBodyTimeout::new(router, limits.body_idle_timeout));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(
                "refused a connection from {peer}: {} open (--max-connections)",
                limits.max_connections
            );
            tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let conn = http.serve_connection(TokioIo::new(stream), svc.clone());
        let watched = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::debug!("connection from {peer}: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open {} s after shutdown began; closing them",
            DRAIN.as_secs()
        );
    }
    Ok(())
}

/// Answers a connection over the limit with 503 in the JSON error shape, then closes it.
async fn refuse(mut stream: tokio::net::TcpStream, max: usize) {
    let body = serde_json::json!({
        "error": format!("too many connections: {max} are open (--max-connections); retry later"),
        "status": 503,
    })
    .to_string();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    // A client that does not read is not waited for.
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}
