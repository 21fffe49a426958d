//! The transforms: AEAD (AES-GCM-16, ChaCha20-Poly1305) through ring, AES-CBC through RustCrypto
//! with HMAC-SHA2 from ring.
//!
//! Both directions work on a whole ESP packet laid out in one slice:
//! `SPI | Seq | IV | plaintext-or-ciphertext | ICV`. The sealer writes the ciphertext and ICV in
//! place; the opener verifies the ICV first and then decrypts in place.
//!
//! CBC IVs: RFC 3602 needs an unpredictable IV per packet, and this crate has no random source
//! per packet. The IV is therefore `AES-256(iv_key, SPI | 0 | seq)` (NIST SP 800-38A Appendix C:
//! the cipher applied to a nonce). `iv_key` is HMAC-SHA-256 over a label keyed with the SA's key
//! material, or with a caller-provided random seed when one is given: either way it is secret and
//! distinct per SA, and the sequence number never repeats, so the IVs are unpredictable to anyone
//! without the keys and never repeat.

use aes::cipher::{BlockDecryptMut, BlockEncrypt, BlockEncryptMut, InnerIvInit, KeyInit};
use ipsec_types::{EncrAlgorithm, EspSuite, IntegAlgorithm};
use ring::{aead, hmac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::KeyError;

/// Bytes of the ESP header proper: SPI and low 32 bits of the sequence number.
pub(crate) const ESP_HEADER_LEN: usize = 8;

/// Label for deriving the CBC IV key.
const IV_KEY_LABEL: &[u8] = b"tern esp aes-cbc iv key v1";

/// Longest ICV of any supported transform (HMAC-SHA-512-256).
pub(crate) const MAX_ICV_LEN: usize = 32;

/// An AES-CBC encryption key of either size.
#[derive(Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per SA; kept inline so the per-packet path follows no pointer"
)]
pub(crate) enum CbcEncKey {
    Aes128(aes::Aes128Enc),
    Aes256(aes::Aes256Enc),
}

/// An AES-CBC decryption key of either size.
#[derive(Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per SA; kept inline so the per-packet path follows no pointer"
)]
pub(crate) enum CbcDecKey {
    Aes128(aes::Aes128Dec),
    Aes256(aes::Aes256Dec),
}

/// Outbound transform state.
#[allow(
    clippy::large_enum_variant,
    reason = "one per SA; kept inline so the per-packet path follows no pointer"
)]
pub(crate) enum Sealer {
    Aead {
        key: aead::LessSafeKey,
        salt: Zeroizing<[u8; 4]>,
    },
    Cbc {
        key: CbcEncKey,
        iv_key: aes::Aes256Enc,
        hmac: hmac::Key,
        icv_len: usize,
    },
}

/// Inbound transform state.
#[allow(
    clippy::large_enum_variant,
    reason = "one per SA; kept inline so the per-packet path follows no pointer"
)]
pub(crate) enum Opener {
    Aead {
        key: aead::LessSafeKey,
        salt: Zeroizing<[u8; 4]>,
    },
    Cbc {
        key: CbcDecKey,
        hmac: hmac::Key,
        icv_len: usize,
    },
}

/// The ICV did not verify.
#[derive(Debug)]
pub(crate) struct BadIcv;

fn check_keys(suite: EspSuite, encr_key: &[u8], integ_key: &[u8]) -> Result<(), KeyError> {
    if !suite.is_valid() {
        return Err(KeyError::InvalidSuite(suite));
    }
    let expected = suite.encr.keymat_len();
    if encr_key.len() != expected {
        return Err(KeyError::EncryptionKeyLength {
            suite,
            expected,
            got: encr_key.len(),
        });
    }
    let expected = suite.integ.map_or(0, IntegAlgorithm::key_len);
    if integ_key.len() != expected {
        return Err(KeyError::IntegrityKeyLength {
            suite,
            expected,
            got: integ_key.len(),
        });
    }
    Ok(())
}

fn aead_key(
    suite: EspSuite,
    encr_key: &[u8],
) -> Result<(aead::LessSafeKey, Zeroizing<[u8; 4]>), KeyError> {
    let algorithm = match suite.encr {
        EncrAlgorithm::AesGcm16_128 => &aead::AES_128_GCM,
        EncrAlgorithm::AesGcm16_256 => &aead::AES_256_GCM,
        EncrAlgorithm::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        EncrAlgorithm::AesCbc128 | EncrAlgorithm::AesCbc256 => {
            return Err(KeyError::InvalidSuite(suite));
        }
    };
    let (key, salt) = encr_key.split_at(encr_key.len() - 4);
    let key = aead::UnboundKey::new(algorithm, key).map_err(|_| KeyError::Rejected(suite))?;
    let mut salt_bytes = Zeroizing::new([0u8; 4]);
    salt_bytes.copy_from_slice(salt);
    Ok((aead::LessSafeKey::new(key), salt_bytes))
}

