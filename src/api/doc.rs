//! The OpenAPI document, served at `/api/openapi.json`: the contract of the API.
//!
//! Clients and a schema-driven fuzzer (`.ci/schemathesis.sh`) are both driven from
//! it, so it states every status a route can answer and every rule the server
//! enforces on a request, and nothing the server does not enforce. The rules
//! themselves live in `chat/input.rs`; the field schemas here are built from their
//! constants, and the parts that depend on settings (the message size) are filled in
//! from the limits when the router is built.
//!
//! Statuses that come from shared layers are the same on every route: 400 for a
//! request that breaks this document, 401 without a live session, 403 for a
//! state-changing call from a foreign `Origin`, 413 for a body over the limit, 415
//! for a body that is not `application/json`. Each route lists those it can reach,
//! with the wording below.

use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, Object, ObjectBuilder, RefOr, Response, Schema, Type,
        schema::SchemaType,
        security::{ApiKey, ApiKeyValue, SecurityScheme},
    },
};

use crate::{
    chat::input::{
        DisplayName, ListCursor, MessageBody, Password, ReactionKey, SearchText, TxnId, Username,
    },
    config::Limits,
    http::SESSION_COOKIE,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gadka",
        description = "A 1:1 chat server. Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`. \
            The session is the `gadka_session` cookie set by `/api/register` and `/api/login` \
            (security scheme `cookie`). State-changing calls that carry an `Origin` header must come from \
            the server's own origin or a configured one (else 403). An undocumented method on a \
            documented path is 405 with `Allow`. `GET /ws` is the realtime socket."
    ),
    tags((name = "auth"), (name = "users"), (name = "conversations"), (name = "socket")),
    modifiers(&SessionCookie)
)]
pub(super) struct ApiDoc;

/// The security scheme every authenticated route names: `security(("cookie" = []))`.
struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "cookie",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                    SESSION_COOKIE,
                    "Set by /api/register and /api/login; HttpOnly, SameSite=Lax.",
                ))),
            );
    }
}

/// Completes the document once every route is in: what the settings decide (the
/// largest message body), and the 5XX that any call can answer.
pub(super) fn complete(doc: &mut openapi::OpenApi, limits: &Limits) {
    message_limit(doc, limits.max_message_bytes);
    body_or_file(doc);
    server_errors(doc);
}

/// A message has words, a file, or both: `body` or `media_id` is required, and not
/// as `null` (which both may be beside the other). (A file's caption may also be `""`,
/// which the body's pattern does not admit: a client that sends no caption leaves
/// `body` out.)
fn body_or_file(doc: &mut openapi::OpenApi) {
    let Some(schemas) = doc.components.as_mut().map(|c| &mut c.schemas) else {
        return;
    };
    let Some(request) = schemas.remove("SendRequest") else {
        return;
    };
    let needs = |field: &str| {
        ObjectBuilder::new()
            .required(field)
            .property(field, ObjectBuilder::new().schema_type(Type::String))
            .build()
    };
    let any = openapi::schema::AnyOfBuilder::new()
        .item(needs("body"))
        .item(needs("media_id"))
        .build();
    schemas.insert(
        "SendRequest".to_owned(),
        Schema::AllOf(
            openapi::schema::AllOfBuilder::new()
                .item(request)
                .item(Schema::AnyOf(any))
                .build(),
        )
        .into(),
    );
}

/// Any call can fail inside the server (the database does not answer). That is
/// documented once, here, for every operation; the fuzzer still counts any 5xx as
/// a failure.
fn server_errors(doc: &mut openapi::OpenApi) {
    let response = || -> RefOr<Response> {
        openapi::ResponseBuilder::new()
            .description(INTERNAL)
            .content(
                "application/json",
                openapi::ContentBuilder::new()
                    .schema(Some(openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
            .into()
    };
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            operation
                .responses
                .responses
                .entry("5XX".to_owned())
                .or_insert_with(response);
        }
    }
}

/// The message body's `maxLength`: the configured byte limit, which bounds the
/// characters too (each is at least a byte).
fn message_limit(doc: &mut openapi::OpenApi, max: usize) {
    let body = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("SendRequest"))
        .and_then(|schema| match schema {
            RefOr::T(Schema::Object(request)) => request.properties.get_mut("body"),
            _ => None,
        });
    if let Some(RefOr::T(Schema::Object(body))) = body {
        body.max_length = Some(max);
        body.description = Some(format!(
            "Not blank, no NUL; at most {max} bytes of UTF-8 (so at most {max} characters). \
             A body within {max} characters but over {max} bytes is refused with 413 too."
        ));
    }
}

