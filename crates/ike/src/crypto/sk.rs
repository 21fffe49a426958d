//! Protection of the Encrypted (SK, RFC 7296 §3.14) and Encrypted Fragment (SKF, RFC 7383)
//! payload bodies.
//!
//! Body layout: `IV | ciphertext(inner payloads | padding | pad length) | ICV`.
//! - AEAD (AES-GCM-16 RFC 5282, ChaCha20-Poly1305 RFC 7634): 8-byte IV, nonce = 4-byte salt
//!   (the last 4 bytes of SK_e) | IV, AAD = every message byte before the IV, 16-byte tag.
//!   No block alignment is needed, so we send no padding, only the pad-length byte (0).
//!   The IV is drawn from the caller's [`Random`] rather than kept as a counter, so that two
//!   `SkCipher`s built from the same keys can never repeat a nonce; at 64 bits a collision is
//!   out of reach for the few thousand messages an IKE SA carries before it is rekeyed.
//! - AES-CBC + HMAC-SHA2 (RFC 7296 §3.14, RFC 4868): 16-byte random IV, plaintext padded to
//!   16 bytes, ICV = truncated HMAC over everything from the IKE header through the
//!   ciphertext.

use core::fmt;

use aes::{Aes128, Aes256};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use ring::{aead, hmac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{CryptoError, Random, SecretBytes};
use ipsec_types::{EncrAlgorithm, IntegAlgorithm};

/// AES block size, the CBC IV length and padding boundary.
const AES_BLOCK: usize = 16;

enum Engine {
    Aead {
        // Boxed: ring's key schedule is large and this enum is moved around.
        key: Box<aead::LessSafeKey>,
        salt: [u8; 4],
    },
    Cbc {
        key: SecretBytes,
        integ: IntegAlgorithm,
        mac: hmac::Key,
    },
}

/// Protects SK (RFC 7296 §3.14, RFC 5282 AEAD) and SKF (RFC 7383) payload bodies in one
/// direction. `Debug` shows the algorithms only.
pub struct SkCipher {
    encr: EncrAlgorithm,
    engine: Engine,
}

impl fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let integ = match &self.engine {
            Engine::Cbc { integ, .. } => Some(*integ),
            Engine::Aead { .. } => None,
        };
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("integ", &integ)
            .finish_non_exhaustive()
    }
}

fn hmac_for(integ: IntegAlgorithm) -> hmac::Algorithm {
    match integ {
        IntegAlgorithm::HmacSha2_256_128 => hmac::HMAC_SHA256,
        IntegAlgorithm::HmacSha2_384_192 => hmac::HMAC_SHA384,
        IntegAlgorithm::HmacSha2_512_256 => hmac::HMAC_SHA512,
    }
}

