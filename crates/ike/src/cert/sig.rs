//! Signature AUTH payloads: verification with a peer's certificate key and the RFC 7427
//! AlgorithmIdentifier, plus the SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 §4).

use ring::signature::{self, UnparsedPublicKey};

use super::CertError;
use super::der::{Reader, tag, write_tlv};

/// IKE AUTH method numbers (RFC 7296 §3.8, RFC 4754, RFC 7427) that carry signatures.
pub mod auth_method {
    /// RSA Digital Signature: PKCS#1 v1.5, hash implied to be SHA-1 (RFC 7296 §3.8).
    pub const RSA_SIGNATURE: u8 = 1;
    /// ECDSA with SHA-256 on P-256 (RFC 4754), raw r|s.
    pub const ECDSA_SHA256_P256: u8 = 9;
    /// ECDSA with SHA-384 on P-384 (RFC 4754), raw r|s.
    pub const ECDSA_SHA384_P384: u8 = 10;
    /// ECDSA with SHA-512 on P-521 (RFC 4754), raw r|s. Not supported (no P-521 in *ring*).
    pub const ECDSA_SHA512_P521: u8 = 11;
    /// Digital Signature (RFC 7427): AlgorithmIdentifier-prefixed, DER ECDSA signatures.
    pub const DIGITAL_SIGNATURE: u8 = 14;
}

/// The notify message type SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4).
pub const NOTIFY_SIGNATURE_HASH_ALGORITHMS: u16 = 16431;

/// Hash algorithms of the SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 §7, IANA "IKEv2 Hash
/// Algorithms"). Unknown values are kept as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashAlgorithm(pub u16);

impl HashAlgorithm {
    /// SHA-1 (never announced by us; RFC 8247 forbids it for RFC 7427 signatures).
    pub const SHA1: Self = Self(1);
    /// SHA2-256.
    pub const SHA2_256: Self = Self(2);
    /// SHA2-384.
    pub const SHA2_384: Self = Self(3);
    /// SHA2-512.
    pub const SHA2_512: Self = Self(4);
    /// "Identity": the signature algorithm hashes internally (Ed25519, RFC 8420).
    pub const IDENTITY: Self = Self(5);
}

/// The hash algorithms we verify in RFC 7427 signatures, in the order we announce them.
pub const SUPPORTED_HASHES: [HashAlgorithm; 4] = [
    HashAlgorithm::SHA2_256,
    HashAlgorithm::SHA2_384,
    HashAlgorithm::SHA2_512,
    HashAlgorithm::IDENTITY,
];

/// The notification data of our SIGNATURE_HASH_ALGORITHMS notify: [`SUPPORTED_HASHES`] as
/// 16-bit numbers.
#[must_use]
pub fn signature_hash_algorithms_notify_data() -> Vec<u8> {
    SUPPORTED_HASHES
        .iter()
        .flat_map(|h| h.0.to_be_bytes())
        .collect()
}

/// Parses a peer's SIGNATURE_HASH_ALGORITHMS notify data (a list of 16-bit numbers).
///
/// # Errors
/// [`CertError::MalformedAuth`] for an odd length.
pub fn parse_signature_hash_algorithms(data: &[u8]) -> Result<Vec<HashAlgorithm>, CertError> {
    if !data.len().is_multiple_of(2) {
        return Err(CertError::MalformedAuth(
            "SIGNATURE_HASH_ALGORITHMS has an odd length",
        ));
    }
    // At most 32 Ki entries for a 64 KiB notify: bounded by the input.
    Ok(data
        .chunks_exact(2)
        .map(|c| HashAlgorithm(u16::from_be_bytes([c[0], c[1]])))
        .collect())
}

/// OID contents used in signatures and keys.
pub(crate) mod oid {
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    pub const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
    pub const MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
    pub const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    pub const SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    pub const SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    pub const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    pub const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    pub const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    pub const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    pub const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
    pub const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
}

