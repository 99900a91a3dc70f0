//! Configuration: defaults < YAML file < `GADKA_*` environment < command-line flags.
//!
//! Every key is declared once, as a typed field of a section struct
//! (`sections.rs`). serde reads that struct from the file and clap reads the same
//! struct from flags and environment (`cli.rs`), so each value is parsed into its type
//! (`values.rs`) exactly once, wherever it comes from. The clap id of each field is
//! its file key (`server.listen`), which is how a bad value from any source is
//! reported in one line naming the key in all its spellings (`error.rs`).
//! [`Settings::load`] lays the flags over the file with clap's own update, then turns
//! the result into [`Settings`], where the defaults live. The bridge's sections
//! (`bridge.rs`) are read from the file only, and checked across keys into
//! [`BridgeSettings`].
//!
//! Adding a key: a field in its section (doc comment, `#[arg]` with id, flag and
//! variable), a field in [`Settings`] or [`Limits`] and its line with the default in
//! `Settings::from_layer`; and a row in the README's table.

mod bridge;
mod cli;
mod error;
mod sections;
mod values;

use std::{
    net::SocketAddr,
    num::{NonZeroU32, NonZeroU64, NonZeroUsize},
    path::{Path, PathBuf},
    time::Duration,
};

pub use bridge::{BridgeSettings, Permission, Template, Tokens};
pub use cli::{AdminCommand, Cli, Overrides, Subcommand, UserCommand};
pub use error::ConfigError;
use sections::Layer;
pub use values::IpNet;
pub use values::{Durability, MetricsAt};

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
    /// Whether `serve` applies pending migrations; without, it refuses to start on a
    /// schema older than itself (`gadka migrate` applies them).
    pub migrate_on_start: bool,
    /// Origins trusted besides the server's own, normalised as `scheme://host[:port]`.
    pub origins: Vec<String>,
    /// The origin browsers reach the server at (`scheme://host[:port]`): when set, the
    /// origin check trusts it instead of the request's `Host` (which DNS rebinding
    /// controls), and an `https` one marks the cookie `Secure`.
    pub public_url: Option<String>,
    /// Whether the session cookie is marked `Secure`.
    pub cookie_secure: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// `None`: use (or create) the secret file in the data dir.
    pub session_secret: Option<Vec<u8>>,
    /// Sizes and rates that protect the server.
    pub limits: Limits,
    /// Where uploaded files live.
    pub media_path: PathBuf,
    /// How long an upload that no message carries is kept.
    pub media_unattached_ttl: Duration,
    /// The NATS server of a cluster of nodes; `None`: this node is alone.
    pub nats_url: Option<String>,
    /// Where `/metrics` is served.
    pub metrics: MetricsAt,
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
    /// Login attempts allowed per username from one client address per minute.
    pub login_attempts_per_minute: u32,
    /// Login attempts allowed per client IP per minute.
    pub login_attempts_per_minute_per_ip: u32,
    /// Accounts made per client address per hour.
    pub registrations_per_hour_per_ip: u32,
    /// Messages one user may send per minute, all at once or spread out.
    pub sends_per_minute: u32,
    /// New conversations one user may start per hour, all at once or spread out.
    pub conversations_per_hour: u32,
    /// Bytes of message bodies one user may have stored.
    pub storage_quota_bytes: u64,
    /// The largest upload, in bytes.
    pub max_upload_bytes: u64,
    /// Uploads one user may make per minute, all at once or spread out.
    pub uploads_per_minute: u32,
    /// Frames a socket may have waiting to be sent before it is closed as too slow.
    pub ws_queue_frames: usize,
    /// The most commands the message writer commits in one transaction.
    pub writer_batch: usize,
    /// Commands waiting for the writer before senders wait.
    pub writer_queue: usize,
    /// How long a request's head may take, and a kept-alive connection may idle.
    pub header_timeout: Duration,
    /// How long a request's body may take.
    pub body_timeout: Duration,
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one client address.
    pub max_connections_per_ip: usize,
    /// Silence on a socket before the server pings it; as long again without an
    /// answer closes it.
    pub ws_ping: Duration,
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
        overrides.lay_over(&mut layer)?;
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
            media,
            cluster,
            metrics,
            logging,
            ..
        } = layer;
        let data_dir = server.data_dir.unwrap_or_else(|| "./gadka-data".into());
        let media_path = media.path.unwrap_or_else(|| data_dir.join("media"));
        Self {
            listen: server
                .listen
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            database_url: database.url.map_or_else(|| sqlite_url(&data_dir), |u| u.0),
            data_dir,
            durability: database.durability.unwrap_or_default(),
            migrate_on_start: database.migrate_on_start.unwrap_or(true),
            origins: server.origins.map(|o| o.0).unwrap_or_default(),
            cookie_secure: server.cookie_secure.unwrap_or(false),
            public_url: server.public_url.map(|u| u.0),
            trusted_proxies: server.trusted_proxies.map(|p| p.0).unwrap_or_default(),
            session_ttl: Duration::from_secs(
                session.ttl_secs.map_or(30 * 24 * 3600, NonZeroU64::get),
            ),
            session_secret: session.secret.map(|s| s.0.into_bytes()),
            media_path,
            media_unattached_ttl: secs(media.unattached_ttl_secs, 24 * 3600),
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
                registrations_per_hour_per_ip: limits
                    .registrations_per_hour_per_ip
                    .map_or(20, NonZeroU32::get),
                // A person types far below 300 a minute; the burst lets a client that
                // was offline send its whole outbox on reconnect.
                sends_per_minute: limits.sends_per_minute.map_or(300, NonZeroU32::get),
                conversations_per_hour: limits.conversations_per_hour.map_or(60, NonZeroU32::get),
                // Years of a heavy talker's text; hours of a flood at the send limit.
                storage_quota_bytes: limits.storage_quota_bytes.map_or(1 << 30, NonZeroU64::get),
                max_upload_bytes: limits.max_upload_bytes.map_or(50 << 20, NonZeroU64::get),
                // An album pasted at once goes through; a script does not.
                uploads_per_minute: limits.uploads_per_minute.map_or(60, NonZeroU32::get),
                // Above the send burst (300): each send is copied at once to the
                // sender's other sockets, so a smaller queue let one device's burst close
                // the same person's other device as too slow. Slots are allocated as used.
                ws_queue_frames: limits.ws_queue_frames.map_or(1024, NonZeroUsize::get),
                writer_batch: limits.writer_batch.map_or(256, NonZeroUsize::get),
                writer_queue: limits.writer_queue.map_or(4096, NonZeroUsize::get),
                header_timeout: secs(limits.header_timeout_secs, 10),
                body_timeout: secs(limits.body_timeout_secs, 30),
                max_connections: limits.max_connections.map_or(10_000, NonZeroUsize::get),
                // A browser tab holds a socket and up to six HTTP connections; an
                // office or a carrier's NAT puts many people behind one address.
                max_connections_per_ip: limits
                    .max_connections_per_ip
                    .map_or(256, NonZeroUsize::get),
                ws_ping: secs(limits.ws_ping_secs, 30),
            },
            nats_url: cluster.nats_url,
            metrics: metrics.listen.unwrap_or(MetricsAt::DEFAULT),
            log_filter: logging.filter.unwrap_or_else(|| "info".into()),
            bridge: None,
        }
    }
}

