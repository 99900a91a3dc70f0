//! `gadka admin user list|show|deactivate|reactivate|reset-password NAME`.

use std::io::{BufRead, Write};

use rand::{Rng, distr::Alphanumeric};
use serde::Serialize;

use super::AdminError;
use crate::{
    bridge,
    chat::{self, input::Username, views::rfc3339_millis},
    config::{Settings, UserCommand},
    ids::UserId,
    store::{self, AccountCounts, Store, UserRow},
};

/// Users read per query by `list`: a large server is never held in memory whole.
const LIST_PAGE: u64 = 1_000;

/// Characters of a generated password: 24 of 62 letters and digits are 142 bits.
const GENERATED_PASSWORD_CHARS: usize = 24;

/// Runs one `gadka admin user` command, writing what it did to `out`; `input` is read
/// only by `reset-password --password-stdin`.
#[tracing::instrument(name = "admin_user", skip_all, fields(command = ?command))]
pub async fn run_user(
    settings: &Settings,
    command: UserCommand,
    out: &mut dyn Write,
    input: &mut dyn BufRead,
) -> Result<(), AdminError> {
    let store = open(settings).await?;
    let result = match command {
        UserCommand::List { json } => list(&store, json, out).await,
        UserCommand::Show { name, json } => show(&store, &name, json, out).await,
        UserCommand::Deactivate { name } => deactivate(&store, &name, out).await,
        UserCommand::Reactivate { name } => reactivate(&store, &name, out).await,
        UserCommand::ResetPassword {
            name,
            password_stdin,
        } => {
            let password = if password_stdin {
                Some(read_password(input)?)
            } else {
                None
            };
            reset_password(&store, &name, password, out).await
        }
    };
    if let Err(e) = store.close().await {
        tracing::warn!(error = %e, "cannot close the database");
    }
    result
}

/// The database the settings name, schema brought up to date (the server does the
/// same at start). An SQLite file that is not there is an error, not a new empty
/// database: a wrong data dir would otherwise show no users at all.
async fn open(settings: &Settings) -> Result<Store, AdminError> {
    if let Some(path) = store::sqlite_path(&settings.database_url).map_err(AdminError::Open)?
        && !path.exists()
    {
        return Err(AdminError::NoDatabase(path));
    }
    Store::connect(&settings.database_url, settings.durability)
        .await
        .map_err(AdminError::Open)
}

/// The user NAME names: a username, in any case, as registration folds it; or a
/// Matrix user's ID, which is their username here.
async fn find(store: &Store, name: &str) -> Result<UserRow, AdminError> {
    let stored = match Username::parse(name) {
        Ok(username) => username.as_str().to_owned(),
        Err(_) => name.trim().to_owned(),
    };
    store
        .user_by_username(&stored)
        .await?
        .ok_or_else(|| AdminError::UnknownUser(name.to_owned()))
}

/// [`find`], for a change: a Matrix user has no account here to change.
async fn find_local(store: &Store, name: &str) -> Result<UserRow, AdminError> {
    let user = find(store, name).await?;
    match user.matrix_id {
        Some(matrix_id) => Err(AdminError::MatrixUser(matrix_id)),
        None => Ok(user),
    }
}

/// A user as `list --json` and `show --json` write them.
#[derive(Serialize)]
struct UserJson<'a> {
    id: i64,
    username: &'a str,
    display_name: &'a str,
    matrix_id: Option<&'a str>,
    created_at: String,
    /// `null` while active.
    deactivated_at: Option<String>,
    #[serde(flatten)]
    counts: Option<CountsJson>,
}

#[derive(Serialize)]
struct CountsJson {
    conversations: u64,
    live_sessions: u64,
}

impl<'a> UserJson<'a> {
    fn new(user: &'a UserRow, counts: Option<AccountCounts>) -> Self {
        Self {
            id: user.id.get(),
            username: &user.username,
            display_name: &user.display_name,
            matrix_id: user.matrix_id.as_deref(),
            created_at: rfc3339_millis(user.created_at),
            deactivated_at: user.deactivated_at.map(rfc3339_millis),
            counts: counts.map(|c| CountsJson {
                conversations: c.conversations,
                live_sessions: c.live_sessions,
            }),
        }
    }
}

