//! The profile store: one Tern profile file per profile in a directory, named by UUID.
//!
//! Writes are atomic: the new content goes to a temporary file in the same directory, is
//! flushed to disk, renamed over the old file, and the directory is flushed. A crash or a
//! failed import therefore leaves either the old or the new profile, never a mix. File names
//! come only from the profile id, never from the user-supplied name.
//!
//! A profile that authenticates with a client certificate has a second file, `<uuid>.p12`:
//! its key and chain as a PKCS#12 bundle Tern encrypted itself, whose passphrase is in the
//! keyring (see [`crate::credential`] for why the key is not in the keyring).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zeroize::Zeroizing;

use crate::credential::{ClientKey, CredentialError, MAX_PKCS12_BYTES};
use crate::import::{ImportError, ImportPreview, MAX_FILE_BYTES, export_tern};
use crate::model::{Profile, ProfileId};
use crate::validate::{ValidationError, check_name};

/// Environment variable that overrides the configuration directory.
pub const CONFIG_DIR_ENV: &str = "TERN_CONFIG_DIR";

const PROFILES_SUBDIR: &str = "profiles";
const EXTENSION: &str = "json";
const CLIENT_KEY_EXTENSION: &str = "p12";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No configuration directory could be determined (no home directory).
    #[error("cannot find a configuration directory; set {CONFIG_DIR_ENV}")]
    NoConfigDir,
    /// A file system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// No profile with this id.
    #[error("no profile with id {0}")]
    NotFound(ProfileId),
    /// The profile is invalid and was not saved.
    #[error("the profile was not saved: {0}")]
    Invalid(ValidationError),
    /// The stored client certificate cannot be opened or written.
    #[error("the profile's client certificate: {0}")]
    Credential(#[source] CredentialError),
    /// A stored file cannot be read as a profile.
    #[error("{path} is not a readable profile: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ImportError,
    },
}

/// Whether a save created a profile or replaced one with the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveOutcome {
    /// No profile with this id existed.
    Created,
    /// A profile with this id was replaced.
    Replaced,
}

/// Profiles stored in a directory.
#[derive(Clone, Debug)]
pub struct ProfileStore {
    dir: PathBuf,
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Distinguishes temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl ProfileStore {
    /// The store in the platform's configuration directory (`$TERN_CONFIG_DIR/profiles` when
    /// the variable is set), created if needed.
    pub fn open_default() -> Result<Self, StoreError> {
        Self::open(Self::default_dir()?)
    }

    /// Where [`ProfileStore::open_default`] keeps profiles: `$TERN_CONFIG_DIR/profiles`, else
    /// `profiles` in the platform's configuration directory for Tern (on Linux
    /// `~/.config/tern/profiles`).
    pub fn default_dir() -> Result<PathBuf, StoreError> {
        resolve_default_dir(std::env::var_os(CONFIG_DIR_ENV))
    }

    /// The store in `dir`, created (private to the user) if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        Ok(Self { dir })
    }

