//! Algorithms Tern implements, with their IANA transform IDs and key sizes.

use core::fmt;

/// IANA IKEv2 transform type numbers (RFC 7296 §3.3.2).
pub mod transform_type {
    /// Encryption algorithm (ENCR).
    pub const ENCR: u8 = 1;
    /// Pseudorandom function (PRF).
    pub const PRF: u8 = 2;
    /// Integrity algorithm (INTEG).
    pub const INTEG: u8 = 3;
    /// Key exchange method (D-H group).
    pub const DH: u8 = 4;
    /// Extended sequence numbers (ESN).
    pub const ESN: u8 = 5;
}

/// An encryption transform Tern supports, for IKE (SK payload) and ESP alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncrAlgorithm {
    /// `ENCR_AES_GCM_16` with a 128-bit key (RFC 4106 / RFC 5282).
    AesGcm16_128,
    /// `ENCR_AES_GCM_16` with a 256-bit key.
    AesGcm16_256,
    /// `ENCR_CHACHA20_POLY1305` (RFC 7634).
    ChaCha20Poly1305,
    /// `ENCR_AES_CBC` with a 128-bit key (RFC 3602); needs an integrity algorithm.
    AesCbc128,
    /// `ENCR_AES_CBC` with a 256-bit key.
    AesCbc256,
}

impl EncrAlgorithm {
    /// Every supported algorithm, strongest and most modern first.
    pub const ALL: [Self; 5] = [
        Self::AesGcm16_256,
        Self::ChaCha20Poly1305,
        Self::AesGcm16_128,
        Self::AesCbc256,
        Self::AesCbc128,
    ];

    /// IANA transform ID (type 1).
    #[must_use]
    pub const fn transform_id(self) -> u16 {
        match self {
            Self::AesGcm16_128 | Self::AesGcm16_256 => 20,
            Self::ChaCha20Poly1305 => 28,
            Self::AesCbc128 | Self::AesCbc256 => 12,
        }
    }

    /// The Key Length attribute (bits) sent with the transform, if the transform takes one.
    /// ChaCha20-Poly1305 has a fixed key and must be sent without the attribute (RFC 7634 §2).
    #[must_use]
    pub const fn key_length_attribute(self) -> Option<u16> {
        match self {
            Self::AesGcm16_128 | Self::AesCbc128 => Some(128),
            Self::AesGcm16_256 | Self::AesCbc256 => Some(256),
            Self::ChaCha20Poly1305 => None,
        }
    }

    /// Maps a transform ID and optional Key Length attribute back to a supported algorithm.
    #[must_use]
    pub const fn from_transform(id: u16, key_bits: Option<u16>) -> Option<Self> {
        match (id, key_bits) {
            (20, Some(128)) => Some(Self::AesGcm16_128),
            (20, Some(256)) => Some(Self::AesGcm16_256),
            (28, None) => Some(Self::ChaCha20Poly1305),
            (12, Some(128)) => Some(Self::AesCbc128),
            (12, Some(256)) => Some(Self::AesCbc256),
            _ => None,
        }
    }

    /// Whether this is an AEAD (combined-mode) algorithm, which takes no separate integrity
    /// transform.
    #[must_use]
    pub const fn is_aead(self) -> bool {
        matches!(
            self,
            Self::AesGcm16_128 | Self::AesGcm16_256 | Self::ChaCha20Poly1305
        )
    }

    /// Length of the cipher key proper, in bytes.
    #[must_use]
    pub const fn cipher_key_len(self) -> usize {
        match self {
            Self::AesGcm16_128 | Self::AesCbc128 => 16,
            Self::AesGcm16_256 | Self::AesCbc256 | Self::ChaCha20Poly1305 => 32,
        }
    }

    /// Length of the salt taken from the key material after the key (RFC 4106 §8.1,
    /// RFC 7634 §2); zero for CBC.
    #[must_use]
    pub const fn salt_len(self) -> usize {
        if self.is_aead() { 4 } else { 0 }
    }

    /// Bytes of key material this algorithm consumes from `prf+`: key plus salt.
    #[must_use]
    pub const fn keymat_len(self) -> usize {
        self.cipher_key_len() + self.salt_len()
    }

    /// Length of the explicit per-packet IV on the wire.
    #[must_use]
    pub const fn iv_len(self) -> usize {
        match self {
            Self::AesGcm16_128 | Self::AesGcm16_256 | Self::ChaCha20Poly1305 => 8,
            Self::AesCbc128 | Self::AesCbc256 => 16,
        }
    }

    /// Length of the AEAD tag (ICV) for AEAD algorithms; zero for CBC (its ICV comes from the
    /// integrity algorithm).
    #[must_use]
    pub const fn aead_tag_len(self) -> usize {
        if self.is_aead() { 16 } else { 0 }
    }

    /// The block size the plaintext is padded to (RFC 4303 §2.4): 16 for CBC, 4 otherwise.
    #[must_use]
    pub const fn block_len(self) -> usize {
        match self {
            Self::AesCbc128 | Self::AesCbc256 => 16,
            _ => 4,
        }
    }
}