impl SkCipher {
    /// A cipher for one direction. `encr_key` is SK_ei or SK_er (for AEAD: key | 4-byte salt,
    /// [`EncrAlgorithm::keymat_len`] bytes); `integ_key` is SK_ai or SK_ar (empty for AEAD).
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for AEAD with an integrity algorithm or CBC without one;
    /// [`CryptoError::InvalidKeyLength`] if a key has the wrong length.
    pub fn new(
        encr: EncrAlgorithm,
        integ: Option<IntegAlgorithm>,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Self, CryptoError> {
        if encr_key.len() != encr.keymat_len() {
            return Err(CryptoError::InvalidKeyLength);
        }
        let engine = match (encr.is_aead(), integ) {
            (true, None) => {
                if !integ_key.is_empty() {
                    return Err(CryptoError::InvalidKeyLength);
                }
                let alg = match encr {
                    EncrAlgorithm::AesGcm16_128 => &aead::AES_128_GCM,
                    EncrAlgorithm::AesGcm16_256 => &aead::AES_256_GCM,
                    EncrAlgorithm::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
                    EncrAlgorithm::AesCbc128 | EncrAlgorithm::AesCbc256 => {
                        return Err(CryptoError::Unsupported("CBC is not an AEAD"));
                    }
                };
                let (key, salt) = encr_key.split_at(encr.cipher_key_len());
                let key =
                    aead::UnboundKey::new(alg, key).map_err(|_| CryptoError::InvalidKeyLength)?;
                Engine::Aead {
                    key: Box::new(aead::LessSafeKey::new(key)),
                    salt: salt.try_into().map_err(|_| CryptoError::InvalidKeyLength)?,
                }
            }
            (false, Some(integ)) => {
                if integ_key.len() != integ.key_len() {
                    return Err(CryptoError::InvalidKeyLength);
                }
                Engine::Cbc {
                    key: Zeroizing::new(encr_key.to_vec()),
                    integ,
                    mac: hmac::Key::new(hmac_for(integ), integ_key),
                }
            }
            (true, Some(_)) => {
                return Err(CryptoError::Unsupported(
                    "an AEAD cipher takes no integrity algorithm",
                ));
            }
            (false, None) => {
                return Err(CryptoError::Unsupported(
                    "AES-CBC needs an integrity algorithm",
                ));
            }
        };
        Ok(Self { encr, engine })
    }

    /// The encryption algorithm.
    #[must_use]
    pub fn encr(&self) -> EncrAlgorithm {
        self.encr
    }

    /// Length of the ICV (AEAD tag or truncated HMAC) at the end of the body.
    #[must_use]
    pub fn icv_len(&self) -> usize {
        match &self.engine {
            Engine::Aead { .. } => self.encr.aead_tag_len(),
            Engine::Cbc { integ, .. } => integ.icv_len(),
        }
    }

    /// Length of the IV at the start of the body.
    #[must_use]
    pub fn iv_len(&self) -> usize {
        self.encr.iv_len()
    }

    /// Length of the SK body (IV | ciphertext incl. padding and pad-length byte | ICV) for
    /// `plaintext_len` bytes of inner payloads; the codec needs it to write final lengths
    /// before sealing.
    #[must_use]
    pub fn body_len(&self, plaintext_len: usize) -> usize {
        self.iv_len()
            .saturating_add(self.ciphertext_len(plaintext_len))
            .saturating_add(self.icv_len())
    }

    /// The largest plaintext whose body fits in `max_body_len` bytes (for sizing SKF
    /// fragments, RFC 7383 §2.5); 0 if not even an empty plaintext fits.
    #[must_use]
    pub fn max_plaintext_len(&self, max_body_len: usize) -> usize {
        let Some(ciphertext) = max_body_len.checked_sub(self.iv_len() + self.icv_len()) else {
            return 0;
        };
        let ciphertext = match self.engine {
            Engine::Cbc { .. } => ciphertext - ciphertext % AES_BLOCK,
            Engine::Aead { .. } => ciphertext,
        };
        // One byte is always the pad length.
        ciphertext.saturating_sub(1)
    }

    fn ciphertext_len(&self, plaintext_len: usize) -> usize {
        let with_pad_length = plaintext_len.saturating_add(1);
        match self.engine {
            Engine::Aead { .. } => with_pad_length,
            Engine::Cbc { .. } => with_pad_length
                .div_ceil(AES_BLOCK)
                .saturating_mul(AES_BLOCK),
        }
    }

    /// Encrypts and protects `plaintext` (the inner payloads).
    ///
    /// `header` = every message byte before the SK body: the IKE header, any unencrypted
    /// payloads, and the SK generic payload header (for SKF also Fragment Number and Total
    /// Fragments), all lengths final. AEAD: `header` is the AAD (RFC 5282 §5.1). CBC+HMAC: the
    /// ICV covers header | IV | ciphertext. Returns the body;
    /// `body.len() == body_len(plaintext.len())`.
    ///
    /// # Errors
    /// [`CryptoError::RandomFailed`] if no IV could be drawn.
    pub fn seal(
        &self,
        header: &[u8],
        plaintext: &[u8],
        rng: &mut dyn Random,
    ) -> Result<Vec<u8>, CryptoError> {
        let iv_len = self.iv_len();
        let ct_len = self.ciphertext_len(plaintext.len());
        let pad_len = ct_len - plaintext.len() - 1;
        let pad_len_byte = u8::try_from(pad_len).map_err(|_| CryptoError::BadPadding)?;
        let mut body = Vec::with_capacity(self.body_len(plaintext.len()));
        body.resize(iv_len, 0);
        rng.fill(&mut body[..iv_len])?;
        body.extend_from_slice(plaintext);
        // Padding content is arbitrary (RFC 7296 §3.14); zeros.
        body.resize(iv_len + ct_len - 1, 0);
        body.push(pad_len_byte);
        match &self.engine {
            Engine::Aead { key, salt } => {
                let nonce = aead_nonce(salt, &body[..iv_len])?;
                let tag = key
                    .seal_in_place_separate_tag(nonce, aead::Aad::from(header), &mut body[iv_len..])
                    .map_err(|_| CryptoError::Unsupported("AEAD seal failed"))?;
                body.extend_from_slice(tag.as_ref());
            }
            Engine::Cbc { key, integ, mac } => {
                let (iv, ciphertext) = body.split_at_mut(iv_len);
                cbc_encrypt(key, iv, ciphertext)?;
                let icv = cbc_icv(mac, header, &body);
                body.extend_from_slice(&icv.as_ref()[..integ.icv_len()]);
            }
        }
        Ok(body)
    }

    /// Verifies and decrypts an SK/SKF body; returns the inner payloads with the padding
    /// removed. Lengths are checked first, then the ICV/tag, and only then is anything
    /// decrypted.
    ///
    /// # Errors
    /// [`CryptoError::Truncated`] for a body too short for IV, ICV and pad length, or CBC
    /// ciphertext that is not whole blocks; [`CryptoError::IntegrityCheckFailed`] if the
    /// ICV/tag does not verify; [`CryptoError::BadPadding`] if the pad length exceeds the data.
    pub fn open(&self, header: &[u8], body: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let iv_len = self.iv_len();
        let icv_len = self.icv_len();
        let ct_len = body
            .len()
            .checked_sub(iv_len + icv_len)
            .ok_or(CryptoError::Truncated)?;
        let (iv, rest) = body.split_at(iv_len);
        let (ciphertext, icv) = rest.split_at(ct_len);
        let mut plaintext = match &self.engine {
            Engine::Aead { key, salt } => {
                if ct_len == 0 {
                    return Err(CryptoError::Truncated);
                }
                let nonce = aead_nonce(salt, iv)?;
                let mut buf = Zeroizing::new(rest.to_vec());
                let opened_len = key
                    .open_in_place(nonce, aead::Aad::from(header), &mut buf)
                    .map_err(|_| CryptoError::IntegrityCheckFailed)?
                    .len();
                buf.truncate(opened_len);
                buf
            }
            Engine::Cbc { key, mac, .. } => {
                if ct_len == 0 || ct_len % AES_BLOCK != 0 {
                    return Err(CryptoError::Truncated);
                }
                let expected = cbc_icv(mac, header, &body[..iv_len + ct_len]);
                if !bool::from(expected.as_ref()[..icv_len].ct_eq(icv)) {
                    return Err(CryptoError::IntegrityCheckFailed);
                }
                let mut buf = Zeroizing::new(ciphertext.to_vec());
                cbc_decrypt(key, iv, &mut buf)?;
                buf
            }
        };
        let (&pad_len, _) = plaintext.split_last().ok_or(CryptoError::BadPadding)?;
        let data_len = plaintext
            .len()
            .checked_sub(1 + usize::from(pad_len))
            .ok_or(CryptoError::BadPadding)?;
        plaintext.truncate(data_len);
        Ok(plaintext)
    }
}

fn aead_nonce(salt: &[u8; 4], iv: &[u8]) -> Result<aead::Nonce, CryptoError> {
    let mut nonce = [0u8; aead::NONCE_LEN];
    let (salt_part, iv_part) = nonce.split_at_mut(4);
    salt_part.copy_from_slice(salt);
    if iv_part.len() != iv.len() {
        return Err(CryptoError::Truncated);
    }
    iv_part.copy_from_slice(iv);
    Ok(aead::Nonce::assume_unique_for_key(nonce))
}

fn cbc_icv(mac: &hmac::Key, header: &[u8], iv_and_ciphertext: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(mac);
    ctx.update(header);
    ctx.update(iv_and_ciphertext);
    ctx.sign()
}

fn cbc_encrypt(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    let len = buf.len();
    let result = match key.len() {
        16 => cbc::Encryptor::<Aes128>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::InvalidKeyLength)?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
        32 => cbc::Encryptor::<Aes256>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::InvalidKeyLength)?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
        _ => return Err(CryptoError::InvalidKeyLength),
    };
    result.map_err(|_| CryptoError::Truncated)
}

