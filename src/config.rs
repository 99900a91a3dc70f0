//! Configuration: defaults < YAML file < `GADKA_*` environment < command-line flags.
//!
//! Flags and environment variables are read by clap as raw strings and the file by
//! serde, then everything is validated once, here, into [`Settings`]. A bad value
//! stops the start with one line that names the key in all its spellings, so the
//! operator finds it wherever they set it.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use axum::http::Uri;
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

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
#[derive(Debug, Clone, Copy, Subcommand, Default)]
pub enum Command {
    /// Run the chat server (the default).
    #[default]
    Serve,
}

/// Settings that flags and `GADKA_*` variables override; each mirrors a key of the file.
#[derive(Debug, Default, Args)]
pub struct Overrides {
    /// Address to listen on; port 0 picks a free port [file: server.listen]
    #[arg(long, env = "GADKA_LISTEN", value_name = "ADDR", global = true)]
    pub listen: Option<String>,
    /// Directory for the SQLite database and the generated session secret [file: server.data_dir]
    #[arg(long, env = "GADKA_DATA_DIR", value_name = "DIR", global = true)]
    pub data_dir: Option<String>,
    /// sqlite://… or postgres://…; default: gadka.db in the data dir [file: database.url]
    #[arg(long, env = "GADKA_DATABASE_URL", value_name = "URL", global = true)]
    pub database_url: Option<String>,
    /// Comma-separated origins trusted besides the server's own [file: server.origins]
    #[arg(long, env = "GADKA_ORIGINS", value_name = "ORIGINS", global = true)]
    pub origins: Option<String>,
    /// Mark the session cookie `Secure` (serve over HTTPS) [file: server.cookie_secure]
    #[arg(long, env = "GADKA_COOKIE_SECURE", value_name = "BOOL", global = true)]
    pub cookie_secure: Option<String>,
    /// Session lifetime in seconds [file: session.ttl_secs]
    #[arg(
        long,
        env = "GADKA_SESSION_TTL_SECS",
        value_name = "SECS",
        global = true
    )]
    pub session_ttl_secs: Option<String>,
    /// Session signing secret, at least 32 bytes; default: generated into the data dir [file: session.secret]
    #[arg(
        long,
        env = "GADKA_SESSION_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        global = true
    )]
    pub session_secret: Option<String>,
    /// Largest message body in bytes [file: limits.max_message_bytes]
    #[arg(
        long,
        env = "GADKA_MAX_MESSAGE_BYTES",
        value_name = "BYTES",
        global = true
    )]
    pub max_message_bytes: Option<String>,
    /// Login attempts allowed per username per minute [file: limits.login_attempts_per_minute]
    #[arg(
        long,
        env = "GADKA_LOGIN_ATTEMPTS_PER_MINUTE",
        value_name = "N",
        global = true
    )]
    pub login_attempts_per_minute: Option<String>,
    /// Login attempts allowed per client IP per minute [file: limits.login_attempts_per_minute_per_ip]
    #[arg(
        long,
        env = "GADKA_LOGIN_ATTEMPTS_PER_MINUTE_PER_IP",
        value_name = "N",
        global = true
    )]
    pub login_attempts_per_minute_per_ip: Option<String>,
    /// Frames a socket may have queued before it is closed as too slow [file: limits.ws_queue_frames]
    #[arg(long, env = "GADKA_WS_QUEUE_FRAMES", value_name = "N", global = true)]
    pub ws_queue_frames: Option<String>,
    /// Log filter, e.g. `info` or `gadka=debug` [file: logging.filter]
    #[arg(long, env = "GADKA_LOG", value_name = "FILTER", global = true)]
    pub log: Option<String>,
}

/// The validated settings the application is built from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Origins trusted besides the server's own, normalised as `scheme://host[:port]`.
    pub origins: Vec<String>,
    pub cookie_secure: bool,
    pub session_ttl: Duration,
    /// `None`: use (or create) the secret file in the data dir.
    pub session_secret: Option<Vec<u8>>,
    pub limits: Limits,
    pub log_filter: String,
    pub durability: Durability,
    /// Serve `/metrics` on its own address instead of the main listener.
    pub metrics_listen: Option<SocketAddr>,
}

