//! The application service API the homeserver calls, under `/_matrix/app/v1`:
//! transactions of events, the ping, and the user query for the puppets' namespace.
//!
//! Every call is authenticated with `Authorization: Bearer <hs_token>`, compared in
//! constant time. Errors are Matrix errors (`{"errcode", "error"}`), as the homeserver
//! expects, not gadka's API errors.

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Path, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use ruma::{
    OwnedTransactionId, TransactionId, UserId,
    api::appservice::event::push_events::v1::EphemeralData, events::AnyTimelineEvent, serde::Raw,
};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::Bridge;

/// The largest transaction body. Synapse sends up to 100 events and 100 ephemeral
/// events at a time, each up to 64 KiB; the API's message-sized limit would refuse
/// a full transaction, and a refused one is retried forever.
const MAX_TRANSACTION_BYTES: usize = 32 * 1024 * 1024;

/// A Matrix error answer.
#[derive(Debug)]
pub struct MatrixError {
    status: StatusCode,
    errcode: &'static str,
    error: String,
}

impl MatrixError {
    fn new(status: StatusCode, errcode: &'static str, error: impl Into<String>) -> Self {
        Self {
            status,
            errcode,
            error: error.into(),
        }
    }
}

impl IntoResponse for MatrixError {
    fn into_response(self) -> Response {
        let body = json!({"errcode": self.errcode, "error": self.error});
        (self.status, Json(body)).into_response()
    }
}

/// The routes the homeserver calls, with their own body limit and authentication.
pub fn routes(bridge: Arc<Bridge>) -> Router {
    Router::new()
        .route("/_matrix/app/v1/transactions/{txn_id}", put(transaction))
        .route("/_matrix/app/v1/ping", post(ping))
        .route("/_matrix/app/v1/users/{user_id}", get(query_user))
        .fallback(|| async {
            MatrixError::new(StatusCode::NOT_FOUND, "M_UNRECOGNIZED", "unknown endpoint")
        })
        .layer(middleware::from_fn_with_state(bridge.clone(), authenticate))
        .layer(DefaultBodyLimit::max(MAX_TRANSACTION_BYTES))
        .with_state(bridge)
}

/// Lets through only the homeserver: `Authorization: Bearer <hs_token>`.
async fn authenticate(
    State(bridge): State<Arc<Bridge>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return MatrixError::new(
            StatusCode::UNAUTHORIZED,
            "M_MISSING_TOKEN",
            "the homeserver's token is missing",
        )
        .into_response();
    };
    if !bool::from(given.as_bytes().ct_eq(bridge.hs_token.as_bytes())) {
        return MatrixError::new(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            "the homeserver's token is wrong",
        )
        .into_response();
    }
    next.run(request).await
}

/// `PUT /_matrix/app/v1/transactions/{txnId}`. The lists are ruma's raw events, so
/// that one event that does not parse is skipped alone instead of failing the whole
/// transaction, which the homeserver would then retry forever.
#[derive(Deserialize)]
struct Transaction {
    #[serde(default)]
    events: Vec<Raw<AnyTimelineEvent>>,
    #[serde(default)]
    ephemeral: Vec<Raw<EphemeralData>>,
    /// The key homeservers used before MSC2409 was merged.
    #[serde(default, rename = "de.sorunome.msc2409.ephemeral")]
    ephemeral_unstable: Vec<Raw<EphemeralData>>,
}