/// The kind of a certificate's public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA (rsaEncryption or id-RSASSA-PSS SPKI).
    Rsa,
    /// ECDSA on P-256.
    EcP256,
    /// ECDSA on P-384.
    EcP384,
    /// ECDSA on P-521 (recognised, but signatures cannot be verified).
    EcP521,
    /// Ed25519.
    Ed25519,
}

impl KeyKind {
    /// A short name for messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::EcP256 => "ECDSA P-256",
            Self::EcP384 => "ECDSA P-384",
            Self::EcP521 => "ECDSA P-521",
            Self::Ed25519 => "Ed25519",
        }
    }
}

/// A peer's public key from its end-entity certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerPublicKey {
    kind: KeyKind,
    /// The subjectPublicKey BIT STRING contents: RSAPublicKey DER, an uncompressed EC point, or
    /// the 32 Ed25519 bytes — the forms *ring* takes.
    key: Vec<u8>,
}

impl std::fmt::Debug for PeerPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerPublicKey")
            .field("kind", &self.kind)
            .field("len", &self.key.len())
            .finish()
    }
}

impl PeerPublicKey {
    /// Reads a DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// [`CertError::UnsupportedKey`] for key types other than RSA, ECDSA P-256/384/521 and
    /// Ed25519; [`CertError::BadCertificate`] for malformed DER.
    pub fn from_spki(spki: &[u8]) -> Result<Self, CertError> {
        let bad = || CertError::BadCertificate("its public key cannot be read".into());
        let mut outer = Reader::new(spki);
        let mut seq = Reader::new(outer.read(tag::SEQUENCE).ok_or_else(bad)?);
        let mut alg = Reader::new(seq.read(tag::SEQUENCE).ok_or_else(bad)?);
        let bits = seq.read(0x03).ok_or_else(bad)?;
        let key = match bits {
            [0, key @ ..] if !key.is_empty() => key.to_vec(),
            _ => return Err(bad()),
        };
        let alg_oid = alg.read(tag::OID).ok_or_else(bad)?;
        let kind = match alg_oid {
            oid::RSA_ENCRYPTION | oid::RSASSA_PSS => KeyKind::Rsa,
            oid::ED25519 => KeyKind::Ed25519,
            oid::EC_PUBLIC_KEY => match alg.read(tag::OID).ok_or_else(bad)? {
                oid::P256 => KeyKind::EcP256,
                oid::P384 => KeyKind::EcP384,
                oid::P521 => KeyKind::EcP521,
                _ => {
                    return Err(CertError::UnsupportedKey(
                        "an elliptic curve other than P-256, P-384 or P-521",
                    ));
                }
            },
            _ => {
                return Err(CertError::UnsupportedKey(
                    "a key type other than RSA, ECDSA or Ed25519",
                ));
            }
        };
        Ok(Self { kind, key })
    }

    /// The key type.
    #[must_use]
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The raw key bytes in the form *ring* uses (see the field doc).
    #[must_use]
    pub fn key_bytes(&self) -> &[u8] {
        &self.key
    }

