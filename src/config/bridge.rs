//! The bridge's settings: the `homeserver`, `appservice` and `bridge` sections of the
//! configuration file, under the key names mautrix bridges use, so that an admin who
//! has set up one of those finds the same keys here.
//!
//! They are read by serde as part of the file (see `sections.rs`), and only from the
//! file: tokens and templates are not things to pass as flags. A bad value is refused
//! at start in one line naming its key, like every other setting.

use std::{
    collections::BTreeMap,
    fmt,
    net::{IpAddr, Ipv4Addr, SocketAddr},
};

use reqwest::Url;
use ruma::{OwnedServerName, OwnedUserId, ServerName, UserId};
use serde::{Deserialize, Deserializer};

use super::error::ConfigError;

/// `homeserver:` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct HomeserverSection {
    address: Option<HttpUrl>,
    domain: Option<OwnedServerName>,
}

/// `appservice:` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct AppserviceSection {
    address: Option<HttpUrl>,
    hostname: Option<IpAddr>,
    port: Option<u16>,
    id: Option<String>,
    bot: BotSection,
    as_token: Option<String>,
    hs_token: Option<String>,
    ephemeral_events: Option<bool>,
}

/// `appservice.bot:` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct BotSection {
    username: Option<String>,
    displayname: Option<String>,
}

/// `bridge:` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct BridgeSection {
    username_template: Option<String>,
    displayname_template: Option<String>,
    permissions: Option<BTreeMap<String, Permission>>,
}

/// What a Matrix user may do with the bridge (`bridge.permissions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// May chat with gadka users.
    User,
    /// May chat, and use the bot's commands in a direct chat with it.
    Admin,
}

/// An `http://` or `https://` URL.
#[derive(Debug, Clone)]
struct HttpUrl(Url);

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match Url::parse(&raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(Self(url)),
            _ => Err(serde::de::Error::custom(format!(
                "{raw:?} is not an http:// or https:// URL"
            ))),
        }
    }
}

/// The bridge's validated settings; present only when the file has a `homeserver`
/// section.
#[derive(Debug, Clone)]
pub struct BridgeSettings {
    /// `homeserver.address`: where the bridge calls the homeserver.
    pub homeserver: Url,
    /// `homeserver.domain`: the homeserver's server name, the part after `:` in MXIDs.
    pub domain: OwnedServerName,
    /// `appservice.address`: where the homeserver calls the bridge.
    pub address: Url,
    /// `appservice.hostname` and `appservice.port`: where the bridge listens.
    pub listen: SocketAddr,
    /// `appservice.id`: the registration's id, also in the ping URL.
    pub id: String,
    /// `appservice.bot.username` on `homeserver.domain`.
    pub bot: OwnedUserId,
    /// `appservice.bot.displayname`.
    pub bot_displayname: String,
    /// `appservice.as_token` and `appservice.hs_token`, once generated.
    pub tokens: Option<Tokens>,
    /// `appservice.ephemeral_events`: receipts and typing pushed in transactions.
    pub ephemeral_events: bool,
    /// `bridge.username_template`: a puppet's localpart from a gadka username.
    pub username_template: Template,
    /// `bridge.displayname_template`: a puppet's display name from a gadka one.
    pub displayname_template: Template,
    /// `bridge.permissions`: keys are `*`, a server name or an MXID.
    pub permissions: BTreeMap<String, Permission>,
}

/// The two secrets shared with the homeserver; never printed.
#[derive(Clone)]
pub struct Tokens {
    /// What the bridge sends to the homeserver.
    pub as_token: String,
    /// What the homeserver sends to the bridge.
    pub hs_token: String,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tokens(..)")
    }
}

/// A template with one placeholder, such as `gadka_{username}`, split around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    prefix: String,
    suffix: String,
}

impl Template {
    /// Reads `raw`, which must hold `placeholder` exactly once.
    fn parse(raw: &str, placeholder: &str) -> Result<Self, String> {
        match raw.split_once(placeholder) {
            Some((prefix, suffix)) if !suffix.contains(placeholder) => Ok(Self {
                prefix: prefix.to_owned(),
                suffix: suffix.to_owned(),
            }),
            _ => Err(format!("{raw:?} must hold {placeholder} exactly once")),
        }
    }

