//! Builds the whole application from settings and runs it: `main` and the tests
//! start the very same thing.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{any, get},
};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::RequestBodyTimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    api,
    bridge::{self, Bridge},
    chat::{Chat, Engine, EngineConfig, Fanout, SessionKeys, WriterStopped, committed::TxnHook},
    cluster::Cluster,
    config::{MetricsAt, Settings},
    http::{
        ApiError, AppState,
        client::{self, TrustedProxies},
        origin,
    },
    hub::{CloseReason, Hub},
    media::Media,
    metrics,
    serve::{self, ConnectionLimits},
    store::{Schema, Store},
    web, ws,
};

/// How long shutdown waits for sockets to finish their command and close.
const SOCKETS_CLOSE_TIMEOUT: Duration = Duration::from_secs(15);

/// A built application, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    chat: Chat,
    store: Store,
    writer: WriterStopped,
    /// `/metrics` on its own address, when configured.
    metrics_listener: Option<TcpListener>,
    /// The Matrix bridge, attached to the chat with its listener bound, when
    /// configured.
    bridge: Option<bridge::Attached>,
    /// This node's part in a cluster, when `cluster.nats_url` is set.
    cluster: Option<Cluster>,
    connections: ConnectionLimits,
}

impl Application {
    /// Opens the database (running migrations), loads or creates the session secret,
    /// and binds the listener (port 0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_hooks(settings, Vec::new()).await
    }

    /// [`Application::build`], with subscribers that add rows to each batch's
    /// transaction (the bridge's outbox).
    pub async fn build_with_hooks(
        settings: Settings,
        mut hooks: Vec<Arc<dyn TxnHook>>,
    ) -> anyhow::Result<Self> {
        crate::durable::create_dir_all(&settings.data_dir).with_context(|| {
            format!("cannot create the data dir {}", settings.data_dir.display())
        })?;
        let schema = if settings.migrate_on_start {
            Schema::Migrate
        } else {
            Schema::Check
        };
        let store = Store::open(&settings.database_url, settings.durability, schema)
            .await
            .with_context(|| {
                format!(
                    "cannot open the database {}",
                    redact(&settings.database_url)
                )
            })?;
        let secret = match &settings.session_secret {
            Some(secret) => secret.clone(),
            None => SessionKeys::secret_from_data_dir(&settings.data_dir)
                .context("cannot read or create the session secret")?,
        };
        // The bridge's hook runs in the engine from the first commit.
        let bridge = match settings.bridge.clone() {
            Some(bridge_settings) => {
                let prepared = bridge::prepare(bridge_settings, &store).await?;
                hooks.push(prepared.hook());
                Some(prepared)
            }
            None => None,
        };
        let hub = Hub::new(settings.limits.ws_queue_frames);
        let (engine, writer) = Engine::start(
            &store,
            EngineConfig {
                batch: settings.limits.writer_batch,
                queue: settings.limits.writer_queue,
                subscribers: vec![Arc::new(Fanout::new(hub.clone()))],
                hooks,
            },
        )
        .context("cannot start the message writer")?;
        let media = Media::local(settings.media_path.clone()).with_context(|| {
            format!(
                "cannot use {} for uploaded files (media.path)",
                settings.media_path.display()
            )
        })?;
        let chat = Chat::new(
            store.clone(),
            SessionKeys::new(&secret, settings.session_ttl),
            settings.limits.clone(),
            hub,
            engine,
            (media, settings.media_unattached_ttl),
        );
        // Installed before anything records, so the first commit is counted.
        metrics::handle();
        // Joined before anything sends: every batch of this node is in the cluster's order.
        let cluster = match &settings.nats_url {
            Some(_) if !settings.database_url.starts_with("postgres") => {
                anyhow::bail!(
                    "cluster.nats_url is set, but several nodes need one PostgreSQL \
                     (database.url: postgres://…), not an SQLite file of their own"
                )
            }
            Some(url) => Some(
                Cluster::join(url, &chat, &store, chat.hub())
                    .await
                    .context("cannot join the cluster")?,
            ),
            None => None,
        };
        let bridge = match bridge {
            Some(prepared) => Some(prepared.attach(&chat).await?),
            None => None,
        };
        let trusted_proxies = TrustedProxies::new(settings.trusted_proxies.clone());
        let router = router(
            AppState {
                chat: chat.clone(),
                origins: settings.origins.clone().into(),
                public_origin: settings.public_url.as_deref().map(Into::into),
                cookie_secure: settings.cookie_secure
                    || settings
                        .public_url
                        .as_deref()
                        .is_some_and(|url| url.starts_with("https://")),
            },
            trusted_proxies.clone(),
            settings.metrics == MetricsAt::Main,
            bridge.as_ref().map(bridge::Attached::bridge),
            cluster.clone(),
        );
        let metrics_listener = match settings.metrics {
            MetricsAt::Address(address) => match TcpListener::bind(address).await {
                Ok(listener) => Some(listener),
                // A second server on one machine finds the default port taken; it
                // serves without metrics rather than not at all.
                Err(e) if settings.metrics == MetricsAt::DEFAULT => {
                    tracing::warn!(%address, error = %e, "/metrics is not served: its default address is taken; set metrics.listen");
                    None
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot listen for metrics on {address}"));
                }
            },
            MetricsAt::Main | MetricsAt::Off => None,
        };
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let connections = ConnectionLimits {
            trusted_proxies: trusted_proxies.clone(),
            header_timeout: settings.limits.header_timeout,
            max_connections: serve::fit_to_file_limit(settings.limits.max_connections),
            max_connections_per_ip: settings.limits.max_connections_per_ip,
        };
        Ok(Self {
            listener,
            router,
            chat,
            store,
            writer,
            metrics_listener,
            bridge,
            cluster,
            connections,
        })
    }

    /// Where `/metrics` is served on its own address, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` resolves; then stops accepting, closes every socket
    /// with "going away" (each finishes the command it is handling, so what was
    /// acknowledged is committed), lets HTTP requests in flight finish, and closes
    /// the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr(), "listening");
        let metrics_server = self.metrics_listener.map(|listener| {
            if let Ok(address) = listener.local_addr() {
                tracing::info!(%address, "serving /metrics");
            }
            let connections = self.connections.clone();
            tokio::spawn(serve::serve(
                listener,
                metrics::routes::<()>(),
                connections,
                std::future::pending(),
            ))
        });
        // The bridge serves the homeserver on its own listener, and checks the
        // homeserver in the background: the chat never waits for either.
        let bridge = self
            .bridge
            .map(|bridge| bridge.spawn(observed, self.connections.clone()));
        let profiles = tokio::spawn(self.chat.clone().relay_profiles());
        // Sessions revoked by `gadka admin` (another process) close their sockets here.
        let revocations = tokio::spawn(self.chat.clone().watch_revocations());
        let chat = self.chat.clone();
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                chat.housekeeping();
            }
        });
        let chat = self.chat.clone();
        let sweep = tokio::spawn(async move {
            // As often as the time an upload is kept, within a second and an hour.
            let period = chat
                .media_ttl()
                .clamp(Duration::from_secs(1), Duration::from_secs(3600));
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                match chat.sweep_media().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "uploads no message carries removed"),
                    Err(e) => tracing::warn!(error = %e, "cannot remove unattached uploads"),
                }
            }
        });
        let hub = self.chat.hub().clone();
        let stop = {
            let hub = hub.clone();
            async move {
                shutdown.await;
                hub.close_all(CloseReason::GOING_AWAY);
            }
        };
        let served = serve::serve(self.listener, self.router, self.connections, stop).await;
        if tokio::time::timeout(SOCKETS_CLOSE_TIMEOUT, hub.all_closed())
            .await
            .is_err()
        {
            tracing::warn!("some sockets did not close in time");
        }
        upkeep.abort();
        sweep.abort();
        profiles.abort();
        revocations.abort();
        if let Some(cluster) = self.cluster {
            cluster.leave();
        }
        if let Some(bridge) = bridge {
            bridge.stop();
        }
        if let Some(server) = metrics_server {
            server.abort();
        }
        // The writer stops once the last handle on the chat is gone and its queue is
        // drained: every command it accepted is committed before the database closes.
        drop(self.chat);
        match tokio::time::timeout(SOCKETS_CLOSE_TIMEOUT, self.writer).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => tracing::error!("the message writer failed"),
            // A socket that never closed still holds the chat; what the writer
            // acknowledged is committed already.
            Err(_) => tracing::warn!("the message writer did not stop in time"),
        }
        self.store.close().await?;
        tracing::info!("stopped");
        Ok(served?)
    }
}

