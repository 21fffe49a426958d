//! The client's certificate and private key: read from a PKCS#12 bundle or from PEM files,
//! and kept encrypted at rest as a PKCS#12 bundle Tern writes itself.
//!
//! Where the pieces live (see also `docs/attack-surface.md`):
//! - The key and its certificate chain are kept in the profile store, next to the profile, as
//!   a PKCS#12 bundle that Tern re-encrypts on import (PBES2: PBKDF2-HMAC-SHA256 and
//!   AES-256-CBC, HMAC-SHA256 MAC), file mode 0600 ([`crate::ProfileStore::save_client_key`]).
//! - Its passphrase is the secret: [`crate::SecretKind::Pkcs12Passphrase`], in the OS keyring.
//!   With a keyring, the front end picks a random passphrase ([`random_passphrase`]); without
//!   one, it keeps the user's and asks for it when connecting.
//!
//! Why not the whole key in the keyring: Windows Credential Manager stores at most 2560 bytes
//! per entry, and a bundle with an RSA-3072/4096 key and its chain is 3–6 KB; some machines
//! have no keyring at all. The bundle on disk is only as readable as its passphrase, which
//! lives where the other secrets live.
//!
//! Parsing happens in the unprivileged front end: the helper only ever receives the key as
//! PKCS#8 and the chain as certificates, never a PKCS#12 structure.

use core::fmt;

use rustls_pki_types::pem::{PemObject as _, SectionKind};
use zeroize::Zeroizing;

use crate::model::Certificate;
use crate::validate::MAX_CERTIFICATE_BYTES;

/// Largest PKCS#12 bundle accepted (real ones are a few KiB).
pub const MAX_PKCS12_BYTES: usize = 256 * 1024;
/// Most certificates in a client's chain (own certificate first, then intermediates).
pub const MAX_CLIENT_CHAIN_LEN: usize = 8;
/// Largest private key accepted (an RSA-8192 PKCS#8 key is about 4.8 KB).
pub const MAX_PRIVATE_KEY_BYTES: usize = 16 * 1024;
/// Largest PEM file (key or chain) accepted.
pub const MAX_PEM_BYTES: usize = 256 * 1024;

/// Why a client certificate or key cannot be used. Messages never contain key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The input is larger than Tern accepts.
    #[error("the {what} is {size} bytes; at most {limit} are accepted")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The passphrase does not open the PKCS#12 bundle.
    #[error("the PKCS#12 passphrase is wrong (or the file is damaged)")]
    WrongPassphrase,
    /// The bundle uses an encryption or MAC algorithm Tern cannot read.
    #[error(
        "the PKCS#12 file uses an encryption Tern cannot read; export it again with \
         `openssl pkcs12 -export` (AES-256) or `-legacy` (3DES)"
    )]
    UnsupportedEncryption,
    /// The bytes are not a PKCS#12 bundle.
    #[error("the PKCS#12 file cannot be read: {0}")]
    Malformed(String),
    /// The bundle holds no private key together with its certificate.
    #[error("the PKCS#12 file holds no private key with its certificate")]
    NoPrivateKey,
    /// The private key cannot be used.
    #[error("the private key cannot be read: {0}")]
    BadPrivateKey(String),
    /// A certificate of the chain cannot be used.
    #[error("the client certificate cannot be read: {0}")]
    BadCertificate(String),
    /// More certificates than [`MAX_CLIENT_CHAIN_LEN`].
    #[error("the certificate chain has more than {limit} certificates")]
    TooManyCertificates {
        /// The limit.
        limit: usize,
    },
    /// Writing the encrypted bundle failed.
    #[error("the client certificate could not be encrypted for storage: {0}")]
    Encrypt(String),
}

/// A client's private key (PKCS#8) and certificate chain (DER, own certificate first).
/// Zeroized on drop; `Debug` shows the subject and chain length, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey {
    private_key: Zeroizing<Vec<u8>>,
    chain: Vec<Certificate>,
    subject: String,
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("subject", &self.subject)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

fn check_len(what: &'static str, bytes: &[u8], limit: usize) -> Result<(), CredentialError> {
    if bytes.len() > limit {
        return Err(CredentialError::TooLarge {
            what,
            size: bytes.len(),
            limit,
        });
    }
    Ok(())
}

