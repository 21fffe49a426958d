//! The client certificate of a profile: opened from the PKCS#12 bundle an imported file carried
//! (or one given with `--pkcs12`, or a PEM key and chain), kept in the profile store encrypted
//! under a passphrase in the keyring, and opened again when connecting.
//!
//! With a keyring, the stored bundle gets a fresh random passphrase that only the keyring knows.
//! Without one, it keeps the passphrase the user gave, which is then asked for (or read with
//! `--password-stdin`) when connecting.

use std::path::Path;

use profile::{ClientKey, CredentialError, ImportPreview, ProfileId, ProfileStore, SecretKind};
use zeroize::Zeroizing;

use crate::failure::{CmdResult, Failure};
use crate::keyring::Keyring;
use crate::prompt;

/// Where the client certificate of an import comes from besides the file itself.
#[derive(Debug, Default)]
pub struct KeySource<'a> {
    /// `--pkcs12 FILE`.
    pub pkcs12: Option<&'a Path>,
    /// `--key FILE` and `--cert FILE` (PEM or DER).
    pub pem: Option<(&'a Path, &'a Path)>,
    /// The passphrase read with `--passphrase-stdin`.
    pub passphrase: Option<Zeroizing<String>>,
}

impl KeySource<'_> {
    /// Whether the command line gave a certificate.
    #[must_use]
    pub const fn given(&self) -> bool {
        self.pkcs12.is_some() || self.pem.is_some()
    }
}

/// A client key opened for an import, and the passphrase the user gave for it (if any).
pub struct Opened {
    /// The key and chain.
    pub key: ClientKey,
    /// The passphrase that opened the bundle, or the one given for PEM input.
    pub user_passphrase: Option<Zeroizing<String>>,
}

fn read_file(path: &Path, limit: usize) -> CmdResult<Zeroizing<Vec<u8>>> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| Failure::error(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Zeroizing::new(Vec::new());
    // One byte over the limit lets the parser report the size.
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    Ok(bytes)
}

fn unusable(what: &str, error: &CredentialError) -> Failure {
    Failure::error(format!("{what}: {error}; nothing was changed"))
}

/// Opens the client certificate for an import: from `source` if it names one, else from the
/// bundle the file carried. `None` when there is none.
pub fn open_for_import(
    preview: &ImportPreview,
    source: KeySource<'_>,
    interactive: bool,
) -> CmdResult<Option<Opened>> {
    let uses_certificate = preview.profile.auth.uses_client_certificate();
    if source.given() && !uses_certificate {
        return Err(Failure::usage(
            "the profile does not authenticate with a client certificate; leave out --pkcs12, \
             --key and --cert",
        ));
    }
    if let Some((key_path, cert_path)) = source.pem {
        let key = ClientKey::from_pem(
            &read_file(key_path, profile::MAX_PEM_BYTES)?,
            &read_file(cert_path, profile::MAX_PEM_BYTES)?,
        )
        .map_err(|e| unusable(&format!("{}", key_path.display()), &e))?;
        return Ok(Some(Opened {
            key,
            user_passphrase: source.passphrase,
        }));
    }
    let from_option;
    let (bundle, what) = match (source.pkcs12, preview.secrets.pkcs12.as_deref()) {
        (Some(path), _) => {
            from_option = read_file(path, profile::MAX_PKCS12_BYTES)?;
            (from_option.as_slice(), path.display().to_string())
        }
        (None, Some(bundle)) => (bundle.as_slice(), "the file's PKCS#12 bundle".to_owned()),
        (None, None) => return Ok(None),
    };
    // Passphrases to try, in order: the one given, the one in the file, none at all.
    let mut candidates: Vec<Zeroizing<String>> = Vec::new();
    candidates.extend(source.passphrase);
    if source.pkcs12.is_none() {
        candidates.extend(preview.secrets.pkcs12_passphrase.clone());
    }
    if candidates.is_empty() {
        candidates.push(Zeroizing::new(String::new()));
    }
    for passphrase in candidates {
        match ClientKey::from_pkcs12(bundle, &passphrase) {
            Ok(key) => {
                return Ok(Some(Opened {
                    key,
                    user_passphrase: Some(passphrase),
                }));
            }
            Err(CredentialError::WrongPassphrase) => {}
            Err(e) => return Err(unusable(&what, &e)),
        }
    }
    if !interactive {
        return Err(Failure::error(format!(
            "{what}: {}; pass the passphrase with --passphrase-stdin, or run on a terminal to \
             be asked; nothing was changed",
            CredentialError::WrongPassphrase
        )));
    }
    for attempt in 1..=3 {
        let passphrase = prompt::ask_secret("PKCS#12 passphrase of the client certificate: ")?;
        match ClientKey::from_pkcs12(bundle, &passphrase) {
            Ok(key) => {
                return Ok(Some(Opened {
                    key,
                    user_passphrase: Some(passphrase),
                }));
            }
            Err(CredentialError::WrongPassphrase) if attempt < 3 => {
                eprintln!("tern: {}; try again", CredentialError::WrongPassphrase);
            }
            Err(e) => return Err(unusable(&what, &e)),
        }
    }
    Err(unusable(&what, &CredentialError::WrongPassphrase))
}