/// Sizes and rates that protect the server.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub login_attempts_per_minute: u32,
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

impl Settings {
    /// Settings for a server in `data_dir` with every other value at its default.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: sqlite_url(&data_dir),
            data_dir,
            origins: Vec::new(),
            cookie_secure: false,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            session_secret: None,
            limits: Limits {
                max_message_bytes: 16 * 1024,
                login_attempts_per_minute: 10,
                login_attempts_per_minute_per_ip: 60,
                ws_queue_frames: 256,
                writer_batch: 256,
                writer_queue: 4096,
            },
            log_filter: "info".into(),
            durability: Durability::Full,
            metrics_listen: None,
        }
    }

    /// Layers the file (if any), then the flags and environment, over the defaults.
    pub fn load(config: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file = match config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        Self::layer(file, overrides)
    }

    fn layer(file: FileConfig, o: &Overrides) -> Result<Self, ConfigError> {
        let data_dir = pick(&o.data_dir, file.server.data_dir, Key::DATA_DIR, |s| {
            Ok(PathBuf::from(s))
        })?
        .unwrap_or_else(|| PathBuf::from("./gadka-data"));
        let mut s = Self::with_data_dir(data_dir);

        if let Some(listen) = pick(&o.listen, file.server.listen, Key::LISTEN, parse_addr)? {
            s.listen = listen;
        }
        if let Some(url) = pick(&o.database_url, file.database.url, Key::DATABASE_URL, |u| {
            parse_database_url(&u)
        })? {
            s.database_url = url;
        }
        let origins = match (&o.origins, file.server.origins) {
            (Some(raw), _) => raw.split(',').map(str::to_owned).collect(),
            (None, Some(list)) => list,
            (None, None) => Vec::new(),
        };
        s.origins = origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
            .map(|o| parse_origin(o).map_err(|why| Key::ORIGINS.error(why)))
            .collect::<Result<_, _>>()?;
        if let Some(secure) = pick(
            &o.cookie_secure,
            file.server.cookie_secure,
            Key::COOKIE_SECURE,
            parse_bool,
        )? {
            s.cookie_secure = secure;
        }
        if let Some(ttl) = pick(
            &o.session_ttl_secs,
            file.session.ttl_secs,
            Key::SESSION_TTL,
            parse_positive::<u64>,
        )? {
            s.session_ttl = Duration::from_secs(ttl);
        }
        s.session_secret = pick(
            &o.session_secret,
            file.session.secret.map(String::into_bytes),
            Key::SESSION_SECRET,
            |v| {
                if v.len() < 32 {
                    Err("must be at least 32 bytes long".into())
                } else {
                    Ok(v.into_bytes())
                }
            },
        )?;
        if let Some(n) = pick(
            &o.max_message_bytes,
            file.limits.max_message_bytes,
            Key::MAX_MESSAGE_BYTES,
            parse_positive::<usize>,
        )? {
            s.limits.max_message_bytes = n;
        }
        if let Some(n) = pick(
            &o.login_attempts_per_minute,
            file.limits.login_attempts_per_minute,
            Key::LOGIN_PER_USER,
            parse_positive::<u32>,
        )? {
            s.limits.login_attempts_per_minute = n;
        }
        if let Some(n) = pick(
            &o.login_attempts_per_minute_per_ip,
            file.limits.login_attempts_per_minute_per_ip,
            Key::LOGIN_PER_IP,
            parse_positive::<u32>,
        )? {
            s.limits.login_attempts_per_minute_per_ip = n;
        }
        if let Some(n) = pick(
            &o.ws_queue_frames,
            file.limits.ws_queue_frames,
            Key::WS_QUEUE,
            parse_positive::<usize>,
        )? {
            s.limits.ws_queue_frames = n;
        }
        if let Some(filter) = pick(&o.log, file.logging.filter, Key::LOG, Ok)? {
            s.log_filter = filter;
        }
        Ok(s)
    }
}

