//! Finite-field Diffie-Hellman over the RFC 3526 MODP groups 14, 15 and 16 (generator 2), with
//! `crypto-bigint`'s constant-time Montgomery exponentiation.

use core::cmp::Ordering;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U2048, U3072, U4096, Uint};
use zeroize::{Zeroize, Zeroizing};

use super::{CryptoError, Random, SecretBytes};
use ipsec_types::DhGroup;

/// The 2048-bit MODP prime of RFC 3526 (group 14).
const P2048: Odd<U2048> = Odd::<U2048>::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
));

/// The 3072-bit MODP prime of RFC 3526 (group 15).
const P3072: Odd<U3072> = Odd::<U3072>::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
));

/// The 4096-bit MODP prime of RFC 3526 (group 16).
const P4096: Odd<U4096> = Odd::<U4096>::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
));

/// A MODP private exponent: big-endian, left-padded to the modulus length.
pub(crate) struct ModpPrivate {
    group: DhGroup,
    exponent: SecretBytes,
    /// How many low bits of `exponent` may be set; exponentiation time depends on this only.
    exponent_bits: u32,
}

/// Private exponent length for a fresh key: at least twice the group's security strength
/// (NIST SP 800-57: 112, 128, 152 bits), above the RFC 3526 §8 estimates.
const fn exponent_bits(group: DhGroup) -> u32 {
    match group {
        DhGroup::Modp3072 => 384,
        DhGroup::Modp4096 => 512,
        _ => 320,
    }
}

impl ModpPrivate {
    /// A fresh random exponent of [`exponent_bits`] bits (at least 2).
    pub(crate) fn generate(group: DhGroup, rng: &mut dyn Random) -> Result<Self, CryptoError> {
        let len = group.public_len();
        let bits = exponent_bits(group);
        let random_len = usize::try_from(bits / 8).map_err(|_| CryptoError::InvalidKeyLength)?;
        let mut exponent = Zeroizing::new(vec![0u8; len]);
        // A broken generator returning zeros must not give a trivial key; a working one never
        // loops more than once in practice.
        for _ in 0..8 {
            rng.fill(&mut exponent[len - random_len..])?;
            if exponent_is_at_least_two(&exponent) {
                return Ok(Self {
                    group,
                    exponent,
                    exponent_bits: bits,
                });
            }
        }
        Err(CryptoError::RandomFailed)
    }

    /// A fixed exponent (big-endian, 2 ≤ x, at most the modulus length), for known-answer tests.
    pub(crate) fn from_bytes(group: DhGroup, private: &[u8]) -> Result<Self, CryptoError> {
        let len = group.public_len();
        if private.is_empty() || private.len() > len {
            return Err(CryptoError::InvalidKeyLength);
        }
        let mut exponent = Zeroizing::new(vec![0u8; len]);
        exponent[len - private.len()..].copy_from_slice(private);
        if !exponent_is_at_least_two(&exponent) {
            return Err(CryptoError::InvalidKeyLength);
        }
        let bits = u32::try_from(private.len() * 8).map_err(|_| CryptoError::InvalidKeyLength)?;
        Ok(Self {
            group,
            exponent,
            exponent_bits: bits,
        })
    }

    /// `g^x mod p`, left-zero-padded to the modulus length (the KE payload data).
    pub(crate) fn public_value(&self) -> Result<Vec<u8>, CryptoError> {
        let generator = [2u8];
        let value = self.pow(&generator)?;
        Ok(value.to_vec())
    }

    /// Checks the peer's `y` (RFC 6989 §2.1: `1 < y < p-1`) and computes `y^x mod p`,
    /// left-zero-padded to the modulus length (RFC 7296 §2.14).
    pub(crate) fn agree(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        if peer.len() != self.group.public_len() {
            return Err(CryptoError::InvalidPeerPublicKey);
        }
        let shared = self.pow(peer)?;
        // With y in [2, p-2] and a safe prime the result cannot be 1; checked anyway so that a
        // degenerate secret can never be used.
        if !exponent_is_at_least_two(&shared) {
            return Err(CryptoError::InvalidPeerPublicKey);
        }
        Ok(shared)
    }

