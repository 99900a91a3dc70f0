//! Who is online on the other nodes. Each node says when a user's first socket
//! opens there or their last closes, and every [`HEARTBEAT`] which users it holds; a
//! node not heard from for [`NODE_TIMEOUT`] is gone, with its sockets. Whenever that
//! changes whether a user is online anywhere, this node tells its own sockets of the
//! user's peers (`Chat::presence_changed_elsewhere`).

use std::{
    collections::{HashMap, HashSet},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use tokio::{sync::mpsc, task::AbortHandle};

use crate::{chat::Chat, hub::Hub, ids::UserId};

/// How often a node says which users it holds.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a silent node is believed.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(4);

pub struct Nodes {
    hub: Hub,
    nodes: Mutex<HashMap<String, Node>>,
    /// When this node last looked for silent ones: after a pause of its own (a
    /// stopped process), the others' heartbeats still wait unread, and their
    /// silence is this node's.
    looked: Mutex<Instant>,
    /// Changes to tell, in the order they happened, to the task that reads the peers.
    flips: mpsc::UnboundedSender<(UserId, bool)>,
}

struct Node {
    users: HashSet<UserId>,
    heard: Instant,
}

impl Nodes {
    /// Inside the runtime: it starts the task that tells the changes, whose handle
    /// it returns beside.
    pub fn new(chat: Chat) -> (Self, AbortHandle) {
        let (flips, mut told) = mpsc::unbounded_channel::<(UserId, bool)>();
        let hub = chat.hub().clone();
        let task = tokio::spawn(async move {
            while let Some((user_id, online)) = told.recv().await {
                if online {
                    chat.presence_changed_elsewhere(user_id, online).await;
                } else {
                    // It waits a while first; the changes after it must not.
                    let chat = chat.clone();
                    tokio::spawn(
                        async move { chat.presence_changed_elsewhere(user_id, false).await },
                    );
                }
            }
        });
        let nodes = Self {
            hub,
            nodes: Mutex::default(),
            looked: Mutex::new(Instant::now()),
            flips,
        };
        (nodes, task.abort_handle())
    }

    fn nodes(&self) -> MutexGuard<'_, HashMap<String, Node>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many other nodes were heard from lately.
    pub fn live(&self) -> usize {
        self.nodes().len()
    }

    /// A node's word on one user.
    pub fn change(&self, node: String, user_id: UserId, online: bool) {
        let flips = {
            let mut nodes = self.nodes();
            let entry = nodes.entry(node).or_insert_with(|| Node {
                users: HashSet::new(),
                heard: Instant::now(),
            });
            entry.heard = Instant::now();
            if online {
                entry.users.insert(user_id);
            } else {
                entry.users.remove(&user_id);
            }
            self.recount(&nodes, [user_id])
        };
        self.tell(flips);
    }

    /// A node's word on all its users.
    pub fn heartbeat(&self, node: String, users: Vec<UserId>) {
        let flips = {
            let mut nodes = self.nodes();
            let users: HashSet<UserId> = users.into_iter().collect();
            let before = nodes
                .insert(
                    node,
                    Node {
                        users: users.clone(),
                        heard: Instant::now(),
                    },
                )
                .map(|n| n.users)
                .unwrap_or_default();
            let changed: Vec<UserId> = before.symmetric_difference(&users).copied().collect();
            self.recount(&nodes, changed)
        };
        self.tell(flips);
    }

    /// Forgets nodes not heard from for [`NODE_TIMEOUT`]; their users go offline
    /// unless another node holds them. Called periodically.
    pub fn forget_silent(&self) {
        let paused = {
            let mut looked = self.looked.lock().unwrap_or_else(|e| e.into_inner());
            let paused = looked.elapsed() > 2 * HEARTBEAT;
            *looked = Instant::now();
            paused
        };
        if paused {
            // Heard from nobody because this node did not listen: the others get
            // their time again, counted from now.
            for node in self.nodes().values_mut() {
                node.heard = Instant::now();
            }
            return;
        }
        let flips = {
            let mut nodes = self.nodes();
            let silent: Vec<String> = nodes
                .iter()
                .filter(|(_, n)| n.heard.elapsed() > NODE_TIMEOUT)
                .map(|(id, _)| id.clone())
                .collect();
            let mut users = Vec::new();
            for id in silent {
                if let Some(node) = nodes.remove(&id) {
                    tracing::warn!(node = %id, users = node.users.len(), "a node went silent; its users are offline");
                    users.extend(node.users);
                }
            }
            self.recount(&nodes, users)
        };
        self.tell(flips);
    }

    /// Records on how many other nodes each of `users` is, and returns those whose
    /// being online anywhere changed, with what it is now.
    fn recount(
        &self,
        nodes: &HashMap<String, Node>,
        users: impl IntoIterator<Item = UserId>,
    ) -> Vec<(UserId, bool)> {
        let hub = &self.hub;
        let mut flips = Vec::new();
        for user_id in users {
            let count = nodes
                .values()
                .filter(|n| n.users.contains(&user_id))
                .count();
            let before = hub.is_online(user_id);
            hub.set_elsewhere(user_id, u32::try_from(count).unwrap_or(u32::MAX));
            let after = hub.is_online(user_id);
            if before != after {
                flips.push((user_id, after));
            }
        }
        flips
    }

    fn tell(&self, flips: Vec<(UserId, bool)>) {
        for flip in flips {
            // The teller lives as long as the runtime.
            let _ = self.flips.send(flip);
        }
    }
}
