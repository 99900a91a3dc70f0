//! One run: a fresh Chromium loads the client cold as the seeded user, and goes
//! through what a person does: waits for the list, opens the big chat, scrolls it up
//! to its first message, goes to another chat and back, types, and receives a
//! message and a receipt from the peer. The page's instruments (`probe.js`) time each
//! step; WebDriver gives the input (real clicks and keys), and the peer and the
//! user's "other device" are sockets of the bench's own.

use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    account::Socket,
    browser::{Browser, Driver},
    seed::World,
};

/// The client's DOM, as far as the bench knows it: change these when the client's
/// markup changes.
mod selectors {
    /// An entry of the conversation list.
    pub const ENTRY: &str = "a.conversation[data-conversation-id]";
    /// A message shown in the open chat (with `[data-seq="…"]` for one of them).
    pub const MESSAGE: &str = "section.chat .msg";
    /// The message box.
    pub const COMPOSER: &str = "#message";

    pub fn entry(conversation: i64) -> String {
        format!("a.conversation[data-conversation-id=\"{conversation}\"]")
    }

    pub fn other_entry(conversation: i64) -> String {
        format!("{ENTRY}:not([data-conversation-id=\"{conversation}\"])")
    }

    /// The open chat, once it is the chat with `conversation`.
    pub fn chat(conversation: i64) -> String {
        format!("section.chat[data-conversation-id=\"{conversation}\"]")
    }

    pub fn message(seq: i64) -> String {
        format!("{MESSAGE}[data-seq=\"{seq}\"]")
    }
}

const PROBE: &str = include_str!("probe.js");
/// How long one step may take before the run is given up.
const STEP: Duration = Duration::from_secs(60);
/// The page counts as settled after this long without a long task.
const QUIET_MS: u64 = 500;
/// Scrolling stops when nothing has moved (no scroll, no new history) this long.
const SCROLL_STALL_MS: u64 = 15_000;
/// The longest a scroll to the start may take.
const SCROLL_PATIENCE: Duration = Duration::from_secs(15 * 60);
/// WebDriver's Backspace.
const BACKSPACE: &str = "\u{E003}";

/// How much one run does.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Keystrokes measured.
    pub keys: usize,
    /// `message` and `receipt` frames measured, each.
    pub frames: usize,
    /// Pixels scrolled up per frame.
    pub scroll_step: u32,
}

/// What one run measured. Times in milliseconds.
#[derive(Debug, Default)]
pub struct Figures {
    pub list_shown: f64,
    pub list_complete: f64,
    pub transferred: f64,
    pub api_transferred: f64,
    pub requests: f64,
    pub socket_chars: f64,
    pub switch: f64,
    pub scroll: Scroll,
    pub nodes: f64,
    pub js_heap: f64,
    pub dom_heap: f64,
    pub switch_back: f64,
    pub keys: Vec<f64>,
    pub messages: Vec<f64>,
    pub receipts: Vec<f64>,
}

/// The scroll to the start: each frame's interval and work.
#[derive(Debug, Default, Deserialize)]
pub struct Scroll {
    pub intervals: Vec<f64>,
    pub works: Vec<f64>,
    pub reached: bool,
    pub px: f64,
}

/// `__bench.loaded()`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Loaded {
    complete: f64,
    list_shown: f64,
    transferred: f64,
    api: f64,
    requests: f64,
    socket_chars: f64,
}

/// A measured input.
#[derive(Deserialize)]
struct Timed {
    wall: f64,
    work: f64,
}

/// The bench's sockets: the peer of the big chat, and the user's own "other device".
pub struct Sockets {
    pub peer: Socket,
    pub mine: Socket,
}

/// One run in a fresh Chromium; the browser is closed whatever happens.
pub async fn run(
    driver: &Driver,
    base: &str,
    world: &World,
    sockets: &mut Sockets,
    plan: Plan,
) -> anyhow::Result<(Figures, String)> {
    let browser = Browser::open(driver).await?;
    let version = browser.version.clone();
    let figures = Run {
        browser: &browser,
        base,
        world,
        plan,
    }
    .go(sockets)
    .await;
    let closed = browser.close().await;
    let figures = figures?;
    closed?;
    Ok((figures, version))
}