    /// The template with `value` in place of its placeholder.
    pub fn apply(&self, value: &str) -> String {
        format!("{}{value}{}", self.prefix, self.suffix)
    }

    /// The value `text` was made from, if it was made by this template.
    pub fn extract<'a>(&self, text: &'a str) -> Option<&'a str> {
        text.strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)
            .filter(|value| !value.is_empty())
    }
}

impl BridgeSettings {
    /// Validates the three sections; `None` (the bridge is off) without `homeserver`.
    pub(super) fn from_sections(
        homeserver: Option<HomeserverSection>,
        appservice: AppserviceSection,
        bridge: BridgeSection,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(homeserver) = homeserver else {
            return Ok(None);
        };
        let domain = homeserver.domain.ok_or_else(|| {
            ConfigError::invalid("homeserver.domain", "is required with a homeserver")
        })?;
        let homeserver_address = homeserver.address.ok_or_else(|| {
            ConfigError::invalid("homeserver.address", "is required with a homeserver")
        })?;
        let address = appservice.address.ok_or_else(|| {
            ConfigError::invalid(
                "appservice.address",
                "is required: the URL the homeserver calls the bridge at",
            )
        })?;
        let id = appservice.id.unwrap_or_else(|| "gadka".into());
        if id.is_empty() {
            return Err(ConfigError::invalid("appservice.id", "must not be empty"));
        }
        let bot_localpart = appservice.bot.username.unwrap_or_else(|| "gadkabot".into());
        let bot = strict_user_id(&bot_localpart, &domain).map_err(|e| {
            ConfigError::invalid(
                "appservice.bot.username",
                &format!("{bot_localpart:?}: {e}"),
            )
        })?;
        let username_template = Template::parse(
            or_default(&bridge.username_template, "gadka_{username}"),
            "{username}",
        )
        .map_err(|why| ConfigError::invalid("bridge.username_template", &why))?;
        // A username is letters, digits, `.`, `_` and `-`; the template around it must
        // make a valid localpart, and must not take the bot's.
        let sample = username_template.apply("x");
        strict_user_id(&sample, &domain).map_err(|e| {
            ConfigError::invalid(
                "bridge.username_template",
                &format!("makes no valid Matrix ID: {e}"),
            )
        })?;
        if username_template.extract(bot.localpart()).is_some() {
            return Err(ConfigError::invalid(
                "bridge.username_template",
                "would give a gadka user the bot's Matrix ID",
            ));
        }
        let displayname_template = Template::parse(
            or_default(&bridge.displayname_template, "{displayname} (gadka)"),
            "{displayname}",
        )
        .map_err(|why| ConfigError::invalid("bridge.displayname_template", &why))?;
        let permissions = match bridge.permissions {
            Some(permissions) => {
                for key in permissions.keys() {
                    check_permission_key(key)
                        .map_err(|why| ConfigError::invalid("bridge.permissions", &why))?;
                }
                permissions
            }
            // The homeserver's own users, and no one else.
            None => BTreeMap::from([(domain.to_string(), Permission::User)]),
        };
        let tokens = match (appservice.as_token, appservice.hs_token) {
            (Some(as_token), Some(hs_token)) if is_token(&as_token) && is_token(&hs_token) => {
                Some(Tokens { as_token, hs_token })
            }
            _ => None,
        };
        Ok(Some(Self {
            homeserver: homeserver_address.0,
            domain,
            address: address.0,
            listen: SocketAddr::new(
                appservice
                    .hostname
                    .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                appservice.port.unwrap_or(29340),
            ),
            id,
            bot,
            bot_displayname: appservice
                .bot
                .displayname
                .unwrap_or_else(|| "gadka bridge bot".into()),
            tokens,
            ephemeral_events: appservice.ephemeral_events.unwrap_or(true),
            username_template,
            displayname_template,
            permissions,
        }))
    }

