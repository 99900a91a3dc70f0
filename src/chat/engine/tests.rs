//! The writer on a real SQLite file, driven one batch at a time: a test hands it
//! the commands of a batch, then reads the answers.

use super::*;
use crate::{
    chat::views::Posted,
    config::Durability,
    ids::{ConversationId, UserId},
    store::{NewUser, OutboxEntry},
};

struct Setup {
    _dir: tempfile::TempDir,
    store: Store,
    writer: Writer,
    events: broadcast::Receiver<Arc<[Committed]>>,
}

type Answer<T> = oneshot::Receiver<Result<T, ChatError>>;

async fn setup(users: &[&str]) -> (Setup, Vec<UserId>) {
    setup_with(users, Vec::new()).await
}

async fn setup_with(users: &[&str], hooks: Vec<Arc<dyn TxnHook>>) -> (Setup, Vec<UserId>) {
    let (dir, store) = Store::temporary(Durability::Full).await;
    let mut ids = Vec::new();
    for name in users {
        let user = store
            .create_user(NewUser {
                username: name,
                display_name: name,
                password_hash: "",
                created_at: 0,
            })
            .await
            .expect("insert")
            .expect("a new user");
        ids.push(user.id);
    }
    let (engine, writer) = Engine::new(
        &store,
        EngineConfig {
            batch: 64,
            queue: 64,
            subscribers: Vec::new(),
            hooks,
        },
    )
    .expect("a writer");
    let events = engine.subscribe();
    (
        Setup {
            _dir: dir,
            store,
            writer,
            events,
        },
        ids,
    )
}

impl Setup {
    fn send(sender_id: UserId, to: SendTo, txn_id: Option<&str>) -> (Command, Answer<SendOutcome>) {
        let (reply, answer) = oneshot::channel();
        let command = Command::Send {
            sender_id,
            to,
            body: "hej".into(),
            txn_id: txn_id.map(str::to_owned),
            kind: MessageKind::Message,
            reply_to: None,
            attachment: None,
            origin: None,
            reply,
        };
        (command, answer)
    }

    /// Commits `commands` in one batch.
    fn batch(&mut self, commands: impl IntoIterator<Item = Command>) {
        self.writer.run_batch(commands.into_iter().collect());
    }

    async fn open(&mut self, user_id: UserId, peer_id: UserId) -> ConversationId {
        let (reply, answer) = oneshot::channel();
        self.batch([Command::Open {
            user_id,
            peer_id,
            reply,
        }]);
        answered(answer.await).expect("opened").0
    }
}

fn new_message(outcome: Result<SendOutcome, ChatError>) -> Arc<Posted> {
    match outcome {
        Ok(SendOutcome::New(message)) => message,
        other => panic!("expected a new message, got {other:?}"),
    }
}

#[tokio::test]
async fn a_txn_id_retried_inside_one_batch_is_stored_once() {
    let (mut s, ids) = setup(&["ann", "bob"]).await;
    let (ann, bob) = (ids[0], ids[1]);
    let (c1, first) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
    let (c2, again) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
    let (c3, other) = Setup::send(ann, SendTo::User(bob), Some("t-2"));
    s.batch([c1, c2, c3]);

    let first = new_message(first.await.expect("answered"));
    match again.await.expect("answered") {
        Ok(SendOutcome::Repeat(message)) => assert_eq!(message, first),
        other => panic!("expected the first message again, got {other:?}"),
    }
    let other = new_message(other.await.expect("answered"));
    assert_eq!((first.seq.get(), other.seq.get()), (1, 2));

    // And across batches: the stored original, unchanged.
    let (c4, later) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
    s.batch([c4]);
    match later.await.expect("answered") {
        Ok(SendOutcome::Duplicate(row)) => assert_eq!(row.id, first.id),
        other => panic!("expected the stored message, got {other:?}"),
    }
    let stored = s
        .store
        .messages_before(first.conversation_id, None, 10)
        .await
        .expect("read");
    assert_eq!(stored.len(), 2, "{stored:?}");
}

