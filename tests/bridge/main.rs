//! The Matrix bridge against a real Synapse: a Matrix user (a reqwest client on
//! Synapse) and gadka users (on gadka's HTTP and socket API) see what they should.

mod admin;
mod appservice;
mod cluster;
mod content;
mod deactivate;
mod files;
mod from_gadka;
mod gadka;
mod latency;
mod matrix;
mod messages;
mod outage;
mod portal_failure;
mod postgres;
mod profile;
mod receipts;
mod registration;
mod rich;
mod synapse;
mod transactions;
mod typing;