    /// Verifies an AUTH payload of a signature `method` with `auth_data` over `signed_octets`
    /// (RFC 7296 §2.15). Returns the scheme that verified.
    ///
    /// Accepted: method 1 (RSA PKCS#1 v1.5 with SHA-1, which RFC 7296 implies for that method
    /// and which is accepted *only* there), methods 9 and 10 (ECDSA P-256/SHA-256 and
    /// P-384/SHA-384 with raw r|s, RFC 4754), and method 14 (RFC 7427) with RSA-PSS, RSA
    /// PKCS#1 v1.5 or ECDSA with SHA-256/384/512 and Ed25519. RSA keys must be 2048–8192 bits.
    ///
    /// # Errors
    /// [`CertError::BadAuthSignature`] if the signature does not verify,
    /// [`CertError::AuthKeyMismatch`] if the method does not fit the key,
    /// [`CertError::UnsupportedSignature`] / [`CertError::MalformedAuth`] otherwise.
    pub fn verify_auth(
        &self,
        method: u8,
        auth_data: &[u8],
        signed_octets: &[u8],
    ) -> Result<SignatureScheme, CertError> {
        let (scheme, signature) = match method {
            auth_method::RSA_SIGNATURE => (SignatureScheme::RsaPkcs1Sha1, auth_data),
            auth_method::ECDSA_SHA256_P256 => (SignatureScheme::EcdsaP256Sha256Fixed, auth_data),
            auth_method::ECDSA_SHA384_P384 => (SignatureScheme::EcdsaP384Sha384Fixed, auth_data),
            auth_method::ECDSA_SHA512_P521 => {
                return Err(CertError::UnsupportedSignature(
                    "ECDSA with P-521 (AUTH method 11)",
                ));
            }
            auth_method::DIGITAL_SIGNATURE => {
                let (&alg_len, rest) = auth_data
                    .split_first()
                    .ok_or(CertError::MalformedAuth("empty AUTH data"))?;
                let (alg_id, signature) =
                    rest.split_at_checked(usize::from(alg_len))
                        .ok_or(CertError::MalformedAuth(
                            "AlgorithmIdentifier length exceeds the AUTH data",
                        ))?;
                (
                    SignatureScheme::from_algorithm_identifier(alg_id, self.kind)?,
                    signature,
                )
            }
            _ => return Err(CertError::UnsupportedSignature("an unknown AUTH method")),
        };
        if !scheme.fits(self.kind) {
            return Err(CertError::AuthKeyMismatch {
                scheme: scheme.name(),
                key: self.kind.name(),
            });
        }
        UnparsedPublicKey::new(scheme.ring_verification(), &self.key)
            .verify(signed_octets, signature)
            .map_err(|_| CertError::BadAuthSignature)?;
        Ok(scheme)
    }
}

/// A concrete signature scheme used in an AUTH payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// RSA PKCS#1 v1.5 with SHA-1: only in AUTH method 1.
    RsaPkcs1Sha1,
    /// RSA PKCS#1 v1.5 with SHA-256 (method 14).
    RsaPkcs1Sha256,
    /// RSA PKCS#1 v1.5 with SHA-384 (method 14).
    RsaPkcs1Sha384,
    /// RSA PKCS#1 v1.5 with SHA-512 (method 14).
    RsaPkcs1Sha512,
    /// RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt (method 14).
    RsaPssSha256,
    /// RSASSA-PSS, SHA-384, MGF1-SHA-384, 48-byte salt (method 14).
    RsaPssSha384,
    /// RSASSA-PSS, SHA-512, MGF1-SHA-512, 64-byte salt (method 14).
    RsaPssSha512,
    /// ECDSA P-256/SHA-256, raw r|s (method 9).
    EcdsaP256Sha256Fixed,
    /// ECDSA P-384/SHA-384, raw r|s (method 10).
    EcdsaP384Sha384Fixed,
    /// ECDSA P-256/SHA-256, DER (method 14).
    EcdsaP256Sha256,
    /// ECDSA P-256/SHA-384, DER (method 14).
    EcdsaP256Sha384,
    /// ECDSA P-384/SHA-256, DER (method 14).
    EcdsaP384Sha256,
    /// ECDSA P-384/SHA-384, DER (method 14).
    EcdsaP384Sha384,
    /// Ed25519 (method 14, RFC 8420).
    Ed25519,
}

