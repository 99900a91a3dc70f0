//! The SQLite batch's statements and what binds and reads their rows, apart from the
//! connection that runs them (`mod.rs`).

use std::{collections::HashMap, path::Path, time::Duration};

use rusqlite::{Connection, OpenFlags, Statement, ToSql};

use crate::{
    config::Durability,
    ids::{ConversationId, MessageId, Pair, Seq, UserId},
    store::{
        MessageRow, StoreError, batch::NewMessage, decode_attachment, decode_reactions,
        encode_attachment,
    },
};

pub(super) const MEMBERS: &str = "SELECT user_low, user_high FROM conversation WHERE id = ?1";
pub(super) const OF_PAIR: &str =
    "SELECT id FROM conversation WHERE user_low = ?1 AND user_high = ?2";
pub(super) const USER_EXISTS: &str = r#"SELECT 1 FROM "user" WHERE id = ?1"#;
pub(super) const MATRIX_USER: &str =
    r#"SELECT 1 FROM "user" WHERE id = ?1 AND matrix_id IS NOT NULL"#;
pub(super) const BY_TXN: &str = "SELECT id, conversation_id, seq, sender_id, body, created_at, txn_id, kind, \
     reply_to, edited_at, deleted_at, reactions, attachment FROM message WHERE sender_id = ?1 AND txn_id = ?2";
pub(super) const AT_SEQ: &str = "SELECT id, conversation_id, seq, sender_id, body, created_at, txn_id, kind, \
     reply_to, edited_at, deleted_at, reactions, attachment, \
     (SELECT last_read_seq FROM membership \
      WHERE conversation_id = m.conversation_id AND user_id <> m.sender_id) \
     FROM message m WHERE conversation_id = ?1 AND seq = ?2";
pub(super) const UPDATE_MESSAGE: &str = "UPDATE message SET body = ?1, edited_at = ?2, deleted_at = ?3, reactions = ?4, \
     media_id = ?5, attachment = ?6 WHERE id = ?7";
pub(super) const LAST_POSITION: &str = "SELECT max(COALESCE((SELECT max(id) FROM message), 0), \
     COALESCE((SELECT max(pos) FROM change_log), 0))";
pub(super) const NEW_CHANGE: &str = "INSERT INTO change_log \
     (pos, conversation_id, seq, kind, user_id, \"key\", created_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub(super) const NEW_CONVERSATION: &str = "INSERT INTO conversation \
     (user_low, user_high, last_seq, created_at, last_activity_at) VALUES (?1, ?2, 0, ?3, ?3) \
     ON CONFLICT (user_low, user_high) DO NOTHING RETURNING id";
pub(super) const NEW_MEMBERSHIP: &str =
    "INSERT INTO membership (conversation_id, user_id, last_read_seq) VALUES (?1, ?2, 0)";
pub(super) const RESERVE: &str = "UPDATE conversation SET last_seq = last_seq + ?1, last_activity_at = ?2 \
     WHERE id = ?3 RETURNING last_seq";
/// Messages are inserted this many to a statement: a statement's fixed cost (step,
/// reset, cursors, SQLite's mutexes) was a third of an insert when it carried one row.
pub(super) const MESSAGES_PER_INSERT: usize = 16;
pub(super) const ADVANCE_MARKER: &str = "UPDATE membership \
     SET last_read_seq = MIN(?1, (SELECT last_seq FROM conversation WHERE id = ?2)) \
     WHERE conversation_id = ?2 AND user_id = ?3 \
       AND last_read_seq < MIN(?1, (SELECT last_seq FROM conversation WHERE id = ?2)) \
     RETURNING last_read_seq";
pub(super) const SET_DISPLAY_NAME: &str = r#"UPDATE "user" SET display_name = ?1 WHERE id = ?2
     RETURNING id, username, display_name, password_hash, created_at, matrix_id, deactivated_at"#;
pub(super) const DELETE_TERMS: &str = "DELETE FROM user_search_term WHERE user_id = ?1";
pub(super) const NEW_TERM: &str =
    r#"INSERT INTO user_search_term ("rank", term, user_id) VALUES (?1, ?2, ?3)"#;
pub(super) const NEW_OUTBOX: &str =
    "INSERT INTO outbox (topic, payload, created_at) VALUES (?1, ?2, ?3)";
pub(super) const NEW_GROUP_KEY: &str =
    r#"INSERT INTO group_key ("key", created_at) VALUES (?1, ?2) ON CONFLICT ("key") DO NOTHING"#;

/// `INSERT` of `rows` messages, skipping a known `(sender_id, txn_id)`, returning
/// what it stored.
pub(super) fn insert_messages_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO message (id, conversation_id, seq, sender_id, body, created_at, txn_id, kind, reply_to, \
         media_id, attachment) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    }
    sql.push_str(" ON CONFLICT (sender_id, txn_id) DO NOTHING RETURNING id, conversation_id, seq");
    sql
}

/// Runs an insert of `rows`, noting the id of each stored one by (conversation, seq).
pub(super) fn insert_rows(
    statement: &mut Statement<'_>,
    rows: &[NewMessage],
    ids: &mut HashMap<(ConversationId, Seq), MessageId>,
) -> rusqlite::Result<()> {
    let attachments: Vec<(Option<&str>, Option<String>)> = rows
        .iter()
        .map(|row| {
            let a = row.attachment.as_ref();
            (a.map(|a| a.id.as_str()), encode_attachment(a))
        })
        .collect();
    let mut values: Vec<&dyn ToSql> = Vec::with_capacity(rows.len() * 11);
    for (row, (media_id, attachment)) in rows.iter().zip(&attachments) {
        values.extend([
            &row.id as &dyn ToSql,
            &row.conversation_id,
            &row.seq,
            &row.sender_id,
            &row.body,
            &row.created_at,
            &row.txn_id,
            &row.kind,
            &row.reply_to,
            media_id,
            attachment,
        ]);
    }
    let mut stored = statement.query(values.as_slice())?;
    while let Some(r) = stored.next()? {
        ids.insert((r.get(1)?, r.get(2)?), r.get(0)?);
    }
    Ok(())
}

/// A message as `BY_TXN` and `AT_SEQ` select it.
pub(super) fn message_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: row.get(0)?,
        conversation_id: row.get(1)?,
        seq: row.get(2)?,
        sender_id: row.get(3)?,
        body: row.get(4)?,
        created_at: row.get(5)?,
        txn_id: row.get(6)?,
        kind: row.get(7)?,
        reply_to: row.get(8)?,
        edited_at: row.get(9)?,
        deleted_at: row.get(10)?,
        reactions: decode_reactions(row.get::<_, Option<String>>(11)?.as_deref()),
        attachment: decode_attachment(row.get::<_, Option<String>>(12)?.as_deref()),
    })
}

/// The members of a stored conversation, which the schema keeps as two different users.
pub(super) fn stored_pair(low: UserId, high: UserId) -> Result<Pair, StoreError> {
    Pair::new(low, high).ok_or(StoreError::Inconsistent(
        "a conversation has one member twice",
    ))
}

/// A connection to the database file with the pool's settings.
pub(super) fn connect(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A deleted message's text is overwritten with zeros where it lay, not only
    // unlinked; the checkpoint after the delete takes the WAL's copies away.
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        },
    )?;
    Ok(conn)
}
