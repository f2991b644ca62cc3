//! Every dialog version the running bot can need: the current files, plus older versions
//! (from the database's snapshots) that sessions in progress started on.

use std::collections::HashMap;
use std::sync::Arc;

use super::load::Catalog;
use super::model::Dialog;

#[derive(Debug, Clone, Default)]
pub struct Registry {
    current: Catalog,
    by_version: HashMap<(String, i64), Arc<Dialog>>,
}

impl Registry {
    pub fn new(current: Catalog) -> Self {
        let by_version = current
            .dialogs
            .values()
            .map(|d| ((d.id.clone(), d.version), d.clone()))
            .collect();
        Registry {
            current,
            by_version,
        }
    }

    /// Adds an older version (ignored if that version is already known).
    pub fn add_old(&mut self, dialog: Dialog) {
        self.by_version
            .entry((dialog.id.clone(), dialog.version))
            .or_insert_with(|| Arc::new(dialog));
    }

    pub fn get(&self, id: &str, version: i64) -> Option<&Arc<Dialog>> {
        self.by_version.get(&(id.to_string(), version))
    }

    pub fn current(&self, id: &str) -> Option<&Arc<Dialog>> {
        self.current.dialogs.get(id)
    }

    /// (id, title) of every current dialog.
    pub fn titles(&self) -> Vec<(String, String)> {
        self.current
            .dialogs
            .values()
            .map(|d| (d.id.clone(), d.title.clone()))
            .collect()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.current
    }
}
