//! Secrets in the OS keyring, named the way the CLI names them so both find the same entries:
//! service `tern`, account `<profile uuid>/<secret kind>` (the kind in its kebab-case spelling,
//! `pre-shared-key`, `eap-password`, `pkcs12-passphrase`, `private-key`).
//!
//! Secret values cross from the UI once (when the user types them), go straight into the keyring
//! and are zeroized; they are never logged and never sent back to the UI.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use profile::{ImportedSecrets, Profile, ProfileId, SecretKind};
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{ErrorKind, UiError, snake};

/// The keyring service every Tern client uses.
pub const SERVICE: &str = "tern";

/// The keyring account of one secret of one profile.
#[must_use]
pub fn account(id: ProfileId, kind: SecretKind) -> String {
    format!("{id}/{}", snake(&kind))
}

/// Makes the platform's keyring the default store; called once at start-up.
pub fn use_platform_store() -> Result<(), UiError> {
    keyring_core::set_default_store(platform_store()?);
    Ok(())
}

#[cfg(target_os = "linux")]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, UiError> {
    Ok(zbus_secret_service_keyring_store::Store::new()?)
}

#[cfg(target_os = "macos")]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, UiError> {
    Ok(apple_native_keyring_store::keychain::Store::new()?)
}

#[cfg(windows)]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, UiError> {
    Ok(windows_native_keyring_store::Store::new()?)
}

fn entry(id: ProfileId, kind: SecretKind) -> Result<keyring_core::Entry, UiError> {
    Ok(keyring_core::Entry::new(SERVICE, &account(id, kind))?)
}

/// Stores one secret, replacing any previous value.
pub fn store(id: ProfileId, kind: SecretKind, value: &[u8]) -> Result<(), UiError> {
    entry(id, kind)?.set_secret(value)?;
    Ok(())
}

