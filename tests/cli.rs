//! The `gadka` binary as an operator runs it: configuration layering, the bound
//! address in the log, clear refusal of bad settings, clean exit on SIGTERM.

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Child, Command, Stdio},
    time::Duration,
};

fn gadka() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gadka"));
    command
        .env_remove("GADKA_CONFIG")
        .env_remove("GADKA_LISTEN")
        .env_remove("GADKA_DATA_DIR")
        .env_remove("GADKA_DATABASE_URL")
        .env("NO_COLOR", "1");
    command
}

/// Reads the log until the server says where it listens.
fn bound_address(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("a log line");
        if line.contains("listening")
            && let Some(address) = line.split("address=").nth(1)
        {
            // Keep reading, so the server's later log lines do not meet a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return address.trim().to_owned();
        }
    }
    panic!("the server exited without saying where it listens");
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn wait_with_timeout(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the server did not stop within 10 s of SIGTERM");
}

#[test]
fn serves_on_a_free_port_from_flags_over_env_over_file_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gadka.yaml");
    let file_data_dir = dir.path().join("from-file");
    std::fs::write(
        &config,
        format!(
            "server:\n  listen: 127.0.0.1:1\n  data_dir: {}\nlimits:\n  max_message_bytes: 64\n",
            file_data_dir.display()
        ),
    )
    .unwrap();
    let mut child = gadka()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("GADKA_LISTEN", "not an address either")
        .env("GADKA_DATA_DIR", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gadka starts");
    let address = bound_address(&mut child);
    assert!(
        address.starts_with("127.0.0.1:") && !address.ends_with(":0") && !address.ends_with(":1"),
        "{address}"
    );

    let mut stream =
        std::net::TcpStream::connect(&address).expect("the server accepts connections");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gadka\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        dir.path().join("gadka.db").exists(),
        "the database is in GADKA_DATA_DIR"
    );
    assert!(
        !file_data_dir.exists(),
        "GADKA_DATA_DIR beats the file's server.data_dir"
    );
    assert!(
        dir.path().join("session.key").exists(),
        "and the generated secret beside it"
    );

    terminate(&child);
    assert!(
        wait_with_timeout(&mut child).success(),
        "a clean exit on SIGTERM"
    );
}

#[test]
fn a_bad_setting_stops_the_start_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (&["--listen", "nowhere"], &[], "server.listen"),
        (
            &[],
            &[("GADKA_MAX_MESSAGE_BYTES", "0")],
            "GADKA_MAX_MESSAGE_BYTES",
        ),
        (&[], &[("GADKA_ORIGINS", "example.org")], "GADKA_ORIGINS"),
        (
            &["serve"],
            &[("GADKA_DURABILITY", "fast")],
            "database.durability",
        ),
        (&["serve", "--writer-batch", "0"], &[], "GADKA_WRITER_BATCH"),
    ];
    for (args, env, key) in cases {
        let out = gadka()
            .args(args)
            .env("GADKA_DATA_DIR", dir.path())
            .envs(env.iter().copied())
            .output()
            .expect("gadka runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(key), "{key} named in {stderr}");
    }
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "limits:\n  ws_queue_frames: 0\n").unwrap();
    let out = gadka().arg("--config").arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("limits.ws_queue_frames")
            && stderr.contains("GADKA_WS_QUEUE_FRAMES")
            && stderr.contains("--ws-queue-frames")
            && stderr.trim().lines().count() == 1,
        "a bad file value is named in all its spellings: {stderr}"
    );
    std::fs::write(&config, "server:\n  lisen: 127.0.0.1:8080\n").unwrap();
    let out = gadka().arg("--config").arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("lisen") && stderr.trim().lines().count() == 1,
        "{stderr}"
    );
}
