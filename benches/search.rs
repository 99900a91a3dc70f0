//! The people search among a million users: p50 and p99 of `GET /api/users?q=…` for
//! non-ASCII prefixes, on SQLite and on PostgreSQL, against the real server started
//! in-process, with a client on loopback.
//!
//! The users are written straight into a database at the schema before the search's
//! migration (bulk inserts, no argon2), and the server's start then runs that migration:
//! so the bench also times what an upgrade of a server with that many users does once.
//! Beside the search it times the query the search replaced (`LIKE '%text%'` over the
//! user table), on the same data, a few times.
//!
//! ```sh
//! cargo bench --bench search                        # 1,000,000 users, SQLite then PostgreSQL
//! GADKA_SEARCH_USERS=20000 GADKA_SEARCH_DB=sqlite cargo bench --bench search
//! ```
//!
//! PostgreSQL is the tests' (`GADKA_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432`); the bench makes a database there and drops it.
//! Figures are in BENCHMARKS.md.

use std::time::{Duration, Instant};

use gadka_test_support::{
    Client, TestApp, create_postgres_database, drop_postgres_database, spawn_in, spawn_with,
};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, sqlx};

/// What people type, each beginning a name or a word of one: many matches
/// (`Łuk`), few, a word after the first (`żółć`), Greek, Danish, Icelandic.
const QUERIES: [&str; 6] = ["Łuk", "łukasz żó", "żółć", "αθη", "ærø", "þórs"];
const WARM_UP: usize = 100;
const SEARCHES: usize = 1_000;
/// The replaced query reads the whole user table: a few runs say enough.
const OLD_QUERY_RUNS: usize = 5;
const USERS_PER_INSERT: usize = 10_000;
const SQLITE_USERS_PER_INSERT: usize = 1_000;

const FIRST: [&str; 20] = [
    "Łukasz",
    "Małgorzata",
    "Żaneta",
    "Wojciech",
    "Bjørn",
    "Søren",
    "Ærø",
    "Øystein",
    "Ἀθηνᾶ",
    "Νίκος",
    "Γιώργος",
    "Jürgen",
    "Zoë",
    "Anna",
    "John",
    "María",
    "Иван",
    "Олена",
    "Þórunn",
    "Đorđe",
];
const LAST: [&str; 20] = [
    "Żółć",
    "Kowalski",
    "Wiśniewska",
    "Brzęczyszczykiewicz",
    "Ærøskøbing",
    "Østergaard",
    "Sørensen",
    "Παπαδόπουλος",
    "Αθανασίου",
    "Müller",
    "Straße",
    "Smith",
    "Nowak",
    "Петров",
    "Öztürk",
    "Đorđević",
    "Þórsdóttir",
    "García Márquez",
    "Lefèvre",
    "O'Brien",
];

/// The display name of user `i`: a first and a last name, spread by a hash.
fn display_name(i: u64) -> String {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 31;
    let first = FIRST[(x % FIRST.len() as u64) as usize];
    let last = LAST[((x >> 16) % LAST.len() as u64) as usize];
    format!("{first} {last}")
}

