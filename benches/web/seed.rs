//! The benchmark's data: one user with 300 conversations, one of which holds 5,000
//! messages both ways, put on the server the way clients would (register, open,
//! send, read), so that it works on any gadka, in-process or running elsewhere.
//!
//! Every seeded user has the same password ([`PASSWORD`]) and a username under one
//! tag (`<tag>-me`, `<tag>-p000` …), so a seed is found again by its tag alone
//! (`--tag`). The conversation with `<tag>-p000` is the big one; it is seeded last, so
//! it is the newest in the list. The others hold 2 to 10 messages each, and every
//! third of them ends with 1 to 4 messages the user has not read. Bodies and the turns
//! of who writes come from a fixed pseudo-random sequence, so two seeds are alike.
//! All messages are from today: the API cannot backdate them.

use std::time::Instant;

use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::json;

use crate::account::Account;

/// The password of every seeded user.
pub const PASSWORD: &str = "gadka-bench-password";
/// Conversations of the bench user.
pub const CONVERSATIONS: usize = 300;
/// Messages in the big conversation.
pub const BIG_CHAT: usize = 5_000;
/// Registrations and conversations seeded at once.
const CONCURRENCY: usize = 8;

/// What the measuring needs of a seed: the user whose browser is measured, the peer
/// of the big conversation, and that conversation.
pub struct World {
    pub tag: String,
    pub me: Account,
    pub peer: Account,
    pub big_chat: i64,
}

fn me_name(tag: &str) -> String {
    format!("{tag}-me")
}

fn peer_name(tag: &str, index: usize) -> String {
    format!("{tag}-p{index:03}")
}

/// A tag for a new seed: a username prefix no other seed has.
pub fn new_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
    format!("bench{:06x}", nanos & 0xff_ffff)
}

/// Finds the seed `tag` on the server at `base` again (two logins).
pub async fn existing(base: &str, tag: &str) -> anyhow::Result<World> {
    let me = Account::login(base, &me_name(tag), PASSWORD).await?;
    let peer = Account::login(base, &peer_name(tag, 0), PASSWORD).await?;
    let big_chat = me.open(peer.id).await?;
    Ok(World {
        tag: tag.to_owned(),
        me,
        peer,
        big_chat,
    })
}