/// The whole HTTP surface. Each surface brings its own routes and the layers only it
/// needs (the API its body limit, a later bridge under `/_matrix/app/v1` its own);
/// what they all share is layered here, around all of them.
///
/// Each surface describes its routes in OpenAPI; the merged document, the contract
/// clients and the fuzzer in `.ci/schemathesis.sh` are driven from, is served at
/// `/api/openapi.json`.
fn router(
    state: AppState,
    trusted_proxies: TrustedProxies,
    with_metrics: bool,
    bridge: Option<Arc<Bridge>>,
    cluster: Option<Cluster>,
) -> Router {
    let (mut surfaces, contract) = api::router(state.chat.limits())
        .merge(ws::routes())
        .split_for_parts();
    if with_metrics {
        surfaces = surfaces.merge(metrics::routes());
    }
    let contract: Arc<str> = contract.to_json().unwrap_or_default().into();
    let surfaces = surfaces
        .route(
            "/api/openapi.json",
            get(move || async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    contract.to_string(),
                )
            })
            .layer(api::compression()),
        )
        .route(
            "/healthz",
            get(move |state: State<AppState>| health(state, bridge.clone(), cluster.clone())),
        )
        // An unknown API path is a JSON 404 whoever takes the fallback below.
        .route("/api/{*rest}", any(not_found))
        // Everything else is the web client: its assets, or its page for the paths
        // it routes itself.
        .fallback(web::fallback)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), origin::check))
        // A declared body that never comes would hold its connection forever.
        .layer(RequestBodyTimeoutLayer::new(
            state.chat.limits().body_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            trusted_proxies,
            client::identify,
        ));
    observed(surfaces).with_state(state)
}