    /// The tokens, or the line telling the admin how to make them.
    pub fn require_tokens(&self) -> Result<&Tokens, ConfigError> {
        self.tokens.as_ref().ok_or_else(|| {
            ConfigError::invalid(
                "appservice.as_token",
                "no tokens yet: run `gadka generate-registration --config FILE` and give the registration to the homeserver",
            )
        })
    }

    /// The Matrix ID of a gadka user's puppet.
    pub fn puppet_id(&self, username: &str) -> Result<OwnedUserId, ruma::IdParseError> {
        strict_user_id(&self.username_template.apply(username), &self.domain)
    }

    /// The gadka username a puppet's Matrix ID stands for, if it is one of ours.
    pub fn puppet_username<'a>(&self, user_id: &'a UserId) -> Option<&'a str> {
        if user_id.server_name() != self.domain {
            return None;
        }
        self.username_template.extract(user_id.localpart())
    }

    /// What `user_id` may do with the bridge: the entry for its Matrix ID, else for
    /// its server, else `*`; `None` when no entry takes it in.
    pub fn permission_of(&self, user_id: &UserId) -> Option<Permission> {
        [user_id.as_str(), user_id.server_name().as_str(), "*"]
            .into_iter()
            .find_map(|key| self.permissions.get(key).copied())
    }

    /// The exclusive namespace regex of the puppets, e.g. `^@gadka_.*:example\.org$`.
    pub fn puppet_regex(&self) -> String {
        format!(
            "^@{}.*{}:{}$",
            regex::escape(&self.username_template.prefix),
            regex::escape(&self.username_template.suffix),
            regex::escape(self.domain.as_str())
        )
    }

    /// The namespace regex of the bot alone.
    pub fn bot_regex(&self) -> String {
        format!("^{}$", regex::escape(self.bot.as_str()))
    }
}

/// A Matrix ID the bridge makes: only the characters today's spec allows in a
/// localpart (ruma's parser also takes the historical ones, for IDs others made).
fn strict_user_id(localpart: &str, domain: &ServerName) -> Result<OwnedUserId, ruma::IdParseError> {
    let id = UserId::parse_with_server_name(localpart, domain)?;
    id.validate_strict()?;
    Ok(id)
}

/// The file's value, or the default.
fn or_default<'a>(value: &'a Option<String>, default: &'a str) -> &'a str {
    value.as_deref().unwrap_or(default)
}

/// A token goes in an `Authorization: Bearer` header, so it has no whitespace; the
/// placeholder sentence therefore never counts as one.
fn is_token(token: &str) -> bool {
    !token.is_empty() && !token.contains(char::is_whitespace)
}