impl SignatureScheme {
    /// A short name for messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::RsaPkcs1Sha1 => "RSA PKCS#1 SHA-1",
            Self::RsaPkcs1Sha256 => "RSA PKCS#1 SHA-256",
            Self::RsaPkcs1Sha384 => "RSA PKCS#1 SHA-384",
            Self::RsaPkcs1Sha512 => "RSA PKCS#1 SHA-512",
            Self::RsaPssSha256 => "RSA-PSS SHA-256",
            Self::RsaPssSha384 => "RSA-PSS SHA-384",
            Self::RsaPssSha512 => "RSA-PSS SHA-512",
            Self::EcdsaP256Sha256Fixed | Self::EcdsaP256Sha256 => "ECDSA P-256 SHA-256",
            Self::EcdsaP384Sha384Fixed | Self::EcdsaP384Sha384 => "ECDSA P-384 SHA-384",
            Self::EcdsaP256Sha384 => "ECDSA P-256 SHA-384",
            Self::EcdsaP384Sha256 => "ECDSA P-384 SHA-256",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// The AUTH method this scheme is sent with.
    #[must_use]
    pub const fn auth_method(self) -> u8 {
        match self {
            Self::RsaPkcs1Sha1 => auth_method::RSA_SIGNATURE,
            Self::EcdsaP256Sha256Fixed => auth_method::ECDSA_SHA256_P256,
            Self::EcdsaP384Sha384Fixed => auth_method::ECDSA_SHA384_P384,
            _ => auth_method::DIGITAL_SIGNATURE,
        }
    }

    const fn fits(self, key: KeyKind) -> bool {
        match self {
            Self::RsaPkcs1Sha1
            | Self::RsaPkcs1Sha256
            | Self::RsaPkcs1Sha384
            | Self::RsaPkcs1Sha512
            | Self::RsaPssSha256
            | Self::RsaPssSha384
            | Self::RsaPssSha512 => matches!(key, KeyKind::Rsa),
            Self::EcdsaP256Sha256Fixed | Self::EcdsaP256Sha256 | Self::EcdsaP256Sha384 => {
                matches!(key, KeyKind::EcP256)
            }
            Self::EcdsaP384Sha384Fixed | Self::EcdsaP384Sha256 | Self::EcdsaP384Sha384 => {
                matches!(key, KeyKind::EcP384)
            }
            Self::Ed25519 => matches!(key, KeyKind::Ed25519),
        }
    }

