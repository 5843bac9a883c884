//! `asd monitor`: the paper's deployment case as a service. A monitor is one machine being watched;
//! its reference bank holds the embeddings of its normal clips, tagged by condition. Clips are scored
//! with the paper's density re-scaled score over the bank; a new condition is learnt by enrolling a
//! few of its normal clips, without retraining. docs/monitor.md describes the API.

pub mod alerts;
pub mod auth;
#[cfg(feature = "network")]
pub mod bench;
pub mod clip;
pub mod conn;
pub mod embedder;
pub mod error;
pub mod http;
pub mod import;
pub mod limits;
pub mod metrics;
pub mod monitors;
pub mod mqtt;
pub mod origin;
pub mod pg;
pub mod snapshot;
pub mod sqlite;
pub mod state;
pub mod store;
pub mod store_bench;
pub mod stream;
pub mod watch;

pub use conn::ConnLimits;
pub use embedder::Embedder;
pub use monitors::Monitors;
pub use sqlite::SqliteStore;
pub use state::ServeOptions;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Embedder(#[from] embedder::EmbedderError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Monitor(#[from] monitors::MonitorError),
    #[error(
        "the store {store} holds embeddings of model {stored}, but --model gives {given}: embeddings of two models cannot be compared (use a new --store)"
    )]
    WrongModel {
        store: String,
        stored: String,
        given: String,
    },
    #[error("{0}")]
    Io(String),
}

/// Opens a store for a model: binds a new store to the model, refuses one bound to another.
pub fn open_store(store_dir: &Path, model_key: &str) -> Result<SqliteStore, ServeError> {
    let mut store = SqliteStore::open(store_dir)?;
    bind_model(&mut store, &store_dir.display().to_string(), model_key)?;
    Ok(store)
}

/// Opens `--store`: a PostgreSQL database where it is a `postgres://` URL, else the embedded store in
/// that folder; bound to the model as [`open_store`] does.
pub fn open_any_store(store: &Path, model_key: &str) -> Result<Box<dyn store::Store>, ServeError> {
    match store.to_str().filter(|s| pg::is_url(s)) {
        Some(url) => {
            let mut s = pg::PgStore::open(url)?;
            bind_model(&mut s, &pg::redacted(url), model_key)?;
            Ok(Box::new(s))
        }
        None => Ok(Box::new(open_store(store, model_key)?)),
    }
}

fn bind_model(store: &mut dyn store::Store, name: &str, model_key: &str) -> Result<(), ServeError> {
    match store.model_key()? {
        None => store.set_model_key(model_key)?,
        Some(k) if k == model_key => {}
        Some(k) => {
            return Err(ServeError::WrongModel {
                store: name.to_string(),
                stored: k,
                given: model_key.to_string(),
            });
        }
    }
    Ok(())
}

/// What embeds a service's clips.
#[derive(Debug, Clone)]
pub enum EmbedSource {
    /// A trained model folder.
    Model(std::path::PathBuf),
    /// A frozen front-end: no training.
    Frontend(asd_frontend::FrontendSpec),
}

/// Runs the service until Ctrl-C or SIGTERM; `on_listen` learns the bound address (port 0 picks one).
pub fn serve(
    source: &EmbedSource,
    store_dir: &Path,
    listen: SocketAddr,
    opts: ServeOptions,
    on_listen: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let embedder = match source {
        #[cfg(feature = "network")]
        EmbedSource::Model(dir) => Embedder::start(dir)?,
        #[cfg(not(feature = "network"))]
        EmbedSource::Model(dir) => {
            return Err(embedder::EmbedderError::NoNetwork(dir.display().to_string()).into());
        }
        EmbedSource::Frontend(spec) => Embedder::start_frontend(spec)?,
    };
    tracing::info!(
        "embedding with {} ({}-d, {} distance)",
        embedder.frontend(),
        embedder.space().dim,
        embedder.space().distance
    );
    let store = open_any_store(store_dir, embedder.model_key())?;
    let monitors = Arc::new(Monitors::load_in(store, embedder.space())?);
    if let Some(url) = &opts.alert_webhook {
        monitors.set_webhook(alerts::Webhook::start(
            url.clone(),
            std::time::Duration::from_secs(1),
        ))?;
        tracing::info!("alert raises and clears are posted to {url}");
    }
    let maintenance_every = opts.maintenance_every;
    let state = Arc::new(state::AppState {
        monitors,
        embedder,
        metrics: metrics::Metrics::default(),
        opts,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServeError::Io(format!("starting the runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| ServeError::Io(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServeError::Io(e.to_string()))?;
        on_listen(addr);
        tokio::spawn(maintenance(state.monitors.clone(), maintenance_every));
        if let Some(target) = state.opts.mqtt.clone() {
            tokio::spawn(mqtt::run(state.clone(), target));
        }
        let limits = state.opts.connections;
        let monitors = state.monitors.clone();
        let served = conn::serve(listener, http::router(state), limits, shutdown())
            .await
            .map_err(|e| ServeError::Io(format!("serving: {e}")));
        // What changed since the last snapshot, so that the next start reads instead of recomputing.
        match tokio::task::spawn_blocking(move || monitors.save_snapshots()).await {
            Ok(Ok(n)) if n > 0 => tracing::info!("saved the state of {n} bank(s)"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("saving bank states: {e}"),
            Err(e) => tracing::error!("saving bank states: {e}"),
        }
        served
    })
}

/// Now and then every `every`, off the async threads: saves the state of every bank changed since
/// its last snapshot (so a start-up reads it instead of recomputing), and prunes every monitor's
/// history to its retention. A failure is logged and tried again next time.
async fn maintenance(monitors: Arc<Monitors>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let m = monitors.clone();
        match tokio::task::spawn_blocking(move || m.save_snapshots()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!("saved the state of {n} bank(s)"),
            Ok(Err(e)) => tracing::error!("saving bank states: {e}"),
            Err(e) => tracing::error!("saving bank states: {e}"),
        }
        let m = monitors.clone();
        match tokio::task::spawn_blocking(move || m.prune(monitors::now_ms())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!("retention: pruned {n} score(s)"),
            Ok(Err(e)) => tracing::error!("retention: {e}"),
            Err(e) => tracing::error!("retention: {e}"),
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
