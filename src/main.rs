//! The `gadka` binary: parse the command line, load the settings, run.
#![forbid(unsafe_code)]

use std::{
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
};

use gadka::{
    admin::{self, AdminError},
    bridge::registration,
    config::{AdminCommand, Cli, Settings, Subcommand},
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
    let (command, config, settings) = match Cli::parse_args().and_then(|cli| {
        let settings = Settings::load(cli.config.as_deref(), &cli.overrides)?;
        let command = cli.subcommand.unwrap_or_default();
        // Serving the bridge needs its tokens; generating them does not.
        if let (Subcommand::Serve, Some(bridge)) = (&command, &settings.bridge) {
            bridge.require_tokens()?;
        }
        Ok((command, cli.config, settings))
    }) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("gadka: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        Subcommand::Serve => serve(settings).await,
        Subcommand::GenerateRegistration { registration } => {
            generate_registration(config, &settings, &registration)
        }
        Subcommand::Admin {
            command: AdminCommand::User(command),
        } => {
            telemetry::init_for_tools();
            let mut input = io::stdin().lock();
            let result =
                admin::run_user(&settings, command, &mut io::stdout().lock(), &mut input).await;
            tool_exit(result)
        }
        Subcommand::Migrate => {
            telemetry::init_for_tools();
            tool_exit(admin::migrate(&settings, &mut io::stdout().lock()).await)
        }
        Subcommand::Backup { file } => {
            telemetry::init_for_tools();
            tool_exit(admin::backup(&settings, &file, &mut io::stdout().lock()).await)
        }
    }
}

/// How `gadka admin …` and `gadka backup` end: what they did is on standard output
/// already; a failure is one line on standard error and exit code 1.
fn tool_exit(result: Result<(), AdminError>) -> ExitCode {
    let _ = io::stdout().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gadka: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `gadka serve`, or `gadka` alone: the chat server, with the bridge when configured.
async fn serve(settings: Settings) -> ExitCode {
    if let Err(e) = telemetry::init(&settings.log_filter) {
        eprintln!("gadka: {e}");
        return ExitCode::from(2);
    }
    let result = match Application::build(settings).await {
        Ok(app) => app.run_until(shutdown_signal()).await,
        Err(e) => Err(e),
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

/// `gadka generate-registration`: the registration for the homeserver, and its tokens
/// written into the configuration file.
fn generate_registration(
    config: Option<PathBuf>,
    settings: &Settings,
    registration: &std::path::Path,
) -> ExitCode {
    let Some(config) = config else {
        eprintln!("gadka: generate-registration needs the bridge's configuration: --config FILE");
        return ExitCode::from(2);
    };
    let Some(bridge) = &settings.bridge else {
        eprintln!(
            "gadka: {} has no `homeserver` section, so the bridge is off: see bridge-config.yaml",
            config.display()
        );
        return ExitCode::from(2);
    };
    match registration::generate(bridge, &config, registration) {
        Ok(()) => {
            println!(
                "wrote {} and its tokens into {}; add the registration to the homeserver's app_service_config_files, restart it, then run `gadka serve --config {}`",
                registration.display(),
                config.display(),
                config.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gadka: {e}");
            ExitCode::FAILURE
        }
    }
}
