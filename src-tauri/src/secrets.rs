//! Secrets in the OS keyring, named the way the CLI names them so both find the same entries:
//! service `tern`, account `<profile uuid>/<secret kind>` (the kind in its kebab-case spelling,
//! `pre-shared-key`, `eap-password`, `pkcs12-passphrase`, `private-key`).
//!
//! Secret values cross from the UI once (when the user types them), go straight into the keyring
//! and are zeroized; they are never logged and never sent back to the UI.
//!
//! A client certificate is the exception to "everything in the keyring": a PKCS#12 bundle is
//! 3–6 KB, more than some keyrings hold (Windows Credential Manager), so it is kept in the profile
//! store re-encrypted under a random passphrase, and only that passphrase is in the keyring (the
//! CLI does the same, so both open it). The bundle is opened here, in the unprivileged app; the
//! helper receives the key and chain at connect.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use profile::{
    ClientKey, CredentialError, ImportedSecrets, Profile, ProfileId, ProfileStore, SecretKind,
    StoreError,
};
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

/// The secrets a profile needs that Tern does not hold, as the user enters them: for a client
/// certificate, the certificate file and its passphrase when none is stored, or only the
/// passphrase when the stored one is not in the keyring (the CLI stores a certificate under the
/// user's own passphrase when it has no keyring).
pub fn missing(profile: &Profile, store: &ProfileStore) -> Result<Vec<SecretKind>, UiError> {
    let mut missing = Vec::new();
    if profile.auth.uses_client_certificate() {
        if !store.has_client_key(profile.id) {
            missing.extend([SecretKind::PrivateKey, SecretKind::Pkcs12Passphrase]);
        } else if load(profile.id, SecretKind::Pkcs12Passphrase)?.is_none() {
            missing.push(SecretKind::Pkcs12Passphrase);
        }
    }
    for kind in profile.required_secrets() {
        if kind != SecretKind::Pkcs12Passphrase && load(profile.id, kind)?.is_none() {
            missing.push(kind);
        }
    }
    Ok(missing)
}

/// What the user is asked for when a profile's secrets must be entered again: all of them, with
/// a new certificate file for certificate methods.
#[must_use]
pub fn to_enter(profile: &Profile) -> Vec<SecretKind> {
    let mut kinds = Vec::new();
    if profile.auth.uses_client_certificate() {
        kinds.extend([SecretKind::PrivateKey, SecretKind::Pkcs12Passphrase]);
    }
    kinds.extend(
        profile
            .required_secrets()
            .into_iter()
            .filter(|k| *k != SecretKind::Pkcs12Passphrase),
    );
    kinds
}

fn text(id: ProfileId, kind: SecretKind) -> Result<Option<Zeroizing<String>>, UiError> {
    match load(id, kind)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes.to_vec())
            .map(|s| Some(Zeroizing::new(s)))
            .map_err(|e| {
                let mut bytes = e.into_bytes();
                bytes.zeroize();
                UiError::with_code(
                    ErrorKind::Keyring,
                    "bad_encoding",
                    format!("the keyring entry {} is not UTF-8 text", account(id, kind)),
                )
            }),
    }
}

/// The error for a certificate passphrase that does not open the bundle: the UI asks for it
/// again.
fn wrong_passphrase(what: &str) -> UiError {
    UiError {
        code: Some("wrong_passphrase".into()),
        detail: format!("{what} does not open with this passphrase"),
        ..UiError::missing_secrets(vec![SecretKind::Pkcs12Passphrase])
    }
}

/// The secrets to send with a connect: from the keyring, and the client certificate opened from
/// the profile store. Fails with [`ErrorKind::MissingSecret`] naming what the user must enter.
pub fn for_connect(profile: &Profile, store: &ProfileStore) -> Result<ipc::Secrets, UiError> {
    let missing = missing(profile, store)?;
    if !missing.is_empty() {
        return Err(UiError::missing_secrets(missing));
    }
    let mut secrets = ipc::Secrets::default();
    secrets.psk = text(profile.id, SecretKind::PreSharedKey)?.map(|s| s.to_string());
    secrets.eap_password = text(profile.id, SecretKind::EapPassword)?.map(|s| s.to_string());
    if profile.auth.uses_client_certificate() {
        let passphrase = text(profile.id, SecretKind::Pkcs12Passphrase)?.unwrap_or_default();
        let key = open_stored(profile.id, store, &passphrase)?;
        secrets.client_certificate = Some(ipc::ClientCertificate::from_key(&key));
    }
    Ok(secrets)
}

