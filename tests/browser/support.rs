//! What the browser tests share: one `chromedriver` for the whole test binary, a
//! fresh headless Chromium per person, waits that poll for what a person would
//! look for (an element, a text, a title) until a deadline, and axe-core, run in the
//! page, for what a person using a screen reader or a keyboard would run into.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::http::Method;
use fantoccini::{
    Client, ClientBuilder, Locator, elements::Element, wd::WebDriverCompatibleCommand,
};
use gadka_test_support::{Client as ApiClient, TestApp, eventually, password, until};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::OnceCell;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a wait lasts before the test fails: generous, since two cores may be
/// shared with compilers.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Desktop and phone viewports of the screenshots.
pub const DESKTOP: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (390, 844);

/// The address of the chromedriver this test binary started.
static DRIVER: OnceCell<String> = OnceCell::const_new();

/// axe-core's browser bundle, where `.ci/run` installs it (the npm package `axe-core`,
/// pinned there); `GADKA_TEST_AXE` names another file.
const AXE: &str = "/var/cache/gadka-ci/axe/node_modules/axe-core/axe.min.js";
static AXE_SOURCE: OnceLock<String> = OnceLock::new();

/// The text of axe-core's bundle, read once; the test fails, naming the package and
/// how to install it, when it is missing.
fn axe_source() -> &'static str {
    AXE_SOURCE.get_or_init(|| {
        let path = std::env::var("GADKA_TEST_AXE").unwrap_or_else(|_| AXE.to_owned());
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is missing ({path}: {e}): the accessibility test runs the npm \
                 package `axe-core` in the page. Install it with `npm install --prefix \
                 /var/cache/gadka-ci/axe axe-core@4.14.1` (`.ci/run` does), or set \
                 GADKA_TEST_AXE to its axe.min.js."
            )
        })
    })
}

/// Starts chromedriver once per test binary. It runs under a small shell watchdog
/// that stops it when this process is gone, since a test binary has no hook that
/// runs after its last test.
async fn driver() -> &'static str {
    DRIVER
        .get_or_init(|| async {
            for program in [CHROMIUM, CHROMEDRIVER] {
                assert!(
                    Path::new(program).exists(),
                    "{program} is missing: the browser tests drive Debian's Chromium through \
                     chromedriver. Install them with `apt-get install -y chromium chromium-driver` \
                     (`.ci/run` does)."
                );
            }
            let port = free_port();
            let watchdog = format!(
                "{CHROMEDRIVER} --port={port} --silent & driver=$!; \
                 trap 'kill $driver 2>/dev/null' EXIT; \
                 while kill -0 {parent} 2>/dev/null && kill -0 $driver 2>/dev/null; do sleep 0.5; done",
                parent = std::process::id()
            );
            let mut watchdog = Command::new("sh")
                .args(["-c", &watchdog])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("sh starts chromedriver");
            // Reaped whenever it ends, which is after this process.
            std::thread::spawn(move || watchdog.wait());
            let url = format!("http://127.0.0.1:{port}");
            let status = format!("{url}/status");
            let what = format!("chromedriver to start on {port}");
            eventually(&what, PATIENCE, async || {
                let answer = reqwest::get(&status).await.map_err(|e| e.to_string())?;
                answer
                    .status()
                    .is_success()
                    .then_some(())
                    .ok_or_else(|| answer.status().to_string())
            })
            .await;
            url
        })
        .await
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One person's browser: a headless Chromium with a profile of its own.
pub struct Browser {
    pub client: Client,
    base: String,
    profile: TempDir,
    /// Whether [`Browser::block_socket`] has wrapped the page's `WebSocket`.
    socket_hooked: AtomicBool,
}

