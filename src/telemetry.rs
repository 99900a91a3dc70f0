//! Logging: one `tracing` subscriber for the process, set up once at start.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the subscriber with `filter` (e.g. `info`, `gadka=debug,tower_http=info`).
pub fn init(filter: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| format!("config: logging.filter (GADKA_LOG / --log): {e}"))?;
    fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init()
        .map_err(|e| e.to_string())
}
