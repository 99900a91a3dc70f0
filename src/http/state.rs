//! `AppState`: what every handler of every surface can reach.

use std::sync::Arc;

use crate::chat::Chat;

/// Cheap to clone: each field is shared.
#[derive(Clone)]
pub struct AppState {
    pub chat: Chat,
    /// Origins trusted besides the server's own (normalised).
    pub origins: Arc<[String]>,
    /// The server's own origin as configured (`server.public_url`); without it, the
    /// one the request's `Host` names.
    pub public_origin: Option<Arc<str>>,
    /// Whether the session cookie is marked `Secure`: configured, or implied by an
    /// `https` public URL.
    pub cookie_secure: bool,
}