/// The insert itself finds a retried `txn_id` (there is no look-up before it): the
/// batch runs again without that send, so the sends around it keep gapless `seq`s.
#[tokio::test]
async fn a_retry_among_new_sends_leaves_no_gap_in_seq() {
    let (mut s, ids) = setup(&["ann", "bob"]).await;
    let (ann, bob) = (ids[0], ids[1]);
    let (c1, first) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
    s.batch([c1]);
    let first = new_message(first.await.expect("answered"));

    let (c2, before) = Setup::send(bob, SendTo::User(ann), Some("b-1"));
    let (c3, retried) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
    let (c4, retried_again) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
    let (c5, after) = Setup::send(ann, SendTo::User(bob), Some("t-2"));
    s.batch([c2, c3, c4, c5]);

    for answer in [retried, retried_again] {
        match answer.await.expect("answered") {
            Ok(SendOutcome::Duplicate(row)) => {
                assert_eq!((row.id, row.seq), (first.id, first.seq))
            }
            other => panic!("expected the stored original, got {other:?}"),
        }
    }
    let before = new_message(before.await.expect("answered"));
    let after = new_message(after.await.expect("answered"));
    assert_eq!(
        (first.seq.get(), before.seq.get(), after.seq.get()),
        (1, 2, 3)
    );
    let stored = s
        .store
        .messages_before(first.conversation_id, None, 10)
        .await
        .expect("read");
    let mut seqs: Vec<i64> = stored.iter().map(|m| m.seq.get()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2, 3], "{stored:?}");
}

#[tokio::test]
async fn one_bad_command_fails_alone_and_never_its_batch() {
    let (mut s, ids) = setup(&["ann", "bob", "cid"]).await;
    let (ann, bob, cid) = (ids[0], ids[1], ids[2]);
    let ann_bob = s.open(ann, bob).await;
    let _ = s.events.recv().await;

    let (c1, good) = Setup::send(ann, SendTo::Conversation(ann_bob), None);
    // cid is not in ann and bob's conversation; 999 is no one; nor is one's self.
    let (c2, intruder) = Setup::send(cid, SendTo::Conversation(ann_bob), None);
    let (c3, nobody) = Setup::send(ann, SendTo::User(UserId::new(999)), None);
    let (c4, alone) = Setup::send(ann, SendTo::User(ann), None);
    let (c5, also_good) = Setup::send(bob, SendTo::Conversation(ann_bob), None);
    s.batch([c1, c2, c3, c4, c5]);

    assert_eq!(new_message(good.await.expect("answered")).seq.get(), 1);
    assert!(matches!(
        intruder.await.expect("answered"),
        Err(ChatError::NotFound("conversation"))
    ));
    assert!(matches!(
        nobody.await.expect("answered"),
        Err(ChatError::NotFound("user"))
    ));
    assert!(matches!(
        alone.await.expect("answered"),
        Err(ChatError::Invalid { .. })
    ));
    assert_eq!(new_message(also_good.await.expect("answered")).seq.get(), 2);

    // One batch, one slice of events, in commit order, with nothing of the refused.
    let events = s.events.recv().await.expect("the batch's events");
    let ids: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            Committed::Message { message, .. } => Some(message.seq.get()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, [1, 2]);
}

#[tokio::test]
async fn sends_to_a_new_pair_in_one_batch_create_one_conversation() {
    let (mut s, ids) = setup(&["ann", "bob"]).await;
    let (ann, bob) = (ids[0], ids[1]);
    let (c1, a) = Setup::send(ann, SendTo::User(bob), None);
    let (c2, b) = Setup::send(bob, SendTo::User(ann), None);
    s.batch([c1, c2]);
    let a = new_message(a.await.expect("answered"));
    let b = new_message(b.await.expect("answered"));
    assert_eq!(a.conversation_id, b.conversation_id);
    assert_eq!((a.seq.get(), b.seq.get()), (1, 2));
    let events = s.events.recv().await.expect("the batch's events");
    assert!(matches!(
        events.first(),
        Some(Committed::Conversation { members, .. }) if members.members() == [ann, bob]
    ));
    assert_eq!(events.len(), 3);
}

/// Outboxes every message, as the bridge will.
struct EveryMessage;

impl TxnHook for EveryMessage {
    fn rows(&self, event: &Committed, rows: &mut Vec<OutboxEntry>) {
        if let Committed::Message { message, .. } = event {
            rows.push(OutboxEntry {
                topic: "test",
                payload: message.id.to_string(),
            });
        }
    }
}

#[tokio::test]
async fn a_hook_s_rows_commit_with_the_batch() {
    let (mut s, ids) = setup_with(&["ann", "bob", "cid"], vec![Arc::new(EveryMessage)]).await;
    let (ann, bob, cid) = (ids[0], ids[1], ids[2]);
    let ann_bob = s.open(ann, bob).await;
    let (commands, answers): (Vec<_>, Vec<_>) = [
        Setup::send(ann, SendTo::Conversation(ann_bob), None),
        Setup::send(cid, SendTo::Conversation(ann_bob), None),
        Setup::send(bob, SendTo::Conversation(ann_bob), None),
    ]
    .into_iter()
    .unzip();
    s.batch(commands);
    let mut committed = Vec::new();
    for answer in answers {
        if let Ok(SendOutcome::New(message)) = answer.await.expect("answered") {
            committed.push(message.id.to_string());
        }
    }
    let outbox: Vec<String> = s
        .store
        .outbox_after("test", 0, 100)
        .await
        .expect("read")
        .into_iter()
        .map(|row| row.payload)
        .collect();
    assert_eq!(committed.len(), 2);
    assert_eq!(
        outbox, committed,
        "one row per committed message, none for the refused"
    );
}