fn users_wanted() -> u64 {
    std::env::var("GADKA_SEARCH_USERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000)
}

/// How many migrations come before the search's: the schema the users are written to.
fn migrations_before_search() -> u32 {
    Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261203_000001_user_search_term")
        .expect("the search's migration") as u32
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let users = users_wanted();
    let which = std::env::var("GADKA_SEARCH_DB").unwrap_or_else(|_| "both".into());
    if which != "postgres" {
        runtime.block_on(sqlite(users));
    }
    if which != "sqlite" {
        runtime.block_on(postgres(users));
    }
}

async fn sqlite(users: u64) {
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("a temp dir"));
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("gadka.db").display()
    );
    let db = migrated_before_search(&url).await;
    let pool = db.get_sqlite_connection_pool();
    let started = Instant::now();
    let mut tx = pool.begin().await.expect("a transaction");
    // SQLite takes at most 32,766 bound values a statement; a row here has 3.
    for start in (1..=users).step_by(SQLITE_USERS_PER_INSERT) {
        let end = (start + SQLITE_USERS_PER_INSERT as u64 - 1).min(users);
        let rows = vec!["(?, ?, ?, 0)"; (end - start + 1) as usize].join(", ");
        let sql =
            format!(r#"INSERT INTO "user" (id, username, display_name, created_at) VALUES {rows}"#);
        // Only placeholders are spliced in; the values are bound.
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for i in start..=end {
            insert = insert
                .bind(i as i64)
                .bind(format!("user{i}"))
                .bind(display_name(i));
        }
        insert.execute(&mut *tx).await.expect("users inserted");
    }
    tx.commit().await.expect("committed");
    db.close().await.expect("closed");
    println!(
        "SQLite: {users} users written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let app = spawn_in(dir, |_| {}).await;
    println!(
        "SQLite: the server started, its migration giving every user their search terms, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    searches(&app, "SQLite").await;
    let db = Database::connect(format!("sqlite://{}?mode=ro", app.db_path().display()))
        .await
        .expect("the database");
    old_query(&db, "SQLite", "?").await;
    db.close().await.ok();
    app.stop().await;
}

async fn postgres(users: u64) {
    let (url, name) = create_postgres_database().await;
    let db = migrated_before_search(&url).await;
    let pool = db.get_postgres_connection_pool();
    let started = Instant::now();
    for start in (1..=users).step_by(USERS_PER_INSERT) {
        let end = (start + USERS_PER_INSERT as u64 - 1).min(users);
        let ids: Vec<i64> = (start..=end).map(|i| i as i64).collect();
        let usernames: Vec<String> = (start..=end).map(|i| format!("user{i}")).collect();
        let names: Vec<String> = (start..=end).map(display_name).collect();
        sqlx::query(
            r#"INSERT INTO "user" (id, username, display_name, created_at)
               SELECT id, username, display_name, 0
               FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, username, display_name)"#,
        )
        .bind(ids)
        .bind(usernames)
        .bind(names)
        .execute(pool)
        .await
        .expect("users inserted");
    }
    db.execute_unprepared(
        r#"SELECT setval(pg_get_serial_sequence('"user"', 'id'), (SELECT max(id) FROM "user"))"#,
    )
    .await
    .expect("the id sequence past the users");
    db.execute_unprepared(r#"ANALYZE "user""#)
        .await
        .expect("analysed");
    db.close().await.expect("closed");
    println!(
        "PostgreSQL: {users} users written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let app = spawn_with(|s| s.database_url = url.clone()).await;
    println!(
        "PostgreSQL: the server started, its migration giving every user their search terms, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let db = Database::connect(&url).await.expect("the database");
    // What autovacuum would do soon after such a load: the planner's statistics.
    db.execute_unprepared("ANALYZE user_search_term")
        .await
        .expect("analysed");
    searches(&app, "PostgreSQL").await;
    old_query(&db, "PostgreSQL", "$").await;
    db.close().await.ok();
    app.stop().await;
    drop_postgres_database(&name).await;
}

async fn migrated_before_search(url: &str) -> DatabaseConnection {
    let db = Database::connect(url).await.expect("a database");
    Migrator::up(&db, Some(migrations_before_search()))
        .await
        .expect("the schema before the search's migration");
    db
}

/// Each query `SEARCHES` times in a row, as one person typing would, after a warm-up.
async fn searches(app: &TestApp, database: &str) {
    let me: Client = app.register("searcher").await;
    let mut all = Vec::with_capacity(QUERIES.len() * SEARCHES);
    for query in QUERIES {
        let path = format!(
            "/api/users?q={}&limit=20",
            url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        );
        let (status, body) = me.get(&path).await;
        assert!(status.is_success(), "{body}");
        let found = body["users"].as_array().map_or(0, Vec::len);
        for _ in 0..WARM_UP {
            me.get(&path).await;
        }
        let mut times = Vec::with_capacity(SEARCHES);
        for _ in 0..SEARCHES {
            let started = Instant::now();
            let (status, _) = me.get(&path).await;
            times.push(started.elapsed());
            assert!(status.is_success());
        }
        println!(
            "{database}: q={query:?} ({found} found) {}",
            percentiles(&mut times)
        );
        all.extend(times);
    }
    println!("{database}: all queries {}", percentiles(&mut all));
}

fn percentiles(times: &mut [Duration]) -> String {
    times.sort();
    let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(50).as_secs_f64() * 1e3,
        at(99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    )
}

/// The search before issue 21, on the same users: a substring anywhere in the
/// username or the lower-cased display name, prefix matches first.
async fn old_query(db: &DatabaseConnection, database: &str, placeholder: &str) {
    let p = |n: u8| {
        if placeholder == "?" {
            format!("?{n}")
        } else {
            format!("${n}")
        }
    };
    let (anywhere, prefix) = (p(1), p(2));
    let sql = format!(
        r#"SELECT id FROM "user"
           WHERE username LIKE {anywhere} ESCAPE '\' OR lower(display_name) LIKE {anywhere} ESCAPE '\'
           ORDER BY CASE WHEN username LIKE {prefix} ESCAPE '\'
                          OR lower(display_name) LIKE {prefix} ESCAPE '\' THEN 0 ELSE 1 END,
                    username
           LIMIT 20"#
    );
    let mut times = Vec::with_capacity(OLD_QUERY_RUNS);
    for _ in 0..OLD_QUERY_RUNS {
        let statement = sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            &sql,
            ["%łuk%".into(), "łuk%".into()],
        );
        let started = Instant::now();
        db.query_all_raw(statement).await.expect("the old query");
        times.push(started.elapsed());
    }
    println!(
        "{database}: the replaced LIKE '%łuk%' query, {OLD_QUERY_RUNS} runs: {}",
        percentiles(&mut times)
    );
}