fn pkcs12_error(error: p12_keystore::error::Error) -> CredentialError {
    use p12_keystore::error::Error as E;
    match error {
        // A wrong passphrase fails the MAC check; a bundle without a MAC fails to unpad.
        E::MacError(_) | E::UnpadError => CredentialError::WrongPassphrase,
        E::UnsupportedEncryptionScheme | E::UnsupportedMacAlgorithm => {
            CredentialError::UnsupportedEncryption
        }
        E::InvalidPrivateKey => CredentialError::BadPrivateKey("not a PKCS#8 key".into()),
        other => CredentialError::Malformed(other.to_string()),
    }
}

impl ClientKey {
    /// Builds a key from a PKCS#8 DER private key and a DER certificate chain (own certificate
    /// first). Checks sizes and that everything parses; whether the key belongs to the
    /// certificate is checked by the helper when connecting.
    ///
    /// # Errors
    /// [`CredentialError`] for oversized, unreadable or missing parts.
    pub fn from_der(private_key: &[u8], chain: Vec<Vec<u8>>) -> Result<Self, CredentialError> {
        check_len("private key", private_key, MAX_PRIVATE_KEY_BYTES)?;
        p12_keystore::PrivateKey::from_der(private_key)
            .map_err(|_| CredentialError::BadPrivateKey("not a PKCS#8 key".into()))?;
        if chain.is_empty() {
            return Err(CredentialError::BadCertificate(
                "no certificate was given".into(),
            ));
        }
        if chain.len() > MAX_CLIENT_CHAIN_LEN {
            return Err(CredentialError::TooManyCertificates {
                limit: MAX_CLIENT_CHAIN_LEN,
            });
        }
        let mut subject = String::new();
        for (i, der) in chain.iter().enumerate() {
            check_len("certificate", der, MAX_CERTIFICATE_BYTES)?;
            let cert = p12_keystore::Certificate::from_der(der)
                .map_err(|e| CredentialError::BadCertificate(e.to_string()))?;
            if i == 0 {
                cert.subject().clone_into(&mut subject);
            }
        }
        Ok(Self {
            private_key: Zeroizing::new(private_key.to_vec()),
            chain: chain.into_iter().map(Certificate).collect(),
            subject,
        })
    }

