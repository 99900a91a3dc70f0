//! Messages: finding the ones a sender already stored under a `txn_id`. Messages are
//! written only by the message engine's batch (`batch.rs`).

use entity::message;
use sea_orm::{DbBackend, EntityTrait, Statement, Value};

use super::{MessageRow, Store, StoreError};

impl Store {
    /// The messages already stored under these `(sender, txn_id)` keys, in one query:
    /// `(sender_id, txn_id) IN (VALUES …)`, one index probe per key, and a statement
    /// the planner reads in one pass however many keys there are.
    pub async fn messages_by_txn(
        &self,
        keys: &[(i64, &str)],
    ) -> Result<Vec<MessageRow>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let backend = self.db.get_database_backend();
        let mut sql = String::from(
            "SELECT id, conversation_id, seq, sender_id, body, created_at, txn_id FROM message \
             WHERE (sender_id, txn_id) IN (VALUES ",
        );
        let mut values: Vec<Value> = Vec::with_capacity(keys.len() * 2);
        for (i, (sender, txn_id)) in keys.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let (a, b) = (2 * i + 1, 2 * i + 2);
            match backend {
                DbBackend::Postgres => sql.push_str(&format!("(${a}::bigint, ${b}::text)")),
                _ => sql.push_str(&format!("(?{a}, ?{b})")),
            }
            values.push((*sender).into());
            values.push((*txn_id).into());
        }
        sql.push(')');
        let statement = Statement::from_sql_and_values(backend, sql, values);
        Ok(message::Entity::find()
            .from_raw_sql(statement)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
