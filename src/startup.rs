//! Builds the whole application from settings and runs it: `main` and the tests
//! start the very same thing.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::Router;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    api::{self, AppState},
    chat::{Chat, Engine, EngineConfig, Fanout, SessionKeys, committed::TxnHook},
    config::Settings,
    hub::{CloseReason, Hub},
    store::Store,
};

/// How long shutdown waits for sockets to finish their command and close.
const SOCKETS_CLOSE_TIMEOUT: Duration = Duration::from_secs(15);

/// A built application, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    chat: Chat,
    store: Store,
    writer: JoinHandle<()>,
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
        hooks: Vec<Arc<dyn TxnHook>>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| {
            format!("cannot create the data dir {}", settings.data_dir.display())
        })?;
        let store = Store::connect(&settings.database_url, settings.durability)
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
        let hub = Hub::new(settings.limits.ws_queue_frames);
        let (engine, writer) = Engine::start(
            store.clone(),
            EngineConfig {
                batch: settings.limits.writer_batch,
                queue: settings.limits.writer_queue,
                subscribers: vec![Arc::new(Fanout::new(hub.clone()))],
                hooks,
            },
        );
        let chat = Chat::new(
            store.clone(),
            SessionKeys::new(&secret, settings.session_ttl),
            settings.limits.clone(),
            hub,
            engine,
        );
        let router = api::router(AppState {
            chat: chat.clone(),
            origins: settings.origins.clone().into(),
            cookie_secure: settings.cookie_secure,
        });
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        Ok(Self {
            listener,
            router,
            chat,
            store,
            writer,
        })
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
        let chat = self.chat.clone();
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                chat.housekeeping();
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
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await;
        if tokio::time::timeout(SOCKETS_CLOSE_TIMEOUT, hub.all_closed())
            .await
            .is_err()
        {
            tracing::warn!("some sockets did not close in time");
        }
        upkeep.abort();
        // The writer stops once the last handle on the chat is gone and its queue is
        // drained: every command it accepted is committed before the database closes.
        drop(self.chat);
        if let Err(e) = self.writer.await {
            tracing::error!(error = %e, "the message writer failed");
        }
        self.store.close().await?;
        tracing::info!("stopped");
        Ok(served?)
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
