//! HTTP API integration tests: each starts the real server with its own database.

mod accounts;
mod conversations;
mod errors;
mod helpers;
mod persistence;
mod postgres;
mod users;