/// The default database: `gadka.db` in the data dir, created if missing.
fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("gadka.db").display())
}

/// A flag or environment value (a string to parse) wins over the file's value
/// (already typed by serde); a bad string is reported under the key's names.
fn pick<T, F>(
    raw: &Option<String>,
    file: Option<T>,
    key: Key,
    parse: F,
) -> Result<Option<T>, ConfigError>
where
    F: FnOnce(String) -> Result<T, String>,
{
    match raw {
        Some(raw) => parse(raw.trim().to_owned())
            .map(Some)
            .map_err(|why| key.error(why)),
        None => Ok(file),
    }
}

fn parse_addr(s: String) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an address like 127.0.0.1:8080"))
}

fn parse_bool(s: String) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{s:?} is not true or false")),
    }
}

fn parse_positive<T: std::str::FromStr + Default + PartialEq>(s: String) -> Result<T, String> {
    match s.parse::<T>() {
        Ok(n) if n != T::default() => Ok(n),
        _ => Err(format!("{s:?} is not a positive whole number")),
    }
}

fn parse_database_url(url: &str) -> Result<String, String> {
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(url.to_owned())
    } else {
        Err(format!(
            "{url:?} is neither a sqlite:// nor a postgres:// URL"
        ))
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
#[derive(Debug, Clone, Copy)]
struct Key {
    file: &'static str,
    env: &'static str,
    flag: &'static str,
}

impl Key {
    const LISTEN: Key = Key::new("server.listen", "GADKA_LISTEN", "--listen");
    const DATA_DIR: Key = Key::new("server.data_dir", "GADKA_DATA_DIR", "--data-dir");
    const DATABASE_URL: Key = Key::new("database.url", "GADKA_DATABASE_URL", "--database-url");
    const ORIGINS: Key = Key::new("server.origins", "GADKA_ORIGINS", "--origins");
    const COOKIE_SECURE: Key = Key::new(
        "server.cookie_secure",
        "GADKA_COOKIE_SECURE",
        "--cookie-secure",
    );
    const SESSION_TTL: Key = Key::new(
        "session.ttl_secs",
        "GADKA_SESSION_TTL_SECS",
        "--session-ttl-secs",
    );
    const SESSION_SECRET: Key =
        Key::new("session.secret", "GADKA_SESSION_SECRET", "--session-secret");
    const MAX_MESSAGE_BYTES: Key = Key::new(
        "limits.max_message_bytes",
        "GADKA_MAX_MESSAGE_BYTES",
        "--max-message-bytes",
    );
    const LOGIN_PER_USER: Key = Key::new(
        "limits.login_attempts_per_minute",
        "GADKA_LOGIN_ATTEMPTS_PER_MINUTE",
        "--login-attempts-per-minute",
    );
    const LOGIN_PER_IP: Key = Key::new(
        "limits.login_attempts_per_minute_per_ip",
        "GADKA_LOGIN_ATTEMPTS_PER_MINUTE_PER_IP",
        "--login-attempts-per-minute-per-ip",
    );
    const WS_QUEUE: Key = Key::new(
        "limits.ws_queue_frames",
        "GADKA_WS_QUEUE_FRAMES",
        "--ws-queue-frames",
    );
    const LOG: Key = Key::new("logging.filter", "GADKA_LOG", "--log");

    const fn new(file: &'static str, env: &'static str, flag: &'static str) -> Self {
        Self { file, env, flag }
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
    #[error("config: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config: {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("config: {key}: {why}")]
    Invalid { key: String, why: String },
}

/// The YAML file, section by section; unknown keys are errors so typos do not pass silently.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    server: ServerSection,
    database: DatabaseSection,
    session: SessionSection,
    limits: LimitsSection,
    logging: LoggingSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ServerSection {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    origins: Option<Vec<String>>,
    cookie_secure: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DatabaseSection {
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SessionSection {
    ttl_secs: Option<u64>,
    secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LimitsSection {
    max_message_bytes: Option<usize>,
    login_attempts_per_minute: Option<u32>,
    login_attempts_per_minute_per_ip: Option<u32>,
    ws_queue_frames: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LoggingSection {
    filter: Option<String>,
}

impl FileConfig {
    fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let file: Self = serde_yaml_ng::from_str(&text).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        // The file's typed values still need the checks that flags and env get.
        if let Some(url) = &file.database.url {
            parse_database_url(url).map_err(|why| Key::DATABASE_URL.error(why))?;
        }
        if let Some(secret) = &file.session.secret
            && secret.len() < 32
        {
            return Err(Key::SESSION_SECRET.error("must be at least 32 bytes long".into()));
        }
        for (value, key) in [
            (file.session.ttl_secs, Key::SESSION_TTL),
            (
                file.limits.max_message_bytes.map(|n| n as u64),
                Key::MAX_MESSAGE_BYTES,
            ),
            (
                file.limits.login_attempts_per_minute.map(u64::from),
                Key::LOGIN_PER_USER,
            ),
            (
                file.limits.login_attempts_per_minute_per_ip.map(u64::from),
                Key::LOGIN_PER_IP,
            ),
            (file.limits.ws_queue_frames.map(|n| n as u64), Key::WS_QUEUE),
        ] {
            if value == Some(0) {
                return Err(key.error("must be a positive whole number".into()));
            }
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(yaml: &str) -> FileConfig {
        serde_yaml_ng::from_str(yaml).expect("test yaml parses")
    }

    #[test]
    fn defaults_need_nothing() {
        let s = Settings::layer(FileConfig::default(), &Overrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./gadka-data"));
        assert!(s.database_url.starts_with("sqlite://./gadka-data/gadka.db"));
        assert_eq!(s.limits.max_message_bytes, 16 * 1024);
        assert!(s.origins.is_empty());
    }

    #[test]
    fn flag_or_env_beats_file_beats_default() {
        let f = file(
            "server:\n  listen: 127.0.0.1:9000\n  data_dir: /srv/gadka\nlimits:\n  max_message_bytes: 100\n",
        );
        let o = Overrides {
            listen: Some("127.0.0.1:0".into()),
            ..Overrides::default()
        };
        let s = Settings::layer(f, &o).unwrap();
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
    fn a_bad_value_names_its_key() {
        let o = Overrides {
            listen: Some("not-an-address".into()),
            ..Overrides::default()
        };
        let err = Settings::layer(FileConfig::default(), &o)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server.listen") && err.contains("GADKA_LISTEN"),
            "{err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn an_unknown_or_mistyped_file_key_is_refused_with_its_name() {
        let err = serde_yaml_ng::from_str::<FileConfig>("server:\n  lisen: 1\n").unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        let err = serde_yaml_ng::from_str::<FileConfig>("limits:\n  max_message_bytes: lots\n")
            .unwrap_err();
        assert!(err.to_string().contains("max_message_bytes"), "{err}");
    }

    #[test]
    fn origins_are_normalised_and_checked() {
        let o = Overrides {
            origins: Some("https://Chat.Example.org/, http://localhost:3000".into()),
            ..Overrides::default()
        };
        let s = Settings::layer(FileConfig::default(), &o).unwrap();
        assert_eq!(
            s.origins,
            ["https://chat.example.org", "http://localhost:3000"]
        );
        let o = Overrides {
            origins: Some("chat.example.org".into()),
            ..Overrides::default()
        };
        assert!(Settings::layer(FileConfig::default(), &o).is_err());
    }
}

/// How hard a commit is pushed to disk before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous=FULL`: an acknowledged message survives a power cut.
    #[default]
    Full,
    /// Survives a crash of the process (kill -9), not a power cut.
    Normal,
}
