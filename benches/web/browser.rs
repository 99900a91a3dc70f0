//! Chromium through chromedriver, as the browser tests drive it
//! (`tests/browser/support.rs`): one chromedriver for the bench, under a shell
//! watchdog that stops it when the bench is gone, and a fresh headless Chromium with
//! a profile of its own for every run, so that every run's load is cold, started
//! with the tests' flags. The DevTools protocol reaches the page through
//! chromedriver's own endpoint.

use std::{
    net::TcpListener,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::http::Method;
use fantoccini::{
    Client, ClientBuilder, Locator, elements::Element, wd::WebDriverCompatibleCommand,
};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Desktop: the viewport every run measures at.
pub const VIEWPORT: (u32, u32) = (1280, 800);

/// A chromedriver this process started; it ends with the process.
pub struct Driver {
    url: String,
}

impl Driver {
    pub async fn start() -> anyhow::Result<Self> {
        for program in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(program).exists() {
                bail!(
                    "{program} is missing: the bench drives Debian's Chromium through \
                     chromedriver (`apt-get install -y chromium chromium-driver`)"
                );
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
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
            .context("starting chromedriver")?;
        // Reaped whenever it ends, which is after this process.
        std::thread::spawn(move || watchdog.wait());
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match reqwest::get(format!("{url}/status")).await {
                Ok(answer) if answer.status().is_success() => return Ok(Self { url }),
                _ if Instant::now() > deadline => bail!("chromedriver did not start on {port}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// One run's Chromium: a fresh profile, so nothing is cached.
pub struct Browser {
    pub client: Client,
    pub version: String,
    /// Removed once the session has ended.
    profile: TempDir,
}

impl Browser {
    pub async fn open(driver: &Driver) -> anyhow::Result<Self> {
        let profile = tempfile::tempdir()?;
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
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--lang=en-US",
            &format!("--window-size={},{}", VIEWPORT.0, VIEWPORT.1),
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
            .connect(&driver.url)
            .await
            .context("chromedriver opens a Chromium session")?;
        let version = client
            .capabilities()
            .and_then(|c| c.get("browserVersion"))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        let browser = Self {
            client,
            version,
            profile,
        };
        browser.size_viewport().await?;
        Ok(browser)
    }

    /// Sizes the window so that the viewport is exactly [`VIEWPORT`].
    async fn size_viewport(&self) -> anyhow::Result<()> {
        let (width, height) = VIEWPORT;
        self.client.set_window_size(width, height).await?;
        let inner = self
            .js("return [window.innerWidth, window.innerHeight];", vec![])
            .await?;
        let dw = i64::from(width) - inner[0].as_i64().unwrap_or(width.into());
        let dh = i64::from(height) - inner[1].as_i64().unwrap_or(height.into());
        if dw != 0 || dh != 0 {
            let w = u32::try_from(i64::from(width) + dw)?;
            let h = u32::try_from(i64::from(height) + dh)?;
            self.client.set_window_size(w, h).await?;
        }
        Ok(())
    }

    /// The page's heaps in bytes after a full garbage collection: V8's (the JS
    /// objects) and Blink's (the DOM). The DevTools protocol's figures: Chromium
    /// rounds `performance.memory` to ten megabytes.
    pub async fn heaps(&self) -> anyhow::Result<(f64, f64)> {
        self.cdp("HeapProfiler.collectGarbage", json!({})).await?;
        let usage = self.cdp("Runtime.getHeapUsage", json!({})).await?;
        let size = |field: &str| {
            usage[field]
                .as_f64()
                .with_context(|| format!("no {field} in {usage}"))
        };
        Ok((size("usedSize")?, size("embedderHeapUsedSize")?))
    }

    /// A Chrome DevTools Protocol command on this browser's page.
    pub async fn cdp(&self, command: &'static str, params: Value) -> anyhow::Result<Value> {
        self.client
            .issue_cmd(Cdp { command, params })
            .await
            .with_context(|| format!("CDP {command}"))
    }

    pub async fn js(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.client
            .execute(script, args)
            .await
            .with_context(|| format!("script failed: {script}"))
    }

    /// Runs `script` until it returns something other than `null` or `false`, for
    /// `patience` at most; what it returned.
    pub async fn until(
        &self,
        what: &str,
        patience: Duration,
        script: &str,
        args: Vec<Value>,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + patience;
        loop {
            let value = self.js(script, args.clone()).await?;
            if !value.is_null() && value != Value::Bool(false) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!("waited {patience:?} for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The element matching `css`, once there is one.
    pub async fn find(&self, css: &str, patience: Duration) -> anyhow::Result<Element> {
        let deadline = Instant::now() + patience;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                return Ok(element);
            }
            if Instant::now() > deadline {
                bail!("waited {patience:?} for `{css}`");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the session, and with it this Chromium (which chromedriver would leave
    /// running if only chromedriver ended): called after every run, failed or not.
    pub async fn close(self) -> anyhow::Result<()> {
        self.client.clone().close().await?;
        drop(self.profile);
        Ok(())
    }
}

/// A CDP command, through chromedriver's own endpoint.
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
