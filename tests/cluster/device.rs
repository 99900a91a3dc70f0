//! One device of a user: a socket on one node, read as an app reads it.
//!
//! Presence is news of its own time in a cluster (each node hears of the others'
//! sockets through NATS), so a device keeps it as state, the set of peers online,
//! and hands a test every other frame in the order it came. The cursor an app keeps
//! for `resume` is kept here too: `hello.position`, raised by each message's id and
//! each event's `pos`.
//!
//! A device told to [`Device::resync`] does what the contract asks of a client whose
//! socket the server closed with 1012 ("resync", the node missed part of the
//! stream): it connects again to the same node and sends `resume {since}` from its
//! cursor. Any other close fails the test.

use std::{
    collections::{BTreeSet, VecDeque},
    net::SocketAddr,
};

use gadka_test_support::{Client, PATIENCE, Socket, TestApp};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// The close code of a socket whose node missed part of the stream.
pub const RESYNC: u16 = 1012;

pub struct Device {
    /// The node it connects to.
    addr: SocketAddr,
    /// Its user, for the cookie.
    client: Client,
    socket: Socket,
    pub hello: Value,
    /// The peers this device knows to be online: `hello.online`, then each presence frame.
    pub online: BTreeSet<i64>,
    /// Every presence frame, `(user_id, online)`, in the order they came.
    pub presence: Vec<(i64, bool)>,
    /// The cursor for `resume {since}`.
    pub position: i64,
    /// Every message this device was handed (`message` and `sent` frames), in order.
    pub delivered: Vec<Value>,
    /// How many times the server closed it with 1012 and it resumed.
    pub resyncs: usize,
    resyncing: bool,
    /// Frames read while waiting for presence, not yet handed on.
    held: VecDeque<Value>,
}

impl Device {
    /// `client`'s socket on `app`, past its `hello`.
    pub async fn open(app: &TestApp, client: &Client) -> Self {
        Self::open_at(app.addr, client).await
    }

    /// `client`'s socket on the node at `addr`, past its `hello`.
    pub async fn open_at(addr: SocketAddr, client: &Client) -> Self {
        let (socket, hello) = Socket::open(addr, client).await;
        let online = ids(&hello["online"]);
        let position = hello["position"].as_i64().expect("hello's position");
        Self {
            addr,
            client: client.at_address(addr),
            socket,
            hello,
            online,
            presence: Vec::new(),
            position,
            delivered: Vec::new(),
            resyncs: 0,
            resyncing: false,
            held: VecDeque::new(),
        }
    }

    /// From now on a close with 1012 is answered as the contract asks: connect
    /// again and resume from the cursor.
    pub fn resync(mut self) -> Self {
        self.resyncing = true;
        self
    }

    /// Sends a frame on the socket.
    pub async fn send(&mut self, frame: Value) {
        self.socket.send(frame).await;
    }

    /// The next frame that is not presence, whatever it is (presence frames update
    /// [`Device::online`] on the way).
    pub async fn next(&mut self) -> Value {
        if let Some(frame) = self.held.pop_front() {
            return frame;
        }
        loop {
            let frame = self.read().await;
            if frame["type"] != "presence" {
                return frame;
            }
        }
    }

