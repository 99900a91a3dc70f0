//! Configuration: defaults < YAML file < `GADKA_*` environment < command-line flags.
//!
//! Every key is declared once, as a typed field of a section struct (`ServerSection`
//! and its siblings). serde reads that struct from the file and clap reads the same
//! struct from flags and environment, so each value is parsed into its type exactly
//! once, wherever it comes from. The clap id of each field is its file key
//! (`server.listen`), which is how a bad value from any source is reported in one
//! line naming the key in all its spellings. [`Settings::load`] lays the flags over
//! the file with clap's own update, then turns the result into [`Settings`], where
//! the defaults live.
//!
//! Adding a key: a field in its section (doc comment, `#[arg]` with id, flag and
//! variable), a field in [`Settings`] or [`Limits`] and its line with the default in
//! `Settings::from_layer`; and a row in the README's table.

use std::{
    ffi::OsString,
    fmt,
    marker::PhantomData,
    net::SocketAddr,
    num::{NonZeroU32, NonZeroU64, NonZeroUsize},
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use axum::http::Uri;
use clap::{
    ArgMatches, Args, Command as ClapCommand, CommandFactory, FromArgMatches, Parser, Subcommand,
    ValueEnum,
    builder::BoolishValueParser,
    error::{ContextKind, ContextValue, ErrorKind},
    parser::ValueSource,
};
use serde::{
    Deserialize, Deserializer,
    de::{self, SeqAccess, Visitor},
};

use crate::bridge::config::{AppserviceSection, BridgeSection, BridgeSettings, HomeserverSection};

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
    pub command: Option<Command>,
}

/// What to run; `serve` when none is given.
#[derive(Debug, Clone, Subcommand, Default)]
pub enum Command {
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

    fn parse_from_command(
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
            .map_err(|e| ConfigError::from_clap(&e).unwrap_or_else(|| e.exit()))
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

/// One layer of configuration, section by section: what the file says, then what
/// flags and environment say laid over it. `None` means "not set at this layer".
///
/// serde refuses unknown keys so a typo in the file is an error naming it.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
struct Layer {
    #[command(flatten)]
    server: ServerSection,
    #[command(flatten)]
    database: DatabaseSection,
    #[command(flatten)]
    session: SessionSection,
    #[command(flatten)]
    limits: LimitsSection,
    #[command(flatten)]
    metrics: MetricsSection,
    #[command(flatten)]
    logging: LoggingSection,
    // The bridge's sections are read from the file only: tokens and templates are no
    // flags. Without `homeserver` the bridge is off.
    #[arg(skip)]
    homeserver: Option<HomeserverSection>,
    #[arg(skip)]
    appservice: AppserviceSection,
    #[arg(skip)]
    bridge: BridgeSection,
}

// In every section, a field's clap `id` is its file key: errors and help name the key
// through it (see `Key::of`), and a test checks that the file knows every such key.

/// `server:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Server")]
struct ServerSection {
    /// Address to listen on; port 0 picks a free port
    #[arg(
        id = "server.listen",
        long = "listen",
        env = "GADKA_LISTEN",
        value_name = "ADDR"
    )]
    listen: Option<SocketAddr>,
    /// Directory for the SQLite database and the generated session secret
    #[arg(
        id = "server.data_dir",
        long = "data-dir",
        env = "GADKA_DATA_DIR",
        value_name = "DIR"
    )]
    data_dir: Option<PathBuf>,
    /// Comma-separated origins trusted besides the server's own
    #[arg(
        id = "server.origins",
        long = "origins",
        env = "GADKA_ORIGINS",
        value_name = "ORIGINS"
    )]
    origins: Option<Origins>,
    /// Mark the session cookie `Secure` (serve over HTTPS)
    #[arg(
        id = "server.cookie_secure",
        long = "cookie-secure",
        env = "GADKA_COOKIE_SECURE",
        value_name = "BOOL",
        value_parser = BoolishValueParser::new()
    )]
    cookie_secure: Option<bool>,
}

