//! `AppState`: what every handler of every surface can reach.

use std::sync::Arc;

use crate::chat::Chat;

/// Cheap to clone: each field is shared.
#[derive(Clone)]
pub struct AppState {
    pub chat: Chat,
    /// Origins trusted besides the server's own (normalised).
    pub origins: Arc<[String]>,
    pub cookie_secure: bool,
}
