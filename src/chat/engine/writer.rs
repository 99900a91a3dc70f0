//! The writer: one thread that takes whatever is queued, up to `limits.writer_batch`
//! commands, and runs the pipeline once per batch (see the module above).

use std::{collections::HashMap, sync::Arc, time::Instant};

use tokio::sync::mpsc;

use super::{
    Command, answer, batch_failed,
    cache::MemberCache,
    committed::TxnHook,
    plan,
    stages::Outgoing,
    transact::{self, Attempt},
    unpack,
};
use crate::{chat::now_ms, store::BatchWriter};

pub(super) struct Writer {
    db: Box<dyn BatchWriter>,
    commands: mpsc::Receiver<Command>,
    /// The most commands one transaction commits.
    pub(super) batch: usize,
    hooks: Vec<Arc<dyn TxnHook>>,
    /// Committed batches, to the publisher (through the sync stage, when there is
    /// one). Unbounded, yet bounded in practice: each entry answers commands that
    /// senders are still waiting for, and every sender has a bounded number of those
    /// in flight.
    published: mpsc::UnboundedSender<Outgoing>,
    /// The thread that makes committed batches durable before they go out, where a
    /// commit is not durable by itself (see `store::WalSync`).
    sync_stage: Option<std::thread::JoinHandle<()>>,
    cache: MemberCache,
}

impl Writer {
    pub(super) fn new(
        db: Box<dyn BatchWriter>,
        commands: mpsc::Receiver<Command>,
        batch: usize,
        hooks: Vec<Arc<dyn TxnHook>>,
        published: mpsc::UnboundedSender<Outgoing>,
        sync_stage: Option<std::thread::JoinHandle<()>>,
    ) -> Self {
        Self {
            db,
            commands,
            batch: batch.max(1),
            hooks,
            published,
            sync_stage,
            cache: MemberCache::default(),
        }
    }

    /// Runs batch after batch until every handle is dropped and the queue is drained.
    pub(super) fn run(mut self) {
        let mut commands = Vec::with_capacity(self.batch);
        while let Some(first) = self.commands.blocking_recv() {
            unpack(first, &mut commands);
            while commands.len() < self.batch {
                match self.commands.try_recv() {
                    Ok(command) => unpack(command, &mut commands),
                    Err(_) => break,
                }
            }
            metrics::gauge!("gadka_writer_queue_depth").set(self.commands.len() as f64);
            metrics::histogram!("gadka_writer_batch_size").record(commands.len() as f64);
            let started = Instant::now();
            self.run_batch(std::mem::take(&mut commands));
            metrics::histogram!("gadka_writer_commit_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        // The last batches are answered once the sync stage has synced them.
        let Writer {
            published,
            sync_stage,
            ..
        } = self;
        drop(published);
        if let Some(stage) = sync_stage
            && stage.join().is_err()
        {
            tracing::error!("the WAL's sync thread panicked");
        }
        tracing::debug!("message writer stopped");
    }

    /// One transaction: the reads the plan needs, the plan, the writes, the commit;
    /// then the events and the answers.
    pub(super) fn run_batch(&mut self, commands: Vec<Command>) {
        let db = &mut *self.db;
        let cache = &mut self.cache;
        let reads = db.begin().and_then(|()| {
            cache.load_conversations(db, &commands)?;
            cache.missing_peers(db, &commands)
        });
        let missing_peers = match reads {
            Ok(found) => found,
            Err(e) => {
                self.db.rollback();
                let error = batch_failed(&e);
                for command in commands {
                    command.fail(&error);
                }
                return;
            }
        };
        let planned = plan::plan(&self.cache, commands, &missing_peers);
        let now = now_ms();
        let mut created = HashMap::new();
        // Sends whose `txn_id` turned out to be stored already: the batch is run again
        // without them, so that `seq`s stay gapless, and they are answered with the
        // original. Each round takes out at least one, so this ends.
        let mut stored_before = Vec::new();
        let outcome = loop {
            match transact::transact(
                &mut *self.db,
                &self.hooks,
                &planned,
                now,
                &mut created,
                &stored_before,
            ) {
                Ok(Attempt::Conflicted(more)) => {
                    self.db.rollback();
                    created.clear();
                    stored_before.extend(more);
                    if let Err(e) = self.db.begin() {
                        break Err(e);
                    }
                }
                Ok(Attempt::Committed(done, events)) => break Ok((done, events)),
                Err(e) => break Err(e),
            }
        };
        match outcome {
            Ok((done, events)) => {
                for (pair, id) in &created {
                    self.cache.remember(*id, *pair);
                }
                let turn = self.db.turn();
                let answers = answer::answers(&mut *self.db, planned, done, &created);
                // The publisher outlives the writer (it stops when this sender is
                // dropped), so this only fails while the runtime shuts down.
                let _ = self.published.send(Outgoing {
                    events,
                    answers,
                    turn,
                });
            }
            Err(e) => {
                self.db.rollback();
                let error = batch_failed(&e);
                for p in planned {
                    p.fail(&error);
                }
            }
        }
    }
}
