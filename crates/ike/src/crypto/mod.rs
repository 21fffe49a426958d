//! The cryptography of an IKE SA: key exchange, PRF and key derivation, SK payload protection and
//! AUTH computation (RFC 7296 §2.13–2.18, §3.14; RFC 5282; RFC 7634; RFC 4868).
//!
//! Room and rules:
//! - Sans-IO: no clock, no sockets, and no randomness of its own. Every random byte (DH private
//!   keys, IVs) comes from the [`Random`] the caller passes; [`SystemRandom`] is the OS CSPRNG.
//! - Untrusted bytes (peer KE data, SK payload bodies) are length-checked before use and never
//!   panic; integrity is verified before anything is decrypted.
//! - Every buffer that holds a secret is a [`Zeroizing`] buffer; `Debug` on types that hold
//!   keys prints algorithms and lengths, never bytes.
//! - HMAC and AEAD come from `ring`. AES-CBC from RustCrypto `aes` + `cbc` (ring has no CBC).
//!   Key exchange: see [`KeyExchange`] for why the groups use RustCrypto crates.

mod auth;
mod kdf;
mod ke;
mod modp;
mod nat;
mod sk;

use zeroize::Zeroizing;

pub use auth::{psk_auth, signed_octets};
pub use ipsec_types::{DhGroup, EncrAlgorithm, IkeSpi, IntegAlgorithm, PrfAlgorithm, Role};
pub use kdf::{IkeSaKeys, child_sa_keymat, prf, prf_plus};
pub use ke::{KeyExchange, SharedSecret};
pub use nat::{NAT_DETECTION_HASH_LEN, nat_detection_hash};
pub use sk::SkCipher;

/// Why a cryptographic operation failed. None of these carry secret data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The peer's key-exchange value failed the RFC 6989 checks: wrong length, out of range
    /// (MODP), not on the curve (ECP), or it produced an all-zero X25519 secret.
    #[error(
        "the peer's key exchange value is invalid (wrong length, out of range or not on the curve)"
    )]
    InvalidPeerPublicKey,
    /// The SK payload's ICV or AEAD tag did not verify: the message was altered, or the peers
    /// derived different keys.
    #[error("integrity check of the encrypted payload failed")]
    IntegrityCheckFailed,
    /// After decryption, the pad length does not fit the decrypted data.
    #[error("the encrypted payload has invalid padding")]
    BadPadding,
    /// The SK payload body is shorter than IV + ICV (+ pad length), or its CBC ciphertext is
    /// not a whole number of blocks.
    #[error("the encrypted payload is truncated or not a whole number of cipher blocks")]
    Truncated,
    /// Key material (or a private key given for a known-answer test) has the wrong size or is
    /// out of range for the algorithm.
    #[error("key material has the wrong length for the algorithm")]
    InvalidKeyLength,
    /// `prf+` was asked for more than 255 blocks of output (RFC 7296 §2.13).
    #[error("prf+ cannot produce that much key material (at most 255 PRF blocks)")]
    OutputTooLong,
    /// The random source failed or kept returning unusable values.
    #[error("the random number generator failed")]
    RandomFailed,
    /// The algorithm or combination of algorithms is not supported.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
}

/// Randomness comes from the caller (sans-IO): nonces, SPIs, IVs, DH private keys.
pub trait Random {
    /// Fills `out` with cryptographically secure random bytes.
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError>;
}

/// The OS CSPRNG (`ring::rand::SystemRandom`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new()
            .fill(out)
            .map_err(|_| CryptoError::RandomFailed)
    }
}

/// The algorithms of an IKE SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IkeSuite {
    /// Encryption (or AEAD) algorithm of the SK payload.
    pub encr: EncrAlgorithm,
    /// Integrity algorithm; `None` exactly when `encr` is an AEAD.
    pub integ: Option<IntegAlgorithm>,
    /// Pseudorandom function.
    pub prf: PrfAlgorithm,
    /// Key-exchange group.
    pub dh: DhGroup,
}

impl IkeSuite {
    /// Whether the combination is usable: AEAD without an integrity algorithm, CBC with one.
    #[must_use]
    pub const fn is_valid(&self) -> bool {
        self.encr.is_aead() == self.integ.is_none()
    }

    /// Length of the integrity keys SK_ai/SK_ar (zero for AEAD).
    #[must_use]
    pub const fn integ_key_len(&self) -> usize {
        match self.integ {
            Some(integ) => integ.key_len(),
            None => 0,
        }
    }

    /// Total bytes of `prf+` output the seven IKE SA keys take (RFC 7296 §2.14).
    #[must_use]
    pub const fn keymat_len(&self) -> usize {
        3 * self.prf.output_len() + 2 * self.integ_key_len() + 2 * self.encr.keymat_len()
    }
}

/// A secret byte buffer type used throughout this module.
pub(crate) type SecretBytes = Zeroizing<Vec<u8>>;