/// Opens the profile's stored client certificate with `passphrase`: none stored asks for a
/// certificate file, a passphrase that does not fit asks for the passphrase again.
fn open_stored(
    id: ProfileId,
    store: &ProfileStore,
    passphrase: &str,
) -> Result<ClientKey, UiError> {
    match store.client_key(id, passphrase) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(UiError::missing_secrets(vec![
            SecretKind::PrivateKey,
            SecretKind::Pkcs12Passphrase,
        ])),
        Err(StoreError::Credential(CredentialError::WrongPassphrase)) => {
            Err(wrong_passphrase("the stored client certificate"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens a PKCS#12 bundle with the first passphrase of `candidates` that fits.
fn open_bundle(bundle: &[u8], candidates: &[&str], what: &str) -> Result<ClientKey, UiError> {
    for passphrase in candidates {
        match ClientKey::from_pkcs12(bundle, passphrase) {
            Ok(key) => return Ok(key),
            Err(CredentialError::WrongPassphrase) => {}
            Err(e) => return Err(StoreError::Credential(e).into()),
        }
    }
    Err(wrong_passphrase(what))
}

/// Whether a bundle opens with the passphrase the file carried (or none), so the user need
/// not type one.
#[must_use]
pub fn bundle_opens(secrets: &ImportedSecrets) -> bool {
    let Some(bundle) = secrets.pkcs12.as_deref() else {
        return false;
    };
    let carried = secrets.pkcs12_passphrase.as_deref().map(String::as_str);
    carried
        .into_iter()
        .chain([""])
        .any(|p| ClientKey::from_pkcs12(bundle, p).is_ok())
}

/// Stores a profile's client certificate in the profile store under a fresh random passphrase
/// that goes to the keyring. If the store cannot be written, the keyring gets its old value back
/// so a certificate stored before still opens.
pub fn save_client_key(
    id: ProfileId,
    store: &ProfileStore,
    key: &ClientKey,
) -> Result<(), UiError> {
    let previous = load(id, SecretKind::Pkcs12Passphrase)?;
    let passphrase = profile::random_passphrase();
    self::store(id, SecretKind::Pkcs12Passphrase, passphrase.as_bytes())?;
    if let Err(error) = store.save_client_key(id, key, &passphrase) {
        let restored = match &previous {
            Some(old) => self::store(id, SecretKind::Pkcs12Passphrase, old),
            None => entry(id, SecretKind::Pkcs12Passphrase)?
                .delete_credential()
                .map_err(UiError::from),
        };
        if let Err(e) = restored {
            tracing::warn!(error = %e, "the certificate passphrase in the keyring was not restored");
        }
        return Err(error.into());
    }
    Ok(())
}

/// Copies a profile's stored client certificate to another id (for "duplicate"); the keyring
/// entries are copied by [`copy_all`] first, so the copy opens with the same passphrase.
pub fn copy_client_key(
    from: ProfileId,
    to: ProfileId,
    store: &ProfileStore,
) -> Result<(), UiError> {
    if !store.has_client_key(from) {
        return Ok(());
    }
    let passphrase = text(from, SecretKind::Pkcs12Passphrase)?.unwrap_or_default();
    match store.client_key(from, &passphrase)? {
        Some(key) => Ok(store.save_client_key(to, &key, &passphrase)?),
        None => Ok(()),
    }
}

/// Stores what an imported file carried for a confirmed import: passwords and keys to the
/// keyring, the client certificate (opened with the entered passphrase, the file's, or none) to
/// the profile store. The certificate is opened first, so a wrong passphrase changes nothing.
pub fn store_imported(
    profile: &Profile,
    secrets: &ImportedSecrets,
    entered: &EnteredSecrets,
    store: &ProfileStore,
) -> Result<(), UiError> {
    let id = profile.id;
    let client_key = if !profile.auth.uses_client_certificate() {
        None
    } else if let Some(path) = entered.get(SecretKind::PrivateKey) {
        Some(entered.open_chosen_bundle(path)?)
    } else if let Some(bundle) = secrets.pkcs12.as_deref() {
        let typed = entered.get(SecretKind::Pkcs12Passphrase);
        let carried = secrets.pkcs12_passphrase.as_deref().map(String::as_str);
        let candidates: Vec<&str> = typed.into_iter().chain(carried).chain([""]).collect();
        Some(open_bundle(
            bundle,
            &candidates,
            "the file's client certificate",
        )?)
    } else {
        None
    };
    for kind in secrets.kinds() {
        // The bundle and its passphrase are not kept as they came (see the module doc).
        if matches!(kind, SecretKind::PrivateKey | SecretKind::Pkcs12Passphrase) {
            continue;
        }
        if let Some(value) = secrets.get(kind) {
            self::store(id, kind, value)?;
        }
    }
    entered.store_passwords(id)?;
    if let Some(key) = client_key {
        save_client_key(id, store, &key)?;
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
    fn get(&self, kind: SecretKind) -> Option<&str> {
        self.0.get(&kind).map(String::as_str)
    }

    /// Stores every entered secret for the profile: passwords and keys in the keyring; a chosen
    /// certificate file (or the passphrase of the stored certificate) opened and kept in the
    /// profile store under a passphrase in the keyring.
    pub fn store(&self, profile: &Profile, store: &ProfileStore) -> Result<(), UiError> {
        let id = profile.id;
        let uses_certificate = profile.auth.uses_client_certificate();
        // The certificate first: a wrong passphrase leaves everything as it was.
        if let Some(path) = self.get(SecretKind::PrivateKey) {
            if !uses_certificate {
                return Err(not_a_certificate_profile());
            }
            let key = self.open_chosen_bundle(path)?;
            save_client_key(id, store, &key)?;
        } else if let Some(passphrase) = self.get(SecretKind::Pkcs12Passphrase) {
            if !uses_certificate {
                return Err(not_a_certificate_profile());
            }
            // The passphrase of a certificate stored under the user's own passphrase: check it,
            // then move the certificate under a random one the keyring keeps.
            save_client_key(id, store, &open_stored(id, store, passphrase)?)?;
        }
        self.store_passwords(id)
    }

    /// Stores the entered pre-shared key and EAP password in the keyring.
    fn store_passwords(&self, id: ProfileId) -> Result<(), UiError> {
        for kind in [SecretKind::PreSharedKey, SecretKind::EapPassword] {
            if let Some(value) = self.get(kind) {
                store(id, kind, value.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Opens the PKCS#12 file the user chose, with the entered passphrase (or none).
    fn open_chosen_bundle(&self, path: &str) -> Result<ClientKey, UiError> {
        let bundle = read_pkcs12(path)?;
        let typed = self.get(SecretKind::Pkcs12Passphrase);
        let candidates: Vec<&str> = typed.into_iter().chain([""]).collect();
        open_bundle(
            &bundle,
            &candidates,
            &format!("the certificate file {path}"),
        )
    }
}

fn not_a_certificate_profile() -> UiError {
    UiError::with_code(
        ErrorKind::Invalid,
        "no_client_certificate",
        "this profile does not sign in with a client certificate",
    )
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

    /// One sample keyring for the whole test binary (tests run in parallel and the default
    /// store is global); every test uses its own random profile ids.
    fn sample_keyring() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            keyring_core::set_default_store(keyring_core::sample::Store::new().unwrap());
        });
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/profile/tests/fixtures/credential")
            .join(name)
    }

    fn certificate_profile() -> Profile {
        Profile::new(
            ProfileId::new_random(),
            "Certificate",
            profile::Gateway::new("vpn.example.com"),
            profile::AuthMethod::Certificate { rsa_pss: false },
        )
    }

    fn entered(json: &serde_json::Value) -> EnteredSecrets {
        serde_json::from_value(json.clone()).unwrap()
    }

    #[test]
    fn keyring_round_trip_with_the_sample_store() {
        sample_keyring();
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::open(dir.path()).unwrap();
        let mut profile = Profile::new(
            ProfileId::new_random(),
            "Office",
            profile::Gateway::new("vpn.example.com"),
            profile::AuthMethod::EapMschapv2 {
                username: Some("alice".into()),
            },
        );
        let missing_kinds = missing(&profile, &store).unwrap();
        assert_eq!(missing_kinds, vec![SecretKind::EapPassword]);
        let error = for_connect(&profile, &store).unwrap_err();
        assert_eq!(error.kind, ErrorKind::MissingSecret);
        let typed = entered(&serde_json::json!({"eap-password": "correct horse"}));
        typed.store(&profile, &store).unwrap();
        let secrets = for_connect(&profile, &store).unwrap();
        assert_eq!(secrets.eap_password.as_deref(), Some("correct horse"));
        assert!(secrets.client_certificate.is_none());
        let copy = ProfileId::new_random();
        copy_all(profile.id, copy).unwrap();
        delete_all(profile.id).unwrap();
        assert_eq!(
            missing(&profile, &store).unwrap(),
            vec![SecretKind::EapPassword]
        );
        profile.id = copy;
        assert!(missing(&profile, &store).unwrap().is_empty());
    }

    #[test]
    fn a_chosen_certificate_file_is_stored_and_sent_at_connect() {
        sample_keyring();
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::open(dir.path()).unwrap();
        let profile = certificate_profile();
        let both = vec![SecretKind::PrivateKey, SecretKind::Pkcs12Passphrase];
        assert_eq!(missing(&profile, &store).unwrap(), both);
        assert_eq!(to_enter(&profile), both);
        let error = for_connect(&profile, &store).unwrap_err();
        assert_eq!(
            (error.kind, error.secrets),
            (ErrorKind::MissingSecret, both)
        );

        let path = fixture("client-modern.p12");
        let wrong = entered(&serde_json::json!({
            "private-key": path.to_str().unwrap(),
            "pkcs12-passphrase": "not it",
        }));
        let error = wrong.store(&profile, &store).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("wrong_passphrase"));
        assert!(
            !store.has_client_key(profile.id),
            "nothing stored on a wrong passphrase"
        );
        assert!(
            load(profile.id, SecretKind::Pkcs12Passphrase)
                .unwrap()
                .is_none()
        );

        let right = entered(&serde_json::json!({
            "private-key": path.to_str().unwrap(),
            "pkcs12-passphrase": "tern-test",
        }));
        right.store(&profile, &store).unwrap();
        assert!(missing(&profile, &store).unwrap().is_empty());
        // Re-encrypted under a random passphrase only the keyring knows.
        let kept = load(profile.id, SecretKind::Pkcs12Passphrase)
            .unwrap()
            .unwrap();
        assert_ne!(kept.as_slice(), b"tern-test");
        let secrets = for_connect(&profile, &store).unwrap();
        let sent = secrets
            .client_certificate
            .as_ref()
            .expect("a client certificate");
        assert_eq!(sent.to_key().unwrap().subject(), "O=Tern Test, CN=alice");

        // The duplicate opens too.
        let copy = ProfileId::new_random();
        copy_all(profile.id, copy).unwrap();
        copy_client_key(profile.id, copy, &store).unwrap();
        let mut duplicate = profile.clone();
        duplicate.id = copy;
        assert!(
            for_connect(&duplicate, &store)
                .unwrap()
                .client_certificate
                .is_some()
        );
    }

    #[test]
    fn a_certificate_under_the_users_own_passphrase_moves_to_the_keyring() {
        sample_keyring();
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::open(dir.path()).unwrap();
        let profile = certificate_profile();
        // What the CLI leaves without a keyring: the bundle under the user's passphrase.
        let bundle = std::fs::read(fixture("client-modern.p12")).unwrap();
        let key = ClientKey::from_pkcs12(&bundle, "tern-test").unwrap();
        store.save_client_key(profile.id, &key, "my own").unwrap();
        assert_eq!(
            missing(&profile, &store).unwrap(),
            vec![SecretKind::Pkcs12Passphrase]
        );
        let wrong = entered(&serde_json::json!({"pkcs12-passphrase": "nope"}));
        assert_eq!(
            wrong.store(&profile, &store).unwrap_err().code.as_deref(),
            Some("wrong_passphrase")
        );
        entered(&serde_json::json!({"pkcs12-passphrase": "my own"}))
            .store(&profile, &store)
            .unwrap();
        assert!(
            for_connect(&profile, &store)
                .unwrap()
                .client_certificate
                .is_some()
        );
        // A keyring entry that no longer fits is reported as a wrong passphrase.
        super::store(profile.id, SecretKind::Pkcs12Passphrase, b"stale").unwrap();
        let error = for_connect(&profile, &store).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("wrong_passphrase"));
        assert_eq!(error.secrets, vec![SecretKind::Pkcs12Passphrase]);
    }

    #[test]
    fn an_imported_bundle_opens_with_the_files_or_the_typed_passphrase() {
        sample_keyring();
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::open(dir.path()).unwrap();
        let bundle = std::fs::read(fixture("client-legacy.p12")).unwrap();
        let mut carried = ImportedSecrets {
            pkcs12: Some(Zeroizing::new(bundle)),
            ..ImportedSecrets::default()
        };
        assert!(!bundle_opens(&carried));
        let profile = certificate_profile();
        let none = EnteredSecrets::default();
        let error = store_imported(&profile, &carried, &none, &store).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("wrong_passphrase"));
        assert!(!store.has_client_key(profile.id));
        let typed = entered(&serde_json::json!({"pkcs12-passphrase": "tern-test"}));
        store_imported(&profile, &carried, &typed, &store).unwrap();
        assert!(
            for_connect(&profile, &store)
                .unwrap()
                .client_certificate
                .is_some()
        );

        carried.pkcs12_passphrase = Some(Zeroizing::new("tern-test".into()));
        assert!(bundle_opens(&carried));
        let other = certificate_profile();
        store_imported(&other, &carried, &none, &store).unwrap();
        assert!(
            for_connect(&other, &store)
                .unwrap()
                .client_certificate
                .is_some()
        );
        // Neither the bundle nor the file's passphrase is kept as it came.
        assert!(load(other.id, SecretKind::PrivateKey).unwrap().is_none());
        let kept = load(other.id, SecretKind::Pkcs12Passphrase)
            .unwrap()
            .unwrap();
        assert_ne!(kept.as_slice(), b"tern-test");
    }
}
