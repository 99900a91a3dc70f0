//! The `gadka` binary as an operator runs it: configuration layering, the bound
//! address in the log, clear refusal of bad settings, clean exit on SIGTERM.

use std::{
    io::{Read, Write},
    process::{Child, Command, Stdio},
};

use gadka_test_support::{PATIENCE, bound_address, until};

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

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test]
async fn serves_on_a_free_port_from_flags_over_env_over_file_and_stops_on_sigterm() {
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
    let exited = until(PATIENCE, async || child.try_wait().expect("wait").ok_or(())).await;
    let Ok(status) = exited else {
        let _ = child.kill();
        panic!("the server did not stop within {PATIENCE:?} of SIGTERM");
    };
    assert!(status.success(), "a clean exit on SIGTERM");
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

/// The repository's annotated example, pointed at a data dir of the test's own.
fn example_bridge_config(dir: &std::path::Path) -> std::path::PathBuf {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/bridge-config.yaml"))
            .expect("bridge-config.yaml is at the top of the repository");
    let config = dir.join("bridge-config.yaml");
    std::fs::write(
        &config,
        example.replace("./gadka-data", &dir.join("data").display().to_string()),
    )
    .unwrap();
    config
}

fn yaml(path: &std::path::Path) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn generate_registration_writes_the_registration_and_fills_the_tokens_in() {
    let dir = tempfile::tempdir().unwrap();
    let config = example_bridge_config(dir.path());
    let registration = dir.path().join("registration.yaml");

    let out = gadka()
        .args(["generate-registration", "--config"])
        .arg(&config)
        .arg("--registration")
        .arg(&registration)
        .output()
        .expect("gadka runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let text = std::fs::read_to_string(&registration).unwrap();
    assert!(
        !text.contains("msc2409"),
        "only the stable receive_ephemeral key: {text}"
    );
    let reg = yaml(&registration);
    let conf = yaml(&config);
    let as_token = reg["as_token"].as_str().unwrap();
    let hs_token = reg["hs_token"].as_str().unwrap();
    for token in [as_token, hs_token] {
        assert_eq!(token.len(), 64);
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
    }
    assert_ne!(as_token, hs_token);
    assert_eq!(conf["appservice"]["as_token"].as_str(), Some(as_token));
    assert_eq!(conf["appservice"]["hs_token"].as_str(), Some(hs_token));
    assert_eq!(reg["id"].as_str(), Some("gadka"));
    assert_eq!(reg["url"].as_str(), Some("http://localhost:29340"));
    assert_eq!(reg["sender_localpart"].as_str(), Some("gadkabot"));
    assert_eq!(reg["rate_limited"].as_bool(), Some(false));
    assert_eq!(reg["receive_ephemeral"].as_bool(), Some(true));
    let users: Vec<_> = reg["namespaces"]["users"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|ns| {
            assert_eq!(ns["exclusive"].as_bool(), Some(true));
            ns["regex"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        users,
        [r"^@gadkabot:example\.org$", r"^@gadka_.*:example\.org$"]
    );
    let edited = std::fs::read_to_string(&config).unwrap();
    assert!(
        edited.contains("# The shared secrets.")
            && edited.contains("# gadka with its Matrix bridge"),
        "the comments are kept: {edited}"
    );

    // Again: fresh tokens, in both files.
    let out = gadka()
        .args(["generate-registration", "-r"])
        .arg(&registration)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success());
    let again = yaml(&registration);
    assert_ne!(again["as_token"].as_str(), Some(as_token));
    assert_eq!(
        yaml(&config)["appservice"]["as_token"],
        again["as_token"],
        "the config holds the new token"
    );
}

#[test]
fn the_bridge_needs_its_tokens_and_its_config_to_generate_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = example_bridge_config(dir.path());
    for args in [&["serve"][..], &[]] {
        let out = gadka()
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("appservice.as_token")
                && stderr.contains("generate-registration")
                && stderr.trim().lines().count() == 1,
            "{stderr}"
        );
    }

    let out = gadka()
        .args(["generate-registration"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--config"), "{stderr}");

    let plain = dir.path().join("plain.yaml");
    std::fs::write(&plain, "server:\n  listen: 127.0.0.1:0\n").unwrap();
    let out = gadka()
        .args(["generate-registration", "--config"])
        .arg(&plain)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("homeserver"), "{stderr}");
    assert!(!dir.path().join("registration.yaml").exists());

    std::fs::write(
        &plain,
        "homeserver:\n  address: http://localhost:8008\n  domain: example.org\nappservice:\n  address: http://localhost:1\n  port: lots\n",
    )
    .unwrap();
    let out = gadka().arg("--config").arg(&plain).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("appservice.port") && stderr.trim().lines().count() == 1,
        "{stderr}"
    );
}

#[tokio::test]
async fn migrate_makes_the_schema_and_a_node_that_may_not_migrate_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let serve = || {
        let mut command = gadka();
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "off",
            ])
            .args(["--migrate-on-start", "false", "--data-dir"])
            .arg(dir.path());
        command
    };

    // Told not to migrate, a node refuses a schema older than itself and says what to do.
    let refused = serve().output().expect("gadka runs");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("migrations pending") && said.contains("gadka migrate"),
        "{said}"
    );

    let migrate = || {
        gadka()
            .arg("migrate")
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .expect("gadka migrate runs")
    };
    let first = migrate();
    assert!(first.status.success(), "{first:?}");
    let listed = String::from_utf8_lossy(&first.stdout);
    assert!(
        listed.starts_with("applied ") && listed.contains("m20261213_000001_media"),
        "{listed}"
    );
    let again = migrate();
    assert!(again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));

    // Now it starts, on the schema it expects.
    let mut node = serve()
        .stdout(Stdio::piped())
        .spawn()
        .expect("gadka starts");
    let address = bound_address(&mut node);
    let health = reqwest::get(format!("http://{address}/healthz"))
        .await
        .expect("the node answers");
    assert_eq!(health.status(), 200);
    terminate(&node);
    assert!(node.wait().expect("it stops").success());
}