/// Reads one secret; `None` when the keyring has no entry for it.
pub fn load(id: ProfileId, kind: SecretKind) -> Result<Option<Zeroizing<Vec<u8>>>, UiError> {
    match entry(id, kind)?.get_secret() {
        Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
        Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes every secret of a profile (a missing entry is not an error).
pub fn delete_all(id: ProfileId) -> Result<(), UiError> {
    for kind in ALL_KINDS {
        match entry(id, kind)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

const ALL_KINDS: [SecretKind; 4] = [
    SecretKind::PreSharedKey,
    SecretKind::EapPassword,
    SecretKind::Pkcs12Passphrase,
    SecretKind::PrivateKey,
];

/// Copies one profile's secrets to another id (for "duplicate").
pub fn copy_all(from: ProfileId, to: ProfileId) -> Result<(), UiError> {
    for kind in ALL_KINDS {
        if let Some(value) = load(from, kind)? {
            store(to, kind, &value)?;
        }
    }
    Ok(())
}

/// The secrets a profile needs that the keyring does not hold.
pub fn missing(profile: &Profile) -> Result<Vec<SecretKind>, UiError> {
    let mut missing = Vec::new();
    for kind in profile.required_secrets() {
        if load(profile.id, kind)?.is_none() {
            missing.push(kind);
        }
    }
    Ok(missing)
}

/// The secrets to send with a connect, read from the keyring; fails with
/// [`ErrorKind::MissingSecret`] naming what the user must enter first.
pub fn for_connect(profile: &Profile) -> Result<ipc::Secrets, UiError> {
    let missing = missing(profile)?;
    if !missing.is_empty() {
        return Err(UiError::missing_secrets(missing));
    }
    let text = |kind| -> Result<Option<String>, UiError> {
        match load(profile.id, kind)? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes.to_vec()).map(Some).map_err(|e| {
                let mut bytes = e.into_bytes();
                bytes.zeroize();
                UiError::with_code(
                    ErrorKind::Keyring,
                    "bad_encoding",
                    format!(
                        "the keyring entry {} is not UTF-8 text",
                        account(profile.id, kind)
                    ),
                )
            }),
        }
    };
    // The client certificate (`secrets.client_certificate`) is opened from the profile store
    // with the PKCS#12 passphrase: `ProfileStore::client_key` (not wired into the GUI yet).
    let mut secrets = ipc::Secrets::default();
    secrets.psk = text(SecretKind::PreSharedKey)?;
    secrets.eap_password = text(SecretKind::EapPassword)?;
    Ok(secrets)
}

/// Stores the secrets an imported file carried.
pub fn store_imported(id: ProfileId, secrets: &ImportedSecrets) -> Result<(), UiError> {
    for kind in secrets.kinds() {
        if let Some(value) = secrets.get(kind) {
            store(id, kind, value)?;
        }
    }
    Ok(())
}

/// Secrets typed by the user, by kind. For [`SecretKind::PrivateKey`] the value is the path of
/// the PKCS#12 file the user picked, which is read here. Values are zeroized on drop.
#[derive(Default, Deserialize)]
#[serde(transparent)]
pub struct EnteredSecrets(BTreeMap<SecretKind, String>);

impl Drop for EnteredSecrets {
    fn drop(&mut self) {
        for value in self.0.values_mut() {
            value.zeroize();
        }
    }
}

impl fmt::Debug for EnteredSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl EnteredSecrets {
    /// Stores every entered secret for the profile.
    pub fn store(&self, id: ProfileId) -> Result<(), UiError> {
        for (kind, value) in &self.0 {
            if *kind == SecretKind::PrivateKey {
                let bytes = read_pkcs12(value)?;
                store(id, *kind, &bytes)?;
            } else {
                store(id, *kind, value.as_bytes())?;
            }
        }
        Ok(())
    }
}

/// Largest PKCS#12 file accepted (real bundles are a few KiB).
const MAX_PKCS12_BYTES: u64 = 256 * 1024;

fn read_pkcs12(path: &str) -> Result<Zeroizing<Vec<u8>>, UiError> {
    let io = |e: std::io::Error| UiError::new(ErrorKind::Io, format!("reading {path}: {e}"));
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_PKCS12_BYTES {
        return Err(UiError::with_code(
            ErrorKind::Invalid,
            "too_large",
            format!("{path} is {size} bytes; a PKCS#12 bundle is at most {MAX_PKCS12_BYTES}"),
        ));
    }
    Ok(Zeroizing::new(std::fs::read(path).map_err(io)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_match_the_cli() {
        let id: ProfileId = "0b7a4f4e-52a1-4f1c-9d4a-1c2b3d4e5f60".parse().unwrap();
        assert_eq!(
            account(id, SecretKind::EapPassword),
            "0b7a4f4e-52a1-4f1c-9d4a-1c2b3d4e5f60/eap-password"
        );
        assert_eq!(
            account(id, SecretKind::PreSharedKey),
            "0b7a4f4e-52a1-4f1c-9d4a-1c2b3d4e5f60/pre-shared-key"
        );
    }

    #[test]
    fn entered_secrets_never_print_values() {
        let entered: EnteredSecrets =
            serde_json::from_str(r#"{"eap-password":"hunter2"}"#).unwrap();
        let shown = format!("{entered:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("EapPassword"));
    }

    #[test]
    fn keyring_round_trip_with_the_sample_store() {
        keyring_core::set_default_store(keyring_core::sample::Store::new().unwrap());
        let mut profile = Profile::new(
            ProfileId::new_random(),
            "Office",
            profile::Gateway::new("vpn.example.com"),
            profile::AuthMethod::EapMschapv2 {
                username: Some("alice".into()),
            },
        );
        let missing_kinds = missing(&profile).unwrap();
        assert_eq!(missing_kinds, vec![SecretKind::EapPassword]);
        let error = for_connect(&profile).unwrap_err();
        assert_eq!(error.kind, ErrorKind::MissingSecret);
        let entered: EnteredSecrets =
            serde_json::from_str(r#"{"eap-password":"correct horse"}"#).unwrap();
        entered.store(profile.id).unwrap();
        let secrets = for_connect(&profile).unwrap();
        assert_eq!(secrets.eap_password.as_deref(), Some("correct horse"));
        let copy = ProfileId::new_random();
        copy_all(profile.id, copy).unwrap();
        delete_all(profile.id).unwrap();
        assert_eq!(missing(&profile).unwrap(), vec![SecretKind::EapPassword]);
        profile.id = copy;
        assert!(missing(&profile).unwrap().is_empty());
    }
}
