//! Ephemeral key exchange (the KE payload) for Curve25519, ECP-256/384 and MODP-2048/3072/4096.
//!
//! Why RustCrypto (`x25519-dalek`, `p256`, `p384`) and not `ring` for the curves: `ring`'s
//! agreement API draws private keys only from its own sealed `SecureRandom`, so it can neither
//! take randomness from the caller's [`Random`] (this core is sans-IO) nor load the fixed
//! private keys that the RFC 5903 / RFC 7748 known-answer tests need. With one implementation
//! for both, the KAT exercises the same code that runs in production.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use p256::elliptic_curve::sec1::ToSec1Point;

use super::modp::ModpPrivate;
use super::{CryptoError, Random, SecretBytes};
use ipsec_types::DhGroup;

/// A random scalar is retried this often if it is out of range (probability < 2^-32 each for
/// P-256) before the generator is deemed broken.
const MAX_SCALAR_ATTEMPTS: usize = 8;

enum Private {
    X25519(x25519_dalek::StaticSecret),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    Modp(ModpPrivate),
}

/// One ephemeral key exchange: our private value and the public value for the KE payload.
/// The private key is zeroized on drop and never printed.
pub struct KeyExchange {
    group: DhGroup,
    private: Private,
    public: Vec<u8>,
}

impl fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyExchange")
            .field("group", &self.group)
            .field("public_len", &self.public.len())
            .finish_non_exhaustive()
    }
}

impl KeyExchange {
    /// A fresh private key for `group`, drawn from `rng`.
    ///
    /// # Errors
    /// [`CryptoError::RandomFailed`] if `rng` fails or keeps producing unusable values.
    pub fn generate(group: DhGroup, rng: &mut dyn Random) -> Result<Self, CryptoError> {
        let private = match group {
            DhGroup::Curve25519 => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                rng.fill(bytes.as_mut())?;
                // Clamping would turn zeros into a valid key; zeros mean a broken generator.
                if bool::from(bytes.ct_eq(&[0u8; 32])) {
                    return Err(CryptoError::RandomFailed);
                }
                Private::X25519(x25519_dalek::StaticSecret::from(*bytes))
            }
            DhGroup::Ecp256 => Private::P256(random_scalar(
                rng,
                |b| p256::SecretKey::from_slice(b).ok(),
                32,
            )?),
            DhGroup::Ecp384 => Private::P384(random_scalar(
                rng,
                |b| p384::SecretKey::from_slice(b).ok(),
                48,
            )?),
            DhGroup::Modp2048 | DhGroup::Modp3072 | DhGroup::Modp4096 => {
                Private::Modp(ModpPrivate::generate(group, rng)?)
            }
        };
        Self::from_parts(group, private)
    }

    /// A key exchange with a fixed private key — **for known-answer tests only**; a real
    /// exchange must use [`KeyExchange::generate`].
    ///
    /// `private` is the 32-byte X25519 scalar (RFC 7748), the big-endian ECP scalar of the field
    /// size (RFC 5903), or a big-endian MODP exponent of at most the modulus length.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKeyLength`] if `private` has the wrong length or is out of range.
    pub fn from_private(group: DhGroup, private: &[u8]) -> Result<Self, CryptoError> {
        let private = match group {
            DhGroup::Curve25519 => {
                let bytes: [u8; 32] = private
                    .try_into()
                    .map_err(|_| CryptoError::InvalidKeyLength)?;
                let bytes = Zeroizing::new(bytes);
                Private::X25519(x25519_dalek::StaticSecret::from(*bytes))
            }
            DhGroup::Ecp256 => Private::P256(ecp_scalar(private, 32, |b| {
                p256::SecretKey::from_slice(b).ok()
            })?),
            DhGroup::Ecp384 => Private::P384(ecp_scalar(private, 48, |b| {
                p384::SecretKey::from_slice(b).ok()
            })?),
            DhGroup::Modp2048 | DhGroup::Modp3072 | DhGroup::Modp4096 => {
                Private::Modp(ModpPrivate::from_bytes(group, private)?)
            }
        };
        Self::from_parts(group, private)
    }

    fn from_parts(group: DhGroup, private: Private) -> Result<Self, CryptoError> {
        let public = match &private {
            Private::X25519(secret) => x25519_dalek::PublicKey::from(secret).to_bytes().to_vec(),
            // RFC 5903 §7: x | y, each fixed width, without the SEC1 0x04 prefix.
            Private::P256(secret) => {
                strip_sec1_prefix(secret.public_key().to_sec1_point(false).as_bytes(), group)?
            }
            Private::P384(secret) => {
                strip_sec1_prefix(secret.public_key().to_sec1_point(false).as_bytes(), group)?
            }
            Private::Modp(modp) => modp.public_value()?,
        };
        Ok(Self {
            group,
            private,
            public,
        })
    }

    /// The group this exchange runs in.
    #[must_use]
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// Exactly the KE payload's key-exchange data: x||y for ECP (RFC 5903 §7), 32 bytes for
    /// X25519 (RFC 8031), left-zero-padded big-endian for MODP.
    #[must_use]
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Checks the peer's value (RFC 6989) and derives g^ir.
    ///
    /// # Errors
    /// [`CryptoError::InvalidPeerPublicKey`] if the value has the wrong length, is outside
    /// `[2, p-2]` (MODP), is not a point on the curve (ECP), or yields an all-zero X25519 secret
    /// (a low-order point).
    pub fn agree(self, peer_public: &[u8]) -> Result<SharedSecret, CryptoError> {
        if peer_public.len() != self.group.public_len() {
            return Err(CryptoError::InvalidPeerPublicKey);
        }
        let secret = match &self.private {
            Private::X25519(secret) => {
                let peer: [u8; 32] = peer_public
                    .try_into()
                    .map_err(|_| CryptoError::InvalidPeerPublicKey)?;
                let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(peer));
                // RFC 8031 §2: an all-zero result means a low-order peer point.
                if bool::from(shared.as_bytes().ct_eq(&[0u8; 32])) {
                    return Err(CryptoError::InvalidPeerPublicKey);
                }
                Zeroizing::new(shared.as_bytes().to_vec())
            }
            Private::P256(secret) => {
                let peer = p256::PublicKey::from_sec1_bytes(&sec1_uncompressed(peer_public))
                    .map_err(|_| CryptoError::InvalidPeerPublicKey)?;
                Zeroizing::new(secret.diffie_hellman(&peer).raw_secret_bytes().to_vec())
            }
            Private::P384(secret) => {
                let peer = p384::PublicKey::from_sec1_bytes(&sec1_uncompressed(peer_public))
                    .map_err(|_| CryptoError::InvalidPeerPublicKey)?;
                Zeroizing::new(secret.diffie_hellman(&peer).raw_secret_bytes().to_vec())
            }
            Private::Modp(modp) => modp.agree(peer_public)?,
        };
        Ok(SharedSecret(secret))
    }
}