struct Run<'a> {
    browser: &'a Browser,
    base: &'a str,
    world: &'a World,
    plan: Plan,
}

impl Run<'_> {
    async fn go(&self, sockets: &mut Sockets) -> anyhow::Result<Figures> {
        let mut figures = Figures::default();
        self.load(&mut figures).await?;
        let big = self.world.big_chat;
        let newest = self.world.me.newest_seq(big).await?;

        figures.switch = self.switch_to_big_chat(newest).await?.wall;

        self.settle().await?;
        figures.scroll = self.scroll_to_start().await?;

        self.settle().await?;
        let nodes = self.browser.js("return __bench.nodes();", vec![]).await?;
        figures.nodes = nodes.as_f64().context("no DOM node count")?;
        (figures.js_heap, figures.dom_heap) = self.browser.heaps().await?;

        self.open_another_chat().await?;
        self.settle().await?;
        figures.switch_back = self.switch_to_big_chat(newest).await?.wall;

        figures.keys = self.keystrokes().await?;
        figures.messages = self.messages(&mut sockets.peer).await?;
        figures.receipts = self.receipts(sockets).await?;
        Ok(figures)
    }

    /// Cold: the instruments and the session cookie go in before the first
    /// navigation, which is the client's.
    async fn load(&self, figures: &mut Figures) -> anyhow::Result<()> {
        let source = format!("{PROBE}\n__bench.watchList({});", json!(selectors::ENTRY));
        self.browser
            .cdp(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({"source": source}),
            )
            .await?;
        for (name, value) in self.world.me.cookies()? {
            let cookie = json!({"name": name, "value": value, "url": self.base, "httpOnly": true});
            self.browser.cdp("Network.setCookie", cookie).await?;
        }
        self.browser.client.goto(&format!("{}/", self.base)).await?;
        let loaded = self
            .browser
            .until(
                "the list, and the main thread idle",
                STEP,
                "return __bench.loaded(arguments[0]);",
                vec![json!(1000)],
            )
            .await?;
        let loaded: Loaded = serde_json::from_value(loaded)?;
        figures.list_shown = loaded.list_shown;
        figures.list_complete = loaded.complete;
        figures.transferred = loaded.transferred;
        figures.api_transferred = loaded.api;
        figures.requests = loaded.requests;
        figures.socket_chars = loaded.socket_chars;
        Ok(())
    }

    /// Waits a moment, then until no long task has run for [`QUIET_MS`]: whatever the
    /// last step set going (an answer on its way, a redraw) is over.
    async fn settle(&self) -> anyhow::Result<()> {
        tokio::time::sleep(Duration::from_millis(QUIET_MS)).await;
        self.browser
            .until(
                "the page to settle",
                STEP,
                "return __bench.quiet(arguments[0]);",
                vec![json!(QUIET_MS)],
            )
            .await
            .map(drop)
    }

    /// Runs `script`, which arms the page's instruments (`__bench.arm`), with `args`.
    async fn arm(&self, script: &str, args: Vec<Value>) -> anyhow::Result<()> {
        self.browser.js(script, args).await.map(drop)
    }

    async fn take(&self, name: &str) -> anyhow::Result<Timed> {
        let taken = self
            .browser
            .until(
                &format!("the page to show the result of `{name}`"),
                STEP,
                "return __bench.take(arguments[0]);",
                vec![json!(name)],
            )
            .await?;
        Ok(serde_json::from_value(taken)?)
    }

    /// A click on the big chat's entry, until its newest message is painted.
    async fn switch_to_big_chat(&self, newest: i64) -> anyhow::Result<Timed> {
        self.arm(
            "const [sel] = arguments; \
             __bench.arm('switch', 'pointer', () => document.querySelector(sel) !== null);",
            vec![json!(selectors::message(newest))],
        )
        .await?;
        let entry = selectors::entry(self.world.big_chat);
        self.browser.find(&entry, STEP).await?.click().await?;
        self.take("switch").await
    }

    async fn scroll_to_start(&self) -> anyhow::Result<Scroll> {
        self.browser
            .js(
                "const [messages, first, step, stall] = arguments; \
                 __bench.scroll(messages, first, step, stall);",
                vec![
                    json!(selectors::MESSAGE),
                    json!(selectors::message(1)),
                    json!(self.plan.scroll_step),
                    json!(SCROLL_STALL_MS),
                ],
            )
            .await?;
        self.browser
            .until(
                "the scroll to end",
                SCROLL_PATIENCE,
                "return __bench.scrolling.done;",
                vec![],
            )
            .await?;
        let scroll = self.browser.js("return __bench.scrolling;", vec![]).await?;
        Ok(serde_json::from_value(scroll)?)
    }

    async fn open_another_chat(&self) -> anyhow::Result<()> {
        let entry = self
            .browser
            .find(&selectors::other_entry(self.world.big_chat), STEP)
            .await?;
        let id: i64 = entry
            .attr("data-conversation-id")
            .await?
            .context("an entry without its conversation id")?
            .parse()?;
        entry.click().await?;
        self.browser
            .find(&selectors::chat(id), STEP)
            .await
            .map(drop)
    }

    /// Typing into the message box, one key at a time; then the text is taken back.
    async fn keystrokes(&self) -> anyhow::Result<Vec<f64>> {
        let composer = self.browser.find(selectors::COMPOSER, STEP).await?;
        let mut works = Vec::with_capacity(self.plan.keys);
        for key in "benchmark typing ".chars().cycle().take(self.plan.keys) {
            self.settle_briefly().await;
            self.arm("__bench.arm('key', 'key');", vec![]).await?;
            composer.send_keys(&key.to_string()).await?;
            works.push(self.take("key").await?.work);
        }
        composer
            .send_keys(&BACKSPACE.repeat(self.plan.keys))
            .await?;
        Ok(works)
    }

    /// Messages from the peer, each until it is painted in the open chat.
    async fn messages(&self, peer: &mut Socket) -> anyhow::Result<Vec<f64>> {
        let mut works = Vec::with_capacity(self.plan.frames);
        for k in 0..self.plan.frames {
            self.settle().await?;
            self.arm(
                "const [scope, conversation, peer] = arguments; \
                 __bench.arm('message', 'frame:message', \
                   (f) => document.querySelector(`${scope}[data-seq=\"${f.message.seq}\"]`) !== null, \
                   (f) => f.message?.conversation_id === conversation && f.message?.sender_id === peer);",
                vec![
                    json!(selectors::MESSAGE),
                    json!(self.world.big_chat),
                    json!(self.world.peer.id),
                ],
            )
            .await?;
            let body = format!("Benchmark message {k}: did you see this one?");
            peer.send_all(self.world.big_chat, &[body]).await?;
            works.push(self.take("message").await?.work);
        }
        Ok(works)
    }

    /// For each: a message of mine from another device, shown; then the peer reads
    /// it, and the `receipt` frame is timed to the next painted frame.
    async fn receipts(&self, sockets: &mut Sockets) -> anyhow::Result<Vec<f64>> {
        let mut works = Vec::with_capacity(self.plan.frames);
        let big = self.world.big_chat;
        for k in 0..self.plan.frames {
            let body = format!("Sent from my other device ({k})");
            let seqs = sockets.mine.send_all(big, &[body]).await?;
            let seq = *seqs.first().context("no seq for my message")?;
            self.browser
                .until(
                    "my other device's message",
                    STEP,
                    "return document.querySelector(arguments[0]) !== null;",
                    vec![json!(selectors::message(seq))],
                )
                .await?;
            self.settle().await?;
            self.arm(
                "const [conversation] = arguments; \
                 __bench.arm('receipt', 'frame:receipt', () => true, \
                   (f) => f.conversation_id === conversation);",
                vec![json!(big)],
            )
            .await?;
            sockets.peer.read(big, seq).await?;
            works.push(self.take("receipt").await?.work);
        }
        Ok(works)
    }

    /// Between keystrokes: a person types a key every ~100 ms; the next one must not
    /// land in the frame of the one before.
    async fn settle_briefly(&self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
