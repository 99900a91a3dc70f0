//! Why the configuration was refused, and the names a refused key goes by.
//!
//! Every source of a value (the file, a variable, a flag) reports a bad one the same
//! way: one line naming the key in all its spellings, so the operator finds it
//! whichever way they set it.

use std::path::PathBuf;

use clap::error::ErrorKind;

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
    /// A value of the file-only key `key` (the bridge's) that is refused.
    pub(super) fn invalid(key: &str, why: &str) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            why: why.to_owned(),
        }
    }
}

/// The names one setting goes by: file key, environment variable, flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) file: String,
    pub(super) env: String,
    pub(super) flag: String,
}

impl Key {
    /// The names of a configuration flag, whose clap id is its file key; `None` for
    /// others (`--config`, `--help`).
    pub(super) fn of(arg: &clap::Arg) -> Option<Self> {
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

    /// The error for a bad value of this key, naming it in all its spellings.
    pub(super) fn error(self, why: String) -> ConfigError {
        ConfigError::Invalid {
            key: format!("{} ({} / {})", self.file, self.env, self.flag),
            why,
        }
    }
}
