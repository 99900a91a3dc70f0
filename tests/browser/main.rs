//! The web client in real Chromium (headless, driven through chromedriver with
//! fantoccini): two people go through the flows F1–F5, the socket is cut and comes
//! back, hostile message text stays text, Matrix users are marked, and the client's pure modules pass their
//! unit tests in the same browser. Each test starts the real server on a free port.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); a test
//! fails, naming them, when they are missing.

mod support;

mod flows;
mod injection;
mod matrix;
mod reconnect;
mod timeline;
mod units;
