//! PRF, prf+ and the IKEv2 key schedule (RFC 7296 §2.13, §2.14, §2.17, §2.18).
//!
//! The key schedule is written once over a `ring` HMAC algorithm so the unit tests can check the
//! whole chain against the NIST ACVP vector, which uses HMAC-SHA-1; SHA-1 is not a PRF that
//! Tern negotiates and is not reachable through the public API.

use core::fmt;

use ring::hmac;
use zeroize::Zeroizing;

use super::{CryptoError, IkeSuite, SecretBytes, SharedSecret, SkCipher};
use ipsec_types::{IkeSpi, PrfAlgorithm, Role};

/// `prf+` produces at most this many blocks (the counter is one octet, RFC 7296 §2.13).
const MAX_PRF_PLUS_BLOCKS: usize = 255;

/// The `ring` HMAC algorithm behind a negotiated PRF.
pub(crate) fn hmac_algorithm(alg: PrfAlgorithm) -> hmac::Algorithm {
    match alg {
        PrfAlgorithm::HmacSha2_256 => hmac::HMAC_SHA256,
        PrfAlgorithm::HmacSha2_384 => hmac::HMAC_SHA384,
        PrfAlgorithm::HmacSha2_512 => hmac::HMAC_SHA512,
    }
}

/// `prf(key, data)`: HMAC with the full output (RFC 4868 §2.1.2 PRF_HMAC_SHA2_*).
#[must_use]
pub fn prf(alg: PrfAlgorithm, key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
    prf_with(hmac_algorithm(alg), key, &[data])
}

/// `prf+(key, seed)` truncated to `len` bytes (RFC 7296 §2.13):
/// `T1 = prf(K, S | 0x01)`, `Tn = prf(K, Tn-1 | S | n)`.
///
/// # Errors
/// [`CryptoError::OutputTooLong`] when `len` needs more than 255 PRF blocks.
pub fn prf_plus(
    alg: PrfAlgorithm,
    key: &[u8],
    seed: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    prf_plus_with(hmac_algorithm(alg), key, &[seed], len)
}

/// HMAC over the concatenation of `parts`, without copying them together.
pub(crate) fn prf_with(alg: hmac::Algorithm, key: &[u8], parts: &[&[u8]]) -> SecretBytes {
    let key = hmac::Key::new(alg, key);
    let mut ctx = hmac::Context::with_key(&key);
    for part in parts {
        ctx.update(part);
    }
    Zeroizing::new(ctx.sign().as_ref().to_vec())
}

/// `prf+` with the seed given as the concatenation of `seed_parts`.
pub(crate) fn prf_plus_with(
    alg: hmac::Algorithm,
    key: &[u8],
    seed_parts: &[&[u8]],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    let block_len = alg.digest_algorithm().output_len();
    if len.div_ceil(block_len) > MAX_PRF_PLUS_BLOCKS {
        return Err(CryptoError::OutputTooLong);
    }
    let key = hmac::Key::new(alg, key);
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let mut previous: Option<hmac::Tag> = None;
    let mut counter: u8 = 1;
    while out.len() < len {
        let mut ctx = hmac::Context::with_key(&key);
        if let Some(tag) = &previous {
            ctx.update(tag.as_ref());
        }
        for part in seed_parts {
            ctx.update(part);
        }
        ctx.update(&[counter]);
        let tag = ctx.sign();
        let take = (len - out.len()).min(block_len);
        out.extend_from_slice(&tag.as_ref()[..take]);
        previous = Some(tag);
        // Cannot wrap: the block count was checked above.
        counter = counter.wrapping_add(1);
    }
    Ok(out)
}

/// `SKEYSEED = prf(Ni | Nr, g^ir)` (RFC 7296 §2.14). With HMAC the key is variable-length, so
/// the nonces are used in full.
pub(crate) fn skeyseed_with(alg: hmac::Algorithm, ni: &[u8], nr: &[u8], gir: &[u8]) -> SecretBytes {
    let mut key = Zeroizing::new(Vec::with_capacity(ni.len() + nr.len()));
    key.extend_from_slice(ni);
    key.extend_from_slice(nr);
    prf_with(alg, &key, &[gir])
}

