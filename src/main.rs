//! The `gadka` binary: parse the command line, load the settings, run.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use gadka::{
    config::{Cli, Command, Settings},
    startup::{Application, shutdown_signal},
    telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), &cli.overrides) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("gadka: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = telemetry::init(&settings.log_filter) {
        eprintln!("gadka: {e}");
        return ExitCode::from(2);
    }
    let result = match cli.command.unwrap_or_default() {
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
