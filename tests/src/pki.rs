//! Throw-away certificates for the lab: a CA, and gateway (or client) certificates it issues,
//! laid out as strongSwan's swanctl directory expects (`x509ca/`, `x509/`, `private/`).
//!
//! ```
//! use tern_e2e::pki::{Ca, KeyKind};
//!
//! let ca = Ca::new("Tern Lab CA", KeyKind::EcdsaP256).unwrap();
//! let gw = ca.issue("gw.tern.test", &["gw.tern.test", "198.51.100.1"], KeyKind::EcdsaP256).unwrap();
//! let mut files = ca.swanctl_files("ca");     // x509ca/ca.pem
//! files.extend(gw.swanctl_files("gw"));       // x509/gw.pem, private/gw.pem
//! assert_eq!(files.len(), 3);
//! assert!(gw.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! ```

use std::fmt;
use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256,
};
use zeroize::Zeroizing;

use crate::Result;
use crate::cmd;

/// The kind of key a certificate gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on P-256 with SHA-256 (small: IKE_AUTH stays unfragmented at MTU 1500).
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// RSA-3072 with PKCS#1 v1.5 SHA-256 signatures (large: strongSwan fragments IKE_AUTH).
    /// The key is made with the `openssl` command, since `ring` cannot generate RSA keys.
    Rsa3072,
}

impl KeyKind {
    fn generate(self) -> Result<KeyPair> {
        Ok(match self {
            KeyKind::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            KeyKind::EcdsaP384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?,
            KeyKind::Rsa3072 => {
                let pem = Zeroizing::new(cmd::run(&mut cmd::command(
                    "openssl",
                    &[
                        "genpkey",
                        "-algorithm",
                        "RSA",
                        "-pkeyopt",
                        "rsa_keygen_bits:3072",
                    ],
                ))?);
                KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &PKCS_RSA_SHA256)?
            }
        })
    }
}

/// A certificate authority: self-signed certificate and key.
pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    /// The CA certificate, PEM.
    pub cert_pem: String,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// Makes a CA named `common_name` (organisation "Tern Lab").
    ///
    /// # Errors
    /// When key generation or signing fails.
    pub fn new(common_name: &str, kind: KeyKind) -> Result<Ca> {
        let key = kind.generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Tern Lab");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            params,
            key,
        })
    }

    /// Issues an end-entity certificate with subject CN `common_name` and the given subject
    /// alternative names (each an IP address or a DNS name), usable for IKE (digitalSignature,
    /// serverAuth and clientAuth).
    ///
    /// # Errors
    /// When a name is invalid, or key generation or signing fails.
    pub fn issue(
        &self,
        common_name: &str,
        alt_names: &[&str],
        kind: KeyKind,
    ) -> Result<IssuedCert> {
        let key = kind.generate()?;
        let names: Vec<String> = alt_names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Tern Lab");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: Zeroizing::new(key.serialize_pem()),
            key_pkcs8_der: Zeroizing::new(key.serialize_der()),
        })
    }

    /// Issues an intermediate CA named `common_name` under this one; its certificates chain
    /// up through [`Ca::cert_pem`] of both. Use it to make long chains (large CERT payloads).
    ///
    /// # Errors
    /// When key generation or signing fails.
    pub fn intermediate(&self, common_name: &str, kind: KeyKind) -> Result<Ca> {
        // A CA like any other, then signed by this one instead of by itself.
        let mut ca = Ca::new(common_name, kind)?;
        ca.params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_params(&self.params, &self.key);
        ca.cert_pem = ca.params.signed_by(&ca.key, &issuer)?.pem();
        Ok(ca)
    }

    /// The CA certificate as a swanctl file: `x509ca/<name>.pem`.
    #[must_use]
    pub fn swanctl_files(&self, name: &str) -> Vec<(PathBuf, Vec<u8>)> {
        vec![(
            PathBuf::from(format!("x509ca/{name}.pem")),
            self.cert_pem.clone().into_bytes(),
        )]
    }
}

/// A certificate issued by a [`Ca`], with its private key.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, PKCS#8 PEM (`PRIVATE KEY`).
    pub key_pem: Zeroizing<String>,
    /// The private key, PKCS#8 DER.
    pub key_pkcs8_der: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl IssuedCert {
    /// The certificate and key as swanctl files: `x509/<name>.pem` and `private/<name>.pem`
    /// (`private/` takes PKCS#8 keys of any type). Refer to the certificate in `swanctl.conf`
    /// as `certs = <name>.pem`.
    #[must_use]
    pub fn swanctl_files(&self, name: &str) -> Vec<(PathBuf, Vec<u8>)> {
        vec![
            (
                PathBuf::from(format!("x509/{name}.pem")),
                self.cert_pem.clone().into_bytes(),
            ),
            (
                PathBuf::from(format!("private/{name}.pem")),
                self.key_pem.as_bytes().to_vec(),
            ),
        ]
    }
}