    /// The directory holding the profile files.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_for(&self, id: ProfileId) -> PathBuf {
        self.dir.join(format!("{id}.{EXTENSION}"))
    }

    /// Every readable profile, sorted by name. Unreadable files are skipped and logged, so one
    /// damaged file does not hide the others.
    pub fn list(&self) -> Result<Vec<Profile>, StoreError> {
        let entries = fs::read_dir(&self.dir).map_err(io_error("listing", &self.dir))?;
        let mut profiles = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error("listing", &self.dir))?;
            let Some(id) = id_from_file_name(&entry.file_name()) else {
                continue; // temporary files and anything else that is not ours
            };
            match self.get(id) {
                Ok(profile) => profiles.push(profile),
                Err(error) => tracing::warn!(%error, "skipping unreadable profile file"),
            }
        }
        profiles.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(profiles)
    }

    /// The profile with this id.
    pub fn get(&self, id: ProfileId) -> Result<Profile, StoreError> {
        let path = self.path_for(id);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound(id)),
            Err(e) => return Err(io_error("opening", &path)(e)),
        };
        let mut bytes = Vec::new();
        // Bounded read: one byte over the limit is enough to report the file as too large.
        file.take(MAX_FILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error("reading", &path))?;
        let corrupt = |source| StoreError::Corrupt {
            path: path.clone(),
            source,
        };
        let profile = crate::import::parse_tern_document(&bytes).map_err(corrupt)?;
        profile
            .validate()
            .map_err(|e| corrupt(ImportError::Invalid(e)))?;
        if profile.id != id {
            return Err(corrupt(ImportError::InvalidValue {
                field: "profile.id".into(),
                reason: format!(
                    "the file name says {id} but the profile says {}",
                    profile.id
                ),
            }));
        }
        Ok(profile)
    }

    /// Validates and writes a profile, replacing any profile with the same id.
    pub fn save(&self, profile: &Profile) -> Result<SaveOutcome, StoreError> {
        profile.validate().map_err(StoreError::Invalid)?;
        let path = self.path_for(profile.id);
        let existed = path.exists();
        let text = export_tern(profile).map_err(|e| StoreError::Io {
            action: "encoding",
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        self.write_atomic(&path, text.as_bytes())?;
        Ok(if existed {
            SaveOutcome::Replaced
        } else {
            SaveOutcome::Created
        })
    }

    /// Saves an import's profile. A profile with the same id is replaced; if anything fails,
    /// the stored profiles are unchanged. The preview's secrets are the caller's to store in the
    /// keyring.
    pub fn import(&self, preview: &ImportPreview) -> Result<SaveOutcome, StoreError> {
        self.save(&preview.profile)
    }

    /// Renames a profile (only its display name; the file keeps its id-based name).
    pub fn rename(&self, id: ProfileId, new_name: &str) -> Result<Profile, StoreError> {
        check_name(new_name).map_err(|problem| {
            StoreError::Invalid(ValidationError {
                field: "name".into(),
                problem,
            })
        })?;
        let mut profile = self.get(id)?;
        new_name.clone_into(&mut profile.name);
        self.save(&profile)?;
        Ok(profile)
    }

    /// Deletes a profile and its client certificate, if any.
    pub fn delete(&self, id: ProfileId) -> Result<(), StoreError> {
        let path = self.path_for(id);
        match fs::remove_file(&path) {
            Ok(()) => {
                self.delete_client_key(id)?;
                sync_dir(&self.dir)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound(id)),
            Err(e) => Err(io_error("deleting", &path)(e)),
        }
    }

    fn client_key_path(&self, id: ProfileId) -> PathBuf {
        self.dir.join(format!("{id}.{CLIENT_KEY_EXTENSION}"))
    }

    /// Stores a profile's client certificate and key, encrypted under `passphrase` (which the
    /// caller keeps in the keyring), replacing any stored before. The file is private to the
    /// user (0600 on Unix) and written atomically.
    pub fn save_client_key(
        &self,
        id: ProfileId,
        key: &ClientKey,
        passphrase: &str,
    ) -> Result<(), StoreError> {
        let bundle = key.to_pkcs12(passphrase).map_err(StoreError::Credential)?;
        self.write_atomic(&self.client_key_path(id), &bundle)
    }

    /// Whether a client certificate is stored for the profile.
    #[must_use]
    pub fn has_client_key(&self, id: ProfileId) -> bool {
        self.client_key_path(id).is_file()
    }

    /// Opens the profile's stored client certificate and key with `passphrase`; `None` when
    /// none is stored.
    ///
    /// # Errors
    /// [`StoreError::Credential`] with [`CredentialError::WrongPassphrase`] for a wrong
    /// passphrase, or an I/O error.
    pub fn client_key(
        &self,
        id: ProfileId,
        passphrase: &str,
    ) -> Result<Option<ClientKey>, StoreError> {
        let path = self.client_key_path(id);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("opening", &path)(e)),
        };
        let mut bundle = Zeroizing::new(Vec::new());
        // One byte over the limit lets the parser report the size.
        file.take(MAX_PKCS12_BYTES as u64 + 1)
            .read_to_end(&mut bundle)
            .map_err(io_error("reading", &path))?;
        ClientKey::from_pkcs12(&bundle, passphrase)
            .map(Some)
            .map_err(StoreError::Credential)
    }

    /// Removes the profile's client certificate; `false` when none was stored.
    pub fn delete_client_key(&self, id: ProfileId) -> Result<bool, StoreError> {
        let path = self.client_key_path(id);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir).map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("deleting", &path)(e)),
        }
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = self.dir.join(format!(
            ".{file_name}.tmp-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = write_new_file(&temp, bytes)
            .and_then(|()| fs::rename(&temp, path).map_err(io_error("replacing", path)));
        if result.is_err() {
            // Best effort: the temporary file is invisible to `list` either way.
            let _ = fs::remove_file(&temp);
        }
        result?;
        sync_dir(&self.dir)
    }
}

fn resolve_default_dir(config_override: Option<std::ffi::OsString>) -> Result<PathBuf, StoreError> {
    let config = match config_override {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => directories::ProjectDirs::from("", "", "tern")
            .ok_or(StoreError::NoConfigDir)?
            .config_dir()
            .to_owned(),
    };
    Ok(config.join(PROFILES_SUBDIR))
}

fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_error("creating", path))?;
    file.write_all(bytes).map_err(io_error("writing", path))?;
    file.sync_all().map_err(io_error("flushing", path))
}

/// Flushes a directory so a rename or removal in it survives a crash (a no-op where
/// directories cannot be opened, as on Windows).
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error("flushing", dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_error("creating", dir))
}

/// The id of a profile file name (`<lowercase uuid>.json`); `None` for anything else.
fn id_from_file_name(name: &std::ffi::OsStr) -> Option<ProfileId> {
    let name = name.to_str()?;
    let stem = name.strip_suffix(".json")?;
    let id: ProfileId = stem.parse().ok()?;
    // Only the canonical spelling, so one profile never appears under two names.
    (id.to_string() == stem).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_dir_override_wins() {
        let dir = resolve_default_dir(Some("/tmp/tern-config".into())).unwrap();
        assert_eq!(dir, Path::new("/tmp/tern-config/profiles"));
        // An empty override is ignored rather than meaning the current directory.
        let default = resolve_default_dir(Some("".into()));
        if let Ok(default) = default {
            assert!(default.ends_with("profiles") && default.is_absolute());
        }
    }

    #[test]
    fn only_canonical_uuid_file_names_are_profiles() {
        let id = ProfileId::new_random();
        assert_eq!(id_from_file_name(format!("{id}.json").as_ref()), Some(id));
        let upper = id.to_string().to_uppercase();
        assert_eq!(id_from_file_name(format!("{upper}.json").as_ref()), None);
        assert_eq!(
            id_from_file_name(format!(".{id}.json.tmp-1-2").as_ref()),
            None
        );
        assert_eq!(id_from_file_name("profile.json".as_ref()), None);
    }
}
