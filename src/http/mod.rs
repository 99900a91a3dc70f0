//! What every HTTP surface of gadka shares, and nothing more: the state handlers
//! reach, the one error type and its body, extractors whose rejections are that error,
//! the cookie → session lookup, and the origin check.
//!
//! `api/` (the JSON API), `ws/` (the socket upgrade) and, later, `bridge/` and `web/`
//! each depend on this module and never on each other; `startup.rs` composes their
//! routes into one router.

pub mod client;
pub mod error;
pub mod extract;
pub mod integer;
pub mod origin;
pub mod session;
mod state;

pub use client::ClientAddr;
pub use error::ApiError;
pub use session::{CurrentSession, SESSION_COOKIE};
pub use state::AppState;
