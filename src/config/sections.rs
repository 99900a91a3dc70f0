//! The configuration file's sections, each a struct that serde reads from the file
//! and clap reads from flags and `GADKA_*` variables: a key is declared here once, as
//! a typed field, and every source parses it into that type.
//!
//! In every section, a field's clap `id` is its file key (`server.listen`): errors and
//! help name the key through it (see [`Key::of`](super::error::Key::of)), and a test
//! checks that the file knows every such key. `None` means "not set at this layer";
//! the defaults are [`Settings`](super::Settings)'s.

use std::{
    net::SocketAddr,
    num::{NonZeroU32, NonZeroU64, NonZeroUsize},
    path::{Path, PathBuf},
};

use clap::{Args, builder::BoolishValueParser};
use serde::Deserialize;

use super::{
    bridge::{AppserviceSection, BridgeSection, HomeserverSection},
    error::{ConfigError, Key},
    values::{DatabaseUrl, Durability, MetricsAt, Origins, PublicUrl, Secret, TrustedProxies},
};

/// One layer of configuration, section by section: what the file says, then what
/// flags and environment say laid over it. `None` means "not set at this layer".
///
/// serde refuses unknown keys so a typo in the file is an error naming it.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
pub(super) struct Layer {
    #[command(flatten)]
    pub(super) server: ServerSection,
    #[command(flatten)]
    pub(super) database: DatabaseSection,
    #[command(flatten)]
    pub(super) session: SessionSection,
    #[command(flatten)]
    pub(super) limits: LimitsSection,
    #[command(flatten)]
    pub(super) media: MediaSection,
    #[command(flatten)]
    pub(super) cluster: ClusterSection,
    #[command(flatten)]
    pub(super) metrics: MetricsSection,
    #[command(flatten)]
    pub(super) logging: LoggingSection,
    // The bridge's sections are read from the file only: tokens and templates are no
    // flags. Without `homeserver` the bridge is off.
    #[arg(skip)]
    pub(super) homeserver: Option<HomeserverSection>,
    #[arg(skip)]
    pub(super) appservice: AppserviceSection,
    #[arg(skip)]
    pub(super) bridge: BridgeSection,
}

/// `server:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Server")]
pub(super) struct ServerSection {
    /// Address to listen on; port 0 picks a free port
    #[arg(
        id = "server.listen",
        long = "listen",
        env = "GADKA_LISTEN",
        value_name = "ADDR"
    )]
    pub(super) listen: Option<SocketAddr>,
    /// Directory for the SQLite database and the generated session secret
    #[arg(
        id = "server.data_dir",
        long = "data-dir",
        env = "GADKA_DATA_DIR",
        value_name = "DIR"
    )]
    pub(super) data_dir: Option<PathBuf>,
    /// Comma-separated origins trusted besides the server's own
    #[arg(
        id = "server.origins",
        long = "origins",
        env = "GADKA_ORIGINS",
        value_name = "ORIGINS"
    )]
    pub(super) origins: Option<Origins>,
    /// The URL browsers reach the server at, e.g. https://chat.example.org
    #[arg(
        id = "server.public_url",
        long = "public-url",
        env = "GADKA_PUBLIC_URL",
        value_name = "URL"
    )]
    pub(super) public_url: Option<PublicUrl>,
    /// Mark the session cookie `Secure` (serve over HTTPS)
    #[arg(
        id = "server.cookie_secure",
        long = "cookie-secure",
        env = "GADKA_COOKIE_SECURE",
        value_name = "BOOL",
        value_parser = BoolishValueParser::new()
    )]
    pub(super) cookie_secure: Option<bool>,
    /// Comma-separated addresses or CIDRs of proxies whose X-Forwarded-For is believed
    #[arg(
        id = "server.trusted_proxies",
        long = "trusted-proxies",
        env = "GADKA_TRUSTED_PROXIES",
        value_name = "CIDRS"
    )]
    pub(super) trusted_proxies: Option<TrustedProxies>,
}

/// `database:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Database")]
pub(super) struct DatabaseSection {
    /// sqlite://… or postgres://…; default: gadka.db in the data dir
    #[arg(
        id = "database.url",
        long = "database-url",
        env = "GADKA_DATABASE_URL",
        value_name = "URL"
    )]
    pub(super) url: Option<DatabaseUrl>,
    /// When a commit is on disk: `full` survives a power cut, `normal` only a crash of the process
    #[arg(
        id = "database.durability",
        long = "durability",
        env = "GADKA_DURABILITY",
        value_name = "LEVEL"
    )]
    pub(super) durability: Option<Durability>,
    /// Bring the schema up to date at start (false: `gadka migrate` does it, once, before nodes roll)
    #[arg(
        id = "database.migrate_on_start",
        long = "migrate-on-start",
        env = "GADKA_MIGRATE_ON_START",
        value_name = "BOOL",
        value_parser = BoolishValueParser::new()
    )]
    pub(super) migrate_on_start: Option<bool>,
}

