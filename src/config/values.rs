//! The types of the values a key may hold, each parsed once, wherever it comes from.
//!
//! A value's type is its rule: a `DatabaseUrl` is a `sqlite:` or `postgres://` URL, a
//! `Secret` is long enough, `Origins` are normalised. Each parses from a string (a
//! flag or a variable, through `FromStr`) and from the file (through serde), by the
//! same code, so a rule is written once.

use std::{
    fmt,
    marker::PhantomData,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use axum::http::Uri;
use clap::ValueEnum;
pub use ipnet::IpNet;
use serde::{
    Deserialize, Deserializer,
    de::{self, SeqAccess, Visitor},
};

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

/// A `sqlite:` or `postgres://` URL.
#[derive(Debug, Clone)]
pub(super) struct DatabaseUrl(pub(super) String);

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
pub(super) struct Secret(pub(super) String);

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
pub(super) struct Origins(pub(super) Vec<String>);

impl FromStr for Origins {
    type Err = String;
    fn from_str(list: &str) -> Result<Self, String> {
        comma_separated(list).try_into()
    }
}

impl TryFrom<Vec<String>> for Origins {
    type Error = String;
    fn try_from(list: Vec<String>) -> Result<Self, String> {
        parse_entries(&list, parse_origin).map(Self)
    }
}

impl<'de> Deserialize<'de> for Origins {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(List(PhantomData))
    }
}

/// The origin browsers reach the server at (`server.public_url`), normalised like
/// [`Origins`].
#[derive(Debug, Clone)]
pub(super) struct PublicUrl(pub(super) String);

impl FromStr for PublicUrl {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        parse_origin(raw.trim()).map(Self)
    }
}

impl<'de> Deserialize<'de> for PublicUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Parsed(PhantomData))
    }
}

/// Where `/metrics` is served: an address of its own, `main` (beside the API, for a
/// main listener that is itself private) or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAt {
    Address(SocketAddr),
    Main,
    Off,
}

impl MetricsAt {
    /// Loopback: what the metrics tell (routes, rates, queue depths) is for the
    /// operator, not for whoever reaches the chat.
    pub const DEFAULT: Self = Self::Address(SocketAddr::new(
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        9190,
    ));
}

impl FromStr for MetricsAt {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "main" => Ok(Self::Main),
            "off" => Ok(Self::Off),
            other => other.parse().map(Self::Address).map_err(|_| {
                format!("{raw:?} is neither an address like 127.0.0.1:9190 nor `main` or `off`")
            }),
        }
    }
}

impl<'de> Deserialize<'de> for MetricsAt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Parsed(PhantomData))
    }
}

/// Proxies whose `X-Forwarded-For` is believed: addresses or CIDRs, a list in the file,
/// comma-separated as a flag or variable.
#[derive(Debug, Clone)]
pub(super) struct TrustedProxies(pub(super) Vec<IpNet>);

impl FromStr for TrustedProxies {
    type Err = String;
    fn from_str(list: &str) -> Result<Self, String> {
        comma_separated(list).try_into()
    }
}

impl TryFrom<Vec<String>> for TrustedProxies {
    type Error = String;
    /// A bare address is a network of one.
    fn try_from(list: Vec<String>) -> Result<Self, String> {
        parse_entries(&list, |p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{p:?} is neither an IP address nor a CIDR like 10.0.0.0/8"))
        })
        .map(Self)
    }
}

/// A flag's or variable's list: `a,b,c`.
fn comma_separated(list: &str) -> Vec<String> {
    list.split(',').map(str::to_owned).collect()
}

/// Each entry of a list parsed by `parse`; blank entries are skipped, so a trailing
/// comma or an empty variable means none.
fn parse_entries<T>(
    list: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    list.iter()
        .map(|entry| entry.trim())
        .filter(|entry| !entry.is_empty())
        .map(parse)
        .collect()
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(List(PhantomData))
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

/// Like [`Parsed`], for a list in the file.
struct List<T>(PhantomData<T>);

impl<'de, T: TryFrom<Vec<String>, Error = String>> Visitor<'de> for List<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        let mut list = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            list.push(item);
        }
        T::try_from(list).map_err(de::Error::custom)
    }
}

/// Normalises an origin to `scheme://host[:port]`, the form browsers send in `Origin`.
fn parse_origin(raw: &str) -> Result<String, String> {
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

#[cfg(test)]
mod tests {
    use super::super::{
        Settings,
        sections::Layer,
        tests::{flags, settings},
    };

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
