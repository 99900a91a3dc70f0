//! Conversations and their messages: `/api/conversations…`.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::doc;
use crate::{
    chat::{
        Outgoing, SendTo,
        views::{Conversation, Message, ReadMarker},
    },
    http::{
        ApiError, AppState, CurrentSession,
        error::ErrorBody,
        extract::{AppJson, AppPath, AppQuery, OptionalJson},
        integer::{Id, integer, optional_integer, optional_text_integer},
    },
    ids::ConversationId,
};

/// The one rule the document cannot state is that the other user is not the caller.
const OPEN_BAD_REQUEST: &str = "The request breaks this document (malformed JSON, a missing or mistyped \
    field, a value outside its range), or `user_id` is the caller's own: a conversation needs another user \
    (`invalid_input`, field `user_id`)";

/// A conversation the caller is not in is not found, exactly like a missing one.
const NOT_MINE: &str = "No such conversation, or not one of mine (`not_found`)";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, open))
        .routes(routes!(one))
        .routes(routes!(history, send))
        .routes(routes!(edit, delete_message))
        .routes(routes!(add_reaction, remove_reaction))
        .routes(routes!(read))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Continue after the last conversation of the page whose `next_cursor` this is.
    #[param(schema_with = doc::list_cursor)]
    cursor: Option<String>,
    /// How many conversations (default 5); more than 100 is served as 100.
    #[param(minimum = 1, nullable = false)]
    #[serde(default, deserialize_with = "optional_text_integer")]
    limit: Option<i64>,
    /// How many of the newest messages with each (default 10; 0 for none); more than
    /// 100 is served as 100.
    #[param(minimum = 0, nullable = false)]
    #[serde(default, deserialize_with = "optional_text_integer")]
    messages: Option<i64>,
}

/// `{conversations, next_cursor}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationsBody {
    conversations: Vec<Conversation>,
    /// Where the next page starts (pass it as `cursor`); `null` when nothing follows
    /// this page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// My conversations, newest activity first (F2), a page at a time.
///
/// The order is by `last_activity_at`, newest first, then by `id`, larger first. A
/// page's `next_cursor` continues right after its last conversation in that order:
/// it marks a place, not a count, so activity in between shifts nothing. Every
/// conversation that has no new activity while the pages are read is served exactly
/// once. One that gets new activity moves ahead of the cursor and is not served
/// again by later pages (the socket's `message` event announces it); one created in
/// between is at the front, before the first page. A client merges pages and events
/// by `id`. The cursor is opaque: clients pass back what they were given, never build
/// or alter one.
#[utoipa::path(get, path = "/api/conversations", tag = "conversations", params(ListParams),
    security(("cookie" = [])),
    responses(
        (status = 200, body = ConversationsBody),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
    ))]
async fn list(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppQuery(params): AppQuery<ListParams>,
) -> Result<AppJson<ConversationsBody>, ApiError> {
    let (conversations, next_cursor) = state
        .chat
        .conversations(
            &session,
            params.cursor.as_deref(),
            params.limit,
            params.messages,
        )
        .await?;
    Ok(AppJson(ConversationsBody {
        conversations,
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OneParams {
    /// How many of its newest messages with it (default 10; 0 for none); more than
    /// 100 is served as 100.
    #[param(minimum = 0, nullable = false)]
    #[serde(default, deserialize_with = "optional_text_integer")]
    messages: Option<i64>,
}

/// One of my conversations, as the list shows it: to open one that is not among the
/// pages of the list a client holds (a link to `/c/{id}`).
#[utoipa::path(get, path = "/api/conversations/{id}", tag = "conversations",
    params(("id" = i64, Path, minimum = 1, description = "Conversation id"), OneParams),
    security(("cookie" = [])),
    responses(
        (status = 200, body = ConversationBody),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 404, body = ErrorBody, description = NOT_MINE),
    ))]
async fn one(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(Id(id)): AppPath<Id>,
    AppQuery(params): AppQuery<OneParams>,
) -> Result<AppJson<ConversationBody>, ApiError> {
    let conversation = state
        .chat
        .conversation(&session, id, params.messages)
        .await?;
    Ok(AppJson(ConversationBody { conversation }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OpenRequest {
    /// The other user.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "integer")]
    user_id: i64,
}

/// `{conversation}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationBody {
    conversation: Conversation,
}

/// Opens the direct conversation with a user, creating it the first time (F1, F3b);
/// it comes with its latest 10 messages.
#[utoipa::path(post, path = "/api/conversations", tag = "conversations", request_body = OpenRequest,
    security(("cookie" = [])),
    responses(
        (status = 200, body = ConversationBody, description = "It already existed"),
        (status = 201, body = ConversationBody, description = "Created now"),
        (status = 400, body = ErrorBody, description = OPEN_BAD_REQUEST),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 403, body = ErrorBody, description = doc::FOREIGN_ORIGIN),
        (status = 404, body = ErrorBody, description = "No such user (`not_found`)"),
        (status = 413, body = ErrorBody, description = doc::TOO_LARGE),
        (status = 415, body = ErrorBody, description = doc::NOT_JSON),
        (status = 429, body = ErrorBody, description = "Too many new conversations started (`rate_limited`, `limits.conversations_per_hour`); opening one that exists is never limited",
            headers(("Retry-After" = u64, description = "Seconds until a new conversation may be started"))),
    ))]