/// `session:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Session")]
pub(super) struct SessionSection {
    /// Session lifetime in seconds
    #[arg(
        id = "session.ttl_secs",
        long = "session-ttl-secs",
        env = "GADKA_SESSION_TTL_SECS",
        value_name = "SECS"
    )]
    pub(super) ttl_secs: Option<NonZeroU64>,
    /// Session signing secret, at least 32 bytes; default: generated into the data dir
    #[arg(
        id = "session.secret",
        long = "session-secret",
        env = "GADKA_SESSION_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub(super) secret: Option<Secret>,
}

/// `limits:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Limits")]
pub(super) struct LimitsSection {
    /// Largest message body in bytes
    #[arg(
        id = "limits.max_message_bytes",
        long = "max-message-bytes",
        env = "GADKA_MAX_MESSAGE_BYTES",
        value_name = "BYTES"
    )]
    pub(super) max_message_bytes: Option<NonZeroUsize>,
    /// Login attempts allowed per username from one client address per minute
    #[arg(
        id = "limits.login_attempts_per_minute",
        long = "login-attempts-per-minute",
        env = "GADKA_LOGIN_ATTEMPTS_PER_MINUTE",
        value_name = "N"
    )]
    pub(super) login_attempts_per_minute: Option<NonZeroU32>,
    /// Login attempts allowed per client IP per minute
    #[arg(
        id = "limits.login_attempts_per_minute_per_ip",
        long = "login-attempts-per-minute-per-ip",
        env = "GADKA_LOGIN_ATTEMPTS_PER_MINUTE_PER_IP",
        value_name = "N"
    )]
    pub(super) login_attempts_per_minute_per_ip: Option<NonZeroU32>,
    /// Accounts made per client address per hour
    #[arg(
        id = "limits.registrations_per_hour_per_ip",
        long = "registrations-per-hour-per-ip",
        env = "GADKA_REGISTRATIONS_PER_HOUR_PER_IP",
        value_name = "N"
    )]
    pub(super) registrations_per_hour_per_ip: Option<NonZeroU32>,
    /// Messages one user may send per minute (also their burst)
    #[arg(
        id = "limits.sends_per_minute",
        long = "sends-per-minute",
        env = "GADKA_SENDS_PER_MINUTE",
        value_name = "N"
    )]
    pub(super) sends_per_minute: Option<NonZeroU32>,
    /// New conversations one user may start per hour (also their burst)
    #[arg(
        id = "limits.conversations_per_hour",
        long = "conversations-per-hour",
        env = "GADKA_CONVERSATIONS_PER_HOUR",
        value_name = "N"
    )]
    pub(super) conversations_per_hour: Option<NonZeroU32>,
    /// Bytes of messages one user may have stored
    #[arg(
        id = "limits.storage_quota_bytes",
        long = "storage-quota-bytes",
        env = "GADKA_STORAGE_QUOTA_BYTES",
        value_name = "BYTES"
    )]
    pub(super) storage_quota_bytes: Option<NonZeroU64>,
    /// Largest upload (a photo or file) in bytes
    #[arg(
        id = "limits.max_upload_bytes",
        long = "max-upload-bytes",
        env = "GADKA_MAX_UPLOAD_BYTES",
        value_name = "BYTES"
    )]
    pub(super) max_upload_bytes: Option<NonZeroU64>,
    /// Uploads one user may make per minute (also their burst)
    #[arg(
        id = "limits.uploads_per_minute",
        long = "uploads-per-minute",
        env = "GADKA_UPLOADS_PER_MINUTE",
        value_name = "N"
    )]
    pub(super) uploads_per_minute: Option<NonZeroU32>,
    /// Frames a socket may have queued before it is closed as too slow
    #[arg(
        id = "limits.ws_queue_frames",
        long = "ws-queue-frames",
        env = "GADKA_WS_QUEUE_FRAMES",
        value_name = "N"
    )]
    pub(super) ws_queue_frames: Option<NonZeroUsize>,
    /// Seconds a request's head may take to arrive, and a kept-alive connection may sit idle
    #[arg(
        id = "limits.header_timeout_secs",
        long = "header-timeout-secs",
        env = "GADKA_HEADER_TIMEOUT_SECS",
        value_name = "SECS"
    )]
    pub(super) header_timeout_secs: Option<NonZeroU64>,
    /// Seconds a request's body may take to arrive
    #[arg(
        id = "limits.body_timeout_secs",
        long = "body-timeout-secs",
        env = "GADKA_BODY_TIMEOUT_SECS",
        value_name = "SECS"
    )]
    pub(super) body_timeout_secs: Option<NonZeroU64>,
    /// Open connections in all (lowered to fit the open-file limit)
    #[arg(
        id = "limits.max_connections",
        long = "max-connections",
        env = "GADKA_MAX_CONNECTIONS",
        value_name = "N"
    )]
    pub(super) max_connections: Option<NonZeroUsize>,
    /// Open connections from one client address
    #[arg(
        id = "limits.max_connections_per_ip",
        long = "max-connections-per-ip",
        env = "GADKA_MAX_CONNECTIONS_PER_IP",
        value_name = "N"
    )]
    pub(super) max_connections_per_ip: Option<NonZeroUsize>,
    /// Seconds a socket may be silent before the server pings it; no answer in as long again closes it
    #[arg(
        id = "limits.ws_ping_secs",
        long = "ws-ping-secs",
        env = "GADKA_WS_PING_SECS",
        value_name = "SECS"
    )]
    pub(super) ws_ping_secs: Option<NonZeroU64>,
    /// The most commands the message writer commits in one transaction
    #[arg(
        id = "limits.writer_batch",
        long = "writer-batch",
        env = "GADKA_WRITER_BATCH",
        value_name = "N"
    )]
    pub(super) writer_batch: Option<NonZeroUsize>,
    /// Commands waiting for the message writer before senders wait
    #[arg(
        id = "limits.writer_queue",
        long = "writer-queue",
        env = "GADKA_WRITER_QUEUE",
        value_name = "N"
    )]
    pub(super) writer_queue: Option<NonZeroUsize>,
}

