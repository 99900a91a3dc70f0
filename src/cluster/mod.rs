//! Cluster mode: several gadka nodes behind a load balancer, one PostgreSQL holding
//! the truth and core NATS (`cluster.nats_url`) carrying what nodes tell each other.
//!
//! - Every node writes: its engine commits its own users' commands. Batches of all
//!   nodes commit one after another (each takes `stream_head`'s row lock, see
//!   `store::BatchWriter::turn`), so positions commit in order and every reader stays
//!   as simple as on one node. Each batch, numbered, goes to the other nodes over
//!   NATS, and each node hands its sockets all batches in number order (`order.rs`);
//!   a batch NATS lost makes this node's sockets resync from the database.
//! - Frames that are not changes (typing, unread, a new name) go to the other nodes
//!   as they are; presence is each node's own reckoning from what the others say
//!   (`presence.rs`).
//! - Nothing here is durable: a node that loses NATS goes on serving its own users
//!   from the database and says so in `/healthz` and its log; its sockets catch up by
//!   `resume` when it is back.

mod order;
mod presence;
mod wire;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::{sync::mpsc, task::AbortHandle};

use self::{order::Order, presence::Nodes};
use crate::{
    chat::{Chat, Fanout, NodeLink, committed::Committed},
    hub::Hub,
    ids::UserId,
    store::{Store, StoreError},
};

/// Why a node could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach NATS at {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
    #[error("cannot subscribe to {subject} on NATS: {source}")]
    Subscribe {
        subject: &'static str,
        source: async_nats::SubscribeError,
    },
    #[error("cannot read the order of batches: {0}")]
    Store(#[from] StoreError),
}

/// This node's membership of the cluster; `/healthz` reads it.
#[derive(Clone)]
pub struct Cluster {
    node: Arc<str>,
    client: async_nats::Client,
    nodes: Arc<Nodes>,
    /// What runs for the cluster, stopped by [`Cluster::leave`].
    tasks: Arc<[AbortHandle]>,
}

/// How the cluster looks from this node, for `/healthz`.
#[derive(Debug, Serialize)]
pub struct ClusterHealth {
    pub node: String,
    /// `connected` or `disconnected`.
    pub nats: &'static str,
    /// The live nodes this node knows of, itself included.
    pub nodes: usize,
}

impl Cluster {
    /// Joins the cluster whose nodes talk over `nats_url`: the engine's batches and
    /// the chat's frames and presence go to the other nodes, theirs come here. Call
    /// before the engine takes commands. A NATS server that is down at start is
    /// retried in the background; the node serves meanwhile.
    pub async fn join(
        nats_url: &str,
        chat: &Chat,
        store: &Store,
        hub: &Hub,
    ) -> Result<Self, ClusterError> {
        let node: Arc<str> = uuid::Uuid::new_v4().simple().to_string()[..12].into();
        let client = async_nats::ConnectOptions::new()
            .name(format!("gadka-{node}"))
            // A node's own batches and frames are out here already.
            .no_echo()
            .retry_on_initial_connect()
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("NATS connected"),
                    async_nats::Event::Disconnected => tracing::warn!(
                        "NATS lost: other nodes' changes reach this node's sockets when it is back, through resume"
                    ),
                    other => tracing::info!(event = %other, "NATS"),
                }
            })
            .connect(nats_url)
            .await
            .map_err(|source| ClusterError::Connect {
                url: nats_url.to_owned(),
                source,
            })?;
        let subscribe = |subject: &'static str| {
            let client = client.clone();
            async move {
                client
                    .subscribe(subject)
                    .await
                    .map_err(|source| ClusterError::Subscribe { subject, source })
            }
        };
        let mut batches = subscribe(wire::BATCHES).await?;
        let mut frames = subscribe(wire::FRAMES).await?;
        let mut presence = subscribe(wire::PRESENCE).await?;

        let (outgoing, to_send) = mpsc::unbounded_channel::<(&'static str, Bytes)>();
        let sender = spawn(send_in_order(client.clone(), to_send));

        // Subscribed first, then the head read: every batch after it comes over NATS,
        // and every one up to it is in what sockets read from the database. The
        // subscriptions are only queued until the server has them; a flush waits for
        // its answer (bounded: a NATS server that is down is retried meanwhile).
        let flushed = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::warn!(
                "NATS has not answered yet; batches of other nodes until it does resync this node's sockets"
            );
        }
        let head = store.stream_head().await?;
        let announce = {
            let node = node.clone();
            let outgoing = outgoing.clone();
            move |turn: i64, events: &[Committed]| {
                let batch = wire::Batch {
                    node: node.to_string(),
                    turn,
                    events: events.to_vec(),
                };
                send(&outgoing, wire::BATCHES, &batch);
            }
        };
        let order = Order::new(
            head,
            Fanout::new(hub.clone()),
            hub.clone(),
            Box::new(announce),
        );
        chat.engine().join_order(order.clone());
        let (nodes, teller) = Nodes::new(chat.clone());
        let nodes = Arc::new(nodes);
        let link = Arc::new(Link {
            node: node.clone(),
            outgoing,
            order: order.clone(),
            presence: Mutex::new(()),
        });
        chat.join_nodes(link.clone());

        let mut tasks = vec![teller, sender];
        let batches = {
            let order = order.clone();
            spawn(async move {
                while let Some(message) = batches.next().await {
                    match serde_json::from_slice::<wire::Batch>(&message.payload) {
                        Ok(batch) => order.arrived(batch.turn, batch.events),
                        Err(e) => unreadable("a batch", &e),
                    }
                }
            })
        };
        let frames = {
            let order = order.clone();
            spawn(async move {
                while let Some(message) = frames.next().await {
                    match serde_json::from_slice::<wire::Frame>(&message.payload) {
                        Ok(frame) => {
                            order.frame_arrived(frame.after, frame.recipients, frame.text.into());
                        }
                        Err(e) => unreadable("a frame", &e),
                    }
                }
            })
        };
        let presence = {
            let nodes = nodes.clone();
            spawn(async move {
                while let Some(message) = presence.next().await {
                    match serde_json::from_slice::<wire::Presence>(&message.payload) {
                        Ok(wire::Presence::Change {
                            node,
                            user_id,
                            online,
                        }) => nodes.change(node, user_id, online),
                        Ok(wire::Presence::Heartbeat { node, users }) => {
                            nodes.heartbeat(node, users);
                        }
                        Err(e) => unreadable("presence", &e),
                    }
                }
            })
        };
        let heartbeat = {
            let hub = hub.clone();
            let nodes = nodes.clone();
            spawn(async move {
                let mut beat = tokio::time::interval(presence::HEARTBEAT);
                loop {
                    beat.tick().await;
                    link.heartbeat(&hub);
                    nodes.forget_silent();
                }
            })
        };
        let gaps = spawn(async move {
            let mut check = tokio::time::interval(Duration::from_millis(250));
            loop {
                check.tick().await;
                order.give_up_on_gaps();
            }
        });
        tasks.extend([batches, frames, presence, heartbeat, gaps]);
        tracing::info!(node = %node, nats = nats_url, after_batch = head, "joined the cluster");
        Ok(Self {
            node,
            client,
            nodes,
            tasks: tasks.into(),
        })
    }

    /// Stops taking part: this node's tasks for the cluster end, and with them what
    /// they hold of the chat (so that its engine can stop). At shutdown.
    pub fn leave(&self) {
        for task in self.tasks.iter() {
            task.abort();
        }
    }

    pub fn health(&self) -> ClusterHealth {
        let nats = match self.client.connection_state() {
            async_nats::connection::State::Connected => "connected",
            _ => "disconnected",
        };
        ClusterHealth {
            node: self.node.to_string(),
            nats,
            nodes: self.nodes.live() + 1,
        }
    }
}

