//! What the app remembers while it runs: the helper's last status, imports waiting for the
//! user's confirmation, and the settings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use profile::{ImportFormat, ImportPreview};
use serde::Serialize;

use crate::error::UiError;
use crate::settings::Settings;

/// Whether the helper can be reached, as the UI shows it.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelperView {
    /// A connection to the helper is open.
    pub reachable: bool,
    /// The helper's name and version, once known.
    pub server: Option<String>,
    /// Why it cannot be reached.
    pub error: Option<UiError>,
}

/// An import shown to the user and not yet confirmed.
pub struct PendingImport {
    /// What the file contained.
    pub preview: ImportPreview,
    /// Its format.
    pub format: ImportFormat,
    /// The file's name (or the link's), for the preview's title.
    pub source: String,
    /// Whether the client certificate the file carries opens without the user's passphrase
    /// (worked out once: opening a bundle costs a key derivation).
    pub bundle_opens: bool,
}

/// Mutable state behind one lock; held only briefly, never across an await.
#[derive(Default)]
pub struct Inner {
    /// The helper connection.
    pub helper: HelperView,
    /// The last status the helper reported.
    pub status: Option<ipc::Status>,
    /// Imports waiting for confirmation, by token.
    pub pending: BTreeMap<String, PendingImport>,
    /// Token counter.
    pub next_token: u64,
    /// The settings.
    pub settings: Settings,
}

/// The app's managed state.
pub struct AppState {
    /// Where the settings live.
    pub config_dir: PathBuf,
    inner: Mutex<Inner>,
}

impl AppState {
    /// State with the settings read from `config_dir`.
    #[must_use]
    pub fn new(config_dir: PathBuf) -> Self {
        let settings = Settings::load(&config_dir);
        Self {
            config_dir,
            inner: Mutex::new(Inner {
                settings,
                ..Inner::default()
            }),
        }
    }

    /// The state, even if a panic poisoned the lock (the data stays consistent: every update
    /// is a single assignment).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
