//! The client's pure modules (links, the send queue, uploads, day grouping, backoff, the
//! state) tested in the same Chromium, without a Node toolchain: `unit.js` imports
//! them from the served page and reports.

use gadka_test_support::spawn_app;

use crate::support::Browser;

#[tokio::test]
async fn the_clients_pure_modules_pass_their_unit_tests() {
    let app = spawn_app().await;
    let browser = Browser::open(&app.url("")).await;
    browser.goto("/").await;
    browser.button("Log in").await;
    let report = browser
        .client
        .execute_async(include_str!("unit.js"), vec![])
        .await
        .expect("the unit tests run");
    let failures = report["failures"].as_array().cloned().unwrap_or_default();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        report["passed"].as_u64().unwrap_or(0) >= 20,
        "every unit test ran: {report}"
    );
    browser.close().await;
}
