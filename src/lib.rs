//! gadka: a 1:1 chat server. See `docs/architecture.md` for the map.
#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod bridge;
pub mod chat;
pub mod cluster;
pub mod config;
pub mod durable;
pub mod http;
pub mod hub;
pub mod ids;
pub mod media;
pub mod metrics;
pub mod serve;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod ws;
