//! Session tokens: a signed JWT names a server-side session row, so a token is
//! cheap to check for forgery and expiry, and logout still revokes it for real.

use std::{fs, io, path::Path, time::Duration};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{durable, ids::UserId};

/// The file beside the database that keeps the generated signing secret.
pub const SECRET_FILE: &str = "session.key";

/// The shortest secret taken from the file: HS256 wants at least its hash's 32 bytes.
const MIN_SECRET_BYTES: usize = 32;

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
    /// on first start. It is written so that a power cut leaves either no file or the
    /// whole key (see [`durable::write_private`]).
    ///
    /// An empty file holds no key, so it is replaced: only a power cut during the
    /// first start of a gadka that did not write it so could leave one, and no session
    /// was signed with a key that never reached the disk. A file with some bytes but
    /// fewer than a key's is refused: gadka never writes one, so something else
    /// damaged or wrote it, and replacing it unasked would log everyone out.
    pub fn secret_from_data_dir(data_dir: &Path) -> io::Result<Vec<u8>> {
        let path = data_dir.join(SECRET_FILE);
        match fs::read(&path) {
            Ok(secret) if secret.len() >= MIN_SECRET_BYTES => return Ok(secret),
            Ok(secret) if secret.is_empty() => tracing::warn!(
                path = %path.display(),
                "the session key file is empty; a new key is generated"
            ),
            Ok(secret) => {
                return Err(io::Error::other(format!(
                    "{} holds {} bytes, fewer than the {MIN_SECRET_BYTES} of a session key: it \
                     is damaged, or was not written by gadka. Remove it to have a new one \
                     generated (everyone will have to log in again), or set session.secret",
                    path.display(),
                    secret.len(),
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut secret = vec![0u8; 64];
        OsRng.fill_bytes(&mut secret);
        durable::write_private(&path, &secret)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("the data dir")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_key_is_written_whole_and_nothing_else_is_left_behind() {
        let dir = tempfile::tempdir().expect("a temp dir");
        // What a cut during an earlier write would have left.
        fs::write(dir.path().join("session.key.tmp"), b"half a ke").expect("a stale temp file");

        let secret = SessionKeys::secret_from_data_dir(dir.path()).expect("a new key");
        assert_eq!(secret.len(), 64);
        let stored = fs::read(dir.path().join(SECRET_FILE)).expect("the key file");
        assert_eq!(stored, secret, "the file holds the whole key");
        assert_eq!(files_in(dir.path()), [SECRET_FILE]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SECRET_FILE))
                .expect("its metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = SessionKeys::secret_from_data_dir(dir.path()).expect("the same key");
        assert_eq!(again, secret, "a restart keeps the key");
    }

    #[test]
    fn an_empty_key_file_is_replaced_and_a_short_one_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join(SECRET_FILE);
        fs::write(&path, b"").expect("an empty key file");
        let secret = SessionKeys::secret_from_data_dir(dir.path()).expect("a new key");
        assert_eq!(fs::read(&path).expect("the key file"), secret);
        assert_eq!(secret.len(), 64);

        fs::write(&path, b"too short").expect("a damaged key file");
        let error = SessionKeys::secret_from_data_dir(dir.path()).expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains("9 bytes") && message.contains("Remove it"),
            "{message}"
        );
        assert_eq!(
            fs::read(&path).expect("the key file"),
            b"too short",
            "left alone"
        );
    }
}
