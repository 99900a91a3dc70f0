//! gadka with its bridge, started in the test (the same `Application` `main` runs) on
//! a slot of the shared Synapse. Its users are the support crate's clients; what is
//! the bridge's own here is the configuration from the slot and its health.

use std::sync::Arc;

use gadka::config::{Overrides, Settings};
use gadka_test_support::{Client, PATIENCE, TestApp, eventually, spawn_in};
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use crate::synapse::Slot;

/// A running gadka; stopped when dropped.
pub struct Gadka {
    app: TestApp,
}

impl Gadka {
    /// gadka bridged through `slot`; `configure` may change the settings first.
    pub async fn start(slot: &Slot, configure: impl FnOnce(&mut Settings)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        Self::start_in(slot, dir, configure).await
    }

    /// [`Gadka::start`] on an existing data directory (a restart).
    pub async fn start_in(
        slot: &Slot,
        dir: Arc<TempDir>,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let loaded =
            Settings::load(Some(&slot.config), &Overrides::default()).expect("the slot's config");
        let app = spawn_in(dir, |settings| {
            settings.bridge = loaded.bridge;
            configure(settings);
        })
        .await;
        Self { app }
    }

    /// The server, for what every test app has (its address, a user's socket).
    pub fn app(&self) -> &TestApp {
        &self.app
    }

    /// Stops gadka gracefully, waits until it has, and hands back its data.
    pub async fn stop(self) -> Arc<TempDir> {
        self.app.stop().await
    }

    pub fn url(&self, path: &str) -> String {
        self.app.url(path)
    }

    /// `/healthz` once the bridge's status is `status`. Local chat stays healthy
    /// meanwhile, whatever the bridge does.
    pub async fn bridge_health(&self, status: &str) -> Value {
        let what = format!("the bridge to be {status}");
        // Twice the usual patience: the start-up checks back off (1 s, 2 s, 4 s...).
        eventually(&what, 2 * PATIENCE, async || {
            let response = reqwest::get(self.url("/healthz"))
                .await
                .expect("gadka answers");
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "local chat stays healthy"
            );
            let health: Value = response.json().await.expect("a JSON health");
            if health["bridge"]["status"] == status {
                Ok(health)
            } else {
                Err(health)
            }
        })
        .await
    }

    /// Registers `username` with a display name; its client.
    pub async fn register(&self, username: &str, display_name: &str) -> Client {
        self.app.register_named(username, display_name).await
    }
}