/// `database:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Database")]
struct DatabaseSection {
    /// sqlite://… or postgres://…; default: gadka.db in the data dir
    #[arg(
        id = "database.url",
        long = "database-url",
        env = "GADKA_DATABASE_URL",
        value_name = "URL"
    )]
    url: Option<DatabaseUrl>,
    /// When a commit is on disk: `full` survives a power cut, `normal` only a crash of the process
    #[arg(
        id = "database.durability",
        long = "durability",
        env = "GADKA_DURABILITY",
        value_name = "LEVEL"
    )]
    durability: Option<Durability>,
}

/// `session:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Session")]
struct SessionSection {
    /// Session lifetime in seconds
    #[arg(
        id = "session.ttl_secs",
        long = "session-ttl-secs",
        env = "GADKA_SESSION_TTL_SECS",
        value_name = "SECS"
    )]
    ttl_secs: Option<NonZeroU64>,
    /// Session signing secret, at least 32 bytes; default: generated into the data dir
    #[arg(
        id = "session.secret",
        long = "session-secret",
        env = "GADKA_SESSION_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    secret: Option<Secret>,
}

/// `limits:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Limits")]
struct LimitsSection {
    /// Largest message body in bytes
    #[arg(
        id = "limits.max_message_bytes",
        long = "max-message-bytes",
        env = "GADKA_MAX_MESSAGE_BYTES",
        value_name = "BYTES"
    )]
    max_message_bytes: Option<NonZeroUsize>,
    /// Login attempts allowed per username per minute
    #[arg(
        id = "limits.login_attempts_per_minute",
        long = "login-attempts-per-minute",
        env = "GADKA_LOGIN_ATTEMPTS_PER_MINUTE",
        value_name = "N"
    )]
    login_attempts_per_minute: Option<NonZeroU32>,
    /// Login attempts allowed per client IP per minute
    #[arg(
        id = "limits.login_attempts_per_minute_per_ip",
        long = "login-attempts-per-minute-per-ip",
        env = "GADKA_LOGIN_ATTEMPTS_PER_MINUTE_PER_IP",
        value_name = "N"
    )]
    login_attempts_per_minute_per_ip: Option<NonZeroU32>,
    /// Frames a socket may have queued before it is closed as too slow
    #[arg(
        id = "limits.ws_queue_frames",
        long = "ws-queue-frames",
        env = "GADKA_WS_QUEUE_FRAMES",
        value_name = "N"
    )]
    ws_queue_frames: Option<NonZeroUsize>,
    /// The most commands the message writer commits in one transaction
    #[arg(
        id = "limits.writer_batch",
        long = "writer-batch",
        env = "GADKA_WRITER_BATCH",
        value_name = "N"
    )]
    writer_batch: Option<NonZeroUsize>,
    /// Commands waiting for the message writer before senders wait
    #[arg(
        id = "limits.writer_queue",
        long = "writer-queue",
        env = "GADKA_WRITER_QUEUE",
        value_name = "N"
    )]
    writer_queue: Option<NonZeroUsize>,
}

/// `metrics:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Metrics")]
struct MetricsSection {
    /// Serve /metrics on its own address instead of the main listener
    #[arg(
        id = "metrics.listen",
        long = "metrics-listen",
        env = "GADKA_METRICS_LISTEN",
        value_name = "ADDR"
    )]
    listen: Option<SocketAddr>,
}

/// `logging:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Logging")]
struct LoggingSection {
    /// Log filter, e.g. `info` or `gadka=debug`
    #[arg(
        id = "logging.filter",
        long = "log",
        env = "GADKA_LOG",
        value_name = "FILTER"
    )]
    filter: Option<String>,
}

/// The validated settings the application is built from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the HTTP and WebSocket listener binds; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Home of the SQLite database and the generated session secret.
    pub data_dir: PathBuf,
    /// `sqlite:…` or `postgres://…`.
    pub database_url: String,
    /// How far a commit must reach before it counts as done.
    pub durability: Durability,
    /// Origins trusted besides the server's own, normalised as `scheme://host[:port]`.
    pub origins: Vec<String>,
    /// Whether the session cookie is marked `Secure`.
    pub cookie_secure: bool,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// `None`: use (or create) the secret file in the data dir.
    pub session_secret: Option<Vec<u8>>,
    /// Sizes and rates that protect the server.
    pub limits: Limits,
    /// Where `/metrics` is served; `None`: on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// The `tracing` filter, e.g. `info` or `gadka=debug`.
    pub log_filter: String,
    /// The Matrix bridge; `None` (off) without a `homeserver` section.
    pub bridge: Option<BridgeSettings>,
}

