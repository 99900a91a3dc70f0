//! The hot path of a message, piece by piece: parsing the client's `send` frame,
//! serialising the `message` event and the `sent` reply, and the engine's batch
//! insert on a real SQLite file (one transaction of 256 messages, as under load).
//!
//! `cargo bench --bench hot_path`; figures are in BENCHMARKS.md.

use std::{hint::black_box, sync::Arc};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gadka::{
    chat::{
        events::Event,
        views::{Message, Posted},
    },
    config::Durability,
    ids::{ConversationId, MessageId, Pair, Seq, UserId},
    store::{MessageKind, NewMessage, NewUser, Store},
    ws::frames::{self, Reply},
};

const SEND: &str = r#"{"type":"send","to_user":42,"body":"Hej! Masz chwilę? Chciałem zapytać o jutrzejsze spotkanie o dziesiątej.","txn_id":"c-1764171234-17","req":17}"#;

fn message() -> Message {
    Message {
        id: MessageId::new(123_456),
        conversation_id: ConversationId::new(77),
        seq: Seq::new(4_321),
        sender_id: UserId::new(42),
        body: "Hej! Masz chwilę? Chciałem zapytać o jutrzejsze spotkanie o dziesiątej.".into(),
        created_at: "2026-11-26T17:30:00.123Z".into(),
        read: false,
        txn_id: Some("c-1764171234-17".into()),
        kind: MessageKind::Message,
        reply_to: None,
        edited_at: None,
        deleted: false,
        reactions: Vec::new(),
        attachment: None,
    }
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frames");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse send", |b| {
        b.iter(|| frames::parse(black_box(SEND)).map(|(req, _)| req.is_some()))
    });
    group.bench_function("serialise message event", |b| {
        b.iter_batched(
            || Arc::new(Posted::new(message())),
            |message| Event::Message { message }.delivery(),
            BatchSize::SmallInput,
        )
    });
    // In the server the event has written the message's JSON by the time the sender
    // is answered, so the reply only embeds it.
    let message = Posted::new(message());
    message.json();
    let req = serde_json::value::RawValue::from_string("17".into()).expect("raw JSON");
    group.bench_function("serialise sent reply", |b| {
        b.iter(|| {
            Reply::Sent {
                req: Some(&req),
                txn_id: Some("c-1764171234-17"),
                message: black_box(&message),
            }
            .to_json()
        })
    });
    group.finish();
}

fn batch_insert(c: &mut Criterion) {
    const BATCH: usize = 256;
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let (store, users) = runtime.block_on(async {
        let store = Store::connect(&url, Durability::Full)
            .await
            .expect("a database");
        let mut users = Vec::new();
        for i in 0..17 {
            let name = format!("user{i}");
            let user = store
                .create_user(NewUser {
                    username: &name,
                    display_name: &name,
                    password_hash: "",
                    created_at: 0,
                })
                .await
                .expect("insert")
                .expect("new");
            users.push(user.id);
        }
        (store, users)
    });
    let _entered = runtime.enter();
    let mut writer = store.batch_writer().expect("a batch writer");
    writer.begin().expect("begin");
    let conversations: Vec<(ConversationId, UserId)> = users[1..]
        .iter()
        .map(|peer| {
            let pair = Pair::new(users[0], *peer).expect("two users");
            let (id, _) = writer.create_conversation(pair, 0).expect("create");
            (id, *peer)
        })
        .collect();
    writer.commit().expect("commit");
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    let mut txn = 0u64;
    group.bench_function(format!("batch of {BATCH} into 16 conversations"), |b| {
        b.iter_batched(
            || {
                txn += 1;
                txn
            },
            |txn| {
                writer.begin().expect("begin");
                let per_conversation = (BATCH / conversations.len()) as i64;
                let counts: Vec<(ConversationId, i64)> = conversations
                    .iter()
                    .map(|(id, _)| (*id, per_conversation))
                    .collect();
                let reserved = writer.reserve_seqs(&counts, 0).expect("reserve");
                let mut positions = writer.positions(BATCH).expect("positions").into_iter();
                let rows: Vec<NewMessage> = reserved
                    .iter()
                    .zip(&conversations)
                    .flat_map(|((id, last), (_, sender))| {
                        (last.get() - per_conversation + 1..=last.get())
                            .map(move |seq| (*id, *sender, seq))
                    })
                    .map(|(id, sender, seq)| {
                        let position = positions.next().expect("a position per message");
                        NewMessage {
                            id: MessageId::new(position.get()),
                            reply_to: None,
                            conversation_id: id,
                            seq: Seq::new(seq),
                            sender_id: sender,
                            body: "Hej! Masz chwilę? Chciałem zapytać o jutrzejsze spotkanie."
                                .into(),
                            txn_id: Some(format!("b{txn}-{id}-{seq}")),
                            created_at: 0,
                            kind: MessageKind::Message,
                            attachment: None,
                        }
                    })
                    .collect();
                let stored = writer.insert_messages(rows).expect("insert");
                writer.commit().expect("commit");
                assert_eq!(stored.len(), BATCH);
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, frames, batch_insert);
criterion_main!(benches);