/// Seeds the server at `base` under `tag`, saying on stderr how it goes.
pub async fn seed(base: &str, tag: &str) -> anyhow::Result<World> {
    let started = Instant::now();
    let me = Account::register(base, &me_name(tag), "Mira Benchley", PASSWORD).await?;
    let peers: Vec<Account> = stream::iter(0..CONVERSATIONS)
        .map(|i| async move {
            Account::register(base, &peer_name(tag, i), &display_name(i), PASSWORD).await
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    eprintln!(
        "seed: {} users registered in {:.1}s",
        peers.len() + 1,
        started.elapsed().as_secs_f64()
    );

    stream::iter(peers.iter().enumerate().skip(1))
        .map(|(i, peer)| small_conversation(&me, peer, i))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    eprintln!(
        "seed: {} small conversations in {:.1}s",
        CONVERSATIONS - 1,
        started.elapsed().as_secs_f64()
    );

    let mut peers = peers;
    let peer = peers.swap_remove(0);
    let big_chat = big_conversation(&me, &peer).await?;
    eprintln!(
        "seed: the {BIG_CHAT}-message conversation in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(World {
        tag: tag.to_owned(),
        me,
        peer,
        big_chat,
    })
}

/// A few messages both ways over HTTP, read up to the end by me, but for every third
/// conversation, which ends with a few the peer sent after that.
async fn small_conversation(me: &Account, peer: &Account, index: usize) -> anyhow::Result<()> {
    let mut text = Bodies::new(index as u64);
    let id = peer.open(me.id).await?;
    let count = 2 + index * 7 % 9;
    let mut last = 0;
    for k in 0..count {
        let from = if k.is_multiple_of(2) { peer } else { me };
        last = from.send(id, text.next()).await?;
    }
    me.post(
        &format!("/api/conversations/{id}/read"),
        json!({"up_to_seq": last}),
    )
    .await?;
    if index.is_multiple_of(3) {
        for _ in 0..1 + index % 4 {
            peer.send(id, text.next()).await?;
        }
    }
    Ok(())
}

/// [`BIG_CHAT`] messages in turns of 1 to 4 by one side, each turn pipelined on that
/// side's socket and stored before the other side answers; all read by both.
async fn big_conversation(me: &Account, peer: &Account) -> anyhow::Result<i64> {
    let id = me.open(peer.id).await?;
    let mut mine = me.socket().await?;
    let mut theirs = peer.socket().await?;
    let mut text = Bodies::new(0);
    let mut sent = 0;
    let mut my_turn = false;
    let mut last = 0;
    while sent < BIG_CHAT {
        let turn = (1 + text.below(4) as usize).min(BIG_CHAT - sent);
        let bodies: Vec<String> = (0..turn).map(|_| text.next()).collect();
        let socket = if my_turn { &mut mine } else { &mut theirs };
        last = *socket.send_all(id, &bodies).await?.last().unwrap_or(&last);
        sent += turn;
        my_turn = !my_turn;
        if sent % 1000 < turn {
            eprintln!("seed: {sent}/{BIG_CHAT}");
        }
    }
    mine.read(id, last).await?;
    theirs.read(id, last).await?;
    Ok(id)
}

const FIRST: [&str; 20] = [
    "Ada", "Bruno", "Celina", "Dawid", "Ewa", "Filip", "Grażyna", "Henryk", "Irena", "Jakub",
    "Kasia", "Leon", "Marta", "Nikodem", "Ola", "Piotr", "Róża", "Szymon", "Tola", "Wiktor",
];
const LAST: [&str; 15] = [
    "Nowak",
    "Kowalska",
    "Wiśniewski",
    "Wójcik",
    "Kamińska",
    "Lewandowski",
    "Zielińska",
    "Szymański",
    "Woźniak",
    "Dąbrowska",
    "Kozłowski",
    "Jankowska",
    "Mazur",
    "Kwiatkowska",
    "Krawczyk",
];

/// 300 different names.
fn display_name(index: usize) -> String {
    format!(
        "{} {}",
        FIRST[index % FIRST.len()],
        LAST[index / FIRST.len() % LAST.len()]
    )
}

const WORDS: [&str; 48] = [
    "hej",
    "tak",
    "nie",
    "jutro",
    "dzisiaj",
    "spotkanie",
    "o",
    "dziesiątej",
    "kawa",
    "dzięki",
    "super",
    "może",
    "później",
    "projekt",
    "gotowy",
    "sprawdzę",
    "wyślę",
    "plik",
    "zaraz",
    "dobrze",
    "the",
    "release",
    "build",
    "passes",
    "again",
    "after",
    "lunch",
    "meeting",
    "moved",
    "to",
    "Thursday",
    "👍",
    "😂",
    "🙂",
    "let's",
    "see",
    "what",
    "happens",
    "with",
    "the",
    "tests",
    "on",
    "CI",
    "and",
    "review",
    "tomorrow",
    "morning",
    "ok",
];

/// Message bodies like a chat's: mostly a short line, sometimes one word, sometimes a
/// paragraph, a link or two lines.
struct Bodies {
    state: u64,
}

impl Bodies {
    fn new(seed: u64) -> Self {
        Self {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x2545_F491_4F6C_DD1D,
        }
    }

    /// splitmix64: small, fixed, and good enough to vary texts.
    fn below(&mut self, n: u64) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }

    fn words(&mut self, count: u64) -> String {
        let words: Vec<&str> = (0..count)
            .map(|_| WORDS[self.below(WORDS.len() as u64) as usize])
            .collect();
        words.join(" ")
    }

    fn next(&mut self) -> String {
        match self.below(20) {
            0..=2 => self.words(1),
            3..=13 => {
                let count = 3 + self.below(10);
                self.words(count)
            }
            14..=16 => {
                let count = 20 + self.below(40);
                self.words(count)
            }
            17 => {
                let words = self.words(4);
                format!("{words} https://example.org/docs/{}", self.below(1000))
            }
            _ => {
                let first = self.words(6);
                format!("{first}\n{}", self.words(5))
            }
        }
    }
}
