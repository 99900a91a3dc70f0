//! The forms say what is wrong in words, before anything is sent where they can: the
//! sign-up form's username rules, written under the field and checked as typed, tied
//! to the field for screen readers; the server's refusals (taken, wrong password, too
//! many attempts) said plainly. And my own name, changed from my profile, shows at
//! once everywhere.

use gadka_test_support::spawn_app;
use serde_json::{Value, json};

use crate::support::{Browser, open_with};

/// The username field's state: its problem shown (or null), whether it is marked
/// invalid, and the texts it is described by.
async fn username_state(browser: &Browser) -> Value {
    browser
        .js(
            "const input = document.getElementById('username'); \
             const error = document.getElementById('username-error'); \
             return [error.hidden ? null : error.textContent, input.getAttribute('aria-invalid'), \
               (input.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean) \
                 .map((id) => document.getElementById(id).textContent)];",
            vec![],
        )
        .await
}

const RULE: &str =
    "3 to 32 characters: letters a–z, digits, “.”, “_” or “-”, starting with a letter or digit.";

#[tokio::test]
async fn the_sign_up_form_checks_the_username_as_it_is_typed() {
    let app = spawn_app().await;
    app.register("alice").await;
    let browser = Browser::open(&app.url("")).await;
    browser.goto("/").await;
    browser
        .wait_for_text(".switch", "New to gadka? Sign up")
        .await;
    browser.press("Sign up").await;
    browser
        .wait_for_text(".switch", "Have an account? Log in")
        .await;

    // The rule is there before anything is typed, and tied to the field.
    assert_eq!(username_state(&browser).await, json!([null, null, [RULE]]));
    // Too short is not called wrong while typing; a space is, at once.
    browser.fill("Username", "al").await;
    assert_eq!(username_state(&browser).await, json!([null, null, [RULE]]));
    browser.fill("Username", "al ice").await;
    let problem = "A username cannot contain spaces.";
    assert_eq!(
        username_state(&browser).await,
        json!([problem, "true", [RULE, problem]])
    );
    browser
        .assert_accessible("the sign-up form with a problem")
        .await;
    browser.screenshots("signup-username-error").await;
    browser.fill("Username", "_alice").await;
    browser
        .wait_for_text(
            "#username-error",
            "A username starts with a letter or a digit.",
        )
        .await;
    browser.fill("Username", "al").await;
    browser.fill("Password", "short").await;
    let problem = "A username is at least 3 characters.";
    assert_eq!(
        username_state(&browser).await,
        json!([problem, "true", [RULE, problem]]),
        "too short, once the field is left"
    );

    // Submitting shows every problem, and sends nothing.
    browser.press("Create account").await;
    browser
        .wait_for_text("#password-error", "Use at least 8 characters.")
        .await;
    assert_eq!(
        browser
            .js("return document.activeElement.id;", vec![])
            .await,
        json!("username"),
        "the focus on the first problem"
    );

    // A name that is taken: said under the field, in words.
    browser.fill("Username", "Alice").await;
    browser.fill("Password", "long enough").await;
    assert_eq!(username_state(&browser).await, json!([null, null, [RULE]]));
    browser.press("Create account").await;
    browser
        .wait_for_text(
            "#username-error",
            "This username is taken. Try another one.",
        )
        .await;

    // Logging in: a wrong password, then too many attempts.
    browser.press("Log in").await;
    browser.fill("Username", "alice").await;
    browser.fill("Password", "not her password").await;
    browser.press("Log in").await;
    browser
        .wait_for_text(
            ".form-error",
            "Wrong username or password. Check both and try again.",
        )
        .await;
    for _ in 0..10 {
        app.client()
            .post(
                "/api/login",
                json!({"username": "alice", "password": "wrong again"}),
            )
            .await;
    }
    browser.press("Log in").await;
    browser
        .wait_until("a refusal for too many attempts", || async {
            let text = browser
                .client
                .execute(
                    "return document.querySelector('.form-error').textContent;",
                    vec![],
                )
                .await
                .ok()?;
            let text = text.as_str()?.to_owned();
            (text.starts_with("Too many attempts. Try again in ") && text.ends_with(" seconds."))
                .then_some(())
        })
        .await;
    browser.close().await;
}

#[tokio::test]
async fn my_own_name_changes_from_my_profile_and_shows_at_once() {
    let app = spawn_app().await;
    let alice = Browser::open(&app.url("")).await;
    alice.register("alice", "Alice").await;
    let bob = app.register("bob").await;
    let chat = open_with(&bob, "alice").await;
    bob.send(chat, "Hi Alice").await;
    alice.wait_for_text(".conversation", "Hi Alice").await;

    // My corner of the list leads to my profile.
    alice.click_on(".me").await;
    alice.wait_for_text(".profile-card", "This is you.").await;
    alice.press("Change name").await;
    let field = alice.field("Display name").await;
    assert_eq!(
        alice.js("return document.activeElement.id;", vec![]).await,
        json!("display-name")
    );
    assert_eq!(
        field.prop("value").await.expect("its value").as_deref(),
        Some("Alice")
    );

    // Blank is refused before it is sent; Escape leaves the name as it was.
    alice.fill("Display name", " ").await;
    alice
        .wait_for_text("#display-name-error", "A name cannot be empty.")
        .await;
    alice.assert_accessible("the name editor").await;
    alice.screenshots("display-name-editor").await;
    alice.keys(crate::support::keys::ESCAPE).await;
    alice.wait_for_text(".profile-name", "Alice").await;
    assert!(
        alice
            .client
            .current_url()
            .await
            .expect("a URL")
            .path()
            .starts_with("/u/"),
        "Escape leaves the editor, not the profile"
    );

    alice.press("Change name").await;
    alice.fill("Display name", "Alice Liddell").await;
    alice.press_enter("Display name").await;
    alice.wait_for_text(".profile-name", "Alice Liddell").await;
    alice.wait_for_text(".me .name", "Alice Liddell").await;
    assert_eq!(
        alice
            .js("return document.activeElement.textContent;", vec![])
            .await,
        json!("Change name"),
        "the focus back where it was"
    );
    let (_, found) = bob.get("/api/users?q=alice").await;
    assert_eq!(found["users"][0]["display_name"], "Alice Liddell");
    alice.close().await;
}
