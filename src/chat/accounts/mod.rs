//! Accounts and sessions: register, log in and out, find people, show a profile.
//!
//! Beside it: `passwords` (argon2id off the runtime), `sessions` (signed session
//! tokens and their secret file), `limits` (rate limits on logging in and signing
//! up) and `revocations` (sockets of sessions revoked by another process closed).

mod limits;
mod passwords;
mod revocations;
mod sessions;

pub(super) use limits::AccountLimits;
pub(super) use passwords::Passwords;
pub use sessions::{IssuedSession, SECRET_FILE, Session, SessionKeys};

use std::net::IpAddr;

use super::{
    Chat, ChatError,
    engine::Command,
    input::{DisplayName, Password, SearchText, Username, page_size},
    now_ms,
    views::{Profile, User},
};
use crate::{
    ids::{Pair, UserId},
    store::{NewSession, NewUser},
};

/// The stored form of a new password set outside a request (`gadka admin user
/// reset-password`): held to the rules of registration, hashed as registration
/// hashes. It blocks the calling thread while it hashes.
pub fn new_password_hash(password: &str) -> Result<String, ChatError> {
    passwords::hash_now(&Password::parse(password)?)
}

impl Chat {
    /// Creates an account and logs it in. Sign-ups are rate limited per client
    /// address.
    #[tracing::instrument(skip_all, fields(username = %username))]
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        display_name: Option<&str>,
        client: IpAddr,
    ) -> Result<(User, IssuedSession), ChatError> {
        let username = Username::parse(username)?;
        let password = Password::parse(password)?;
        let display_name = match display_name {
            Some(name) => DisplayName::parse(name)?,
            None => DisplayName::parse(username.as_str())?,
        };
        // A sign-up that will be refused is refused before it costs the database
        // anything: the lookups of a burst of 1,000 queued an existing user's login
        // behind them (BENCHMARKS.md, issue 21).
        self.inner.account_limits.signup_refused_now(client)?;
        self.inner.passwords.hash_room()?;
        if self
            .store()
            .user_by_username(username.as_str())
            .await?
            .is_some()
        {
            return Err(ChatError::UsernameTaken);
        }
        // Counted once the request is well-formed and the name free: a typo costs
        // nothing, and an account made costs one.
        self.inner.account_limits.signup(client)?;
        let hash = self.inner.passwords.hash(password).await?;
        let user = self
            .store()
            .create_user(NewUser {
                username: username.as_str(),
                display_name: display_name.as_str(),
                password_hash: &hash,
                created_at: now_ms(),
            })
            .await?
            .ok_or(ChatError::UsernameTaken)?;
        tracing::info!(user.id = user.id.get(), "registered");
        let session = self.start_session(user.id).await?;
        Ok((user.into(), session))
    }

    /// Checks a username and password and starts a session. Attempts are rate
    /// limited per username from one client address, and per address.
    #[tracing::instrument(skip_all, fields(username = %username))]
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(User, IssuedSession), ChatError> {
        self.inner.account_limits.login(username, client)?;
        let found = match Username::parse(username) {
            Ok(name) => self.store().user_by_username(name.as_str()).await?,
            Err(_) => None,
        };
        let stored_hash = found.as_ref().and_then(|u| u.password_hash.clone());
        // Verify against a dummy hash when there is no such user, so the answer takes
        // as long for a wrong username as for a wrong password.
        let ok = self
            .inner
            .passwords
            .verify(password.to_owned(), stored_hash)
            .await?;
        match found {
            // Said only to whoever knows the password: to anyone else a deactivated
            // account is a wrong password like any other.
            Some(user) if ok && user.deactivated_at.is_some() => {
                tracing::info!(user.id = user.id.get(), "login refused: deactivated");
                Err(ChatError::Deactivated)
            }
            Some(user) if ok => {
                let session = self.start_session(user.id).await?;
                tracing::info!(user.id = user.id.get(), "logged in");
                Ok((user.into(), session))
            }
            _ => Err(ChatError::BadCredentials),
        }
    }

    async fn start_session(&self, user_id: UserId) -> Result<IssuedSession, ChatError> {
        let now = now_ms();
        let keys = &self.inner.session_keys;
        let session = Session {
            id: uuid::Uuid::new_v4().to_string(),
            user_id,
            expires_at: now / 1000 + keys.ttl.as_secs() as i64,
        };
        self.store()
            .create_session(NewSession {
                id: &session.id,
                user_id,
                created_at: now,
                expires_at: session.expires_at * 1000,
            })
            .await?;
        let token = keys
            .issue(&session, now)
            .map_err(|e| ChatError::Internal(e.into()))?;
        Ok(IssuedSession {
            token,
            ttl: keys.ttl,
        })
    }

    /// The live session a token names: signed by us, not expired, not revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Session, ChatError> {
        let session = self
            .inner
            .session_keys
            .verify(token)
            .ok_or(ChatError::Unauthenticated)?;
        self.store()
            .live_session(&session.id, session.user_id, now_ms())
            .await?
            .then_some(())
            .ok_or(ChatError::Unauthenticated)?;
        Ok(session)
    }

    /// Revokes the session on the server: its token no longer authenticates anywhere,
    /// and its open sockets are closed.
    pub async fn logout(&self, session: &Session) -> Result<(), ChatError> {
        self.store().revoke_session(&session.id, now_ms()).await?;
        self.hub().close_session(&session.id);
        Ok(())
    }

    /// The logged-in user.
    pub async fn me(&self, session: &Session) -> Result<User, ChatError> {
        self.user(session.user_id).await
    }

    /// Changes the logged-in user's display name. It commits through the engine, so
    /// the change is an event in commit order (the bridge renames the puppet).
    #[tracing::instrument(skip_all, fields(user.id = session.user_id.get()))]
    pub async fn set_display_name(
        &self,
        session: &Session,
        display_name: &str,
    ) -> Result<User, ChatError> {
        self.rename(session.user_id, display_name).await
    }

    /// Gives `user_id` a new display name, checked as every display name is, through
    /// the engine: one rule for local users and for Matrix users renamed on Matrix.
    pub(super) async fn rename(
        &self,
        user_id: UserId,
        display_name: &str,
    ) -> Result<User, ChatError> {
        let display_name = DisplayName::parse(display_name)?;
        let user = self
            .engine()
            .request(|reply| Command::Profile {
                user_id,
                display_name: display_name.as_str().to_owned(),
                reply,
            })
            .await?;
        Ok(user.into())
    }

    /// The user `id`; one who does not exist is "not found".
    pub(crate) async fn user(&self, id: UserId) -> Result<User, ChatError> {
        self.find_user(id.get())
            .await?
            .ok_or(ChatError::NotFound("user"))
    }

    /// Finds people whose username, display name, or a word of either begins with
    /// the text, compared as search keys (without case, accents or compatibility
    /// forms); usernames and whole display names first (F1 `search_user`). With the
    /// Matrix bridge on, a Matrix ID also finds that person on Matrix, first.
    pub async fn search_users(
        &self,
        text: &str,
        limit: Option<i64>,
    ) -> Result<Vec<User>, ChatError> {
        let limit = page_size("limit", limit, 20, 100)?;
        let needle = SearchText::parse(text)?;
        let mut users = self.store().search_users(needle.as_str(), limit).await?;
        if let Some(id) = self.matrix_user_for(text.trim()).await
            && !users.iter().any(|u| u.id == id)
            && let Some(found) = self.store().user(id).await?
        {
            users.insert(0, found);
            users.truncate(limit as usize);
        }
        Ok(users.into_iter().map(User::from).collect())
    }

    /// A user's profile, with the viewer's conversation with them if there is one
    /// (F1 `get_user`).
    pub async fn profile(&self, viewer: &Session, user_id: i64) -> Result<Profile, ChatError> {
        let user_id = UserId::new(user_id);
        let user = self.user(user_id).await?;
        // Myself: no pair, no conversation.
        let conversation_id = match Pair::new(viewer.user_id, user_id) {
            Some(pair) => self.store().direct_conversation(pair).await?.map(|c| c.id),
            None => None,
        };
        Ok(Profile {
            id: user.id,
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            matrix_id: user.matrix_id.clone(),
            user,
            conversation_id,
        })
    }
}