/// Sizes and rates that protect the server; each is at least 1.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest message body, in bytes.
    pub max_message_bytes: usize,
    /// Login attempts allowed per username per minute.
    pub login_attempts_per_minute: u32,
    /// Login attempts allowed per client IP per minute.
    pub login_attempts_per_minute_per_ip: u32,
    /// Frames a socket may have waiting to be sent before it is closed as too slow.
    pub ws_queue_frames: usize,
    /// The most commands the message writer commits in one transaction.
    pub writer_batch: usize,
    /// Commands waiting for the writer before senders wait.
    pub writer_queue: usize,
}

impl Limits {
    /// The largest HTTP request body: room for a maximal message even if every
    /// character of it is JSON-escaped (`\u0000` is six bytes for one).
    pub fn max_request_bytes(&self) -> usize {
        (self.max_message_bytes * 6).max(64 * 1024) + 4 * 1024
    }
}

/// How far a commit must reach before the writer acknowledges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// SQLite `synchronous=FULL`: every commit is synced to disk, so an acknowledged
    /// message survives a power cut.
    #[default]
    Full,
    /// SQLite `synchronous=NORMAL`: an acknowledged message survives a crash of the
    /// process (kill -9), not a power cut.
    Normal,
}

impl Settings {
    /// Settings for a server in `data_dir` with every other value at its default.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut layer = Layer::default();
        layer.server.data_dir = Some(data_dir.into());
        Self::from_layer(layer)
    }

    /// Layers the file (if any), then the flags and environment, over the defaults.
    pub fn load(config: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut layer = match config {
            Some(path) => Layer::read(path)?,
            None => Layer::default(),
        };
        // Sets exactly the keys given as flags or variables; their values were parsed
        // when the command line was, so this only fails on a programming error.
        if let Some(matches) = &overrides.0 {
            layer
                .update_from_arg_matches(matches)
                .map_err(|e| ConfigError::Args(e.kind()))?;
        }
        let bridge = BridgeSettings::from_sections(
            layer.homeserver.take(),
            std::mem::take(&mut layer.appservice),
            std::mem::take(&mut layer.bridge),
        )?;
        Ok(Self {
            bridge,
            ..Self::from_layer(layer)
        })
    }

    /// Every value is valid by its type already; what is left is the defaults. The
    /// bridge's sections, which need checks across keys, are [`Settings::load`]'s.
    fn from_layer(layer: Layer) -> Self {
        let Layer {
            server,
            database,
            session,
            limits,
            metrics,
            logging,
            ..
        } = layer;
        let data_dir = server.data_dir.unwrap_or_else(|| "./gadka-data".into());
        Self {
            listen: server
                .listen
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            database_url: database.url.map_or_else(|| sqlite_url(&data_dir), |u| u.0),
            data_dir,
            durability: database.durability.unwrap_or_default(),
            origins: server.origins.map(|o| o.0).unwrap_or_default(),
            cookie_secure: server.cookie_secure.unwrap_or(false),
            session_ttl: Duration::from_secs(
                session.ttl_secs.map_or(30 * 24 * 3600, NonZeroU64::get),
            ),
            session_secret: session.secret.map(|s| s.0.into_bytes()),
            limits: Limits {
                max_message_bytes: limits
                    .max_message_bytes
                    .map_or(16 * 1024, NonZeroUsize::get),
                login_attempts_per_minute: limits
                    .login_attempts_per_minute
                    .map_or(10, NonZeroU32::get),
                login_attempts_per_minute_per_ip: limits
                    .login_attempts_per_minute_per_ip
                    .map_or(60, NonZeroU32::get),
                ws_queue_frames: limits.ws_queue_frames.map_or(256, NonZeroUsize::get),
                writer_batch: limits.writer_batch.map_or(256, NonZeroUsize::get),
                writer_queue: limits.writer_queue.map_or(4096, NonZeroUsize::get),
            },
            metrics_listen: metrics.listen,
            log_filter: logging.filter.unwrap_or_else(|| "info".into()),
            bridge: None,
        }
    }
}

impl Layer {
    fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        // An empty file is a valid "nothing set", though not a valid YAML document.
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml_ng::from_str(&text).map_err(|e| ConfigError::from_yaml(path, &e))
    }
}