async fn open(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppJson(req): AppJson<OpenRequest>,
) -> Result<(StatusCode, AppJson<ConversationBody>), ApiError> {
    let (conversation, created) = state.chat.open_conversation(&session, req.user_id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, AppJson(ConversationBody { conversation })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only messages with a smaller `seq`; without it, the newest.
    #[param(nullable = false)]
    #[serde(default, deserialize_with = "optional_text_integer")]
    before: Option<i64>,
    /// At most this many (default 50); more than 100 is served as 100.
    #[param(minimum = 1, nullable = false)]
    #[serde(default, deserialize_with = "optional_text_integer")]
    limit: Option<i64>,
}

/// `{messages}`, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagesBody {
    messages: Vec<Message>,
}

/// A page of history.
#[utoipa::path(get, path = "/api/conversations/{id}/messages", tag = "conversations",
    params(("id" = i64, Path, minimum = 1, description = "Conversation id"), HistoryParams),
    security(("cookie" = [])),
    responses(
        (status = 200, body = MessagesBody),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 404, body = ErrorBody, description = NOT_MINE),
    ))]
async fn history(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(Id(id)): AppPath<Id>,
    AppQuery(params): AppQuery<HistoryParams>,
) -> Result<AppJson<MessagesBody>, ApiError> {
    let messages = state
        .chat
        .history(&session, id, params.before, params.limit)
        .await?;
    Ok(AppJson(MessagesBody { messages }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendRequest {
    /// The words; with `media_id`, the file's caption, which may be left out.
    #[schema(schema_with = doc::message_body, required = false)]
    body: Option<String>,
    #[schema(schema_with = doc::txn_id)]
    txn_id: Option<String>,
    /// The `seq` of an earlier message of this conversation that this one replies to.
    #[schema(minimum = 1, nullable = true)]
    #[serde(default, deserialize_with = "optional_integer")]
    reply_to: Option<i64>,
    /// An upload of mine (`POST /api/media`), or one already sent in a conversation of
    /// mine, for the message to carry; `body` is then its caption and may be empty.
    #[schema(pattern = "^[A-Za-z0-9_-]{22}$", nullable = true)]
    media_id: Option<String>,
}

/// `{message}`
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    message: Message,
}

/// Sends a message. It is committed before the answer; a retry with the same
/// `txn_id` gets the same answer and stores nothing new.
#[utoipa::path(post, path = "/api/conversations/{id}/messages", tag = "conversations",
    params(("id" = i64, Path, minimum = 1, description = "Conversation id")), request_body = SendRequest,
    security(("cookie" = [])),
    responses(
        (status = 201, body = MessageBody, description = "Committed (or, for a `txn_id` used before, the first message)"),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 403, body = ErrorBody, description = "A foreign `Origin` (`forbidden_origin`), or the sender's messages have reached their storage quota (`quota_exceeded`, `limits.storage_quota_bytes`)"),
        (status = 404, body = ErrorBody, description = NOT_MINE),
        (status = 413, body = ErrorBody, description = doc::TOO_LARGE),
        (status = 415, body = ErrorBody, description = doc::NOT_JSON),
        (status = 429, body = ErrorBody, description = "Too many messages from this user (`rate_limited`, `limits.sends_per_minute`)",
            headers(("Retry-After" = u64, description = "Seconds until a send may succeed"))),
    ))]