/// The layers every listener shares: the request counter, a request id and the
/// `request` span.
fn observed<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(middleware::from_fn(metrics::count_requests))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
}

/// The span every request runs in, so that what it logs names its request id.
fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id,
        client = tracing::field::Empty,
    )
}

async fn not_found() -> ApiError {
    ApiError::NoRoute
}

/// 200 when the database answers, 503 when it does not. With the bridge, how it
/// is doing too; a failing bridge is no failure of the chat, so it stays 200.
async fn health(
    State(state): State<AppState>,
    bridge: Option<Arc<Bridge>>,
    cluster: Option<Cluster>,
) -> Response {
    if state.chat.healthy().await {
        let mut body = serde_json::json!({"status": "ok"});
        if let Some(bridge) = bridge {
            body["bridge"] = serde_json::to_value(bridge.health()).unwrap_or_default();
        }
        // A node without NATS still serves its own users: `ok`, and the cluster's state.
        if let Some(cluster) = cluster {
            body["cluster"] = serde_json::to_value(cluster.health()).unwrap_or_default();
        }
        (StatusCode::OK, axum::Json(body)).into_response()
    } else {
        let body = serde_json::json!({"error": {"code": "unavailable", "message": "the database does not answer"}});
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

/// A database URL fit for a log line: without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://…@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
