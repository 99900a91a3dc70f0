//! Conversations and their messages: `/api/conversations…`.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::chat::{
    SendTo,
    views::{Conversation, Message, ReadMarker},
};
use crate::http::{
    ApiError, AppState, CurrentSession,
    error::ErrorBody,
    extract::{AppJson, AppPath, AppQuery, OptionalJson},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, open))
        .routes(routes!(history, send))
        .routes(routes!(read))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// How many conversations (default 5, at most 100).
    limit: Option<i64>,
    /// How many of the newest messages with each (default 10, at most 100; 0 for none).
    messages: Option<i64>,
}

/// `{conversations}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationsBody {
    conversations: Vec<Conversation>,
}

/// My latest conversations, newest activity first (F2).
#[utoipa::path(get, path = "/api/conversations", tag = "conversations", params(ListParams),
    responses((status = 200, body = ConversationsBody), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppQuery(params): AppQuery<ListParams>,
) -> Result<AppJson<ConversationsBody>, ApiError> {
    let conversations = state
        .chat
        .conversations(&session, params.limit, params.messages)
        .await?;
    Ok(AppJson(ConversationsBody { conversations }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OpenRequest {
    /// The other user.
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
    responses((status = 201, body = ConversationBody, description = "Created now"),
              (status = 200, body = ConversationBody, description = "It already existed"),
              (status = 404, body = ErrorBody, description = "No such user")))]
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
pub struct HistoryParams {
    /// Only messages with a smaller `seq`; without it, the newest.
    before: Option<i64>,
    /// At most this many (default 50, at most 100).
    limit: Option<i64>,
}

/// `{messages}`, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagesBody {
    messages: Vec<Message>,
}

/// A page of history.
#[utoipa::path(get, path = "/api/conversations/{id}/messages", tag = "conversations",
    params(("id" = i64, Path, description = "Conversation id"), HistoryParams),
    responses((status = 200, body = MessagesBody), (status = 404, body = ErrorBody)))]
async fn history(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(id): AppPath<i64>,
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
    body: String,
    /// Idempotency key: the same `txn_id` again returns the first message, stored once.
    txn_id: Option<String>,
}

/// `{message}`
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    message: Message,
}

/// Sends a message. It is committed before the answer; a retry with the same
/// `txn_id` gets the same answer and stores nothing new.
#[utoipa::path(post, path = "/api/conversations/{id}/messages", tag = "conversations",
    params(("id" = i64, Path, description = "Conversation id")), request_body = SendRequest,
    responses((status = 201, body = MessageBody), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn send(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(id): AppPath<i64>,
    AppJson(req): AppJson<SendRequest>,
) -> Result<(StatusCode, AppJson<MessageBody>), ApiError> {
    let (message, _new) = state
        .chat
        .send(
            &session,
            SendTo::Conversation(id),
            &req.body,
            req.txn_id.as_deref(),
            None,
        )
        .await?;
    Ok((StatusCode::CREATED, AppJson(MessageBody { message })))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReadRequest {
    /// Mark read up to this `seq`; without it, up to the newest message.
    up_to_seq: Option<i64>,
}

/// Moves my read marker forward (never back) (F3b, F5). The body may be left out:
/// then everything is marked read.
#[utoipa::path(post, path = "/api/conversations/{id}/read", tag = "conversations",
    params(("id" = i64, Path, description = "Conversation id")), request_body = ReadRequest,
    responses((status = 200, body = ReadMarker), (status = 404, body = ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(id): AppPath<i64>,
    OptionalJson(req): OptionalJson<ReadRequest>,
) -> Result<AppJson<ReadMarker>, ApiError> {
    Ok(AppJson(
        state.chat.read(&session, id, req.up_to_seq, None).await?,
    ))
}