async fn send(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(Id(id)): AppPath<Id>,
    AppJson(req): AppJson<SendRequest>,
) -> Result<(StatusCode, AppJson<MessageBody>), ApiError> {
    let (message, _new) = state
        .chat
        .send(
            &session,
            SendTo::Conversation(ConversationId::new(id)),
            Outgoing {
                body: req.body.as_deref().unwrap_or_default(),
                txn_id: req.txn_id.as_deref(),
                reply_to: req.reply_to,
                media_id: req.media_id.as_deref(),
            },
            None,
        )
        .await?;
    Ok((StatusCode::CREATED, AppJson(MessageBody { message })))
}

/// What `PATCH …/messages/{seq}` takes.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EditRequest {
    #[schema(schema_with = doc::message_body)]
    body: String,
}

/// One message of a conversation: `{id}` and `{seq}` in the path.
const MESSAGE_PATH: &str = "No such conversation or message, or not one of mine (`not_found`)";

/// Replaces the body of one of my messages (any number of times); the message shows
/// `edited_at`. Both members' sockets get `message_edited`. Not a new message: unread
/// counts and the conversation's order stay.
#[utoipa::path(patch, path = "/api/conversations/{id}/messages/{seq}", tag = "conversations",
    params(
        ("id" = i64, Path, minimum = 1, description = "Conversation id"),
        ("seq" = i64, Path, minimum = 1, description = "The message's `seq`"),
    ),
    request_body = EditRequest, security(("cookie" = [])),
    responses(
        (status = 200, body = MessageBody, description = "The message as it is now"),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 403, body = ErrorBody, description = "Someone else's message (`not_yours`), a foreign `Origin` (`forbidden_origin`), or the storage quota is reached (`quota_exceeded`)"),
        (status = 404, body = ErrorBody, description = MESSAGE_PATH),
        (status = 409, body = ErrorBody, description = "The message is deleted (`deleted`)"),
        (status = 413, body = ErrorBody, description = doc::TOO_LARGE),
        (status = 415, body = ErrorBody, description = doc::NOT_JSON),
        (status = 429, body = ErrorBody, description = "Too many messages and changes from this user (`rate_limited`, `limits.sends_per_minute`)",
            headers(("Retry-After" = u64, description = "Seconds until a change may succeed"))),
    ))]
async fn edit(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(path): AppPath<(Id, Id)>,
    AppJson(req): AppJson<EditRequest>,
) -> Result<AppJson<MessageBody>, ApiError> {
    let (Id(id), Id(seq)) = path;
    let message = state
        .chat
        .edit_message(&session, id, seq, &req.body)
        .await?;
    Ok(AppJson(MessageBody { message }))
}

/// Deletes one of my messages. It keeps its place (`seq`) and shows as `deleted` with
/// an empty body; its text is erased from the database (on SQLite from its files
/// within seconds). Both members' sockets get `message_deleted`. Deleting it again is
/// 204 and changes nothing.
#[utoipa::path(delete, path = "/api/conversations/{id}/messages/{seq}", tag = "conversations",
    params(
        ("id" = i64, Path, minimum = 1, description = "Conversation id"),
        ("seq" = i64, Path, minimum = 1, description = "The message's `seq`"),
    ),
    security(("cookie" = [])),
    responses(
        (status = 204, description = "Deleted (now or before)"),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 403, body = ErrorBody, description = "Someone else's message (`not_yours`), or a foreign `Origin` (`forbidden_origin`)"),
        (status = 404, body = ErrorBody, description = MESSAGE_PATH),
        (status = 429, body = ErrorBody, description = "Too many messages and changes from this user (`rate_limited`, `limits.sends_per_minute`)",
            headers(("Retry-After" = u64, description = "Seconds until a change may succeed"))),
    ))]