    fn ring_verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            Self::RsaPkcs1Sha1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            Self::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RsaPkcs1Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RsaPkcs1Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::RsaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
            Self::RsaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
            Self::EcdsaP256Sha256Fixed => &signature::ECDSA_P256_SHA256_FIXED,
            Self::EcdsaP384Sha384Fixed => &signature::ECDSA_P384_SHA384_FIXED,
            Self::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
            Self::EcdsaP256Sha384 => &signature::ECDSA_P256_SHA384_ASN1,
            Self::EcdsaP384Sha256 => &signature::ECDSA_P384_SHA256_ASN1,
            Self::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
            Self::Ed25519 => &signature::ED25519,
        }
    }

    /// Reads an RFC 7427 AlgorithmIdentifier (DER) for a key of kind `key` (ECDSA
    /// identifiers name only the hash; the curve comes from the key).
    ///
    /// # Errors
    /// [`CertError::MalformedAuth`] for bad DER, [`CertError::UnsupportedSignature`] for
    /// algorithms or parameters we do not accept (SHA-1 in method 14, PSS salt lengths other
    /// than the hash length, ECDSA with SHA-512).
    pub fn from_algorithm_identifier(alg_id: &[u8], key: KeyKind) -> Result<Self, CertError> {
        let bad = || CertError::MalformedAuth("the AlgorithmIdentifier is not valid DER");
        let mut outer = Reader::new(alg_id);
        let mut seq = Reader::new(outer.read(tag::SEQUENCE).ok_or_else(bad)?);
        if !outer.is_empty() {
            return Err(bad());
        }
        let alg = seq.read(tag::OID).ok_or_else(bad)?;
        let params = seq.read_any();
        if !seq.is_empty() {
            return Err(bad());
        }
        // Absent or NULL parameters, the two forms seen in the wild for these algorithms.
        let no_params = matches!(params, None | Some((tag::NULL, [])));
        let unsupported = CertError::UnsupportedSignature;
        let scheme = match alg {
            oid::SHA256_WITH_RSA if no_params => Self::RsaPkcs1Sha256,
            oid::SHA384_WITH_RSA if no_params => Self::RsaPkcs1Sha384,
            oid::SHA512_WITH_RSA if no_params => Self::RsaPkcs1Sha512,
            oid::ED25519 if params.is_none() => Self::Ed25519,
            oid::ECDSA_SHA256 | oid::ECDSA_SHA384 if no_params => match (alg, key) {
                (oid::ECDSA_SHA256, KeyKind::EcP256) => Self::EcdsaP256Sha256,
                (oid::ECDSA_SHA256, KeyKind::EcP384) => Self::EcdsaP384Sha256,
                (oid::ECDSA_SHA384, KeyKind::EcP256) => Self::EcdsaP256Sha384,
                (oid::ECDSA_SHA384, KeyKind::EcP384) => Self::EcdsaP384Sha384,
                (_, KeyKind::EcP521) => return Err(unsupported("ECDSA with P-521")),
                _ => {
                    return Err(CertError::AuthKeyMismatch {
                        scheme: "ECDSA",
                        key: key.name(),
                    });
                }
            },
            oid::ECDSA_SHA512 => return Err(unsupported("ECDSA with SHA-512")),
            oid::RSASSA_PSS => match params {
                Some((tag::SEQUENCE, p)) => Self::from_pss_params(p)?,
                _ => return Err(unsupported("RSA-PSS with SHA-1 (default parameters)")),
            },
            _ => {
                return Err(unsupported(
                    "an unknown signature algorithm in AUTH method 14",
                ));
            }
        };
        Ok(scheme)
    }

    /// RSASSA-PSS-params (RFC 4055 §3.1): hash, MGF1 with the same hash, salt = hash length,
    /// trailer 1. The hash algorithms' own parameters may be NULL or absent.
    fn from_pss_params(params: &[u8]) -> Result<Self, CertError> {
        let bad = || CertError::MalformedAuth("the RSA-PSS parameters are not valid DER");
        let unsupported = CertError::UnsupportedSignature(
            "RSA-PSS parameters other than hash = MGF1 hash with salt = hash length",
        );
        fn hash_oid(der: &[u8]) -> Option<&[u8]> {
            let mut r = Reader::new(der);
            let mut seq = Reader::new(r.read(tag::SEQUENCE)?);
            let oid = seq.read(tag::OID)?;
            match seq.read_any() {
                None | Some((tag::NULL, [])) if seq.is_empty() && r.is_empty() => Some(oid),
                _ => None,
            }
        }
        let mut r = Reader::new(params);
        let (mut hash, mut mgf_hash, mut salt, mut trailer) = (None, None, None, 1);
        if r.peek_tag() == Some(tag::CONTEXT_0) {
            hash = Some(hash_oid(r.read(tag::CONTEXT_0).ok_or_else(bad)?).ok_or_else(bad)?);
        }
        if r.peek_tag() == Some(tag::CONTEXT_1) {
            let mut mgf = Reader::new(r.read(tag::CONTEXT_1).ok_or_else(bad)?);
            let mut seq = Reader::new(mgf.read(tag::SEQUENCE).ok_or_else(bad)?);
            if seq.read(tag::OID).ok_or_else(bad)? != oid::MGF1 {
                return Err(unsupported);
            }
            let rest = seq.read_any().ok_or_else(bad)?;
            if !seq.is_empty() || !mgf.is_empty() || rest.0 != tag::SEQUENCE {
                return Err(bad());
            }
            // Re-wrap the inner AlgorithmIdentifier to reuse `hash_oid`.
            let mut wrapped = Vec::with_capacity(rest.1.len() + 4);
            write_tlv(&mut wrapped, tag::SEQUENCE, rest.1);
            mgf_hash = Some(hash_oid(&wrapped).ok_or_else(bad)?.to_vec());
        }
        if r.peek_tag() == Some(tag::CONTEXT_2) {
            let mut s = Reader::new(r.read(tag::CONTEXT_2).ok_or_else(bad)?);
            salt = Some(s.read_small_uint().ok_or_else(bad)?);
            if !s.is_empty() {
                return Err(bad());
            }
        }
        if r.peek_tag() == Some(tag::CONTEXT_3) {
            let mut t = Reader::new(r.read(tag::CONTEXT_3).ok_or_else(bad)?);
            trailer = t.read_small_uint().ok_or_else(bad)?;
        }
        if !r.is_empty() {
            return Err(bad());
        }
        // Defaults are SHA-1 / MGF1-SHA-1 / 20, none of which we accept.
        let (Some(hash), Some(mgf_hash), Some(salt)) = (hash, mgf_hash, salt) else {
            return Err(unsupported);
        };
        if hash != mgf_hash.as_slice() || trailer != 1 {
            return Err(unsupported);
        }
        match (hash, salt) {
            (oid::SHA256, 32) => Ok(Self::RsaPssSha256),
            (oid::SHA384, 48) => Ok(Self::RsaPssSha384),
            (oid::SHA512, 64) => Ok(Self::RsaPssSha512),
            _ => Err(unsupported),
        }
    }

    /// The RFC 7427 AlgorithmIdentifier (DER) we send for this scheme, or `None` for schemes
    /// sent with AUTH methods 1, 9 or 10. Hash parameters are encoded as NULL, as in the
    /// examples of RFC 7427 Appendix A.
    #[must_use]
    pub fn algorithm_identifier(self) -> Option<Vec<u8>> {
        let simple = |oid: &[u8], null: bool| {
            let mut inner = Vec::new();
            write_tlv(&mut inner, tag::OID, oid);
            if null {
                write_tlv(&mut inner, tag::NULL, &[]);
            }
            let mut out = Vec::new();
            write_tlv(&mut out, tag::SEQUENCE, &inner);
            out
        };
        let pss = |hash: &[u8], salt: u8| {
            let hash_alg = simple(hash, true);
            let mut mgf = Vec::new();
            write_tlv(&mut mgf, tag::OID, oid::MGF1);
            mgf.extend_from_slice(&hash_alg);
            let mut mgf_alg = Vec::new();
            write_tlv(&mut mgf_alg, tag::SEQUENCE, &mgf);
            let mut salt_int = Vec::new();
            write_tlv(&mut salt_int, tag::INTEGER, &[salt]);
            let mut params = Vec::new();
            write_tlv(&mut params, tag::CONTEXT_0, &hash_alg);
            write_tlv(&mut params, tag::CONTEXT_1, &mgf_alg);
            write_tlv(&mut params, tag::CONTEXT_2, &salt_int);
            let mut inner = Vec::new();
            write_tlv(&mut inner, tag::OID, oid::RSASSA_PSS);
            write_tlv(&mut inner, tag::SEQUENCE, &params);
            let mut out = Vec::new();
            write_tlv(&mut out, tag::SEQUENCE, &inner);
            out
        };
        Some(match self {
            Self::RsaPkcs1Sha1 | Self::EcdsaP256Sha256Fixed | Self::EcdsaP384Sha384Fixed => {
                return None;
            }
            Self::RsaPkcs1Sha256 => simple(oid::SHA256_WITH_RSA, true),
            Self::RsaPkcs1Sha384 => simple(oid::SHA384_WITH_RSA, true),
            Self::RsaPkcs1Sha512 => simple(oid::SHA512_WITH_RSA, true),
            Self::RsaPssSha256 => pss(oid::SHA256, 32),
            // 48 < 0x80: still a one-byte positive INTEGER.
            Self::RsaPssSha384 => pss(oid::SHA384, 48),
            Self::RsaPssSha512 => pss(oid::SHA512, 64),
            Self::EcdsaP256Sha256 | Self::EcdsaP384Sha256 => simple(oid::ECDSA_SHA256, false),
            Self::EcdsaP256Sha384 | Self::EcdsaP384Sha384 => simple(oid::ECDSA_SHA384, false),
            Self::Ed25519 => simple(oid::ED25519, false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_data() {
        assert_eq!(
            signature_hash_algorithms_notify_data(),
            [0, 2, 0, 3, 0, 4, 0, 5]
        );
        assert_eq!(
            parse_signature_hash_algorithms(&[0, 2, 0, 9]).unwrap(),
            [HashAlgorithm::SHA2_256, HashAlgorithm(9)]
        );
        assert!(parse_signature_hash_algorithms(&[0]).is_err());
    }

    #[test]
    fn rfc7427_appendix_a_encodings() {
        // sha256WithRSAEncryption and ecdsa-with-SHA256 as in RFC 7427 Appendix A; RSASSA-PSS with
        // SHA-256 / MGF1-SHA-256 / salt 32 assembled by hand from RFC 4055 §3.1.
        let rsa256 = hex::decode("300d06092a864886f70d01010b0500").unwrap();
        let ecdsa256 = hex::decode("300a06082a8648ce3d040302").unwrap();
        let pss256 = hex::decode(
            "304106092a864886f70d01010a3034a00f300d06096086480165030402010500\
             a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120",
        )
        .unwrap();
        assert_eq!(
            SignatureScheme::RsaPkcs1Sha256
                .algorithm_identifier()
                .unwrap(),
            rsa256
        );
        assert_eq!(
            SignatureScheme::EcdsaP256Sha256
                .algorithm_identifier()
                .unwrap(),
            ecdsa256
        );
        assert_eq!(
            SignatureScheme::RsaPssSha256
                .algorithm_identifier()
                .unwrap(),
            pss256
        );
        for (der, key, want) in [
            (&rsa256, KeyKind::Rsa, SignatureScheme::RsaPkcs1Sha256),
            (&ecdsa256, KeyKind::EcP256, SignatureScheme::EcdsaP256Sha256),
            (&ecdsa256, KeyKind::EcP384, SignatureScheme::EcdsaP384Sha256),
            (&pss256, KeyKind::Rsa, SignatureScheme::RsaPssSha256),
        ] {
            assert_eq!(
                SignatureScheme::from_algorithm_identifier(der, key).unwrap(),
                want
            );
        }
        // Round trip of everything we send.
        for s in [
            SignatureScheme::RsaPkcs1Sha384,
            SignatureScheme::RsaPkcs1Sha512,
            SignatureScheme::RsaPssSha384,
            SignatureScheme::RsaPssSha512,
            SignatureScheme::EcdsaP384Sha384,
            SignatureScheme::Ed25519,
        ] {
            let key = match s {
                SignatureScheme::EcdsaP384Sha384 => KeyKind::EcP384,
                SignatureScheme::Ed25519 => KeyKind::Ed25519,
                _ => KeyKind::Rsa,
            };
            let der = s.algorithm_identifier().unwrap();
            assert_eq!(
                SignatureScheme::from_algorithm_identifier(&der, key).unwrap(),
                s
            );
        }
    }

    #[test]
    fn rejects_weak_or_odd_algorithm_identifiers() {
        let sha1_rsa = hex::decode("300d06092a864886f70d0101050500").unwrap();
        let pss_default = hex::decode("300b06092a864886f70d01010a").unwrap();
        // PSS SHA-256 with a 20-byte salt.
        let pss_salt20 = hex::decode(
            "304106092a864886f70d01010a3034a00f300d06096086480165030402010500\
             a11c301a06092a864886f70d010108300d06096086480165030402010500a203020114",
        )
        .unwrap();
        let trailing = hex::decode("300d06092a864886f70d01010b050000").unwrap();
        for der in [&sha1_rsa, &pss_default, &pss_salt20, &trailing] {
            assert!(SignatureScheme::from_algorithm_identifier(der, KeyKind::Rsa).is_err());
        }
    }
}
