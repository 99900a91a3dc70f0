//! The other nodes of a cluster, as the rules see them: what this node tells them
//! besides its committed batches (which go through `committed::BatchOrder`).
//!
//! Frames that are not changes (typing, an unread summary, a new name's
//! announcement) are handed on as they are, for the recipients' sockets there.
//! Presence is not: each node tells it to its own sockets from what every node says
//! its users are (a user is online while any node holds a socket of theirs), so a
//! user who moves from one node to another never shows as gone in between.

use axum::extract::ws::Utf8Bytes;
use tokio::sync::watch;

use super::super::{Chat, events::Event};
use crate::ids::UserId;

/// How long a user who left a node is given before their peers are told they went
/// offline. Nodes speak over NATS each on its own, so the word that the user opened a
/// socket on another node (moving there) can come after the word that they left this
/// one, on this node or on the one that tells their peers.
pub(crate) const MOVING: std::time::Duration = std::time::Duration::from_millis(1500);

/// The link to the other nodes (`cluster/`). Called inline; must never wait.
pub trait NodeLink: Send + Sync + 'static {
    /// This node's name in the cluster, unique to this process.
    fn node(&self) -> &str;

    /// A frame for the sockets of `recipients` on the other nodes.
    fn frame(&self, recipients: &[UserId], text: &Utf8Bytes);

    /// The user's first socket on this node opened (`true`), or their last closed.
    fn presence(&self, user_id: UserId, online: bool);

    /// The last batch, this node's or another's, that went out on this node: it
    /// changes with each.
    fn batches(&self) -> watch::Receiver<i64>;
}

impl Chat {
    /// Makes this node one of a cluster's: frames and presence reach the other nodes
    /// through `link`. Once, at start.
    pub fn join_nodes(&self, link: std::sync::Arc<dyn NodeLink>) {
        if self.inner.node_link.set(link).is_err() {
            tracing::error!("the chat joined a cluster twice");
        }
    }

    pub(super) fn node_link(&self) -> Option<&dyn NodeLink> {
        self.inner.node_link.get().map(|link| &**link)
    }

    /// This node's name, when it is one of a cluster's.
    pub fn cluster_node(&self) -> Option<&str> {
        self.node_link().map(NodeLink::node)
    }

    /// Changes with every batch of the cluster that goes out on this node, when it is
    /// one of a cluster's (the engine's own events tell only this node's).
    pub fn cluster_batches(&self) -> Option<watch::Receiver<i64>> {
        self.node_link().map(NodeLink::batches)
    }

    /// Another node's word changed whether `user_id` is online anywhere: tells the
    /// sockets on this node of the people who share a conversation with them. Going
    /// offline is told only if it still holds after [`MOVING`].
    pub async fn presence_changed_elsewhere(&self, user_id: UserId, online: bool) {
        if !online {
            tokio::time::sleep(MOVING).await;
            if self.hub().is_online(user_id) {
                return;
            }
        }
        match self.store().peers_of(user_id).await {
            Ok(peers) => self.hub().deliver(
                &peers,
                &Event::Presence { user_id, online }.delivery(),
                None,
            ),
            Err(e) => {
                tracing::warn!(error = %e, user.id = user_id.get(), "cannot tell a presence change")
            }
        }
    }
}
