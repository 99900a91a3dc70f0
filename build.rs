//! Compresses the web client's files for a release build, which embeds them: brotli and
//! gzip at their best levels are too slow to spend on requests, and the files of one
//! binary never change. `src/web/variants.rs` includes the table this writes.
//!
//! A build with debug assertions reads the files from disk while it runs (rust-embed's
//! debug mode), where copies made now would go stale; it compresses at run time
//! instead, and this does nothing, so that editing `web/` does not rebuild the crate.

use std::{
    env,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

#[path = "src/web/compress.rs"]
mod compress;

/// The page is rendered per version before it is served, so it is compressed then.
const RENDERED: &str = "index.html";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/web/compress.rs");
    if env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_some() {
        return;
    }
    println!("cargo:rerun-if-changed=web");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let copies = out.join("web");
    let mut files = Vec::new();
    walk(Path::new("web"), "", &mut files);
    files.sort();
    let mut table = String::from("&[\n");
    for name in files.iter().filter(|name| *name != RENDERED) {
        let file = fs::read(Path::new("web").join(name))
            .unwrap_or_else(|e| panic!("cannot read web/{name}: {e}"));
        let brotli = write_copy(&copies, name, "br", compress::brotli(&file));
        let gzip = write_copy(&copies, name, "gz", compress::gzip(&file));
        writeln!(table, "    ({name:?}, {brotli}, {gzip}),").expect("writing to a String");
    }
    table.push_str("]\n");
    fs::write(out.join("precompressed.rs"), table).expect("cannot write precompressed.rs");
}

/// The names of the files under `dir`, with `/` between directories, as rust-embed
/// names them.
fn walk(dir: &Path, prefix: &str, files: &mut Vec<String>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {dir:?}: {e}"));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot list {dir:?}: {e}"));
        let Ok(name) = entry.file_name().into_string() else {
            panic!("{:?}: rust-embed names files in UTF-8", entry.path());
        };
        let name = format!("{prefix}{name}");
        if entry.path().is_dir() {
            walk(&entry.path(), &format!("{name}/"), files);
        } else {
            files.push(name);
        }
    }
}

/// Writes one compressed copy and returns the expression that embeds it (`None`
/// when that coding saves nothing).
fn write_copy(dir: &Path, name: &str, suffix: &str, copy: Option<Vec<u8>>) -> String {
    let Some(bytes) = copy else {
        return "None".to_owned();
    };
    let path = dir.join(format!("{name}.{suffix}"));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("cannot create {parent:?}: {e}"));
    }
    fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
    // Absolute, so that it does not matter which source file includes the table.
    format!(
        "Some(include_bytes!({:?}).as_slice())",
        path.display().to_string()
    )
}
