//! What gadka's tests share, whichever binary they are in: the server, the bridge,
//! the browser, the metrics and the load generator's tests all start the real server
//! and talk to it as clients do.
//!
//! - [`spawn_app`] starts the same `Application` that `main` runs, on a free port with
//!   its own data directory ([`app`]); [`postgres`] gives a test a database of its own;
//!   [`bound_address`] finds the binary started in a process of its own;
//!   [`NatsServer`] is a `nats-server` of a cluster test's own, which it may restart,
//!   and [`OwnPostgres`] likewise a PostgreSQL server.
//! - [`lazyfs`] is a FUSE filesystem that loses what was never synced when a test
//!   cuts the power.
//! - [`Client`] is one user's HTTP client with its cookie jar, [`Socket`] the same
//!   user's `/ws`.
//! - [`eventually`] waits for what happens on its own time (a message the bridge
//!   carries, a name that reaches Matrix) by polling it against a deadline, and
//!   [`Socket::drain`] proves that nothing (else) arrived by sending a marker and
//!   reading up to its answer. Neither sleeps for a guessed while.
//!
//! A crate rather than a file each test binary includes by path: it compiles once,
//! the load generator's tests use it like any dependency, and nothing in it needs
//! `#[allow(dead_code)]` because a binary uses only part of it.

pub mod app;
pub mod client;
pub mod lazyfs;
pub mod nats;
pub mod own_postgres;
pub mod postgres;
pub mod process;
pub mod socket;
pub mod wait;

pub use app::{TestApp, password, spawn_app, spawn_in, spawn_with};
pub use client::{Client, Reply, assert_error, read, seqs};
pub use nats::NatsServer;
pub use own_postgres::OwnPostgres;
pub use postgres::{create_postgres_database, drop_postgres_database};
pub use process::bound_address;
pub use socket::{Refusal, Socket};
pub use wait::{PATIENCE, eventually, until};