impl Browser {
    /// A new browser at desktop size, on the server at `base` (`http://host:port`).
    pub async fn open(base: &str) -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Two browsers side by side: neither may be throttled as "in the background".
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--lang=en-US",
            &format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": CHROMIUM, "args": args}),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(driver().await)
            .await
            .expect("chromedriver opens a Chromium session");
        let browser = Browser {
            client,
            base: base.to_owned(),
            profile,
            socket_hooked: AtomicBool::new(false),
        };
        browser.resize(DESKTOP).await;
        browser
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("the page loads");
    }

    /// Sets the viewport (not the window) to `width`×`height` CSS pixels.
    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("the window resizes");
        // The window may carry a frame; size it so that the viewport comes out exact.
        let inner = self
            .js("return [window.innerWidth, window.innerHeight];", vec![])
            .await;
        let dw = width as i64 - inner[0].as_i64().unwrap_or(width as i64);
        let dh = height as i64 - inner[1].as_i64().unwrap_or(height as i64);
        if dw != 0 || dh != 0 {
            self.client
                .set_window_size((width as i64 + dw) as u32, (height as i64 + dh) as u32)
                .await
                .expect("the window resizes");
        }
    }

    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits for an element matching `css` to be present and shown.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.wait_until(&format!("something shown to match `{css}`"), || async {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            element
                .is_displayed()
                .await
                .unwrap_or(false)
                .then_some(element)
        })
        .await
    }

    /// Waits for the element matching `css` whose text contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> Element {
        self.wait_until(&format!("`{css}` showing {text:?}"), || async {
            for element in self.client.find_all(Locator::Css(css)).await.ok()? {
                if element.text().await.ok()?.contains(text) {
                    return Some(element);
                }
            }
            None
        })
        .await
    }

    /// Waits for a button whose accessible text is exactly `name`.
    pub async fn button(&self, name: &str) -> Element {
        self.wait_until(&format!("a button named {name:?}"), || async {
            for element in self.client.find_all(Locator::Css("button")).await.ok()? {
                if element.text().await.ok()?.trim() == name
                    && element.is_displayed().await.unwrap_or(false)
                {
                    return Some(element);
                }
            }
            None
        })
        .await
    }

    /// Clicks the element matching `css` once it is shown.
    pub async fn click_on(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("click");
    }

    /// Clicks the element matching `css` whose text contains `text`, once there is one.
    pub async fn click_text(&self, css: &str, text: &str) {
        self.wait_for_text(css, text)
            .await
            .click()
            .await
            .expect("click");
    }

    /// Presses the button named `name` once it is shown.
    pub async fn press(&self, name: &str) {
        self.button(name).await.click().await.expect("click");
    }

    /// Waits for the page's title to be `title`.
    pub async fn wait_for_title(&self, title: &str) {
        self.wait_until(&format!("the title {title:?}"), || async {
            (self.client.title().await.ok()? == title).then_some(())
        })
        .await;
    }

    /// Waits until the script returns `true`.
    pub async fn wait_js(&self, what: &str, script: &str) {
        self.wait_until(what, || async {
            (self.client.execute(script, vec![]).await.ok()? == Value::Bool(true)).then_some(())
        })
        .await;
    }

    /// Polls `probe` until it gives something, or fails the test after [`PATIENCE`]
    /// with what the page shows.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        match until(PATIENCE, async || probe().await.ok_or(())).await {
            Ok(found) => found,
            Err(_) => self.fail(&format!("waited {PATIENCE:?} for {what}")).await,
        }
    }

    /// Fails with the page's text, which usually says what went wrong.
    async fn fail(&self, why: &str) -> ! {
        let text = match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        panic!("{why}\n--- the page shows ---\n{text}");
    }

    /// The form control labelled `label` (through its `<label for>`).
    pub async fn field(&self, label: &str) -> Element {
        self.wait_until(&format!("a field labelled {label:?}"), || async {
            for l in self.client.find_all(Locator::Css("label")).await.ok()? {
                if l.prop("textContent").await.ok()??.trim() == label {
                    let id = l.attr("for").await.ok()??;
                    return self.client.find(Locator::Id(&id)).await.ok();
                }
            }
            None
        })
        .await
    }

    /// Types `text` into the field labelled `label`, after clearing it.
    pub async fn fill(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("the field clears");
        field.send_keys(text).await.expect("typing into the field");
    }

    /// Types `keys` (WebDriver key codes too, see [`keys`]) into whatever has the focus.
    pub async fn keys(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .expect("something has the focus")
            .send_keys(keys)
            .await
            .expect("typing");
    }

    /// Presses Enter in the field labelled `label`.
    pub async fn press_enter(&self, label: &str) {
        let field = self.field(label).await;
        field.send_keys(keys::ENTER).await.expect("pressing Enter");
    }

    /// Registers through the form and waits for the conversation list.
    pub async fn register(&self, username: &str, display_name: &str) {
        self.goto("/").await;
        self.press("Sign up").await;
        self.fill("Username", username).await;
        self.fill("Display name", display_name).await;
        self.fill("Password", &password(username)).await;
        self.press("Create account").await;
        self.wait_for(".sidebar").await;
    }

    /// Saves a PNG of the viewport as `<name>.png` (see `screenshots_dir`).
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is saved");
    }

    /// What axe-core finds wrong in the page as it is now (WCAG 2.2 A and AA, and
    /// axe's best practices): one line per rule broken, with the elements that break
    /// it. Empty when there is nothing.
    pub async fn axe(&self) -> Vec<String> {
        // Executed as a script, not loaded from a URL: the page's policy allows only
        // its own scripts, and a script run by the driver is not the page's.
        let loaded = self
            .client
            .execute(
                &format!("{}\n;return typeof window.axe === 'object';", axe_source()),
                vec![],
            )
            .await
            .expect("axe-core loads");
        assert_eq!(loaded, Value::Bool(true), "axe-core defines window.axe");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 axe.run(document, { resultTypes: ['violations'] }).then((r) => done(r.violations.map((v) => \
                   `${v.id} (${v.impact}): ${v.help}\\n` + v.nodes.map((n) => \
                     `    ${n.target.join(' ')}: ${n.failureSummary.replace(/\\s+/g, ' ')}`).join('\\n'))), \
                   (e) => done([`axe failed: ${e}`]));",
                vec![],
            )
            .await
            .expect("axe-core runs");
        found
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|v| v.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Fails the test, naming `what` is shown, if axe-core finds anything in the page
    /// as it is now, in light or dark.
    pub async fn assert_accessible(&self, what: &str) {
        let mut found = Vec::new();
        for scheme in ["light", "dark"] {
            self.color_scheme(scheme).await;
            found.extend(
                self.axe()
                    .await
                    .into_iter()
                    .map(|v| format!("{scheme}: {v}")),
            );
        }
        self.color_scheme("light").await;
        assert!(found.is_empty(), "{what}:\n{}", found.join("\n"));
    }

    /// Screenshots of the viewport at desktop and phone width, light and dark, as
    /// `<name>-<desktop|phone>-<light|dark>.png`; it is left at desktop width, light.
    pub async fn screenshots(&self, name: &str) {
        for (size, width) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
            self.resize(size).await;
            for scheme in ["light", "dark"] {
                self.color_scheme(scheme).await;
                self.screenshot(&format!("{name}-{width}-{scheme}")).await;
            }
        }
        self.resize(DESKTOP).await;
        self.color_scheme("light").await;
    }

    /// Makes the realtime socket fail to connect (`true`) while the page and the
    /// API load as usual, as a proxy that drops WebSockets would; `false` lets it
    /// through again. It lasts across reloads. (DevTools' request blocking does not
    /// hold WebSockets back, so the page's `WebSocket` is wrapped, in this page and
    /// every page loaded after it, to ask for the wrong path while blocked.)
    pub async fn block_socket(&self, blocked: bool) {
        if !self.socket_hooked.swap(true, Ordering::SeqCst) {
            self.client
                .issue_cmd(Cdp {
                    command: "Page.addScriptToEvaluateOnNewDocument",
                    params: json!({"source": SOCKET_HOOK}),
                })
                .await
                .expect("the socket hook is installed");
            self.js(SOCKET_HOOK, vec![]).await;
        }
        let flag = if blocked {
            "localStorage.setItem('test-block-socket', '1');"
        } else {
            "localStorage.removeItem('test-block-socket');"
        };
        self.js(flag, vec![]).await;
    }

    /// Slows what the page sends to `bytes_per_second` (downloads as they are), so an
    /// upload is seen under way.
    pub async fn throttle_uploads(&self, bytes_per_second: u32) {
        for (command, params) in [
            ("Network.enable", json!({})),
            (
                "Network.emulateNetworkConditions",
                json!({"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_second}),
            ),
        ] {
            self.client
                .issue_cmd(Cdp { command, params })
                .await
                .expect("the network is throttled");
        }
    }

    /// Emulates the system's colour scheme (`"light"` or `"dark"`).
    pub async fn color_scheme(&self, scheme: &str) {
        self.client
            .issue_cmd(Cdp {
                command: "Emulation.setEmulatedMedia",
                params: json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
            })
            .await
            .expect("the colour scheme is emulated");
    }

    pub async fn close(self) {
        self.client
            .clone()
            .close()
            .await
            .expect("the browser closes");
    }
}

/// A test that fails before [`Browser::close`] would leave its Chromium running:
/// chromedriver does not end a session's browser when it ends itself. Whatever still
/// runs with this browser's profile directory is stopped.
impl Drop for Browser {
    fn drop(&mut self) {
        let profile = format!("--user-data-dir={}", self.profile.path().display());
        let _ = Command::new("pkill")
            .args(["-f", "--", &profile])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Wraps the page's `WebSocket` so that, while `localStorage` holds
/// `test-block-socket`, a new socket asks for a path the server answers with a 404,
/// and fails as a socket a proxy refuses does (see [`Browser::block_socket`]).
const SOCKET_HOOK: &str = "if (!window.testSocketHook) { window.testSocketHook = true; \
    const Real = window.WebSocket; \
    const Hooked = function (url, protocols) { \
      return new Real(localStorage.getItem('test-block-socket') ? url.replace(/\\/ws$/, '/api/no-socket-here') : url, protocols); }; \
    Hooked.prototype = Real.prototype; \
    for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Hooked[k] = Real[k]; \
    window.WebSocket = Hooked; }";

/// A Chrome DevTools Protocol command, through chromedriver's own endpoint.
#[derive(Debug)]
struct Cdp {
    command: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        let body = json!({"cmd": self.command, "params": self.params});
        (Method::POST, Some(body.to_string()))
    }
}

/// Where screenshots go: the build's scratch directory, so that a test run leaves the
/// repository as it was; with `GADKA_UPDATE_SCREENSHOTS=1`, `docs/screenshots/`, the
/// README's pictures.
fn screenshots_dir() -> PathBuf {
    if std::env::var_os("GADKA_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    }
}

/// The usual start: Alice signs up in a browser, and `peer`, registered over the API,
/// opens a conversation with her. Her browser, the peer's client, the conversation.
pub async fn alice_and(app: &TestApp, peer: &str) -> (Browser, ApiClient, i64) {
    let alice = Browser::open(&app.url("")).await;
    alice.register("alice", "Alice").await;
    let peer = app.register(peer).await;
    let chat = open_with(&peer, "alice").await;
    (alice, peer, chat)
}

/// `from` finds `username`, opens their conversation over the API and returns its id.
pub async fn open_with(from: &ApiClient, username: &str) -> i64 {
    let (_, found) = from.get(&format!("/api/users?q={username}")).await;
    let user_id = found["users"][0]["id"].as_i64().expect("found by name");
    let (_, opened) = from
        .post("/api/conversations", json!({"user_id": user_id}))
        .await;
    opened["conversation"]["id"]
        .as_i64()
        .expect("a conversation")
}

/// WebDriver's key codes, for `send_keys`.
pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const SHIFT: &str = "\u{E008}";
    pub const CONTROL: &str = "\u{E009}";
    pub const ALT: &str = "\u{E00A}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const END: &str = "\u{E010}";
    pub const HOME: &str = "\u{E011}";
    pub const UP: &str = "\u{E013}";
    pub const DOWN: &str = "\u{E015}";
    /// Releases held modifiers.
    pub const NULL: &str = "\u{E000}";
}