/// `media:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Media")]
pub(super) struct MediaSection {
    /// Directory of uploaded files (default: `media` in the data dir)
    #[arg(
        id = "media.path",
        long = "media-path",
        env = "GADKA_MEDIA_PATH",
        value_name = "DIR"
    )]
    pub(super) path: Option<PathBuf>,
    /// Seconds an upload that no message carries is kept before it is removed
    #[arg(
        id = "media.unattached_ttl_secs",
        long = "media-unattached-ttl-secs",
        env = "GADKA_MEDIA_UNATTACHED_TTL_SECS",
        value_name = "SECS"
    )]
    pub(super) unattached_ttl_secs: Option<NonZeroU64>,
}

/// `cluster:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Cluster")]
pub(super) struct ClusterSection {
    /// NATS server the nodes of a cluster talk through (`nats://host:4222`); with
    /// PostgreSQL only. Unset: one node
    #[arg(
        id = "cluster.nats_url",
        long = "nats-url",
        env = "GADKA_NATS_URL",
        value_name = "URL"
    )]
    pub(super) nats_url: Option<String>,
}

/// `metrics:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Metrics")]
pub(super) struct MetricsSection {
    /// Where /metrics is served: an address, `main` (the main listener) or `off`
    #[arg(
        id = "metrics.listen",
        long = "metrics-listen",
        env = "GADKA_METRICS_LISTEN",
        value_name = "ADDR"
    )]
    pub(super) listen: Option<MetricsAt>,
}

/// `logging:` in the file.
#[derive(Debug, Default, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[command(next_help_heading = "Logging")]
pub(super) struct LoggingSection {
    /// Log filter, e.g. `info` or `gadka=debug`
    #[arg(
        id = "logging.filter",
        long = "log",
        env = "GADKA_LOG",
        value_name = "FILTER"
    )]
    pub(super) filter: Option<String>,
}

impl Layer {
    /// The file at `path`, as one layer.
    pub(super) fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        // An empty file is a valid "nothing set", though not a valid YAML document.
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml_ng::from_str(&text).map_err(|e| file_error(path, &e))
    }

    /// The key whose file name is `file`, looked up among the sections' flags.
    fn key(file: &str) -> Option<Key> {
        Self::augment_args(clap::Command::new("gadka"))
            .get_arguments()
            .find(|arg| arg.get_id() == file)
            .and_then(Key::of)
    }
}

/// A bad value in the file is reported like one from a flag, under all the key's
/// names; anything else (bad YAML, an unknown key) as it is, with the file's path.
fn file_error(path: &Path, err: &serde_yaml_ng::Error) -> ConfigError {
    // serde_yaml_ng starts its message with the dotted path of the bad value
    // (`limits.max_message_bytes: invalid value: …`), or of the map holding an unknown key.
    let message = err.to_string();
    let key = message
        .split_once(": ")
        .and_then(|(at, _)| Layer::key(at.split('[').next().unwrap_or(at)));
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

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_names, settings};

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
                "server:\n  trusted_proxies: [10.0.0.0/8, nonsense]\n",
                "server.trusted_proxies",
                "GADKA_TRUSTED_PROXIES",
                "--trusted-proxies",
            ),
            (
                "limits:\n  header_timeout_secs: 0\n",
                "limits.header_timeout_secs",
                "GADKA_HEADER_TIMEOUT_SECS",
                "--header-timeout-secs",
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
}
