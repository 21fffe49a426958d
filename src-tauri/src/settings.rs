//! The app's own settings (not the helper's): a small JSON file in the app's config directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, UiError};

/// What to do when a connection drops without the user asking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reconnect {
    /// Leave it down and say so.
    Never,
    /// Try again a few times, then give up and say so.
    #[default]
    Automatically,
}

/// The settings screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Start Tern (in the tray) when the user logs in.
    pub launch_at_login: bool,
    /// The profile to connect when Tern starts, if any.
    pub connect_on_start: Option<String>,
    /// What to do when a connection drops.
    pub reconnect: Reconnect,
    /// Desktop notifications for connected, dropped, reconnected and failed.
    pub notifications: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            launch_at_login: false,
            connect_on_start: None,
            reconnect: Reconnect::default(),
            notifications: true,
        }
    }
}

/// Largest settings file read (it is a few hundred bytes).
const MAX_SETTINGS_BYTES: u64 = 64 * 1024;

impl Settings {
    /// The file in `dir`.
    #[must_use]
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("settings.json")
    }

    /// Reads the settings; a missing or unreadable file gives the defaults (logged).
    #[must_use]
    pub fn load(dir: &Path) -> Self {
        let path = Self::path(dir);
        let too_large = std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_SETTINGS_BYTES);
        if too_large {
            tracing::warn!(path = %path.display(), "settings file too large; using defaults");
            return Self::default();
        }
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "unreadable settings; using defaults");
                Self::default()
            }),
            Err(_) => Self::default(),
        }
    }

    /// Writes the settings (through a temporary file, so a crash never leaves half a file).
    pub fn save(&self, dir: &Path) -> Result<(), UiError> {
        let io = |e: std::io::Error| {
            UiError::new(
                ErrorKind::Io,
                format!("saving settings in {}: {e}", dir.display()),
            )
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| UiError::new(ErrorKind::Invalid, e.to_string()))?;
        let temp = dir.join("settings.json.tmp");
        std::fs::write(&temp, text).map_err(io)?;
        std::fs::rename(&temp, Self::path(dir)).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
        let settings = Settings {
            launch_at_login: true,
            connect_on_start: Some("0b7a4f4e-52a1-4f1c-9d4a-1c2b3d4e5f60".into()),
            reconnect: Reconnect::Never,
            notifications: false,
        };
        settings.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()), settings);
        std::fs::write(Settings::path(dir.path()), b"{not json").unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
        let partial: Settings = serde_json::from_str(r#"{"launchAtLogin":true}"#).unwrap();
        assert!(partial.notifications);
    }
}