    fn pow(&self, base: &[u8]) -> Result<SecretBytes, CryptoError> {
        match self.group {
            DhGroup::Modp2048 => modpow(&P2048, base, &self.exponent, self.exponent_bits),
            DhGroup::Modp3072 => modpow(&P3072, base, &self.exponent, self.exponent_bits),
            DhGroup::Modp4096 => modpow(&P4096, base, &self.exponent, self.exponent_bits),
            _ => Err(CryptoError::Unsupported("not a MODP group")),
        }
    }
}

/// Whether a big-endian number is ≥ 2 (public values and exponent sanity; not secret-dependent
/// in a way that matters: it only rejects degenerate values).
fn exponent_is_at_least_two(be: &[u8]) -> bool {
    match be.split_last() {
        Some((last, rest)) => rest.iter().any(|&b| b != 0) || *last >= 2,
        None => false,
    }
}

/// `base^exponent mod p` for a base given big-endian (at most the modulus length). A base
/// outside `[2, p-2]` is rejected (RFC 6989 §2.1), except the generator itself.
fn modpow<const LIMBS: usize>(
    p: &Odd<Uint<LIMBS>>,
    base_be: &[u8],
    exponent_be: &[u8],
    exponent_bits: u32,
) -> Result<SecretBytes, CryptoError> {
    let len = Uint::<LIMBS>::BYTES;
    if base_be.len() > len || exponent_be.len() != len {
        return Err(CryptoError::InvalidPeerPublicKey);
    }
    let mut padded = [0u8; 4096 / 8];
    let padded = &mut padded[..len];
    padded[len - base_be.len()..].copy_from_slice(base_be);
    let base = Uint::<LIMBS>::from_be_slice(padded);
    let p_minus_one = p.as_ref().wrapping_sub(&Uint::ONE);
    if base.cmp_vartime(&Uint::ONE) != Ordering::Greater
        || base.cmp_vartime(&p_minus_one) != Ordering::Less
    {
        return Err(CryptoError::InvalidPeerPublicKey);
    }
    let params = FixedMontyParams::new_vartime(*p);
    let mut exponent = Uint::<LIMBS>::from_be_slice(exponent_be);
    let mut result = FixedMontyForm::new(&base, &params)
        .pow_bounded_exp(&exponent, exponent_bits)
        .retrieve();
    exponent.zeroize();
    let mut encoded = result.to_be_bytes();
    result.zeroize();
    let out = Zeroizing::new(encoded.as_slice().to_vec());
    encoded.zeroize();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct CountingRandom(u8);
    impl Random for CountingRandom {
        fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
            for b in out {
                self.0 = self.0.wrapping_mul(31).wrapping_add(7);
                *b = self.0;
            }
            Ok(())
        }
    }

    #[test]
    fn primes_are_the_rfc_3526_ones() {
        // Spot checks of the well-known shape: 64 leading and trailing one bits, pi in between.
        for bytes in [
            P2048.as_ref().to_be_bytes().as_slice().to_vec(),
            P3072.as_ref().to_be_bytes().as_slice().to_vec(),
            P4096.as_ref().to_be_bytes().as_slice().to_vec(),
        ] {
            assert_eq!(&bytes[..8], &[0xff; 8]);
            assert_eq!(&bytes[bytes.len() - 8..], &[0xff; 8]);
            assert_eq!(&bytes[8..12], &[0xc9, 0x0f, 0xda, 0xa2]);
        }
    }

    #[test]
    fn small_exponent_matches_schoolbook() {
        // 2^10 = 1024 < p: no reduction.
        let key = ModpPrivate::from_bytes(DhGroup::Modp2048, &[10]).unwrap();
        let public = key.public_value().unwrap();
        assert_eq!(public.len(), 256);
        assert_eq!(&public[254..], &[0x04, 0x00]);
        assert!(public[..254].iter().all(|&b| b == 0));
    }

    #[test]
    fn generated_exponent_has_the_configured_size() {
        let key = ModpPrivate::generate(DhGroup::Modp3072, &mut CountingRandom(1)).unwrap();
        assert_eq!(key.exponent.len(), 384);
        assert!(key.exponent[..384 - 48].iter().all(|&b| b == 0));
        assert_eq!(key.exponent_bits, 384);
    }
}
