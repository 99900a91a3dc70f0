//! The Matrix bridge: gadka as an application service, so that people on Matrix chat
//! with gadka users. Off unless the configuration has a `homeserver` section.
//!
//! - `config.rs`: the `homeserver`, `appservice` and `bridge` sections (mautrix's keys);
//! - `registration.rs`: `gadka generate-registration`, the file the homeserver loads.

pub mod config;
pub mod registration;

pub use config::{BridgeSettings, Permission, Tokens};
