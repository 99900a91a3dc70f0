//! A `nats-server` of one test's own, on a free loopback port: what carries the
//! cluster's news between nodes. The tests start and stop it themselves (a restart
//! on the same port is how a test cuts the nodes off from each other and lets them
//! back), so CI only has to install it (`apt-get install nats-server`).

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use tempfile::TempDir;
use tokio::time::Instant;

/// How long a starting `nats-server` may take to accept connections.
const START_PATIENCE: Duration = Duration::from_secs(20);

/// A running `nats-server`; killed when dropped, so a failing test leaves none behind.
pub struct NatsServer {
    port: u16,
    child: Option<Child>,
    /// Holds its log (`nats.log`), quoted when it fails to start.
    dir: TempDir,
}

impl NatsServer {
    /// Starts `nats-server` on a free loopback port and waits until it accepts
    /// connections.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // Another process may take the free port between our look and the server's
        // bind; a server that exits at once is started again on another.
        let mut last_failure = String::new();
        for _ in 0..5 {
            let port = free_port();
            match spawn(port, &dir).await {
                Ok(child) => {
                    return Self {
                        port,
                        child: Some(child),
                        dir,
                    };
                }
                Err(failure) => last_failure = failure,
            }
        }
        panic!("nats-server did not start: {last_failure}");
    }

    /// `nats://127.0.0.1:PORT`, the address nodes are given.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): the nodes lose it until [`NatsServer::start_again`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, after [`NatsServer::kill`].
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "nats-server is still running");
        // The old process is gone, but its port may be held for a moment longer.
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            match spawn(self.port, &self.dir).await {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(failure) if Instant::now() >= deadline => {
                    panic!(
                        "nats-server did not start again on port {}: {failure}",
                        self.port
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Kills the server and starts it again on the same port: every connection to it
    /// is cut, and whatever was published in between reached nobody.
    pub async fn restart(&mut self) {
        self.kill();
        self.start_again().await;
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns `nats-server` on `port`, logging into `dir`, and waits until the port
/// accepts TCP; why not, if it exits first or never does.
async fn spawn(port: u16, dir: &TempDir) -> Result<Child, String> {
    let log_path = dir.path().join("nats.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("nats-server's log file");
    let mut child = Command::new(binary())
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the log file again"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting nats-server: {e}"));
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + START_PATIENCE;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status}); its log:\n{}", read_log()));
        }
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "port {port} accepted nothing within {START_PATIENCE:?}; its log:\n{}",
                read_log()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `nats-server` on `PATH`, or where Debian's package puts it.
fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    });
    let debian = PathBuf::from("/usr/sbin/nats-server");
    on_path
        .or_else(|| debian.is_file().then_some(debian))
        .unwrap_or_else(|| {
            panic!(
                "nats-server is not installed (neither on PATH nor at /usr/sbin/nats-server): \
                 the cluster tests start their own. Install it with `apt-get install nats-server` \
                 (`.ci/run` does)."
            )
        })
}

/// A loopback port nobody listens on at the moment of asking.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}
