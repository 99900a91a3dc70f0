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

/// The subscriber of the operator's tools (`gadka admin`, `gadka backup`): warnings
/// and errors on standard error, since their standard output is their answer, and
/// nothing below (the server's `info` would show every migration applied).
pub fn init_for_tools() {
    let _ = fmt()
        .with_env_filter(EnvFilter::new("warn"))
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
