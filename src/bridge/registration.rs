//! `gadka generate-registration`: the registration file the homeserver loads
//! (`app_service_config_files` in Synapse), with fresh tokens that are also written
//! back into the bridge's configuration file.
//!
//! The configuration file is edited line by line rather than re-serialised, so that
//! the admin's comments and layout survive.

use std::path::{Path, PathBuf};

use rand::{Rng, distr::Alphanumeric};
use ruma::api::appservice::{Namespace, Namespaces, Registration, RegistrationInit};

use super::BridgeSettings;

/// The length of each generated token, as mautrix makes them.
const TOKEN_LENGTH: usize = 64;

/// Why the registration could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The configuration file has no place the tokens can be written to.
    #[error("cannot write the tokens into {path}: {why}")]
    Place { path: PathBuf, why: String },
    /// The registration could not be serialised.
    #[error("cannot write the registration as YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
}

/// Makes fresh tokens, writes them into the configuration file at `config` and the
/// registration at `registration`.
pub fn generate(
    bridge: &BridgeSettings,
    config: &Path,
    registration: &Path,
) -> Result<(), RegistrationError> {
    let as_token = fresh_token();
    let hs_token = fresh_token();
    let text = std::fs::read_to_string(config).map_err(|source| RegistrationError::Read {
        path: config.to_owned(),
        source,
    })?;
    let filled =
        fill_tokens(&text, &as_token, &hs_token).map_err(|why| RegistrationError::Place {
            path: config.to_owned(),
            why,
        })?;
    let yaml = serde_yaml_ng::to_string(&registration_of(bridge, as_token, hs_token))?;
    write_private(config, &filled)?;
    write_private(registration, &yaml)
}

/// The registration for `bridge` with these tokens.
fn registration_of(bridge: &BridgeSettings, as_token: String, hs_token: String) -> Registration {
    let mut namespaces = Namespaces::new();
    namespaces.users = vec![
        Namespace::new(true, bridge.bot_regex()),
        Namespace::new(true, bridge.puppet_regex()),
    ];
    let mut registration = Registration::from(RegistrationInit {
        id: bridge.id.clone(),
        url: Some(bridge.address.as_str().trim_end_matches('/').to_owned()),
        as_token,
        hs_token,
        sender_localpart: bridge.bot.localpart().to_owned(),
        namespaces,
        rate_limited: Some(false),
        protocols: None,
    });
    // Receipts and typing come pushed in transactions. Only the stable key: some
    // homeservers refuse a file that also has `de.sorunome.msc2409.push_ephemeral`.
    registration.receive_ephemeral = bridge.ephemeral_events;
    registration
}

/// 64 letters and digits from the thread's cryptographically secure generator.
fn fresh_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(TOKEN_LENGTH)
        .map(char::from)
        .collect()
}

/// `text` with `appservice.as_token` and `appservice.hs_token` set, each replacing its
/// line, or added at the end of the `appservice:` block. Everything else, comments
/// included, is kept as it was.
fn fill_tokens(text: &str, as_token: &str, hs_token: &str) -> Result<String, String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let start = lines
        .iter()
        .position(|line| is_key_line(line, "appservice") && value_of(line).is_empty())
        .ok_or("it has no `appservice:` section written as a block")?;
    let top_level = |line: &str| {
        !line.trim().is_empty()
            && !line.trim_start().starts_with('#')
            && !line.starts_with([' ', '\t'])
    };
    let end = lines[start + 1..]
        .iter()
        .position(|line| top_level(line))
        .map_or(lines.len(), |offset| start + 1 + offset);
    let indent = lines[start + 1..end]
        .iter()
        .find(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map_or("  ".to_owned(), |line| {
            line[..line.len() - line.trim_start().len()].to_owned()
        });
    let mut last = lines[start + 1..end]
        .iter()
        .rposition(|line| !line.trim().is_empty())
        .map_or(start, |offset| start + 1 + offset);
    for (key, token) in [("as_token", as_token), ("hs_token", hs_token)] {
        let line = format!("{indent}{key}: {token}");
        let existing = (start + 1..=last).find(|&i| {
            lines[i].starts_with(&indent)
                && !lines[i][indent.len()..].starts_with([' ', '\t'])
                && is_key_line(&lines[i], key)
        });
        match existing {
            Some(i) => lines[i] = line,
            None => {
                last += 1;
                lines.insert(last, line);
            }
        }
    }
    let filled = lines.join("\n") + "\n";
    // The edit must read back as the tokens, or the file is not one we understand.
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&filled).map_err(|e| format!("the edited file breaks: {e}"))?;
    let reads_back = |key: &str, token: &str| {
        value
            .get("appservice")
            .and_then(|section| section.get(key))
            .and_then(serde_yaml_ng::Value::as_str)
            == Some(token)
    };
    if reads_back("as_token", as_token) && reads_back("hs_token", hs_token) {
        Ok(filled)
    } else {
        Err("its layout is not one this tool can edit: set the tokens by hand".into())
    }
}

/// Whether `line` is `key:` (at any indentation), with or without a value.
fn is_key_line(line: &str, key: &str) -> bool {
    line.trim_start()
        .strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// What follows `key:` on its line, comments aside.
fn value_of(line: &str) -> &str {
    let rest = line.split_once(':').map_or("", |(_, rest)| rest).trim();
    if rest.starts_with('#') { "" } else { rest }
}

/// Writes `text` readable by its owner only: both files hold the tokens.
fn write_private(path: &Path, text: &str) -> Result<(), RegistrationError> {
    let written = std::fs::write(path, text).and_then(|()| restrict(path));
    written.map_err(|source| RegistrationError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_replace_their_lines_and_keep_the_comments() {
        let text = "# the bridge\nhomeserver:\n  domain: example.org\nappservice: # how the homeserver calls us\n    address: http://localhost:1\n    # the token the bridge sends\n    as_token: \"This value is generated when generating the registration\"\n    bot:\n        as_token: not this one\n    hs_token: old # a comment\nbridge:\n  permissions: {}\n";
        let filled = fill_tokens(text, "AAA", "HHH").unwrap();
        assert_eq!(
            filled,
            "# the bridge\nhomeserver:\n  domain: example.org\nappservice: # how the homeserver calls us\n    address: http://localhost:1\n    # the token the bridge sends\n    as_token: AAA\n    bot:\n        as_token: not this one\n    hs_token: HHH\nbridge:\n  permissions: {}\n"
        );
    }

    #[test]
    fn missing_tokens_are_added_at_the_end_of_the_section() {
        let text =
            "appservice:\n  address: http://localhost:1\n\n  # last\n  id: gadka\n\nbridge: {}\n";
        let filled = fill_tokens(text, "AAA", "HHH").unwrap();
        assert_eq!(
            filled,
            "appservice:\n  address: http://localhost:1\n\n  # last\n  id: gadka\n  as_token: AAA\n  hs_token: HHH\n\nbridge: {}\n"
        );
    }

    #[test]
    fn a_flow_section_is_refused_rather_than_broken() {
        let err = fill_tokens("appservice: {address: http://x}\n", "A", "H").unwrap_err();
        assert!(err.contains("appservice"), "{err}");
    }

    #[test]
    fn fresh_tokens_are_long_and_differ() {
        let (a, b) = (fresh_token(), fresh_token());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