    /// Opens a PKCS#12 (`.p12`/`.pfx`) bundle: modern (PBES2: PBKDF2 + AES-CBC, the OpenSSL 3
    /// default) and legacy (SHA-1 PBE with 3DES or RC2-40, `openssl pkcs12 -legacy`).
    ///
    /// # Errors
    /// [`CredentialError::WrongPassphrase`], [`CredentialError::NoPrivateKey`], or another
    /// variant for unreadable or oversized bundles.
    pub fn from_pkcs12(bundle: &[u8], passphrase: &str) -> Result<Self, CredentialError> {
        check_len("PKCS#12 file", bundle, MAX_PKCS12_BYTES)?;
        let store = p12_keystore::KeyStore::from_pkcs12(
            bundle,
            passphrase,
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
        .map_err(pkcs12_error)?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or(CredentialError::NoPrivateKey)?;
        if chain.certs().is_empty() {
            return Err(CredentialError::NoPrivateKey);
        }
        Self::from_der(
            chain.key().as_der(),
            chain.certs().iter().map(|c| c.as_der().to_vec()).collect(),
        )
    }

    /// Reads a PKCS#8 private key (PEM `PRIVATE KEY`, or DER) and a certificate chain (PEM with
    /// one or more `CERTIFICATE` blocks, own certificate first, or one DER certificate).
    ///
    /// # Errors
    /// [`CredentialError::BadPrivateKey`] (also for encrypted or non-PKCS#8 keys, with how to
    /// convert them), [`CredentialError::BadCertificate`], or a size error.
    pub fn from_pem(private_key: &[u8], chain: &[u8]) -> Result<Self, CredentialError> {
        check_len("private key file", private_key, MAX_PEM_BYTES)?;
        check_len("certificate file", chain, MAX_PEM_BYTES)?;
        let key_text = private_key.trim_ascii_start();
        let key = if key_text.starts_with(b"-----") {
            let mut found = None;
            for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(key_text) {
                let (kind, der) = section.map_err(|e| {
                    CredentialError::BadPrivateKey(format!("the PEM cannot be read ({e})"))
                })?;
                let der = Zeroizing::new(der);
                match kind {
                    SectionKind::PrivateKey => {
                        found = Some(der);
                        break;
                    }
                    SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey => {
                        return Err(CredentialError::BadPrivateKey(
                            "the key is not PKCS#8; convert it with `openssl pkcs8 -topk8 \
                             -nocrypt -in KEY -out KEY.pk8.pem`"
                                .into(),
                        ));
                    }
                    _ => {}
                }
            }
            found.ok_or_else(|| {
                CredentialError::BadPrivateKey(
                    "no unencrypted `PRIVATE KEY` block (an encrypted key can be decrypted \
                     with `openssl pkcs8 -in KEY -out KEY.pk8.pem`)"
                        .into(),
                )
            })?
        } else {
            Zeroizing::new(private_key.to_vec())
        };
        let chain_text = chain.trim_ascii_start();
        let certs = if chain_text.starts_with(b"-----") {
            let mut certs = Vec::new();
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(chain_text) {
                let cert = cert.map_err(|e| {
                    CredentialError::BadCertificate(format!("the PEM cannot be read ({e})"))
                })?;
                if certs.len() == MAX_CLIENT_CHAIN_LEN {
                    return Err(CredentialError::TooManyCertificates {
                        limit: MAX_CLIENT_CHAIN_LEN,
                    });
                }
                certs.push(cert.to_vec());
            }
            certs
        } else {
            vec![chain.to_vec()]
        };
        Self::from_der(&key, certs)
    }

    /// The bundle Tern keeps at rest: this key and chain, encrypted under `passphrase` with
    /// PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and an HMAC-SHA256 MAC.
    ///
    /// # Errors
    /// [`CredentialError::Encrypt`] if the bundle cannot be written.
    pub fn to_pkcs12(&self, passphrase: &str) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
        let encrypt = |e: p12_keystore::error::Error| CredentialError::Encrypt(e.to_string());
        let key = p12_keystore::PrivateKey::from_der(&self.private_key).map_err(encrypt)?;
        let certs = self
            .chain
            .iter()
            .map(|c| p12_keystore::Certificate::from_der(&c.0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(encrypt)?;
        let mut store = p12_keystore::KeyStore::new();
        store.add_entry(
            "tern-client",
            p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
                b"tern-client".as_slice(),
                key,
                certs,
            )),
        );
        let bundle = store
            .writer(passphrase)
            .encryption_algorithm(p12_keystore::EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(p12_keystore::MacAlgorithm::HmacSha256)
            .write()
            .map_err(encrypt)?;
        Ok(Zeroizing::new(bundle))
    }

    /// The private key, PKCS#8 DER.
    #[must_use]
    pub fn private_key_der(&self) -> &[u8] {
        &self.private_key
    }

    /// The private key, PKCS#8 PEM (`PRIVATE KEY`).
    #[must_use]
    pub fn private_key_pem(&self) -> Zeroizing<String> {
        pem_encode("PRIVATE KEY", &[&self.private_key])
    }

    /// The certificate chain, DER, own certificate first.
    #[must_use]
    pub fn certificates(&self) -> &[Certificate] {
        &self.chain
    }

    /// The certificate chain as PEM `CERTIFICATE` blocks, own certificate first.
    #[must_use]
    pub fn certificates_pem(&self) -> String {
        let ders: Vec<&[u8]> = self.chain.iter().map(|c| c.0.as_slice()).collect();
        // Public data: no need to keep it zeroized.
        pem_encode("CERTIFICATE", &ders).to_string()
    }

    /// The subject of the client's own certificate, as text (`CN=alice, O=Example`).
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// PEM blocks (RFC 7468: base64 in 64-character lines).
fn pem_encode(label: &str, ders: &[&[u8]]) -> Zeroizing<String> {
    use base64::Engine as _;
    let mut out = Zeroizing::new(String::new());
    for der in ders {
        let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
        out.push_str("-----BEGIN ");
        out.push_str(label);
        out.push_str("-----\n");
        for line in encoded.as_bytes().chunks(64) {
            // Base64 output is ASCII.
            out.push_str(core::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END ");
        out.push_str(label);
        out.push_str("-----\n");
    }
    out
}

/// A fresh random passphrase (256 bits from the OS-seeded CSPRNG, as 43 base64url
/// characters) for the bundle Tern stores, when the keyring can hold it.
#[must_use]
pub fn random_passphrase() -> Zeroizing<String> {
    use base64::Engine as _;
    let bytes = Zeroizing::new(p12_keystore::rand::random::<[u8; 32]>());
    Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*bytes))
}
