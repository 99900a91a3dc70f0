//! The two stages after the writer: the WAL sync, where a commit is not durable by
//! itself, and the publisher, which emits each committed batch's events and then
//! answers its commands, batch after batch in commit order.

use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

use tokio::sync::{broadcast, mpsc};

use super::{
    answer::Answer,
    committed::{BatchOrder, Committed, Subscriber},
};
use crate::store::WalSync;

/// A committed batch on its way out.
pub(super) struct Outgoing {
    pub(super) events: Vec<Committed>,
    pub(super) answers: Vec<Answer>,
    /// Its number in the order of every node's batches, where several may write.
    pub(super) turn: Option<i64>,
}

/// The second stage: hands each committed batch to the subscribers, then answers its
/// commands, batch after batch in commit order. It runs on the async runtime, where
/// waking the tasks that wait for answers is cheap, while the writer's thread goes on
/// with the next batch. In a cluster a batch also waits for its turn: the other
/// nodes' batches committed before it go out first, and a socket's answer (`sent`)
/// never runs ahead of a change it has not been shown yet.
pub(super) async fn publish(
    mut batches: mpsc::UnboundedReceiver<Outgoing>,
    subscribers: Vec<Arc<dyn Subscriber>>,
    stream: broadcast::Sender<Arc<[Committed]>>,
    order: Arc<OnceLock<Arc<dyn BatchOrder>>>,
) {
    while let Some(Outgoing {
        events,
        answers,
        turn,
    }) = batches.recv().await
    {
        let ordered = turn.zip(order.get());
        if let Some((turn, order)) = ordered {
            order.announce(turn, &events);
            order.my_turn(turn).await;
        }
        if !events.is_empty() {
            for subscriber in &subscribers {
                subscriber.committed(&events);
            }
            if stream.receiver_count() > 0 {
                let _ = stream.send(events.into());
            }
        }
        // Out here before its answers: whatever a caller tells the other nodes after
        // its answer (an unread summary) names this batch as gone out.
        if let Some((turn, order)) = ordered {
            order.done(turn);
        }
        for answer in answers {
            answer.give();
        }
    }
}

/// The stage between the writer and the publisher where a commit is not durable by
/// itself: one WAL sync for every batch committed since the last, then the batches go
/// on to the publisher, in commit order.
pub(super) fn sync_stage(
    mut wal: WalSync,
    mut committed: mpsc::UnboundedReceiver<Outgoing>,
    publisher: mpsc::UnboundedSender<Outgoing>,
) {
    let mut synced = Vec::new();
    while let Some(first) = committed.blocking_recv() {
        synced.push(first);
        while let Ok(more) = committed.try_recv() {
            synced.push(more);
        }
        let started = Instant::now();
        if let Err(e) = wal.sync() {
            // After a failed fsync the kernel may have dropped the dirty pages it could
            // not write, and a second fsync can report success without them (what
            // PostgreSQL learnt in 2018). Nothing unsynced may be acknowledged, so the
            // process stops; a restart recovers from what the disk holds.
            tracing::error!(error = %e, "syncing the write-ahead log failed; stopping");
            std::process::abort();
        }
        metrics::histogram!("gadka_writer_sync_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("gadka_writer_batches_per_sync").record(synced.len() as f64);
        for batch in synced.drain(..) {
            // The publisher outlives this stage, as it outlives the writer.
            let _ = publisher.send(batch);
        }
    }
}