impl fmt::Display for EncrAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AesGcm16_128 => "aes128gcm16",
            Self::AesGcm16_256 => "aes256gcm16",
            Self::ChaCha20Poly1305 => "chacha20poly1305",
            Self::AesCbc128 => "aes128",
            Self::AesCbc256 => "aes256",
        })
    }
}

/// An integrity transform (type 3) Tern supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntegAlgorithm {
    /// `AUTH_HMAC_SHA2_256_128` (RFC 4868).
    HmacSha2_256_128,
    /// `AUTH_HMAC_SHA2_384_192` (RFC 4868).
    HmacSha2_384_192,
    /// `AUTH_HMAC_SHA2_512_256` (RFC 4868).
    HmacSha2_512_256,
}

impl IntegAlgorithm {
    /// Every supported algorithm, strongest first.
    pub const ALL: [Self; 3] = [
        Self::HmacSha2_512_256,
        Self::HmacSha2_384_192,
        Self::HmacSha2_256_128,
    ];

    /// IANA transform ID (type 3).
    #[must_use]
    pub const fn transform_id(self) -> u16 {
        match self {
            Self::HmacSha2_256_128 => 12,
            Self::HmacSha2_384_192 => 13,
            Self::HmacSha2_512_256 => 14,
        }
    }

    /// Maps a transform ID back to a supported algorithm.
    #[must_use]
    pub const fn from_transform_id(id: u16) -> Option<Self> {
        match id {
            12 => Some(Self::HmacSha2_256_128),
            13 => Some(Self::HmacSha2_384_192),
            14 => Some(Self::HmacSha2_512_256),
            _ => None,
        }
    }

    /// HMAC key length in bytes (the hash output length, RFC 4868 §2.1.1).
    #[must_use]
    pub const fn key_len(self) -> usize {
        match self {
            Self::HmacSha2_256_128 => 32,
            Self::HmacSha2_384_192 => 48,
            Self::HmacSha2_512_256 => 64,
        }
    }

    /// Length of the truncated ICV on the wire.
    #[must_use]
    pub const fn icv_len(self) -> usize {
        match self {
            Self::HmacSha2_256_128 => 16,
            Self::HmacSha2_384_192 => 24,
            Self::HmacSha2_512_256 => 32,
        }
    }
}

impl fmt::Display for IntegAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HmacSha2_256_128 => "sha256",
            Self::HmacSha2_384_192 => "sha384",
            Self::HmacSha2_512_256 => "sha512",
        })
    }
}

/// A pseudorandom function (type 2) Tern supports for IKE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrfAlgorithm {
    /// `PRF_HMAC_SHA2_256` (RFC 4868).
    HmacSha2_256,
    /// `PRF_HMAC_SHA2_384`.
    HmacSha2_384,
    /// `PRF_HMAC_SHA2_512`.
    HmacSha2_512,
}

impl PrfAlgorithm {
    /// Every supported PRF, strongest first.
    pub const ALL: [Self; 3] = [Self::HmacSha2_512, Self::HmacSha2_384, Self::HmacSha2_256];

    /// IANA transform ID (type 2).
    #[must_use]
    pub const fn transform_id(self) -> u16 {
        match self {
            Self::HmacSha2_256 => 5,
            Self::HmacSha2_384 => 6,
            Self::HmacSha2_512 => 7,
        }
    }

    /// Maps a transform ID back to a supported PRF.
    #[must_use]
    pub const fn from_transform_id(id: u16) -> Option<Self> {
        match id {
            5 => Some(Self::HmacSha2_256),
            6 => Some(Self::HmacSha2_384),
            7 => Some(Self::HmacSha2_512),
            _ => None,
        }
    }

    /// Output (and preferred key) length in bytes.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::HmacSha2_256 => 32,
            Self::HmacSha2_384 => 48,
            Self::HmacSha2_512 => 64,
        }
    }
}

impl fmt::Display for PrfAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HmacSha2_256 => "prfsha256",
            Self::HmacSha2_384 => "prfsha384",
            Self::HmacSha2_512 => "prfsha512",
        })
    }
}

/// A key-exchange method (type 4, "Diffie-Hellman group") Tern supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// 2048-bit MODP group (RFC 3526), ID 14.
    Modp2048,
    /// 3072-bit MODP group, ID 15.
    Modp3072,
    /// 4096-bit MODP group, ID 16.
    Modp4096,
    /// NIST P-256 (RFC 5903), ID 19.
    Ecp256,
    /// NIST P-384 (RFC 5903), ID 20.
    Ecp384,
    /// Curve25519 (RFC 8031), ID 31.
    Curve25519,
}

impl DhGroup {
    /// Every supported group, preferred first.
    pub const ALL: [Self; 6] = [
        Self::Curve25519,
        Self::Ecp256,
        Self::Ecp384,
        Self::Modp2048,
        Self::Modp3072,
        Self::Modp4096,
    ];