async fn transaction(
    State(bridge): State<Arc<Bridge>>,
    Path(txn_id): Path<OwnedTransactionId>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, MatrixError> {
    let transaction: Transaction = serde_json::from_slice(&body).map_err(|e| {
        MatrixError::new(
            StatusCode::BAD_REQUEST,
            "M_NOT_JSON",
            format!("not a transaction: {e}"),
        )
    })?;
    tracing::debug!(
        %txn_id,
        events = transaction.events.len(),
        ephemeral = transaction.ephemeral.len() + transaction.ephemeral_unstable.len(),
        "transaction from the homeserver"
    );
    let unavailable = || {
        MatrixError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "M_UNKNOWN",
            "the bridge cannot take this transaction now",
        )
    };
    // The id is stored in the batch that applies the transaction: seen, it is done.
    let key = group_key(&txn_id);
    match bridge.chat.group_applied(&key).await {
        Ok(true) => {
            tracing::debug!(%txn_id, "a transaction applied before");
            return Ok(Json(json!({})));
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(%txn_id, error = %e, "cannot tell whether a transaction is new");
            return Err(unavailable());
        }
    }
    // In order; a failure leaves the transaction to the homeserver's retry, and
    // nothing of its group is stored.
    let mut group = bridge.chat.group();
    for event in &transaction.events {
        match event.deserialize() {
            Ok(event) => bridge.incoming(&event, &mut group).await.map_err(|e| {
                tracing::warn!(%txn_id, event = %event.event_id(), error = %e, "cannot carry an event in now");
                unavailable()
            })?,
            Err(e) => tracing::warn!(%txn_id, error = %e, "skipped an event that does not parse"),
        }
    }
    let ephemeral = transaction
        .ephemeral
        .iter()
        .chain(&transaction.ephemeral_unstable);
    for data in ephemeral {
        match data.deserialize() {
            Ok(data) => bridge.ephemeral(&data, &mut group).await.map_err(|e| {
                tracing::warn!(%txn_id, error = %e, "cannot carry ephemeral data in now");
                unavailable()
            })?,
            Err(e) => {
                tracing::warn!(%txn_id, error = %e, "skipped ephemeral data that does not parse")
            }
        }
    }
    // Typing and invites (harmless to repeat) leave the group empty: there is
    // nothing for the id to guard, so no commit and no fsync. Typing comes often.
    if group.is_empty() {
        return Ok(Json(json!({})));
    }
    // Answered only once the whole group is committed, with the id beside it.
    let outcomes = group.commit(&key).await.map_err(|e| {
        tracing::warn!(%txn_id, error = %e, "cannot commit a transaction now");
        unavailable()
    })?;
    for refused in outcomes.into_iter().filter_map(Result::err) {
        // A receipt from someone not in the conversation, a message into a room that
        // is no longer theirs: refused alone, for good.
        tracing::info!(%txn_id, error = %refused, "something of a transaction the chat refuses");
    }
    Ok(Json(json!({})))
}

/// The key a transaction's group is stored under: its id, which the homeserver
/// never reuses for another transaction to this application service.
fn group_key(txn_id: &TransactionId) -> String {
    format!("matrix-transaction:{txn_id}")
}

/// How often the ids of applied transactions are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long the id of an applied transaction is kept. The homeserver sends a
/// transaction again only until it has the answer, within minutes of it.
const KEEP_TRANSACTIONS: Duration = Duration::from_secs(7 * 24 * 3600);

/// Forgets the ids of transactions applied long ago, every hour, so that they do
/// not pile up with every transaction forever.
pub async fn forget_old_transactions(bridge: Arc<Bridge>) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        every.tick().await;
        match bridge
            .chat
            .forget_groups_older_than(KEEP_TRANSACTIONS)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(forgotten = n, "forgot the ids of old transactions"),
            Err(e) => tracing::warn!(error = %e, "cannot forget the ids of old transactions"),
        }
    }
}

/// `POST /_matrix/app/v1/ping`: the homeserver checking that it reaches the bridge.
async fn ping() -> Json<serde_json::Value> {
    Json(json!({}))
}

/// `GET /_matrix/app/v1/users/{userId}`: a puppet exists when its gadka user does;
/// it is registered on the homeserver before the answer.
async fn query_user(
    State(bridge): State<Arc<Bridge>>,
    Path(user_id): Path<String>,
) -> Result<Json<serde_json::Value>, MatrixError> {
    let not_found = || MatrixError::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", "no such user");
    let user_id = UserId::parse(&user_id).map_err(|_| not_found())?;
    match bridge.ensure_puppet(&user_id).await {
        Ok(Some(_)) => Ok(Json(json!({}))),
        Ok(None) => Err(not_found()),
        Err(e) => {
            tracing::warn!(%user_id, error = %e, "cannot create the puppet");
            Err(MatrixError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "M_UNKNOWN",
                "the bridge cannot create this user now",
            ))
        }
    }
}
