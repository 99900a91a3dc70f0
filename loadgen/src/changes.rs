//! The `changes` scenario: how long an edit and a reaction take, one at a time, on one
//! conversation: from the command to its answer on the acting socket (`edited`,
//! `reacted`: committed), and to the event on the peer's socket (`message_edited`,
//! `reaction`: delivered). Run it alone for the latency on an idle server, or beside a
//! `send` load for the latency under it (`loadgen/scripts/compare.sh` does both).
//!
//! It runs at a person's pace, one change in flight, so frames are parsed as JSON
//! values: the client's cost does not matter here, the server's wait does.

use std::time::Instant;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    client::{Socket, User},
    stats::{Latency, Summary},
};

/// The `changes` scenario's parameters.
#[derive(Debug, Clone)]
pub struct Options {
    /// Edits measured, and as many reactions.
    pub count: usize,
}

/// What the scenario measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub count: usize,
    /// `edit` → `edited` on the editing socket.
    pub edit_answered: Summary,
    /// `edit` → `message_edited` on the peer's socket.
    pub edit_delivered: Summary,
    /// `react` → `reacted` on the reacting socket.
    pub reaction_answered: Summary,
    /// `react` → `reaction` on the peer's socket.
    pub reaction_delivered: Summary,
}

impl Report {
    pub fn print(&self) {
        println!(
            "{} edits and {} reactions, one at a time",
            self.count, self.count
        );
        println!("{:<24} {}", "edit, answered", self.edit_answered);
        println!("{:<24} {}", "edit, delivered", self.edit_delivered);
        println!("{:<24} {}", "reaction, answered", self.reaction_answered);
        println!("{:<24} {}", "reaction, delivered", self.reaction_delivered);
    }
}

/// The next frame of type `kind` on `socket`, passing over the others.
async fn next_of(socket: &mut Socket, kind: &str) -> anyhow::Result<Value> {
    while let Some(message) = socket.next().await {
        if let Message::Text(text) = message? {
            let frame: Value = serde_json::from_str(&text).context("a JSON frame")?;
            if frame["type"] == "error" {
                bail!("the server refused a command: {frame}");
            }
            if frame["type"] == kind {
                return Ok(frame);
            }
        }
    }
    bail!("the socket closed while waiting for {kind}")
}

/// Sends `command` on `actor` and times its `answer` there and its `event` on `peer`.
async fn timed(
    actor: &mut Socket,
    peer: &mut Socket,
    command: Value,
    answer: &str,
    event: &str,
    answered: &mut Latency,
    delivered: &mut Latency,
) -> anyhow::Result<()> {
    let started = Instant::now();
    actor.send(Message::text(command.to_string())).await?;
    let (answer, event) = tokio::join!(
        async {
            let frame = next_of(actor, answer).await;
            (frame, started.elapsed())
        },
        async {
            let frame = next_of(peer, event).await;
            (frame, started.elapsed())
        }
    );
    answer.0?;
    event.0?;
    answered.record_nanos(u64::try_from(answer.1.as_nanos()).unwrap_or(u64::MAX));
    delivered.record_nanos(u64::try_from(event.1.as_nanos()).unwrap_or(u64::MAX));
    Ok(())
}

/// Runs the scenario against the server at `url`; `run_id` keeps usernames unique.
pub async fn run(url: &str, run_id: &str, options: &Options) -> anyhow::Result<Report> {
    if options.count == 0 {
        bail!("--count must be at least 1");
    }
    let editor = User::register(url, &format!("c{run_id}a")).await?;
    let peer = User::register(url, &format!("c{run_id}b")).await?;
    let conversation = editor.open(&peer).await?;
    let mut mine = editor.socket().await?;
    let mut theirs = peer.socket().await?;
    let send = json!({"type": "send", "conversation_id": conversation, "body": "changes", "txn_id": "changes-1"});
    mine.send(Message::text(send.to_string())).await?;
    let sent = next_of(&mut mine, "sent").await?;
    let seq = sent["message"]["seq"]
        .as_i64()
        .context("the message's seq")?;
    next_of(&mut theirs, "message").await?;

    let (mut edit_answered, mut edit_delivered) = (Latency::new(), Latency::new());
    let (mut reaction_answered, mut reaction_delivered) = (Latency::new(), Latency::new());
    for i in 0..options.count {
        let edit = json!({"type": "edit", "conversation_id": conversation, "seq": seq, "body": format!("edit {i}"), "req": i});
        timed(
            &mut mine,
            &mut theirs,
            edit,
            "edited",
            "message_edited",
            &mut edit_answered,
            &mut edit_delivered,
        )
        .await?;
        // On and off in turn, so that every reaction changes something and is told.
        let react = json!({"type": "react", "conversation_id": conversation, "seq": seq, "key": "👍", "on": i % 2 == 0, "req": i});
        timed(
            &mut mine,
            &mut theirs,
            react,
            "reacted",
            "reaction",
            &mut reaction_answered,
            &mut reaction_delivered,
        )
        .await?;
    }
    Ok(Report {
        count: options.count,
        edit_answered: edit_answered.summary(),
        edit_delivered: edit_delivered.summary(),
        reaction_answered: reaction_answered.summary(),
        reaction_delivered: reaction_delivered.summary(),
    })
}