fn secs(value: Option<NonZeroU64>, default: u64) -> Duration {
    Duration::from_secs(value.map_or(default, NonZeroU64::get))
}

/// The default database: `gadka.db` in the data dir, created if missing.
fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("gadka.db").display())
}

#[cfg(test)]
mod tests {
    use clap::{Command as ClapCommand, CommandFactory};

    use super::*;

    /// The command line without any variable: the tests must not see the developer's
    /// `GADKA_*` environment.
    pub(super) fn command() -> ClapCommand {
        Cli::command().mut_args(|arg| arg.env(None))
    }

    pub(super) fn flags(args: &[&str]) -> Result<Overrides, ConfigError> {
        let args = std::iter::once("gadka").chain(args.iter().copied());
        Cli::parse_from_command(command(), args).map(|cli| cli.overrides)
    }

    pub(super) fn settings(yaml: &str, args: &[&str]) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("gadka.yaml");
        std::fs::write(&path, yaml).expect("the file is written");
        Settings::load(Some(&path), &flags(args)?)
    }

    /// The error is one line and names the key in all its spellings.
    pub(super) fn assert_names(err: ConfigError, file: &str, env: &str, flag: &str) {
        let err = err.to_string();
        assert!(
            err.contains(file) && err.contains(env) && err.contains(flag),
            "{file}, {env}, {flag} named in: {err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
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
        assert_eq!(s.metrics, MetricsAt::DEFAULT);
        assert_eq!(s.public_url, None);
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
    fn the_new_keys_are_read_from_file_and_flags() {
        let s = settings(
            "database:\n  durability: normal\nmetrics:\n  listen: 127.0.0.1:9100\nlimits:\n  writer_batch: 8\n  writer_queue: 16\n",
            &[],
        )
        .unwrap();
        assert_eq!(s.durability, Durability::Normal);
        assert_eq!(
            s.metrics,
            MetricsAt::Address("127.0.0.1:9100".parse().unwrap())
        );
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
        assert_eq!(s.metrics, MetricsAt::Address("[::1]:9100".parse().unwrap()));
        assert_eq!((s.limits.writer_batch, s.limits.writer_queue), (1, 2));
        let at = |value: &str| settings("", &["--metrics-listen", value]).unwrap().metrics;
        assert_eq!((at("main"), at("off")), (MetricsAt::Main, MetricsAt::Off));
        let s = settings("server:\n  public_url: HTTPS://Chat.Example.org/\n", &[]).unwrap();
        assert_eq!(s.public_url.as_deref(), Some("https://chat.example.org"));
    }
}