/// The default database: `gadka.db` in the data dir, created if missing.
fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("gadka.db").display())
}

/// A `sqlite:` or `postgres://` URL.
#[derive(Debug, Clone)]
struct DatabaseUrl(String);

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://")
        {
            Ok(Self(url.to_owned()))
        } else {
            Err(format!(
                "{url:?} is neither a sqlite:// nor a postgres:// URL"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Parsed(PhantomData))
    }
}

/// A session signing secret of at least 32 bytes.
#[derive(Clone)]
struct Secret(String);

impl FromStr for Secret {
    type Err = String;
    fn from_str(secret: &str) -> Result<Self, String> {
        if secret.len() < 32 {
            Err("must be at least 32 bytes long".into())
        } else {
            Ok(Self(secret.to_owned()))
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Parsed(PhantomData))
    }
}

/// Never prints the secret itself.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Trusted origins, normalised: a list in the file, comma-separated as a flag or variable.
#[derive(Debug, Clone)]
struct Origins(Vec<String>);

impl FromStr for Origins {
    type Err = String;
    fn from_str(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .try_into()
    }
}

impl TryFrom<Vec<String>> for Origins {
    type Error = String;
    /// Blank entries are skipped, so a trailing comma or an empty variable means none.
    fn try_from(list: Vec<String>) -> Result<Self, String> {
        list.iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
            .map(parse_origin)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl<'de> Deserialize<'de> for Origins {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(OriginList)
    }
}

/// Parses a string while serde is still inside the value, so that serde_yaml_ng reports a bad one under the key's own
/// path; `#[serde(try_from)]` would check it later and report the section instead.
struct Parsed<T>(PhantomData<T>);

impl<'de, T: FromStr<Err = String>> Visitor<'de> for Parsed<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        value.parse().map_err(E::custom)
    }
}

/// Like [`Parsed`], for the file's list of origins.
struct OriginList;

impl<'de> Visitor<'de> for OriginList {
    type Value = Origins;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of origins")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Origins, A::Error> {
        let mut list = Vec::new();
        while let Some(origin) = seq.next_element::<String>()? {
            list.push(origin);
        }
        Origins::try_from(list).map_err(de::Error::custom)
    }
}

/// Normalises an origin to `scheme://host[:port]`, the form browsers send in `Origin`.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let uri: Uri = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not an origin like https://chat.example.org"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(format!(
            "{raw:?} is not an origin like https://chat.example.org"
        ));
    };
    if !matches!(scheme, "http" | "https")
        || !matches!(uri.path(), "" | "/")
        || uri.query().is_some()
    {
        return Err(format!(
            "{raw:?} is not an origin like https://chat.example.org (scheme and host only)"
        ));
    }
    Ok(format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// The names one setting goes by: file key, environment variable, flag.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    file: String,
    env: String,
    flag: String,
}

impl Key {
    /// The names of a configuration flag; `None` for others (`--config`, `--help`).
    fn of(arg: &clap::Arg) -> Option<Self> {
        let file = arg.get_id().as_str();
        if !file.contains('.') {
            return None;
        }
        Some(Self {
            file: file.to_owned(),
            env: arg.get_env()?.to_string_lossy().into_owned(),
            flag: format!("--{}", arg.get_long()?),
        })
    }

    /// The key whose file name is `file`, looked up among the flags.
    fn by_file_key(file: &str) -> Option<Self> {
        Cli::command()
            .get_arguments()
            .find(|arg| arg.get_id() == file)
            .and_then(Key::of)
    }

    fn error(self, why: String) -> ConfigError {
        ConfigError::Invalid {
            key: format!("{} ({} / {})", self.file, self.env, self.flag),
            why,
        }
    }
}

/// Why the configuration was refused; its `Display` is the one line printed at start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` could not be read.
    #[error("config: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not YAML, or has a key that does not exist.
    #[error("config: {path}: {message}")]
    File { path: PathBuf, message: String },
    /// A key has a value that does not parse, from whichever source.
    #[error("config: {key}: {why}")]
    Invalid { key: String, why: String },
    /// clap could not apply the flags; a bug, not an operator's mistake.
    #[error("config: cannot apply the flags: {0}")]
    Args(ErrorKind),
}

