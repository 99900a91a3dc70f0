//! The web client in real Chromium, at the size issue 20 is about: one user with 300
//! conversations, one of them 5,000 messages long. `cargo bench --bench web` starts
//! gadka in-process (the same `Application` as `main`, built in the bench profile
//! with its client embedded, on a fresh SQLite database), seeds it (`seed.rs`),
//! and runs the client several times in a fresh headless Chromium each (`measure.rs`,
//! timed inside the page by `probe.js`); then it prints a Markdown table of the
//! medians with the issue's targets beside them (`report.rs`). Figures and how to
//! read them are in BENCHMARKS.md.
//!
//! In-process by default, as the tests start the server: one command, nothing to set
//! up, and a database nobody else writes to. `--url` measures a gadka running
//! elsewhere instead (a release binary, PostgreSQL, another machine); `--seed-only`
//! seeds that one and prints the logins, so the seed is the repository's seeding
//! script too; `--tag` measures a seed made earlier.
//!
//! ```text
//! cargo bench --bench web                                     # seed, 5 runs, table
//! cargo bench --bench web -- --url http://127.0.0.1:8080 --seed-only
//! cargo bench --bench web -- --url http://127.0.0.1:8080 --tag bench1a2b3c --runs 3
//! ```

mod account;
mod browser;
mod measure;
mod report;
mod seed;

use anyhow::{Context, bail};
use clap::Parser;

use crate::{
    browser::{Driver, VIEWPORT},
    measure::{Plan, Sockets},
};

#[derive(Debug, Parser)]
#[command(
    about = "gadka's web client in real Chromium, with 300 conversations and a 5,000-message chat"
)]
struct Args {
    /// Measure the gadka at this URL (`http://host:port`) instead of one started in-process.
    #[arg(long)]
    url: Option<String>,
    /// Use the seed with this tag, already on the server, instead of seeding.
    #[arg(long)]
    tag: Option<String>,
    /// Only seed the server at `--url`, print the logins, and stop.
    #[arg(long, requires = "url", conflicts_with = "tag")]
    seed_only: bool,
    /// Runs, each in a fresh Chromium.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Keystrokes measured per run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    keys: u32,
    /// `message` and `receipt` frames measured per run, each.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    frames: u32,
    /// Pixels scrolled up per frame on the way to the chat's first message.
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u32).range(1..))]
    scroll_step: u32,
    /// Passed by `cargo bench`; nothing to do with this bench.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The in-process server lives as long as `_app`.
    let (_app, base) = match &args.url {
        Some(url) => (None, url.trim_end_matches('/').to_owned()),
        None => {
            let app = gadka_test_support::spawn_app().await;
            let base = app.url("");
            (Some(app), base)
        }
    };
    let world = match &args.tag {
        Some(tag) => seed::existing(&base, tag)
            .await
            .with_context(|| format!("finding the seed {tag} on {base}"))?,
        None => seed::seed(&base, &seed::new_tag())
            .await
            .with_context(|| format!("seeding {base}"))?,
    };
    if args.seed_only {
        println!("seeded {base} with tag {}", world.tag);
        println!(
            "log in as {} with the password {}",
            world.me.username,
            seed::PASSWORD
        );
        println!(
            "the {}-message chat is /c/{} (with {}); measure it with --url {base} --tag {}",
            seed::BIG_CHAT,
            world.big_chat,
            world.peer.username,
            world.tag
        );
        return Ok(());
    }

    let plan = Plan {
        keys: args.keys as usize,
        frames: args.frames as usize,
        scroll_step: args.scroll_step,
    };
    let driver = Driver::start().await?;
    let mut sockets = Sockets {
        peer: world.peer.socket().await?,
        mine: world.me.socket().await?,
    };
    let messages_at_start = world.me.newest_seq(world.big_chat).await?;
    let load_at_start = load_average();
    let mut runs = Vec::new();
    let mut version = String::from("unknown");
    for n in 1..=args.runs {
        eprintln!("run {n}/{}…", args.runs);
        match measure::run(&driver, &base, &world, &mut sockets, plan).await {
            Ok((figures, chromium)) => {
                runs.push(figures);
                version = chromium;
            }
            Err(e) => eprintln!("run {n} failed: {e:#}"),
        }
    }
    if runs.is_empty() {
        bail!("no run completed");
    }

    let server = match &args.url {
        Some(url) => format!("gadka at {url}"),
        None => String::from("gadka in-process (bench profile, client embedded, SQLite)"),
    };
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "{}, {server}; Chromium {version} headless at {}×{}; {cores} cores, load average \
         {load_at_start} before the runs and {} after; {} of {} runs; \
         seed {}: {} conversations, the big chat at {messages_at_start} messages when the runs began; \
         per run {} keystrokes, {} message and {} receipt frames, scrolling {} px a frame\n",
        chrono::Utc::now().format("%Y-%m-%d"),
        VIEWPORT.0,
        VIEWPORT.1,
        load_average(),
        runs.len(),
        args.runs,
        world.tag,
        seed::CONVERSATIONS,
        plan.keys,
        plan.frames,
        plan.frames,
        plan.scroll_step,
    );
    print!("{}", report::table(&runs));
    Ok(())
}

/// The machine's one-minute load average: the figures mean little without it on a
/// shared machine.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| String::from("unknown"))
}
