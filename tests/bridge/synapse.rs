//! A real Synapse for the bridge tests, one per test binary.
//!
//! Synapse comes from the virtualenv `.ci/synapse.sh` prepares (the path in
//! `GADKA_TEST_SYNAPSE_VENV`, by default the CI cache). A missing Synapse fails the
//! test with the command that installs it: the bridge is never tested against less.
//!
//! Starting Synapse takes seconds, so one is shared by every test of the binary. It
//! loads several registrations, made by `gadka generate-registration` itself: each
//! is a slot with its own appservice id, port, bot and puppet prefix, so that tests
//! running at once each have a bridge of their own.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::Duration,
};

use gadka_test_support::{PATIENCE, until};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};

/// The version `.ci/synapse.sh` installs.
const SYNAPSE_VERSION: &str = "1.163.2";
const DEFAULT_VENV: &str = "/var/cache/gadka-ci/synapse-venv";
/// Bridges the shared Synapse knows, hence tests that may run at once.
const SLOTS: usize = 6;
/// How long Synapse may take to start: its first start migrates a new database.
const STARTUP: Duration = Duration::from_secs(180);
/// The homeserver's server name.
pub const DOMAIN: &str = "localhost";

/// A running Synapse and the bridge registrations it loaded.
pub struct Synapse {
    pub url: String,
    free: Mutex<Vec<Slot>>,
    /// A permit for each slot in `free`: tests wait here, in turn, while all are taken.
    available: Semaphore,
}

/// One registration Synapse loaded: the bridge's configuration file, tokens filled in.
#[derive(Debug, Clone)]
pub struct Slot {
    pub index: usize,
    /// `bridge-config.yaml` for this bridge.
    pub config: PathBuf,
    /// The puppet localpart prefix, `g<index>_`.
    pub prefix: String,
    /// The bot's Matrix ID.
    pub bot: String,
    pub as_token: String,
    pub hs_token: String,
    /// Where the bridge listens, which the registration names.
    pub appservice_port: u16,
}

impl Slot {
    /// The Matrix ID of the puppet of gadka's `username` on this slot's bridge.
    pub fn puppet(&self, username: &str) -> String {
        format!("@{}{username}:{DOMAIN}", self.prefix)
    }

    /// Where the homeserver reaches this slot's bridge: `path` on its appservice port.
    pub fn appservice_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.appservice_port)
    }

    /// `PUT /_matrix/app/v1/transactions/{id}` with `body`, as the homeserver sends
    /// it when `token` is its `hs_token`.
    pub async fn put_transaction(
        &self,
        id: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .put(self.appservice_url(&format!("/_matrix/app/v1/transactions/{id}")))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("the bridge answers")
    }

    /// Delivers `events` as transaction `id`, as the homeserver does, and asserts
    /// that the bridge took them.
    pub async fn deliver(&self, id: &str, events: Value) {
        let response = self
            .put_transaction(id, &json!({ "events": events }), Some(&self.hs_token))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "transaction {id}");
    }
}

/// A slot in use; it goes back to the pool when dropped.
pub struct SlotGuard {
    slot: Option<Slot>,
    synapse: &'static Synapse,
    /// Given back after the slot, when the guard's fields drop.
    _permit: SemaphorePermit<'static>,
}

impl std::ops::Deref for SlotGuard {
    type Target = Slot;
    fn deref(&self) -> &Slot {
        self.slot.as_ref().expect("held until dropped")
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.synapse.free.lock().unwrap().push(slot);
        }
    }
}

/// The Synapse of this test binary, started on first use.
pub async fn shared() -> &'static Synapse {
    static SYNAPSE: OnceCell<Synapse> = OnceCell::const_new();
    SYNAPSE.get_or_init(Synapse::start).await
}

impl Synapse {
    /// A bridge slot of one's own, waiting while all are taken.
    pub async fn slot(&'static self) -> SlotGuard {
        let permit = self
            .available
            .acquire()
            .await
            .expect("the slots' semaphore is never closed");
        // The slot free the longest: the bridge that used it last has surely closed
        // its listener by now.
        let slot = self.free.lock().unwrap().remove(0);
        SlotGuard {
            slot: Some(slot),
            synapse: self,
            _permit: permit,
        }
    }

