//! A PostgreSQL database of one test's own, on the server CI starts on loopback with
//! trust auth (or wherever `GADKA_TEST_POSTGRES_URL` points), so that tests running
//! at once never see each other's rows.

use sea_orm::ConnectionTrait;

/// The PostgreSQL server the tests use.
fn admin_url() -> String {
    std::env::var("GADKA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A fresh database for one test: its URL and its name, for
/// [`drop_postgres_database`].
pub async fn create_postgres_database() -> (String, String) {
    let admin_url = admin_url();
    let admin = sea_orm::Database::connect(format!("{admin_url}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin_url} ({e}). Start it \
                 (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) \
                 or point GADKA_TEST_POSTGRES_URL at one."
            )
        });
    let name = format!("gadka_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
    (format!("{admin_url}/{name}"), name)
}

pub async fn drop_postgres_database(name: &str) {
    let admin = sea_orm::Database::connect(format!("{}/postgres", admin_url()))
        .await
        .expect("PostgreSQL still reachable");
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("DROP DATABASE");
}