impl ConfigError {
    /// The one line for a flag or variable whose value did not parse. `None` for
    /// everything else clap reports (`--help`, an unknown flag), which clap prints.
    fn from_clap(err: &clap::Error) -> Option<Self> {
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

    /// A bad value in the file is reported like one from a flag, under all the key's
    /// names; anything else (bad YAML, an unknown key) as it is, with the file's path.
    fn from_yaml(path: &Path, err: &serde_yaml_ng::Error) -> Self {
        // serde_yaml_ng starts its message with the dotted path of the bad value
        // (`limits.max_message_bytes: invalid value: …`), or of the map holding an unknown key.
        let message = err.to_string();
        let key = message
            .split_once(": ")
            .and_then(|(at, _)| Key::by_file_key(at.split('[').next().unwrap_or(at)));
        match key {
            Some(key) => {
                let why = message[key.file.len()..]
                    .trim_start_matches(|c| c != ':')
                    .trim_start_matches(": ");
                key.error(format!("{why} in {}", path.display()))
            }
            None => ConfigError::File {
                path: path.to_owned(),
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line without any variable: the tests must not see the developer's
    /// `GADKA_*` environment.
    fn command() -> ClapCommand {
        Cli::command().mut_args(|arg| arg.env(None))
    }

    fn flags(args: &[&str]) -> Result<Overrides, ConfigError> {
        let args = std::iter::once("gadka").chain(args.iter().copied());
        Cli::parse_from_command(command(), args).map(|cli| cli.overrides)
    }

    fn settings(yaml: &str, args: &[&str]) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("gadka.yaml");
        std::fs::write(&path, yaml).expect("the file is written");
        Settings::load(Some(&path), &flags(args)?)
    }

    #[test]
    fn defaults_need_nothing() {
        let s = Settings::load(None, &Overrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./gadka-data"));
        assert!(s.database_url.starts_with("sqlite://./gadka-data/gadka.db"));
        assert_eq!(s.durability, Durability::Full);
        assert_eq!(s.limits.max_message_bytes, 16 * 1024);
        assert_eq!(s.limits.writer_batch, 256);
        assert_eq!(s.limits.writer_queue, 4096);
        assert_eq!(s.metrics_listen, None);
        assert!(s.origins.is_empty());
        assert_eq!(s.log_filter, "info");
    }

    #[test]
    fn with_data_dir_gives_the_defaults_but_the_dir() {
        let s = Settings::with_data_dir("/srv/gadka");
        let d = Settings::load(None, &Overrides::default()).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/srv/gadka"));
        assert_eq!(s.database_url, "sqlite:///srv/gadka/gadka.db?mode=rwc");
        assert_eq!(
            (s.listen, s.session_ttl, s.limits.writer_queue, s.durability),
            (d.listen, d.session_ttl, d.limits.writer_queue, d.durability)
        );
    }

    #[test]
    fn a_flag_beats_the_file_which_beats_the_default() {
        let s = settings(
            "server:\n  listen: 127.0.0.1:9000\n  data_dir: /srv/gadka\nlimits:\n  max_message_bytes: 100\n",
            &["--listen", "127.0.0.1:0"],
        )
        .unwrap();
        assert_eq!(s.listen.port(), 0, "the flag wins");
        assert_eq!(
            s.data_dir,
            PathBuf::from("/srv/gadka"),
            "the file beats the default"
        );
        assert!(
            s.database_url.contains("/srv/gadka/gadka.db"),
            "the default database follows the data dir"
        );
        assert_eq!(s.limits.max_message_bytes, 100);
    }

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
    fn the_new_keys_are_read_from_file_and_flags() {
        let s = settings(
            "database:\n  durability: normal\nmetrics:\n  listen: 127.0.0.1:9100\nlimits:\n  writer_batch: 8\n  writer_queue: 16\n",
            &[],
        )
        .unwrap();
        assert_eq!(s.durability, Durability::Normal);
        assert_eq!(s.metrics_listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!((s.limits.writer_batch, s.limits.writer_queue), (8, 16));

        let s = settings(
            "database:\n  durability: normal\n",
            &[
                "--durability",
                "full",
                "--metrics-listen",
                "[::1]:9100",
                "--writer-batch",
                "1",
                "--writer-queue",
                "2",
            ],
        )
        .unwrap();
        assert_eq!(s.durability, Durability::Full);
        assert_eq!(s.metrics_listen, Some("[::1]:9100".parse().unwrap()));
        assert_eq!((s.limits.writer_batch, s.limits.writer_queue), (1, 2));
    }

    /// The error is one line and names the key in all its spellings.
    fn assert_names(err: ConfigError, file: &str, env: &str, flag: &str) {
        let err = err.to_string();
        assert!(
            err.contains(file) && err.contains(env) && err.contains(flag),
            "{file}, {env}, {flag} named in: {err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
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
    fn a_bad_file_value_names_its_key() {
        for (yaml, file, env, flag) in [
            (
                "server:\n  listen: nowhere\n",
                "server.listen",
                "GADKA_LISTEN",
                "--listen",
            ),
            (
                "limits:\n  max_message_bytes: lots\n",
                "limits.max_message_bytes",
                "GADKA_MAX_MESSAGE_BYTES",
                "--max-message-bytes",
            ),
            (
                "limits:\n  writer_batch: 0\n",
                "limits.writer_batch",
                "GADKA_WRITER_BATCH",
                "--writer-batch",
            ),
            (
                "limits:\n  writer_queue: -1\n",
                "limits.writer_queue",
                "GADKA_WRITER_QUEUE",
                "--writer-queue",
            ),
            (
                "database:\n  durability: fast\n",
                "database.durability",
                "GADKA_DURABILITY",
                "--durability",
            ),
            (
                "limits:\n  ws_queue_frames: 0\n",
                "limits.ws_queue_frames",
                "GADKA_WS_QUEUE_FRAMES",
                "--ws-queue-frames",
            ),
            (
                "session:\n  ttl_secs: -1\n",
                "session.ttl_secs",
                "GADKA_SESSION_TTL_SECS",
                "--session-ttl-secs",
            ),
            (
                "session:\n  secret: short\n",
                "session.secret",
                "GADKA_SESSION_SECRET",
                "--session-secret",
            ),
            (
                "server:\n  origins: [example.org]\n",
                "server.origins",
                "GADKA_ORIGINS",
                "--origins",
            ),
            (
                "server:\n  origins: [1, [2]]\n",
                "server.origins",
                "GADKA_ORIGINS",
                "--origins",
            ),
        ] {
            let err = settings(yaml, &[]).unwrap_err();
            assert!(
                err.to_string().contains("gadka.yaml"),
                "the file is named: {err}"
            );
            assert_names(err, file, env, flag);
        }
    }

    #[test]
    fn an_unknown_file_key_is_refused_with_its_name() {
        for (yaml, typo) in [
            ("server:\n  lisen: 1\n", "lisen"),
            ("limits:\n  max_message_byte: 1\n", "max_message_byte"),
            ("limit:\n  max_message_bytes: 1\n", "limit"),
            ("limits:\n  writer_batches: 1\n", "writer_batches"),
            ("metric:\n  listen: 127.0.0.1:9100\n", "metric"),
        ] {
            let err = settings(yaml, &[]).unwrap_err().to_string();
            assert!(err.contains(typo) && !err.contains('\n'), "{err}");
        }
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
    fn origins_are_normalised_and_checked() {
        let s = settings(
            "",
            &[
                "--origins",
                "https://Chat.Example.org/, http://localhost:3000,",
            ],
        )
        .unwrap();
        assert_eq!(
            s.origins,
            ["https://chat.example.org", "http://localhost:3000"]
        );
        let s = settings("server:\n  origins: [' HTTPS://a.example ']\n", &[]).unwrap();
        assert_eq!(s.origins, ["https://a.example"]);
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

    #[test]
    fn the_secret_is_not_printed() {
        let secret = "s".repeat(40);
        let overrides = flags(&["--session-secret", &secret]).unwrap();
        let layer =
            serde_yaml_ng::from_str::<Layer>(&format!("session:\n  secret: {secret}\n")).unwrap();
        for shown in [format!("{overrides:?}"), format!("{layer:?}")] {
            assert!(!shown.contains(&secret), "{shown}");
        }
        let s = Settings::load(None, &overrides).unwrap();
        assert_eq!(s.session_secret.as_deref(), Some(secret.as_bytes()));
    }
}