/// Stores a profile's client certificate: encrypted under a random passphrase kept in the
/// keyring, or, without a keyring, under the user's passphrase (asked for when connecting).
pub fn save(store: &ProfileStore, keyring: &Keyring, id: ProfileId, opened: &Opened) -> CmdResult {
    let random = profile::random_passphrase();
    let passphrase = match keyring.set(id, SecretKind::Pkcs12Passphrase, random.as_bytes()) {
        Ok(()) => random,
        Err(e) => {
            let Some(user) = opened.user_passphrase.clone() else {
                return Err(Failure::error(format!(
                    "{e}: the client certificate needs a passphrase to be stored without a \
                     keyring; give one with --passphrase-stdin"
                )));
            };
            if user.is_empty() {
                eprintln!(
                    "tern: warning: {e}, and the certificate has no passphrase: its key is \
                     stored unprotected (readable only by you) in {}",
                    store.dir().display()
                );
            } else {
                eprintln!(
                    "tern: {e}: the client certificate is stored under its own passphrase, \
                     which you will be asked for when connecting"
                );
            }
            // A stale random passphrase from an earlier import would no longer open it.
            let _ = keyring.delete(id, SecretKind::Pkcs12Passphrase);
            user
        }
    };
    store.save_client_key(id, &opened.key, &passphrase)?;
    Ok(())
}

/// Opens the stored client certificate of a profile with `passphrase`.
pub fn open_stored(
    store: &ProfileStore,
    id: ProfileId,
    label: &str,
    passphrase: &str,
) -> CmdResult<ClientKey> {
    match store.client_key(id, passphrase) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(not_stored(label)),
        Err(profile::StoreError::Credential(CredentialError::WrongPassphrase)) => {
            Err(Failure::error(format!(
                "the stored client certificate of {label} does not open with this passphrase; \
                 store the right one with `tern secret set NAME --kind pkcs12-passphrase`, or \
                 import the certificate again"
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// The profile needs a client certificate and none is stored: how to add one.
#[must_use]
pub fn not_stored(label: &str) -> Failure {
    Failure::error(format!(
        "{label} authenticates with a client certificate, and none is stored: import it with \
         `tern import FILE --pkcs12 CERT.p12` (or `--key KEY.pem --cert CHAIN.pem`), or \
         `tern secret set NAME --kind private-key --stdin < CERT.p12`"
    ))
}

/// Opens a PKCS#12 bundle given later (`tern secret set --kind private-key`): without a
/// passphrase first, then asking on the terminal.
pub fn open_bundle(bundle: &[u8]) -> CmdResult<Opened> {
    match ClientKey::from_pkcs12(bundle, "") {
        Ok(key) => {
            return Ok(Opened {
                key,
                user_passphrase: Some(Zeroizing::new(String::new())),
            });
        }
        Err(CredentialError::WrongPassphrase) => {}
        Err(e) => return Err(unusable("the PKCS#12 file", &e)),
    }
    let passphrase = prompt::ask_secret("PKCS#12 passphrase of the client certificate: ")?;
    let key = ClientKey::from_pkcs12(bundle, &passphrase)
        .map_err(|e| unusable("the PKCS#12 file", &e))?;
    Ok(Opened {
        key,
        user_passphrase: Some(passphrase),
    })
}
