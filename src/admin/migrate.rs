//! `gadka migrate`: the schema brought up to date, alone. A deployment of several
//! nodes sets `database.migrate_on_start: false` and runs this once before rolling
//! them, so that no node migrates under the others (a node then refuses to start on a
//! schema older than itself, rather than running against it).
//!
//! Unlike the other tools it creates an SQLite database that is not there yet: making
//! the schema is what it is for.

use std::io::Write;

use super::AdminError;
use crate::{
    config::Settings,
    store::{Schema, Store, StoreError},
};

pub async fn migrate(settings: &Settings, out: &mut dyn Write) -> Result<(), AdminError> {
    crate::durable::create_dir_all(&settings.data_dir).map_err(AdminError::Output)?;
    let url = &settings.database_url;
    match Store::open(url, settings.durability, Schema::Check).await {
        Ok(_) => writeln!(out, "the schema is up to date; nothing to apply")?,
        Err(StoreError::SchemaBehind { pending }) => {
            Store::open(url, settings.durability, Schema::Migrate)
                .await
                .map_err(AdminError::Open)?;
            tracing::info!(applied = pending.len(), "migrations applied");
            writeln!(out, "applied {} migrations:", pending.len())?;
            for name in pending {
                writeln!(out, "  {name}")?;
            }
        }
        Err(e) => return Err(AdminError::Open(e)),
    }
    Ok(())
}