fn hmac_key(integ: IntegAlgorithm, key: &[u8]) -> hmac::Key {
    let algorithm = match integ {
        IntegAlgorithm::HmacSha2_256_128 => hmac::HMAC_SHA256,
        IntegAlgorithm::HmacSha2_384_192 => hmac::HMAC_SHA384,
        IntegAlgorithm::HmacSha2_512_256 => hmac::HMAC_SHA512,
    };
    hmac::Key::new(algorithm, key)
}

/// The truncated HMAC ICV of RFC 4868 over `data` (tests check it against RFC 4868 §2.7).
#[cfg(test)]
pub(crate) fn truncated_hmac(integ: IntegAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    let tag = hmac::sign(&hmac_key(integ, key), data);
    tag.as_ref()[..integ.icv_len()].to_vec()
}

impl Sealer {
    /// Builds the outbound state; `iv_seed` is the caller's random seed for CBC IVs, if any.
    pub(crate) fn new(
        suite: EspSuite,
        encr_key: &[u8],
        integ_key: &[u8],
        iv_seed: Option<&[u8; 32]>,
    ) -> Result<Self, KeyError> {
        check_keys(suite, encr_key, integ_key)?;
        let Some(integ) = suite.integ else {
            let (key, salt) = aead_key(suite, encr_key)?;
            return Ok(Self::Aead { key, salt });
        };
        let key = match suite.encr {
            EncrAlgorithm::AesCbc128 => CbcEncKey::Aes128(
                aes::Aes128Enc::new_from_slice(encr_key).map_err(|_| KeyError::Rejected(suite))?,
            ),
            EncrAlgorithm::AesCbc256 => CbcEncKey::Aes256(
                aes::Aes256Enc::new_from_slice(encr_key).map_err(|_| KeyError::Rejected(suite))?,
            ),
            _ => return Err(KeyError::InvalidSuite(suite)),
        };
        // The IV key: keyed by the random seed if we have one, else by all key material of this
        // direction (secret and unique per SA).
        let derivation_key = match iv_seed {
            Some(seed) => hmac::Key::new(hmac::HMAC_SHA256, seed),
            None => {
                let mut material =
                    Zeroizing::new(Vec::with_capacity(encr_key.len() + integ_key.len()));
                material.extend_from_slice(encr_key);
                material.extend_from_slice(integ_key);
                hmac::Key::new(hmac::HMAC_SHA256, &material)
            }
        };
        let mut iv_key_bytes = Zeroizing::new([0u8; 32]);
        iv_key_bytes.copy_from_slice(hmac::sign(&derivation_key, IV_KEY_LABEL).as_ref());
        let iv_key = aes::Aes256Enc::new_from_slice(iv_key_bytes.as_slice())
            .map_err(|_| KeyError::Rejected(suite))?;
        Ok(Self::Cbc {
            key,
            iv_key,
            hmac: hmac_key(integ, integ_key),
            icv_len: integ.icv_len(),
        })
    }

    /// Writes the IV for packet `seq` into `iv` (8 bytes for AEAD, 16 for CBC).
    pub(crate) fn write_iv(&self, spi: u32, seq: u64, iv: &mut [u8]) {
        match self {
            // RFC 4106 §3.1 / RFC 7634 §2: any value unique per key; the sequence number is.
            Self::Aead { .. } => iv.copy_from_slice(&seq.to_be_bytes()),
            Self::Cbc { iv_key, .. } => {
                let mut block = aes::Block::default();
                block[..4].copy_from_slice(&spi.to_be_bytes());
                block[8..].copy_from_slice(&seq.to_be_bytes());
                iv_key.encrypt_block(&mut block);
                iv.copy_from_slice(&block);
            }
        }
    }

    /// Encrypts and authenticates `packet` in place. `packet` is the whole ESP packet with the
    /// header, IV and plaintext written and `icv_len` spare bytes at the end; `iv_len` is the
    /// transform's IV length.
    pub(crate) fn seal(&self, packet: &mut [u8], iv_len: usize, seq: u64, esn: bool) {
        let body_start = ESP_HEADER_LEN + iv_len;
        match self {
            Self::Aead { key, salt } => {
                let tag_len = key.algorithm().tag_len();
                let split = packet.len() - tag_len;
                let (nonce, aad_bytes, aad_len) = aead_inputs(salt, packet, seq, esn);
                let (body, icv) = packet.split_at_mut(split);
                // ring only fails for plaintexts beyond 2^36 bytes; `encapsulate` refuses inner
                // packets above 64 KiB before a sequence number is taken.
                if let Ok(tag) = key.seal_in_place_separate_tag(
                    nonce,
                    aead::Aad::from(&aad_bytes[..aad_len]),
                    &mut body[body_start..],
                ) {
                    icv.copy_from_slice(tag.as_ref());
                }
            }
            Self::Cbc {
                key, hmac, icv_len, ..
            } => {
                let split = packet.len() - icv_len;
                let (body, icv) = packet.split_at_mut(split);
                let (head, text) = body.split_at_mut(body_start);
                let iv = aes::Block::clone_from_slice(&head[ESP_HEADER_LEN..]);
                cbc_encrypt(key, &iv, text);
                let tag = cbc_icv(hmac, body, seq, esn);
                icv.copy_from_slice(&tag.as_ref()[..*icv_len]);
            }
        }
    }
}