/// What the chat tells the other nodes.
struct Link {
    node: Arc<str>,
    outgoing: mpsc::UnboundedSender<(&'static str, Bytes)>,
    order: Arc<Order>,
    /// Held from reading who is here to queueing what is said of it, for a change
    /// and for a heartbeat alike: a heartbeat read before a socket opened is never
    /// queued after that socket's change, which it would contradict.
    presence: Mutex<()>,
}

impl Link {
    /// Tells the other nodes every user this node holds a socket of.
    fn heartbeat(&self, hub: &Hub) {
        let _said = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        let heartbeat = wire::Presence::Heartbeat {
            node: self.node.to_string(),
            users: hub.online_here(),
        };
        send(&self.outgoing, wire::PRESENCE, &heartbeat);
    }
}

impl NodeLink for Link {
    fn node(&self) -> &str {
        &self.node
    }

    fn frame(&self, recipients: &[UserId], text: &Utf8Bytes) {
        let frame = wire::Frame {
            node: self.node.to_string(),
            after: self.order.applied(),
            recipients: recipients.to_vec(),
            text: text.as_str().to_owned(),
        };
        send(&self.outgoing, wire::FRAMES, &frame);
    }

    fn presence(&self, user_id: UserId, online: bool) {
        let _said = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        let change = wire::Presence::Change {
            node: self.node.to_string(),
            user_id,
            online,
        };
        send(&self.outgoing, wire::PRESENCE, &change);
    }

    fn batches(&self) -> tokio::sync::watch::Receiver<i64> {
        self.order.gone_out()
    }
}

/// Spawns a task of the cluster's; its handle, to stop it.
fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) -> AbortHandle {
    tokio::spawn(task).abort_handle()
}

fn unreadable(what: &str, error: &serde_json::Error) {
    tracing::error!(error = %error, "{what} from another node that this node cannot read");
}

/// Queues a message for NATS; never waits.
fn send(
    outgoing: &mpsc::UnboundedSender<(&'static str, Bytes)>,
    subject: &'static str,
    message: &impl Serialize,
) {
    match serde_json::to_vec(message) {
        // The sender task lives as long as the runtime.
        Ok(bytes) => {
            let _ = outgoing.send((subject, bytes.into()));
        }
        Err(e) => tracing::error!(error = %e, subject, "cannot serialise a message for NATS"),
    }
}

/// Publishes what the node says, in the order it said it. While NATS is away the
/// client buffers a little and then refuses; what is refused is lost, which the
/// other nodes notice as a gap.
async fn send_in_order(
    client: async_nats::Client,
    mut to_send: mpsc::UnboundedReceiver<(&'static str, Bytes)>,
) {
    while let Some((subject, payload)) = to_send.recv().await {
        if let Err(e) = client.publish(subject, payload).await {
            tracing::debug!(error = %e, subject, "NATS refused a message");
        }
    }
}