/// `0x04 | x | y`: the SEC1 uncompressed encoding of the KE payload's `x | y`.
fn sec1_uncompressed(xy: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(xy.len() + 1);
    out.push(0x04);
    out.extend_from_slice(xy);
    out
}

fn strip_sec1_prefix(sec1: &[u8], group: DhGroup) -> Result<Vec<u8>, CryptoError> {
    match sec1.split_first() {
        Some((0x04, xy)) if xy.len() == group.public_len() => Ok(xy.to_vec()),
        _ => Err(CryptoError::Unsupported("unexpected SEC1 point encoding")),
    }
}

/// Draws scalars of `len` bytes until one is in `[1, n-1]`.
fn random_scalar<K>(
    rng: &mut dyn Random,
    parse: impl Fn(&[u8]) -> Option<K>,
    len: usize,
) -> Result<K, CryptoError> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    for _ in 0..MAX_SCALAR_ATTEMPTS {
        rng.fill(&mut bytes)?;
        if let Some(key) = parse(&bytes) {
            return Ok(key);
        }
    }
    Err(CryptoError::RandomFailed)
}

fn ecp_scalar<K>(
    private: &[u8],
    len: usize,
    parse: impl Fn(&[u8]) -> Option<K>,
) -> Result<K, CryptoError> {
    if private.len() != len {
        return Err(CryptoError::InvalidKeyLength);
    }
    parse(private).ok_or(CryptoError::InvalidKeyLength)
}

/// The Diffie-Hellman shared secret g^ir in its IKE encoding (RFC 7296 §2.14: MODP padded to
/// the modulus length; RFC 5903 §7: ECP x coordinate; RFC 8031: X25519 output). Zeroized on
/// drop; `Debug` shows only the length.
pub struct SharedSecret(SecretBytes);

impl SharedSecret {
    /// Wraps a known g^ir, **for known-answer tests and replaying captured exchanges only**;
    /// real secrets come from [`KeyExchange::agree`].
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// The secret bytes, as they enter SKEYSEED and KEYMAT.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedSecret({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SystemRandom;

    #[test]
    fn every_group_agrees_with_itself() {
        for group in DhGroup::ALL {
            let a = KeyExchange::generate(group, &mut SystemRandom).unwrap();
            let b = KeyExchange::generate(group, &mut SystemRandom).unwrap();
            assert_eq!(a.public_value().len(), group.public_len(), "{group}");
            let a_pub = a.public_value().to_vec();
            let b_pub = b.public_value().to_vec();
            assert_ne!(a_pub, b_pub);
            let s1 = a.agree(&b_pub).unwrap();
            let s2 = b.agree(&a_pub).unwrap();
            assert_eq!(s1.as_bytes(), s2.as_bytes(), "{group}");
        }
    }

    #[test]
    fn debug_hides_keys() {
        let kex = KeyExchange::from_private(DhGroup::Curve25519, &[0x41; 32]).unwrap();
        let text = format!("{kex:?}");
        assert!(!text.contains("65"), "{text}");
        let peer = KeyExchange::from_private(DhGroup::Curve25519, &[0x42; 32]).unwrap();
        let shared = kex.agree(peer.public_value()).unwrap();
        assert_eq!(format!("{shared:?}"), "SharedSecret(32 bytes)");
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        for group in DhGroup::ALL {
            let kex = KeyExchange::generate(group, &mut SystemRandom).unwrap();
            let len = group.public_len();
            let kex2 = KeyExchange::generate(group, &mut SystemRandom).unwrap();
            assert_eq!(
                kex.agree(&vec![5; len - 1]).unwrap_err(),
                CryptoError::InvalidPeerPublicKey
            );
            assert_eq!(
                kex2.agree(&vec![5; len + 1]).unwrap_err(),
                CryptoError::InvalidPeerPublicKey
            );
        }
    }

    #[test]
    fn broken_random_is_reported() {
        struct Zeros;
        impl Random for Zeros {
            fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
                out.fill(0);
                Ok(())
            }
        }
        struct Failing;
        impl Random for Failing {
            fn fill(&mut self, _: &mut [u8]) -> Result<(), CryptoError> {
                Err(CryptoError::RandomFailed)
            }
        }
        for group in DhGroup::ALL {
            assert_eq!(
                KeyExchange::generate(group, &mut Zeros).unwrap_err(),
                CryptoError::RandomFailed
            );
        }
        for group in DhGroup::ALL {
            assert_eq!(
                KeyExchange::generate(group, &mut Failing).unwrap_err(),
                CryptoError::RandomFailed
            );
        }
    }
}
