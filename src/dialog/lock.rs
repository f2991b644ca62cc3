//! `dialogs/dialogs.lock`: each dialog's version and the fingerprint of its content, so a
//! dialog reworded without a `version` bump is caught before anyone answers it — by
//! `staywell check` and by a test, without a database.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::load::{Catalog, top_level_span};
use crate::diagnostic::Diagnostic;

pub const LOCK_FILE: &str = "dialogs.lock";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    version: Spanned<i64>,
    hash: Spanned<String>,
}

/// Checks every dialog of `catalog` against `dir/dialogs.lock`: each must be there, with its
/// version and fingerprint. `all_loaded`: every dialog file loaded (only then is a lock entry
/// without a dialog worth a warning; otherwise its file may just be broken).
pub fn check_lock(dir: &Path, catalog: &Catalog, all_loaded: bool) -> Vec<Diagnostic> {
    let path = dir.join(LOCK_FILE);
    let src = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if catalog.dialogs.is_empty() {
                return Vec::new();
            }
            return vec![Diagnostic::file(
                &path,
                format!(
                    "is missing: it records each dialog's version and fingerprint; create it with {}",
                    catalog
                        .dialogs
                        .values()
                        .map(|d| lock_lines(&d.id, d.version, &d.content_hash()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )];
        }
        Err(e) => return vec![Diagnostic::file(&path, format!("cannot read: {e}"))],
    };
    let lock: BTreeMap<Spanned<String>, Spanned<Entry>> = match toml::from_str(&src) {
        Ok(l) => l,
        Err(e) => return vec![Diagnostic::from_toml(&path, &src, &e)],
    };
    let mut out = Vec::new();
    let lock_at = |span, message: String| Diagnostic::at(&path, &src, Some(span), message);
    for d in catalog.dialogs.values() {
        let (file, dsrc) = match (catalog.files.get(&d.id), catalog.sources.get(&d.id)) {
            (Some(f), Some(s)) => (f.as_path(), s.as_str()),
            _ => continue,
        };
        let dialog_at = |key: &str, message: String| {
            Diagnostic::at(file, dsrc, top_level_span(dsrc, key), message)
        };
        let hash = d.content_hash();
        let Some((key, entry)) = lock.iter().find(|(k, _)| *k.get_ref() == d.id) else {
            out.push(dialog_at(
                "id",
                format!(
                    "dialog `{}` is not in {LOCK_FILE} yet: add {}",
                    d.id,
                    lock_lines(&d.id, d.version, &hash)
                ),
            ));
            continue;
        };
        let entry = entry.get_ref();
        let (locked, locked_hash) = (*entry.version.get_ref(), entry.hash.get_ref());
        if locked == d.version && *locked_hash != hash {
            out.push(
                dialog_at(
                    "version",
                    format!(
                        "dialog `{}` was changed but its version is still {locked}: make it {} here, then in {LOCK_FILE} set {}",
                        d.id,
                        locked + 1,
                        lock_lines(&d.id, locked + 1, &hash)
                    ),
                )
                .with_note(lock_at(
                    key.span(),
                    format!(
                        "version {locked} of `{}` is recorded here, with the fingerprint of its earlier words",
                        d.id
                    ),
                )),
            );
        } else if locked > d.version {
            out.push(
                dialog_at(
                    "version",
                    format!(
                        "dialog `{}` is version {} here, but {LOCK_FILE} already records version {locked}: a version only goes up; make it {}",
                        d.id,
                        d.version,
                        locked + 1
                    ),
                )
                .with_note(lock_at(
                    entry.version.span(),
                    format!("version {locked} of `{}` is recorded here", d.id),
                )),
            );
        } else if locked < d.version {
            out.push(
                lock_at(
                    entry.version.span(),
                    format!(
                        "dialog `{}` is now version {}: set {}",
                        d.id,
                        d.version,
                        lock_lines(&d.id, d.version, &hash)
                    ),
                )
                .with_note(dialog_at(
                    "version",
                    format!("`{}` is version {} here", d.id, d.version),
                )),
            );
        }
    }
    if all_loaded {
        for key in lock.keys() {
            if !catalog.dialogs.contains_key(key.get_ref()) {
                out.push(
                    lock_at(
                        key.span(),
                        format!(
                            "no dialog file has the id `{}`: if it was retired on purpose, remove its lines here",
                            key.get_ref()
                        ),
                    )
                    .warning(),
                );
            }
        }
    }
    out
}

/// What the lock must say about a dialog, on one line.
fn lock_lines(id: &str, version: i64, hash: &str) -> String {
    format!("[{id}] version = {version}, hash = \"{hash}\"")
}