/// Rekeyed `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` (RFC 7296 §2.18).
pub(crate) fn rekey_skeyseed_with(
    alg: hmac::Algorithm,
    old_sk_d: &[u8],
    gir: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> SecretBytes {
    prf_with(alg, old_sk_d, &[gir, ni, nr])
}

/// The IKE SA key material `prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)` (RFC 7296 §2.14).
pub(crate) fn ike_keymat_with(
    alg: hmac::Algorithm,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: IkeSpi,
    spi_r: IkeSpi,
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    prf_plus_with(alg, skeyseed, &[ni, nr, &spi_i.0, &spi_r.0], len)
}

/// CHILD_SA `KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)` (RFC 7296 §2.17).
pub(crate) fn child_keymat_with(
    alg: hmac::Algorithm,
    sk_d: &[u8],
    new_gir: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    match new_gir {
        Some(gir) => prf_plus_with(alg, sk_d, &[gir, ni, nr], len),
        None => prf_plus_with(alg, sk_d, &[ni, nr], len),
    }
}

/// KEYMAT for a CHILD_SA (RFC 7296 §2.17): `prf+(SK_d, [g^ir(new) |] Ni | Nr)`.
///
/// `new_shared` is the secret of the CREATE_CHILD_SA exchange's own key exchange (PFS), if it
/// had one. Ni and Nr are the nonces of the exchange that created the CHILD_SA (for the first
/// one, those of IKE_SA_INIT).
///
/// # Errors
/// [`CryptoError::OutputTooLong`] when `len` needs more than 255 PRF blocks.
pub fn child_sa_keymat(
    prf: PrfAlgorithm,
    sk_d: &[u8],
    new_shared: Option<&SharedSecret>,
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    child_keymat_with(
        hmac_algorithm(prf),
        sk_d,
        new_shared.map(SharedSecret::as_bytes),
        ni,
        nr,
        len,
    )
}

/// SK_d, SK_ai/ar, SK_ei/er, SK_pi/pr (RFC 7296 §2.14), zeroized on drop; `Debug` shows no
/// bytes.
pub struct IkeSaKeys {
    /// The algorithms these keys are for.
    pub suite: IkeSuite,
    /// Key for deriving CHILD_SA keys and rekeyed IKE SAs (PRF output length).
    pub sk_d: Zeroizing<Vec<u8>>,
    /// Integrity key, initiator to responder (empty for AEAD).
    pub sk_ai: Zeroizing<Vec<u8>>,
    /// Integrity key, responder to initiator (empty for AEAD).
    pub sk_ar: Zeroizing<Vec<u8>>,
    /// Encryption key (with salt for AEAD), initiator to responder.
    pub sk_ei: Zeroizing<Vec<u8>>,
    /// Encryption key (with salt for AEAD), responder to initiator.
    pub sk_er: Zeroizing<Vec<u8>>,
    /// Key for the initiator's AUTH payload (PRF output length).
    pub sk_pi: Zeroizing<Vec<u8>>,
    /// Key for the responder's AUTH payload (PRF output length).
    pub sk_pr: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for IkeSaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Lengths only: the bytes are secret.
        f.debug_struct("IkeSaKeys")
            .field("suite", &self.suite)
            .field("sk_d_len", &self.sk_d.len())
            .field("sk_a_len", &self.sk_ai.len())
            .field("sk_e_len", &self.sk_ei.len())
            .field("sk_p_len", &self.sk_pi.len())
            .finish_non_exhaustive()
    }
}

