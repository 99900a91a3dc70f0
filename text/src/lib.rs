//! What gadka knows about the characters of names, in a crate of its own because two
//! others must agree on it exactly: the server folds every new name and every query into
//! a search key, and the migration that gives existing users their keys must fold them
//! the same way; a migration cannot depend on the server's crate.
//!
//! - [`chars`]: the classes of characters that the display-name rules speak of
//!   (bidirectional controls, invisible characters, combining marks);
//! - [`search`]: the search key of a text, and the search terms of a user.
//!
//! Every table comes from ICU4X's compiled Unicode data (normalisation, case folding,
//! character properties), so all of them are of one Unicode version.

pub mod chars;
pub mod search;