    /// The next frame that is not presence, which must be of type `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let frame = self.next().await;
        assert_eq!(
            frame["type"],
            kind,
            "{}: expected a {kind} frame, got {frame}",
            self.who()
        );
        frame
    }

    /// The next `count` frames that are not presence.
    pub async fn next_frames(&mut self, count: usize) -> Vec<Value> {
        let mut frames = Vec::new();
        for _ in 0..count {
            frames.push(self.next().await);
        }
        frames
    }

    /// Reads until this device knows `user_id` to be online (or offline), keeping the
    /// other frames for [`Device::next`]; fails after [`PATIENCE`].
    pub async fn until_online(&mut self, user_id: i64, online: bool) {
        let deadline = Instant::now() + PATIENCE;
        while self.online.contains(&user_id) != online {
            let frame = match tokio::time::timeout_at(deadline, self.read()).await {
                Ok(frame) => frame,
                Err(_) => panic!(
                    "{}: waited {PATIENCE:?} to see user {user_id} {}; presence frames seen: {:?}",
                    self.who(),
                    if online { "online" } else { "offline" },
                    self.presence
                ),
            };
            if frame["type"] != "presence" {
                self.held.push_back(frame);
            }
        }
    }

    /// Every frame that is not presence up to the message `id`, which is not among
    /// them: what came before it. For a message sent after some changes, this is
    /// what the changes still brought, and nothing should remain.
    pub async fn up_to_message(&mut self, id: &Value) -> Vec<Value> {
        let mut before = Vec::new();
        loop {
            let frame = self.next().await;
            if frame["type"] == "message" && &frame["message"]["id"] == id {
                return before;
            }
            before.push(frame);
        }
    }

    /// Reads (and hands back) frames until `done` holds for the device, failing after
    /// [`PATIENCE`] with `what` and what it had.
    pub async fn until(&mut self, what: &str, done: impl Fn(&Self) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        let mut frames = Vec::new();
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(frame) => frames.push(frame),
                Err(_) => panic!(
                    "{}: waited {PATIENCE:?} for {what}; it was handed {} messages (seqs {:?}) \
                     and resumed {} times",
                    self.who(),
                    self.delivered.len(),
                    self.delivered
                        .iter()
                        .map(|m| m["seq"].clone())
                        .collect::<Vec<_>>(),
                    self.resyncs
                ),
            }
        }
        frames
    }

    /// Sends `resume {since}` as a client that connected again does, and reads the
    /// replay up to the `unread` that ends it; the frames before that `unread`.
    pub async fn resume(&mut self, since: i64, req: &str) -> Vec<Value> {
        self.send(json!({"type": "resume", "since": since, "req": req}))
            .await;
        let mut replay = Vec::new();
        loop {
            let frame = self.next().await;
            if frame["type"] == "unread" && frame["req"] == req {
                return replay;
            }
            replay.push(frame);
        }
    }

    /// Reads what the node sent until the connection ended (a node that died),
    /// noting it as any frame; the frames that were not presence.
    pub async fn until_gone(&mut self) -> Vec<Value> {
        let mut frames: Vec<Value> = self.held.drain(..).collect();
        loop {
            match self.socket.try_next().await {
                Some(Message::Text(text)) => {
                    let frame: Value = serde_json::from_str(&text).expect("a JSON frame");
                    self.note(&frame);
                    if frame["type"] != "presence" {
                        frames.push(frame);
                    }
                }
                Some(Message::Close(_)) | None => return frames,
                Some(_) => continue,
            }
        }
    }

    /// Closes the socket as a client does.
    pub async fn close(self) {
        self.socket.close().await;
    }

    /// Proves that nothing is waiting on this node for this socket (a ping barrier,
    /// see `Socket::drain`); the frames that were, presence included.
    pub async fn drain(&mut self) -> Vec<Value> {
        let mut frames: Vec<Value> = self.held.drain(..).collect();
        for frame in self.socket.drain().await {
            self.note(&frame);
            frames.push(frame);
        }
        frames
    }

    fn who(&self) -> String {
        format!(
            "{}'s socket on {}",
            self.client.user["username"].as_str().unwrap_or("?"),
            self.addr
        )
    }

    /// The next text frame off the socket, noted; a close with 1012 resumes when
    /// allowed; any other close fails the test.
    async fn read(&mut self) -> Value {
        loop {
            match self.socket.try_next().await {
                Some(Message::Text(text)) => {
                    let frame: Value = serde_json::from_str(&text).expect("a JSON frame");
                    self.note(&frame);
                    return frame;
                }
                Some(Message::Close(Some(close)))
                    if self.resyncing && u16::from(close.code) == RESYNC =>
                {
                    self.reconnect().await;
                }
                Some(Message::Close(close)) => {
                    panic!("{}: the server closed the socket: {close:?}", self.who())
                }
                Some(_) => continue,
                None => panic!("{}: the connection ended without a close frame", self.who()),
            }
        }
    }

    /// Connects again and asks for everything after the cursor; the replay and its
    /// closing `unread` are read as any other frames.
    async fn reconnect(&mut self) {
        self.resyncs += 1;
        let (socket, hello) = Socket::open(self.addr, &self.client).await;
        self.socket = socket;
        // Presence is state: the new hello says it as it is now.
        self.online = ids(&hello["online"]);
        self.hello = hello;
        let req = format!("resync-{}", self.resyncs);
        self.socket
            .send(json!({"type": "resume", "since": self.position, "req": req}))
            .await;
    }

    /// What a frame tells the device: presence, the cursor, a message handed over.
    fn note(&mut self, frame: &Value) {
        match frame["type"].as_str() {
            Some("presence") => {
                let user = frame["user_id"].as_i64().expect("a presence's user");
                let online = frame["online"].as_bool().expect("a presence's state");
                self.presence.push((user, online));
                if online {
                    self.online.insert(user);
                } else {
                    self.online.remove(&user);
                }
            }
            Some("message") | Some("sent") => {
                let message = &frame["message"];
                self.raise(message["id"].as_i64());
                self.delivered.push(message.clone());
            }
            _ => self.raise(frame["pos"].as_i64()),
        }
    }

    fn raise(&mut self, position: Option<i64>) {
        if let Some(position) = position {
            self.position = self.position.max(position);
        }
    }
}

/// A JSON array of user ids as a set.
fn ids(list: &Value) -> BTreeSet<i64> {
    list.as_array()
        .expect("a list of user ids")
        .iter()
        .map(|id| id.as_i64().expect("a user id"))
        .collect()
}
