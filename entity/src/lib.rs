//! SeaORM entities: one module per table of gadka's schema.
//!
//! Timestamps are stored as Unix milliseconds (`i64`): the same type and ordering on
//! SQLite and PostgreSQL, and exactly the precision the API renders (RFC 3339 with
//! milliseconds). Only `store/` in the server crate uses these types.

pub mod change_log;
pub mod conversation;
pub mod group_key;
pub mod lease;
pub mod matrix_event;
pub mod matrix_reaction;
pub mod media;
pub mod membership;
pub mod message;
pub mod outbox;
pub mod portal;
pub mod session;
pub mod stream_head;
pub mod user;
pub mod user_search_term;
