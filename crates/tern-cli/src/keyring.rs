//! Profile secrets in the OS keyring: Secret Service on Linux and the BSDs, Keychain on macOS,
//! Credential Manager on Windows, all through `keyring-core`.
//!
//! One entry per (profile, secret kind): service `tern`, account `<uuid>/<kind>` (kind in its
//! kebab-case name, `eap-password`). Secrets are stored as bytes (a PKCS#12 bundle is binary),
//! come back in [`Zeroizing`] buffers, and never appear in messages: errors name the secret's
//! kind, never its value.

use std::sync::{Arc, OnceLock};

use keyring_core::{CredentialStore, Entry};
use profile::{ProfileId, SecretKind};
use zeroize::Zeroizing;

/// The keyring service name of every Tern entry.
pub const SERVICE: &str = "tern";

/// Environment variable: `off` keeps Tern away from the OS keyring entirely (secrets are then
/// asked for, or read with `--password-stdin`).
pub const KEYRING_ENV: &str = "TERN_KEYRING";

/// Every secret kind, for deleting all of a profile's entries.
pub const ALL_KINDS: [SecretKind; 4] = [
    SecretKind::PreSharedKey,
    SecretKind::EapPassword,
    SecretKind::Pkcs12Passphrase,
    SecretKind::PrivateKey,
];

/// The stable name of a secret kind, as in keyring accounts, `--kind` and JSON.
#[must_use]
pub const fn kind_name(kind: SecretKind) -> &'static str {
    match kind {
        SecretKind::PreSharedKey => "pre-shared-key",
        SecretKind::EapPassword => "eap-password",
        SecretKind::Pkcs12Passphrase => "pkcs12-passphrase",
        SecretKind::PrivateKey => "private-key",
    }
}

/// The keyring account of one secret of one profile.
#[must_use]
pub fn account(id: ProfileId, kind: SecretKind) -> String {
    format!("{id}/{}", kind_name(kind))
}

/// What can go wrong with the keyring.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// No keyring could be opened (no Secret Service on the session bus, no session bus,
    /// or switched off with `TERN_KEYRING=off`).
    #[error("no keyring is reachable ({0})")]
    Unavailable(String),
    /// The keyring refused or failed an operation.
    #[error("the keyring could not {action} the {kind}: {reason}")]
    Failed {
        /// `read`, `store` or `delete`.
        action: &'static str,
        /// The secret's kind.
        kind: SecretKind,
        /// The keyring's description (never contains secret bytes).
        reason: String,
    },
}

/// The OS keyring, or the reason there is none.
pub struct Keyring {
    /// Opened on first use: a command that needs no stored secret (`tern connect
    /// --password-stdin` of a PSK profile) never connects to the Secret Service.
    store: OnceLock<Result<Arc<CredentialStore>, String>>,
}

impl Keyring {
    /// The platform's keyring, unless `TERN_KEYRING=off`, connected to on first use. Opening
    /// never fails: when no keyring is reachable, every operation reports
    /// [`KeyringError::Unavailable`] with the reason.
    #[must_use]
    pub fn open_default() -> Self {
        if std::env::var_os(KEYRING_ENV).is_some_and(|v| v.eq_ignore_ascii_case("off")) {
            return Self::unavailable(format!("{KEYRING_ENV}=off"));
        }
        Self {
            store: OnceLock::new(),
        }
    }

    /// A keyring backed by `store` (tests use `keyring_core::mock`).
    #[cfg(test)]
    #[must_use]
    pub fn with_store(store: Arc<CredentialStore>) -> Self {
        Self {
            store: OnceLock::from(Ok(store)),
        }
    }

    /// No keyring, for this reason.
    #[must_use]
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self {
            store: OnceLock::from(Err(reason.into())),
        }
    }

    fn entry(&self, id: ProfileId, kind: SecretKind) -> Result<Entry, KeyringError> {
        let store = self
            .store
            .get_or_init(platform_store)
            .as_ref()
            .map_err(|reason| KeyringError::Unavailable(reason.clone()))?;
        Entry::new_in_store(store, SERVICE, &account(id, kind)).map_err(|e| KeyringError::Failed {
            action: "open",
            kind,
            reason: e.to_string(),
        })
    }

    /// One secret; `None` when the keyring has no entry for it.
    pub fn get(
        &self,
        id: ProfileId,
        kind: SecretKind,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, KeyringError> {
        match self.entry(id, kind)?.get_secret() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(failed("read", kind, &e)),
        }
    }

    /// Stores (or replaces) one secret.
    pub fn set(&self, id: ProfileId, kind: SecretKind, secret: &[u8]) -> Result<(), KeyringError> {
        self.entry(id, kind)?
            .set_secret(secret)
            .map_err(|e| failed("store", kind, &e))
    }

    /// Deletes one secret; `false` when there was none.
    pub fn delete(&self, id: ProfileId, kind: SecretKind) -> Result<bool, KeyringError> {
        match self.entry(id, kind)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(failed("delete", kind, &e)),
        }
    }

    /// Whether the keyring has an entry for this secret, without reading the secret (so no
    /// store asks the user to allow access to its value).
    pub fn contains(&self, id: ProfileId, kind: SecretKind) -> Result<bool, KeyringError> {
        match self.entry(id, kind)?.get_credential() {
            Ok(_) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(failed("read", kind, &e)),
        }
    }

    /// The kinds among `kinds` that have an entry.
    pub fn stored_kinds(
        &self,
        id: ProfileId,
        kinds: &[SecretKind],
    ) -> Result<Vec<SecretKind>, KeyringError> {
        let mut stored = Vec::new();
        for &kind in kinds {
            if self.contains(id, kind)? {
                stored.push(kind);
            }
        }
        Ok(stored)
    }
}