#[tokio::test]
async fn the_wal_starts_over_under_a_steady_load() {
    let (mut s, ids) = setup(&["ann", "bob"]).await;
    let (ann, bob) = (ids[0], ids[1]);
    let ann_bob = s.open(ann, bob).await;
    let body = "x".repeat(1000);
    // 100 MB of messages, more than what the WAL may hold before it starts over.
    for _ in 0..1_000 {
        let commands = (0..100).map(|_| {
            let (reply, _) = oneshot::channel();
            Command::Send {
                sender_id: ann,
                to: SendTo::Conversation(ann_bob),
                body: body.clone(),
                txn_id: None,
                kind: MessageKind::Message,
                reply_to: None,
                attachment: None,
                origin: None,
                reply,
            }
        });
        s.batch(commands);
    }
    // At most the frames after which the writer checkpoints itself, and one batch's.
    let page = i64::from(crate::store::SQLITE_PAGE_SIZE);
    let most = (crate::store::WAL_RESTART_BYTES / page + 200) * (page + 24);
    let wal = std::fs::metadata(s._dir.path().join("t.db-wal")).expect("a WAL file");
    assert!(
        wal.len() < most as u64,
        "the WAL grew to {} bytes, over {most}",
        wal.len()
    );
}

#[tokio::test]
async fn a_profile_change_is_an_event_in_commit_order() {
    let (mut s, ids) = setup(&["ann", "bob"]).await;
    let (ann, bob) = (ids[0], ids[1]);
    let (c1, sent) = Setup::send(ann, SendTo::User(bob), None);
    let (reply, renamed) = oneshot::channel();
    let c2 = Command::Profile {
        user_id: ann,
        display_name: "Ann B.".into(),
        reply,
    };
    let (reply, nobody) = oneshot::channel();
    let c3 = Command::Profile {
        user_id: UserId::new(999),
        display_name: "Ghost".into(),
        reply,
    };
    s.batch([c1, c2, c3]);
    new_message(sent.await.expect("answered"));
    let user = answered(renamed.await).expect("renamed");
    assert_eq!(user.display_name, "Ann B.");
    assert!(matches!(
        answered(nobody.await),
        Err(ChatError::NotFound("user"))
    ));
    let events = s.events.recv().await.expect("the batch's events");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Committed::Conversation { .. } => "conversation",
            Committed::Message { .. } => "message",
            Committed::Profile { .. } => "profile",
            Committed::Marker { .. } => "marker",
            _ => "a change to a message",
        })
        .collect();
    assert_eq!(kinds, ["conversation", "message", "profile"]);
}

#[tokio::test]
async fn a_group_commits_whole_in_one_batch_with_its_key() {
    let (mut s, ids) = setup(&["ann", "bob"]).await;
    let (ann, bob) = (ids[0], ids[1]);
    let ann_bob = s.open(ann, bob).await;
    let _ = s.events.recv().await;
    // A batch of one command still takes the whole group, and its key.
    s.writer.batch = 1;
    let (c1, first) = Setup::send(ann, SendTo::Conversation(ann_bob), Some("e1"));
    let (c2, second) = Setup::send(bob, SendTo::Conversation(ann_bob), Some("e2"));
    let (c3, refused) = Setup::send(
        ann,
        SendTo::Conversation(ConversationId::new(999)),
        Some("e3"),
    );
    let (reply, grouped) = oneshot::channel();
    let mut commands = Vec::new();
    unpack(
        Command::Group {
            key: "k1".into(),
            commands: vec![c1, c2, c3],
            reply,
        },
        &mut commands,
    );
    assert_eq!(commands.len(), 4, "three commands and the key");
    assert!(!s.store.group_key_recorded("k1").await.expect("read"));
    s.batch(commands);

    answered(grouped.await).expect("the group committed");
    assert_eq!(new_message(first.await.expect("answered")).seq.get(), 1);
    assert_eq!(new_message(second.await.expect("answered")).seq.get(), 2);
    assert!(matches!(
        refused.await.expect("answered"),
        Err(ChatError::NotFound("conversation"))
    ));
    assert!(s.store.group_key_recorded("k1").await.expect("read"));
    let events = s.events.recv().await.expect("the batch's events");
    assert_eq!(events.len(), 2, "both messages in one commit");
    let forgotten = s.store.forget_group_keys_before(i64::MAX).await;
    assert_eq!(forgotten.expect("deleted"), 1);
    assert!(!s.store.group_key_recorded("k1").await.expect("read"));
}
