//! The operator's tools as an operator runs them: the `gadka` binary's `admin user …`
//! and `backup`, in a process of their own, on the data dir of a server that is
//! running (the real `Application`, from `spawn_app`) with logged-in users, open
//! sockets and, for the backup, messages streaming in.

use std::{
    io::Write,
    path::Path,
    process::{Command, Output, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use gadka_test_support::{
    Client, TestApp, assert_error, create_postgres_database, drop_postgres_database, password,
    spawn_app, spawn_in, spawn_with,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How soon a running server must close the sockets of a deactivated user: it looks
/// every second; the rest is slack for a machine busy compiling.
const SOCKETS_CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// Runs `gadka ARGS --data-dir DIR` to its end, with `stdin` as its standard input,
/// off the runtime's threads (the server under test runs on them).
async fn gadka(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gadka"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("GADKA_CONFIG")
        .env_remove("GADKA_DATA_DIR")
        .env_remove("GADKA_DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("gadka starts");
        let mut input = child.stdin.take().expect("piped stdin");
        if let Some(stdin) = stdin {
            input
                .write_all(stdin.as_bytes())
                .expect("gadka reads stdin");
        }
        drop(input);
        child.wait_with_output().expect("gadka runs")
    })
    .await
    .expect("the process's thread")
}

/// `gadka ARGS` that must succeed; its standard output.
async fn gadka_ok(app: &TestApp, args: &[&str]) -> String {
    let out = gadka(app.data_dir.path(), args, None).await;
    assert_success(args, &out)
}

/// `gadka ARGS --database-url URL` that must succeed, for a server on PostgreSQL
/// (`None`: on the SQLite file of its data dir).
async fn gadka_ok_on(app: &TestApp, database_url: Option<&str>, args: &[&str]) -> String {
    let mut args = args.to_vec();
    if let Some(url) = database_url {
        args.extend(["--database-url", url]);
    }
    gadka_ok(app, &args).await
}

#[track_caller]
fn assert_success(args: &[&str], out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "gadka {args:?}: {:?}\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

/// `gadka ARGS` that must fail with exit code 1 and one line on standard error; that
/// line.
#[track_caller]
fn assert_failure(args: &[&str], out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "gadka {args:?}: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    stderr
}

async fn login(app: &TestApp, username: &str, password: &str) -> (StatusCode, Value, Client) {
    let mut client = app.client();
    let (status, body) = client
        .post(
            "/api/login",
            json!({"username": username, "password": password}),
        )
        .await;
    client.user = body["user"].clone();
    (status, body, client)
}

async fn found(client: &Client, q: &str) -> Vec<String> {
    let body = client.get_ok(&format!("/api/users?q={q}")).await;
    body["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["username"].as_str().expect("a username").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_show_read_the_live_database() {
    let app = spawn_app().await;
    let (alice, _bob, _) = app.alice_and_bob().await;
    alice
        .patch("/api/me", json!({"display_name": "Alice Liddell"}))
        .await;
    let _second = app.login("alice").await;

    let table = gadka_ok(&app, &["admin", "user", "list"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two users: {table}");
    for column in ["ID", "USERNAME", "DISPLAY NAME", "CREATED", "DEACTIVATED"] {
        assert!(lines[0].contains(column), "{table}");
    }
    assert!(
        lines[1].contains("alice") && lines[1].contains("Alice Liddell"),
        "{table}"
    );
    assert!(lines[1].trim_end().ends_with('-'), "active: {table}");
    // Columns line up: every line has its display name at the same place.
    let at = lines[0].find("DISPLAY NAME").expect("the header");
    assert_eq!(lines[1].find("Alice Liddell"), Some(at), "{table}");

    let json: Value =
        serde_json::from_str(&gadka_ok(&app, &["admin", "user", "list", "--json"]).await)
            .expect("a JSON document");
    let users = json.as_array().expect("an array");
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["username"], "alice");
    assert_eq!(users[0]["display_name"], "Alice Liddell");
    assert_eq!(users[0]["id"], alice.id());
    assert_eq!(users[0]["deactivated_at"], Value::Null);
    assert!(
        users[0]["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    // Any case finds the user; counts are the live database's.
    let shown = gadka_ok(&app, &["admin", "user", "show", "ALICE"]).await;
    for line in [
        "username:      alice",
        "display name:  Alice Liddell",
        "deactivated:   no",
        "conversations: 1",
        "live sessions: 2",
    ] {
        assert!(shown.contains(line), "{line:?} in {shown}");
    }
    let shown: Value =
        serde_json::from_str(&gadka_ok(&app, &["admin", "user", "show", "alice", "--json"]).await)
            .expect("a JSON object");
    assert_eq!(shown["conversations"], 1);
    assert_eq!(shown["live_sessions"], 2);

    for args in [
        &["admin", "user", "show", "nobody"][..],
        &["admin", "user", "deactivate", "nobody"],
        &["admin", "user", "reset-password", "nobody"],
    ] {
        let out = gadka(app.data_dir.path(), args, None).await;
        let stderr = assert_failure(args, &out);
        assert!(stderr.contains("no user named \"nobody\""), "{stderr}");
    }

    // A wrong data dir is said so, and no empty database is made there.
    let elsewhere = tempfile::tempdir().unwrap();
    let args = ["admin", "user", "list"];
    let out = gadka(elsewhere.path(), &args, None).await;
    let stderr = assert_failure(&args, &out);
    assert!(stderr.contains("there is no database at"), "{stderr}");
    assert!(!elsewhere.path().join("gadka.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_ends_sessions_and_sockets_and_reactivate_undoes_it() {
    let app = spawn_app().await;
    deactivation(&app, None).await;
}

/// The same on PostgreSQL, which the tools reach with the server's `database.url`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_works_the_same_on_postgresql() {
    let (url, name) = create_postgres_database().await;
    let app = spawn_with(|s| s.database_url = url.clone()).await;
    deactivation(&app, Some(&url)).await;
    app.stop().await;
    drop_postgres_database(&name).await;
}

/// Alice, with an open socket, is deactivated and reactivated by the tools while bob
/// looks on; `database_url` is the server's when it is not the data dir's SQLite.
async fn deactivation(app: &TestApp, database_url: Option<&str>) {
    let (alice, bob, conversation) = app.alice_and_bob().await;
    let (mut socket, _) = app.socket(&alice).await;
    let (mut bobs_socket, _) = app.socket(&bob).await;
    assert_eq!(found(&bob, "alice").await, ["alice"]);

    let out = gadka_ok_on(app, database_url, &["admin", "user", "deactivate", "alice"]).await;
    let done = Instant::now();
    assert!(
        out.contains("deactivated alice") && out.contains("1 live session revoked"),
        "{out}"
    );

    // Her open socket is closed by the running server, saying why.
    let close = socket.closed().await.expect("a close frame");
    assert!(
        done.elapsed() < SOCKETS_CLOSE_WITHIN,
        "closed after {:?}",
        done.elapsed()
    );
    assert_eq!(u16::from(close.code), 4001);
    assert_eq!(close.reason.as_str(), "account deactivated");
    // Bob's is not: it hears that she went offline, and nothing else.
    let presence = bobs_socket.next_of("presence").await;
    assert_eq!(presence["user_id"], alice.id(), "{presence}");
    assert_eq!(presence["online"], false, "{presence}");
    bobs_socket.assert_quiet().await;

    // Her session no longer works, over HTTP or to open a socket.
    let (status, body) = alice.get("/api/me").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let refusal = app
        .try_socket(alice.cookie().as_deref(), None)
        .await
        .err()
        .expect("the upgrade is refused");
    assert_eq!(refusal.status, 401);
    // She cannot log in: the right password is told why, a wrong one is not.
    let (status, body, _) = login(app, "alice", &password("alice")).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "deactivated");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deactivated"),
        "{body}"
    );
    let (status, body, _) = login(app, "alice", "not her password").await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    // Search does not find her; bob still has their conversation and its messages.
    assert!(found(&bob, "alice").await.is_empty());
    bob.send(conversation, "are you there?").await;
    assert_eq!(bob.history(conversation, "").await.len(), 1);

    let shown = gadka_ok_on(app, database_url, &["admin", "user", "show", "alice"]).await;
    assert!(
        !shown.contains("deactivated:   no") && shown.contains("live sessions: 0"),
        "{shown}"
    );
    let listed = gadka_ok_on(app, database_url, &["admin", "user", "list"]).await;
    let row = listed
        .lines()
        .find(|l| l.contains("alice"))
        .expect("her row");
    assert!(!row.trim_end().ends_with('-'), "{listed}");
    let again = gadka_ok_on(app, database_url, &["admin", "user", "deactivate", "alice"]).await;
    assert!(again.contains("deactivated already"), "{again}");

    let out = gadka_ok_on(app, database_url, &["admin", "user", "reactivate", "alice"]).await;
    assert!(out.contains("reactivated alice"), "{out}");
    let (status, body, alice) = login(app, "alice", &password("alice")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(found(&bob, "alice").await, ["alice"]);
    let (_, hello) = app.socket(&alice).await;
    assert_eq!(hello["unread"]["total"], 1, "bob's message waited for her");
    let again = gadka_ok_on(app, database_url, &["admin", "user", "reactivate", "alice"]).await;
    assert!(again.contains("not deactivated"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_prints_one_that_works_and_ends_every_session() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let (mut socket, _) = app.socket(&alice).await;

    let out = gadka_ok(&app, &["admin", "user", "reset-password", "alice"]).await;
    let done = Instant::now();
    let new = out
        .lines()
        .find_map(|l| l.strip_prefix("new password for alice: "))
        .unwrap_or_else(|| panic!("the password printed: {out}"))
        .to_owned();
    assert_eq!(new.len(), 24, "{new}");
    assert!(out.contains("1 live session revoked"), "{out}");

    let close = socket.closed().await.expect("a close frame");
    assert!(
        done.elapsed() < SOCKETS_CLOSE_WITHIN,
        "closed after {:?}",
        done.elapsed()
    );
    assert_eq!(u16::from(close.code), 4001);
    assert_eq!(close.reason.as_str(), "session ended");
    let (status, body) = alice.get("/api/me").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");

    let (status, body, _) = login(&app, "alice", &password("alice")).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    let (status, body, _) = login(&app, "alice", &new).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the printed password logs in: {body}"
    );

    // From standard input: the first line, spaces and all, without its line ending.
    let chosen = " correct horse battery staple ";
    let args = [
        "admin",
        "user",
        "reset-password",
        "Alice",
        "--password-stdin",
    ];
    let out = gadka(
        app.data_dir.path(),
        &args,
        Some(&format!("{chosen}\r\nignored\n")),
    )
    .await;
    let out = assert_success(&args, &out);
    assert!(!out.contains(chosen.trim()), "not echoed: {out}");
    let (status, _, _) = login(&app, "alice", &new).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body, _) = login(&app, "alice", chosen).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The rules of sign-up hold.
    let out = gadka(app.data_dir.path(), &args, Some("short\n")).await;
    let stderr = assert_failure(&args, &out);
    assert!(stderr.contains("password"), "{stderr}");
    let out = gadka(app.data_dir.path(), &args, Some("")).await;
    let stderr = assert_failure(&args, &out);
    assert!(stderr.contains("standard input"), "{stderr}");
    let (status, body, _) = login(&app, "alice", chosen).await;
    assert_eq!(status, StatusCode::OK, "unchanged by the refusals: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_holds_every_message_acknowledged_before_it() {
    let app = spawn_app().await;
    let (alice, bob, conversation) = app.alice_and_bob().await;
    let (alice, bob) = (Arc::new(alice), Arc::new(bob));
    // Acknowledged messages, with when each acknowledgement arrived.
    let acknowledged: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for (n, client) in [alice.clone(), bob.clone(), alice.clone()]
        .into_iter()
        .enumerate()
    {
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let message = client
                    .send(
                        conversation,
                        &format!("sender {n}, message {i}: {}", "x".repeat(200)),
                    )
                    .await;
                let id = message["id"].as_i64().expect("an id");
                acknowledged.lock().unwrap().push((id, Instant::now()));
                i += 1;
            }
        }));
    }
    // Under way before the backup starts.
    while acknowledged.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("gadka-backup.db");
    let file_arg = file.to_str().unwrap();
    let started = Instant::now();
    let args = ["backup", file_arg];
    let out = gadka(app.data_dir.path(), &args, None).await;
    let out = assert_success(&args, &out);
    assert!(out.contains("wrote a consistent copy"), "{out}");
    // The load went on during the backup, and goes on after it.
    let during = acknowledged.lock().unwrap().len();
    while acknowledged.lock().unwrap().len() < during + 50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    let before: Vec<i64> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at < started)
        .map(|(id, _)| *id)
        .collect();
    assert!(before.len() >= 200);
    // The load went on while the backup ran.
    assert!(
        during > before.len(),
        "{during} acknowledged by its end, {} before",
        before.len()
    );

    // Nothing is left beside it, and only its owner may read it.
    let names: Vec<String> = std::fs::read_dir(backups.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["gadka-backup.db"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // An existing file is never replaced.
    let size = std::fs::metadata(&file).unwrap().len();
    let out = gadka(app.data_dir.path(), &args, None).await;
    let stderr = assert_failure(&args, &out);
    assert!(stderr.contains("exists already"), "{stderr}");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);
    // PostgreSQL is pg_dump's.
    let args = [
        "backup",
        "elsewhere.db",
        "--database-url",
        "postgres://gadka@127.0.0.1/gadka",
    ];
    let out = gadka(app.data_dir.path(), &args, None).await;
    let stderr = assert_failure(&args, &out);
    assert!(stderr.contains("pg_dump"), "{stderr}");
    app.stop().await;

    // Restored as the README says: the file as the database of a data dir.
    let restored = Arc::new(tempfile::tempdir().unwrap());
    std::fs::copy(&file, restored.path().join("gadka.db")).unwrap();
    let app = spawn_in(restored, |_| {}).await;
    let (status, body, alice) = login(&app, "alice", &password("alice")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut stored = Vec::new();
    let mut query = "?limit=100".to_owned();
    loop {
        let page = alice.history(conversation, &query).await;
        let Some(first) = page.first() else { break };
        query = format!("?limit=100&before={}", first["seq"]);
        stored.extend(page.iter().map(|m| m["id"].as_i64().expect("an id")));
    }
    stored.sort_unstable();
    let missing: Vec<i64> = before
        .iter()
        .copied()
        .filter(|id| stored.binary_search(id).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} messages acknowledged before the backup are missing from it: {missing:?}",
        missing.len(),
        before.len()
    );
    let seqs = stored.len();
    let last_seq = alice.history(conversation, "?limit=1").await[0]["seq"]
        .as_i64()
        .unwrap();
    assert_eq!(seqs as i64, last_seq, "a whole conversation, no gaps");
}
