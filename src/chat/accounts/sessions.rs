//! Session tokens: a signed JWT names a server-side session row, so a token is
//! cheap to check for forgery and expiry, and logout still revokes it for real.

use std::{io::Write, path::Path, time::Duration};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// The file beside the database that keeps the generated signing secret.
pub const SECRET_FILE: &str = "session.key";

/// A logged-in session, as proven by a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub user_id: UserId,
    /// When it expires, in Unix seconds.
    pub expires_at: i64,
}

/// A freshly issued token and how long it is valid.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub token: String,
    pub ttl: Duration,
}

/// The claims of a session token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id, as a string as JWT wants it.
    sub: String,
    /// The session row's id.
    sid: String,
    iat: i64,
    exp: i64,
}

/// Signs and verifies session tokens (HS256).
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub(crate) ttl: Duration,
}

impl SessionKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// Reads the secret kept in `data_dir`, creating it (readable by the owner only)
    /// on first start.
    pub fn secret_from_data_dir(data_dir: &Path) -> std::io::Result<Vec<u8>> {
        let path = data_dir.join(SECRET_FILE);
        match std::fs::read(&path) {
            Ok(secret) if secret.len() >= 32 => return Ok(secret),
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is shorter than 32 bytes; remove it to have a new one generated",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut secret = vec![0u8; 64];
        OsRng.fill_bytes(&mut secret);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path)?.write_all(&secret)?;
        Ok(secret)
    }

    pub(crate) fn issue(
        &self,
        session: &Session,
        now_ms: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: session.user_id.to_string(),
            sid: session.id.clone(),
            iat: now_ms / 1000,
            exp: session.expires_at,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The session a token names, if its signature and expiry hold. Whether the
    /// session is still live is the store's to say.
    pub(crate) fn verify(&self, token: &str) -> Option<Session> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        Some(Session {
            id: data.claims.sid,
            user_id: UserId::new(data.claims.sub.parse().ok()?),
            expires_at: data.claims.exp,
        })
    }
}
