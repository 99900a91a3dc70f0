//! Leases (`lease`): work one node of a cluster does for all. PostgreSQL only: one
//! node on SQLite needs none.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{Store, StoreError};

/// Now, in milliseconds, on the database's clock.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

impl Store {
    /// Takes the lease `name` for `holder` for `ttl_ms`, or renews it if `holder` has
    /// it: `Some(token)` then (the token grows with each new holder). `None` while
    /// another holder's lease runs.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let sql = format!(
            "INSERT INTO lease (name, holder, token, expires_at) VALUES ($1, $2, 1, {NOW_MS} + $3) \
             ON CONFLICT (name) DO UPDATE SET \
                 token = CASE WHEN lease.holder = excluded.holder THEN lease.token ELSE lease.token + 1 END, \
                 holder = excluded.holder, \
                 expires_at = excluded.expires_at \
             WHERE lease.holder = excluded.holder OR lease.expires_at < {NOW_MS} \
             RETURNING token"
        );
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [name.into(), holder.into(), ttl_ms.into()],
            ))
            .await?;
        Ok(row.map(|row| row.try_get::<i64>("", "token")).transpose()?)
    }
}
