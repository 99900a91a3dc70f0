//! Integration tests of the server over HTTP and its socket: each starts the real
//! server with its own database and drives it as clients do.

mod accounts;
mod allowances;
mod connections;
mod contract;
mod conversations;
mod errors;
mod media;
mod persistence;
mod postgres;
mod realtime;
mod rich;
mod users;
mod web;
