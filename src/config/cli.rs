//! The command line: the subcommand, `--config`, and every key as a flag with its
//! `GADKA_*` variable.
//!
//! The flags are the file's sections read by clap (see `sections.rs`), so a flag is
//! parsed into the same type as the file's value. What the command line gives is kept
//! as clap's matches ([`Overrides`]) and laid over the file by clap's own update, so
//! no key needs code of its own here.

use std::{ffi::OsString, fmt, path::PathBuf};

use clap::{
    ArgMatches, Args, Command as ClapCommand, CommandFactory, FromArgMatches, Parser,
    error::{ContextKind, ContextValue, ErrorKind},
    parser::ValueSource,
};

use super::{
    error::{ConfigError, Key},
    sections::Layer,
};

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "gadka", version, about = "A 1:1 chat server")]
pub struct Cli {
    /// YAML configuration file.
    #[arg(long, env = "GADKA_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(subcommand)]
    pub subcommand: Option<Subcommand>,
}

/// What to run; `serve` when none is given.
#[derive(Debug, Clone, clap::Subcommand, Default)]
pub enum Subcommand {
    /// Run the chat server, and the Matrix bridge when configured (the default).
    #[default]
    Serve,
    /// Write the homeserver's registration file for the bridge, with fresh tokens,
    /// and fill those tokens into the configuration file.
    GenerateRegistration {
        /// Where to write the registration.
        #[arg(
            long,
            short = 'r',
            value_name = "FILE",
            default_value = "registration.yaml"
        )]
        registration: PathBuf,
    },
    /// Operator tools: they work on the database directly, whether or not a server
    /// is running on it, with the same settings as `serve`.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Apply the database's pending migrations and exit: what a deployment with
    /// `database.migrate_on_start: false` runs once before starting its nodes.
    Migrate,
    /// Write a consistent copy of the live SQLite database to FILE, while the server
    /// runs. FILE must not exist. To restore, see the README.
    Backup {
        /// Where to write the copy.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// `gadka admin …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AdminCommand {
    /// Accounts: list, show, deactivate, reactivate, reset a password.
    #[command(subcommand)]
    User(UserCommand),
}

/// `gadka admin user …`; NAME is a username (in any case) or a Matrix user's ID.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum UserCommand {
    /// Every user: id, username, display name, created, deactivated.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One user, with their conversation and live session counts.
    Show {
        name: String,
        /// A JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Stop an account now: its sessions end, open sockets close, login is refused,
    /// search no longer finds it, and its Matrix puppet leaves its rooms.
    Deactivate { name: String },
    /// Let a deactivated account log in and be found again.
    Reactivate { name: String },
    /// Set a new password and end every session. Without --password-stdin a random
    /// password is generated and printed once.
    ResetPassword {
        name: String,
        /// Read the new password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

impl Cli {
    /// Reads the command line and the `GADKA_*` environment.
    ///
    /// `--help`, `--version` and usage mistakes such as an unknown flag are clap's to
    /// print, and end the process. A value that does not parse comes back as the
    /// one-line [`ConfigError`] naming its key, like a bad value in the file.
    pub fn parse_args() -> Result<Self, ConfigError> {
        Self::parse_from_command(Self::command_with_file_keys(), std::env::args_os())
    }

    pub(super) fn parse_from_command(
        command: ClapCommand,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Result<Self, ConfigError> {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        // clap reads the variable of a global flag at every level where the flag is
        // absent: for `gadka serve --listen …` it parses `GADKA_LISTEN` before `serve`,
        // and a bad variable would stop a start whose flag overrides it. So a first
        // pass without variables finds the flags given, and the real pass reads only
        // the variables of the others. The first pass's errors, if any, the second
        // reports (or `--help` prints) with the variables in place.
        let first = command
            .clone()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(&args)
            .ok();
        let given: Vec<_> = command
            .get_arguments()
            .map(|arg| arg.get_id().clone())
            .filter(|id| {
                first.as_ref().and_then(|m| m.value_source(id.as_str()))
                    == Some(ValueSource::CommandLine)
            })
            .collect();
        let command = given.iter().fold(command, |command, id| {
            command.mut_arg(id, |arg| arg.env(None))
        });
        command
            .try_get_matches_from(args)
            .and_then(|matches| Self::from_arg_matches(&matches))
            .map_err(|e| invalid_value(&e).unwrap_or_else(|| e.exit()))
    }

    /// The command with each flag's help naming its file key, taken from its id so
    /// the key is written once.
    fn command_with_file_keys() -> ClapCommand {
        Self::command().mut_args(|arg| match Key::of(&arg) {
            Some(key) => {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                arg.help(format!("{help} [file: {}]", key.file))
            }
            None => arg,
        })
    }
}

/// The flags and `GADKA_*` variables given, to be laid over the file.
///
/// It keeps clap's matches rather than a typed copy, so that laying them over the
/// file is clap's own update (`FromArgMatches::update_from_arg_matches`), which
/// sets exactly the keys given and needs no code per key. The default gives none.
#[derive(Clone, Default)]
pub struct Overrides(Option<ArgMatches>);

impl Args for Overrides {
    fn augment_args(cmd: ClapCommand) -> ClapCommand {
        Self::global(Layer::augment_args(cmd))
    }
    fn augment_args_for_update(cmd: ClapCommand) -> ClapCommand {
        Self::global(Layer::augment_args_for_update(cmd))
    }
}

impl Overrides {
    /// Sets in `layer` exactly the keys given as flags or variables. Their values were
    /// parsed when the command line was, so this only fails on a programming error.
    pub(super) fn lay_over(&self, layer: &mut Layer) -> Result<(), ConfigError> {
        match &self.0 {
            Some(matches) => layer
                .update_from_arg_matches(matches)
                .map_err(|e| ConfigError::Args(e.kind())),
            None => Ok(()),
        }
    }

    /// Every configuration flag may also follow the command (`gadka serve --listen …`).
    fn global(cmd: ClapCommand) -> ClapCommand {
        cmd.mut_args(|arg| match Key::of(&arg) {
            Some(_) => arg.global(true),
            None => arg,
        })
    }
}

impl FromArgMatches for Overrides {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self(Some(matches.clone())))
    }
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0 = Some(matches.clone());
        Ok(())
    }
}

