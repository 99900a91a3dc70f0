//! The bridge's calls to the homeserver's client-server API: ruma's request and
//! response types, carried by reqwest, authenticated with the `as_token` (acting as a
//! puppet when one is named).

use std::{borrow::Cow, sync::RwLock, time::Duration};

use axum::http;
use reqwest::{StatusCode, Url};
use ruma::{
    OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomId, UserId,
    api::{
        AppserviceUserIdentity, IncomingResponseExt, OutgoingRequest, OutgoingRequestAppserviceExt,
        SupportedVersions,
        auth_scheme::{AuthScheme, SendAccessToken},
        client::{
            account::{
                register::{self, LoginType},
                whoami,
            },
            appservice::request_ping,
            discovery::get_supported_versions,
            membership::{join_room_by_id, joined_rooms, leave_room},
            message::send_message_event,
            profile::{get_display_name, set_display_name},
            receipt::create_receipt,
            redact::redact_event,
            room::{Visibility, create_room},
            state::get_state_event_for_key,
            typing::create_typing_event::{
                self,
                v3::{Typing, TypingInfo},
            },
        },
        path_builder::{PathBuilder, VersionHistory},
    },
    events::StateEventType,
    serde::Raw,
};
use serde::Deserialize;

mod media;

/// How long one call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The key in a portal room's creation content (`m.room.create`) that names the gadka
/// conversation the bridge made it for.
pub const CONVERSATION_KEY: &str = "io.gadka.conversation_id";

/// The key in a portal room's creation content that names the Matrix user it was made
/// with: a conversation id alone is only this gadka's (another gadka on the same
/// homeserver and registration, as in the tests, numbers its own from 1 too).
pub const PEER_KEY: &str = "io.gadka.peer";

/// The homeserver, as the bridge calls it.
pub struct Homeserver {
    http: reqwest::Client,
    base: Url,
    as_token: String,
    /// What `/versions` said, which picks each endpoint's path; `None` until the
    /// start-up check has asked.
    versions: RwLock<Option<SupportedVersions>>,
    /// What `/media/config` said of the largest upload, once it has answered.
    upload_limit: tokio::sync::OnceCell<Option<u64>>,
}

/// Why a call to the homeserver failed, said for an admin's log.
#[derive(Debug, thiserror::Error)]
pub enum HomeserverError {
    /// No answer at all.
    #[error("cannot reach the homeserver at {url}: {source}")]
    Unreachable {
        url: Url,
        #[source]
        source: reqwest::Error,
    },
    /// A Matrix error answer.
    #[error("the homeserver answered {status} {errcode}: {error}")]
    Matrix {
        status: StatusCode,
        errcode: String,
        error: String,
    },
    /// An answer that is not what the specification says.
    #[error("the homeserver's answer makes no sense: {0}")]
    Protocol(String),
    /// A versioned call before the homeserver said which versions it speaks.
    #[error("the homeserver's versions are not known yet")]
    NoVersions,
}

impl HomeserverError {
    /// The Matrix error code, when the homeserver answered with one.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            Self::Matrix { errcode, .. } => Some(errcode),
            _ => None,
        }
    }

    /// Whether trying again cannot help: the homeserver refused the call itself (a
    /// 4xx other than rate limiting), as opposed to being away or overloaded.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Matrix { status, .. } => {
                status.is_client_error() && *status != StatusCode::TOO_MANY_REQUESTS
            }
            Self::Protocol(_) => true,
            Self::Unreachable { .. } | Self::NoVersions => false,
        }
    }
}

/// The error a homeserver's answer of `status` with `body` says.
fn refusal(status: StatusCode, body: &[u8]) -> HomeserverError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { errcode, error }) => HomeserverError::Matrix {
            status,
            errcode,
            error,
        },
        Err(_) => HomeserverError::Protocol(format!("{status} without a Matrix error")),
    }
}

/// The body of a Matrix error answer.
#[derive(Deserialize)]
struct ErrorBody {
    errcode: String,
    #[serde(default)]
    error: String,
}

