//! The Matrix bridge against a real Synapse: a Matrix user (a reqwest client on
//! Synapse) and gadka users (on gadka's HTTP and socket API) see what they should.

mod appservice;
mod content;
mod gadka;
mod matrix;
mod messages;
mod receipts;
mod registration;
mod synapse;
mod typing;
