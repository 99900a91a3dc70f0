//! The web client in real Chromium (headless, driven through chromedriver with
//! fantoccini): two people go through the flows F1–F5, the socket is cut and comes
//! back, sends and drafts outlive a reload, hostile message text stays text, Matrix
//! users are marked, replies, edits, deletes and reactions show on both sides (and
//! after a reload or a reconnect), a photo and a file sent show inline and as a chip, every conversation is reachable, the keyboard reaches
//! everything, the forms say what is wrong, axe-core finds nothing, and the client's
//! pure modules pass their unit tests in the same browser. Each test starts the real
//! server on a free port.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them) and the
//! npm package `axe-core` (likewise); a test fails, naming them, when they are missing.

mod support;

mod accessibility;
mod attachments;
mod flows;
mod forms;
mod injection;
mod keyboard;
mod matrix;
mod offline;
mod paging;
mod reconnect;
mod rich;
mod timeline;
mod units;