async fn delete_message(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(path): AppPath<(Id, Id)>,
) -> Result<StatusCode, ApiError> {
    let (Id(id), Id(seq)) = path;
    state.chat.delete_message(&session, id, seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A reaction of mine, its key (percent-encoded) in the path.
const REACTION_PARAMS: &str = "No such conversation or message, or not one of mine (`not_found`)";

/// `/api/conversations/{id}/messages/{seq}/reactions/{key}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ReactionPath {
    /// Conversation id
    #[param(value_type = i64, minimum = 1)]
    id: Id,
    /// The message's `seq`
    #[param(value_type = i64, minimum = 1)]
    seq: Id,
    #[param(schema_with = doc::reaction_key)]
    key: String,
}

/// Adds my reaction `key` to a message (in practice an emoji: 1 to 64 bytes of UTF-8,
/// no control characters, not blank; at most 20 different keys on one message). Adding
/// one I have changes nothing. Both members' sockets get `reaction`.
#[utoipa::path(put, path = "/api/conversations/{id}/messages/{seq}/reactions/{key}", tag = "conversations",
    params(ReactionPath),
    security(("cookie" = [])),
    responses(
        (status = 204, description = "I have this reaction on the message (now or before)"),
        (status = 400, body = ErrorBody, description = "The key is blank, has a control character or is longer than 64 bytes (`invalid_input`, field `key`)"),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 403, body = ErrorBody, description = doc::FOREIGN_ORIGIN),
        (status = 404, body = ErrorBody, description = REACTION_PARAMS),
        (status = 409, body = ErrorBody, description = "The message is deleted (`deleted`), or has 20 different keys already (`too_many_reactions`)"),
        (status = 429, body = ErrorBody, description = "Too many messages and changes from this user (`rate_limited`, `limits.sends_per_minute`)",
            headers(("Retry-After" = u64, description = "Seconds until a change may succeed"))),
    ))]
async fn add_reaction(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(path): AppPath<ReactionPath>,
) -> Result<StatusCode, ApiError> {
    state
        .chat
        .react(&session, path.id.0, path.seq.0, &path.key, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes back my reaction `key` on a message; taking back one I do not have changes
/// nothing. Both members' sockets get `reaction` with `on: false`.
#[utoipa::path(delete, path = "/api/conversations/{id}/messages/{seq}/reactions/{key}", tag = "conversations",
    params(ReactionPath),
    security(("cookie" = [])),
    responses(
        (status = 204, description = "I do not have this reaction on the message (now or before)"),
        (status = 400, body = ErrorBody, description = "The key is blank, has a control character or is longer than 64 bytes (`invalid_input`, field `key`)"),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 403, body = ErrorBody, description = doc::FOREIGN_ORIGIN),
        (status = 404, body = ErrorBody, description = REACTION_PARAMS),
        (status = 429, body = ErrorBody, description = "Too many messages and changes from this user (`rate_limited`, `limits.sends_per_minute`)",
            headers(("Retry-After" = u64, description = "Seconds until a change may succeed"))),
    ))]
async fn remove_reaction(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(path): AppPath<ReactionPath>,
) -> Result<StatusCode, ApiError> {
    state
        .chat
        .react(&session, path.id.0, path.seq.0, &path.key, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReadRequest {
    /// Mark read up to this `seq` (past the newest: up to the newest); without it, up
    /// to the newest message.
    #[schema(minimum = 0)]
    #[serde(default, deserialize_with = "optional_integer")]
    up_to_seq: Option<i64>,
}

/// Moves my read marker forward (never back) (F3b, F5). The body may be left out:
/// then everything is marked read.
#[utoipa::path(post, path = "/api/conversations/{id}/read", tag = "conversations",
    params(("id" = i64, Path, minimum = 1, description = "Conversation id")),
    request_body = Option<ReadRequest>, security(("cookie" = [])),
    responses(
        (status = 200, body = ReadMarker),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 403, body = ErrorBody, description = doc::FOREIGN_ORIGIN),
        (status = 404, body = ErrorBody, description = NOT_MINE),
        (status = 413, body = ErrorBody, description = doc::TOO_LARGE),
        (status = 415, body = ErrorBody, description = doc::NOT_JSON),
    ))]
async fn read(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(Id(id)): AppPath<Id>,
    OptionalJson(req): OptionalJson<ReadRequest>,
) -> Result<AppJson<ReadMarker>, ApiError> {
    Ok(AppJson(
        state.chat.read(&session, id, req.up_to_seq, None).await?,
    ))
}