fn cbc_decrypt(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    let result = match key.len() {
        16 => cbc::Decryptor::<Aes128>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::InvalidKeyLength)?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
        32 => cbc::Decryptor::<Aes256>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::InvalidKeyLength)?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
        _ => return Err(CryptoError::InvalidKeyLength),
    };
    result.map_err(|_| CryptoError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SystemRandom;

    fn ciphers() -> Vec<SkCipher> {
        let mut out = Vec::new();
        for encr in EncrAlgorithm::ALL {
            let key = vec![0x5a; encr.keymat_len()];
            if encr.is_aead() {
                out.push(SkCipher::new(encr, None, &key, &[]).unwrap());
            } else {
                for integ in IntegAlgorithm::ALL {
                    let ik = vec![0x3c; integ.key_len()];
                    out.push(SkCipher::new(encr, Some(integ), &key, &ik).unwrap());
                }
            }
        }
        out
    }

    #[test]
    fn body_len_and_capacity_agree() {
        for c in ciphers() {
            for len in 0..70 {
                let body = c.seal(b"hdr", &vec![1; len], &mut SystemRandom).unwrap();
                assert_eq!(body.len(), c.body_len(len), "{c:?} {len}");
                assert!(c.max_plaintext_len(body.len()) >= len, "{c:?} {len}");
                assert!(c.body_len(c.max_plaintext_len(body.len())) <= body.len());
            }
            assert_eq!(c.max_plaintext_len(c.iv_len() + c.icv_len()), 0);
            assert_eq!(c.max_plaintext_len(0), 0);
        }
    }

    #[test]
    fn aead_sends_no_padding_cbc_pads_to_blocks() {
        for c in ciphers() {
            let body = c.seal(b"", &[7; 5], &mut SystemRandom).unwrap();
            let ct = body.len() - c.iv_len() - c.icv_len();
            if c.encr.is_aead() {
                assert_eq!(ct, 6);
            } else {
                assert_eq!(ct, 16);
            }
        }
    }

    #[test]
    fn rejects_bad_key_sizes_and_combinations() {
        let gcm = EncrAlgorithm::AesGcm16_128;
        let cbc = EncrAlgorithm::AesCbc256;
        let sha = IntegAlgorithm::HmacSha2_256_128;
        assert_eq!(
            SkCipher::new(gcm, None, &[0; 16], &[]).unwrap_err(),
            CryptoError::InvalidKeyLength
        );
        assert!(matches!(
            SkCipher::new(gcm, Some(sha), &[0; 20], &[0; 32]).unwrap_err(),
            CryptoError::Unsupported(_)
        ));
        assert!(matches!(
            SkCipher::new(cbc, None, &[0; 32], &[]).unwrap_err(),
            CryptoError::Unsupported(_)
        ));
        assert_eq!(
            SkCipher::new(cbc, Some(sha), &[0; 32], &[0; 31]).unwrap_err(),
            CryptoError::InvalidKeyLength
        );
    }

    #[test]
    fn debug_shows_no_key() {
        let c = SkCipher::new(EncrAlgorithm::AesGcm16_128, None, &[0xab; 20], &[]).unwrap();
        let text = format!("{c:?}");
        assert!(text.contains("AesGcm16_128"));
        assert!(!text.contains("171") && !text.to_lowercase().contains("ab, "));
    }

    /// RFC 4868 §2.7 truncated-ICV vectors through the ICV function SK payloads use.
    #[test]
    fn icv_rfc4868() {
        let path = format!(
            "{}/../../tests/vectors/hmac-sha2-ipsec_rfc4868.txt",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).unwrap();
        let mut checked = 0;
        for block in text.split("\n\n") {
            let fields: std::collections::HashMap<&str, &str> = block
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once(" = "))
                .collect();
            if fields.get("Use") != Some(&"\"ICV\"") {
                continue;
            }
            let integ = match fields["Alg"] {
                "\"AUTH_HMAC_SHA2_256_128\"" => IntegAlgorithm::HmacSha2_256_128,
                "\"AUTH_HMAC_SHA2_384_192\"" => IntegAlgorithm::HmacSha2_384_192,
                "\"AUTH_HMAC_SHA2_512_256\"" => IntegAlgorithm::HmacSha2_512_256,
                other => panic!("unknown {other}"),
            };
            let key = hex::decode(fields["Key"]).unwrap();
            let data = hex::decode(fields["Data"]).unwrap();
            let expected = hex::decode(fields["TruncatedICV"]).unwrap();
            assert_eq!(key.len(), integ.key_len());
            let mac = hmac::Key::new(hmac_for(integ), &key);
            // Split anywhere: the ICV covers header | IV | ciphertext as one stream.
            let (header, rest) = data.split_at(data.len() / 3);
            let icv = cbc_icv(&mac, header, rest);
            assert_eq!(&icv.as_ref()[..integ.icv_len()], &expected[..]);
            checked += 1;
        }
        assert_eq!(checked, 9);
    }

    fn engine_parts(c: &SkCipher) -> (&SecretBytes, &hmac::Key) {
        match &c.engine {
            Engine::Cbc { key, mac, .. } => (key, mac),
            Engine::Aead { .. } => panic!("not CBC"),
        }
    }

    /// A correctly authenticated body whose decrypted pad length is too large.
    #[test]
    fn pad_length_beyond_data_is_bad_padding() {
        for c in ciphers() {
            let header = b"hdr";
            // Decrypted: two data bytes, then a pad length claiming more than there is.
            let plaintext_with_bad_pad = [1u8, 2, 200];
            let body = match &c.engine {
                Engine::Aead { key, salt } => {
                    let iv = [9u8; 8];
                    let mut buf = plaintext_with_bad_pad.to_vec();
                    let tag = key
                        .seal_in_place_separate_tag(
                            aead_nonce(salt, &iv).unwrap(),
                            aead::Aad::from(header),
                            &mut buf,
                        )
                        .unwrap();
                    [&iv[..], &buf, tag.as_ref()].concat()
                }
                Engine::Cbc { integ, .. } => {
                    let (key, mac) = engine_parts(&c);
                    let iv = [9u8; 16];
                    let mut block = [0u8; 16];
                    block[15] = 16; // 16 bytes of padding + pad length > 16
                    cbc_encrypt(key, &iv, &mut block).unwrap();
                    let mut body = [&iv[..], &block].concat();
                    let icv = cbc_icv(mac, header, &body);
                    body.extend_from_slice(&icv.as_ref()[..integ.icv_len()]);
                    body
                }
            };
            assert_eq!(
                c.open(header, &body).unwrap_err(),
                CryptoError::BadPadding,
                "{c:?}"
            );
        }
    }

    /// The largest valid pad length (all but the pad-length byte is padding) opens to nothing.
    #[test]
    fn maximal_padding_opens_to_empty() {
        for c in ciphers().iter().filter(|c| !c.encr.is_aead()) {
            let (key, mac) = engine_parts(c);
            let integ = match c.engine {
                Engine::Cbc { integ, .. } => integ,
                Engine::Aead { .. } => unreachable!(),
            };
            let iv = [3u8; 16];
            let mut blocks = [0u8; 32];
            blocks[31] = 31;
            cbc_encrypt(key, &iv, &mut blocks).unwrap();
            let mut body = [&iv[..], &blocks].concat();
            let icv = cbc_icv(mac, b"h", &body);
            body.extend_from_slice(&icv.as_ref()[..integ.icv_len()]);
            assert!(c.open(b"h", &body).unwrap().is_empty());
        }
    }
}