    async fn start() -> Self {
        let Prepared {
            python,
            dir,
            url,
            slots,
            ..
        } = Prepared::new(SLOTS);
        // Synapse outlives no test binary: a shell waits for this process to end, then
        // stops Synapse and removes its directory.
        let watchdog = format!(
            r#"{python} -m synapse.app.homeserver -c homeserver.yaml -c overlay.yaml >synapse.out 2>&1 &
synapse=$!
trap 'kill $synapse 2>/dev/null; wait $synapse; cd /; rm -rf "{dir}"' EXIT
while kill -0 {parent} 2>/dev/null && kill -0 $synapse 2>/dev/null; do sleep 0.5; done"#,
            python = python.display(),
            dir = dir.display(),
            parent = std::process::id(),
        );
        #[expect(
            clippy::zombie_processes,
            reason = "the watchdog ends after this process does, so nothing here waits for it"
        )]
        Command::new("sh")
            .args(["-c", &watchdog])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        wait_for_versions(&url, &dir).await;
        Synapse {
            url,
            available: Semaphore::new(slots.len()),
            free: Mutex::new(slots),
        }
    }
}

/// A Synapse of one test's own, with one bridge slot, that the test may stop and
/// start again (a homeserver outage). Stopped and removed when dropped.
pub struct OwnSynapse {
    pub synapse: Synapse,
    pub slot: Slot,
    python: PathBuf,
    dir: PathBuf,
    port: u16,
    process: Option<Child>,
}

impl OwnSynapse {
    pub async fn start() -> Self {
        let Prepared {
            python,
            dir,
            port,
            url,
            mut slots,
        } = Prepared::new(1);
        let slot = slots.pop().expect("one slot");
        let mut own = Self {
            synapse: Synapse {
                url,
                free: Mutex::new(Vec::new()),
                available: Semaphore::new(0),
            },
            slot,
            python,
            dir,
            port,
            process: None,
        };
        own.resume().await;
        own
    }

    /// Stops Synapse (SIGKILL: as abrupt as an outage) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// While Synapse is stopped: waits for the next call anyone makes to it (the
    /// bridge's outbox, trying again) and cuts it off, as a homeserver that is away
    /// does. The outage then provably happened to the bridge, however quick the
    /// machine, where a sleep would only make it likely.
    pub async fn cut_off_next_call(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("Synapse's port, free while it is stopped");
        let (call, _) = tokio::time::timeout(PATIENCE, listener.accept())
            .await
            .unwrap_or_else(|_| panic!("nobody called the homeserver within {PATIENCE:?}"))
            .expect("a call accepted");
        drop(call);
    }

    /// Starts Synapse again on the same port and database, and waits until it answers.
    pub async fn resume(&mut self) {
        let out = std::fs::File::create(self.dir.join("synapse.out")).expect("a log file");
        let process = Command::new(&self.python)
            .args(["-m", "synapse.app.homeserver"])
            .args(["-c", "homeserver.yaml", "-c", "overlay.yaml"])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("the log file"))
            .stderr(out)
            .spawn()
            .expect("Synapse starts");
        self.process = Some(process);
        wait_for_versions(&self.synapse.url, &self.dir).await;
    }
}

impl Drop for OwnSynapse {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Synapse ready to start: its config, and bridge registrations made by gadka.
struct Prepared {
    python: PathBuf,
    dir: PathBuf,
    port: u16,
    url: String,
    slots: Vec<Slot>,
}

impl Prepared {
    fn new(slots: usize) -> Self {
        let python = python();
        let dir = tempfile::tempdir().expect("a temporary directory").keep();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let slots: Vec<Slot> = (0..slots).map(|i| make_slot(&dir, &url, i)).collect();
        let generated = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "--generate-config"])
            .args(["--report-stats=no", "-H", DOMAIN, "-c"])
            .arg(dir.join("homeserver.yaml"))
            .current_dir(&dir)
            .output()
            .expect("Synapse runs");
        assert!(
            generated.status.success(),
            "Synapse could not generate its config: {}",
            String::from_utf8_lossy(&generated.stderr)
        );
        std::fs::write(dir.join("overlay.yaml"), overlay(&dir, port, &slots)).unwrap();
        Self {
            python,
            dir,
            port,
            url,
            slots,
        }
    }
}

