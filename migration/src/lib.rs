//! SeaORM migrations of gadka's schema, applied by the server at start.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_schema;
mod m20261126_000001_create_outbox;
mod m20261126_000002_bridge;
mod m20261126_000003_matrix_event;
mod m20261126_000004_group_key;
mod m20261203_000001_user_search_term;
mod m20261210_000001_message_kind;
mod m20261211_000001_deactivation;
mod m20261212_000001_rich_messages;
mod m20261213_000001_media;
mod m20261214_000001_stream_head;
mod m20261214_000002_lease;

/// All migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_schema::Migration),
            Box::new(m20261126_000001_create_outbox::Migration),
            Box::new(m20261126_000002_bridge::Migration),
            Box::new(m20261126_000003_matrix_event::Migration),
            Box::new(m20261126_000004_group_key::Migration),
            Box::new(m20261203_000001_user_search_term::Migration),
            Box::new(m20261210_000001_message_kind::Migration),
            Box::new(m20261211_000001_deactivation::Migration),
            Box::new(m20261212_000001_rich_messages::Migration),
            Box::new(m20261213_000001_media::Migration),
            Box::new(m20261214_000001_stream_head::Migration),
            Box::new(m20261214_000002_lease::Migration),
        ]
    }
}