/// `list`: every user, a page at a time. The table's columns are as wide as the first
/// page needs (at least the header); a longer value further down pushes its line out.
async fn list(store: &Store, json: bool, out: &mut dyn Write) -> Result<(), AdminError> {
    let mut after = UserId::new(0);
    let mut widths: Option<[usize; 4]> = None;
    let mut first = true;
    if json {
        write!(out, "[")?;
    }
    loop {
        let page = store.users_after(after, LIST_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        if json {
            for user in &page {
                let separator = if first { "\n  " } else { ",\n  " };
                first = false;
                write!(out, "{separator}")?;
                serde_json::to_writer(&mut *out, &UserJson::new(user, None))
                    .map_err(std::io::Error::from)?;
            }
        } else {
            let rows: Vec<[String; 5]> = page.iter().map(table_row).collect();
            let table = match widths {
                Some(table) => table,
                None => {
                    let first_page = column_widths(&rows);
                    print_row(out, &HEADER.map(str::to_owned), first_page)?;
                    *widths.insert(first_page)
                }
            };
            for row in &rows {
                print_row(out, row, table)?;
            }
        }
        if (page.len() as u64) < LIST_PAGE {
            break;
        }
    }
    if json {
        writeln!(out, "{}]", if first { "" } else { "\n" })?;
    } else if widths.is_none() {
        writeln!(out, "no users")?;
    }
    Ok(())
}

const HEADER: [&str; 5] = ["ID", "USERNAME", "DISPLAY NAME", "CREATED", "DEACTIVATED"];

/// The widths of the first four columns (the last is not padded): the widest of the
/// header and `rows`, in characters.
fn column_widths(rows: &[[String; 5]]) -> [usize; 4] {
    let mut widths = [0; 4];
    for row in std::iter::once(&HEADER.map(str::to_owned)).chain(rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    widths
}

fn table_row(user: &UserRow) -> [String; 5] {
    [
        user.id.to_string(),
        user.username.clone(),
        printable(&user.display_name),
        rfc3339_seconds(user.created_at),
        user.deactivated_at
            .map_or_else(|| "-".to_owned(), rfc3339_seconds),
    ]
}

fn print_row(out: &mut dyn Write, row: &[String; 5], widths: [usize; 4]) -> std::io::Result<()> {
    let [id, username, name, created, deactivated] = row;
    let pad = |cell: &str, width: usize| {
        let n = width.saturating_sub(cell.chars().count());
        format!("{cell}{}", " ".repeat(n))
    };
    let id_padded = format!("{}{id}", " ".repeat(widths[0].saturating_sub(id.len())));
    writeln!(
        out,
        "{id_padded}  {}  {}  {}  {deactivated}",
        pad(username, widths[1]),
        pad(name, widths[2]),
        pad(created, widths[3]),
    )
}

/// A name as it may reach the operator's terminal: with every control character a
/// space. The rules refuse them in display names, but a row older than a rule is not
/// held to it, and an escape sequence could rewrite the screen.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A timestamp for people: RFC 3339 to the second, UTC.
fn rfc3339_seconds(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `show NAME`: one user, with how many conversations they are in and how many
/// sessions they have live.
async fn show(
    store: &Store,
    name: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let user = find(store, name).await?;
    let counts = store.account_counts(user.id, now_ms()).await?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &UserJson::new(&user, Some(counts)))
            .map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    let mut lines = vec![
        ("id", user.id.to_string()),
        ("username", user.username.clone()),
        ("display name", printable(&user.display_name)),
    ];
    if let Some(matrix_id) = &user.matrix_id {
        lines.push(("matrix id", matrix_id.clone()));
    }
    lines.extend([
        ("created", rfc3339_seconds(user.created_at)),
        (
            "deactivated",
            user.deactivated_at
                .map_or_else(|| "no".to_owned(), rfc3339_seconds),
        ),
        ("conversations", counts.conversations.to_string()),
        ("live sessions", counts.live_sessions.to_string()),
    ]);
    for (label, value) in lines {
        writeln!(out, "{:<15}{value}", format!("{label}:"))?;
    }
    Ok(())
}

/// `deactivate NAME`.
async fn deactivate(store: &Store, name: &str, out: &mut dyn Write) -> Result<(), AdminError> {
    let user = find_local(store, name).await?;
    let done = store
        .deactivate_user(user.id, now_ms(), |conversation| {
            bridge::leave_row(conversation, user.id)
        })
        .await?;
    let Some(done) = done else {
        let since = user.deactivated_at.map_or_else(String::new, |at| {
            format!(" (since {})", rfc3339_seconds(at))
        });
        writeln!(out, "{} is deactivated already{since}", user.username)?;
        return Ok(());
    };
    tracing::info!(
        user.id = user.id.get(),
        sessions = done.sessions_revoked,
        rooms = done.rooms_to_leave,
        "deactivated"
    );
    writeln!(
        out,
        "deactivated {} (id {}): they cannot log in and are not found in search; {}",
        user.username,
        user.id,
        revoked(done.sessions_revoked),
    )?;
    if done.rooms_to_leave > 0 {
        writeln!(
            out,
            "their Matrix puppet leaves {} {} as soon as the bridge runs",
            done.rooms_to_leave,
            plural(done.rooms_to_leave, "room", "rooms"),
        )?;
    }
    Ok(())
}

/// `reactivate NAME`.
async fn reactivate(store: &Store, name: &str, out: &mut dyn Write) -> Result<(), AdminError> {
    let user = find_local(store, name).await?;
    if store.reactivate_user(user.id).await? {
        tracing::info!(user.id = user.id.get(), "reactivated");
        writeln!(
            out,
            "reactivated {} (id {}): they can log in and be found again",
            user.username, user.id
        )?;
    } else {
        writeln!(out, "{} is not deactivated", user.username)?;
    }
    Ok(())
}

/// `reset-password NAME`: `password` from standard input, or a generated one that is
/// printed (once: it is stored only as its hash).
async fn reset_password(
    store: &Store,
    name: &str,
    password: Option<String>,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let user = find_local(store, name).await?;
    let generated = password.is_none();
    let password = password.unwrap_or_else(|| {
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(GENERATED_PASSWORD_CHARS)
            .map(char::from)
            .collect()
    });
    // argon2id takes tens of milliseconds of CPU: off the runtime's threads.
    let (hash, password) = tokio::task::spawn_blocking(move || {
        chat::new_password_hash(&password).map(|hash| (hash, password))
    })
    .await
    .map_err(|e| AdminError::Password(chat::ChatError::Internal(e.into())))?
    .map_err(AdminError::Password)?;
    let sessions = store
        .set_password(user.id, &hash, now_ms())
        .await?
        .ok_or_else(|| AdminError::UnknownUser(name.to_owned()))?;
    tracing::info!(user.id = user.id.get(), sessions, "password reset");
    if generated {
        writeln!(out, "new password for {}: {password}", user.username)?;
    } else {
        writeln!(out, "password of {} changed", user.username)?;
    }
    writeln!(out, "{}", revoked(sessions))?;
    Ok(())
}

/// The first line of `input`, without its line ending (and nothing else taken away:
/// a password may begin or end with spaces).
fn read_password(input: &mut dyn BufRead) -> Result<String, AdminError> {
    let mut line = String::new();
    input.read_line(&mut line).map_err(AdminError::Stdin)?;
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if password.is_empty() {
        return Err(AdminError::NoPassword);
    }
    Ok(password.to_owned())
}

/// What revoking `n` sessions means for the user.
fn revoked(n: u64) -> String {
    match n {
        0 => "they had no live session".to_owned(),
        n => format!(
            "{n} live {} revoked, and a running server closes their sockets within a second",
            plural(n, "session", "sessions")
        ),
    }
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