// What each error status means, worded once.
pub(super) const BAD_REQUEST: &str = "The request breaks this document: malformed JSON, a missing or \
    mistyped field, a value outside its stated range, length or pattern (`bad_request` from the parser, \
    `invalid_input` with `field` from the rules)";
pub(super) const UNAUTHENTICATED: &str = "No `gadka_session` cookie, or its session expired or     was revoked (by logout, a password reset, or the account's deactivation) (`unauthenticated`)";
pub(super) const FOREIGN_ORIGIN: &str =
    "The `Origin` header names neither this server nor a configured origin (`forbidden_origin`)";
pub(super) const TOO_LARGE: &str = "The body is over the request limit, or a field over its \
    configured byte limit (`payload_too_large`)";
pub(super) const NOT_JSON: &str =
    "The body is not declared as `Content-Type: application/json` (`unsupported_media_type`)";
pub(super) const INTERNAL: &str = "A fault of the server, logged there (`internal`)";

pub(super) fn username() -> Object {
    string(Some(Username::PATTERN))
        .min_length(Some(3))
        .max_length(Some(32))
        .description(Some(
            "3 to 32 of a-z, A-Z, 0-9, '.', '_', '-', starting with a letter or digit; \
             case-insensitive (kept in lower case)",
        ))
        .build()
}

pub(super) fn password() -> Object {
    string(None)
        .min_length(Some(Password::MIN_CHARS))
        .max_length(Some(Password::MAX_CHARS))
        .description(Some("8 to 1024 characters"))
        .build()
}

pub(super) fn display_name() -> Object {
    nullable_string(DisplayName::pattern())
        .min_length(Some(1))
        .max_length(Some(DisplayName::MAX_CHARS))
        .description(Some(DISPLAY_NAME_RULE))
        .build()
}

const DISPLAY_NAME_RULE: &str = "At most 64 characters, at least one of them visible (not only \
     whitespace, invisible characters such as U+200B, U+3164, U+2800, or combining marks); no \
     control characters, no bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, \
     U+061C), at most 4 combining marks in a row; kept without leading and trailing whitespace. \
     Defaults to the username.";

/// A display name that must be given (`PATCH /api/me`).
pub(super) fn new_display_name() -> Object {
    string(Some(DisplayName::pattern()))
        .min_length(Some(1))
        .max_length(Some(DisplayName::MAX_CHARS))
        .description(Some(DISPLAY_NAME_RULE))
        .build()
}

/// Its `maxLength` is the configured limit, set by [`complete`].
pub(super) fn message_body() -> Object {
    string(Some(MessageBody::PATTERN))
        .min_length(Some(1))
        .build()
}

pub(super) fn txn_id() -> Object {
    nullable_string(TxnId::PATTERN)
        .min_length(Some(1))
        .max_length(Some(TxnId::MAX_CHARS))
        .description(Some(
            "Idempotency key, 1 to 128 characters, no control characters: the same `txn_id` again \
             returns the first message, stored once.",
        ))
        .build()
}

pub(super) fn reaction_key() -> Object {
    string(Some(ReactionKey::PATTERN))
        .min_length(Some(1))
        .max_length(Some(ReactionKey::MAX_BYTES))
        .description(Some(
            "The reaction, percent-encoded: in practice an emoji; 1 to 64 bytes of UTF-8, not \
             blank, no control characters.",
        ))
        .build()
}

pub(super) fn search_text() -> Object {
    string(Some(SearchText::PATTERN))
        .max_length(Some(SearchText::MAX_CHARS))
        .description(Some(
            "Text that begins a username, a display name or a word of either, compared \
             without case and accents; at most 64 characters, no control characters",
        ))
        .build()
}

pub(super) fn list_cursor() -> Object {
    string(Some(ListCursor::PATTERN))
        .description(Some(
            "Opaque: a `next_cursor` exactly as a page of this list returned it. Clients must not \
             build or change one; its shape may change with the server.",
        ))
        .build()
}

fn string(pattern: Option<&str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(pattern)
}

fn nullable_string(pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(pattern))
}
