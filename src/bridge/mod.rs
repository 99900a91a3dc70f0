//! The Matrix bridge: gadka as an application service, so that people on Matrix chat
//! with gadka users. Off unless the configuration has a `homeserver` section; its
//! settings ([`BridgeSettings`]) are read and checked with the rest, in `config/`.
//!
//! - `registration.rs`: `gadka generate-registration`, the file the homeserver loads;
//! - `appservice.rs`: the API the homeserver calls (`/_matrix/app/v1/*`);
//! - `homeserver.rs`: the calls the bridge makes (ruma's types over reqwest);
//! - `incoming.rs`: Matrix events in (invites to puppets, messages, new names);
//! - `directory.rs`: Matrix IDs in gadka's people search;
//! - `commands.rs`: the bot's commands, for bridge admins;
//! - `outbox/`: gadka's changes out, through rows committed with them;
//! - `typing.rs`: typing both ways, best effort;
//! - `start.rs`: the bridge as one unit at the application's start-up: [`prepare`]
//!   (the outbox's hook, before the engine starts), [`Prepared::attach`] (to the
//!   chat), [`Attached::spawn`] (its listener and tasks).
//!
//! The bridge runs beside the chat and never in its way: while the homeserver is
//! unreachable, it says so in the log and in `/healthz`, retries with backoff, and
//! local users chat on.

mod appservice;
mod commands;
mod directory;
pub mod homeserver;
mod incoming;
mod outbox;
pub mod registration;
mod start;
mod typing;

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use ruma::UserId;
use serde::Serialize;

use homeserver::{Homeserver, HomeserverError};
pub use incoming::IncomingError;
use outbox::OutboxHook;
pub use outbox::leave_row;
pub use start::{Attached, Prepared, Running, StartError, prepare};

pub use crate::config::{BridgeSettings, Permission, Tokens};
use crate::{
    chat::{Chat, ChatError, views::User},
    config::ConfigError,
    store::Store,
};

/// The longest wait between two start-up attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The running bridge; shared by its HTTP surface and its tasks.
pub struct Bridge {
    settings: BridgeSettings,
    hs_token: String,
    homeserver: Homeserver,
    chat: Chat,
    store: Store,
    /// The hook that puts messages to Matrix users into the outbox.
    outbox: Arc<OutboxHook>,
    /// Who on Matrix is typing where.
    typing_now: typing::TypingNow,
    /// Held while a portal is chosen (an invite from Matrix, or the outbox making a
    /// room), so that one conversation never gets two rooms.
    portals: tokio::sync::Mutex<()>,
    health: RwLock<Health>,
}

/// How the bridge is doing, as `/healthz` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// `starting`, `ready` or `failing`.
    pub status: &'static str,
    /// What is wrong, in a sentence, when it is failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Bridge {
    /// The bridge for these settings, over the chat whose engine runs `outbox`;
    /// refused without tokens.
    fn new(
        settings: BridgeSettings,
        chat: Chat,
        store: Store,
        outbox: Arc<OutboxHook>,
    ) -> Result<Arc<Self>, ConfigError> {
        let tokens = settings.require_tokens()?.clone();
        Ok(Arc::new(Self {
            homeserver: Homeserver::new(settings.homeserver.clone(), tokens.as_token),
            hs_token: tokens.hs_token,
            settings,
            chat,
            store,
            outbox,
            typing_now: typing::TypingNow::default(),
            portals: tokio::sync::Mutex::new(()),
            health: RwLock::new(Health {
                status: "starting",
                detail: None,
            }),
        }))
    }

    /// How the bridge is doing now.
    pub fn health(&self) -> Health {
        self.health
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_health(&self, status: &'static str, detail: Option<String>) {
        *self.health.write().unwrap_or_else(|e| e.into_inner()) = Health { status, detail };
    }

    /// Checks the homeserver until it is all right, waiting longer after each failure
    /// (1 s, doubling, at most a minute). Each failure is logged and shown in
    /// `/healthz` in plain words; local chat does not wait for any of it.
    async fn start(self: Arc<Self>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.check().await {
                Ok(()) => {
                    tracing::info!(homeserver = %self.settings.homeserver, "the Matrix bridge is ready");
                    self.set_health("ready", None);
                    return;
                }
                Err(why) => {
                    tracing::warn!(retry_in = ?backoff, "the Matrix bridge cannot start: {why}");
                    self.set_health("failing", Some(why));
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// The start-up checks, in order: the homeserver answers, it knows the bridge's
    /// token as the bot's, and it can reach the bridge.
    async fn check(&self) -> Result<(), String> {
        let settings = &self.settings;
        self.homeserver
            .fetch_versions()
            .await
            .map_err(|e| e.to_string())?;
        let me = self.homeserver.whoami().await.map_err(|e| match e.errcode() {
            Some("M_UNKNOWN_TOKEN") => format!(
                "the homeserver does not know the bridge's as_token: add the registration to its app_service_config_files and restart it ({e})"
            ),
            _ => e.to_string(),
        })?;
        if me != settings.bot {
            return Err(format!(
                "the homeserver takes the as_token for {me}, not the bot {}: is the registration the one generated from this config?",
                settings.bot
            ));
        }
        self.homeserver
            .ping(&settings.id)
            .await
            .map_err(|e| match e {
                HomeserverError::Matrix { errcode, error, .. } => format!(
                    "the homeserver cannot reach the bridge at {}: {error} ({errcode})",
                    settings.address
                ),
                e => e.to_string(),
            })?;
        self.homeserver
            .set_display_name(&settings.bot, &settings.bot_displayname)
            .await
            .map_err(|e| format!("cannot set the bot's display name: {e}"))
    }

    /// Makes sure the puppet `user_id` exists on the homeserver, with its gadka user's
    /// display name; that user, or `None` when it is no puppet of a local user (or of
    /// a deactivated one, whose puppet is not to be found nor invited anywhere).
    pub async fn ensure_puppet(&self, user_id: &UserId) -> Result<Option<User>, PuppetError> {
        let Some(username) = self.settings.puppet_username(user_id) else {
            return Ok(None);
        };
        let Some(user) = self.chat.user_named(username).await? else {
            return Ok(None);
        };
        // Only the stored (lower-case) form of a local username is a puppet, and a
        // Matrix user has none.
        if user.username != username || user.matrix_id.is_some() {
            return Ok(None);
        }
        if self.chat.is_deactivated(user.id).await? {
            return Ok(None);
        }
        self.homeserver.ensure_registered(user_id).await?;
        let name = self.settings.displayname_template.apply(&user.display_name);
        self.homeserver.set_display_name(user_id, &name).await?;
        Ok(Some(user))
    }
}

/// Why a puppet could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PuppetError {
    #[error("cannot read the user: {}", with_cause(.0))]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Homeserver(#[from] HomeserverError),
}

/// A chat error as the bridge logs it: an internal one with its cause, which the
/// chat keeps from its clients but the bridge's log is the place for.
fn with_cause(e: &ChatError) -> String {
    match e {
        ChatError::Internal(cause) => format!("{e}: {cause:#}"),
        e => e.to_string(),
    }
}
