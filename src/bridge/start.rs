//! The bridge as one unit at start-up, in the three steps the application's own
//! start-up needs it in:
//!
//! 1. [`prepare`], before the engine starts: the outbox's hook, which the engine runs
//!    in every batch's transaction, knowing the Matrix users there are (it asks the
//!    batch about users it has not heard of);
//! 2. [`Prepared::attach`], once the chat exists: the bridge over it, heard by the
//!    chat for typing and in the people search, and its own listener bound, so that a
//!    port taken fails the start as the main listener's does;
//! 3. [`Attached::spawn`], when the application runs: the homeserver's routes served
//!    on that listener and the bridge's tasks started, until [`Running::stop`].
//!
//! Each step takes what only it can take, so the order is in the types: there is no
//! bridge without a hook in the engine, and no task without a bridge.

use std::{net::SocketAddr, sync::Arc};

use axum::Router;
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};

use super::{
    Bridge, BridgeSettings, appservice,
    directory::Directory,
    outbox::{self, OutboxHook},
    typing::{self, TypingNotice, TypingRelay},
};
use crate::{
    chat::{Chat, committed::TxnHook},
    config::ConfigError,
    store::{Store, StoreError},
};

/// Why the bridge could not be set up; the application does not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot read the Matrix users")]
    MatrixUsers(#[source] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen for the homeserver on {listen} (appservice.hostname, appservice.port)")]
    Listen {
        listen: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The bridge before the engine starts: its hook, for the engine to run.
pub struct Prepared {
    settings: BridgeSettings,
    store: Store,
    outbox: Arc<OutboxHook>,
}

/// Reads who lives on Matrix, for the outbox's hook. It reads the store, not the
/// chat: the chat needs the engine, and the engine needs the hook.
pub async fn prepare(settings: BridgeSettings, store: &Store) -> Result<Prepared, StartError> {
    let matrix_users = store
        .matrix_user_ids()
        .await
        .map_err(StartError::MatrixUsers)?;
    Ok(Prepared {
        settings,
        store: store.clone(),
        outbox: Arc::new(OutboxHook::new(matrix_users)),
    })
}

impl Prepared {
    /// The hook that adds the bridge's outbox rows to each batch's transaction.
    pub fn hook(&self) -> Arc<dyn TxnHook> {
        self.outbox.clone()
    }

    /// The bridge over `chat`, whose engine runs [`Prepared::hook`]: it hears the
    /// chat's typing and finds Matrix IDs in its search. Refused without tokens, or
    /// when its listener cannot be bound.
    pub async fn attach(self, chat: &Chat) -> Result<Attached, StartError> {
        let listen = self.settings.listen;
        let (relay, typing) = TypingRelay::new(self.outbox.clone());
        chat.listen_to_typing(Arc::new(relay));
        let bridge = Bridge::new(self.settings, chat.clone(), self.store, self.outbox)?;
        chat.find_matrix_users_with(Arc::new(Directory(Arc::downgrade(&bridge))));
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| StartError::Listen { listen, source })?;
        Ok(Attached {
            bridge,
            listener,
            typing,
        })
    }
}

/// The bridge attached to the chat, its listener bound, nothing running yet.
pub struct Attached {
    bridge: Arc<Bridge>,
    listener: TcpListener,
    /// The local users' typing towards Matrix, queued by the chat.
    typing: mpsc::Receiver<TypingNotice>,
}

impl Attached {
    /// The bridge, for what shows how it is doing (`/healthz`).
    pub fn bridge(&self) -> Arc<Bridge> {
        self.bridge.clone()
    }

    /// Serves the homeserver's routes on the bridge's listener, with the layers the
    /// application gives every listener (`layered`), and starts the bridge's tasks:
    /// the start-up checks, the typing relay, the pruning of old transaction ids and
    /// the outbox. The chat never waits for any of them.
    pub fn spawn(
        self,
        layered: impl FnOnce(Router) -> Router,
        connections: crate::serve::ConnectionLimits,
    ) -> Running {
        let Self {
            bridge,
            listener,
            typing,
        } = self;
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, "serving the Matrix application service");
        }
        let routes = layered(appservice::routes(bridge.clone()));
        Running {
            tasks: vec![
                tokio::spawn(async move {
                    // The same timeouts and caps as the main listener: the homeserver
                    // is the only client meant to call, not the only one that can.
                    let served =
                        crate::serve::serve(listener, routes, connections, std::future::pending())
                            .await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "the application service listener failed");
                    }
                }),
                tokio::spawn(bridge.clone().start()),
                tokio::spawn(typing::relay(bridge.clone(), typing)),
                tokio::spawn(appservice::forget_old_transactions(bridge.clone())),
                tokio::spawn(outbox::drain(bridge)),
            ],
        }
    }
}

/// The bridge's running tasks.
pub struct Running {
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops every task of the bridge: the listener, the retries, the outbox (whose
    /// rows wait in the database for the next start).
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}