/// The Python of the Synapse virtualenv, or a failure saying how to install it.
fn python() -> PathBuf {
    let venv = std::env::var_os("GADKA_TEST_SYNAPSE_VENV")
        .map_or_else(|| PathBuf::from(DEFAULT_VENV), PathBuf::from);
    let python = venv.join("bin/python");
    let found = Command::new(&python)
        .args(["-c", "import synapse; print(synapse.__version__)"])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        found,
        "the bridge tests need Synapse in {venv}: run `bash .ci/synapse.sh` (also part of `.ci/run`), \
         or `python3 -m venv {venv} && {venv}/bin/pip install matrix-synapse=={SYNAPSE_VERSION}`; \
         GADKA_TEST_SYNAPSE_VENV points at another virtualenv",
        venv = venv.display()
    );
    python
}

/// A bridge configuration for slot `index`, and its registration, made by gadka.
fn make_slot(dir: &Path, homeserver: &str, index: usize) -> Slot {
    let appservice_port = free_port();
    let prefix = format!("g{index}_");
    let config = dir.join(format!("bridge-{index}.yaml"));
    std::fs::write(
        &config,
        format!(
            "homeserver:\n  address: {homeserver}\n  domain: {DOMAIN}\n\
             appservice:\n  address: http://127.0.0.1:{appservice_port}\n  hostname: 127.0.0.1\n  port: {appservice_port}\n  id: gadka{index}\n  bot:\n    username: g{index}bot\n\
             bridge:\n  username_template: \"{prefix}{{username}}\"\n  permissions:\n    \"*\": user\n"
        ),
    )
    .unwrap();
    let registration = registration_path(dir, index);
    let out = Command::new(env!("CARGO_BIN_EXE_gadka"))
        .args(["generate-registration", "--config"])
        .arg(&config)
        .arg("--registration")
        .arg(&registration)
        .output()
        .expect("gadka runs");
    assert!(
        out.status.success(),
        "generate-registration: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let registered: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&registration).unwrap()).unwrap();
    let token = |key: &str| registered[key].as_str().unwrap().to_owned();
    Slot {
        index,
        config,
        prefix,
        bot: format!("@g{index}bot:{DOMAIN}"),
        as_token: token("as_token"),
        hs_token: token("hs_token"),
        appservice_port,
    }
}

fn registration_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("registration-{index}.yaml"))
}

/// What the tests need of Synapse, over what it generated.
fn overlay(dir: &Path, port: u16, slots: &[Slot]) -> String {
    let registrations: String = slots
        .iter()
        .map(|slot| format!("  - {}\n", registration_path(dir, slot.index).display()))
        .collect();
    // Rate limits as a test needs them: not at all.
    let unlimited = "{per_second: 10000, burst_count: 10000}";
    format!(
        "listeners:\n  - port: {port}\n    bind_addresses: ['127.0.0.1']\n    type: http\n    tls: false\n    x_forwarded: false\n    resources:\n      - names: [client]\n        compress: false\n\
         database:\n  name: sqlite3\n  args:\n    database: {db}\n\
         app_service_config_files:\n{registrations}\
         enable_registration: true\n\
         enable_registration_without_verification: true\n\
         trusted_key_servers: []\n\
         suppress_key_server_warning: true\n\
         report_stats: false\n\
         presence:\n  enabled: false\n\
         max_upload_size: 2M\n\
         rc_message: {unlimited}\n\
         rc_registration: {unlimited}\n\
         rc_login:\n  address: {unlimited}\n  account: {unlimited}\n  failed_attempts: {unlimited}\n\
         rc_joins:\n  local: {unlimited}\n  remote: {unlimited}\n\
         rc_joins_per_room: {unlimited}\n\
         rc_invites:\n  per_room: {unlimited}\n  per_user: {unlimited}\n  per_issuer: {unlimited}\n\
         rc_room_creation: {unlimited}\n\
         rc_3pid_validation: {unlimited}\n\
         rc_admin_redaction: {unlimited}\n",
        db = dir.join("homeserver.db").display(),
    )
}

/// Waits until Synapse answers `/_matrix/client/versions`; fails with its logs.
async fn wait_for_versions(url: &str, dir: &Path) {
    let versions = format!("{url}/_matrix/client/versions");
    let answered = until(STARTUP, async || {
        let response = reqwest::get(&versions).await.map_err(drop)?;
        response.status().is_success().then_some(()).ok_or(())
    })
    .await;
    if answered.is_ok() {
        return;
    }
    let out = std::fs::read_to_string(dir.join("synapse.out")).unwrap_or_default();
    let log = std::fs::read_to_string(dir.join("homeserver.log")).unwrap_or_default();
    let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().join("\n");
    panic!("Synapse did not answer within {STARTUP:?}.\n{out}\n{tail}");
}

/// A port free now (the listener is dropped at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