fn failed(action: &'static str, kind: SecretKind, error: &keyring_core::Error) -> KeyringError {
    let reason = match error {
        // These carry the undecodable secret bytes; say what happened without them.
        keyring_core::Error::BadEncoding(_) => "the stored value is not valid text".to_owned(),
        keyring_core::Error::BadDataFormat(..) => "the stored value is malformed".to_owned(),
        other => other.to_string(),
    };
    if matches!(
        error,
        keyring_core::Error::NoStorageAccess(_) | keyring_core::Error::NoDefaultStore
    ) {
        return KeyringError::Unavailable(reason);
    }
    KeyringError::Failed {
        action,
        kind,
        reason,
    }
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn platform_store() -> Result<Arc<CredentialStore>, String> {
    zbus_secret_service_keyring_store::Store::new()
        .map(|store| store as Arc<CredentialStore>)
        .map_err(|e| format!("Secret Service: {e}"))
}

#[cfg(target_os = "macos")]
fn platform_store() -> Result<Arc<CredentialStore>, String> {
    apple_native_keyring_store::keychain::Store::new()
        .map(|store| store as Arc<CredentialStore>)
        .map_err(|e| format!("Keychain: {e}"))
}

#[cfg(windows)]
fn platform_store() -> Result<Arc<CredentialStore>, String> {
    windows_native_keyring_store::Store::new()
        .map(|store| store as Arc<CredentialStore>)
        .map_err(|e| format!("Credential Manager: {e}"))
}

#[cfg(not(any(unix, windows)))]
fn platform_store() -> Result<Arc<CredentialStore>, String> {
    Err("this platform has no supported keyring".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mock() -> Keyring {
        Keyring::with_store(keyring_core::mock::Store::new().unwrap())
    }

    #[test]
    fn accounts_are_uuid_slash_kind() {
        let id: ProfileId = "d8a0f1f5-3b6f-4c53-9a3b-4a9e2f0c7b11".parse().unwrap();
        assert_eq!(
            account(id, SecretKind::EapPassword),
            "d8a0f1f5-3b6f-4c53-9a3b-4a9e2f0c7b11/eap-password"
        );
        // The names agree with the profile crate's serde names (used in JSON output).
        for kind in ALL_KINDS {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind_name(kind))
            );
        }
    }

    #[test]
    fn set_get_delete_round_trip() {
        let keyring = mock();
        let id = ProfileId::new_random();
        assert!(keyring.get(id, SecretKind::PreSharedKey).unwrap().is_none());
        keyring
            .set(id, SecretKind::PreSharedKey, b"\x00binary psk\xff")
            .unwrap();
        keyring
            .set(id, SecretKind::EapPassword, b"hunter2")
            .unwrap();
        assert_eq!(
            keyring
                .get(id, SecretKind::PreSharedKey)
                .unwrap()
                .unwrap()
                .as_slice(),
            b"\x00binary psk\xff"
        );
        assert_eq!(
            keyring.stored_kinds(id, &ALL_KINDS).unwrap(),
            vec![SecretKind::PreSharedKey, SecretKind::EapPassword]
        );
        // Another profile's entries are separate.
        let other = ProfileId::new_random();
        assert!(
            keyring
                .get(other, SecretKind::EapPassword)
                .unwrap()
                .is_none()
        );
        assert!(keyring.delete(id, SecretKind::EapPassword).unwrap());
        assert!(!keyring.delete(id, SecretKind::EapPassword).unwrap());
        assert!(keyring.get(id, SecretKind::EapPassword).unwrap().is_none());
    }

    #[test]
    fn unavailable_keyring_says_why() {
        let keyring = Keyring::unavailable("TERN_KEYRING=off");
        let err = keyring
            .get(ProfileId::new_random(), SecretKind::EapPassword)
            .unwrap_err();
        assert!(matches!(err, KeyringError::Unavailable(_)));
        assert_eq!(
            err.to_string(),
            "no keyring is reachable (TERN_KEYRING=off)"
        );
    }

    #[test]
    fn errors_never_carry_secret_bytes() {
        let err = failed(
            "read",
            SecretKind::EapPassword,
            &keyring_core::Error::BadEncoding(b"hunter2".to_vec()),
        );
        assert!(!err.to_string().contains("hunter2"));
        assert!(!format!("{err:?}").contains("104")); // 'h'
    }
}