impl Homeserver {
    /// A client for the homeserver at `base`, acting with `as_token`.
    pub fn new(base: Url, as_token: String) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(CALL_TIMEOUT)
                .build()
                .unwrap_or_default(),
            base,
            as_token,
            versions: RwLock::new(None),
            upload_limit: tokio::sync::OnceCell::new(),
        }
    }

    /// `GET /_matrix/client/versions`; what it says picks the paths of later calls.
    pub async fn fetch_versions(&self) -> Result<(), HomeserverError> {
        let answer = self
            .send(get_supported_versions::Request::new(), None, ())
            .await?;
        let versions = answer.as_supported_versions();
        if versions.versions.is_empty() {
            return Err(HomeserverError::Protocol(
                "it names no client-server API version".into(),
            ));
        }
        *self.versions.write().unwrap_or_else(|e| e.into_inner()) = Some(versions);
        Ok(())
    }

    /// Who the `as_token` acts as: the bridge's bot, if the registration is loaded.
    pub async fn whoami(&self) -> Result<OwnedUserId, HomeserverError> {
        Ok(self.call(whoami::v3::Request::new(), None).await?.user_id)
    }

    /// Asks the homeserver to ping the bridge (`POST /_matrix/app/v1/ping`), which
    /// shows that it can reach `appservice.address`.
    pub async fn ping(&self, appservice_id: &str) -> Result<Duration, HomeserverError> {
        let request = request_ping::v1::Request::new(appservice_id.to_owned());
        Ok(self.call(request, None).await?.duration)
    }

    /// Registers a user of the bridge's namespace; one that exists already is fine.
    pub async fn ensure_registered(&self, user_id: &UserId) -> Result<(), HomeserverError> {
        let mut request = register::v3::Request::new();
        request.username = Some(user_id.localpart().to_owned());
        request.login_type = Some(LoginType::ApplicationService);
        request.inhibit_login = true;
        match self.call(request, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.errcode() == Some("M_USER_IN_USE") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sets the display name of a user of the bridge's namespace.
    pub async fn set_display_name(
        &self,
        user_id: &UserId,
        name: &str,
    ) -> Result<(), HomeserverError> {
        // The endpoint ruma would rather have (set_profile_field) is Matrix 1.16; this
        // one is the same path and body, and every homeserver has it.
        #[expect(deprecated, reason = "older homeservers only have this endpoint")]
        let request = set_display_name::v3::Request::new(user_id.to_owned(), Some(name.to_owned()));
        self.call(request, Some(user_id)).await.map(drop)
    }

    /// A user's display name, as the homeserver shows it.
    pub async fn display_name(&self, user_id: &UserId) -> Result<Option<String>, HomeserverError> {
        #[expect(deprecated, reason = "older homeservers only have this endpoint")]
        let request = get_display_name::v3::Request::new(user_id.to_owned());
        Ok(self.call(request, None).await?.displayname)
    }

    /// Creates a direct chat as the puppet `user_id` and invites `peer`, as Element's
    /// "Start chat" does (`trusted_private_chat`, `is_direct`), so that the peer's
    /// client lists it among their people; the new room's id. The room's creation
    /// content names `conversation_id` under [`CONVERSATION_KEY`], where
    /// [`Homeserver::find_dm`] looks for it.
    pub async fn create_dm(
        &self,
        user_id: &UserId,
        peer: &UserId,
        conversation_id: i64,
    ) -> Result<OwnedRoomId, HomeserverError> {
        let mut request = create_room::v3::Request::new();
        request.preset = Some(create_room::v3::RoomPreset::TrustedPrivateChat);
        request.is_direct = true;
        request.invite = vec![peer.to_owned()];
        request.visibility = Visibility::Private;
        let content = serde_json::json!({ CONVERSATION_KEY: conversation_id, PEER_KEY: peer });
        request.creation_content = Some(
            Raw::from_json_string(content.to_string())
                .map_err(|e| HomeserverError::Protocol(format!("a creation content: {e}")))?,
        );
        Ok(self.call(request, Some(user_id)).await?.room_id)
    }

    /// The room the puppet `user_id` is in that [`Homeserver::create_dm`] made for
    /// `conversation_id` with `peer`, if there is one: a room created just before the
    /// bridge stopped, whose id it never recorded. One call per room the puppet is in.
    /// A room made before rooms named their peer matches by its conversation alone.
    pub async fn find_dm(
        &self,
        user_id: &UserId,
        peer: &UserId,
        conversation_id: i64,
    ) -> Result<Option<OwnedRoomId>, HomeserverError> {
        let rooms = self
            .call(joined_rooms::v3::Request::new(), Some(user_id))
            .await?
            .joined_rooms;
        for room in rooms {
            let request = get_state_event_for_key::v3::Request::new(
                room.clone(),
                StateEventType::RoomCreate,
                String::new(),
            );
            let created = self.call(request, Some(user_id)).await?;
            let content: serde_json::Value =
                serde_json::from_str(created.event_or_content.get())
                    .map_err(|e| HomeserverError::Protocol(format!("a room's creation: {e}")))?;
            let same_peer = content[PEER_KEY]
                .as_str()
                .is_none_or(|named| named == peer.as_str());
            if content[CONVERSATION_KEY].as_i64() == Some(conversation_id) && same_peer {
                return Ok(Some(room));
            }
        }
        Ok(None)
    }

    /// Joins `room_id` as the puppet `user_id` (the room invited it).
    pub async fn join(&self, room_id: &RoomId, user_id: &UserId) -> Result<(), HomeserverError> {
        let request = join_room_by_id::v3::Request::new(room_id.to_owned());
        self.call(request, Some(user_id)).await.map(drop)
    }

    /// Leaves (or declines an invite to) `room_id` as the puppet `user_id`, saying why.
    pub async fn leave(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: &str,
    ) -> Result<(), HomeserverError> {
        let mut request = leave_room::v3::Request::new(room_id.to_owned());
        request.reason = Some(reason.to_owned());
        self.call(request, Some(user_id)).await.map(drop)
    }

    /// Sends a notice (`m.notice`: a bot's words, not a person's) into `room_id` as
    /// `user_id`.
    pub async fn send_notice(
        &self,
        room_id: OwnedRoomId,
        txn_id: OwnedTransactionId,
        user_id: &UserId,
        body: &str,
    ) -> Result<(), HomeserverError> {
        let content = ruma::events::room::message::RoomMessageEventContent::notice_plain(body);
        let request = send_message_event::v3::Request::new(room_id, txn_id, &content)
            .map_err(|e| HomeserverError::Protocol(format!("cannot encode the notice: {e}")))?;
        self.call(request, Some(user_id)).await.map(drop)
    }

    /// Sends a message into `room_id` as the puppet `user_id`; its event id. The
    /// homeserver keeps one event per `txn_id` and user, so a retry never duplicates.
    pub async fn send_message(
        &self,
        room_id: OwnedRoomId,
        txn_id: OwnedTransactionId,
        user_id: &UserId,
        content: &ruma::events::room::message::RoomMessageEventContent,
    ) -> Result<OwnedEventId, HomeserverError> {
        let request = send_message_event::v3::Request::new(room_id, txn_id, content)
            .map_err(|e| HomeserverError::Protocol(format!("cannot encode the message: {e}")))?;
        Ok(self.call(request, Some(user_id)).await?.event_id)
    }

    /// Reacts with `key` to `event_id` as the puppet `user_id`; the reaction's event id.
    pub async fn send_reaction(
        &self,
        room_id: OwnedRoomId,
        txn_id: OwnedTransactionId,
        user_id: &UserId,
        event_id: OwnedEventId,
        key: &str,
    ) -> Result<OwnedEventId, HomeserverError> {
        let content = ruma::events::reaction::ReactionEventContent::new(
            ruma::events::relation::Annotation::new(event_id, key.to_owned()),
        );
        let request = send_message_event::v3::Request::new(room_id, txn_id, &content)
            .map_err(|e| HomeserverError::Protocol(format!("cannot encode the reaction: {e}")))?;
        Ok(self.call(request, Some(user_id)).await?.event_id)
    }

    /// Redacts `event_id` as the puppet `user_id` (who sent it).
    pub async fn redact(
        &self,
        room_id: OwnedRoomId,
        event_id: OwnedEventId,
        txn_id: OwnedTransactionId,
        user_id: &UserId,
    ) -> Result<(), HomeserverError> {
        let request = redact_event::v3::Request::new(room_id, event_id, txn_id);
        self.call(request, Some(user_id)).await.map(drop)
    }

    /// Marks `event_id` read (`m.read`) for the puppet `user_id`.
    pub async fn read_receipt(
        &self,
        room_id: OwnedRoomId,
        event_id: OwnedEventId,
        user_id: &UserId,
    ) -> Result<(), HomeserverError> {
        let request = create_receipt::v3::Request::new(
            room_id,
            create_receipt::v3::ReceiptType::Read,
            event_id,
        );
        self.call(request, Some(user_id)).await.map(drop)
    }

    /// Shows the puppet `user_id` typing in `room_id` for `timeout`, or stops it.
    pub async fn typing(
        &self,
        room_id: OwnedRoomId,
        user_id: &UserId,
        timeout: Option<Duration>,
    ) -> Result<(), HomeserverError> {
        let state = match timeout {
            Some(timeout) => Typing::Yes(TypingInfo::new(timeout)),
            None => Typing::No,
        };
        let request = create_typing_event::v3::Request::new(user_id.to_owned(), room_id, state);
        self.call(request, Some(user_id)).await.map(drop)
    }

    /// A versioned call, as `as_user` (a puppet) or as the bot.
    async fn call<R>(
        &self,
        request: R,
        as_user: Option<&UserId>,
    ) -> Result<R::IncomingResponse, HomeserverError>
    where
        R: OutgoingRequest<PathBuilder = VersionHistory>,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        let versions = self
            .versions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(HomeserverError::NoVersions)?;
        self.send(request, as_user, Cow::Owned(versions)).await
    }

    async fn send<R>(
        &self,
        request: R,
        as_user: Option<&UserId>,
        path: <R::PathBuilder as PathBuilder>::Input<'_>,
    ) -> Result<R::IncomingResponse, HomeserverError>
    where
        R: OutgoingRequest,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        let identity = as_user.map(AppserviceUserIdentity::new).unwrap_or_default();
        let request: http::Request<Vec<u8>> = request
            .try_into_http_request_with_identity(
                self.base.as_str(),
                SendAccessToken::Always(&self.as_token),
                identity,
                path,
            )
            .map_err(|e| HomeserverError::Protocol(format!("cannot build the request: {e}")))?;
        let request = reqwest::Request::try_from(request)
            .map_err(|e| HomeserverError::Protocol(format!("cannot build the request: {e}")))?;
        let unreachable = |source| HomeserverError::Unreachable {
            url: self.base.clone(),
            source,
        };
        let response = self.http.execute(request).await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        let answer = http::Response::builder()
            .status(status)
            .body(body.as_ref())
            .map_err(|e| HomeserverError::Protocol(e.to_string()))?;
        R::IncomingResponse::try_from_http_response(answer)
            .map_err(|e| HomeserverError::Protocol(e.to_string()))
    }
}