impl Opener {
    /// Builds the inbound state.
    pub(crate) fn new(
        suite: EspSuite,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Self, KeyError> {
        check_keys(suite, encr_key, integ_key)?;
        let Some(integ) = suite.integ else {
            let (key, salt) = aead_key(suite, encr_key)?;
            return Ok(Self::Aead { key, salt });
        };
        let key = match suite.encr {
            EncrAlgorithm::AesCbc128 => CbcDecKey::Aes128(
                aes::Aes128Dec::new_from_slice(encr_key).map_err(|_| KeyError::Rejected(suite))?,
            ),
            EncrAlgorithm::AesCbc256 => CbcDecKey::Aes256(
                aes::Aes256Dec::new_from_slice(encr_key).map_err(|_| KeyError::Rejected(suite))?,
            ),
            _ => return Err(KeyError::InvalidSuite(suite)),
        };
        Ok(Self::Cbc {
            key,
            hmac: hmac_key(integ, integ_key),
            icv_len: integ.icv_len(),
        })
    }

    /// Verifies the ICV of `packet` (a whole ESP packet) and decrypts it in place. On success
    /// returns the end of the plaintext, which starts at `ESP_HEADER_LEN + iv_len`. The caller
    /// has checked that the packet is long enough and block-aligned.
    pub(crate) fn open(
        &self,
        packet: &mut [u8],
        iv_len: usize,
        seq: u64,
        esn: bool,
    ) -> Result<usize, BadIcv> {
        let body_start = ESP_HEADER_LEN + iv_len;
        match self {
            Self::Aead { key, salt } => {
                let (nonce, aad_bytes, aad_len) = aead_inputs(salt, packet, seq, esn);
                let plain = key
                    .open_in_place(
                        nonce,
                        aead::Aad::from(&aad_bytes[..aad_len]),
                        &mut packet[body_start..],
                    )
                    .map_err(|_| BadIcv)?;
                Ok(body_start + plain.len())
            }
            Self::Cbc { key, hmac, icv_len } => {
                let split = packet.len() - icv_len;
                let (body, icv) = packet.split_at_mut(split);
                let tag = cbc_icv(hmac, body, seq, esn);
                if !bool::from(tag.as_ref()[..*icv_len].ct_eq(icv)) {
                    return Err(BadIcv);
                }
                let (head, text) = body.split_at_mut(body_start);
                let iv = aes::Block::clone_from_slice(&head[ESP_HEADER_LEN..]);
                cbc_decrypt(key, &iv, text);
                Ok(split)
            }
        }
    }
}

/// Nonce (`salt | IV`) and AAD (`SPI | [seq high |] seq low`, RFC 4106 §5) of an AEAD packet.
fn aead_inputs(
    salt: &[u8; 4],
    packet: &[u8],
    seq: u64,
    esn: bool,
) -> (aead::Nonce, [u8; 12], usize) {
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(salt);
    nonce[4..].copy_from_slice(&packet[ESP_HEADER_LEN..ESP_HEADER_LEN + 8]);
    let mut aad = [0u8; 12];
    aad[..4].copy_from_slice(&packet[..4]);
    let len = if esn {
        aad[4..].copy_from_slice(&seq.to_be_bytes());
        12
    } else {
        aad[4..8].copy_from_slice(&packet[4..8]);
        8
    };
    (aead::Nonce::assume_unique_for_key(nonce), aad, len)
}

/// HMAC over `SPI | seq low | IV | ciphertext`, then the high 32 bits of an ESN
/// (RFC 4303 §2.2.1: they enter the ICV but are not sent).
fn cbc_icv(key: &hmac::Key, authenticated: &[u8], seq: u64, esn: bool) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(authenticated);
    if esn {
        ctx.update(&((seq >> 32) as u32).to_be_bytes());
    }
    ctx.sign()
}

/// Splits a block-aligned slice into cipher blocks (the caller checked alignment).
fn as_blocks(text: &mut [u8]) -> &mut [aes::Block] {
    let (blocks, _) = aes::cipher::inout::InOutBuf::from(text).into_chunks();
    blocks.into_out()
}

pub(crate) fn cbc_encrypt(key: &CbcEncKey, iv: &aes::Block, text: &mut [u8]) {
    let blocks = as_blocks(text);
    match key {
        CbcEncKey::Aes128(k) => {
            cbc::Encryptor::inner_iv_init(k.clone(), iv).encrypt_blocks_mut(blocks);
        }
        CbcEncKey::Aes256(k) => {
            cbc::Encryptor::inner_iv_init(k.clone(), iv).encrypt_blocks_mut(blocks);
        }
    }
}

pub(crate) fn cbc_decrypt(key: &CbcDecKey, iv: &aes::Block, text: &mut [u8]) {
    let blocks = as_blocks(text);
    match key {
        CbcDecKey::Aes128(k) => {
            cbc::Decryptor::inner_iv_init(k.clone(), iv).decrypt_blocks_mut(blocks);
        }
        CbcDecKey::Aes256(k) => {
            cbc::Decryptor::inner_iv_init(k.clone(), iv).decrypt_blocks_mut(blocks);
        }
    }
}
