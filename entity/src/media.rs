//! `media`: one upload. Its bytes live in the media store under their SHA-256.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media")]
pub struct Model {
    /// Random, 22 characters of base64url.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Who uploaded it (for a file that came from Matrix: the sender's puppet).
    pub owner_id: i64,
    /// The file's SHA-256, lower-case hex: its name in the store.
    pub sha256: String,
    /// The file name the uploader gave.
    pub name: String,
    /// Sniffed from the bytes.
    pub content_type: String,
    pub size: i64,
    /// Pixels, for images.
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// The thumbnail's file, for images.
    pub thumb_sha256: Option<String>,
    pub thumb_content_type: Option<String>,
    pub thumb_size: Option<i64>,
    pub thumb_width: Option<i32>,
    pub thumb_height: Option<i32>,
    /// Unix ms.
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
