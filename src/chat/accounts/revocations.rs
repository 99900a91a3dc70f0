//! Sessions revoked elsewhere end their sockets here too.
//!
//! A session is revoked by logout on this node (which closes its sockets at once,
//! `Chat::logout`), but also by another process: `gadka admin user deactivate` and
//! `reset-password` write the database directly, whether a server runs or not, and
//! later several nodes will share one database. HTTP requests need nothing for that,
//! since each checks its session's row; a socket is checked only when it opens. So
//! each server polls the index on `session.revoked_at` once a second for revocations
//! newer than the newest it has seen, and closes their sockets on this node: 4001
//! "account deactivated" when the user is deactivated, else 4001 "session ended".
//! A poll that finds nothing reads one index entry.
//!
//! A revocation is stamped with its process's clock before its transaction commits,
//! so one stamped earlier can commit after one stamped later, and another machine's
//! clock may run a little behind this one's. Each poll therefore reads again the
//! last [`OVERLAP_MS`] before the newest stamp seen, and remembers which of those
//! sessions it has closed already.

use std::{collections::HashMap, time::Duration};

use super::super::{Chat, now_ms};
use crate::{
    hub::CloseReason,
    ids::UserId,
    store::{RevokedSession, StoreError},
};

/// How often the database is asked: a deactivated user's sockets close within it.
const POLL: Duration = Duration::from_secs(1);

/// How far before the newest revocation seen each poll looks again.
const OVERLAP_MS: i64 = 5_000;

/// Revocations read per query.
const PAGE: u64 = 500;

/// Where the watcher is: the newest revocation seen, and the sessions seen at most
/// [`OVERLAP_MS`] before it (closed already, not to be handled twice).
struct Watermark {
    newest: i64,
    handled: HashMap<String, i64>,
}

impl Chat {
    /// Closes the sockets of sessions revoked by other processes, within about a
    /// second, until the task is aborted (at shutdown). A failed poll is logged and
    /// tried again at the next.
    pub async fn watch_revocations(self) {
        let mut every = tokio::time::interval(POLL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Sockets open from now on; what was revoked before cannot have any.
        let mut seen = None;
        loop {
            every.tick().await;
            let result = match &mut seen {
                None => self.store().last_session_revoked_at().await.map(|newest| {
                    seen = Some(Watermark {
                        newest: newest.unwrap_or(0).min(now_ms()),
                        handled: HashMap::new(),
                    });
                }),
                Some(seen) => self.close_revoked(seen).await,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot read the revoked sessions");
            }
        }
    }

    /// One poll: every revocation since the watermark (less the overlap), a page at
    /// a time, its sockets closed.
    async fn close_revoked(&self, seen: &mut Watermark) -> Result<(), StoreError> {
        let since = seen.newest - OVERLAP_MS;
        let mut after: Option<RevokedSession> = None;
        loop {
            let page = self
                .store()
                .sessions_revoked_since(since, after.as_ref(), PAGE)
                .await?;
            let fresh: Vec<&RevokedSession> = page
                .iter()
                .filter(|s| !seen.handled.contains_key(&s.id))
                .collect();
            if !fresh.is_empty() {
                self.close_sockets(&fresh).await?;
                // A stamp from a clock ahead of this one's moves the watermark no
                // further than now, so that it cannot hide what comes after it.
                let now = now_ms();
                for session in fresh {
                    seen.newest = seen.newest.max(session.revoked_at.min(now));
                    seen.handled.insert(session.id.clone(), session.revoked_at);
                }
            }
            if (page.len() as u64) < PAGE {
                break;
            }
            after = page.into_iter().next_back();
        }
        let horizon = seen.newest - OVERLAP_MS;
        seen.handled.retain(|_, at| *at >= horizon);
        Ok(())
    }

    /// Closes the sockets of these revoked sessions on this node, saying why.
    async fn close_sockets(&self, revoked: &[&RevokedSession]) -> Result<(), StoreError> {
        let mut by_user: HashMap<UserId, Vec<&str>> = HashMap::new();
        for session in revoked {
            by_user
                .entry(session.user_id)
                .or_default()
                .push(session.id.as_str());
        }
        let deactivated: Vec<UserId> = self
            .store()
            .users(by_user.keys().copied())
            .await?
            .into_iter()
            .filter(|user| user.deactivated_at.is_some())
            .map(|user| user.id)
            .collect();
        for (user_id, sessions) in by_user {
            let reason = if deactivated.contains(&user_id) {
                CloseReason::DEACTIVATED
            } else {
                CloseReason::LOGGED_OUT
            };
            let closed = self.hub().close_sessions_of(user_id, &sessions, reason);
            if closed > 0 {
                tracing::info!(
                    user.id = user_id.get(),
                    sockets = closed,
                    reason = reason.reason,
                    "closed the sockets of revoked sessions"
                );
            }
        }
        Ok(())
    }
}
