//! What secrets a profile needs, and the secrets an import found, kept apart from the profile so
//! the caller can move them straight into the keyring.

use core::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A kind of secret a profile needs. The keyring stores one entry per (profile id, kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretKind {
    /// The IKE pre-shared key.
    PreSharedKey,
    /// The EAP password for the profile's EAP username.
    EapPassword,
    /// The passphrase protecting the client's PKCS#12 bundle (may be empty). For a stored
    /// profile, the passphrase of the bundle Tern keeps in the profile store.
    Pkcs12Passphrase,
    /// The client's private key and certificate chain, as the PKCS#12 bundle an imported file
    /// carried. Never kept in the keyring: the front end opens it with its passphrase and
    /// stores it with [`crate::ProfileStore::save_client_key`].
    PrivateKey,
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PreSharedKey => "pre-shared key",
            Self::EapPassword => "EAP password",
            Self::Pkcs12Passphrase => "PKCS#12 passphrase",
            Self::PrivateKey => "private key (PKCS#12 bundle)",
        })
    }
}

/// Secrets found in an imported file. Zeroized on drop; `Debug` shows which are present, never
/// their bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ImportedSecrets {
    /// The pre-shared key, as the file wrote it.
    pub pre_shared_key: Option<Zeroizing<Vec<u8>>>,
    /// The EAP password.
    pub eap_password: Option<Zeroizing<String>>,
    /// The PKCS#12 bundle holding the client's key and certificate (kept as bytes: parsing it
    /// is not this crate's job).
    pub pkcs12: Option<Zeroizing<Vec<u8>>>,
    /// The PKCS#12 bundle's passphrase.
    pub pkcs12_passphrase: Option<Zeroizing<String>>,
}

impl ImportedSecrets {
    /// The kinds present.
    #[must_use]
    pub fn kinds(&self) -> Vec<SecretKind> {
        let mut kinds = Vec::new();
        if self.pre_shared_key.is_some() {
            kinds.push(SecretKind::PreSharedKey);
        }
        if self.eap_password.is_some() {
            kinds.push(SecretKind::EapPassword);
        }
        if self.pkcs12_passphrase.is_some() {
            kinds.push(SecretKind::Pkcs12Passphrase);
        }
        if self.pkcs12.is_some() {
            kinds.push(SecretKind::PrivateKey);
        }
        kinds
    }

    /// Whether the file carried no secret at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.kinds().is_empty()
    }

    /// The bytes of one secret, for handing to the keyring.
    #[must_use]
    pub fn get(&self, kind: SecretKind) -> Option<&[u8]> {
        match kind {
            SecretKind::PreSharedKey => self.pre_shared_key.as_deref().map(Vec::as_slice),
            SecretKind::EapPassword => self.eap_password.as_deref().map(String::as_bytes),
            SecretKind::Pkcs12Passphrase => self.pkcs12_passphrase.as_deref().map(String::as_bytes),
            SecretKind::PrivateKey => self.pkcs12.as_deref().map(Vec::as_slice),
        }
    }
}

impl fmt::Debug for ImportedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportedSecrets")
            .field("present", &self.kinds())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secret_bytes() {
        let secrets = ImportedSecrets {
            pre_shared_key: Some(Zeroizing::new(b"hunter2-psk".to_vec())),
            eap_password: Some(Zeroizing::new("correct horse".into())),
            pkcs12: None,
            pkcs12_passphrase: None,
        };
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("horse"));
        assert!(!shown.contains("104")); // 'h' as a byte value
        assert!(shown.contains("PreSharedKey"));
        assert_eq!(
            secrets.get(SecretKind::EapPassword),
            Some(&b"correct horse"[..])
        );
    }
}
