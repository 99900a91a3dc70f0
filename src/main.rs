//! The `gadka` binary: parse the command line, load the settings, run.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use gadka::{
    config::{Cli, Command, Settings},
    startup::{Application, shutdown_signal},
    telemetry,
};

/// glibc's malloc showed in the profile under load: its arena locks contend when the
/// writer's thread frees what the socket tasks allocated. mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // A bad flag or variable is reported like a bad file value: one line, exit code 2.
    let (command, settings) = match Cli::parse_args().and_then(|cli| {
        let settings = Settings::load(cli.config.as_deref(), &cli.overrides)?;
        Ok((cli.command.unwrap_or_default(), settings))
    }) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("gadka: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = telemetry::init(&settings.log_filter) {
        eprintln!("gadka: {e}");
        return ExitCode::from(2);
    }
    let result = match command {
        Command::Serve => match Application::build(settings).await {
            Ok(app) => app.run_until(shutdown_signal()).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("gadka: {e:#}");
            ExitCode::FAILURE
        }
    }
}