impl IkeSaKeys {
    /// Derives the keys of a new IKE SA from IKE_SA_INIT (RFC 7296 §2.14):
    /// `SKEYSEED = prf(Ni | Nr, g^ir)`, then `prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)`.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for an AEAD with an integrity algorithm or CBC without one.
    pub fn derive(
        suite: IkeSuite,
        shared: &SharedSecret,
        ni: &[u8],
        nr: &[u8],
        spi_i: IkeSpi,
        spi_r: IkeSpi,
    ) -> Result<Self, CryptoError> {
        let alg = hmac_algorithm(suite.prf);
        let skeyseed = skeyseed_with(alg, ni, nr, shared.as_bytes());
        Self::from_skeyseed(suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    /// Rekeyed IKE SA (RFC 7296 §2.18): `SKEYSEED = prf(SK_d(old), g^ir(new) | Ni | Nr)` with the
    /// old SA's PRF, then `prf+` with the new suite's PRF over the new SPIs.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for an AEAD with an integrity algorithm or CBC without one.
    #[allow(clippy::too_many_arguments)]
    pub fn derive_rekey(
        suite: IkeSuite,
        old_prf: PrfAlgorithm,
        old_sk_d: &[u8],
        shared: &SharedSecret,
        ni: &[u8],
        nr: &[u8],
        spi_i: IkeSpi,
        spi_r: IkeSpi,
    ) -> Result<Self, CryptoError> {
        let skeyseed =
            rekey_skeyseed_with(hmac_algorithm(old_prf), old_sk_d, shared.as_bytes(), ni, nr);
        Self::from_skeyseed(suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    fn from_skeyseed(
        suite: IkeSuite,
        skeyseed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: IkeSpi,
        spi_r: IkeSpi,
    ) -> Result<Self, CryptoError> {
        if !suite.is_valid() {
            return Err(CryptoError::Unsupported(
                "IKE suite must pair AEAD without integrity, or CBC with integrity",
            ));
        }
        let keymat = ike_keymat_with(
            hmac_algorithm(suite.prf),
            skeyseed,
            ni,
            nr,
            spi_i,
            spi_r,
            suite.keymat_len(),
        )?;
        let mut rest: &[u8] = &keymat;
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n.min(rest.len()));
            rest = tail;
            Zeroizing::new(head.to_vec())
        };
        let prf_len = suite.prf.output_len();
        let integ_len = suite.integ_key_len();
        let encr_len = suite.encr.keymat_len();
        // Order fixed by RFC 7296 §2.14.
        Ok(Self {
            suite,
            sk_d: take(prf_len),
            sk_ai: take(integ_len),
            sk_ar: take(integ_len),
            sk_ei: take(encr_len),
            sk_er: take(encr_len),
            sk_pi: take(prf_len),
            sk_pr: take(prf_len),
        })
    }

    /// (outbound, inbound) SK ciphers for our role (initiator: out = SK_ei/SK_ai).
    ///
    /// # Errors
    /// As [`SkCipher::new`].
    pub fn sk_ciphers(&self, role: Role) -> Result<(SkCipher, SkCipher), CryptoError> {
        let from_initiator =
            SkCipher::new(self.suite.encr, self.suite.integ, &self.sk_ei, &self.sk_ai)?;
        let from_responder =
            SkCipher::new(self.suite.encr, self.suite.integ, &self.sk_er, &self.sk_ar)?;
        Ok(match role {
            Role::Initiator => (from_initiator, from_responder),
            Role::Responder => (from_responder, from_initiator),
        })
    }

    /// The key that signs our own AUTH payload (SK_pi for the initiator, SK_pr for the
    /// responder).
    #[must_use]
    pub fn own_sk_p(&self, role: Role) -> &[u8] {
        match role {
            Role::Initiator => &self.sk_pi,
            Role::Responder => &self.sk_pr,
        }
    }

    /// The key that verifies the peer's AUTH payload.
    #[must_use]
    pub fn peer_sk_p(&self, role: Role) -> &[u8] {
        match role {
            Role::Initiator => &self.sk_pr,
            Role::Responder => &self.sk_pi,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn read_single_case(name: &str) -> HashMap<String, String> {
        let path = format!("{}/../../tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(" = "))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect()
    }

    /// The full IKEv2 KDF chain of NIST ACVP tcId 100 (HMAC-SHA-1).
    #[test]
    fn acvp_kdf_chain_sha1() {
        let v = read_single_case("ikev2-kdf-chain_acvp-libreswan.txt");
        assert_eq!(v["PRF"], "HMAC-SHA-1");
        let alg = hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY;
        let ni = hex(&v["Ni"]);
        let nr = hex(&v["Nr"]);
        let gir = hex(&v["GIR"]);
        let gir_new = hex(&v["GIRNew"]);
        let spi_i = IkeSpi(hex(&v["SPIi"]).try_into().unwrap());
        let spi_r = IkeSpi(hex(&v["SPIr"]).try_into().unwrap());
        let dkm_len = v["DKMLengthBits"].parse::<usize>().unwrap() / 8;

        let skeyseed = skeyseed_with(alg, &ni, &nr, &gir);
        assert_eq!(*skeyseed, hex(&v["SKEYSEED"]));
        let dkm = ike_keymat_with(alg, &skeyseed, &ni, &nr, spi_i, spi_r, dkm_len).unwrap();
        assert_eq!(*dkm, hex(&v["DKM"]));
        let sk_d = &dkm[..20];
        let child = child_keymat_with(alg, sk_d, None, &ni, &nr, dkm_len).unwrap();
        assert_eq!(*child, hex(&v["DKMChild"]));
        let child_dh = child_keymat_with(alg, sk_d, Some(&gir_new), &ni, &nr, dkm_len).unwrap();
        assert_eq!(*child_dh, hex(&v["DKMChildDH"]));
        let rekey = rekey_skeyseed_with(alg, sk_d, &gir_new, &ni, &nr);
        assert_eq!(*rekey, hex(&v["SKEYSEEDRekey"]));
    }

    #[test]
    fn prf_plus_limits() {
        let alg = PrfAlgorithm::HmacSha2_256;
        assert!(prf_plus(alg, b"k", b"s", 0).unwrap().is_empty());
        assert_eq!(prf_plus(alg, b"k", b"s", 255 * 32).unwrap().len(), 255 * 32);
        assert_eq!(
            prf_plus(alg, b"k", b"s", 255 * 32 + 1).unwrap_err(),
            CryptoError::OutputTooLong
        );
        // Prefix property: a shorter output is a prefix of a longer one.
        let long = prf_plus(alg, b"k", b"s", 100).unwrap();
        let short = prf_plus(alg, b"k", b"s", 33).unwrap();
        assert_eq!(&long[..33], &short[..]);
    }
}