/// `*`, a server name or an MXID.
fn check_permission_key(key: &str) -> Result<(), String> {
    if key == "*" || ServerName::parse(key).is_ok() || UserId::parse(key).is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{key:?} is neither \"*\", a server name nor a Matrix ID"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<Option<BridgeSettings>, ConfigError> {
        #[derive(Deserialize)]
        struct File {
            homeserver: Option<HomeserverSection>,
            #[serde(default)]
            appservice: AppserviceSection,
            #[serde(default)]
            bridge: BridgeSection,
        }
        let file: File = serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::Invalid {
            key: "yaml".into(),
            why: e.to_string(),
        })?;
        BridgeSettings::from_sections(file.homeserver, file.appservice, file.bridge)
    }

    const MINIMAL: &str = "homeserver:\n  address: http://localhost:8008\n  domain: example.org\nappservice:\n  address: http://localhost:29340\n";

    #[test]
    fn off_without_a_homeserver_section() {
        assert!(load("appservice:\n  port: 1\n").unwrap().is_none());
    }

    #[test]
    fn defaults_follow_mautrix() {
        let b = load(MINIMAL).unwrap().unwrap();
        assert_eq!(b.bot.as_str(), "@gadkabot:example.org");
        assert_eq!(
            b.puppet_id("bob").unwrap().as_str(),
            "@gadka_bob:example.org"
        );
        assert_eq!(b.displayname_template.apply("Bob"), "Bob (gadka)");
        assert_eq!(b.puppet_regex(), r"^@gadka_.*:example\.org$");
        assert_eq!(b.bot_regex(), r"^@gadkabot:example\.org$");
        assert!(b.ephemeral_events);
        assert!(b.tokens.is_none(), "the placeholder is no token");
        assert_eq!(b.listen.to_string(), "127.0.0.1:29340");
        assert_eq!(b.permissions.get("example.org"), Some(&Permission::User));
    }

    #[test]
    fn a_puppet_id_gives_back_its_username_and_nothing_else_does() {
        let b = load(MINIMAL).unwrap().unwrap();
        let puppet = b.puppet_id("bob").unwrap();
        assert_eq!(b.puppet_username(&puppet), Some("bob"));
        for other in [
            "@bob:example.org",
            "@gadka_bob:elsewhere.org",
            "@gadka_:example.org",
            "@gadkabot:example.org",
        ] {
            let id = UserId::parse(other).unwrap();
            assert_eq!(b.puppet_username(&id), None, "{other}");
        }
    }

    #[test]
    fn a_template_with_a_suffix_gives_its_regex() {
        let yaml = format!(
            "{MINIMAL}bridge:\n  username_template: \"{{username}}.gadka\"\n  permissions:\n    '*': user\n    '@admin:example.org': admin\n"
        );
        let b = load(&yaml).unwrap().unwrap();
        assert_eq!(b.puppet_regex(), r"^@.*\.gadka:example\.org$");
        assert_eq!(b.permissions.get("*"), Some(&Permission::User));
        let admin = UserId::parse("@admin:example.org").unwrap();
        let anyone = UserId::parse("@x:elsewhere.org").unwrap();
        assert_eq!(b.permission_of(&admin), Some(Permission::Admin));
        assert_eq!(b.permission_of(&anyone), Some(Permission::User));
        let b = load(MINIMAL).unwrap().unwrap();
        assert_eq!(
            b.permission_of(&admin),
            Some(Permission::User),
            "the domain"
        );
        assert_eq!(b.permission_of(&anyone), None);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (yaml, key) in [
            (
                "homeserver:\n  address: http://x\n".to_owned(),
                "homeserver.domain",
            ),
            (
                "homeserver:\n  address: http://x\n  domain: example.org\n".into(),
                "appservice.address",
            ),
            (
                format!("{MINIMAL}bridge:\n  username_template: gadka_\n"),
                "bridge.username_template",
            ),
            (
                format!("{MINIMAL}bridge:\n  username_template: \"Gadka {{username}}\"\n"),
                "bridge.username_template",
            ),
            (
                format!(
                    "{MINIMAL}bridge:\n  username_template: \"gadka{{username}}\"\n  displayname_template: x\n"
                ),
                "bridge.username_template",
            ),
            (
                format!("{MINIMAL}bridge:\n  displayname_template: x\n"),
                "bridge.displayname_template",
            ),
            (
                format!("{MINIMAL}bridge:\n  permissions:\n    'not a key': user\n"),
                "bridge.permissions",
            ),
            (
                format!("{MINIMAL}  bot:\n    username: 'no spaces'\n"),
                "appservice.bot.username",
            ),
        ] {
            let err = load(&yaml).unwrap_err().to_string();
            assert!(err.contains(key) && !err.contains('\n'), "{key}: {err}");
        }
    }

    #[test]
    fn tokens_are_read_once_generated_and_never_printed() {
        let b = load(MINIMAL).unwrap().unwrap();
        let err = b.require_tokens().unwrap_err().to_string();
        assert!(err.contains("generate-registration"), "{err}");
        let yaml = format!("{MINIMAL}  as_token: secret-as\n  hs_token: secret-hs\n");
        let b = load(&yaml).unwrap().unwrap();
        let tokens = b.require_tokens().unwrap();
        assert_eq!(
            (tokens.as_token.as_str(), tokens.hs_token.as_str()),
            ("secret-as", "secret-hs")
        );
        assert!(!format!("{b:?}").contains("secret"));
    }
}