    /// IANA transform ID (type 4).
    #[must_use]
    pub const fn transform_id(self) -> u16 {
        match self {
            Self::Modp2048 => 14,
            Self::Modp3072 => 15,
            Self::Modp4096 => 16,
            Self::Ecp256 => 19,
            Self::Ecp384 => 20,
            Self::Curve25519 => 31,
        }
    }

    /// Maps a transform ID back to a supported group.
    #[must_use]
    pub const fn from_transform_id(id: u16) -> Option<Self> {
        match id {
            14 => Some(Self::Modp2048),
            15 => Some(Self::Modp3072),
            16 => Some(Self::Modp4096),
            19 => Some(Self::Ecp256),
            20 => Some(Self::Ecp384),
            31 => Some(Self::Curve25519),
            _ => None,
        }
    }

    /// Length of the public value in the KE payload, in bytes.
    #[must_use]
    pub const fn public_len(self) -> usize {
        match self {
            Self::Modp2048 => 256,
            Self::Modp3072 => 384,
            Self::Modp4096 => 512,
            Self::Ecp256 => 64,
            Self::Ecp384 => 96,
            Self::Curve25519 => 32,
        }
    }
}

impl fmt::Display for DhGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Modp2048 => "modp2048",
            Self::Modp3072 => "modp3072",
            Self::Modp4096 => "modp4096",
            Self::Ecp256 => "ecp256",
            Self::Ecp384 => "ecp384",
            Self::Curve25519 => "curve25519",
        })
    }
}

/// The algorithms of one ESP SA, as negotiated for a CHILD_SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EspSuite {
    /// The encryption (or AEAD) algorithm.
    pub encr: EncrAlgorithm,
    /// The integrity algorithm; `None` exactly when `encr` is an AEAD.
    pub integ: Option<IntegAlgorithm>,
    /// Whether 64-bit extended sequence numbers are in use (RFC 4303 §2.2.1).
    pub esn: bool,
}

impl EspSuite {
    /// Whether the combination is one ESP can run: AEAD without integrity, CBC with it.
    #[must_use]
    pub const fn is_valid(&self) -> bool {
        self.encr.is_aead() == self.integ.is_none()
    }

    /// Length of the ICV appended to each packet.
    #[must_use]
    pub const fn icv_len(&self) -> usize {
        match self.integ {
            Some(integ) => integ.icv_len(),
            None => self.encr.aead_tag_len(),
        }
    }

    /// Bytes of key material one direction consumes: encryption key (with salt), then
    /// integrity key (RFC 7296 §2.17).
    #[must_use]
    pub const fn keymat_len_per_direction(&self) -> usize {
        self.encr.keymat_len()
            + match self.integ {
                Some(integ) => integ.key_len(),
                None => 0,
            }
    }

    /// Worst-case bytes ESP adds around an inner packet of any size: SPI, sequence number, IV,
    /// up to `block_len - 1 + 2` of padding and trailer, and the ICV. UDP encapsulation adds 8
    /// more; the outer IP header is not included.
    #[must_use]
    pub const fn max_overhead(&self) -> usize {
        8 + self.encr.iv_len() + self.encr.block_len() - 1 + 2 + self.icv_len()
    }
}

impl fmt::Display for EspSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.encr)?;
        if let Some(integ) = self.integ {
            write!(f, "-{integ}")?;
        }
        if self.esn {
            f.write_str("-esn")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_ids_round_trip() {
        for e in EncrAlgorithm::ALL {
            assert_eq!(
                EncrAlgorithm::from_transform(e.transform_id(), e.key_length_attribute()),
                Some(e)
            );
        }
        for i in IntegAlgorithm::ALL {
            assert_eq!(IntegAlgorithm::from_transform_id(i.transform_id()), Some(i));
        }
        for p in PrfAlgorithm::ALL {
            assert_eq!(PrfAlgorithm::from_transform_id(p.transform_id()), Some(p));
        }
        for g in DhGroup::ALL {
            assert_eq!(DhGroup::from_transform_id(g.transform_id()), Some(g));
        }
        // ChaCha20 with a key-length attribute is malformed (RFC 7634 §2).
        assert_eq!(EncrAlgorithm::from_transform(28, Some(256)), None);
        assert_eq!(EncrAlgorithm::from_transform(20, None), None);
    }

    #[test]
    fn suite_sizes() {
        let gcm = EspSuite {
            encr: EncrAlgorithm::AesGcm16_256,
            integ: None,
            esn: false,
        };
        assert!(gcm.is_valid());
        assert_eq!(gcm.keymat_len_per_direction(), 36);
        assert_eq!(gcm.icv_len(), 16);
        let cbc = EspSuite {
            encr: EncrAlgorithm::AesCbc128,
            integ: Some(IntegAlgorithm::HmacSha2_256_128),
            esn: true,
        };
        assert!(cbc.is_valid());
        assert_eq!(cbc.keymat_len_per_direction(), 16 + 32);
        assert_eq!(cbc.to_string(), "aes128-sha256-esn");
        let bad = EspSuite {
            encr: EncrAlgorithm::AesCbc128,
            integ: None,
            esn: false,
        };
        assert!(!bad.is_valid());
    }
}