/// Lists which keys were given, never their values: one of them may be the secret.
impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let given: Vec<_> = self
            .0
            .iter()
            .flat_map(|matches| {
                matches
                    .ids()
                    .filter(|id| matches.contains_id(id.as_str()) && id.as_str().contains('.'))
            })
            .map(|id| id.as_str())
            .collect();
        f.debug_struct("Overrides").field("given", &given).finish()
    }
}

/// The one line for a flag or variable whose value did not parse. `None` for
/// everything else clap reports (`--help`, an unknown flag), which clap prints.
fn invalid_value(err: &clap::Error) -> Option<ConfigError> {
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    // clap names the argument as it shows it (`--listen <ADDR>`); find it by that.
    let Some(ContextValue::String(shown)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let mut command = Cli::command();
    command.build(); // an argument shows itself only once built
    let arg = command
        .get_arguments()
        .find(|arg| arg.to_string() == *shown)?;
    let key = Key::of(arg)?;
    let value = match err.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => value.as_str(),
        _ => "",
    };
    let why = std::error::Error::source(err).map(ToString::to_string);
    let why = match (err.get(ContextKind::ValidValue), why) {
        _ if value.is_empty() => "needs a value".to_owned(),
        // A secret is not echoed to the terminal or the service's log.
        (_, Some(why)) if arg.is_hide_env_values_set() => why,
        (Some(ContextValue::Strings(valid)), _) => {
            format!("{value:?} is not one of {}", valid.join(", "))
        }
        // Our own parsers quote the value already; the standard ones do not.
        (_, Some(why)) if why.contains(&format!("{value:?}")) => why,
        (_, Some(why)) => format!("{value:?}: {why}"),
        _ => format!("{value:?} is not a valid value"),
    };
    Some(key.error(why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        Settings,
        tests::{assert_names, command, flags, settings},
    };

    #[test]
    fn a_variable_beats_the_file_and_a_flag_beats_the_variable() {
        // Setting a variable is unsafe in a threaded test binary, so the test points
        // `--data-dir` at one that cargo sets for every test process instead.
        let Some(from_env) = std::env::var_os("CARGO_MANIFEST_DIR") else {
            panic!("run under cargo, which sets CARGO_MANIFEST_DIR");
        };
        let command = || command().mut_arg("server.data_dir", |arg| arg.env("CARGO_MANIFEST_DIR"));
        let yaml = "server:\n  data_dir: /from/file\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gadka.yaml");
        std::fs::write(&path, yaml).unwrap();
        let load = |args: &[&str]| {
            let cli = Cli::parse_from_command(
                command(),
                std::iter::once("gadka").chain(args.iter().copied()),
            )
            .unwrap();
            Settings::load(Some(&path), &cli.overrides)
                .unwrap()
                .data_dir
        };
        assert_eq!(
            load(&[]),
            PathBuf::from(from_env),
            "the variable beats the file"
        );
        assert_eq!(
            load(&["--data-dir", "/from/flag"]),
            PathBuf::from("/from/flag")
        );
    }

    #[test]
    fn a_flag_after_the_command_overrides_a_bad_variable() {
        // `server.listen` reads a variable holding no address, as a bad GADKA_LISTEN would.
        let command = || command().mut_arg("server.listen", |arg| arg.env("CARGO_MANIFEST_DIR"));
        for args in [
            &["gadka", "serve", "--listen", "127.0.0.1:0"][..],
            &["gadka", "--listen", "127.0.0.1:0", "serve"],
            &["gadka", "--listen", "127.0.0.1:0"],
        ] {
            let cli = Cli::parse_from_command(command(), args).unwrap();
            let s = Settings::load(None, &cli.overrides).unwrap();
            assert_eq!(s.listen.port(), 0, "{args:?}");
        }
        let err = Cli::parse_from_command(command(), ["gadka", "serve"]).unwrap_err();
        assert_names(err, "server.listen", "GADKA_LISTEN", "--listen");
    }

    #[test]
    fn a_bad_flag_or_variable_names_its_key() {
        for (args, file, env) in [
            (
                &["--listen", "nowhere"][..],
                "server.listen",
                "GADKA_LISTEN",
            ),
            (
                &["--writer-batch", "0"],
                "limits.writer_batch",
                "GADKA_WRITER_BATCH",
            ),
            (
                &["--writer-queue", "many"],
                "limits.writer_queue",
                "GADKA_WRITER_QUEUE",
            ),
            (
                &["--durability", "fast"],
                "database.durability",
                "GADKA_DURABILITY",
            ),
            (
                &["--metrics-listen", "9100"],
                "metrics.listen",
                "GADKA_METRICS_LISTEN",
            ),
            (
                &["--ws-queue-frames", "0"],
                "limits.ws_queue_frames",
                "GADKA_WS_QUEUE_FRAMES",
            ),
            (
                &["--origins", "example.org"],
                "server.origins",
                "GADKA_ORIGINS",
            ),
            (
                &["--session-secret", "short"],
                "session.secret",
                "GADKA_SESSION_SECRET",
            ),
            (
                &["--cookie-secure", "maybe"],
                "server.cookie_secure",
                "GADKA_COOKIE_SECURE",
            ),
            (
                &["--database-url", "mysql://x"],
                "database.url",
                "GADKA_DATABASE_URL",
            ),
        ] {
            let err = flags(args).unwrap_err();
            assert_names(err, file, env, args[0]);
        }
        let err = flags(&["--session-secret", "hunter2"])
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "the secret is not echoed: {err}");
        let err = flags(&["--durability", "fast"]).unwrap_err().to_string();
        assert!(
            err.contains("full, normal"),
            "the choices are listed: {err}"
        );
    }

    #[test]
    fn every_flag_names_a_key_the_file_knows() {
        let command = Cli::command();
        let others: Vec<_> = command
            .get_arguments()
            .filter(|arg| Key::of(arg).is_none())
            .map(|arg| arg.get_id().as_str())
            .collect();
        assert_eq!(others, ["config"], "every other flag has a file key");
        let keys = command.get_arguments().filter_map(Key::of);
        for key in keys {
            let (section, name) = key.file.split_once('.').unwrap();
            // A value of the wrong type for every key: refused, but not as unknown.
            let err = serde_yaml_ng::from_str::<Layer>(&format!("{section}:\n  {name}: {{}}\n"))
                .unwrap_err()
                .to_string();
            assert!(!err.contains("unknown field"), "{}: {err}", key.file);
        }
    }

    #[test]
    fn booleans_read_as_operators_write_them() {
        for (raw, expected) in [
            ("yes", true),
            ("on", true),
            ("1", true),
            ("false", false),
            ("off", false),
        ] {
            let s = settings("", &["--cookie-secure", raw]).unwrap();
            assert_eq!(s.cookie_secure, expected, "{raw}");
        }
    }
}
